"""The app's Prometheus metrics, counted in every worker process.

`brm serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers start, so each
worker writes its figures to memory-mapped files there and `/metrics` (served by any worker) adds
them up. Without it (tests, `brm worker`) the figures are this process's own.

Figures read from the database (the job queue's depth) are read when `/metrics` is scraped, not
kept up to date on every change.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

log = logging.getLogger("brm.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Requests are mostly a few milliseconds; pages and exports can take seconds.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "brm_http_requests",
    "HTTP requests answered, by route template, method and status code",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "brm_http_request_seconds",
    "Time from a request's arrival to the end of its answer, by route template",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
REFLEX_EVENTS = Counter(
    "brm_reflex_events", "Reflex events handled, by handler and outcome", ["handler", "outcome"]
)
REFLEX_LATENCY = Histogram(
    "brm_reflex_event_seconds",
    "Time a Reflex event's handler held its tab's state, by handler",
    ["handler"],
    buckets=_LATENCY_BUCKETS,
)
WEBSOCKETS = Gauge(
    "brm_websockets_open", "Open websocket connections (browser tabs)", multiprocess_mode="livesum"
)
DB_POOL_IN_USE = Gauge(
    "brm_db_pool_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)
SCHEDULER_PASS = Histogram(
    "brm_scheduler_pass_seconds",
    "Duration of one job runner round (reminders, due jobs, periodic chores)",
    buckets=_LATENCY_BUCKETS,
)
SCHEDULER_LAST_PASS = Gauge(
    "brm_scheduler_last_pass_timestamp_seconds",
    "When a job runner last finished a round (Unix time)",
    multiprocess_mode="max",
)
JOBS_FINISHED = Counter(
    "brm_jobs_finished", "Background job attempts, by kind and outcome", ["kind", "outcome"]
)
MEMORY = Gauge(
    "brm_process_resident_memory_bytes",
    "Resident memory of each app process",
    multiprocess_mode="all",
)

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def note_memory() -> None:
    MEMORY.set(resident_bytes())


def note_scheduler_pass(seconds: float) -> None:
    SCHEDULER_PASS.observe(seconds)
    SCHEDULER_LAST_PASS.set(time.time())
    _heartbeat[0] = time.monotonic()


# This process's job runner's last round (monotonic), for the readiness check.
_heartbeat: list[float | None] = [None]


def scheduler_heartbeat_age() -> float | None:
    """Seconds since this process's job runner finished a round (None: not yet)."""
    last = _heartbeat[0]
    return None if last is None else time.monotonic() - last


def watch_pool(engine: Engine) -> None:
    """Count the engine's checked-out connections (two pool events, a counter step each)."""
    from sqlalchemy import event

    event.listen(engine, "checkout", lambda *_: DB_POOL_IN_USE.inc())
    event.listen(engine, "checkin", lambda *_: DB_POOL_IN_USE.dec())


class _QueueCollector(Collector):
    """The job queue (the outbox of email, SMS and reminders) read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        import sqlalchemy as sa

        from brm_app.db import UTCDateTime, get_engine, utcnow
        from brm_app.models.job import RUNNABLE

        by_state = GaugeMetricFamily(
            "brm_jobs", "Background jobs in the queue, by state", labels=["state"]
        )
        due = GaugeMetricFamily(
            "brm_jobs_due", "Jobs whose time has come and that no runner has taken yet (backlog)"
        )
        try:
            with get_engine().connect() as conn:
                jobs = sa.table("jobs", sa.column("state"), sa.column("run_at", UTCDateTime()))
                rows = conn.execute(
                    sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state)
                ).all()
                backlog = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(jobs)
                    .where(jobs.c.state.in_(RUNNABLE), jobs.c.run_at <= utcnow())
                ).scalar_one()
        except Exception:  # a scrape must still answer when the database does not
            log.warning("metrics: cannot read the job queue", exc_info=True)
            return
        counts: dict[str, int] = {str(state): int(n) for state, n in rows}
        for state in ("queued", "running", "failed", "dead", "done"):
            by_state.add_metric([state], counts.get(state, 0))
        due.add_metric([], backlog)
        yield by_state
        yield due


def render() -> bytes:
    """The exposition text: every worker's figures (multi-process mode) and the queue's."""
    note_memory()
    queue = CollectorRegistry(auto_describe=False)
    queue.register(_QueueCollector())
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry) + generate_latest(queue)
    return generate_latest(REGISTRY) + generate_latest(queue)


def process_exited() -> None:
    """Drop this process's live gauges (open websockets, pool use) from the sums."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


async def metrics_loop(app: object) -> None:
    """Lifespan task: this worker's memory every 15 s; its live gauges dropped when it stops."""
    import asyncio

    try:
        while True:
            note_memory()
            await asyncio.sleep(15)
    finally:
        process_exited()
