"""Two app servers on one PostgreSQL database and Redis behind nginx (issue 14), over real HTTP:
a token made on one is valid on the other (the key is shared, never made per host), a write
through one is read through the other, and killing one mid-burst loses no answered write while
nginx keeps serving from the other. (API-only servers: the pages' live updates across workers
are tests/e2e/test_live_events_e2e.py's; each job and reminder taken once on PostgreSQL is
tests/unit/test_scheduler_runtime.py's.) Needs PostgreSQL, Redis and nginx (`make test`
installs nginx from Debian when missing)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from brm_app.models.user import Role
from tests.api.test_crash_safety_api import granian
from tests.api.test_observability_api import _free_port
from tests.conftest import PG_URL, _configure, fresh_database_url
from tests.e2e.conftest import _redis_db_of_our_own
from tests.factories import PASSWORD, make_user

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="needs BRM_TEST_DATABASE_URL (PostgreSQL)"),
    pytest.mark.skipif(not os.path.exists(NGINX), reason="needs nginx (apt-get install nginx)"),
]


@pytest.fixture
def shared_backend(db_templates, tmp_path, monkeypatch):
    redis_url = _redis_db_of_our_own()
    if redis_url is None:
        pytest.skip("needs a Redis with a free database")
    url, drop = fresh_database_url("postgresql", db_templates, tmp_path)
    _configure(monkeypatch, tmp_path, url, BRM_REDIS_URL=redis_url)
    yield url
    from brm_app import db as db_module

    db_module.get_engine().dispose()
    drop()
    import redis

    redis.Redis.from_url(redis_url).flushdb()


DEPLOY_NGINX = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"


def _deploy_location() -> str:
    """deploy/nginx.conf's `location /` block: the tests proxy with the compose shape's own
    headers (Host, websocket upgrade), timeouts and retries. Plain HTTP here, not TLS."""
    found = re.search(r"^ *location / \{.*?^ *\}", DEPLOY_NGINX.read_text(), re.S | re.M)
    assert found, f"no `location /` block in {DEPLOY_NGINX}"
    return found.group(0).replace("X-Forwarded-Proto https", "X-Forwarded-Proto $scheme")


def _nginx(tmp_path, upstreams: list[str], *, port: int | None = None, backups: int = 0):
    """nginx on a free port (or `port`) in front of the upstreams, proxying as deploy/nginx.conf
    does; the last `backups` upstreams take requests only when the others are down."""
    port = port or _free_port()
    servers = "\n".join(
        f"server {u.removeprefix('http://')} max_fails=1 fail_timeout=30s"
        + (" backup;" if i >= len(upstreams) - backups else ";")
        for i, u in enumerate(upstreams)
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
daemon off;
user root;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {tmp_path}/body;
  proxy_temp_path {tmp_path}/proxy;
  fastcgi_temp_path {tmp_path}/fastcgi;
  uwsgi_temp_path {tmp_path}/uwsgi;
  scgi_temp_path {tmp_path}/scgi;
  upstream brm {{ {servers} }}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
    listen 127.0.0.1:{port};
{_deploy_location()}
  }}
}}
""")
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp_path)], start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url + "/api/health/live", timeout=2)
            return url, proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail((tmp_path / "nginx-error.log").read_text())


def _token(url: str, email: str) -> str:
    r = httpx.post(url + "/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_two_servers_behind_nginx_behave_as_one(shared_backend, tmp_path):
    broker = make_user(Role.BROKER)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        granian(tmp_path / "a" / "server.log") as (a, proc_a),
        granian(tmp_path / "b" / "server.log") as (b, _),
    ):
        for url in (a, b):  # database, migrations and Redis answer on both
            ready = httpx.get(url + "/api/health/ready", timeout=10)
            assert ready.status_code == 200, ready.text
        auth = {"Authorization": f"Bearer {_token(a, broker.email)}"}
        assert httpx.get(b + "/api/v1/users/me", headers=auth).status_code == 200
        made = httpx.post(a + "/api/v1/firms", headers=auth, json={"name": "Made On A"})
        assert made.status_code == 201, made.text
        seen = httpx.get(b + f"/api/v1/firms/{made.json()['firm_id']}", headers=auth)
        assert seen.status_code == 200 and seen.json()["name"] == "Made On A"

        proxy, nginx = _nginx(tmp_path, [a, b])
        try:
            acked: list[int] = []
            after_kill: list[int] = []
            killed = threading.Event()
            lock = threading.Lock()

            def writer(n: int) -> None:
                with httpx.Client(base_url=proxy, headers=auth, timeout=10) as client:
                    for i in range(400):
                        try:
                            r = client.post("/api/v1/firms", json={"name": f"Via Proxy {n}-{i}"})
                        except httpx.HTTPError:
                            continue
                        if r.status_code == 201:
                            with lock:
                                acked.append(r.json()["firm_id"])
                                if killed.is_set():
                                    after_kill.append(r.json()["firm_id"])
                        if killed.is_set() and len(after_kill) >= 20:
                            return

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
            for t in threads:
                t.start()
            while len(acked) < 20:
                time.sleep(0.05)
            os.killpg(proc_a.pid, signal.SIGKILL)  # server A dies mid-burst
            killed.set()
            for t in threads:
                t.join(timeout=120)
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
        assert len(after_kill) >= 20, "nginx did not keep serving from the other server"
        with httpx.Client(base_url=b, headers=auth, timeout=10) as client:
            missing = [i for i in acked if client.get(f"/api/v1/firms/{i}").status_code != 200]
        assert missing == [], f"{len(missing)} of {len(acked)} answered writes lost"
