"""The servers under test: the real production app (`brm serve`) and the bare baseline."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


# One encryption key ring for the seeding process and every server a run starts (the book is
# seeded encrypted; a server making its own ring in its data folder could not read it). Set by
# the entry points only (use_bench_keys), never on import: tests import these modules.
BENCH_KEYS = "bench:" + "QkVOQ0gtS0VZ" * 3 + "QkVOQ0g="


# What bench/dataset.py's seeding process runs with (`_point_app_at`), for every server.
SEEDING_SECRET_KEY = "bench-seeding-secret-" + "x" * 32


def use_bench_keys() -> None:
    os.environ.setdefault("BRM_ENCRYPTION_KEYS", BENCH_KEYS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen
    log: Path
    env: dict[str, str]

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def processes(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole process tree so far."""
        total = 0.0
        for p in self.processes():
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total

    def rss_mb(self) -> tuple[float, float]:
        """(whole process tree, largest single process) resident memory in MB."""
        sizes = []
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                sizes.append(p.memory_info().rss / 1e6)
        return sum(sizes), max(sizes, default=0.0)

    def check_alive(self, during: str) -> None:
        """Fail loudly (with the log's tail) when the server exited under us."""
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"the {self.name} server exited (status {self.proc.returncode}) during {during}; "
                f"something stopped it (log {self.log}):\n{tail}"
            )

    def wait_ready(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{self.name} did not start (log {self.log}):\n{tail}")
            time.sleep(0.5)


def _spawn(name: str, cmd: list[str], env: dict[str, str], log: Path, port: int) -> Server:
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, f"http://127.0.0.1:{port}", proc, log, env)


def start_app(
    *,
    data_dir: Path,
    db_file: Path,
    web_dir: Path,
    admin_email: str,
    admin_password: str,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """`brm serve` (production build, one granian worker, no Redis, no scheduler) on its own port
    and data; `extra_env` overrides (ui_price_push_ms runs one with a market data feed;
    bench/users.py two workers on PostgreSQL + Redis)."""
    port = free_port()
    env = {
        **os.environ,
        "BRM_DATA_DIR": str(data_dir),
        "BRM_DATABASE_URL": database_url or f"sqlite:///{db_file}",
        "BRM_PORT": str(port),
        "BRM_ADMIN_EMAIL": admin_email,
        "BRM_ADMIN_PASSWORD": admin_password,
        "BRM_DEMO": "0",
        "BRM_TOKEN_MINUTES": "240",
        # The scheduler off: the seeded activity is as of a fixed date (services.seed's anchor),
        # so in real time every pending reminder is due and it would fire them all during the
        # measurements. Its scan is measured in-process at the anchor (reminder_scan).
        "BRM_SCHEDULER_SECONDS": "0",
        "BRM_JOBS_IN_PROCESS": "0",
        # No market data feed: the portfolio scenarios drive prices themselves.
        "BRM_MARKET_DATA_PROVIDER": "off",
        "REFLEX_WEB_WORKDIR": str(web_dir),
    }
    for key in ("BRM_REDIS_URL", "GRANIAN_WORKERS"):
        env.pop(key, None)
    # The seeding process's secret key: blind indexes (users' and traders' emails, mobiles) are
    # keyed by it, so a server with another one finds nobody by email (not even the admin).
    env["BRM_SECRET_KEY"] = SEEDING_SECRET_KEY
    env.update(extra_env or {})
    return _spawn("app", [str(BIN / "brm"), "serve"], env, data_dir / "app-server.log", port)


def start_bare(*, log_dir: Path) -> Server:
    """bench.bare_app under granian, ASGI, one worker: the same server software as the app."""
    port = free_port()
    cmd = [
        str(BIN / "granian"),
        "--interface",
        "asgi",
        "--workers",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "bench.bare_app:app",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRANIAN_")}
    return _spawn("bare", cmd, env, log_dir / "bare-server.log", port)


def start_ref(*, log_dir: Path, database_url: str, secret_key: str) -> Server:
    """bench.ref_app (the reference FastAPI + SQLAlchemy service) under granian, one worker, on
    the app's own database and key."""
    port = free_port()
    cmd = [
        str(BIN / "granian"),
        "--interface",
        "asgi",
        "--workers",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "bench.ref_app:app",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRANIAN_")}
    env |= {"REF_DATABASE_URL": database_url, "REF_SECRET_KEY": secret_key}
    return _spawn("ref", cmd, env, log_dir / "ref-server.log", port)
