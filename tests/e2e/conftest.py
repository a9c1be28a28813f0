"""End to end: the production build started with the README's command (`brm serve`), on its own
port and its own database, driven in Debian's Chromium by Playwright."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@e2e.example"
ADMIN_PASSWORD = "e2e admin password 1"
CHROMIUM = os.environ.get("BRM_CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    data_dir: Path
    log: Path
    env: dict[str, str]

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


def start_server(data_dir: Path, *args: str, **settings: str) -> tuple[subprocess.Popen, Server]:
    """`brm serve ARGS` on a free port with its own data folder and build folder, not waited for
    (several start at once: wait_until_up each)."""
    port = _free_port()
    log = data_dir / "server.log"
    env = {
        **os.environ,
        "BRM_DATA_DIR": str(data_dir),
        "BRM_DATABASE_URL": f"sqlite:///{data_dir / 'brm.db'}",
        "BRM_PORT": str(port),
        "BRM_ADMIN_EMAIL": ADMIN_EMAIL,
        "BRM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "BRM_DEMO": os.environ.get("BRM_E2E_DEMO", "1"),
        # Reminders are checked every second, so the live-reminder test does not wait long.
        "BRM_SCHEDULER_SECONDS": "1",
        # Build into a folder of its own, so a developer's running app is left alone.
        "REFLEX_WEB_WORKDIR": str(data_dir / "web"),
        # Market data from a CSV file the tests write (empty: no ticks, as if off), so a test
        # drives the prices itself (tests/e2e/test_portfolio_e2e.py).
        "BRM_MARKET_DATA_PROVIDER": "csv",
        "BRM_MARKET_DATA_URL": str(data_dir / "prices.csv"),
        "BRM_MARKET_DATA_TICK_MS": "250",
    }
    (data_dir / "prices.csv").write_text("symbol,price,prev_close\n")
    env.pop("BRM_REDIS_URL", None)
    env.update(settings)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "brm"), "serve", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, Server(
        url=f"http://127.0.0.1:{env['BRM_PORT']}", data_dir=data_dir, log=log, env=env
    )


def wait_until_up(proc: subprocess.Popen, server: Server, *, seconds: float = 300) -> None:
    """Until the server answers its health check and serves the sign-in page."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if (
                httpx.get(server.url + "/api/health", timeout=2).status_code == 200
                and httpx.get(server.url + "/login", timeout=5, follow_redirects=True).status_code
                == 200
            ):
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc, signal.SIGKILL)
            pytest.fail(f"server did not start:\n{server.log.read_text()[-4000:]}")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@contextmanager
def _serving(data_dir: Path, **settings: str) -> Iterator[Server]:
    """`brm serve` on a free port with its own data folder and build folder, until the block ends."""
    proc, server = start_server(data_dir, **settings)
    wait_until_up(proc, server)
    try:
        yield server
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    with _serving(tmp_path_factory.mktemp("e2e-data")) as running:
        yield running


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--headless",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def base(server) -> str:
    return server.url


def sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    # The button is enabled once the page's on_load has run (see pages/login.py).
    expect(page.locator("#sign-in")).to_be_enabled(timeout=20_000)
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#sign-in")
    try:
        page.wait_for_url(lambda url: "/login" not in url, timeout=30_000)
    except PlaywrightTimeoutError:
        error = page.locator("#login-error")
        shown = error.inner_text() if error.count() else "(no error shown)"
        raise AssertionError(f"{email} not signed in: still at {page.url}; {shown}") from None
    page.wait_for_selector("#user-menu", timeout=20_000)


def create_user_via_api(
    server: Server,
    email: str,
    role: str,
    name: str,
    password: str,
    manager_id: int | None = None,
) -> int:
    """The user's id (an existing user of that email is reused). The admin's password is only
    the first one: the user then chooses `password` (as they must before anything else)."""
    first = password + " (from the admin)"
    with server.api() as api:
        token = api.post(
            "/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        body = {"email": email, "role": role, "name": name, "password": first}
        if manager_id is not None:
            body["manager_id"] = manager_id
        r = api.post("/api/v1/users", headers=auth, json=body)
        assert r.status_code in (201, 409), r.text
        if r.status_code == 201:
            own = api.post(
                "/api/v1/auth/token", data={"username": email, "password": first}
            ).json()["access_token"]
            changed = api.post(
                "/api/v1/users/me/password",
                headers={"Authorization": f"Bearer {own}"},
                json={"current_password": first, "new_password": password},
            )
            assert changed.status_code == 204, changed.text
            return r.json()["user_id"]
        found = api.get("/api/v1/users", headers=auth, params={"q": email}).json()["items"]
        return next(u["user_id"] for u in found if u["email"] == email)


# -- several workers on PostgreSQL + Redis ----------------------------------------------------

E2E_REDIS_URL = os.environ.get("BRM_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _redis_db_of_our_own() -> str | None:
    """A Redis URL on an empty database of the test Redis, claimed with a key so a test running
    beside this one picks another (None without a reachable Redis). Redis pub/sub is not per
    database, but the app names its channel after the database."""
    try:
        import redis

        for db in random.sample(range(1, 16), 15):
            url = f"{E2E_REDIS_URL.rstrip('/')}/{db}"
            client = redis.Redis.from_url(url, socket_connect_timeout=1)
            if client.set("brm:e2e:claimed", "1", nx=True, ex=3600):
                if client.dbsize() == 1:
                    return url
                client.delete("brm:e2e:claimed")
    except Exception:
        return None
    return None


@pytest.fixture(scope="session")
def workers_server(tmp_path_factory) -> Iterator[Server]:
    """One `brm serve` with two workers (GRANIAN_WORKERS=2) on a PostgreSQL database and a Redis
    database of its own, both removed afterwards. Needs BRM_TEST_DATABASE_URL (`.ci/run` sets it)."""
    import sqlalchemy as sa

    from tests.conftest import PG_URL, _pg_admin_url, _pg_url_for

    if not PG_URL:
        pytest.skip("needs BRM_TEST_DATABASE_URL (PostgreSQL); .ci/run sets it")
    redis_url = _redis_db_of_our_own()
    if redis_url is None:
        pytest.skip(f"needs a Redis with a free database at {E2E_REDIS_URL}")
    name = f"brm_e2e_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        with _serving(
            tmp_path_factory.mktemp("e2e-workers"),
            BRM_DATABASE_URL=_pg_url_for(name),
            BRM_REDIS_URL=redis_url,
            BRM_SECRET_KEY="e2e-shared-secret-key-" + "x" * 32,
            BRM_ENCRYPTION_KEYS="e2e:" + "A" * 43 + "=",
            GRANIAN_WORKERS="2",
            BRM_DEMO="0",
        ) as running:
            yield running
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        import redis

        redis.Redis.from_url(redis_url).flushdb()
