"""How the app is started: the environment Reflex needs here, and the first-start preparation."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

from brm_app.settings import PROJECT_ROOT, Settings

TOOLS_BIN = PROJECT_ROOT / ".tools" / "node_modules" / ".bin"


def reflex_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for `reflex run`: the project's own bun, no telemetry, no update checks."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = (
        f"{TOOLS_BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    )
    env.setdefault("REFLEX_USE_SYSTEM_BUN", "1")
    env.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
    env.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")
    env.setdefault("REFLEX_DIR", str(PROJECT_ROOT / ".tools" / "reflex"))
    env.setdefault("BUN_INSTALL_CACHE_DIR", str(PROJECT_ROOT / ".tools" / "bun-cache"))
    if settings.redis_url:
        env["REFLEX_REDIS_URL"] = settings.redis_url
    return env


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104  (the app listens on all interfaces)
        except OSError:
            return False
    return True


def reflex_command(port: int, *, dev: bool = False) -> list[str]:
    reflex = shutil.which("reflex", path=str(Path(sys.executable).parent)) or "reflex"
    if dev:
        return [reflex, "run", "--env", "dev"]
    return [
        reflex,
        "run",
        "--env",
        "prod",
        "--frontend-port",
        str(port),
        "--backend-port",
        str(port),
    ]


def fresh_metrics_dir(path: Path) -> Path:
    """The workers' metric files (prometheus-client's multi-process mode), emptied at each start:
    figures of a previous run's processes must not be added to this run's."""
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink(missing_ok=True)
    return path


def prebuilt_command(settings: Settings, *, workers: int) -> list[str]:
    """granian serving the app with a frontend built beforehand (the container image): no bun,
    no build at start. TLS when BRM_TLS_CERT and BRM_TLS_KEY are set."""
    granian = shutil.which("granian", path=str(Path(sys.executable).parent)) or "granian"
    cmd = [
        granian,
        "--interface",
        "asgi",
        "--factory",
        "--host",
        os.environ.get("BRM_HOST", "0.0.0.0"),  # noqa: S104  (a server: every interface)
        "--port",
        str(settings.port),
        "--workers",
        str(workers),
    ]
    cmd += tls_arguments()
    return [*cmd, "brm_app.brm_app:app"]


def tls_arguments() -> list[str]:
    cert, key = os.environ.get("BRM_TLS_CERT"), os.environ.get("BRM_TLS_KEY")
    if not cert and not key:
        return []
    if not (cert and key):
        raise ValueError("set both BRM_TLS_CERT and BRM_TLS_KEY (PEM files), or neither")
    for name, path in (("BRM_TLS_CERT", cert), ("BRM_TLS_KEY", key)):
        if not Path(path).is_file():
            raise ValueError(f"{name}: no such file {path}")
    return ["--ssl-certificate", cert, "--ssl-keyfile", key]


def prebuilt_env(settings: Settings) -> dict[str, str]:
    env = reflex_env(settings)
    env["REFLEX_ENV_MODE"] = "prod"
    # The backend serves the built pages itself (what `reflex run` does on one port), and does
    # not compile them again (that needs bun and the npm registry).
    # (Reflex reads its internal switches with two leading underscores.)
    env["__REFLEX_MOUNT_FRONTEND_COMPILED_APP"] = "true"
    env["__REFLEX_SKIP_COMPILE"] = "true"
    return env
