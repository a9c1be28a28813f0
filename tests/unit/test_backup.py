"""`brm backup` / `brm restore` (issue 14): a backup taken during a burst of writes restores into a
fresh place identical to its manifest, the audit chain verifies, the restored app signs in, a
live target is refused without --force, and the key is never in the file."""

from __future__ import annotations

import json
import shutil
import tarfile
import threading
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from brm_app import db as db_module
from brm_app import settings as settings_module
from brm_app.backup import BackupError, decrypt_backup
from brm_app.encryption.keyring import keys_file
from brm_app.models.user import Role
from tests.conftest import _pg_admin_url, _pg_url_for
from tests.factories import PASSWORD, make_firm, make_user
from tests.unit.test_cli import brm


@pytest.fixture
def fresh_target(database_url, tmp_path):
    """An empty database of the same backend and an empty data folder, removed afterwards."""
    data = tmp_path / "restored-data"
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}", data
        return
    name = f"brm_restore_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url_for(name), data
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_backup_under_writes_restores_identically(
    database_url, fresh_target, tmp_path, monkeypatch
):
    settings = settings_module.get_settings()
    broker = make_user(Role.BROKER, email="restore.me@test.example")
    for i in range(3):
        make_firm(broker, name=f"Before {i}")
    blob = settings.data_dir / "attachments" / "ab" / ("ab" + "0" * 62)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"%PDF-1.4 an attachment")

    stop = threading.Event()
    written = []

    def burst() -> None:
        while not stop.is_set() and len(written) < 150:
            written.append(make_firm(broker, name=f"Burst {uuid.uuid4().hex[:8]}").firm_id)

    writer = threading.Thread(target=burst)
    writer.start()
    try:
        while len(written) < 5:
            stop.wait(0.05)
        out = tmp_path / "backups"
        done = brm("backup", "--to", str(out), "--keep", "2")
        during = len(written)
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stderr
    assert during < len(written) or len(written) == 150  # the writes went on around the backup
    [archive] = sorted(out.glob("brm-backup-*.tar.enc"))
    raw = archive.read_bytes()
    assert settings.secret_key.encode() not in raw
    # Encrypted as a whole: no file name, manifest, firm name or attachment content shows.
    for marker in (b"an attachment", b"manifest.json", b"Before 0", b"firms", blob.name.encode()):
        assert marker not in raw, marker
    with tarfile.open(decrypt_backup(settings, archive, tmp_path / "plain.tar")) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["files"]["attachments/ab/" + blob.name]
    firms_then = manifest["counts"]["firms"]
    assert 3 + 1 <= firms_then <= 3 + len(written)

    # Into a fresh place: the same counts and chain head, the chain verifies, the app signs in.
    url, data = fresh_target
    env = {"BRM_DATABASE_URL": url, "BRM_DATA_DIR": str(data)}
    if url.startswith("sqlite"):
        # The keys are never in a backup: without them the restore refuses, saying what to do.
        refused = brm("restore", str(archive), env=env)
        assert refused.returncode == 1 and "encryption_keys" in refused.stderr, refused.stderr
        shutil.copy(keys_file(settings.data_dir), keys_file(data))
    restored = brm("restore", str(archive), env=env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "matches the manifest" in restored.stdout
    verify = brm("audit", "verify", env=env)
    assert verify.returncode == 0, verify.stderr
    assert manifest["audit"]["head_hash"] in verify.stdout
    assert (data / "attachments" / "ab" / blob.name).read_bytes() == blob.read_bytes()

    # A second restore onto the now-used target is refused, and allowed with --force.
    again = brm("restore", str(archive), env=env)
    assert again.returncode == 1 and "not empty" in again.stderr
    forced = brm("restore", str(archive), "--force", env=env)
    assert forced.returncode == 0, forced.stderr

    db_module.get_engine().dispose()
    monkeypatch.setenv("BRM_DATABASE_URL", url)
    monkeypatch.setenv("BRM_DATA_DIR", str(data))
    settings_module.get_settings.cache_clear()
    db_module.get_engine.cache_clear()
    from brm_app.api.app import create_api

    with TestClient(create_api()) as client:
        r = client.post("/api/v1/auth/token", data={"username": broker.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        firms = client.get(
            "/api/v1/firms",
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
            params={"limit": 1},
        )
        assert firms.status_code == 200, firms.text
    with db_module.get_engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM firms").scalar_one() == firms_then


def test_restore_refuses_a_damaged_file_and_another_backend(database_url, tmp_path):
    out = tmp_path / "b"
    assert brm("backup", "--to", str(out)).returncode == 0
    [archive] = out.glob("*.tar.enc")
    settings = settings_module.get_settings()
    with tarfile.open(decrypt_backup(settings, archive, tmp_path / "plain.tar")) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    # One changed byte of the encrypted file: it does not decrypt.
    flipped = bytearray(archive.read_bytes())
    flipped[len(flipped) // 2] ^= 1
    (tmp_path / "flipped.tar.enc").write_bytes(bytes(flipped))
    with pytest.raises(BackupError, match="does not decrypt"):
        decrypt_backup(settings, tmp_path / "flipped.tar.enc", tmp_path / "out.tar")
    # A tar in clear (a backup from before they were encrypted) is still read: its checksums.
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(damaged, "w") as tar:
        for member, content in members:
            if member.name.startswith("database."):
                content = content[:-1] + bytes([content[-1] ^ 1])
            import io

            tar.addfile(member, io.BytesIO(content))
    env = {
        "BRM_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "BRM_DATA_DIR": str(tmp_path / "x"),
    }
    r = brm("restore", str(damaged), env=env)
    assert r.returncode == 1
    if database_url.startswith("sqlite"):
        assert "checksum" in r.stderr
    else:
        assert "postgresql" in r.stderr
