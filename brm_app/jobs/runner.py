"""The runner: runs due jobs, fires reminders at their time, and does the periodic chores.

One runner per process: the app's (a lifespan task, BRM_JOBS_IN_PROCESS=1) or `brm worker`'s.
Several may run at once against one database; the claims keep each job and each reminder to one
of them. Between rounds it sleeps until the earliest of: the next job's run_at, the next
reminder's time, the next periodic pass, or a wake-up (a job enqueued or a reminder changed, in
this process at once, from another process through PostgreSQL's NOTIFY or the short poll).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from brm_app.db import get_engine, unit_of_work, utcnow
from brm_app.jobs import queue, wake
from brm_app.jobs.queue import ClaimedJob, PermanentJobError
from brm_app.observability import metrics

log = logging.getLogger("brm.jobs")

Handler = Callable[[ClaimedJob], None]
Chore = Callable[[Session], None]
# A batch's outcome per job id: None when done, else the exception it failed with.
Outcomes = Mapping[int, Exception | None]
BATCHES_PER_ROUND = 4
# Finished jobs are kept this long for the admin page, then forgotten.
KEEP_DONE = timedelta(days=7)


@dataclass(frozen=True)
class Batched:
    """A kind whose due jobs run together, up to `size` at a time: `many` takes one batch of
    claimed jobs and answers each one's outcome (what `one` would have raised, or None). Used
    where a job is cheap and its cost is mostly per-transaction (an email: three commits each
    one by one, three per batch together). Calling it runs `one` (a single job)."""

    one: Handler
    many: Callable[[Sequence[ClaimedJob]], Outcomes]
    size: int = 50

    def __call__(self, job: ClaimedJob) -> None:
        self.one(job)


@dataclass
class RoundReport:
    jobs_done: int = 0
    jobs_failed: int = 0
    reminders_sent: int = 0
    escalations: int = 0


class Runner:
    def __init__(
        self,
        handlers: Mapping[str, Handler],
        *,
        engine: Engine | None = None,
        periodic_seconds: float = 5.0,
        chores: Sequence[Chore] = (),
        batch: int = 10,
        lease: timedelta = queue.DEFAULT_LEASE,
    ) -> None:
        self.handlers = dict(handlers)
        self.engine = engine
        self.periodic_seconds = periodic_seconds
        self.chores = list(chores)
        self.batch = batch
        self.lease = lease
        self._next_periodic = 0.0  # monotonic; the first round does the periodic pass

    # ---- one round (blocking; the async loop runs it in a thread) ----------------------------

    def run_round(self) -> RoundReport:
        from brm_app.services import scheduler

        report = RoundReport()
        # Look before taking the write lock: most rounds find nothing due.
        now = utcnow()
        with unit_of_work(engine=self._engine()) as db:
            reminder_at = scheduler.next_reminder_at(db)
            job_at = queue.next_run_at(db)
        if reminder_at is not None and reminder_at <= now:
            self._fire_reminders(report)
        if self.periodic_seconds > 0 and time.monotonic() >= self._next_periodic:
            self._periodic(report)
            self._next_periodic = time.monotonic() + self.periodic_seconds
        # Reminders just fired may have enqueued their emails.
        if report.reminders_sent or report.escalations or (job_at is not None and job_at <= now):
            self._run_due_jobs(report)
        return report

    def run_jobs(self) -> RoundReport:
        """Only the due jobs, no reminders or chores (the outbox benchmark drains with this)."""
        report = RoundReport()
        self._run_due_jobs(report)
        return report

    def _run_due_jobs(self, report: RoundReport) -> None:
        batched = {k: h for k, h in self.handlers.items() if isinstance(h, Batched)}
        for kind, handler in batched.items():
            # A few batches a round, so that a long outbox does not hold the other kinds back
            # (what is left is still due: the next round comes at once).
            for _ in range(BATCHES_PER_ROUND):
                with unit_of_work(write=True, engine=self._engine()) as db:
                    claimed = queue.claim(db, limit=handler.size, lease=self.lease, kinds=[kind])
                if claimed:
                    self._run_batch(handler, claimed, report)
                if len(claimed) < handler.size:
                    break
        while True:
            with unit_of_work(write=True, engine=self._engine()) as db:
                claimed = queue.claim(
                    db, limit=self.batch, lease=self.lease, except_kinds=list(batched)
                )
            for job in claimed:
                self._run(job, report)
            if len(claimed) < self.batch:
                return

    def _engine(self) -> Engine:
        return self.engine or get_engine()

    def _fire_reminders(self, report: RoundReport) -> None:
        from brm_app.services import scheduler

        while True:
            with unit_of_work(write=True, engine=self._engine()) as db:
                fired = scheduler.fire_due_reminders(db)
            report.reminders_sent += fired.reminders_sent
            if fired.reminders_sent + fired.reminders_skipped < scheduler.BATCH:
                break
        if report.reminders_sent:
            log.info("jobs: %s reminder(s) sent", report.reminders_sent)

    def _periodic(self, report: RoundReport) -> None:
        from brm_app.services import communications, deliveries, review, scheduler

        # Supervisory review: what the review rules select from what was written since. In a
        # transaction of its own, so its lock (one pass at a time across servers) is taken
        # before, never after, the audit chain's: two runners cannot wait on each other.
        with unit_of_work(write=True, engine=self._engine()) as db:
            review.select_new(db)
        with unit_of_work(write=True, engine=self._engine()) as db:
            escalated = scheduler.escalate_overdue(db)
            report.escalations += escalated.escalations
            deliveries.sweep_interrupted(db)
            communications.sweep_interrupted(db)
            queue.prune_done(db, older_than=KEEP_DONE)
            for chore in self.chores:
                chore(db)
        if escalated.escalations:
            log.info("jobs: %s overdue escalation(s)", escalated.escalations)

    def _run(self, job: ClaimedJob, report: RoundReport) -> None:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise PermanentJobError(f"no handler for jobs of kind {job.kind!r}")
            handler(job)
        except Exception as exc:
            with unit_of_work(write=True, engine=self._engine()) as db:
                self._failed(db, job, exc, report)
            return
        with unit_of_work(write=True, engine=self._engine()) as db:
            self._done(db, job, report)

    def _run_batch(self, handler: Batched, jobs: list[ClaimedJob], report: RoundReport) -> None:
        try:
            outcomes = dict(handler.many(jobs))
        except Exception as exc:
            outcomes = {job.id: exc for job in jobs}
        # Every job's end in one transaction (a job the handler did not answer for failed).
        done = [job for job in jobs if job.id in outcomes and outcomes[job.id] is None]
        with unit_of_work(write=True, engine=self._engine()) as db:
            held = queue.complete_many(db, done)
            for job in jobs:
                if job not in done:
                    error = outcomes.get(job.id) or RuntimeError("the batch handler skipped it")
                    self._failed(db, job, error, report)
        if held < len(done):
            log.warning("%s job(s) finished after their lease was taken over", len(done) - held)
        report.jobs_done += len(done)
        for job in done:
            metrics.JOBS_FINISHED.labels(job.kind, "done").inc()

    def _done(self, db: Session, job: ClaimedJob, report: RoundReport) -> None:
        if not queue.complete(db, job):
            log.warning("job %s finished after its lease was taken over", job.id)
        report.jobs_done += 1
        metrics.JOBS_FINISHED.labels(job.kind, "done").inc()

    def _failed(self, db: Session, job: ClaimedJob, exc: Exception, report: RoundReport) -> None:
        permanent = isinstance(exc, PermanentJobError)
        error = str(exc) if permanent else f"{type(exc).__name__}: {exc}"
        state = queue.fail(db, job, error, permanent=permanent)
        report.jobs_failed += 1
        metrics.JOBS_FINISHED.labels(job.kind, "failed").inc()
        log.warning(
            "job %s (%s) attempt %s/%s failed -> %s: %s",
            job.id,
            job.kind,
            job.attempt,
            job.max_attempts,
            state.value if state else "taken over",
            error,
        )

    def next_wake(self) -> datetime | None:
        """The earliest moment something falls due (None: nothing scheduled)."""
        from brm_app.services import scheduler

        with unit_of_work(engine=self._engine()) as db:
            times = [queue.next_run_at(db), scheduler.next_reminder_at(db)]
        if self.periodic_seconds > 0:
            left = max(0.0, self._next_periodic - time.monotonic())
            times.append(utcnow() + timedelta(seconds=left))
        due = [t for t in times if t is not None]
        return min(due) if due else None

    # ---- the loop ----------------------------------------------------------------------------

    async def run_forever(
        self,
        *,
        poll_seconds: float | None = None,
    ) -> None:
        """Rounds until cancelled. `poll_seconds` bounds each sleep (other processes' work is seen
        within it when nothing wakes us): 1 s on SQLite, 10 s on PostgreSQL (NOTIFY wakes us)."""
        engine = self._engine()
        postgres = engine.dialect.name == "postgresql"
        if poll_seconds is None:
            poll_seconds = 10.0 if postgres else 1.0
        stop = threading.Event()
        with wake.Waiter() as waiter:
            if postgres:
                url = engine.url.render_as_string(hide_password=False)
                threading.Thread(
                    target=wake.listen_forever,
                    args=(url, waiter.wake, stop),
                    name="brm-jobs-listen",
                    daemon=True,
                ).start()
            try:
                while True:
                    delay = poll_seconds
                    try:
                        started = time.perf_counter()
                        await asyncio.to_thread(self.run_round)
                        metrics.note_scheduler_pass(time.perf_counter() - started)
                        next_at = await asyncio.to_thread(self.next_wake)
                        if next_at is not None:
                            delay = min(delay, (next_at - utcnow()).total_seconds())
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("jobs: a round failed; trying again shortly")
                    await waiter.wait(max(delay, 0.0) + 0.005)
            finally:
                stop.set()
