"""Regulator export: a firm's, a trader's and a broker's archive holds every record of the period
with every version, the attachments and the audit events that touch them; the job reports its
progress; the archive is encrypted on disk until downloaded (and bound to its export); the
download is recorded; `brm export verify` passes an intact archive and names a changed, a
removed and an added file — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import timedelta

import pytest
from sqlmodel import select

from brm_app.db import unit_of_work, utcnow
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.models.audit import AuditEvent
from brm_app.models.interaction import InteractionWrite
from brm_app.models.review import RegulatorExport
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role
from brm_app.services import attachments, conversations, interactions, regulator_export
from brm_app.services.errors import NotFound, PermissionDenied, ValidationFailed
from brm_app.settings import get_settings
from tests.factories import make_firm, make_trader, make_user

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def call(fn, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, **kw)


@pytest.fixture
def book(database_url):
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    other = make_user(Role.BROKER)
    compliance = make_user(Role.COMPLIANCE)
    firm = make_firm(broker, name="Archive Capital")
    elsewhere = make_firm(other, name="Elsewhere Ltd")
    tess = make_trader(
        manager, firm.firm_id, name="Tess Archive", permissions=[TraderPermission.PORTAL_ACCESS]
    )
    when = utcnow() - timedelta(days=2)
    first = call(
        interactions.log_interaction,
        actor=broker,
        data=InteractionWrite(
            trader_ids=[tess.trader_id],
            interaction_type="Call",
            interaction_date=when,
            subject="=HYPERLINK(evil) check-in",
            notes="First notes",
        ),
    )
    call(
        interactions.edit_interaction,
        actor=broker,
        interaction_id=first.interaction_id,
        data=InteractionWrite(
            trader_ids=[tess.trader_id],
            interaction_type="Call",
            interaction_date=when,
            subject="=HYPERLINK(evil) check-in",
            notes="Second notes",
        ),
    )
    other_trader = make_trader(other, elsewhere.firm_id, name="Olga Other")
    call(
        interactions.log_interaction,
        actor=other,
        data=InteractionWrite(
            trader_ids=[other_trader.trader_id],
            interaction_type="Call",
            interaction_date=when,
            subject="Not in the archive",
        ),
    )
    conv = call(conversations.start_conversation, actor=broker, trader_ids=[tess.trader_id])
    att = call(
        attachments.upload,
        actor=broker,
        conversation_id=conv.id,
        filename="terms.pdf",
        data=PDF,
    )
    call(
        conversations.send_message,
        actor=broker,
        conversation_id=conv.id,
        content="Terms attached",
        attachment_ids=[att.attachment_id],
    )
    return {
        "broker": broker,
        "compliance": compliance,
        "firm": firm,
        "tess": tess,
        "interaction": first.interaction_id,
    }


def _export(book, scope, scope_id) -> int:
    today = utcnow().date()
    out = call(
        regulator_export.request_export,
        actor=book["compliance"],
        scope=scope,
        scope_id=scope_id,
        date_from=str(today - timedelta(days=30)),
        date_to=str(today),
    )
    assert out.status == "queued"
    Runner(handlers(), periodic_seconds=0).run_round()
    with unit_of_work() as db:
        row = db.get(RegulatorExport, out.export_id)
        assert row.status == "done", row.error
        assert row.progress == 100
    return out.export_id


def _download(book, export_id) -> zipfile.ZipFile:
    _, data = call(regulator_export.download, actor=book["compliance"], export_id=export_id)
    return zipfile.ZipFile(io.BytesIO(data))


def _jsonl(zf, name):
    return [json.loads(line) for line in zf.read(name).decode().splitlines()]


def test_a_firms_archive_holds_its_records_versions_files_and_audit(book, tmp_path):
    export_id = _export(book, "firm", book["firm"].firm_id)
    zf = _download(book, export_id)
    names = set(zf.namelist())
    for kind in ("firms", "traders", "interactions", "interaction_versions", "messages",
                 "communication_log", "audit_events", "message_attachments"):  # fmt: skip
        assert f"{kind}.jsonl" in names and f"{kind}.csv" in names, kind
    assert [f["name"] for f in _jsonl(zf, "firms.jsonl")] == ["Archive Capital"]
    subjects = {i["subject"] for i in _jsonl(zf, "interactions.jsonl")}
    assert subjects == {"=HYPERLINK(evil) check-in"}  # not the other firm's
    versions = _jsonl(zf, "interaction_versions.jsonl")
    assert [json.loads(v["data"])["notes"] for v in versions] == ["First notes", "Second notes"]
    assert any(n.startswith("attachments/") and n.endswith("terms.pdf") for n in names)
    events = _jsonl(zf, "audit_events.jsonl")
    actions = {e["action"] for e in events}
    assert {"firm.created", "interaction.logged", "interaction.edited"} <= actions
    # A value kept encrypted is a digest in the chain and in clear beside it in the archive.
    created = next(e for e in events if e["entity"] == "trader" and e["sealed_values"])
    assert book["tess"].email in created["sealed_values"].values()
    assert book["tess"].email not in json.dumps(created["changes"])
    # CSV: a formula is neutralised, numbers stay numbers.
    csv_text = zf.read("interactions.csv").decode()
    assert "'=HYPERLINK(evil) check-in" in csv_text
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["counts"]["interaction_versions"] == 2
    # The file on disk is encrypted: none of the plaintext, and bound to this export.
    stored = (get_settings().data_dir / "exports" / f"regulator-{export_id}.zip.enc").read_bytes()
    assert b"Archive Capital" not in stored and b"First notes" not in stored
    with pytest.raises(ValidationFailed):
        regulator_export._unseal(export_id + 1, stored)
    # The download is in the audit trail.
    with unit_of_work() as db:
        assert db.exec(
            select(AuditEvent).where(AuditEvent.action == "regulator_export.downloaded")
        ).first()
        assert db.get(RegulatorExport, export_id).downloads == 1


def test_trader_and_broker_archives(book):
    zf = _download(book, _export(book, "trader", book["tess"].trader_id))
    assert [t["name"] for t in _jsonl(zf, "traders.jsonl")] == ["Tess Archive"]
    assert len(_jsonl(zf, "interactions.jsonl")) == 1
    assert len(_jsonl(zf, "messages.jsonl")) == 1
    zf = _download(book, _export(book, "broker", book["broker"].user_id))
    (user,) = _jsonl(zf, "users.jsonl")
    assert "password_hash" not in user and user["id"] == book["broker"].user_id
    assert len(_jsonl(zf, "interactions.jsonl")) == 1
    # What the broker did in the period, from the audit trail.
    assert any(e["action"] == "interaction.logged" for e in _jsonl(zf, "audit_events.jsonl"))


def test_requests_are_checked(book):
    c = book["compliance"]
    today = str(utcnow().date())
    with pytest.raises(PermissionDenied):
        call(
            regulator_export.request_export,
            actor=book["broker"],
            scope="firm",
            scope_id=book["firm"].firm_id,
            date_from=today,
            date_to=today,
        )
    for kw, field in (
        ({"scope": "planet"}, "scope"),
        ({"date_to": "2000-01-01"}, "date_to"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2000-01-01", "date_to": "2020-01-01"}, "date_to"),
    ):
        args = {"scope": "firm", "scope_id": book["firm"].firm_id, "date_from": today,
                "date_to": today, **kw}  # fmt: skip
        with pytest.raises(ValidationFailed) as err:
            call(regulator_export.request_export, actor=c, **args)
        assert field in err.value.errors, err.value.errors
    with pytest.raises(NotFound):
        call(
            regulator_export.request_export,
            actor=c,
            scope="broker",
            scope_id=c.user_id,  # compliance is not a broker
            date_from=today,
            date_to=today,
        )
    # Not downloadable before it is built.
    queued = call(
        regulator_export.request_export,
        actor=c,
        scope="firm",
        scope_id=book["firm"].firm_id,
        date_from=today,
        date_to=today,
    )
    with pytest.raises(ValidationFailed):
        call(regulator_export.download, actor=c, export_id=queued.export_id)


def test_brm_export_verify_names_what_changed(book, tmp_path):
    _, data = call(
        regulator_export.download,
        actor=book["compliance"],
        export_id=_export(book, "firm", book["firm"].firm_id),
    )
    good = tmp_path / "good.zip"
    good.write_bytes(data)

    def verify(path):
        return subprocess.run(
            [sys.executable, "-m", "brm_app.cli", "export", "verify", str(path)],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=120,
        )

    ok = verify(good)
    assert ok.returncode == 0 and "archive intact" in ok.stdout, ok.stderr
    # Change one byte of one file, drop another, add a third: each is named.
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "interactions.jsonl":
                body = (
                    body.replace(b"First", b"Firsu", 1) if b"First" in body else body[:-2] + b"X\n"
                )
            if item.filename == "firms.csv":
                continue
            dst.writestr(item, body)
        dst.writestr("extra.txt", b"planted")
    result = verify(bad)
    assert result.returncode == 1
    assert "altered: interactions.jsonl" in result.stderr
    assert "missing: firms.csv" in result.stderr
    assert "not in the manifest: extra.txt" in result.stderr
