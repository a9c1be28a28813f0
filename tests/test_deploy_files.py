"""The container and compose files (issue 14): `podman-compose config` accepts compose.yaml with
the settings the README names, and the Containerfile keeps its promises. Building and running the
image is `make test-image` (needs root and podman; not part of `make test`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    shutil.which("podman-compose") is None,
    reason="needs podman-compose (apt-get install podman-compose; `make test-image` installs it)",
)
def test_compose_file_is_valid(tmp_path):
    env = {
        **os.environ,
        "BRM_SECRET_KEY": "compose-check-secret-" + "k" * 30,
        "BRM_ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
        "BRM_ADMIN_PASSWORD": "compose check admin password",
        "POSTGRES_PASSWORD": "compose-check",
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    r = _compose_config(env)
    assert r.returncode == 0, r.stdout + r.stderr
    for service in ("postgres", "redis", "app1", "app2", "proxy"):
        assert service in r.stdout
    assert "postgresql://brm:compose-check@postgres:5432/brm" in r.stdout
    assert "BRM_TRUSTED_PROXY_HOPS" in r.stdout and "BRM_COOKIE_SECURE" in r.stdout
    # Without the shared key it refuses (never a key generated per server).
    del env["BRM_SECRET_KEY"]
    missing = _compose_config(env)
    assert "set BRM_SECRET_KEY" in missing.stdout + missing.stderr


def _compose_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    """`podman-compose config`; Debian 12's podman-compose (1.0.3) has no `config`, so there the
    same parsing and interpolation through `--dry-run up` with /bin/true as podman (it prints
    the podman commands it would run, creates nothing)."""
    compose = ["podman-compose", "-f", str(ROOT / "compose.yaml")]
    run = dict(capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    r = subprocess.run([*compose, "config"], **run)
    if "invalid choice: 'config'" not in r.stderr:
        return r
    true = shutil.which("true") or "/bin/true"
    return subprocess.run(
        ["podman-compose", "--podman-path", true, "-f", str(ROOT / "compose.yaml"), "--dry-run",
         "up", "-d"], **run,
    )  # fmt: skip


def test_containerfile_builds_offline_and_runs_unprivileged():
    text = (ROOT / "Containerfile").read_text()
    assert "FROM localhost/brm-base:bookworm" in text  # made from Debian packages, never pulled
    assert "\nUSER brm\n" in text and "VOLUME /data" in text
    assert "HEALTHCHECK" in text and "/api/health" in text
    assert "STOPSIGNAL SIGINT" in text
    assert '"serve", "--prebuilt"' in text
    script = (ROOT / "deploy" / "build-image.sh").read_text()
    assert "--pull=never --network=none" in script
