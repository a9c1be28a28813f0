"""CSV import and export of firms and traders (services.bulk), the `brm import` command and the
export / upload endpoints. Both databases."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from brm_app import db as db_module
from brm_app import settings as settings_module
from brm_app.api.app import create_api
from brm_app.auth import tokens
from brm_app.db import unit_of_work
from brm_app.encryption.columns import blind_index
from brm_app.models.audit import AuditEvent
from brm_app.models.firm import AccountStatus, Firm, FirmCoverage, Tier
from brm_app.models.trader import Trader, TraderPermission, TraderStatus
from brm_app.models.user import Role, User
from brm_app.services import audit, authentication, bulk, firms, users
from brm_app.services.bulk import csv_format, staging
from brm_app.services.bulk.importing import ImportReport, RowIssue
from brm_app.services.errors import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from brm_app.services.firms import FirmQuery
from brm_app.services.traders import TraderQuery
from brm_app.settings import get_settings
from tests.conftest import fresh_database_url
from tests.factories import PASSWORD, make_firm, make_trader, make_user

LEI_ACME = "5493001KJTIIGC8Y1R12"


def lei(base18: str) -> str:
    """A valid LEI: the 18 characters plus their ISO 7064 MOD 97-10 check digits."""
    digits = int("".join(str(int(ch, 36)) for ch in base18 + "00"))
    return f"{base18}{98 - digits % 97:02d}"


LEI_OTHER = lei("HWUPKR0MPOU8FGXBT3")
LEI_THIRD = lei("529900T8BM49AURSDO")


def run_import(actor, text: str | bytes, kind="firms", mapping=None, **kw) -> ImportReport:
    data = text.encode() if isinstance(text, str) else text
    csv_file = bulk.parse(data)
    if mapping is None:
        mapping = bulk.suggest_mapping(csv_file.header, kind)
    return bulk.import_csv(csv_file, kind=kind, mapping=mapping, actor_for=lambda db: actor, **kw)


def firm_names() -> list[str]:
    with unit_of_work() as db:
        return sorted(db.exec(select(Firm.name)).all())


def export(kind: str, actor, query=None, **kw) -> str:
    fn = bulk.export_firms_csv if kind == "firms" else bulk.export_traders_csv
    with unit_of_work() as db:
        if query is None:
            return "".join(fn(db, actor=actor, **kw))
        return "".join(fn(db, actor=actor, query=query, **kw))


@pytest.fixture
def people(database_url):
    """A manager, two active brokers and a deactivated one."""
    manager = make_user(Role.MANAGER, email="maria@test.example")
    ben = make_user(Role.BROKER, email="ben@test.example", name="Ben Broker")
    carla = make_user(Role.BROKER, email="carla@test.example", name="Carla Broker")
    dora = make_user(Role.BROKER, email="dora@test.example", name="Dora Gone")
    admin = make_user(Role.ADMIN)
    with unit_of_work(write=True) as db:
        users.set_active(db, actor=admin, user_id=dora.user_id, active=False)
    return manager, ben, carla


# ---- reading files -------------------------------------------------------------------------


def test_parse_encodings_delimiters_and_row_numbers():
    text = 'Name;City\r\n\r\nAcme;Zürich\r\n;;\r\n"Multi\nline";Genève\r\n'
    for data in (
        text.encode("utf-8"),
        codecs.BOM_UTF8 + text.encode("utf-8"),
        text.encode("cp1252"),
        text.encode("utf-16"),
    ):
        f = bulk.parse(data)
        assert f.header == ("Name", "City") and f.delimiter == ";"
        # Blank rows count (a spreadsheet numbers them) but are skipped.
        assert list(f.records()) == [(3, ["Acme", "Zürich"]), (5, ["Multi\nline", "Genève"])]
        assert f.row_count == 2
    assert bulk.parse(b"name\tcity\nA\tB\n").delimiter == "\t"
    assert bulk.parse(b"name\nA\n").delimiter == ","


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b" \r\n\r\n", "The file is empty."),
        (b"name,lei\r\n", "The file has a header row but no data rows."),
        (b"PK\x03\x04rest-of-a-zip", "This looks like an Excel workbook"),
        (b"name\n\x81\x8d\x8f\x90\x9d\n", "not UTF-8 or Windows-1252"),
        (b"name\nA\x00B\n", "not a text file"),
        ("not bytes", "must be a file"),
    ],
)
def test_parse_refuses_unusable_files(data, message):
    with pytest.raises(ValidationFailed) as exc:
        bulk.parse(data)
    assert message in exc.value.errors["file"]


def test_parse_limits(monkeypatch):
    monkeypatch.setattr(csv_format, "MAX_BYTES", 50)
    with pytest.raises(ValidationFailed, match="larger than"):
        bulk.parse(b"name\n" + b"a\n" * 40)
    monkeypatch.setattr(csv_format, "MAX_BYTES", 10**6)
    monkeypatch.setattr(csv_format, "MAX_ROWS", 3)
    assert bulk.parse(b"name\na\nb\nc\n").row_count == 3
    with pytest.raises(ValidationFailed, match="more than 3 rows"):
        bulk.parse(b"name\na\nb\nc\nd\n")
    # `brm import` reads files of any size (a brokerage's whole book): no limits there.
    monkeypatch.setattr(csv_format, "MAX_BYTES", 5)
    assert bulk.parse(b"name\na\nb\nc\nd\n", limited=False).row_count == 4


def test_suggest_and_check_mapping():
    header = [
        "Company",
        "LEI code",
        "E-mail",
        "Country code",
        "Post code",
        "Broker",
        "Misc",
        "Firm",
    ]
    assert bulk.suggest_mapping(header, "firms") == [
        "name",
        "lei",
        "email",
        "country",
        "postal_code",
        "primary_broker_email",
        "",
        "",  # "Firm" would be name again: each field once
    ]
    assert bulk.suggest_mapping(["Firm", "Full name", "Mobile", "Job title"], "traders") == [
        "firm_name",
        "name",
        "phone",
        "role",
    ]
    assert bulk.check_mapping(["a", "b"], ["name", ""], "firms") == {0: "name"}
    bad = [
        (["a"], ["name", ""], "for every column"),
        (["a", "b"], ["name", "name"], "both hold name"),
        (["a", "b"], ["name", "password_hash"], "unknown field"),
        (["a", "b"], ["lei", ""], "no column holds name"),
        (["a", "b"], {"0": "name"}, "for every column"),
    ]
    for header_, mapping, message in bad:
        with pytest.raises(ValidationFailed) as exc:
            bulk.check_mapping(header_, mapping, "firms")
        assert message in exc.value.errors["mapping"]
    with pytest.raises(ValidationFailed) as exc:
        bulk.check_mapping(["Name", "Email"], ["name", "email"], "traders")
    assert "firm_name or firm_lei" in exc.value.errors["mapping"]
    with pytest.raises(ValidationFailed):
        bulk.suggest_mapping(["a"], "users")


def test_formula_cells_are_escaped_and_unescaped():
    for value in ('=HYPERLINK("x")', "@SUM(A1)", "+cmd|' /C calc'!A0", "-1+2", "'=already"):
        escaped = csv_format.escape_cell(value)
        assert escaped == "'" + value
        assert csv_format.unescape_cell(escaped) == value
    for value in ("+442079460958", "-12", "Acme", "'quoted", ""):
        assert csv_format.escape_cell(value) == value
        assert csv_format.unescape_cell(value) == value


# ---- importing firms -----------------------------------------------------------------------

FIRMS_FILE = f"""Company,LEI,Street,City,Postcode,Country code,Phone,E-mail,Web,Status,Tier,Notes,Broker,Secondary brokers
Acme Capital,{LEI_ACME},1 King St,London,EC2V 8AB,gb,+44 20 7946 0958,Info@Acme.example,acme.example,active,a,"Key client, ""gold"" tier",ben@test.example,carla@test.example
Bad Lei Ltd,5493001KJTIIGC8Y1R13,,,,,,,,,,,ben@test.example,
Bad Phone Ltd,,,,,,12345,,,,,,ben@test.example,
Bad Country Ltd,,,,,XX,,,,,,,ben@test.example,
Bad Email Ltd,,,,,,,not-an-email,,,,,ben@test.example,
,,,London,,,,,,,,,ben@test.example,
Unknown Broker Ltd,,,,,,,,,,,,nobody@test.example,
ACME   capital,,,,,,,,,,,,ben@test.example,
Other Name,{LEI_ACME},,,,,,,,,,,ben@test.example,
Existing Holdings,,,,,,,,,,,,ben@test.example,
Gone Broker Ltd,,,,,,,,,,,,dora@test.example,
Bad Status Ltd,,,,,,,,,Dormant,,,ben@test.example,
No Broker Ltd,,,,,,,,,,,,,
Second Good,{LEI_OTHER},,,,,,,,,,,carla@test.example,
Many Problems,BADLEI,,,,,123,,,,Z,,ben@test.example,nobody@test.example;carla@test.example
,,,,,,,,,,,,,
Third Good,,,Paris,,FR,,,,Suspended,B,,carla@test.example,ben@test.example
"""

FIRMS_REPORT_ISSUES = (
    RowIssue(3, "lei", "is not a valid LEI (the check digits do not match)"),
    RowIssue(4, "phone", "must be an international number starting with + and the country code"),
    RowIssue(5, "country", "must be an ISO 3166 two-letter country code, like GB or US"),
    RowIssue(
        6,
        "email",
        "is not a valid email address (An email address must have an @-sign.)",
    ),
    RowIssue(7, "name", "is required"),
    RowIssue(8, "primary_broker_email", "is not the email of an active broker"),
    RowIssue(9, "name", "duplicate of row 2"),
    RowIssue(10, "lei", "duplicate of row 2"),
    RowIssue(11, "name", "A firm with this name already exists."),
    RowIssue(12, "primary_broker_email", "is not the email of an active broker"),
    RowIssue(
        13, "account_status", "Input should be 'Prospect', 'Active', 'Inactive' or 'Suspended'"
    ),
    RowIssue(14, "primary_broker_email", "choose the firm's primary broker"),
    RowIssue(16, "lei", "must be 20 characters: 18 letters or digits and 2 check digits"),
    RowIssue(16, "phone", "must be an international number starting with + and the country code"),
    RowIssue(16, "tier", "Input should be 'A', 'B' or 'C'"),
    RowIssue(
        16, "secondary_broker_emails", "not the email of an active broker: nobody@test.example"
    ),
)


def test_firm_import_gives_the_exact_report(people):
    manager, ben, carla = people
    make_firm(manager, name="Existing Holdings", primary_broker_id=ben.user_id)
    report = run_import(manager, FIRMS_FILE)
    assert report == ImportReport(
        kind="firms", total=16, imported=3, rejected=13, issues=FIRMS_REPORT_ISSUES
    )
    assert report.summary() == "firms: 16 rows, 3 imported, 13 rejected"
    assert str(report.issues[0]) == (
        "row 3: lei: is not a valid LEI (the check digits do not match)"
    )
    assert firm_names() == ["Acme Capital", "Existing Holdings", "Second Good", "Third Good"]
    with unit_of_work() as db:
        acme = db.exec(select(Firm).where(Firm.name == "Acme Capital")).one()
        assert (acme.lei, acme.country, acme.phone, acme.email, acme.website) == (
            LEI_ACME,
            "GB",
            "+442079460958",
            "info@acme.example",
            "https://acme.example",
        )
        assert (acme.account_status, acme.tier, acme.notes) == (
            "Active",
            "A",
            'Key client, "gold" tier',
        )
        coverage = dict(
            db.exec(
                select(FirmCoverage.broker_id, FirmCoverage.role).where(
                    FirmCoverage.firm_id == acme.id
                )
            ).all()
        )
        assert coverage == {ben.user_id: "primary", carla.user_id: "secondary"}
        created = db.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "firm.created")
        ).one()
        summary = db.exec(select(AuditEvent).where(AuditEvent.action == "data.imported")).one()
    assert created == 4  # Existing Holdings + the three imported, one event each
    assert summary.actor_id == manager.user_id and '"imported":3' in summary.changes


def test_a_row_that_fails_half_way_leaves_nothing(people, monkeypatch):
    """The firm rows are written, then coverage fails: the batch's savepoint takes them all
    back; one by one, the failing row's savepoint takes its firm back and the others stay."""
    manager, _ben, _ = people
    real, real_batch = firms._add_coverage, firms._insert_coverage

    def failing(db, actor, firm, primary_id, secondary_ids):
        if firm.name == "Half Done":
            db.flush()  # the firm really is in the database at this point
            raise ValidationFailed("must be an active broker", field="primary_broker_id")
        return real(db, actor, firm, primary_id, secondary_ids)

    def failing_batch(db, rows):
        ids = [r["firm_id"] for r in rows]
        # The batch's firms really are in the database at this point.
        if "Half Done" in db.exec(select(Firm.name).where(Firm.id.in_(ids))).all():
            raise ValidationFailed("must be an active broker", field="primary_broker_id")
        return real_batch(db, rows)

    monkeypatch.setattr(firms, "_add_coverage", failing)
    monkeypatch.setattr(firms, "_insert_coverage", failing_batch)
    text = "name,primary_broker_email\nBefore,ben@test.example\nHalf Done,ben@test.example\nAfter,ben@test.example\n"
    report = run_import(manager, text, chunk_size=2)
    assert report.issues == (RowIssue(3, "primary_broker_email", "must be an active broker"),)
    assert firm_names() == ["After", "Before"]
    with unit_of_work() as db:
        assert db.exec(select(func.count()).select_from(FirmCoverage)).one() == 2
        actions = db.exec(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions.count("firm.created") == 2


def test_a_clash_written_meanwhile_sends_the_chunk_row_by_row(people, monkeypatch):
    """A firm created by someone else between the batch's checks and its insert: the insert
    fails as a whole, nothing of it stays, and the rows go one by one (the clash is reported)."""
    manager, ben, _ = people
    make_firm(manager, name="Taken Meanwhile", primary_broker_id=ben.user_id)
    real = firms._chunked_in

    def blind_to_names(db, stmt, column, values, size=500):
        if column is Firm.name_key:
            return []  # the check ran before the other user's firm was committed
        return real(db, stmt, column, values, size)

    monkeypatch.setattr(firms, "_chunked_in", blind_to_names)
    text = "name,primary_broker_email\nFirst,ben@test.example\nTaken Meanwhile,ben@test.example\nLast,ben@test.example\n"
    report = run_import(manager, text)
    assert report.issues == (RowIssue(3, "name", "A firm with this name already exists."),)
    assert firm_names() == ["First", "Last", "Taken Meanwhile"]
    with unit_of_work() as db:
        actions = db.exec(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        assert db.exec(select(func.count()).select_from(FirmCoverage)).one() == 3
    assert actions.count("firm.created") == 3
    with unit_of_work() as db:
        assert audit.verify_chain(db).ok


def test_default_primary_broker_and_broker_imports(people):
    manager, ben, carla = people
    text = "name,primary_broker_email\nFor Default,\nFor Carla,carla@test.example\n"
    report = run_import(manager, text, default_primary_broker_id=ben.user_id)
    assert (report.imported, report.issues) == (2, ())
    # A broker becomes the primary broker of what they import; naming someone else is refused.
    text = "name,primary_broker_email,secondary_broker_emails\nMine,,\nAlso Mine,ben@test.example,\nTheirs,carla@test.example,\nShared,,carla@test.example\n"
    report = run_import(ben, text)
    message = "Only managers and admins assign coverage; you become the primary broker."
    assert report.issues == (RowIssue(4, "row", message), RowIssue(5, "row", message))
    with unit_of_work() as db:
        primaries = dict(
            db.exec(
                select(Firm.name, FirmCoverage.broker_id)
                .join(FirmCoverage, FirmCoverage.firm_id == Firm.id)
                .where(FirmCoverage.role == "primary")
            ).all()
        )
    assert primaries == {
        "For Default": ben.user_id,
        "For Carla": carla.user_id,
        "Mine": ben.user_id,
        "Also Mine": ben.user_id,
    }
    with pytest.raises(PermissionDenied):
        run_import(ben, "name\nX\n", default_primary_broker_id=carla.user_id)
    with pytest.raises(ValidationFailed) as exc:
        run_import(manager, "name\nX\n", default_primary_broker_id=manager.user_id)
    assert "default_primary_broker" in exc.value.errors


def test_who_may_import(people):
    compliance, trader_user = make_user(Role.COMPLIANCE), make_user(Role.TRADER)
    for actor in (compliance, trader_user):
        with pytest.raises(PermissionDenied):
            run_import(actor, "name\nX\n")

    def gone(db):
        raise NotAuthenticated("Your session has ended; please sign in again.")

    with pytest.raises(NotAuthenticated):
        bulk.import_csv(bulk.parse(b"name\nX\n"), kind="firms", mapping=["name"], actor_for=gone)
    assert firm_names() == []


def test_a_session_ending_mid_import_stops_it_cleanly(people):
    manager, _ben, _ = people
    calls = []

    def actor_for(db):
        calls.append(1)
        if len(calls) > 2:  # preflight, chunk 1, then the session is gone
            raise NotAuthenticated("Your session has ended; please sign in again.")
        return manager

    text = "name,primary_broker_email\n" + "".join(f"Firm {i},ben@test.example\n" for i in range(5))
    csv_file = bulk.parse(text.encode())
    report = bulk.import_csv(
        csv_file,
        kind="firms",
        mapping=["name", "primary_broker_email"],
        actor_for=actor_for,
        chunk_size=2,
    )
    assert (report.imported, report.rejected, report.not_processed) == (2, 0, 3)
    assert (report.stopped, report.stopped_at_row) == (
        "Your session has ended; please sign in again.",
        4,
    )
    assert firm_names() == ["Firm 0", "Firm 1"]
    rejected = bulk.rejected_rows_csv(csv_file, report)
    assert rejected.splitlines()[1:] == [
        "Firm 2,ben@test.example,row 4: not imported: the import stopped "
        "(Your session has ended; please sign in again.)",
        "Firm 3,ben@test.example,row 5: not imported: the import stopped "
        "(Your session has ended; please sign in again.)",
        "Firm 4,ben@test.example,row 6: not imported: the import stopped "
        "(Your session has ended; please sign in again.)",
    ]


def test_dry_run_checks_everything_and_imports_nothing(people):
    manager, ben, _ = people
    make_firm(manager, name="Existing Holdings", primary_broker_id=ben.user_id)
    progress = []
    report = run_import(manager, FIRMS_FILE, dry_run=True, progress=progress.append, chunk_size=5)
    assert report.issues == FIRMS_REPORT_ISSUES and report.imported == 3 and report.dry_run
    assert progress == list(range(1, 17))
    assert firm_names() == ["Existing Holdings"]


def test_rejected_rows_file_reimports_after_fixing(people):
    manager, *_ = people
    csv_file = bulk.parse(b"Company;Broker\nGood;ben@test.example\nBad;nobody@test.example\n")
    report = bulk.import_csv(
        csv_file,
        kind="firms",
        mapping=bulk.suggest_mapping(csv_file.header, "firms"),
        actor_for=lambda db: manager,
    )
    text = bulk.rejected_rows_csv(csv_file, report)
    assert text == (
        "\ufeffCompany;Broker;import_errors\r\n"
        "Bad;nobody@test.example;row 3: primary_broker_email: is not the email of an active "
        "broker\r\n"
    )
    fixed = bulk.parse(text.replace("nobody@", "carla@").encode())
    assert bulk.suggest_mapping(fixed.header, "firms") == ["name", "primary_broker_email", ""]
    again = bulk.import_csv(
        fixed,
        kind="firms",
        mapping=["name", "primary_broker_email", ""],
        actor_for=lambda db: manager,
    )
    assert (again.imported, again.issues) == (1, ())


# ---- importing traders ---------------------------------------------------------------------


def test_trader_import_gives_the_exact_report(people):
    manager, ben, carla = people
    acme = make_firm(ben, name="Acme Capital", lei=LEI_ACME)
    make_firm(carla, name="Beta Partners")
    make_trader(ben, acme.firm_id, name="Old Timer", email="existing@acme.example")
    text = f"""Firm,Firm LEI,Full name,Email,Mobile,Role,Permissions,Status
Acme Capital,,Tom One,tom@acme.example,+44 7911 123456,Trader,receive_email;view_portfolio,active
,{LEI_ACME.lower()},Tia Two,tia@acme.example,,analyst,,
Beta Partners,,Bob Beta,bob@beta.example,,,,
acme capital,,Tom Again,TOM@acme.example,,,,
Acme Capital,,Ann Astro,ann@acme.example,,Astronaut,,
Acme Capital,,Pam Portal,pam@acme.example,,,portal_access,
Acme Capital,,Pat Perm,pat@acme.example,,,teleport,
Acme Capital,,,noname@acme.example,,,,
Acme Capital,,Bad Mail,bad-mail,,,,
Acme Capital,,Old Again,existing@acme.example,,,,
Nowhere Ltd,,Nia,nia@nowhere.example,,,,
,WRONGLEI,Wes,wes@acme.example,,,,
Beta Partners,{LEI_ACME},Mix,mix@acme.example,,,,
Acme Capital,,Lee Left,lee@acme.example,,Head of desk,Receive SMS,Left
Acme Capital,,Stan Status,stan@acme.example,,,,retired
"""
    report = run_import(ben, text, kind="traders")
    assert report == ImportReport(
        kind="traders",
        total=15,
        imported=3,
        rejected=12,
        issues=(
            RowIssue(4, "firm_name", "no firm you can see has this name"),
            RowIssue(5, "email", "duplicate of row 2"),
            RowIssue(6, "role", "is not a trader role (an admin can add it)"),
            RowIssue(
                7,
                "permissions",
                "portal_access is not granted by import: grant it on the trader's page, where "
                "the new account's password is shown once",
            ),
            RowIssue(
                8,
                "permissions",
                "Input should be 'portal_access', 'view_portfolio', 'receive_email' or "
                "'receive_sms'",
            ),
            RowIssue(9, "name", "is required"),
            RowIssue(
                10,
                "email",
                "is not a valid email address (An email address must have an @-sign.)",
            ),
            RowIssue(11, "email", "A trader with this email already works at this firm."),
            RowIssue(12, "firm_name", "no firm you can see has this name"),
            RowIssue(13, "firm_lei", "no firm you can see has this LEI"),
            RowIssue(14, "firm_name", "is not the name of the firm with this LEI"),
            RowIssue(16, "status", "Input should be 'active' or 'left'"),
        ),
    )
    with unit_of_work() as db:
        rows = db.exec(
            select(Trader).where(Trader.firm_id == acme.firm_id).order_by(Trader.id)
        ).all()
    got = {t.email: (t.name, t.role, t.permissions, t.status, t.phone) for t in rows}
    assert got == {
        "existing@acme.example": (
            "Old Timer",
            "Trader",
            [TraderPermission.RECEIVE_EMAIL],
            "active",
            None,
        ),
        "lee@acme.example": (
            "Lee Left",
            "Head of Desk",
            [TraderPermission.RECEIVE_SMS],
            TraderStatus.LEFT,
            None,
        ),
        # A blank permissions cell means none (as exported), not the default.
        "tia@acme.example": ("Tia Two", "Analyst", [], "active", None),
        "tom@acme.example": (
            "Tom One",
            "Trader",
            [TraderPermission.VIEW_PORTFOLIO, TraderPermission.RECEIVE_EMAIL],
            "active",
            "+447911123456",
        ),
    }
    # Without a permissions column, a trader gets the usual default.
    report = run_import(manager, "firm,name,email\nBeta Partners,Bo,bo@beta.example\n", "traders")
    assert report.imported == 1
    with unit_of_work() as db:
        # Emails are encrypted: looked up by their blind index.
        bo = db.exec(
            select(Trader).where(
                Trader.email_bidx == blind_index("traders", "email", "bo@beta.example")
            )
        ).one()
    assert bo.permissions == [TraderPermission.RECEIVE_EMAIL]


# ---- exporting -----------------------------------------------------------------------------


def _book(people):
    """Firms and traders with awkward values: commas, quotes, newlines, formulas, accents."""
    manager, ben, carla = people
    admin = make_user(Role.ADMIN, email="root@test.example")
    acme = make_firm(
        manager,
        name="Acme Capital",
        lei=LEI_ACME,
        address={"street": "1 King St", "city": "London", "postal_code": "EC2V", "country": "GB"},
        contact_details={
            "phone": "+44 20 7946 0958",
            "email": "info@acme.example",
            "website": "acme.example",
        },
        account_status="Active",
        tier="A",
        notes='Line one, with "quotes"\nLine two',
        primary_broker_id=ben.user_id,
        secondary_broker_ids=[carla.user_id],
    )
    societe = make_firm(
        manager,
        name="Société Générale Ltd",
        lei=LEI_OTHER,
        address={"city": "Genève", "country": "CH"},
        notes="@risk; -check",
        primary_broker_id=carla.user_id,
    )
    make_firm(ben, name="Zeta Trading", notes='=HYPERLINK("http://evil.example","click")')
    make_trader(
        manager,
        acme.firm_id,
        name="Tom One",
        email="tom@acme.example",
        phone="+44 7911 123456",
        permissions=[],
        role="Analyst",
    )
    make_trader(
        manager,
        acme.firm_id,
        name="Tia Two",
        email="tia@acme.example",
        permissions=["view_portfolio", "receive_sms"],
        status="left",
    )
    make_trader(
        manager, societe.firm_id, name="Élodie", email="elodie@sg.example", role="Head of Desk"
    )
    make_trader(manager, societe.firm_id, name="Tom One", email="tom@sg.example")
    return admin


@contextmanager
def another_database(request, db_templates, tmp_path, monkeypatch):
    """Point the app at a second fresh database of the same backend for the block."""
    backend = request.node.callspec.params["database_url"]
    first_url = os.environ["BRM_DATABASE_URL"]
    second = tmp_path / "second"
    second.mkdir()
    url, drop = fresh_database_url(backend, db_templates, second)

    def switch(to: str) -> None:
        db_module.get_engine().dispose()
        monkeypatch.setenv("BRM_DATABASE_URL", to)
        settings_module.get_settings.cache_clear()
        db_module.get_engine.cache_clear()

    switch(url)
    try:
        yield
    finally:
        switch(first_url)
        drop()


def test_export_round_trips(people, request, db_templates, tmp_path, monkeypatch):
    admin = _book(people)
    firms_csv, traders_csv = export("firms", admin), export("traders", admin)
    assert firms_csv.splitlines()[0] == ",".join(bulk.FIRM_COLUMNS)
    assert firms_csv.count("\r\n") == 4  # header + 3 firms (a note's own newlines stay \n)
    assert "'=HYPERLINK" in firms_csv and "'@risk; -check" in firms_csv
    assert traders_csv.splitlines()[0] == ",".join(bulk.TRADER_COLUMNS)
    assert (
        f"Acme Capital,{LEI_ACME},Tia Two,tia@acme.example,,Trader,view_portfolio;receive_sms,left"
        in traders_csv
    )
    with another_database(request, db_templates, tmp_path, monkeypatch):
        admin2 = make_user(Role.ADMIN, email="root@test.example")
        make_user(Role.BROKER, email="ben@test.example")
        make_user(Role.BROKER, email="carla@test.example")
        firm_report = run_import(admin2, firms_csv.encode())
        trader_report = run_import(admin2, traders_csv.encode(), kind="traders")
        assert (firm_report.imported, firm_report.issues) == (3, ())
        assert (trader_report.imported, trader_report.issues) == (4, ())
        assert export("firms", admin2) == firms_csv
        assert export("traders", admin2) == traders_csv
        # And as a browser download (with a BOM for spreadsheets) it parses the same.
        with_bom = export("firms", admin2, bom=True)
        assert with_bom == "\ufeff" + firms_csv
        assert bulk.parse(with_bom.encode()).header == bulk.FIRM_COLUMNS


def test_export_follows_filters_sort_visibility_and_pages(people):
    admin = _book(people)
    _manager, ben, carla = people

    def names(text: str, column: int = 0) -> list[str]:
        f = bulk.parse(text.encode())
        return [cells[column] for _, cells in f.records()]

    assert names(export("firms", ben)) == ["Acme Capital", "Zeta Trading"]  # covered only
    assert names(export("firms", carla)) == ["Acme Capital", "Société Générale Ltd"]
    assert names(export("firms", admin, FirmQuery(status=AccountStatus.ACTIVE))) == ["Acme Capital"]
    assert names(export("firms", admin, FirmQuery(tier=Tier.C))) == [
        "Société Générale Ltd",
        "Zeta Trading",
    ]
    assert names(export("firms", admin, FirmQuery(q="soc"))) == ["Société Générale Ltd"]
    assert names(export("firms", carla, FirmQuery(covered_by_me=True))) == [
        "Acme Capital",
        "Société Générale Ltd",
    ]
    assert names(export("firms", admin, FirmQuery(broker_id=ben.user_id))) == [
        "Acme Capital",
        "Zeta Trading",
    ]
    desc = names(export("firms", admin, FirmQuery(direction="desc")))
    assert desc == ["Zeta Trading", "Société Générale Ltd", "Acme Capital"]
    # Pages of one row (keyset) give exactly the same file.
    for query in (FirmQuery(), FirmQuery(sort="updated", direction="desc"), FirmQuery(sort="city")):
        assert export("firms", admin, query, page_size=1) == export("firms", admin, query)
    for query in (TraderQuery(), TraderQuery(sort="role", direction="desc")):
        assert export("traders", admin, query, page_size=1) == export("traders", admin, query)
    # (sorted here: where "Élodie" sorts depends on the database's collation)
    assert sorted(names(export("traders", admin), 2)) == ["Tia Two", "Tom One", "Tom One", "Élodie"]
    assert names(export("traders", ben), 2) == ["Tia Two", "Tom One"]
    assert names(export("traders", admin, TraderQuery(status=TraderStatus.LEFT)), 2) == ["Tia Two"]
    assert names(export("traders", admin, TraderQuery(role="Head of Desk")), 2) == ["Élodie"]
    assert names(export("traders", admin, TraderQuery(q="tom")), 3) == [
        "tom@acme.example",
        "tom@sg.example",
    ]
    with unit_of_work() as db:
        societe_id = db.exec(select(Firm.id).where(Firm.lei == LEI_OTHER)).one()
    assert sorted(names(export("traders", admin, TraderQuery(firm_id=societe_id)), 3)) == [
        "elodie@sg.example",
        "tom@sg.example",
    ]
    with pytest.raises(NotFound):
        export("traders", ben, TraderQuery(firm_id=societe_id))
    with pytest.raises(ValidationFailed):
        export("firms", admin, FirmQuery(sort="password"))
    with pytest.raises(PermissionDenied):
        export("firms", make_user(Role.TRADER))
    assert names(export("firms", make_user(Role.COMPLIANCE)))[0] == "Acme Capital"


# ---- the command line ----------------------------------------------------------------------


def brm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "brm_app.cli", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


def test_cli_import(people, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("Company,Country\nAlpha,GB\nBeta,FR\n")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(
        "name,lei,broker,favourite colour\nGamma,,,blue\nDelta,BADLEI,ben@test.example,red\n"
    )
    dry = brm("import", "firms", str(good), "--primary-broker", "ben@test.example", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == "firms: 2 rows, 2 valid, 0 rejected (dry run: nothing was imported)\n"
    assert firm_names() == []
    ok = brm("import", "firms", str(good), "--primary-broker", "ben@test.example")
    assert (ok.returncode, ok.stdout) == (0, "firms: 2 rows, 2 imported, 0 rejected\n")
    bad = brm("import", "firms", str(mixed), "--as", "ben@test.example")
    assert bad.returncode == 1
    assert bad.stdout == (
        "firms: 2 rows, 1 imported, 1 rejected\n"
        "row 3: lei: must be 20 characters: 18 letters or digits and 2 check digits\n"
    )
    assert "ignored columns: favourite colour" in bad.stderr
    assert firm_names() == ["Alpha", "Beta", "Gamma"]
    traders_file = tmp_path / "traders.csv"
    traders_file.write_text("Company,Name,Email\nGamma,Gil,gil@gamma.example\n")
    assert brm("import", "traders", str(traders_file)).returncode == 0


def test_cli_import_unusable_input(sqlite_url, tmp_path):
    make_user(Role.BROKER, email="ben@test.example")
    no_header = tmp_path / "no-header.csv"
    no_header.write_text("Acme Capital,GB\nBeta,FR\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    good = tmp_path / "good.csv"
    good.write_text("name\nAcme\n")
    cases = [
        (("firms", str(tmp_path / "missing.csv")), "cannot read"),
        (("firms", str(no_header)), "no column holds name (the first row must name the columns)"),
        (("firms", str(empty)), "The file is empty."),
        (("firms", str(good), "--as", "nobody@test.example"), "no active user"),
        (("firms", str(good), "--primary-broker", "x@test.example"), "no active broker"),
        (("brokers", str(no_header)), "No such command"),
    ]
    for args, message in cases:
        r = brm("import", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr, r.stderr


# ---- HTTP: exports and the browser's upload ------------------------------------------------


@pytest.fixture
def client(database_url):
    with TestClient(create_api(), raise_server_exceptions=False) as c:
        yield c


def bearer(actor) -> dict[str, str]:
    with unit_of_work() as db:
        user = db.get(User, actor.user_id)
        token, _ = tokens.issue(
            user.id,
            cv=tokens.credentials_version(user.credentials_changed_at),
            secret=get_settings().secret_key,
            minutes=15,
        )
    return {"Authorization": f"Bearer {token}"}


def cookie_for(actor) -> str:
    settings = get_settings()
    with unit_of_work(write=True) as db:
        ticket = authentication.sign_in(
            db,
            email=actor.email,
            password=PASSWORD,
            ip="127.0.0.1",
            user_agent="t",
            settings=settings,
        )
    with unit_of_work(write=True) as db:
        return authentication.establish_session(db, ticket=ticket, previous_token=None)


def test_export_endpoints(client, people):
    admin = _book(people)
    manager, ben, _ = people
    for path in ("/api/v1/exports/firms.csv", "/api/v1/exports/traders.csv"):
        r = client.get(path)
        assert r.status_code == 401 and r.json()["detail"]
    r = client.get("/api/v1/exports/firms.csv", headers=bearer(ben))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="firms-')
    assert r.headers["cache-control"] == "no-store"
    assert r.text == export("firms", ben)  # no BOM for scripts
    assert [c[0] for _, c in bulk.parse(r.content).records()] == ["Acme Capital", "Zeta Trading"]
    r = client.get(
        "/api/v1/exports/firms.csv",
        params={"status": "Active", "tier": "A", "q": "acme", "sort": "name", "direction": "desc"},
        headers=bearer(admin),
    )
    assert [c[0] for _, c in bulk.parse(r.content).records()] == ["Acme Capital"]
    r = client.get(
        "/api/v1/exports/traders.csv", params={"status": "left"}, headers=bearer(manager)
    )
    assert [c[2] for _, c in bulk.parse(r.content).records()] == ["Tia Two"]
    assert (
        client.get(
            "/api/v1/exports/firms.csv", params={"sort": "secret"}, headers=bearer(admin)
        ).status_code
        == 422
    )
    assert (
        client.get(
            "/api/v1/exports/firms.csv", params={"status": "Gone"}, headers=bearer(admin)
        ).status_code
        == 422
    )
    with unit_of_work() as db:
        societe_id = db.exec(select(Firm.id).where(Firm.lei == LEI_OTHER)).one()
    assert (
        client.get(
            "/api/v1/exports/traders.csv", params={"firm_id": societe_id}, headers=bearer(ben)
        ).status_code
        == 404
    )
    assert (
        client.get("/api/v1/exports/firms.csv", headers=bearer(make_user(Role.TRADER))).status_code
        == 403
    )

    # The browser's download: the session cookie, not a token.
    assert client.get("/api/session/exports/firms.csv").status_code == 401
    assert client.get("/api/session/exports/firms.csv", headers=bearer(ben)).status_code == 401
    client.cookies.set("brm_session", cookie_for(ben))
    r = client.get("/api/session/exports/firms.csv", params={"covered": "true", "sort": "name"})
    assert r.status_code == 200 and r.text == "\ufeff" + export("firms", ben)
    r = client.get("/api/session/exports/traders.csv", params={"q": "tia"})
    assert [c[2] for _, c in bulk.parse(r.content).records()] == ["Tia Two"]
    client.cookies.set("brm_session", "forged-token-value")
    assert client.get("/api/session/exports/traders.csv").status_code == 401
    with unit_of_work() as db:
        exported = db.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "data.exported")
        ).one()
    assert exported == 5  # the refused ones are not exports


def test_upload_endpoint(client, people, monkeypatch):
    manager, ben, _ = people
    data = b"name\nAcme\n"
    r = client.post("/api/session/imports", content=data)
    assert r.status_code == 401
    client.cookies.set("brm_session", cookie_for(ben))
    r = client.post("/api/session/imports", content=data, headers={"X-Filename": "my%20firms.csv"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["filename"], body["size"]) == ("my firms.csv", len(data))
    with unit_of_work() as db:
        assert staging.load_upload(db, actor=ben, upload_id=body["upload_id"]) == (
            data,
            "my firms.csv",
        )
        with pytest.raises(NotFound):  # nobody else's
            staging.load_upload(db, actor=manager, upload_id=body["upload_id"])
        with pytest.raises(NotFound):
            staging.load_upload(db, actor=ben, upload_id="../../secret_key")
    stored = get_settings().data_dir / "imports" / f"{body['upload_id']}.csv"
    assert stored.stat().st_mode & 0o077 == 0
    assert (
        client.post(
            "/api/session/imports", content=data, headers={"Origin": "https://evil.example"}
        ).status_code
        == 403
    )
    from brm_app.api.routes import exports

    monkeypatch.setattr(exports, "MAX_BYTES", 5)
    assert client.post("/api/session/imports", content=data).status_code == 413
    client.cookies.set("brm_session", cookie_for(make_user(Role.COMPLIANCE)))
    assert client.post("/api/session/imports", content=data).status_code == 403
    with unit_of_work() as db:
        staging.discard_upload(db, actor=ben, upload_id=body["upload_id"])
    assert not stored.exists()


def test_abandoned_uploads_are_swept(database_url):
    broker = make_user(Role.BROKER)
    upload_id = staging.save_upload(None, actor=broker, data=b"name\nA\n", filename="a.csv")
    path = get_settings().data_dir / "imports" / f"{upload_id}.csv"
    staging.sweep(now=path.stat().st_mtime + staging.MAX_AGE_SECONDS - 1)
    assert path.exists()
    staging.sweep(now=path.stat().st_mtime + staging.MAX_AGE_SECONDS + 1)
    assert not path.exists() and not path.with_suffix(".json").exists()


def test_import_refuses_invisible_and_direction_characters_in_names(people):
    """The CSV path checks names as the API and the browser do: bidi controls, zero-width
    spaces, word joiners and stray BOMs are refused per row; ZWNJ/ZWJ (Persian, Indic) stay."""
    manager, ben, _ = people
    firms_text = (
        "name,notes\n"
        "Right\u202eLeft Capital,\n"
        "Zero\u200bWidth Ltd,\n"
        "Word\u2060Joiner Ltd,\n"
        "Stray\ufeffBom Ltd,\n"
        "Isolate\u2067d Ltd,\n"
        "Line\tTab Ltd,\n"
        "Mehr\u200cAfarin Bank,ok\n"
        "Kshatriya\u200d Traders,\n"
    )
    report = run_import(manager, firms_text, default_primary_broker_id=ben.user_id)
    invisible = "must not contain invisible or text-direction characters"
    assert [(i.row, i.field) for i in report.issues] == [(n, "name") for n in range(2, 8)]
    assert all(invisible in i.message for i in report.issues[:5])
    assert "one line" in report.issues[5].message
    assert firm_names() == ["Kshatriya\u200d Traders", "Mehr\u200cAfarin Bank"]

    acme = make_firm(ben, name="Acme Capital")
    traders_text = (
        "firm_name,name,email,role\n"
        "Acme Capital,Al\u202dice,alice@acme.example,\n"
        "Acme Capital,Bob,bob@acme.example,Trader\u200b\n"
        "Acme Capital,Car\u200cla,carla@acme.example,Trader\n"
    )
    report = run_import(ben, traders_text, kind="traders")
    assert [(i.row, i.field) for i in report.issues] == [(2, "name"), (3, "role")]
    assert all(invisible in i.message for i in report.issues)
    with unit_of_work() as db:
        names = db.exec(select(Trader.name).where(Trader.firm_id == acme.firm_id)).all()
    assert names == ["Car\u200cla"]
