"""The Reflex side of /metrics and the logs over real HTTP (issue 14): the whole app (pages
evaluated, no frontend build) under granian with two workers; a browser tab's websocket and its
event are counted and logged, and the socket's gauge drops when it closes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import socketio

from tests.api.test_observability_api import _free_port, _sample

ROOT = Path(__file__).resolve().parents[2]
GRANIAN = Path(sys.executable).parent / "granian"
HYDRATE = "reflex___state____state.hydrate"


@pytest.fixture
def app_server(sqlite_url, tmp_path):
    port = _free_port()
    (tmp_path / "metrics").mkdir()
    env = {
        **os.environ,
        "BRM_PORT": str(port),
        "BRM_JOBS_IN_PROCESS": "0",
        "REFLEX_WEB_WORKDIR": str(tmp_path / "web"),
        "REFLEX_TELEMETRY_ENABLED": "false",
        "__REFLEX_SKIP_COMPILE": "true",  # evaluate the pages, build nothing
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    env.pop("BRM_LOG_FORMAT", None)
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(GRANIAN), "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port",
             str(port), "--workers", "2", "brm_app.brm_app:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    try:
        yield url, log, port
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_websockets_and_reflex_events_are_counted_and_logged(app_server):
    url, log, port = app_server

    async def tab() -> tuple[str, str]:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(
            f"{url}?token={uuid.uuid4()}",
            socketio_path="/_event",
            namespaces=["/_event"],
            transports=["websocket"],
            headers={"Origin": f"http://localhost:{port}"},
            wait_timeout=20,
        )
        router = {"pathname": "/login", "query": {}, "asPath": "/login"}
        event = {"name": HYDRATE, "payload": {}, "router_data": router}
        await client.emit("event", event, namespace="/_event")
        open_text = ""
        for _ in range(40):
            await asyncio.sleep(0.25)
            open_text = (await asyncio.to_thread(httpx.get, url + "/metrics")).text
            if _sample(open_text, "brm_reflex_events_total", handler=HYDRATE) >= 1:
                break
        await client.disconnect()
        await asyncio.sleep(1)
        return open_text, (await asyncio.to_thread(httpx.get, url + "/metrics")).text

    # In a thread of its own: a browser test earlier in this worker may have left an event loop
    # running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        while_open, after = pool.submit(asyncio.run, tab()).result()
    assert _sample(while_open, "brm_websockets_open") == 1
    assert _sample(while_open, "brm_reflex_events_total", handler=HYDRATE, outcome="ok") == 1
    assert _sample(while_open, "brm_reflex_event_seconds_count", handler=HYDRATE) == 1
    assert _sample(after, "brm_websockets_open") == 0
    events = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{") and '"brm.events"' in line
    ]
    assert any(e["handler"] == HYDRATE and e["outcome"] == "ok" for e in events), events
