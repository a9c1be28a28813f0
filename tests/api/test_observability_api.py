"""Observability over real HTTP (issue 14): /metrics adds up every worker's figures and is
refused to others, each request has an id and one JSON log line without secrets, and the
health checks tell live from ready."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from brm_app.api.app import create_api
from brm_app.models.user import Role
from brm_app.observability import metrics
from tests.factories import PASSWORD, make_user

ROOT = Path(__file__).resolve().parents[2]
METRICS_TOKEN = "metrics-token-" + "m" * 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(sqlite_url, tmp_path):
    """uvicorn with two worker processes on the test's database, metrics in multi-process mode."""
    port = _free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "BRM_METRICS_TOKEN": METRICS_TOKEN,
        # Loopback is not in the list: only the token opens /metrics here.
        "BRM_METRICS_ALLOW": "10.9.9.9/32",
        "BRM_JOBS_IN_PROCESS": "0",
    }
    env.pop("BRM_LOG_FORMAT", None)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.api.observed_app:app", "--port", str(port),
             "--workers", "2", "--no-access-log", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/api/health/live", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield url, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if not m:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


def test_metrics_count_every_worker_and_the_logs_are_json_without_secrets(served):
    url, log = served
    broker = make_user(Role.BROKER)
    with httpx.Client(base_url=url, timeout=10) as client:
        r = client.post("/api/v1/auth/token", data={"username": broker.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        ids = set()
        for _ in range(12):  # new connections each: both workers answer some
            r = httpx.get(
                url + "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert r.status_code == 200
            ids.add(r.headers["x-request-id"])
        assert len(ids) == 12
        r = client.get("/api/v1/users/me", headers={"X-Request-ID": "trace-abc.1"})
        assert r.status_code == 401 and r.headers["x-request-id"] == "trace-abc.1"
        # A request id that could forge log fields is replaced.
        r = client.get("/api/health/live", headers={"X-Request-ID": 'x" "y'})
        assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])

        assert client.get("/metrics").status_code == 403
        bad = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 403
        r = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200, r.text
        text = r.text

    me = dict(route="/api/v1/users/me", method="GET")
    assert _sample(text, "brm_http_requests_total", status="200", **me) == 12
    assert _sample(text, "brm_http_requests_total", status="401", **me) == 1
    assert _sample(text, "brm_http_request_seconds_count", **me) == 13
    # User input never becomes a label: the token route is its template, the raw path unused.
    assert 'route="/api/v1/auth/token"' in text
    assert _sample(text, "brm_jobs", state="queued") >= 0
    assert "brm_jobs_due" in text
    assert "brm_db_pool_connections_in_use" in text
    pids = set(re.findall(r'brm_process_resident_memory_bytes\{pid="(\d+)"\}', text))
    assert pids, "memory per worker"

    raw = log.read_text()
    assert PASSWORD not in raw and token not in raw
    lines = [json.loads(line) for line in raw.splitlines() if line.startswith("{")]
    mine = [e for e in lines if e.get("route") == "/api/v1/users/me" and e.get("status") == 200]
    assert len(mine) == 12, raw[-2000:]
    for entry in mine:
        assert entry["user_id"] == broker.user_id
        assert entry["method"] == "GET" and entry["logger"] == "brm.access"
        assert entry["request_id"] in ids and entry["duration_ms"] >= 0


def test_metrics_from_an_allowed_address_without_a_token(sqlite_url, monkeypatch):
    from starlette.types import Scope

    from brm_app.observability import middleware

    monkeypatch.delenv("BRM_METRICS_TOKEN", raising=False)
    monkeypatch.setenv("BRM_METRICS_ALLOW", "127.0.0.1, 10.0.0.0/8")
    middleware._allowed_networks.cache_clear()
    try:
        scope: Scope = {"type": "http", "headers": [], "client": ("10.1.2.3", 5000)}
        assert middleware.metrics_allowed(scope)
        assert not middleware.metrics_allowed({**scope, "client": ("192.168.1.1", 5000)})
        # Behind a proxy on this host, the forwarded address decides, not the proxy's.
        monkeypatch.setenv("BRM_TRUSTED_PROXY_HOPS", "1")
        from brm_app import settings as settings_module

        settings_module.get_settings.cache_clear()
        proxied = {
            "type": "http",
            "headers": [(b"x-forwarded-for", b"203.0.113.9")],
            "client": ("127.0.0.1", 5000),
        }
        assert not middleware.metrics_allowed(proxied)
    finally:
        middleware._allowed_networks.cache_clear()


def test_live_and_ready(sqlite_url, monkeypatch):
    with TestClient(create_api(), raise_server_exceptions=False) as client:
        assert client.get("/api/health/live").json() == {"status": "live"}
        # The app runs the job runner in process (the default) and it has not turned yet.
        monkeypatch.setattr(metrics, "_heartbeat", [None])
        r = client.get("/api/health/ready")
        assert r.status_code == 503
        assert r.json()["scheduler"]["ok"] is False and r.json()["database"]["ok"] is True
        metrics.note_scheduler_pass(0.01)
        r = client.get("/api/health/ready")
        assert r.status_code == 200, r.json()
        assert r.json()["migrations"]["ok"] and r.json()["redis"] == {
            "configured": False,
            "ok": True,
        }


def test_not_ready_without_its_redis(sqlite_url, monkeypatch):
    from brm_app import settings as settings_module

    monkeypatch.setenv("BRM_REDIS_URL", f"redis://127.0.0.1:{_free_port()}/0")
    monkeypatch.setenv("BRM_JOBS_IN_PROCESS", "0")
    settings_module.get_settings.cache_clear()
    with TestClient(create_api(), raise_server_exceptions=False) as client:
        r = client.get("/api/health/ready")
    assert r.status_code == 503
    assert r.json()["redis"]["ok"] is False and r.json()["scheduler"]["ok"] is True


def test_https_public_url_brings_hsts_and_secure_cookies(sqlite_url, monkeypatch):
    from brm_app import settings as settings_module
    from brm_app.observability import middleware
    from tests.api.observed_app import app

    monkeypatch.setenv("BRM_PUBLIC_URL", "https://brm.example.com")
    settings_module.get_settings.cache_clear()
    middleware._extra_headers.cache_clear()
    try:
        assert settings_module.get_settings().cookie_secure
        r = TestClient(app).get("/api/health/live")  # no lifespan: the pages stub has none
        assert r.headers["strict-transport-security"].startswith("max-age=31536000")
    finally:
        middleware._extra_headers.cache_clear()
    monkeypatch.delenv("BRM_PUBLIC_URL")
    settings_module.get_settings.cache_clear()
    assert "strict-transport-security" not in TestClient(app).get("/api/health/live").headers
