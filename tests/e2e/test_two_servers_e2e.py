"""Two full app servers (pages and the Reflex websocket backend, `brm serve --prebuilt` each on
its own port) on one PostgreSQL database and one Redis, nginx in front as deploy/nginx.conf
proxies (HTTP and websockets), driven in Chromium (issue 14). The frontend is built once and
served by both (the session's e2e server's build). It shows:

1. a browser session made on one server is valid on the other (signed in through A, a page of B
   opens signed in), and each page's websocket is on the server that served it;
2. a change made through one server appears live, without a reload, on a page served by the other;
3. through nginx: sign in and use the pages; when server A is stopped (SIGTERM) mid-use, the
   page reconnects through nginx to B and keeps working, and no answered write is lost.

Needs PostgreSQL, Redis and nginx (skipped without them; `.ci/run` has all three)."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.test_two_servers_api import NGINX, _nginx
from tests.conftest import PG_URL
from tests.e2e.conftest import (
    Server,
    _free_port,
    _redis_db_of_our_own,
    sign_in,
    start_server,
    stop_server,
    wait_until_up,
)
from tests.e2e.test_live_events_e2e import PASSWORD, WITHIN_MS, _assign, _auth, _firm_of, _people

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not PG_URL, reason="needs BRM_TEST_DATABASE_URL (PostgreSQL)"),
    pytest.mark.skipif(not os.path.exists(NGINX), reason="needs nginx (apt-get install nginx)"),
]

# How long a page may take to notice its server is gone and reconnect through nginx
# (socket.io retries after 1-5 s).
RECONNECT_MS = 20_000


@dataclass
class Shape:
    a: Server
    b: Server
    proxy: Server  # nginx
    stop_a: Callable[[], None]  # SIGTERM to server A, waiting for it to exit


@pytest.fixture
def two_servers(server: Server, tmp_path_factory) -> Iterator[Shape]:
    """Servers A and B on one new PostgreSQL database and one Redis database, started together
    (one migrates and makes the first admin, the other waits), with nginx in front: A takes the
    proxied traffic and B is its backup, so a page through nginx is on A until A stops.

    Both serve the frontend the session's e2e server built (`brm serve`, once per test process):
    the built pages follow the address that serves them, so no second build (minutes of CI)."""
    import redis
    import sqlalchemy as sa

    from tests.conftest import _pg_admin_url, _pg_url_for

    redis_url = _redis_db_of_our_own()
    if redis_url is None:
        pytest.skip("needs a Redis with a free database")
    root = tmp_path_factory.mktemp("two-servers")
    proxy_port = _free_port()
    web = server.data_dir / "web"
    assert (web / "build" / "client").is_dir(), "the e2e server's build is not where expected"

    name = f"brm_e2e_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    ports = {"a": _free_port(), "b": _free_port()}
    origins = [f"http://127.0.0.1:{p}" for p in (*ports.values(), proxy_port)]
    shared = {
        "BRM_DATABASE_URL": _pg_url_for(name),
        "BRM_REDIS_URL": redis_url,
        "BRM_SECRET_KEY": "e2e-two-servers-key-" + "x" * 32,  # from the environment, never per host
        "BRM_ENCRYPTION_KEYS": "e2e:" + "A" * 43 + "=",  # the same ring on both, never per host
        "BRM_PUBLIC_URL": origins[-1],
        "BRM_ALLOWED_ORIGINS": ",".join(origins),  # the test also opens A and B directly
        "REFLEX_WEB_WORKDIR": str(web),
        "BRM_DEMO": "0",
    }
    running = []
    nginx = None
    try:
        for key, port in ports.items():
            (root / key).mkdir()
            running.append(start_server(root / key, "--prebuilt", BRM_PORT=str(port), **shared))
        for proc, server in running:
            wait_until_up(proc, server)
        (proc_a, a), (_, b) = running
        proxy_url, nginx = _nginx(root, [a.url, b.url], port=proxy_port, backups=1)
        proxy = Server(url=proxy_url, data_dir=root, log=root / "nginx-error.log", env={})
        yield Shape(a=a, b=b, proxy=proxy, stop_a=lambda: stop_server(proc_a))
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGTERM)  # (SIGQUIT would wait for open websockets)
            nginx.wait(timeout=10)
        for proc, _ in running:
            stop_server(proc)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        redis.Redis.from_url(redis_url).flushdb()


def _port(url: str) -> int | None:
    return urlsplit(url).port


def _watch_sockets(page: Page) -> list[str]:
    """The addresses of the websockets the page opens, in order."""
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(ws.url))
    return opened


def _socket_on(
    page: Page, opened: list[str], server: Server, *, after: int = 0, timeout: float = 10
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(_port(u) == _port(server.url) for u in opened[after:]):
            return
        page.wait_for_timeout(50)  # (Playwright's sync API delivers events only in its calls)
    raise AssertionError(f"no websocket to {server.url}: {opened}")


def test_two_servers_behind_nginx_serve_one_browser_user(browser: Browser, two_servers: Shape):
    a, b, proxy = two_servers.a, two_servers.b, two_servers.proxy
    people, broker_id = _people(a, "both")
    firm_id = _firm_of(a, people["broker"])

    # 1. Signed in through A; B's pages open signed in (one session, shared through PostgreSQL
    # and the key from the environment), each page's websocket on its own server.
    context = browser.new_context()
    on_a = context.new_page()
    sockets_a = _watch_sockets(on_a)
    sign_in(on_a, a.url, people["broker"], PASSWORD)
    on_b = context.new_page()
    sockets_b = _watch_sockets(on_b)
    on_b.goto(b.url + "/")
    on_b.wait_for_selector("#user-menu", timeout=20_000)
    assert "/login" not in on_b.url
    _socket_on(on_a, sockets_a, a)
    _socket_on(on_b, sockets_b, b)
    assert all(_port(u) == _port(b.url) for u in sockets_b), sockets_b
    for page in (on_a, on_b):
        expect(page.locator("#bell-count")).to_have_count(0)

    # 2. A change made through A reaches B's open page live (Redis carries it), and back.
    _assign(a, people["manager"], broker_id, firm_id, "Made through server A")
    for page in (on_b, on_a):
        expect(page.locator("#bell-count")).to_have_text("1", timeout=WITHIN_MS)
    with b.api() as api:
        r = api.post("/api/v1/notifications/read-all", headers=_auth(b, people["broker"]))
        assert r.status_code == 200, r.text
    for page in (on_a, on_b):
        expect(page.locator("#bell-count")).to_have_count(0, timeout=WITHIN_MS)
    context.close()

    # 3. Through nginx: signed in, the websocket through the proxy (on A: B is the backup).
    via = browser.new_context().new_page()
    sockets_via = _watch_sockets(via)
    sign_in(via, proxy.url, people["broker"], PASSWORD)
    _socket_on(via, sockets_via, proxy)
    assert all(_port(u) == _port(proxy.url) for u in sockets_via if u.startswith("ws")), sockets_via
    _assign(proxy, people["manager"], broker_id, firm_id, "Made through nginx")
    expect(via.locator("#bell-count")).to_have_text("1", timeout=WITHIN_MS)

    # A burst of writes through nginx while A is stopped: every answered one must be there.
    auth = _auth(proxy, people["broker"])
    answered: list[tuple[int, str]] = []  # (firm id, name) of each write answered 201
    stopped = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=proxy.url, headers=auth, timeout=10) as client:
            for i in range(300):
                name = f"Burst {i}"
                try:
                    r = client.post("/api/v1/firms", json={"name": name})
                except httpx.HTTPError:
                    continue
                if r.status_code == 201:
                    answered.append((r.json()["firm_id"], name))
                if stopped.wait(0) and len(answered) - at_stop[0] >= 10:
                    return

    at_stop = [0]
    writer = threading.Thread(target=write)
    writer.start()
    while len(answered) < 5 and writer.is_alive():
        time.sleep(0.02)
    before = len(sockets_via)
    two_servers.stop_a()  # SIGTERM: granian drains and exits
    at_stop[0] = len(answered)
    stopped.set()
    writer.join(timeout=60)
    assert answered, "no write was answered through nginx"

    # The page reconnects through nginx (now to B) without a reload and keeps working: a
    # follow-up assigned now reaches its bell, and it opens the firm last written.
    _socket_on(via, sockets_via, proxy, after=before, timeout=RECONNECT_MS / 1000)
    _assign(proxy, people["manager"], broker_id, firm_id, "Made after A stopped")
    expect(via.locator("#bell-count")).to_have_text("2", timeout=RECONNECT_MS)
    via.click("#bell")
    expect(via.get_by_text("Assigned to you: Made after A stopped")).to_be_visible()

    with httpx.Client(base_url=b.url, headers=auth, timeout=10) as client:
        missing = [i for i, _ in answered if client.get(f"/api/v1/firms/{i}").status_code != 200]
    assert missing == [], f"{len(missing)} of {len(answered)} answered writes lost"
    assert len(answered) - at_stop[0] >= 10, "nginx did not go on serving from B"
    last_id, last_name = answered[-1]
    via.goto(proxy.url + f"/firms/{last_id}")
    expect(via.get_by_text(last_name).first).to_be_visible(timeout=20_000)
