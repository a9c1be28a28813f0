"""The benchmark database: seeded once by a list of steps, cached under bench/out/.

A cached file is keyed by the seed parameters and by a fingerprint of what produced it (the
bulk seeder's and this module's source), so changing either reseeds. A newer migration does
not: the server's start brings a cached file up to date.
More data is one more function appended to STEPS.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
ADMIN_EMAIL = "admin@bench.example"
ADMIN_PASSWORD = "bench admin password 1"  # a throwaway database, rebuilt at will
# Every broker the seeder creates has this password (the calendar and logging measurements sign
# in as one of them).
BROKER_PASSWORD = "bench broker password 1"


@dataclass(frozen=True)
class DatasetParams:
    firms: int = 100_000
    traders_per_firm: int = 5
    brokers: int | None = None
    seed: int = 1
    # Activity on the book (0 leaves it out): interactions, open and done follow-ups.
    interactions: int = 2_000_000
    open_follow_ups: int = 100_000
    done_follow_ups: int = 4_000
    # Portfolios on every tenth firm (0 leaves them out), with two years of daily closes.
    portfolios: int = 10_000
    instruments: int = 5_000
    # Conversations and their messages (issue 10; 0 messages leaves them out).
    messages: int = 1_000_000
    conversations: int = 50_000

    @property
    def stem(self) -> str:
        """The cache file's name: one per set of parameters (each keeps its own file)."""
        stem = f"book-f{self.firms}-t{self.traders_per_firm}-b{self.brokers or 'auto'}"
        if self.interactions or self.open_follow_ups or self.done_follow_ups:
            stem += f"-i{self.interactions}-o{self.open_follow_ups}-d{self.done_follow_ups}"
        if self.portfolios:
            stem += f"-p{self.portfolios}-n{self.instruments}"
        if self.messages:
            stem += f"-m{self.messages}-c{self.conversations}"
        return f"{stem}-s{self.seed}"


@dataclass
class SeedContext:
    params: DatasetParams
    url: str
    figures: dict = field(default_factory=dict)
    log: Callable[[str], None] = print


Step = Callable[[SeedContext], None]


def migrate(ctx: SeedContext) -> None:
    from brm_app.migrations import upgrade_head

    upgrade_head(ctx.url)


def first_admin(ctx: SeedContext) -> None:
    from brm_app.db import unit_of_work
    from brm_app.services import first_start
    from brm_app.settings import get_settings

    with unit_of_work(write=True) as db:
        first_start.create_first_admin(db, settings=get_settings())


def book(ctx: SeedContext) -> None:
    """Firms, traders and coverage (with a pool of broker users) through the bulk seeder."""
    from brm_app.db import unit_of_work
    from brm_app.services import seed

    p = ctx.params
    plan = seed.SeedPlan(
        firms=p.firms,
        traders_per_firm=p.traders_per_firm,
        brokers=p.brokers,
        seed=p.seed,
        broker_password=BROKER_PASSWORD,
    )
    with unit_of_work(write=True) as db:
        result = seed.bulk_load(db, plan)
    ctx.figures.update(
        firms=result.firms,
        traders=result.traders,
        coverage=result.coverage,
        brokers=result.brokers,
        first_firm_id=result.first_firm_id,
        last_firm_id=result.last_firm_id,
        search_index=result.search_index,
        book_steps={k: round(v, 2) for k, v in result.steps.items()},
    )


def activity(ctx: SeedContext) -> None:
    """Interactions (with their versions and traders) and follow-ups (with reminders) as of the
    seeder's fixed anchor date: see services.seed.bulk_load_activity."""
    from brm_app.db import unit_of_work
    from brm_app.services import seed

    p = ctx.params
    if not (p.interactions or p.open_follow_ups or p.done_follow_ups):
        return
    plan = seed.ActivityPlan(
        interactions=p.interactions,
        open_follow_ups=p.open_follow_ups,
        done_follow_ups=p.done_follow_ups,
        seed=p.seed,
    )
    started, shown = time.perf_counter(), [0]

    def progress(done: int, total: int) -> None:
        if done * 10 // total > shown[0]:
            shown[0] = done * 10 // total
            ctx.log(
                f"#   {done:,} of {total:,} interactions ({time.perf_counter() - started:.0f} s)"
            )

    with unit_of_work(write=True) as db:
        result = seed.bulk_load_activity(db, plan, progress=progress)
    ctx.figures.update(
        interactions=result.interactions,
        interaction_traders=result.interaction_traders,
        first_interaction_id=result.first_interaction_id,
        last_interaction_id=result.last_interaction_id,
        follow_ups_open=result.follow_ups_open,
        follow_ups_overdue=result.follow_ups_overdue,
        follow_ups_done=result.follow_ups_done,
        reminders=result.reminders,
        reminders_pending=result.reminders_pending,
        reminders_due=result.reminders_due,
        # "Now" for this data: reminders due before it have fired, except reminders_due.
        anchor=plan.anchor.isoformat(),
        activity_seconds=round(result.seconds, 2),
        activity_steps={k: round(v, 2) for k, v in result.steps.items()},
    )


def portfolios(ctx: SeedContext) -> None:
    """Instruments with two years of daily closes, and portfolios (about 200 transactions and 20
    holdings each) on every tenth firm: see services.seed_portfolios."""
    from sqlmodel import select

    from brm_app.db import unit_of_work
    from brm_app.models.firm import Firm
    from brm_app.services import seed_portfolios

    p = ctx.params
    if not p.portfolios:
        return
    plan = seed_portfolios.PortfolioPlan(
        portfolios=p.portfolios, instruments=p.instruments, seed=p.seed
    )
    with unit_of_work() as db:
        firm_ids = list(db.exec(select(Firm.id).order_by(Firm.id)).all())
    every = max(1, len(firm_ids) // max(1, p.portfolios))
    with unit_of_work(write=True) as db:
        result = seed_portfolios.bulk_load_portfolios(
            db, plan, firm_ids=[f for f in firm_ids[::every] if f is not None], progress=ctx.log
        )
    ctx.figures.update(
        portfolios=result.portfolios,
        portfolio_transactions=result.transactions,
        portfolio_holdings=result.holdings,
        instruments=result.instruments,
        daily_closes=result.daily_closes,
        portfolio_steps=result.steps,
    )


def communications(ctx: SeedContext) -> None:
    """Conversations (one or two traders and a covering broker each) and their messages: see
    services.seed_communications."""
    from brm_app.db import unit_of_work
    from brm_app.services import seed_communications

    p = ctx.params
    if not p.messages:
        return
    plan = seed_communications.CommsPlan(
        messages=p.messages, conversations=min(p.conversations, p.messages), seed=p.seed
    )
    with unit_of_work(write=True) as db:
        result = seed_communications.bulk_load_communications(db, plan, progress=ctx.log)
    ctx.figures.update(
        messages=result.messages,
        conversations=result.conversations,
        conversation_participants=result.participants,
        portal_traders=result.portal_traders,
        largest_conversation=result.largest_conversation,
        first_conversation_id=result.first_conversation_id,
        last_conversation_id=result.last_conversation_id,
        communications_seconds=result.seconds,
        communications_steps=result.steps,
    )


def compact(ctx: SeedContext) -> None:
    """Fold the write-ahead log into the file, so the cache is one file."""
    from brm_app.db import get_engine

    with get_engine().connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


STEPS: list[Step] = [migrate, first_admin, book, activity, portfolios, communications, compact]


def _fingerprint(params: DatasetParams) -> str:
    # Not the migration head: a cached database of an older revision is brought up to date by
    # the server's own start (`brm serve` migrates), so a new index does not mean reseeding.
    h = hashlib.sha256(json.dumps(asdict(params), sort_keys=True).encode())
    for source in (
        ROOT / "brm_app" / "services" / "seed.py",
        ROOT / "brm_app" / "services" / "seed_portfolios.py",
        ROOT / "brm_app" / "services" / "seed_communications.py",
        Path(__file__),
    ):
        h.update(source.read_bytes())
    h.update(",".join(s.__name__ for s in STEPS).encode())
    return h.hexdigest()[:12]


@dataclass
class Dataset:
    path: Path
    params: DatasetParams
    figures: dict
    reused: bool

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6


def _point_app_at(url: str, data_dir: Path) -> None:
    from brm_app import db as db_module
    from brm_app import settings as settings_module

    os.environ.update(
        BRM_DATABASE_URL=url,
        BRM_DATA_DIR=str(data_dir),
        BRM_SECRET_KEY="bench-seeding-secret-" + "x" * 32,
        BRM_ADMIN_EMAIL=ADMIN_EMAIL,
        BRM_ADMIN_PASSWORD=ADMIN_PASSWORD,
        BRM_DEMO="0",
    )
    settings_module.get_settings.cache_clear()
    db_module.get_engine.cache_clear()


def prepare(params: DatasetParams, *, reuse: bool = True, log=print) -> Dataset:
    """The seeded database file for `params`: from the cache, or built now (and cached)."""
    OUT.mkdir(parents=True, exist_ok=True)
    stem = params.stem
    key = _fingerprint(params)
    path, meta = OUT / f"{stem}-{key}.db", OUT / f"{stem}-{key}.json"
    if reuse and path.exists() and meta.exists():
        return Dataset(path, params, json.loads(meta.read_text()), reused=True)
    for stale in OUT.glob(f"{stem}-*"):
        stale.unlink()
    for abandoned in OUT.glob("seeding-*"):
        shutil.rmtree(abandoned, ignore_errors=True)
    work = OUT / f"seeding-{key}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    url = f"sqlite:///{work / 'brm.db'}"
    _point_app_at(url, work)
    ctx = SeedContext(params, url, log=log)
    started = time.perf_counter()
    steps: dict[str, float] = {}
    for step in STEPS:
        t = time.perf_counter()
        log(f"# seeding: {step.__name__} ...")
        step(ctx)
        steps[step.__name__] = round(time.perf_counter() - t, 2)
    from brm_app.db import get_engine

    get_engine().dispose()
    ctx.figures.update(seed_seconds=round(time.perf_counter() - started, 2), steps=steps)
    (work / "brm.db").rename(path)
    meta.write_text(json.dumps(ctx.figures, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return Dataset(path, params, ctx.figures, reused=False)
