"""Read traces as the tests look at them: the trace jobs run, then (user, target) per trace."""

from __future__ import annotations

from sqlmodel import col, select

from brm_app.db import unit_of_work
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.models.retention import ReadTrace


def recorded_traces(what: str) -> list[tuple[int | None, int | None]]:
    """(user, target) of every `what` trace, oldest first, once the pending jobs ran."""
    Runner(handlers(), periodic_seconds=0).run_round()
    with unit_of_work() as db:
        rows = db.exec(
            select(ReadTrace.user_id, ReadTrace.target_id)
            .where(ReadTrace.what == what)
            .order_by(col(ReadTrace.id))
        ).all()
    return [(u, t) for u, t in rows]
