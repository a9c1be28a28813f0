"""GET /api/health (database and migrations), /api/health/live and /api/health/ready, without
authentication: for load balancers and orchestrators."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from fastapi.responses import JSONResponse

from brm_app import __version__
from brm_app.api.router import ApiRouter
from brm_app.db import get_engine
from brm_app.migrations import current_revision, head_revision
from brm_app.observability import metrics
from brm_app.settings import get_settings

router = ApiRouter(tags=["health"])


@router.get("/api/health")
def health() -> JSONResponse:
    engine = get_engine()
    started = time.perf_counter()
    db = {"backend": engine.dialect.name, "ok": False}
    migrations: dict = {"head": head_revision(), "current": None, "up_to_date": False}
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        db["ok"] = True
        db["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        migrations["current"] = current_revision(engine)
        migrations["up_to_date"] = migrations["current"] == migrations["head"]
    except sa.exc.SQLAlchemyError as exc:
        db["error"] = type(exc).__name__
    ok = db["ok"] and migrations["up_to_date"]
    body = {
        "status": "ok" if ok else "degraded",
        "app": {"name": "BrokerSync BRM", "version": __version__},
        "database": db,
        "migrations": migrations,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/api/health/live")
def live() -> JSONResponse:
    """Liveness: the process answers (restart it when this fails). Touches nothing else."""
    return JSONResponse({"status": "live"})


# A job runner that has not finished a round for this long is taken for stuck.
SCHEDULER_STALE_SECONDS = 120.0


def _redis_check(url: str) -> dict[str, Any]:
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        _redis_clients[url] = client
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"configured": True, "ok": False, "error": type(exc).__name__}
    return {"configured": True, "ok": True}


_redis_clients: dict[str, Any] = {}


def _scheduler_check() -> dict[str, Any]:
    if not get_settings().jobs_in_process:
        return {"in_process": False, "ok": True}
    age = metrics.scheduler_heartbeat_age()
    if age is None:
        return {"in_process": True, "ok": False, "error": "no round finished yet"}
    return {
        "in_process": True,
        "ok": age < SCHEDULER_STALE_SECONDS,
        "last_round_seconds_ago": round(age, 1),
    }


# Not in the OpenAPI document: for load balancers and orchestrators, whose probes read the
# status code (503 "not ready" is its normal answer while the process starts).
@router.get("/api/health/ready", include_in_schema=False)
def ready() -> JSONResponse:
    """Readiness: send traffic here only when the database answers, its migrations are at head,
    Redis answers (when configured) and this process's job runner is turning (when it runs one)."""
    engine = get_engine()
    checks: dict[str, dict[str, Any]] = {"database": {"ok": False}, "migrations": {"ok": False}}
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["database"]["ok"] = True
        current = current_revision(engine)
        checks["migrations"] = {"ok": current == head_revision(), "current": current}
    except sa.exc.SQLAlchemyError as exc:
        checks["database"]["error"] = type(exc).__name__
    redis_url = get_settings().redis_url
    checks["redis"] = _redis_check(redis_url) if redis_url else {"configured": False, "ok": True}
    checks["scheduler"] = _scheduler_check()
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503
    )
