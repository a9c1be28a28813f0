"""Load test: simulated users against two app workers on PostgreSQL + Redis (issue 14).

`python -m bench.users` (run by `make bench`): starts `brm serve` with GRANIAN_WORKERS=2 on a
PostgreSQL database and a Redis database of its own (both removed afterwards), sets up brokers
with a small book through the REST API, then runs N users for a bounded time, each waiting 1-3 s
between actions as a person would: pages loaded as a browser does (the HTML, then its scripts and
styles once), firm searches, opening a firm with its traders, logging an interaction, reading
notifications. Loopback only.

Prints one `BENCH load_<kind>` line per kind of request (count, p50, p95, errors), a total, and
`BENCH load_memory` per worker process. Exits 1 when any request failed.

    python -m bench.users --users 100 --seconds 300         # the issue's run (5 minutes)
    python -m bench.users --users 10 --seconds 20           # a quick check that it runs
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench import dataset, servers

ADMIN_EMAIL = "admin@load.example"
ADMIN_PASSWORD = "load admin password 1"
BROKER_PASSWORD = "load broker password 1"
SEARCHES = ("alp", "bet", "gam", "del", "eps", "cap", "par", "hol")
WORDS = ("Alpha", "Beta", "Gamma", "Delta", "Epsilon")
ASSET = re.compile(r'(?:src|href)="(/[^"]+\.(?:js|css))"')


@dataclass
class Book:
    tokens: list[str] = field(default_factory=list)
    firms: dict[int, list[int]] = field(default_factory=dict)  # firm id -> trader ids


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: list[str] = field(default_factory=list)

    def record(self, kind: str, seconds: float, ok: bool, what: str = "") -> None:
        self.times[kind].append(seconds)
        if not ok:
            self.errors[kind] += 1
            if len(self.examples) < 10:
                self.examples.append(f"{kind}: {what}")


def _pg_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
        "BRM_TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test"
    )
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _claim_redis() -> str:
    """An empty database of the local Redis, claimed with a key (as the e2e tests do)."""
    import redis

    base = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    for db in random.sample(range(1, 16), 15):
        client = redis.Redis.from_url(f"{base}/{db}", socket_connect_timeout=1)
        if client.set("brm:load:claimed", "1", nx=True, ex=3600):
            if client.dbsize() == 1:
                return f"{base}/{db}"
            client.delete("brm:load:claimed")
    raise SystemExit(f"no free Redis database at {base}")


def _setup_book(url: str, brokers: int, firms_each: int) -> Book:
    """Brokers (each chose their password), each with firms and traders, through the API."""
    book = Book()
    with httpx.Client(base_url=url, timeout=60) as api:
        admin = api.post(
            "/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        for b in range(brokers):
            email = f"broker{b}@load.example"
            first = BROKER_PASSWORD + " (first)"
            r = api.post(
                "/api/v1/users",
                headers={"Authorization": f"Bearer {admin}"},
                json={"email": email, "role": "broker", "name": f"Broker {b}", "password": first},
            )
            r.raise_for_status()
            own = api.post("/api/v1/auth/token", data={"username": email, "password": first})
            api.post(
                "/api/v1/users/me/password",
                headers={"Authorization": f"Bearer {own.json()['access_token']}"},
                json={"current_password": first, "new_password": BROKER_PASSWORD},
            ).raise_for_status()
            token = api.post(
                "/api/v1/auth/token", data={"username": email, "password": BROKER_PASSWORD}
            ).json()["access_token"]
            book.tokens.append(token)
            auth = {"Authorization": f"Bearer {token}"}
            for f in range(firms_each):
                name = f"{WORDS[f % len(WORDS)]} Capital Partners {b}-{f}"
                firm = api.post("/api/v1/firms", headers=auth, json={"name": name})
                firm.raise_for_status()
                firm_id = firm.json()["firm_id"]
                book.firms[firm_id] = []
                for t in range(3):
                    trader = api.post(
                        f"/api/v1/firms/{firm_id}/traders",
                        headers=auth,
                        json={"name": f"Trader {b} {f} {t}", "email": f"t{b}.{f}.{t}@firm.example"},
                    )
                    trader.raise_for_status()
                    body = trader.json()
                    book.firms[firm_id].append(body["trader_id"])
    return book


async def _user(n: int, url: str, book: Book, deadline: float, results: Results) -> None:
    rng = random.Random(n)
    token = book.tokens[n % len(book.tokens)]
    # A broker's own firms (those of the broker whose token this user holds).
    firm_ids = list(book.firms)[(n % len(book.tokens)) * (len(book.firms) // len(book.tokens)) :][
        : len(book.firms) // len(book.tokens)
    ]
    auth = {"Authorization": f"Bearer {token}"}
    assets_loaded = False
    limits = httpx.Limits(max_connections=6)
    async with httpx.AsyncClient(
        base_url=url, timeout=30, limits=limits, follow_redirects=True
    ) as client:

        async def call(kind: str, method: str, path: str, **kw) -> httpx.Response | None:
            started = time.perf_counter()
            try:
                r = await client.request(method, path, **kw)
            except httpx.HTTPError as exc:
                results.record(kind, time.perf_counter() - started, False, f"{path}: {exc!r}")
                return None
            ok = r.status_code < 400
            results.record(kind, time.perf_counter() - started, ok, f"{path}: {r.status_code}")
            return r

        await asyncio.sleep(rng.uniform(0, 3))  # users arrive over the first seconds
        while time.monotonic() < deadline:
            action = rng.choices(
                ("page", "search", "open_firm", "log_interaction", "notifications"),
                weights=(20, 30, 25, 10, 15),
            )[0]
            if action == "page":
                r = await call("page", "GET", rng.choice(("/firms", "/", "/calendar")))
                if r is not None and not assets_loaded:
                    assets = sorted(set(ASSET.findall(r.text)))[:20]
                    await asyncio.gather(*(call("page_asset", "GET", a) for a in assets))
                    assets_loaded = True  # then from the browser's cache
            elif action == "search":
                q = rng.choice(SEARCHES)
                await call("search", "GET", "/api/v1/firms", params={"q": q}, headers=auth)
            elif action == "open_firm":
                firm = rng.choice(firm_ids)
                await asyncio.gather(
                    call("open_firm", "GET", f"/api/v1/firms/{firm}", headers=auth),
                    call("open_firm", "GET", f"/api/v1/firms/{firm}/traders", headers=auth),
                )
            elif action == "log_interaction":
                trader = rng.choice(book.firms[rng.choice(firm_ids)])
                when = datetime.now(UTC) - timedelta(minutes=rng.randint(5, 600))
                body = {
                    "trader_id": trader,
                    "interaction_type": "Call",
                    "interaction_date": when.isoformat(),
                    "subject": f"Load test call {n}",
                }
                await call(
                    "log_interaction", "POST", "/api/v1/interactions", json=body, headers=auth
                )
            else:
                await asyncio.gather(
                    call("notifications", "GET", "/api/v1/notifications", headers=auth),
                    call(
                        "notifications", "GET", "/api/v1/notifications/unread-count", headers=auth
                    ),
                )
            await asyncio.sleep(rng.uniform(1.0, 3.0))


def _p(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def report(results: Results, seconds: float) -> int:
    total = errors = 0
    for kind in sorted(results.times):
        values = results.times[kind]
        total += len(values)
        errors += results.errors[kind]
        print(
            f"BENCH load_{kind} n={len(values)} p50_ms={_p(values, 50):.1f} "
            f"p95_ms={_p(values, 95):.1f} errors={results.errors[kind]}",
            flush=True,
        )
    every = [v for vs in results.times.values() for v in vs]
    print(
        f"BENCH load_total n={total} rps={total / seconds:.1f} p95_ms={_p(every, 95):.1f} "
        f"errors={errors}",
        flush=True,
    )
    for example in results.examples:
        print(f"# error: {example}", flush=True)
    return errors


def main(argv: list[str] | None = None) -> int:
    servers.use_bench_keys()
    parser = argparse.ArgumentParser(prog="python -m bench.users", description=__doc__)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--brokers", type=int, default=10)
    parser.add_argument("--firms-per-broker", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    pg = _pg_url()
    name = f"brm_load_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db_url = sa.engine.make_url(pg).set(database=name).render_as_string(hide_password=False)
    redis_url = _claim_redis()
    run_dir = Path(tempfile.mkdtemp(prefix="brm-load-"))
    app = None
    try:
        app = servers.start_app(
            data_dir=run_dir,
            db_file=run_dir / "unused.db",
            web_dir=dataset.OUT / "web",  # the production build, kept between runs
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            database_url=db_url,
            extra_env={
                "GRANIAN_WORKERS": str(args.workers),
                "BRM_REDIS_URL": redis_url,
                "BRM_JOBS_IN_PROCESS": "1",
                "BRM_SCHEDULER_SECONDS": "5",
                "BRM_LOG_FORMAT": "json",
            },
        )
        started = time.perf_counter()
        app.wait_ready("/api/health", timeout=900)
        print(f"# app ready in {time.perf_counter() - started:.1f} s at {app.url}", flush=True)
        book = _setup_book(app.url, args.brokers, args.firms_per_broker)
        print(
            f"# {len(book.tokens)} brokers, {len(book.firms)} firms; {args.users} users for "
            f"{args.seconds:.0f} s, 1-3 s think time, {args.workers} workers",
            flush=True,
        )
        results = Results()
        deadline = time.monotonic() + args.seconds

        async def run_all() -> None:
            await asyncio.gather(
                *(_user(n, app.url, book, deadline, results) for n in range(args.users))
            )

        t = time.perf_counter()
        asyncio.run(run_all())
        elapsed = time.perf_counter() - t
        app.check_alive("the load test")
        errors = report(results, elapsed)
        for proc in app.processes():
            with contextlib.suppress(Exception):
                cmd = " ".join(proc.cmdline())
                if "granian" in cmd or "reflex" in cmd or "brm" in cmd:
                    print(
                        f"BENCH load_memory pid={proc.pid} rss_mb={proc.memory_info().rss / 1e6:.1f} "
                        f"cmd={proc.name()}",
                        flush=True,
                    )
        return 1 if errors else 0
    finally:
        if app is not None:
            app.stop()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        import redis

        redis.Redis.from_url(redis_url).flushdb()


if __name__ == "__main__":
    sys.exit(main())
