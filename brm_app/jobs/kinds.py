"""Every kind of job and its handler, in one place (no registration by import side effects)."""

from __future__ import annotations

from collections.abc import Sequence

from brm_app.jobs.runner import Batched, Chore, Handler, Runner


def handlers() -> dict[str, Handler]:
    from brm_app.services import (
        communications,
        deliveries,
        read_traces,
        regulator_export,
        retention,
        valuations,
    )

    return {
        deliveries.SEND_KIND: deliveries.send,
        # Emails and SMS to traders: many at a time (three transactions per batch, not per email).
        communications.SEND_KIND: Batched(
            communications.send, communications.send_batch, size=communications.SEND_BATCH
        ),
        regulator_export.BUILD_KIND: regulator_export.build,
        valuations.REBUILD_KIND: valuations.rebuild_job,
        retention.PURGE_KIND: retention.purge_job,
        read_traces.RECORD_KIND: read_traces.record_job,
    }


def build_runner(*, chores: Sequence[Chore] = ()) -> Runner:
    """The runner the app and `brm worker` both use (the same guarantees either way)."""
    from brm_app.services import retention, valuations
    from brm_app.settings import get_settings

    # The daily valuations are kept by jobs this chore enqueues (services.valuations); the
    # retention purge runs once a day (services.retention).
    chores = [*chores, valuations.keep_valuations, retention.schedule_daily]
    return Runner(handlers(), periodic_seconds=get_settings().scheduler_seconds, chores=chores)
