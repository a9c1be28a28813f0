"""The jobs facility on a real database (SQLite, and PostgreSQL when BRM_TEST_DATABASE_URL is set):
enqueue in the caller's transaction, idempotency keys, leases, backoff, dead jobs, run_at, and two
runners never running one job."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import func, select

from brm_app.db import unit_of_work, utcnow
from brm_app.jobs import queue
from brm_app.jobs.runner import Runner
from brm_app.models.job import Job, JobState


def _jobs() -> list[Job]:
    with unit_of_work() as db:
        return list(db.exec(select(Job).order_by(Job.id)).all())


def test_enqueue_in_a_rolled_back_transaction_leaves_no_job(database_url):
    with pytest.raises(RuntimeError), unit_of_work(write=True) as db:
        queue.enqueue(db, "test.kind", {"thing_id": 1})
        raise RuntimeError("the cause failed")
    assert _jobs() == []
    with unit_of_work(write=True) as db:
        job_id = queue.enqueue(db, "test.kind", {"thing_id": 1})
    [job] = _jobs()
    assert (job.id, job.state, job.attempts, job.payload) == (
        job_id,
        "queued",
        0,
        '{"thing_id": 1}',
    )


def test_payloads_carry_ids_only(database_url):
    with unit_of_work(write=True) as db:
        for payload in ({"to": "a@b.example"}, {"text": "hello"}, {"flag": True}, ["x"]):
            with pytest.raises(TypeError):
                queue.enqueue(db, "test.kind", payload)
    assert _jobs() == []


def test_an_idempotency_key_is_enqueued_once(database_url):
    with unit_of_work(write=True) as db:
        first = queue.enqueue(db, "test.kind", {"thing_id": 1}, key="thing:1")
        again = queue.enqueue(db, "test.kind", {"thing_id": 1}, key="thing:1")
    with unit_of_work(write=True) as db:  # a later transaction, too; and the caller's goes on
        later = queue.enqueue(db, "test.kind", {"thing_id": 1}, key="thing:1")
        other = queue.enqueue(db, "test.kind", {"thing_id": 2}, key="thing:2")
    assert first == again == later != other
    assert [j.idempotency_key for j in _jobs()] == ["thing:1", "thing:2"]


def test_run_at_is_honoured(database_url):
    now = utcnow()
    with unit_of_work(write=True) as db:
        queue.enqueue(db, "test.kind", {"thing_id": 1}, run_at=now + timedelta(minutes=5))
    with unit_of_work(write=True) as db:
        assert queue.claim(db, now=now + timedelta(minutes=4, seconds=59)) == []
        assert abs(queue.next_run_at(db) - (now + timedelta(minutes=5))) < timedelta(seconds=1)
    with unit_of_work(write=True) as db:
        [claimed] = queue.claim(db, now=now + timedelta(minutes=5))
    assert claimed.payload == {"thing_id": 1} and claimed.attempt == 1


def test_an_expired_lease_is_claimed_again_and_the_old_holder_cannot_finish(database_url):
    with unit_of_work(write=True) as db:
        queue.enqueue(db, "test.kind", {"thing_id": 1})
    now = utcnow()
    with unit_of_work(write=True) as db:
        [first] = queue.claim(db, now=now, lease=timedelta(seconds=30))
    with unit_of_work(write=True) as db:
        assert queue.claim(db, now=now + timedelta(seconds=29)) == []  # still leased
    with unit_of_work(write=True) as db:
        [second] = queue.claim(db, now=now + timedelta(seconds=31), lease=timedelta(seconds=30))
    assert second.id == first.id and second.attempt == 2
    assert second.lease_token != first.lease_token
    with unit_of_work(write=True) as db:
        assert queue.complete(db, first) is False  # its runner lost the lease
        assert queue.complete(db, second) is True
    [job] = _jobs()
    assert job.state == "done" and job.lease_token is None


def test_backoff_grows_exponentially_within_jitter_bounds():
    base, cap = timedelta(seconds=10), timedelta(hours=1)
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (10, 3600), (50, 3600)]:
        low = queue.backoff(attempt, base=base, cap=cap, rng=lambda: 0.0)
        high = queue.backoff(attempt, base=base, cap=cap, rng=lambda: 1.0)
        assert low == timedelta(seconds=ceiling / 2)
        assert high == timedelta(seconds=ceiling)
    # With the real random source every delay stays in [ceiling/2, ceiling] and they differ.
    delays = {queue.backoff(3, base=base, cap=cap) for _ in range(50)}
    assert all(timedelta(seconds=20) <= d <= timedelta(seconds=40) for d in delays)
    assert len(delays) > 1


def test_failures_retry_with_backoff_then_die_with_the_last_error(database_url):
    calls = []

    def flaky(job):
        calls.append(job.attempt)
        raise ConnectionError(f"provider down (attempt {job.attempt})")

    with unit_of_work(write=True) as db:
        queue.enqueue(db, "test.flaky", {"thing_id": 1}, max_attempts=3)
    runner = Runner({"test.flaky": flaky}, periodic_seconds=0)
    runner.run_round()
    [job] = _jobs()
    assert job.state == "failed" and job.attempts == 1
    assert job.last_error == "ConnectionError: provider down (attempt 1)"
    wait = job.run_at - job.updated_at
    assert timedelta(seconds=5) <= wait <= timedelta(seconds=10)  # backoff after attempt 1
    runner.run_round()  # not due yet: nothing runs
    assert calls == [1]
    for _ in range(2):
        with unit_of_work(write=True) as db:  # let the backoff pass
            db.get(Job, job.id).run_at = utcnow() - timedelta(seconds=1)
        runner.run_round()
    [job] = _jobs()
    assert calls == [1, 2, 3]
    assert (job.state, job.attempts) == ("dead", 3)
    assert job.last_error == "ConnectionError: provider down (attempt 3)"
    assert job.finished_at is not None


def test_a_permanent_error_is_dead_at_once_and_an_unknown_kind_too(database_url):
    def refuse(job):
        raise queue.PermanentJobError("the address was refused")

    with unit_of_work(write=True) as db:
        queue.enqueue(db, "test.refuse", {"thing_id": 1})
        queue.enqueue(db, "test.nobody", {"thing_id": 2})
    Runner({"test.refuse": refuse}, periodic_seconds=0).run_round()
    refused, unknown = _jobs()
    assert (refused.state, refused.attempts, refused.last_error) == (
        "dead",
        1,
        "the address was refused",
    )
    assert unknown.state == "dead" and "no handler" in unknown.last_error


def test_a_job_whose_runner_keeps_stopping_ends_dead(database_url):
    with unit_of_work(write=True) as db:
        queue.enqueue(db, "test.kind", {"thing_id": 1}, max_attempts=2)
    now = utcnow()
    for step in range(2):
        with unit_of_work(write=True) as db:
            assert queue.claim(db, now=now + timedelta(minutes=10 * step))
    with unit_of_work(write=True) as db:
        assert queue.claim(db, now=now + timedelta(minutes=30)) == []
    [job] = _jobs()
    assert job.state == "dead" and "lease expired" in job.last_error


def test_a_dead_job_can_be_retried(database_url):
    with unit_of_work(write=True) as db:
        job_id = queue.enqueue(db, "test.kind", {"thing_id": 1}, max_attempts=1)
    with unit_of_work(write=True) as db:
        [claimed] = queue.claim(db)
        assert queue.fail(db, claimed, "boom") == JobState.DEAD
    with unit_of_work(write=True) as db:
        assert queue.retry_dead(db, job_id) is True
        assert queue.retry_dead(db, job_id) is False  # no longer dead
    [job] = _jobs()
    assert (job.state, job.attempts, job.last_error) == ("queued", 0, "boom")


def test_two_runners_never_run_the_same_job(database_url):
    """Two threads claim and finish 120 jobs side by side (on PostgreSQL with SKIP LOCKED)."""
    with unit_of_work(write=True) as db:
        for i in range(120):
            queue.enqueue(db, "test.kind", {"thing_id": i})
    ran: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def work(mine: list[int]) -> None:
        start.wait()
        while True:
            with unit_of_work(write=True) as db:
                claimed = queue.claim(db, limit=3)
            if not claimed:
                return
            for job in claimed:
                mine.append(job.payload["thing_id"])
                with unit_of_work(write=True) as db:
                    assert queue.complete(db, job)

    threads = [threading.Thread(target=work, args=(ran[i],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    everything = ran[0] + ran[1]
    assert sorted(everything) == list(range(120)), "each job ran exactly once"
    assert ran[0] and ran[1], f"both runners took part: {len(ran[0])} / {len(ran[1])}"
    with unit_of_work() as db:
        assert (
            db.exec(select(func.count()).select_from(Job).where(Job.state == "done")).one() == 120
        )


def test_a_batched_kind_runs_its_jobs_together_and_leaves_room_for_the_others(
    database_url, monkeypatch
):
    from brm_app.jobs import runner as runner_module
    from brm_app.jobs.runner import Batched

    monkeypatch.setattr(runner_module, "BATCHES_PER_ROUND", 2)
    with unit_of_work(write=True) as db:
        ids = [queue.enqueue(db, "test.many", {"thing_id": n}) for n in range(7)]
        other = queue.enqueue(db, "test.one", {"thing_id": 99})
    batches: list[list[int]] = []
    singles: list[int] = []

    def many(jobs):
        batches.append([j.payload["thing_id"] for j in jobs])
        # thing 3 fails (retried later), the others are done
        return {j.id: (RuntimeError("no") if j.payload["thing_id"] == 3 else None) for j in jobs}

    runner = Runner(
        {
            "test.many": Batched(lambda job: None, many, size=3),
            "test.one": lambda job: singles.append(job.payload["thing_id"]),
        },
        periodic_seconds=0,
    )
    report = runner.run_jobs()
    # Two batches of three this round (not all seven), and the other kind ran too.
    assert batches == [[0, 1, 2], [3, 4, 5]] and singles == [99]
    assert (report.jobs_done, report.jobs_failed) == (6, 1)
    states = {j.id: j.state for j in _jobs()}
    assert [states[i] for i in ids] == ["done"] * 3 + ["failed"] + ["done"] * 2 + ["queued"]
    assert states[other] == "done"
    runner.run_jobs()
    assert batches[-1] == [6]
