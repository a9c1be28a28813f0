"""Crash safety over real HTTP (issue 14), with granian as in production: a SIGKILL during a burst
of API writes loses no write that was answered 2xx and leaves SQLite intact; SIGTERM lets a
request in flight finish. (A delivery cut off between "sending" and "sent" becomes "unknown" and
is never re-sent: tests/unit/test_comms_delivery.py.)"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from brm_app.models.user import Role
from tests.api.test_observability_api import _free_port
from tests.factories import PASSWORD, make_user

ROOT = Path(__file__).resolve().parents[2]
GRANIAN = Path(sys.executable).parent / "granian"


@contextmanager
def granian(log: Path, *extra: str, scheme: str = "http"):
    port = _free_port()
    env = {**os.environ, "BRM_JOBS_IN_PROCESS": "0"}
    with open(log, "a") as out:
        proc = subprocess.Popen(
            [str(GRANIAN), "--interface", "asgi", "--workers", "1", "--host", "127.0.0.1",
             "--port", str(port), *extra, "tests.api.observed_app:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/api/health/live", timeout=2, verify=False).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_sigkill_during_writes_loses_nothing_answered(sqlite_url, tmp_path):
    broker = make_user(Role.BROKER)
    log = tmp_path / "server.log"
    acked: list[int] = []
    lock = threading.Lock()
    with granian(log) as (url, proc):
        token = httpx.post(
            url + "/api/v1/auth/token", data={"username": broker.email, "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def writer(n: int) -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
                for i in range(10_000):
                    try:
                        r = client.post("/api/v1/firms", json={"name": f"Crash {n}-{i}"})
                    except httpx.HTTPError:
                        return  # the server is gone
                    if r.status_code == 201:
                        with lock:
                            acked.append(r.json()["firm_id"])

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        while len(acked) < 30:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        for t in threads:
            t.join(timeout=30)
    assert len(acked) >= 30

    db_file = sqlite_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(db_file)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    with granian(log) as (url, _):
        token = httpx.post(
            url + "/api/v1/auth/token", data={"username": broker.email, "password": PASSWORD}
        ).json()["access_token"]
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client:
            missing = [i for i in acked if client.get(f"/api/v1/firms/{i}").status_code != 200]
    assert missing == [], f"{len(missing)} of {len(acked)} answered writes lost"


def test_sigterm_lets_requests_in_flight_finish(sqlite_url, tmp_path):
    with granian(tmp_path / "server.log") as (url, proc):
        answers: list[int] = []
        slow = threading.Thread(
            target=lambda: answers.append(httpx.get(url + "/slow", timeout=10).status_code)
        )
        slow.start()
        time.sleep(0.4)
        proc.send_signal(signal.SIGTERM)
        slow.join(timeout=15)
        assert proc.wait(timeout=15) is not None
    assert answers == [200]
