"""CSV import in a real browser against the production build: upload, map, import, report."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_user_via_api, sign_in

pytestmark = pytest.mark.e2e

MANAGER = ("mia.manager@e2e.example", "mia's long password")
BROKER = ("bob.broker@e2e.example", "bob's long password")


def _admin_get(server, path: str, **params):
    with server.api() as api:
        token = api.post(
            "/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        return api.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


def _people(server) -> None:
    create_user_via_api(server, MANAGER[0], "manager", "Mia Manager", MANAGER[1])
    create_user_via_api(server, BROKER[0], "broker", "Bob Broker", BROKER[1])


def _upload(page: Page, name: str, text: str) -> None:
    page.set_input_files(
        "#import-file", files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode()}]
    )


def test_manager_imports_firms_with_a_report(page: Page, base, server):
    _people(server)
    sign_in(page, base, *MANAGER)
    page.goto(base + "/import")
    expect(page.get_by_role("heading", name="Import", exact=True)).to_be_visible(timeout=15_000)
    _upload(
        page,
        "e2e-firms.csv",
        "Organisation;Country code;Rep;Colour\n"
        f"E2E Alpha Capital;GB;{BROKER[0]};blue\n"
        f"E2E Bad Country;XX;{BROKER[0]};red\n"
        f"E2E Beta Partners;FR;{BROKER[0]};green\n"
        f"e2e alpha   CAPITAL;GB;{BROKER[0]};grey\n",
    )
    expect(page.locator("#import-file-name")).to_have_text("e2e-firms.csv", timeout=15_000)
    expect(page.locator("#import-row-count")).to_have_text("4 rows")
    # "Rep" is not a known header: map it by hand.
    page.get_by_role("combobox", name="Imports as Rep").click()
    page.get_by_role("option", name="primary_broker_email", exact=True).click()
    expect(page.get_by_role("combobox", name="Imports as Rep")).to_have_text("primary_broker_email")
    expect(page.get_by_role("combobox", name="Imports as Organisation")).to_have_text("name")
    page.click("#start-import")
    expect(page.locator("#import-progress-text")).to_have_text("Done: 4 of 4 rows", timeout=30_000)
    report = page.locator("#import-report")
    expect(report).to_contain_text("Imported2")
    expect(report).to_contain_text("Rejected2")
    issues = page.locator("#import-issues")
    expect(issues.get_by_role("row")).to_have_count(3)  # header + two rejected rows
    expect(issues).to_contain_text("must be an ISO 3166 two-letter country code, like GB or US")
    expect(issues).to_contain_text("(Country code)")
    expect(issues).to_contain_text("duplicate of row 2")
    with page.expect_download() as download:
        page.click("#download-rejected")
    assert download.value.suggested_filename == "e2e-firms-not-imported.csv"

    r = _admin_get(server, "/api/v1/firms", q="e2e")
    assert r.status_code == 200, r.text
    assert sorted(f["name"] for f in r.json()["items"]) == [
        "E2E Alpha Capital",
        "E2E Beta Partners",
    ]
    # The signed-in browser downloads the export with its session cookie.
    export = page.request.get(base + "/api/session/exports/firms.csv?q=e2e")
    assert export.status == 200
    assert export.headers["content-disposition"].startswith("attachment")
    lines = export.text().lstrip("\ufeff").splitlines()
    assert lines[0].startswith("name,lei,street") and len(lines) == 3


def test_a_large_import_keeps_the_page_responsive(page: Page, base, server):
    _people(server)
    sign_in(page, base, *MANAGER)
    page.goto(base + "/import")
    # Enough rows to be seen importing: 600 took a quarter of a second since the bulk import
    # got fast, done before the page could show "Importing…" on a quiet machine.
    rows = 5000
    _upload(
        page,
        "big.csv",
        "name,primary_broker_email\n"
        + "".join(f"E2E Bulk {i:04d},{BROKER[0]}\n" for i in range(rows)),
    )
    expect(page.locator("#import-row-count")).to_have_text(f"{rows} rows", timeout=15_000)
    page.click("#start-import")
    expect(page.locator("#import-progress-text")).to_contain_text("Importing…", timeout=10_000)
    # While it runs, other events are served: another page loads its data from the server.
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="My account").click()
    page.wait_for_url(re.compile(r"/account/?$"))
    expect(page.locator("#profile-name")).to_have_value("Mia Manager", timeout=10_000)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Import").click()
    expect(page.locator("#import-progress-text")).to_have_text(
        f"Done: {rows} of {rows} rows", timeout=120_000
    )
    expect(page.locator("#import-report")).to_contain_text(f"Imported{rows:,}")
    r = _admin_get(server, "/api/v1/firms", q="e2e bulk", limit=1)
    assert r.json()["total"] == rows
