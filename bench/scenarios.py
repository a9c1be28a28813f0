"""What is measured: one Scenario per BENCH line. Append to SCENARIOS to add a measurement.

A scenario names the server it drives and builds its requests (wrk rotates over them) from the
context: the seeded dataset's figures, an authenticated client for looking things up, and the
seeded database itself. An "inproc" scenario measures a function in this process instead (on
the run's copy of the database), and gives the same figures. Each scenario carries its target.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

import httpx

from bench import comms
from bench import dataset as ds
from bench.dataset import Dataset
from bench.load import Figures, LoadSettings, Requests

PAGE = 50
# Search terms a user would type: word prefixes from the generated names (see services.seed).
SEARCHES = ("harb", "kestrel", "north", "wel cap")


@dataclass
class BenchContext:
    dataset: Dataset
    api: httpx.Client  # the app, with the bearer token
    # The run's copy of the database (the one the app serves; in-process measurements use it).
    run_db: Path | None = None
    notes: dict[str, list[str]] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)
    _cache: dict[str, object] = field(default_factory=dict)

    def note(self, scenario: str, text: str) -> None:
        self.notes.setdefault(scenario, []).append(text)

    @property
    def firms(self) -> int:
        return int(self.dataset.figures["firms"])

    @property
    def anchor(self) -> datetime:
        """ "Now" for the seeded activity (interactions before it, most follow-ups after it)."""
        return datetime.fromisoformat(self.dataset.figures["anchor"])

    def get(self, path: str) -> dict:
        r = self.api.get(path)
        if r.status_code != 200:
            raise RuntimeError(f"GET {path} answered {r.status_code}: {r.text[:500]}")
        return r.json()

    def sql(self, query: str, *params) -> list[tuple]:
        """Read the seeded database directly (the cached file, which nothing writes)."""
        uri = f"file:{self.dataset.path}?immutable=1"
        with sqlite3.connect(uri, uri=True) as conn:
            return conn.execute(query, params).fetchall()

    def token_for(self, email: str, password: str) -> str:
        if email not in self._tokens:
            r = httpx.post(
                f"{self.api.base_url}/api/v1/auth/token",
                data={"username": email, "password": password},
                timeout=30,
            )
            r.raise_for_status()
            self._tokens[email] = r.json()["access_token"]
        return self._tokens[email]

    def typical_broker(self) -> tuple[int, str]:
        """(id, email) of the broker who logged the median number of interactions."""
        if "broker" not in self._cache:
            from brm_app.encryption.columns import open_value

            counts = self.sql(
                "SELECT i.broker_id, u.row_key, u.email, count(*) AS n FROM interactions i "
                "JOIN users u ON u.id = i.broker_id GROUP BY i.broker_id, u.row_key, u.email "
                "ORDER BY n, 1"
            )
            if not counts:
                raise RuntimeError("the dataset has no interactions (seed them: --interactions)")
            broker_id, row_key, sealed, n = counts[len(counts) // 2]
            # users.email is encrypted (0010u): opened with the bench's key ring.
            email = open_value("users", "email", row_key, sealed) or ""
            book = self.sql("SELECT count(*) FROM firm_coverage WHERE broker_id = ?", broker_id)
            self._cache["broker"] = (broker_id, email, n, book[0][0])
        broker_id, email, _, _ = self._cache["broker"]
        return broker_id, email

    def broker_headers(self) -> dict[str, str]:
        _, email = self.typical_broker()
        return {"Authorization": f"Bearer {self.token_for(email, ds.BROKER_PASSWORD)}"}


@dataclass(frozen=True)
class Target:
    """What a scenario is held to (None: not a target). The RATIO line gives the verdicts."""

    p95_ms: float | None = None  # p95 under this, at 8 connections and at one
    min_rps: float | None = None  # at least this many requests (runs) per second
    share: float | None = None  # at least this share of bare_json's throughput
    ref_share: float | None = None  # at least this share of the reference app's throughput

    def describe(self) -> str:
        parts = []
        if self.p95_ms is not None:
            parts.append(f"p95<{self.p95_ms:g}ms")
        if self.min_rps is not None:
            parts.append(f"rps>={self.min_rps:g}")
        if self.share is not None:
            parts.append(f"share>={self.share:.2f}")
        if self.ref_share is not None:
            parts.append(f"ref_share>={self.ref_share:g}")
        return ",".join(parts)


# Every read (issue 15): p95 under 25 ms at 8 connections (and at one), at least 10% of
# bare_json's throughput. The three calls the reference app implements: at least its throughput.
LIST_TARGET = Target(p95_ms=25.0, share=0.10)
REF_READ_TARGET = Target(p95_ms=25.0, share=0.10, ref_share=1.0)


@dataclass(frozen=True)
class Scenario:
    name: str
    server: Literal["app", "bare", "ref", "inproc", "import"]
    # The requests wrk rotates over: paths (GET with the harness's token) or a Requests.
    paths: Callable[[BenchContext], list[str] | Requests] = lambda ctx: ["/"]
    target: Target | None = LIST_TARGET
    # "inproc": one measurement (figures like wrk's) of `settings.duration` seconds.
    measure: Callable[[BenchContext, LoadSettings], Figures] | None = None
    # Needs the seeded interactions and follow-ups (skipped without them).
    needs_activity: bool = False
    # The reference app's scenario for the same call (its RATIO line gives the app's share).
    ref: str | None = None
    # Needs the seeded portfolios (skipped without them).
    needs_portfolios: bool = False
    # Needs the seeded conversations and messages (skipped without them).
    needs_messages: bool = False
    # "inproc": measured once (no second series for the @c1 line).
    single: bool = False

    @property
    def targeted(self) -> bool:
        return self.target is not None


def _firms(**params) -> str:
    return "/api/v1/firms?" + urlencode({"limit": PAGE, **params})


def _deep_offsets(ctx: BenchContext) -> list[int]:
    """Eight pages between 80% and 95% of the way into the book."""
    n = ctx.firms
    return sorted({(int(n * (0.80 + 0.02 * i)) // PAGE) * PAGE for i in range(8)})


def first_page(ctx: BenchContext) -> list[str]:
    path = _firms()
    body = ctx.get(path)
    ctx.note("firms_first_page", f"total={body['total']} total_at_least={body['total_at_least']}")
    return [path]


def deep_page(ctx: BenchContext) -> list[str]:
    offsets = _deep_offsets(ctx)
    ctx.note("firms_deep_page", f"offsets {offsets[0]}..{offsets[-1]} ({len(offsets)} pages)")
    return [_firms(offset=o) for o in offsets]


def deep_cursor(ctx: BenchContext) -> list[str]:
    """The same depths as firms_deep_page, reached by keyset (the cursor of the page before)."""
    paths = []
    for o in _deep_offsets(ctx):
        cursor = ctx.get(_firms(offset=o - PAGE))["next_cursor"]
        paths.append(_firms(cursor=cursor))
    ctx.note("firms_deep_cursor", f"{len(paths)} cursors at the firms_deep_page depths")
    return paths


def search(ctx: BenchContext) -> list[str]:
    paths = []
    for q in SEARCHES:
        body = ctx.get(_firms(q=q))
        found = body["total"] if body["total"] is not None else f">{body['total_at_least']}"
        ctx.note("firms_search", f"q={q!r} matches {found}")
        paths.append(_firms(q=q))
    return paths


def palette(ctx: BenchContext) -> Requests:
    """The command palette as a broker types: word prefixes of firm and trader names, a subject
    word (interactions, follow-ups), an action. One request is one keystroke's answer (after the
    browser's debounce)."""
    headers = ctx.broker_headers()
    paths = []
    for q in (*SEARCHES, "ha", "call", "cal", "new"):
        path = "/api/v1/palette?" + urlencode({"q": q})
        r = httpx.get(f"{ctx.api.base_url}{path}", headers=headers, timeout=60)
        r.raise_for_status()
        kinds = sorted({i["kind"] for i in r.json()["items"]})
        ctx.note("api_palette", f"q={q!r}: {len(r.json()['items'])} items {kinds}")
        paths.append(path)
    return Requests(paths, headers=headers)


def broker_first_page(ctx: BenchContext) -> Requests:
    """The typical broker's first page of firms (only the firms they cover)."""
    headers = ctx.broker_headers()
    path = _firms()
    r = httpx.get(f"{ctx.api.base_url}{path}", headers=headers, timeout=60)
    r.raise_for_status()
    ctx.note("firms_first_page_broker", f"total={r.json()['total']} (the broker's book)")
    return Requests([path], headers=headers)


def ref_broker_first_page(ctx: BenchContext) -> Requests:
    return Requests([f"/firms?limit={PAGE}"], headers=ctx.broker_headers())


def firm_traders(ctx: BenchContext) -> list[str]:
    first, last = ctx.dataset.figures["first_firm_id"], ctx.dataset.figures["last_firm_id"]
    rng = random.Random(7)
    ids = [rng.randint(first, last) for _ in range(1000)]
    sizes = [len(ctx.get(f"/api/v1/firms/{i}/traders")["items"]) for i in ids[:20]]
    ctx.note("firm_traders", f"{len(ids)} firms rotated; traders per firm (sample) {sizes}")
    return [f"/api/v1/firms/{i}/traders" for i in ids]


# ---- activity: interactions, timelines, the calendar, logging, the scheduler -------------------

ROTATE = 1000  # traders / firms rotated over


def _in(values: list[int]) -> str:
    return ",".join("?" * len(values))


def trader_interactions(ctx: BenchContext) -> list[str]:
    """GET /api/v1/traders/{id}/interactions (first page, newest first) for traders with some."""
    f = ctx.dataset.figures
    rng = random.Random(11)
    picks = sorted(
        {rng.randint(f["first_interaction_id"], f["last_interaction_id"]) for _ in range(ROTATE)}
    )
    ids = [
        t
        for (t,) in ctx.sql(
            f"SELECT DISTINCT trader_id FROM interaction_traders WHERE interaction_id IN ({_in(picks)}) "
            "ORDER BY trader_id",
            *picks,
        )
    ]
    rng.shuffle(ids)
    paths = [f"/api/v1/traders/{t}/interactions" for t in ids]
    totals = [ctx.get(p)["total"] for p in paths[:20]]
    ctx.note(
        "api_trader_interactions",
        f"{len(ids)} traders rotated (each in some interaction); interactions per trader "
        f"(sample) {totals}",
    )
    return paths


def firm_timeline(ctx: BenchContext) -> list[str]:
    """GET /api/v1/firms/{id}/timeline (interactions and follow-ups, newest 30) for any firm."""
    f = ctx.dataset.figures
    rng = random.Random(12)
    ids = [rng.randint(f["first_firm_id"], f["last_firm_id"]) for _ in range(ROTATE)]
    sample = ids[:20]
    counts = dict(
        ctx.sql(
            f"SELECT firm_id, count(*) FROM interactions WHERE firm_id IN ({_in(sample)}) "
            "GROUP BY firm_id",
            *sample,
        )
    )
    entries = [len(ctx.get(f"/api/v1/firms/{i}/timeline")["entries"]) for i in sample]
    ctx.note(
        "api_firm_timeline",
        f"{len(ids)} firms rotated; interactions per firm (sample) "
        f"{[counts.get(i, 0) for i in sample]}, entries answered {entries}",
    )
    return [f"/api/v1/firms/{i}/timeline" for i in ids]


def _months_around(anchor: datetime, before: int, after: int) -> list[tuple[date, date]]:
    """(first day, last day) of the months from `before` months before the anchor's to `after`
    months after it."""
    out = []
    for k in range(-before, after + 1):
        y, m = divmod(anchor.year * 12 + anchor.month - 1 + k, 12)
        start = date(y, m + 1, 1)
        ny, nm = divmod(y * 12 + m + 1, 12)
        out.append((start, date(ny, nm + 1, 1) - timedelta(days=1)))
    return out


def calendar_month(ctx: BenchContext) -> Requests:
    """GET /api/v1/calendar for one month, as a broker with a typical book (their own calendar:
    the follow-ups assigned to them and the interactions they logged). Six months rotated: four
    before the anchor (interactions and done or overdue follow-ups), two after (open ones)."""
    broker_id, email = ctx.typical_broker()
    _, _, logged, book = ctx._cache["broker"]
    headers = ctx.broker_headers()
    paths = [
        "/api/v1/calendar?" + urlencode({"start": a.isoformat(), "end": b.isoformat()})
        for a, b in _months_around(ctx.anchor, 4, 1)
    ]
    sizes = []
    for p in paths:
        r = httpx.get(f"{ctx.api.base_url}{p}", headers=headers, timeout=60)
        r.raise_for_status()
        items = r.json()["items"]
        kinds = sum(1 for i in items if i["kind"] == "follow_up")
        sizes.append(f"{p.split('start=')[1][:7]}: {len(items) - kinds}+{kinds}")
    ctx.note(
        "calendar_month",
        f"broker {broker_id} ({email}): covers {book} firms, logged {logged} interactions; "
        f"items per month (interactions+follow-ups) {', '.join(sizes)}",
    )
    return Requests(paths, headers=headers)


# Type, outcome, minutes: pairs the built-in configuration allows.
_LOGGED = (
    ("Call", "Positive", 15),
    ("Call", "No answer", None),
    ("Meeting", "Follow-up required", 45),
    ("Email", None, None),
    ("Video call", "Closed", 30),
    ("Chat", "Order placed", None),
)


def interaction_create(ctx: BenchContext) -> Requests:
    """POST /api/v1/interactions as the typical broker, with one of the traders of a firm they
    cover (rotated over 200), dated in the weeks before the anchor. Writes: run it last."""
    broker_id, email = ctx.typical_broker()
    traders = [
        t
        for (t,) in ctx.sql(
            "SELECT t.id FROM traders t JOIN firm_coverage c ON c.firm_id = t.firm_id "
            "JOIN firms f ON f.id = t.firm_id WHERE c.broker_id = ? AND t.archived_at IS NULL "
            "AND f.archived_at IS NULL ORDER BY t.id",
            broker_id,
        )
    ]
    rng = random.Random(13)
    picked = rng.sample(traders, min(200, len(traders)))
    bodies = []
    for n, trader_id in enumerate(picked):
        itype, outcome, minutes = _LOGGED[n % len(_LOGGED)]
        when = ctx.anchor - timedelta(minutes=rng.randint(60, 20 * 24 * 60))
        body = {
            "trader_id": trader_id,
            "interaction_type": itype,
            "interaction_date": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "subject": f"Bench {itype.lower()} {n}",
            "outcome": outcome,
            "duration_minutes": minutes,
        }
        bodies.append(json.dumps({k: v for k, v in body.items() if v is not None}))
    path = "/api/v1/interactions"
    headers = ctx.broker_headers()
    ctx._cache["interaction_bodies"] = bodies
    r = httpx.post(
        f"{ctx.api.base_url}{path}",
        content=bodies[0],
        headers={**headers, "Content-Type": "application/json"},
        timeout=60,
    )
    if r.status_code != 201:
        raise RuntimeError(f"POST {path} answered {r.status_code}: {r.text[:500]}")
    ctx.note(
        "api_interaction_create",
        f"as broker {broker_id} ({email}); {len(bodies)} bodies rotated over traders of "
        f"{len(traders)} they may log with",
    )
    return Requests([path] * len(bodies), method="POST", bodies=bodies, headers=headers)


def ref_interaction_create(ctx: BenchContext) -> Requests:
    """The same bodies, to the reference app's POST /interactions."""
    bodies = ctx._cache.get("interaction_bodies")
    if bodies is None:
        interaction_create(ctx)
        bodies = ctx._cache["interaction_bodies"]
    assert isinstance(bodies, list)
    return Requests(
        ["/interactions"] * len(bodies), method="POST", bodies=bodies, headers=ctx.broker_headers()
    )


def _figures(times: list[float], wall: float) -> Figures:
    q = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
    return Figures(
        requests=len(times),
        seconds=wall,
        p50_ms=statistics.median(times) * 1000,
        p95_ms=q[94] * 1000,
        p99_ms=q[98] * 1000,
        max_ms=max(times) * 1000,
        errors={},
    )


def _timed(run: Callable[[], float], settings: LoadSettings, min_runs: int = 20) -> Figures:
    """Call `run` (which answers the seconds it measured) for the warm-up, then for
    settings.duration seconds (and at least `min_runs` times)."""
    until = time.perf_counter() + settings.warmup
    while time.perf_counter() < until:
        run()
    times: list[float] = []
    started = time.perf_counter()
    until = started + settings.duration
    while time.perf_counter() < until or len(times) < min_runs:
        times.append(run())
    return _figures(times, time.perf_counter() - started)


def reminder_scan(ctx: BenchContext, settings: LoadSettings) -> Figures:
    """scheduler.fire_due_reminders at the anchor, in this process on the run's database: the
    claim of due reminders among those of every open follow-up, and the notifications for them,
    in one write transaction (timed from BEGIN to the flush of the last notification), rolled
    back after each run so every run finds the same reminders due."""
    import sqlalchemy as sa
    from sqlmodel import Session, select

    from brm_app.db import get_engine
    from brm_app.models.follow_up import Reminder
    from brm_app.services import scheduler

    assert ctx.run_db is not None
    ds._point_app_at(f"sqlite:///{ctx.run_db}", ctx.run_db.parent)
    engine = get_engine()
    now = ctx.anchor
    reports = []

    def run() -> float:
        with Session(engine) as db:
            t = time.perf_counter()
            db.connection(execution_options={"brm_write": True})
            report = scheduler.fire_due_reminders(db, now=now)
            elapsed = time.perf_counter() - t
            db.rollback()
        if not reports:
            reports.append(report)
        return elapsed

    def claim_only() -> float:
        with Session(engine) as db:
            t = time.perf_counter()
            db.exec(
                select(Reminder)
                .where(Reminder.fired_at.is_(None), Reminder.remind_at <= now)
                .order_by(Reminder.remind_at)
                .limit(scheduler.BATCH)
            ).all()
            return time.perf_counter() - t

    figures = _timed(run, settings)
    claim = _timed(claim_only, LoadSettings(duration=1.0, warmup=0.2))
    with Session(engine) as db:
        pending = db.exec(select(sa.func.count()).where(Reminder.fired_at.is_(None))).one()
    f, first = ctx.dataset.figures, reports[0]
    ctx.note(
        "reminder_scan",
        f"{f.get('follow_ups_open')} open follow-ups, {pending} reminders pending; at the anchor "
        f"{first.reminders_sent} fire and {first.reminders_skipped} are skipped per run "
        f"(batch {scheduler.BATCH}); the claim query alone: p50 {claim.p50_ms:.2f} ms, "
        f"p95 {claim.p95_ms:.2f} ms",
    )
    engine.dispose()
    return figures


# ---- portfolios ------------------------------------------------------------------------------


def _portfolio_firms(ctx: BenchContext, n: int = 500) -> list[int]:
    rows = ctx.sql("SELECT firm_id FROM portfolios ORDER BY id")
    rng = random.Random(7)
    return [r[0] for r in rng.sample(rows, min(n, len(rows)))]


def api_portfolio(ctx: BenchContext) -> list[str]:
    """GET /api/v1/firms/{id}/portfolio (as the admin) over 500 portfolios: the ledger of about
    200 transactions each, valued at the latest prices and FX rates."""
    firms = _portfolio_firms(ctx)
    body = ctx.get(f"/api/v1/firms/{firms[0]}/portfolio")
    ctx.note(
        "api_portfolio",
        f"{len(firms)} portfolios rotated; e.g. {len(body['assets'])} holdings, total "
        f"{body['total_value']} {body['reporting_currency']}",
    )
    return [f"/api/v1/firms/{f}/portfolio" for f in firms]


def revalue_all(ctx: BenchContext, settings: LoadSettings) -> Figures:
    """A tick of every instrument (each price moves, stored in one write transaction), then
    every portfolio revalued from the holdings kept per portfolio and the new prices; in this
    process on the run's database, rolled back after each run."""
    from decimal import Decimal

    from sqlmodel import Session, select

    from brm_app.db import get_engine
    from brm_app.models.portfolio import Instrument
    from brm_app.providers.market_data import Quote
    from brm_app.services import market_data, portfolios

    assert ctx.run_db is not None
    ds._point_app_at(f"sqlite:///{ctx.run_db}", ctx.run_db.parent)
    engine = get_engine()
    with Session(engine) as db:
        symbols = list(db.exec(select(Instrument.symbol)).all())
    rng = random.Random(3)
    sizes: list[int] = []
    tick_times: list[float] = []
    cpu_times: list[float] = []

    def run() -> float:
        quotes = [Quote(s, Decimal(rng.randrange(1000, 50_000)) / 100) for s in symbols]
        with Session(engine) as db:
            t, cpu = time.perf_counter(), time.process_time()
            db.connection(execution_options={"brm_write": True})
            market_data.record_quotes(db, quotes)
            ticked = time.perf_counter()
            totals = portfolios.revalue_all(db)
            elapsed = time.perf_counter() - t
            cpu_times.append(time.process_time() - cpu)
            db.rollback()
        sizes.append(len(totals))
        tick_times.append(ticked - t)
        return elapsed

    figures = _timed(run, settings, min_runs=5)
    ctx.note(
        "revalue_all",
        f"{len(symbols)} instruments ticked, {sizes[-1]} portfolios revalued per run; the tick's "
        f"price writes alone: median {statistics.median(tick_times) * 1000:.0f} ms; CPU time "
        f"of a run (SQLite runs in this process, so this is all of its work, whatever the "
        f"machine's load): median {statistics.median(cpu_times) * 1000:.0f} ms",
    )
    engine.dispose()
    return figures


# ---- performance and reports (issue 12) ------------------------------------------------------

PERF_PORTFOLIOS = 100


def _build_valuations(ctx: BenchContext, firms: list[int]) -> None:
    """The daily valuation table for these firms' portfolios (the job's work; the bench server
    runs no jobs), once per run, on the run's database."""
    if ctx._cache.get("valuations_built"):
        return
    from sqlmodel import Session, col, select

    from brm_app.db import get_engine
    from brm_app.models.portfolio import Portfolio
    from brm_app.services import valuations

    assert ctx.run_db is not None
    ds._point_app_at(f"sqlite:///{ctx.run_db}", ctx.run_db.parent)
    engine = get_engine()
    t = time.perf_counter()
    days = 0
    with Session(engine) as db:
        db.connection(execution_options={"brm_write": True})
        for p in db.exec(select(Portfolio).where(col(Portfolio.firm_id).in_(firms))).all():
            days += valuations.rebuild(db, p, force=True)
        db.commit()
    elapsed = time.perf_counter() - t
    ctx.note(
        "api_portfolio_performance",
        f"valuations built for {len(firms)} portfolios ({days} days) in {elapsed:.1f} s "
        f"({elapsed / max(1, len(firms)) * 1000:.0f} ms each)",
    )
    ctx._cache["valuations_built"] = True


def api_portfolio_performance(ctx: BenchContext) -> list[str]:
    """GET /api/v1/firms/{id}/portfolio/performance?period=1Y (as the admin) over 100
    portfolios with their daily valuations built: a one-year series, TWR, XIRR, volatility,
    drawdown, allocation and P&L by holding."""
    firms = _portfolio_firms(ctx, PERF_PORTFOLIOS)
    _build_valuations(ctx, firms)
    body = ctx.get(f"/api/v1/firms/{firms[0]}/portfolio/performance?period=1Y")
    ctx.note(
        "api_portfolio_performance",
        f"{len(firms)} portfolios rotated; e.g. {len(body['points'])} points, TWR "
        f"{body['figures']['twr']}",
    )
    return [f"/api/v1/firms/{f}/portfolio/performance?period=1Y" for f in firms]


def report_pdf_firm(ctx: BenchContext, settings: LoadSettings) -> Figures:
    """A firm's one-year activity report as PDF (figures, series, holdings at start and end,
    transactions, five vector charts), in this process on the run's database."""
    from sqlmodel import Session

    from brm_app.auth.actor import SystemActor
    from brm_app.db import get_engine
    from brm_app.services import reports

    firms = _portfolio_firms(ctx, PERF_PORTFOLIOS)
    _build_valuations(ctx, firms)
    engine = get_engine()
    actor = SystemActor(label="system:bench")
    rotation = iter(range(10**9))
    sizes: list[int] = []

    def run() -> float:
        firm = firms[next(rotation) % len(firms)]
        t = time.perf_counter()
        with Session(engine) as db:
            r = reports.activity_report(db, actor=actor, firm_id=firm, period="1Y")
            data = reports.activity_pdf(r)
        elapsed = time.perf_counter() - t
        sizes.append(len(data))
        return elapsed

    figures = _timed(run, settings, min_runs=5)
    ctx.note("report_pdf_firm", f"PDF median {statistics.median(sizes) / 1024:.0f} KB")
    return figures


def report_team(ctx: BenchContext, settings: LoadSettings) -> Figures:
    """The team report over the whole book (every broker, as an admin sees it): assets under
    coverage per broker, top movers, drawdowns, interactions; in this process."""
    from sqlmodel import Session

    from brm_app.auth.actor import SystemActor
    from brm_app.db import get_engine
    from brm_app.services import reports

    _build_valuations(ctx, _portfolio_firms(ctx, PERF_PORTFOLIOS))
    engine = get_engine()
    actor = SystemActor(label="system:bench")
    shape: list[str] = []

    def run() -> float:
        t = time.perf_counter()
        with Session(engine) as db:
            r = reports.team_report(db, actor=actor)
        elapsed = time.perf_counter() - t
        shape[:] = [f"{len(r.brokers)} brokers, {len(r.top_movers)} movers"]
        return elapsed

    figures = _timed(run, settings, min_runs=5)
    ctx.note("report_team", shape[0] if shape else "")
    return figures


def oms_batch_1000(ctx: BenchContext, settings: LoadSettings) -> Figures:
    """POST /api/v1/oms/executions with 1,000 fills (buys across the seeded portfolios), each
    batch new, as a service account's API key: from request to the booked answer."""
    r = ctx.api.post("/api/v1/api-keys", json={"name": f"Bench OMS {time.time_ns()}"})
    if r.status_code != 201:
        raise RuntimeError(f"POST /api/v1/api-keys answered {r.status_code}: {r.text[:500]}")
    headers = {"Authorization": f"Bearer {r.json()['key']}"}
    firms = _portfolio_firms(ctx, 200)
    symbols = [row[0] for row in ctx.sql("SELECT symbol FROM instruments ORDER BY id LIMIT 200")]
    counter = iter(range(10**9))
    run_tag = time.time_ns()  # each measurement's fills are new ones
    rng = random.Random(11)

    def batch() -> list[dict]:
        out = []
        for _ in range(1000):
            n = next(counter)
            out.append(
                {
                    "exec_id": f"bench-{run_tag}-{n}",
                    "order_id": f"bench-order-{run_tag}-{n // 4}",
                    "exec_type": "F",
                    "ord_status": "2",
                    "symbol": rng.choice(symbols),
                    "side": "buy",
                    "last_qty": str(rng.randrange(1, 100)),
                    "last_px": f"{rng.randrange(1000, 50_000) / 100:.2f}",
                    "transact_time": "2026-03-02T14:30:00Z",
                    "account": str(rng.choice(firms)),
                }
            )
        return out

    def run() -> float:
        body = {"executions": batch()}
        t = time.perf_counter()
        answer = ctx.api.post("/api/v1/oms/executions", json=body, headers=headers, timeout=120)
        elapsed = time.perf_counter() - t
        if answer.status_code != 200 or answer.json()["booked"] != 1000:
            raise RuntimeError(f"OMS batch answered {answer.status_code}: {answer.text[:500]}")
        return elapsed

    figures = _timed(run, LoadSettings(duration=settings.duration, warmup=0.0), min_runs=10)
    ctx.note("oms_batch_1000", f"{figures.requests} batches of 1,000 fills over {len(firms)} firms")
    return figures


SCENARIOS: list[Scenario] = [
    Scenario("bare_json", "bare", lambda ctx: ["/"], target=None),
    # Floors, for reading the others: Reflex's own /ping (no auth, no database) and the
    # cheapest authenticated API call (token check + one row).
    Scenario("app_ping", "app", lambda ctx: ["/ping"], target=None),
    Scenario(
        "api_me", "app", lambda ctx: ["/api/v1/users/me"], target=REF_READ_TARGET, ref="ref_me"
    ),
    Scenario("ref_me", "ref", lambda ctx: ["/users/me"], target=None),
    Scenario("firms_first_page", "app", first_page),
    Scenario(
        "firms_first_page_broker",
        "app",
        broker_first_page,
        target=REF_READ_TARGET,
        ref="ref_firms_first_page_broker",
    ),
    Scenario("ref_firms_first_page_broker", "ref", ref_broker_first_page, target=None),
    Scenario("firms_deep_page", "app", deep_page),
    Scenario("firms_deep_cursor", "app", deep_cursor),
    Scenario("firms_search", "app", search),
    # The command palette, a broker typing (target: 100 ms beyond the debounce, issue 16).
    Scenario("api_palette", "app", palette, target=Target(p95_ms=100.0), needs_activity=True),
    Scenario("firm_traders", "app", firm_traders),
    Scenario(
        "api_trader_interactions",
        "app",
        trader_interactions,
        target=LIST_TARGET,
        needs_activity=True,
    ),
    Scenario("api_firm_timeline", "app", firm_timeline, target=LIST_TARGET, needs_activity=True),
    Scenario("calendar_month", "app", calendar_month, target=LIST_TARGET, needs_activity=True),
    Scenario(
        "reminder_scan",
        "inproc",
        target=Target(p95_ms=100.0),
        measure=reminder_scan,
        needs_activity=True,
    ),
    Scenario(
        "api_portfolio",
        "app",
        api_portfolio,
        target=Target(p95_ms=25.0),
        needs_portfolios=True,
    ),
    Scenario(
        "revalue_all",
        "inproc",
        target=Target(p95_ms=1000.0),
        measure=revalue_all,
        needs_portfolios=True,
    ),
    Scenario(
        "api_portfolio_performance",
        "app",
        api_portfolio_performance,
        target=Target(p95_ms=100.0),
        needs_portfolios=True,
    ),
    Scenario(
        "report_pdf_firm",
        "inproc",
        target=Target(p95_ms=2000.0),
        measure=report_pdf_firm,
        needs_portfolios=True,
    ),
    Scenario(
        "report_team",
        "inproc",
        target=Target(p95_ms=1000.0),
        measure=report_team,
        needs_portfolios=True,
    ),
    # These add rows (to the run's copy of the database, never to the cache).
    Scenario(
        "oms_batch_1000",
        "inproc",
        target=Target(p95_ms=2000.0),
        measure=oms_batch_1000,
        needs_portfolios=True,
    ),
    # Communications (bench.comms): reads, then what writes (a send, the outbox, the live push).
    Scenario(
        "api_conversation_messages",
        "app",
        comms.conversation_messages,
        target=Target(p95_ms=25.0),
        needs_messages=True,
    ),
    Scenario(
        "api_trader_communications",
        "app",
        comms.trader_communications,
        target=Target(p95_ms=25.0),
        needs_messages=True,
    ),
    Scenario(
        "api_message_send",
        "app",
        comms.message_send,
        target=Target(p95_ms=30.0),
        needs_messages=True,
    ),
    Scenario(
        "outbox_drain_1000",
        "inproc",
        target=Target(p95_ms=10_000.0),
        measure=comms.outbox_drain,
        needs_messages=True,
        single=True,
    ),
    Scenario(
        "ui_message_push_ms",
        "inproc",
        target=Target(p95_ms=1000.0),
        measure=comms.message_push,
        needs_messages=True,
        single=True,
    ),
    # A brokerage moving in (bench.imports): `brm import` into the run's database while wrk asks
    # the app for api_me. After the read scenarios (they add 100,000 firms to the book).
    Scenario("import_firms_100k", "import", target=None),
    Scenario("import_traders_500k", "import", target=None),
    # Last: they add interactions (to the run's copy of the database, never to the cache).
    Scenario(
        "ref_interaction_create",
        "ref",
        ref_interaction_create,
        target=None,
        needs_activity=True,
    ),
    Scenario(
        "api_interaction_create",
        "app",
        interaction_create,
        target=Target(min_rps=300.0, ref_share=1.0),
        needs_activity=True,
        ref="ref_interaction_create",
    ),
]
