"""Regulator exports over HTTP: only compliance and admins request, list and download them (the
others 403, a refused request writes nothing); bad requests are 422 or 404 and queue nothing; a
built archive downloads as a zip whose manifest verifies."""

from __future__ import annotations

import io
import zipfile

from sqlmodel import func, select

from brm_app.db import unit_of_work
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.models.review import RegulatorExport
from brm_app.services.regulator_export import verify_archive
from tests.api.matrix_support import ROLES, audit_count

URL = "/api/v1/regulator-exports"


def _count() -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(RegulatorExport)).one()


def test_who_may_export_and_the_archive_verifies(client, people, tmp_path):
    firm_id = client.get(
        "/api/v1/firms", headers=people.headers["admin"], params={"q": "Portal Home"}
    ).json()["items"][0]["firm_id"]
    body = {
        "scope": "firm",
        "scope_id": firm_id,
        "date_from": "2026-01-01",
        "date_to": "2026-12-31",
    }
    allowed = {"admin", "compliance"}
    for role in ROLES:
        before, audit_before = _count(), audit_count()
        r = client.post(URL, json=body, headers=people.headers[role])
        if role in allowed:
            assert r.status_code == 202, (role, r.text)
            assert r.json()["status"] == "queued"
        else:
            assert r.status_code == 403, (role, r.text)
            assert _count() == before and audit_count() == audit_before
        assert client.get(URL, headers=people.headers[role]).status_code == (
            200 if role in allowed else 403
        )
    export_id = client.get(URL, headers=people.headers["compliance"]).json()[0]["export_id"]
    r = client.get(f"{URL}/{export_id}/download", headers=people.headers["compliance"])
    assert r.status_code == 422  # not built yet
    Runner(handlers(), periodic_seconds=0).run_round()
    got = client.get(f"{URL}/{export_id}", headers=people.headers["compliance"]).json()
    assert got["status"] == "done" and got["progress"] == 100
    assert (
        client.get(f"{URL}/{export_id}/download", headers=people.headers["broker"]).status_code
        == 403
    )
    r = client.get(f"{URL}/{export_id}/download", headers=people.headers["compliance"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert "manifest.json" in names and "firms.jsonl" in names
    path = tmp_path / "a.zip"
    path.write_bytes(r.content)
    assert verify_archive(path).ok


def test_bad_requests_change_nothing(client, people):
    h = people.headers["compliance"]
    good = {"scope": "firm", "scope_id": 1, "date_from": "2026-01-01", "date_to": "2026-12-31"}
    before = _count()
    for patch, status in (
        ({"scope": "planet"}, 422),
        ({"date_to": "2025-01-01"}, 422),
        ({"date_from": "not a date"}, 422),
        ({"scope_id": 0}, 422),
        ({"extra": 1}, 422),
        ({"scope_id": 999_999}, 404),
        ({"scope": "broker", "scope_id": 999_999}, 404),
    ):
        r = client.post(URL, json={**good, **patch}, headers=h)
        assert r.status_code == status, (patch, r.text)
    assert _count() == before
    assert client.get(f"{URL}/999999", headers=h).status_code == 404
