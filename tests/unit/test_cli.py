"""The `brm` command: clear errors and non-zero exits on bad input; first start; demo data."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def brm(
    *args: str, stdin: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "brm_app.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_users_create_and_its_errors(database_url):
    ok = brm(
        "users",
        "create",
        "--email",
        "Cli.User@Test.example",
        "--role",
        "broker",
        "--name",
        "Cli User",
    )
    assert ok.returncode == 0, ok.stderr
    assert "created broker cli.user@test.example" in ok.stdout
    assert "initial password (shown once): " in ok.stdout
    with_pw = brm(
        "users",
        "create",
        "--email",
        "pw@test.example",
        "--role",
        "manager",
        "--name",
        "P",
        "--password-stdin",
        stdin="a chosen password\n",
    )
    assert with_pw.returncode == 0 and "initial password" not in with_pw.stdout
    cases = [
        (
            ["--email", "cli.user@test.example", "--role", "broker", "--name", "Dup"],
            "already exists",
        ),
        (["--email", "not-an-email", "--role", "broker", "--name", "X"], "email"),
        (["--email", "x@test.example", "--role", "pope", "--name", "X"], "role"),
        (["--email", "x@test.example", "--role", "broker", "--name", ""], "name"),
    ]
    for args, message in cases:
        bad = brm("users", "create", *args)
        assert bad.returncode == 2, bad.stdout
        assert message in bad.stderr and "Traceback" not in bad.stderr
    short = brm(
        "users",
        "create",
        "--email",
        "s@test.example",
        "--role",
        "broker",
        "--name",
        "S",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 2 and "at least 12" in short.stderr


def test_missing_options_fail_with_usage():
    r = brm("users", "create", "--email", "x@test.example")
    assert r.returncode == 2 and "Missing option" in r.stderr


def test_setup_creates_first_admin_and_demo_once(tmp_path):
    env = {
        "BRM_DATA_DIR": str(tmp_path),
        "BRM_DATABASE_URL": f"sqlite:///{tmp_path / 'first.db'}",
        "BRM_ADMIN_EMAIL": "boss@test.example",
    }
    env.pop("BRM_ADMIN_PASSWORD", None)
    first = brm("setup", env=env)
    assert first.returncode == 0, first.stderr
    assert "First start: admin account boss@test.example" in first.stdout
    assert "Admin password (shown once" in first.stdout
    assert "demo accounts created" in first.stdout
    assert (tmp_path / "demo-credentials.txt").stat().st_mode & 0o077 == 0
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    second = brm("setup", env=env)
    assert second.returncode == 0 and "First start" not in second.stdout
    again = brm("demo", "load", env=env)
    assert again.returncode == 0 and "already present" in again.stdout
    verify = brm("audit", "verify", env=env)
    assert verify.returncode == 0 and "intact" in verify.stdout


def test_setup_without_demo_and_with_bad_admin_password(tmp_path):
    env = {
        "BRM_DATA_DIR": str(tmp_path),
        "BRM_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "BRM_DEMO": "0",
        "BRM_ADMIN_PASSWORD": "short",
    }
    bad = brm("setup", env=env)
    assert bad.returncode == 2 and "at least 12" in bad.stderr
    env["BRM_ADMIN_PASSWORD"] = "a long enough admin password"
    good = brm("setup", env=env)
    assert good.returncode == 0 and "demo accounts" not in good.stdout
    assert "the one in BRM_ADMIN_PASSWORD" in good.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BRM_PORT": "eighty"}, "BRM_PORT must be a whole number"),
        ({"BRM_DEMO": "maybe"}, "BRM_DEMO must be 0 or 1"),
        ({"BRM_SECRET_KEY": "short"}, "at least 32 characters"),
        (
            {
                "BRM_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                "BRM_SECRET_KEY": "a-shared-secret-key-" + "k" * 20,
                "BRM_ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
            },
            "cannot reach the database",
        ),
        (
            {
                "BRM_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                "BRM_SECRET_KEY": "a-shared-secret-key-" + "k" * 20,
            },
            "BRM_ENCRYPTION_KEYS must be set",
        ),
        ({"BRM_ENCRYPTION_KEYS": "k1:short"}, "BRM_ENCRYPTION_KEYS: key 'k1'"),
        (
            {"BRM_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
            "BRM_SECRET_KEY must be set",
        ),
    ],
)
def test_bad_settings_are_reported_clearly(tmp_path, env, message):
    r = brm("db", "upgrade", env={"BRM_DATA_DIR": str(tmp_path), **env})
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_commands_refuse_an_unmigrated_database(tmp_path):
    env = {"BRM_DATA_DIR": str(tmp_path), "BRM_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    r = brm("audit", "verify", env=env)
    assert r.returncode == 2 and "brm db upgrade" in r.stderr
