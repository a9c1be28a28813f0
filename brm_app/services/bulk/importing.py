"""Importing firms and traders from CSV: every row through the API's schemas and services.

Rules:
- each row becomes a FirmWrite / TraderWrite and goes through the firms / traders services
  (create_firms / create_traders for a chunk at once: every rule of a single create, checked
  set-wise: uniqueness, coverage, access, one audit event per row);
- each row is atomic: the batch writes nothing of a row it refuses; a batch that fails as a
  whole (a clash written meanwhile) is rolled back and its rows go one by one through
  create_firm / create_trader, each in a SAVEPOINT, so a row that fails half-way leaves nothing;
- rows are committed in chunks (one short transaction per chunk, after the chunk's rows were
  checked in a read-only one), so a big file never holds one giant transaction nor the write
  lock for long, and finished chunks survive a later failure; the acting user is re-checked at
  the start of every chunk (a session that ends stops the import);
- a row repeating an earlier row of the same file (firm name ignoring case and spacing, LEI; a
  trader's firm + email) is rejected as a duplicate of that row;
- the report names every rejected row (as numbered in the file, header = row 1), the field and
  the reason, in a stable order a test can compare.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import unit_of_work
from brm_app.encryption.columns import open_value
from brm_app.models.fields import name_key
from brm_app.models.firm import AccountStatus, Firm, FirmWrite
from brm_app.models.trader import TraderPermission, TraderStatus, TraderWrite
from brm_app.models.user import Role, User, email_index
from brm_app.services import access, audit, firms, traders
from brm_app.services.brokers import active_broker, check_active_broker
from brm_app.services.bulk.csv_format import (
    COLUMNS,
    LIST_SEPARATOR,
    CsvFile,
    Kind,
    check_kind,
    check_mapping,
    row_values,
)
from brm_app.services.errors import (
    Conflict,
    DomainError,
    NotAuthenticated,
    PermissionDenied,
    ValidationFailed,
)
from brm_app.services.validation import pydantic_errors

log = logging.getLogger("brm.import")

AnyActor = Actor | SystemActor
# Resolves (and so re-checks) the acting user inside a transaction; raises NotAuthenticated
# when they may no longer act (session ended, account deactivated).
ActorFor = Callable[[Session], AnyActor]

# Rows per transaction: enough for set-wise checks and bulk inserts to pay, few enough that
# the write lock is held for a fraction of a second (other users keep writing meanwhile).
CHUNK_SIZE = 500
ROW = "row"  # the "field" of an issue about the whole row
_T = TypeVar("_T")


@dataclass(frozen=True)
class RowIssue:
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        if self.field == ROW:
            return f"row {self.row}: {self.message}"
        return f"row {self.row}: {self.field}: {self.message}"


@dataclass(frozen=True)
class ImportReport:
    kind: Kind
    total: int
    imported: int
    rejected: int
    issues: tuple[RowIssue, ...]
    dry_run: bool = False
    # When the import stopped early: why, and the first row that was not processed (it and every
    # later row were not imported; the rows before it were).
    stopped: str | None = None
    stopped_at_row: int | None = None
    not_processed: int = 0

    def reasons_by_row(self) -> dict[int, str]:
        out: dict[int, list[str]] = {}
        for issue in self.issues:
            text = issue.message if issue.field == ROW else f"{issue.field}: {issue.message}"
            out.setdefault(issue.row, []).append(text)
        return {row: "; ".join(texts) for row, texts in out.items()}

    def summary(self) -> str:
        verb = "valid" if self.dry_run else "imported"
        text = f"{self.kind}: {self.total} rows, {self.imported} {verb}, {self.rejected} rejected"
        if self.dry_run:
            text += " (dry run: nothing was imported)"
        if self.stopped:
            text += (
                f"; stopped at row {self.stopped_at_row} ({self.stopped}): "
                f"{self.not_processed} rows not processed"
            )
        return text


# ---- acting user and brokers ---------------------------------------------------------------


def active_broker_id(db: Session, email: object) -> int | None:
    """The id of the active broker with this email, or None."""
    if not isinstance(email, str) or not email.strip():
        return None
    return db.exec(
        select(User.id).where(User.email_bidx == email_index(email), active_broker())
    ).first()


def _check_default_broker(db: Session, actor: AnyActor, broker_id: object) -> int | None:
    if broker_id is None:
        return None
    broker_id = check_active_broker(db, broker_id, "default_primary_broker")
    if isinstance(actor, Actor) and actor.role == Role.BROKER and broker_id != actor.user_id:
        raise PermissionDenied(
            "Brokers become the primary broker of the firms they import; "
            "only managers and admins choose another."
        )
    return broker_id


# ---- the run -------------------------------------------------------------------------------


@dataclass
class _Context:
    kind: Kind
    columns: dict[int, str]
    header_width: int
    default_primary: int | None
    # First row of the file holding each key, for duplicates within the file.
    seen: dict[tuple, int] = field(default_factory=dict)
    # Per chunk (one transaction): active brokers by email, firms by LEI / name key.
    brokers: dict[str, int] = field(default_factory=dict)
    firm_cache: dict[tuple[str, str], tuple[int, str] | None] = field(default_factory=dict)


class _Rollback(Exception):
    """Ends a dry-run chunk: everything it did is rolled back."""


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_csv(
    csv_file: CsvFile,
    *,
    kind: Kind,
    mapping: Sequence[str],
    actor_for: ActorFor,
    default_primary_broker_id: int | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ImportReport:
    """Import every row of `csv_file` (`mapping`: the field of each file column, "" = ignore).

    Runs its own short transactions (see the module docstring), so call it from a worker thread,
    never on an event loop. Raises before importing anything when the actor may not import, the
    mapping lacks a required field, or the default primary broker is not usable; afterwards every
    problem is reported per row. `progress(rows_done)` is called after each row.
    """
    kind = check_kind(kind)
    columns = check_mapping(csv_file.header, list(mapping), kind)
    with unit_of_work() as db:
        actor = _actor(db, actor_for, kind)
        default_primary = (
            _check_default_broker(db, actor, default_primary_broker_id) if kind == "firms" else None
        )
    ctx = _Context(kind, columns, len(csv_file.header), default_primary)
    issues: list[RowIssue] = []
    imported = done = 0
    stopped = stopped_at = None
    for chunk in _chunks(csv_file.records(), max(1, chunk_size)):
        try:
            chunk_issues, chunk_imported = _run_chunk(
                ctx, chunk, actor_for, dry_run, progress, done
            )
        except DomainError as exc:  # the session ended, the role changed ...
            stopped, stopped_at = exc.message, chunk[0][0]
            break
        except Exception:
            log.exception("import of %s stopped by an unexpected error", kind)
            stopped, stopped_at = "an unexpected error; it has been logged", chunk[0][0]
            break
        issues.extend(chunk_issues)
        imported += chunk_imported
        done += len(chunk)
    position = {c: i for i, c in enumerate(COLUMNS[kind])}
    issues.sort(key=lambda i: (i.row, position.get(i.field, len(position)), i.field, i.message))
    rejected = len({i.row for i in issues})
    report = ImportReport(
        kind=kind,
        total=csv_file.row_count,
        imported=imported,
        rejected=rejected,
        issues=tuple(issues),
        dry_run=dry_run,
        stopped=stopped,
        stopped_at_row=stopped_at,
        not_processed=csv_file.row_count - done if stopped else 0,
    )
    if not dry_run:
        _record_summary(report, actor_for)
    return report


def _actor(db: Session, actor_for: ActorFor, kind: Kind) -> AnyActor:
    actor = actor_for(db)
    if actor is None:
        raise NotAuthenticated("Your session has ended; please sign in again.")
    require(actor, Permission.DATA_IMPORT)
    require(actor, Permission.FIRMS_CREATE if kind == "firms" else Permission.TRADERS_EDIT)
    return actor


def _run_chunk(
    ctx: _Context,
    chunk: list[tuple[int, list[str]]],
    actor_for: ActorFor,
    dry_run: bool,
    progress: Callable[[int], None] | None,
    done: int,
) -> tuple[list[RowIssue], int]:
    issues: list[RowIssue] = []
    imported = 0
    # Checking the rows (most of the work) reads only: other users keep writing meanwhile. The
    # write transaction that follows runs the services, which check again what may have changed.
    with unit_of_work() as db:
        actor = _actor(db, actor_for, ctx.kind)
        # Emails are encrypted: each active broker's opened (stored lower case).
        ctx.brokers = {
            open_value("users", "email", row_key, cast(bytes, email)) or "": user_id
            for email, row_key, user_id in db.exec(
                select(User.email, User.row_key, User.id).where(active_broker())
            ).all()
        }
        rows = [(number, cells, row_values(cells, ctx.columns)) for number, cells in chunk]
        ctx.firm_cache = _firms_named(db, actor, rows) if ctx.kind == "traders" else {}
        pending: list[tuple[int, Any]] = []
        for number, cells, values in rows:
            row_issues, item = _check_row(db, actor, ctx, number, cells, values)
            if row_issues:
                issues.extend(row_issues)
            else:
                pending.append((number, item))
    try:
        with unit_of_work(write=True) as db:
            created = _create_all(db, actor, ctx.kind, pending)
            issues.extend(created)
            imported = len(pending) - len({i.row for i in created})
            if progress is not None:
                for offset in range(1, len(chunk) + 1):
                    progress(done + offset)
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    return issues, imported


def _check_row(
    db: Session,
    actor: AnyActor,
    ctx: _Context,
    number: int,
    cells: list[str],
    values: dict[str, str],
) -> tuple[list[RowIssue], Any]:
    """The row's problems found before writing, or ([], what to create)."""
    extra = [c for c in cells[ctx.header_width :] if c.strip()]
    if extra:
        return [
            RowIssue(
                number,
                ROW,
                f"has {len(cells)} cells but the header has {ctx.header_width}: "
                "check the separators and quotes",
            )
        ], None
    if ctx.kind == "firms":
        return _firm_row(ctx, number, values)
    return _trader_row(db, actor, ctx, number, values)


def _duplicate(ctx: _Context, number: int, key: tuple, fld: str) -> RowIssue | None:
    first = ctx.seen.setdefault(key, number)
    return None if first == number else RowIssue(number, fld, f"duplicate of row {first}")


# ---- firms ---------------------------------------------------------------------------------


def _firm_row(ctx: _Context, number: int, values: dict[str, str]) -> tuple[list[RowIssue], Any]:
    name, lei = values.get("name", ""), values.get("lei", "").upper()
    if name and (dup := _duplicate(ctx, number, ("name", name_key(name)), "name")):
        return [dup], None
    if lei and (dup := _duplicate(ctx, number, ("lei", lei), "lei")):
        return [dup], None

    payload: dict[str, Any] = {}
    for key in ("name", "lei", "notes"):
        if values.get(key):
            payload[key] = values[key]
    address = {k: values[k] for k in ("street", "city", "postal_code", "country") if values.get(k)}
    contact = {k: values[k] for k in ("phone", "email", "website") if values.get(k)}
    if address:
        payload["address"] = address
    if contact:
        payload["contact_details"] = contact
    if values.get("account_status"):
        payload["account_status"] = _enum_value(values["account_status"], AccountStatus)
    if values.get("tier"):
        payload["tier"] = values["tier"].upper()

    issues: list[RowIssue] = []
    primary_email = values.get("primary_broker_email", "")
    if primary_email:
        primary = ctx.brokers.get(primary_email.lower())
        if primary is None:
            issues.append(
                RowIssue(number, "primary_broker_email", "is not the email of an active broker")
            )
        payload["primary_broker_id"] = primary
    elif ctx.default_primary is not None:
        payload["primary_broker_id"] = ctx.default_primary
    secondary_cell = values.get("secondary_broker_emails", "")
    if secondary_cell:
        emails = _split_list(secondary_cell)
        unknown = [e for e in emails if e.lower() not in ctx.brokers]
        if unknown:
            issues.append(
                RowIssue(
                    number,
                    "secondary_broker_emails",
                    f"not the email of an active broker: {', '.join(unknown)}",
                )
            )
        payload["secondary_broker_ids"] = [
            ctx.brokers[e.lower()] for e in emails if e.lower() in ctx.brokers
        ]

    data = _validate(FirmWrite, payload, number, issues)
    if issues or data is None:
        return _ordered(ctx.kind, issues), None
    return [], data


# ---- traders -------------------------------------------------------------------------------


def _trader_row(
    db: Session, actor: AnyActor, ctx: _Context, number: int, values: dict[str, str]
) -> tuple[list[RowIssue], Any]:
    firm_lei, firm_name = values.get("firm_lei", "").upper(), values.get("firm_name", "")
    firm_key = _firm_key(values)
    email = values.get("email", "").lower()
    if (firm_lei or firm_name) and email:
        dup = _duplicate(ctx, number, ("trader", *firm_key, email), "email")
        if dup:
            return [dup], None

    payload: dict[str, Any] = {}
    for key in ("name", "email", "phone", "role"):
        if values.get(key):
            payload[key] = values[key]
    if values.get("status"):
        payload["status"] = _enum_value(values["status"], TraderStatus)
    issues: list[RowIssue] = []
    if "permissions" in ctx.columns.values():
        # A blank cell in a permissions column means none (as exported), not the default.
        permissions = [
            _enum_value(p.replace(" ", "_").replace("-", "_"), TraderPermission)
            for p in _split_list(values.get("permissions", ""))
        ]
        if TraderPermission.PORTAL_ACCESS.value in permissions:
            issues.append(
                RowIssue(
                    number,
                    "permissions",
                    "portal_access is not granted by import: grant it on the trader's page, "
                    "where the new account's password is shown once",
                )
            )
        payload["permissions"] = permissions

    firm_id = None
    if not firm_lei and not firm_name:
        issues.append(RowIssue(number, "firm_name", "is required (or firm_lei)"))
    else:
        found = _find_firm(db, actor, ctx, firm_key)
        if found is None:
            fld, what = ("firm_lei", "LEI") if firm_lei else ("firm_name", "name")
            issues.append(RowIssue(number, fld, f"no firm you can see has this {what}"))
        elif firm_lei and firm_name and name_key(firm_name) != found[1]:
            issues.append(
                RowIssue(number, "firm_name", "is not the name of the firm with this LEI")
            )
        else:
            firm_id = found[0]

    data = _validate(TraderWrite, payload, number, issues)
    if issues or data is None or firm_id is None:
        return _ordered(ctx.kind, issues), None
    return [], (firm_id, data)


def _firm_key(values: dict[str, str]) -> tuple[str, str]:
    firm_lei, firm_name = values.get("firm_lei", "").upper(), values.get("firm_name", "")
    return ("lei", firm_lei) if firm_lei else ("name", name_key(firm_name))


def _firms_named(
    db: Session, actor: AnyActor, rows: list[tuple[int, list[str], dict[str, str]]]
) -> dict[tuple[str, str], tuple[int, str] | None]:
    """(id, name key) of the live firm the actor may see for each LEI or name the rows name
    (None: no such firm), in one query per kind of key and slice of keys."""
    keys = {_firm_key(values) for _, _, values in rows}
    out: dict[tuple[str, str], tuple[int, str] | None] = dict.fromkeys(keys)
    for kind, column in (("lei", col(Firm.lei)), ("name", col(Firm.name_key))):
        wanted = sorted(k[1] for k in keys if k[0] == kind and k[1])
        for start in range(0, len(wanted), 500):
            found = db.exec(
                select(Firm.id, Firm.name_key, column)
                .where(column.in_(wanted[start : start + 500]), access.firm_condition(actor))
                .order_by(col(Firm.id))
            ).all()
            for firm_id, key, value in found:
                if firm_id is not None and value is not None and out.get((kind, value)) is None:
                    out[(kind, value)] = (firm_id, key)
    return out


def _find_firm(
    db: Session, actor: AnyActor, ctx: _Context, key: tuple[str, str]
) -> tuple[int, str] | None:
    """(id, name key) of the live firm the actor may see with this LEI or name, or None."""
    if key not in ctx.firm_cache:
        column = Firm.lei if key[0] == "lei" else Firm.name_key
        row = db.exec(
            select(Firm.id, Firm.name_key).where(column == key[1], access.firm_condition(actor))
        ).first()
        ctx.firm_cache[key] = (row[0], row[1]) if row else None
    return ctx.firm_cache[key]


# ---- shared --------------------------------------------------------------------------------


def _split_list(cell: str) -> list[str]:
    out: list[str] = []
    for part in cell.replace(",", LIST_SEPARATOR).split(LIST_SEPARATOR):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


@cache
def _enum_values(enum: type) -> dict[str, str]:
    out: dict[str, str] = {}
    for member in enum:  # type: ignore[attr-defined]
        out.setdefault(member.value.casefold(), member.value)
    return out


def _enum_value(text: str, enum: type) -> str:
    """The enum value matching `text` ignoring case, else `text` (for the schema to refuse)."""
    return _enum_values(enum).get(text.strip().casefold(), text)


def _validate(
    model: type[BaseModel], payload: dict[str, Any], number: int, issues: list[RowIssue]
) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        for loc, message in pydantic_errors(exc).items():
            issues.append(RowIssue(number, _column_of(loc), _wording(message)))
        return None


_SERVICE_FIELDS = {
    "primary_broker_id": "primary_broker_email",
    "secondary_broker_ids": "secondary_broker_emails",
    "firm_id": "firm_name",
    "__all__": ROW,
}


def _column_of(loc: str) -> str:
    """The CSV column an error location refers to ("address.country" -> "country")."""
    if loc in _SERVICE_FIELDS:
        return _SERVICE_FIELDS[loc]
    parts = [p for p in loc.split(".") if not p.isdigit()]
    for part in reversed(parts):
        if part in _SERVICE_FIELDS:
            return _SERVICE_FIELDS[part]
        if any(part in cols for cols in (COLUMNS["firms"], COLUMNS["traders"])):
            return part
    return ROW


def _wording(message: str) -> str:
    return "is required" if message == "Field required" else message


def _create_all(
    db: Session, actor: AnyActor, kind: Kind, pending: list[tuple[int, Any]]
) -> list[RowIssue]:
    """Create the rows that passed their checks, in one batch (firms.create_firms /
    traders.create_traders: the rules of a single create, checked set-wise, one insert per
    table, one audit event per row). When the batch fails as a whole (someone created a
    clashing firm or trader between its checks and its insert), nothing of it remains and its
    rows go one by one, each in its own savepoint, as single creates."""
    if not pending:
        return []
    try:
        with db.begin_nested():
            if kind == "firms":
                outcomes = firms.create_firms(db, actor=actor, items=[d for _, d in pending])
            else:
                outcomes = traders.create_traders(db, actor=actor, items=[i for _, i in pending])
    except (sa.exc.IntegrityError, DomainError):
        log.info("a batch of %d %s failed as a whole: creating them one by one", len(pending), kind)
        issues: list[RowIssue] = []
        for number, item in pending:
            issues.extend(_create(db, kind, number, _single_create(db, actor, kind, item)))
        return issues
    return [
        issue
        for (number, _), exc in zip(pending, outcomes, strict=True)
        if exc is not None
        for issue in _issues_of(kind, number, exc)
    ]


def _single_create(db: Session, actor: AnyActor, kind: Kind, item: Any) -> Callable[[], object]:
    if kind == "firms":
        return lambda: firms.create_firm(db, actor=actor, data=item, public=False)
    firm_id, data = item
    return lambda: traders.create_trader(db, actor=actor, firm_id=firm_id, data=data)


def _create(db: Session, kind: Kind, number: int, create: Callable[[], object]) -> list[RowIssue]:
    """Run one create in a savepoint: on any domain error nothing of the row remains."""
    try:
        with db.begin_nested():
            create()
    except DomainError as exc:
        return _issues_of(kind, number, exc)
    return []


def _issues_of(kind: Kind, number: int, exc: DomainError) -> list[RowIssue]:
    """A service's refusal of one row, as the row's issues."""
    if isinstance(exc, ValidationFailed):
        return _ordered(
            kind, [RowIssue(number, _column_of(k), _wording(v)) for k, v in exc.errors.items()]
        )
    if isinstance(exc, Conflict):
        return [RowIssue(number, _column_of(exc.field) if exc.field else ROW, exc.message)]
    return [RowIssue(number, ROW, exc.message)]


def _ordered(kind: Kind, issues: list[RowIssue]) -> list[RowIssue]:
    """Issues of one row in column order (whole-row issues last), one per field."""
    position = {c: i for i, c in enumerate(COLUMNS[kind])}
    out: dict[str, RowIssue] = {}
    for issue in sorted(issues, key=lambda i: position.get(i.field, len(position))):
        out.setdefault(issue.field, issue)
    return list(out.values())


def _record_summary(report: ImportReport, actor_for: ActorFor) -> None:
    try:
        with unit_of_work(write=True) as db:
            audit.record(
                db,
                actor=actor_for(db),
                action="data.imported",
                entity="import",
                changes={
                    "kind": report.kind,
                    "rows": report.total,
                    "imported": report.imported,
                    "rejected": report.rejected,
                    "stopped": report.stopped,
                },
            )
    except Exception:  # the rows are imported and audited one by one already
        log.warning("could not record the import summary", exc_info=True)


# ---- rows not imported, for the user to fix ------------------------------------------------


def rejected_rows_csv(csv_file: CsvFile, report: ImportReport) -> str:
    """The rows that were not imported, as in the file, plus a column saying why.

    Fix the cells and import this file again: the extra column is ignored by the mapping.
    Uses the file's own separator; starts with a BOM so spreadsheets read it as UTF-8.
    """
    reasons = report.reasons_by_row()
    stopped_at = report.stopped_at_row
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, delimiter=csv_file.delimiter, lineterminator="\r\n")
    writer.writerow([*csv_file.header, "import_errors"])
    for number, cells in csv_file.records():
        if number in reasons:
            reason = reasons[number]
        elif stopped_at is not None and number >= stopped_at:
            reason = f"not imported: the import stopped ({report.stopped})"
        else:
            continue
        padded = list(cells) + [""] * (len(csv_file.header) - len(cells))
        writer.writerow([*padded, f"row {number}: {reason}"])
    return buf.getvalue()
