"""GET /api/health: app, database and migration state, without authentication."""

from __future__ import annotations

import time

import sqlalchemy as sa
from fastapi.responses import JSONResponse

from brm_app import __version__
from brm_app.api.router import ApiRouter
from brm_app.db import get_engine
from brm_app.migrations import current_revision, head_revision

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
