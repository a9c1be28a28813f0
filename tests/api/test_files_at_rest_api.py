"""Encryption at rest of files (issue 13, part 2): an attachment, a kept CSV upload, a regulator
export and a backup leave nothing readable in the data folder, yet every download (HTTP, the
communication log package, the export, the backup) gives back the exact original bytes; a file
put in another's place does not open; a key rotation leaves every file readable with the old key
gone; files from before (in clear, or an export under the old secret-key scheme) are encrypted by
the start-up step, once."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.formparsers import MultiPartParser

from brm_app.backup import create_backup, decrypt_backup
from brm_app.db import unit_of_work, utcnow
from brm_app.encryption import files, get_keyring
from brm_app.encryption.check import check_keys
from brm_app.encryption.keyring import append_key_file, format_key, read_keys_file
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.migrations import encrypt_files, upgrade_head
from brm_app.models.communication import ATTACHMENT_MAX_BYTES
from brm_app.models.review import RegulatorExport
from brm_app.services import attachments, key_rotation, regulator_export
from brm_app.services.bulk import staging
from brm_app.services.errors import NotFound, ValidationFailed
from brm_app.settings import get_settings
from tests.api.test_communications_api import API, Desk
from tests.state.conftest import session_token_for
from tests.unit.test_cli import brm

PDF_MARKER = b"MARKER-PDF-7f3a91"
PDF = b"%PDF-1.4\n% " + PDF_MARKER + b"\n1 0 obj<<>>endobj\n%%EOF\n"
OTHER_PDF = b"%PDF-1.4\n% another file\n%%EOF\n"
CSV_MARKER = b"Zyxwv Unique Holdings"
CSV = b"name,country\n" + CSV_MARKER + b",GB\nQqqq Marker Capital,FR\n"
FIRM = b"Message Markets"  # in the database (names stay clear there); in no file


def _walk(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file()]


def _send_attachment(client, desk: Desk, data: bytes, name: str) -> dict:
    conv = client.post(
        f"{API}/conversations",
        json={"trader_ids": [desk.tess.trader_id], "subject": "Files", "content": "Hi"},
        headers=desk.h["broker"],
    ).json()["conversation_id"]
    up = client.post(
        f"{API}/attachments",
        data={"conversation_id": str(conv)},
        files={"file": (name, data, "application/pdf")},
        headers=desk.h["broker"],
    )
    assert up.status_code == 201, up.text
    att = up.json()
    sent = client.post(
        f"{API}/conversations/{conv}/messages",
        json={"content": "Attached", "attachment_ids": [att["attachment_id"]]},
        headers=desk.h["broker"],
    )
    assert sent.status_code == 201, sent.text
    return att


def _regulator_export(desk: Desk) -> int:
    today = utcnow().date()
    with unit_of_work(write=True) as db:
        out = regulator_export.request_export(
            db,
            actor=desk.compliance,
            scope="firm",
            scope_id=desk.firm.firm_id,
            date_from=str(today - timedelta(days=3)),
            date_to=str(today),
        )
    Runner(handlers(), periodic_seconds=0).run_round()
    with unit_of_work() as db:
        row = db.get(RegulatorExport, out.export_id)
        assert row.status == "done", row.error
    return out.export_id


def _download_export(desk: Desk, export_id: int) -> zipfile.ZipFile:
    with unit_of_work(write=True) as db:
        _, data = regulator_export.download(db, actor=desk.compliance, export_id=export_id)
    return zipfile.ZipFile(io.BytesIO(data))


@pytest.fixture
def desk(client) -> Desk:
    return Desk()


def test_nothing_readable_on_disk_and_every_download_is_the_original(client, desk, tmp_path):
    settings = get_settings()
    att = _send_attachment(client, desk, PDF, "terms.pdf")
    # The same file again is stored once (by the SHA-256 of its content).
    again = _send_attachment(client, desk, PDF, "terms-again.pdf")
    assert again["sha256"] == att["sha256"] == hashlib.sha256(PDF).hexdigest()
    stored = list((settings.data_dir / "attachments").rglob(att["sha256"]))
    assert len(stored) == 1 and files.is_sealed_file(stored[0])

    # An import's upload through the browser route, kept for its owner.
    cookie = {"Cookie": f"brm_session={session_token_for(desk.broker.email)}"}
    up = client.post(
        "/api/session/imports", content=CSV, headers={**cookie, "X-Filename": "firms.csv"}
    )
    assert up.status_code == 201, up.text
    upload_id = up.json()["upload_id"]

    export_id = _regulator_export(desk)
    r = client.get(f"{API}/communication-log/export.zip", headers=desk.h["compliance"])
    assert r.status_code == 200, r.text
    package = zipfile.ZipFile(io.BytesIO(r.content))
    assert PDF in [package.read(n) for n in package.namelist() if n.startswith("attachments/")]
    backup = create_backup(settings, settings.data_dir / "backups")

    # Walk the data folder: no marker, no firm name, no zip or tar in clear anywhere.
    walked = _walk(settings.data_dir)
    assert {p.parent.name for p in walked} >= {"imports", "exports", "backups"}
    for path in walked:
        raw = path.read_bytes()
        for marker in (PDF_MARKER, CSV_MARKER, b"Qqqq Marker", FIRM, b"firms.csv"):
            assert marker not in raw, (path, marker)
        if path.parent.name in ("attachments", "imports", "exports", "backups") or (
            path.parent.parent.name == "attachments"
        ):
            assert files.is_sealed_file(path), path
            assert b"PK\x03\x04" not in raw and b"ustar" not in raw, path

    # Multipart uploads are parsed in memory: no temporary copy in clear on the way in.
    assert MultiPartParser.spool_max_size > ATTACHMENT_MAX_BYTES

    # Every way back out gives the exact bytes.
    for url, headers in (
        (f"{API}/attachments/{att['attachment_id']}", desk.h["tess"]),
        (f"/api/session/attachments/{att['attachment_id']}", cookie),
    ):
        dl = client.get(url, headers=headers)
        assert dl.status_code == 200 and dl.content == PDF, (url, dl.status_code)
    with unit_of_work() as db:
        data, name = staging.load_upload(db, actor=desk.broker, upload_id=upload_id)
    assert (data, name) == (CSV, "firms.csv")
    zf = _download_export(desk, export_id)
    assert PDF in [zf.read(n) for n in zf.namelist() if n.startswith("attachments/")]
    with tarfile.open(decrypt_backup(settings, backup, tmp_path / "b.tar")) as tar:
        inside = tar.extractfile(f"attachments/{att['sha256'][:2]}/{att['sha256']}").read()
    assert inside == stored[0].read_bytes()  # the attachment as it is stored: encrypted


def test_a_file_put_in_anothers_place_does_not_open(client, desk):
    settings = get_settings()
    a = _send_attachment(client, desk, PDF, "a.pdf")
    b = _send_attachment(client, desk, OTHER_PDF, "b.pdf")
    root = settings.data_dir / "attachments"
    path_a, path_b = root / a["sha256"][:2] / a["sha256"], root / b["sha256"][:2] / b["sha256"]
    originals = {p: p.read_bytes() for p in (path_a, path_b)}
    path_a.write_bytes(path_b.read_bytes())
    with pytest.raises(files.UndecryptableFile):
        attachments.read_stored(a["sha256"])
    dl = client.get(f"{API}/attachments/{a['attachment_id']}", headers=desk.h["tess"])
    assert dl.status_code >= 500 and PDF not in dl.content and OTHER_PDF not in dl.content
    assert attachments.read_stored(b["sha256"]) == OTHER_PDF
    # One changed byte in the content of b: it does not open either.
    raw = bytearray(path_b.read_bytes())
    raw[-20] ^= 1
    path_b.write_bytes(bytes(raw))
    with pytest.raises(files.UndecryptableFile):
        attachments.read_stored(b["sha256"])

    # Kept uploads: one's file copied over another's is no upload at all.
    first = staging.save_upload(None, actor=desk.broker, data=CSV, filename="one.csv")
    second = staging.save_upload(None, actor=desk.broker, data=b"name\nB\n", filename="two.csv")
    imports = settings.data_dir / "imports"
    (imports / f"{second}.csv").write_bytes((imports / f"{first}.csv").read_bytes())
    with pytest.raises(NotFound):
        staging.load_upload(None, actor=desk.broker, upload_id=second)
    assert staging.load_upload(None, actor=desk.broker, upload_id=first)[0] == CSV

    # Regulator exports: bound to their export.
    for path, raw in originals.items():
        path.write_bytes(raw)
    first_export, second_export = _regulator_export(desk), _regulator_export(desk)
    exports = settings.data_dir / "exports"
    (exports / f"regulator-{second_export}.zip.enc").write_bytes(
        (exports / f"regulator-{first_export}.zip.enc").read_bytes()
    )
    with pytest.raises(ValidationFailed, match="cannot be decrypted"):
        _download_export(desk, second_export)


@pytest.fixture
def sqlite_client(sqlite_url):
    from fastapi.testclient import TestClient

    from brm_app.api.app import create_api

    with TestClient(create_api(), raise_server_exceptions=False) as c:
        yield c


def test_rotation_rewraps_every_file_and_the_old_key_can_go(sqlite_client, tmp_path):
    client = sqlite_client
    desk = Desk()
    settings = get_settings()
    att = _send_attachment(client, desk, PDF, "terms.pdf")
    upload_id = staging.save_upload(None, actor=desk.broker, data=CSV, filename="f.csv")
    export_id = _regulator_export(desk)
    backup = create_backup(settings, settings.data_dir / "backups")
    ring = get_keyring()
    old = ring.current
    with unit_of_work(write=True) as db:
        check_keys(db.connection())  # the first start: the first key's check value
    stored = _walk(settings.data_dir / "attachments")
    before = {p: p.read_bytes() for p in stored}

    new = append_key_file(ring.source_file)
    report = key_rotation.rotate()
    assert report.kid == new and old in report.retired
    assert report.rewritten["files"] == 5  # attachment, upload and its description, export, backup
    for path, _area in files.stored_files():
        assert files.key_id_of_file(path) == new, path
    # Only the header changed: the content's chunks are the same bytes.
    for path, raw in before.items():
        assert path.read_bytes()[-len(PDF) - 16 :] == raw[-len(PDF) - 16 :]
    # Again: nothing left to do (resumable, idempotent).
    assert files.rewrap_files() == 0

    # The old key removed from the ring: every file still opens.
    keys = [k for k in read_keys_file(ring.source_file) if k[0] != old]
    ring.source_file.write_text("".join(format_key(*k) + "\n" for k in keys))
    get_settings.cache_clear()
    settings = get_settings()
    assert get_keyring().key_ids == (new,)
    dl = client.get(f"{API}/attachments/{att['attachment_id']}", headers=desk.h["tess"])
    assert dl.status_code == 200 and dl.content == PDF
    assert staging.load_upload(None, actor=desk.broker, upload_id=upload_id)[0] == CSV
    assert _download_export(desk, export_id).testzip() is None
    with tarfile.open(decrypt_backup(settings, backup, tmp_path / "b.tar")) as tar:
        assert "manifest.json" in tar.getnames()


def test_files_from_before_are_encrypted_on_start_once(sqlite_url):
    settings = get_settings()
    sha = hashlib.sha256(PDF).hexdigest()
    clear_att = settings.data_dir / "attachments" / sha[:2] / sha
    clear_att.parent.mkdir(parents=True)
    clear_att.write_bytes(PDF)
    assert attachments.read_stored(sha) == PDF  # read in clear until the step has run
    imports = settings.data_dir / "imports"
    imports.mkdir(parents=True)
    (imports / ("x" * 30 + ".csv")).write_bytes(CSV)
    exports = settings.data_dir / "exports"
    exports.mkdir()
    legacy_zip = b"PK\x03\x04 an old archive"
    nonce = b"\x01" * 12
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    sealed_v1 = (
        b"v1"
        + nonce
        + AESGCM(regulator_export._legacy_key()).encrypt(nonce, legacy_zip, b"regulator_exports:7")
    )
    (exports / "regulator-7.zip.enc").write_bytes(sealed_v1)
    assert regulator_export._unseal(7, sealed_v1) == legacy_zip

    upgrade_head()  # the start-up step (`brm serve`, `brm db upgrade`)
    for path in (clear_att, imports / ("x" * 30 + ".csv"), exports / "regulator-7.zip.enc"):
        assert files.is_sealed_file(path), path
        assert PDF_MARKER not in path.read_bytes() and CSV_MARKER not in path.read_bytes()
    assert attachments.read_stored(sha) == PDF
    assert files.read_file(imports / ("x" * 30 + ".csv"), role=files.IMPORT) == CSV
    assert regulator_export._unseal(7, (exports / "regulator-7.zip.enc").read_bytes()) == (
        legacy_zip
    )
    assert encrypt_files() == 0  # idempotent: nothing left in clear
    # The same by hand: `brm keys encrypt-files`.
    other = hashlib.sha256(OTHER_PDF).hexdigest()
    clear_other = settings.data_dir / "attachments" / other[:2] / other
    clear_other.parent.mkdir(parents=True, exist_ok=True)
    clear_other.write_bytes(OTHER_PDF)
    ran = brm("keys", "encrypt-files")
    assert ran.returncode == 0 and "1 file(s) encrypted" in ran.stdout, ran.stderr
    assert files.is_sealed_file(clear_other) and attachments.read_stored(other) == OTHER_PDF
    assert "0 file(s) encrypted" in brm("keys", "encrypt-files").stdout
