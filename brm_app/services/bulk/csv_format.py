"""The CSV format of firms and traders, and reading untrusted CSV files.

The export columns are the import columns, so an export re-imports unchanged. Files may come
from any spreadsheet: UTF-8 with or without BOM, UTF-16 (Excel "Unicode text") or Windows-1252,
separated by commas, semicolons or tabs. Rows are numbered as a spreadsheet shows them: the
header is row 1 (blank rows count but are skipped).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from brm_app.services.errors import ValidationFailed

Kind = Literal["firms", "traders"]
KINDS: tuple[Kind, ...] = ("firms", "traders")

FIRM_COLUMNS: tuple[str, ...] = (
    "name",
    "lei",
    "street",
    "city",
    "postal_code",
    "country",
    "phone",
    "email",
    "website",
    "account_status",
    "tier",
    "notes",
    "primary_broker_email",
    "secondary_broker_emails",
)
TRADER_COLUMNS: tuple[str, ...] = (
    "firm_name",
    "firm_lei",
    "name",
    "email",
    "phone",
    "role",
    "permissions",
    "status",
)
COLUMNS: dict[Kind, tuple[str, ...]] = {"firms": FIRM_COLUMNS, "traders": TRADER_COLUMNS}
# Separator inside one cell holding several values (broker emails, trader permissions).
LIST_SEPARATOR = ";"

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 200
MAX_HEADER_CELL = 200

# Header words people use for each field (compared lower-case, letters and digits only).
_SYNONYMS: dict[Kind, dict[str, tuple[str, ...]]] = {
    "firms": {
        "name": (
            "name",
            "company",
            "companyname",
            "firm",
            "firmname",
            "organisation",
            "organization",
            "client",
            "clientname",
            "legalname",
            "accountname",
        ),
        "lei": ("lei", "leicode", "legalentityidentifier"),
        "street": ("street", "address", "streetaddress", "address1", "addressline1"),
        "city": ("city", "town"),
        "postal_code": ("postalcode", "postcode", "zip", "zipcode"),
        "country": ("country", "countrycode", "countryiso", "iso", "isocountry"),
        "phone": ("phone", "telephone", "tel", "phonenumber", "mainphone", "switchboard"),
        "email": ("email", "mail", "emailaddress"),
        "website": ("website", "web", "url", "homepage", "site", "webaddress"),
        "account_status": ("accountstatus", "status"),
        "tier": ("tier", "clienttier", "segment"),
        "notes": ("notes", "note", "comments", "comment", "description"),
        "primary_broker_email": (
            "primarybrokeremail",
            "primarybroker",
            "broker",
            "brokeremail",
            "coverage",
        ),
        "secondary_broker_emails": (
            "secondarybrokeremails",
            "secondarybrokers",
            "secondarybroker",
            "secondarybrokeremail",
        ),
    },
    "traders": {
        "firm_name": (
            "firmname",
            "firm",
            "company",
            "companyname",
            "organisation",
            "organization",
            "employer",
            "client",
        ),
        "firm_lei": ("firmlei", "lei", "companylei"),
        "name": ("name", "fullname", "tradername", "contact", "contactname", "person"),
        "email": ("email", "mail", "emailaddress"),
        "phone": ("phone", "mobile", "telephone", "tel", "phonenumber", "cell"),
        "role": ("role", "title", "jobtitle", "position", "function"),
        "permissions": ("permissions", "permission", "access"),
        "status": ("status", "traderstatus"),
    },
}


def _header_key(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def check_kind(kind: object) -> Kind:
    if kind not in KINDS:
        raise ValidationFailed("must be firms or traders", field="kind")
    return kind  # type: ignore[return-value]


# ---- formula injection ----------------------------------------------------------------------
# A cell starting with = + - @ is a formula to a spreadsheet. Exports prefix such cells with an
# apostrophe (OWASP's advice) and imports remove it again, so the data round-trips. Plain signed
# numbers (an E.164 phone such as +442079460958) are left alone: they compute nothing.

_PLAIN_NUMBER = re.compile(r"^[+-][0-9][0-9 ]*$")


def _is_formula(value: str) -> bool:
    if not value:
        return False
    if value[0] in "=@\t\r":
        return True
    if value[0] in "+-":
        return not _PLAIN_NUMBER.match(value)
    return value[0] == "'" and _is_formula(value[1:])


def escape_cell(value: str) -> str:
    return "'" + value if _is_formula(value) else value


def unescape_cell(value: str) -> str:
    if value.startswith("'") and _is_formula(value[1:]):
        return value[1:]
    return value


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """Rows as CSV text (RFC 4180: commas, CRLF, quotes only where needed), cells escaped."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([escape_cell(c) for c in row])
    return buf.getvalue()


# ---- reading files --------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvFile:
    """A decoded CSV file: its header and how many data rows it has; rows are read on demand."""

    text: str
    delimiter: str
    encoding: str
    header: tuple[str, ...]
    header_row: int
    row_count: int

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """(row number in the file, cells) for every non-blank data row, in file order."""
        for number, cells in _records(self.text, self.delimiter):
            if number > self.header_row:
                yield number, cells

    def preview(self, limit: int = 10) -> list[tuple[int, list[str]]]:
        out = []
        for record in self.records():
            out.append(record)
            if len(out) >= limit:
                break
        return out


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ValidationFailed(
                f"The file is not valid CSV at row {number + 1}: {exc}.", field="file"
            ) from None
        number += 1
        if any(c.strip() for c in cells):
            yield number, cells


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data[len(codecs.BOM_UTF8) :], "utf-8"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(data, "utf-16"), "utf-16"
    if data.startswith(b"PK\x03\x04"):
        raise ValidationFailed(
            "This looks like an Excel workbook: save it as CSV (UTF-8) and upload that.",
            field="file",
        )
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(
        "The file is not UTF-8 or Windows-1252 text: save it as CSV (UTF-8).", field="file"
    )


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise ValidationFailed(
            f"The file says it is {encoding.upper()} but is not: save it as CSV (UTF-8).",
            field="file",
        ) from None


def _sniff_delimiter(text: str) -> str:
    """The separator the header line uses most: comma, semicolon (European Excel) or tab."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def parse(data: object, *, limited: bool = True) -> CsvFile:
    """Decode and check an uploaded CSV file; ValidationFailed (field "file") says what is wrong.

    `limited=False` (the `brm import` command, run by an operator on the server) lifts the size
    and row limits that protect the app from uploads."""
    if not isinstance(data, bytes | bytearray):
        raise ValidationFailed("must be a file", field="file")
    if limited and len(data) > MAX_BYTES:
        raise ValidationFailed(
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it.", field="file"
        )
    text, encoding = _decode(bytes(data))
    if "\x00" in text:
        raise ValidationFailed("This is not a text file: save it as CSV (UTF-8).", field="file")
    if not text.strip():
        raise ValidationFailed("The file is empty.", field="file")
    delimiter = _sniff_delimiter(text)
    header: list[str] | None = None
    header_row = 0
    count = 0
    for number, cells in _records(text, delimiter):
        if header is None:
            header, header_row = [c.strip() for c in cells], number
            continue
        count += 1
        if limited and count > MAX_ROWS:
            raise ValidationFailed(
                f"The file has more than {MAX_ROWS:,} rows: split it.", field="file"
            )
    if header is None:
        raise ValidationFailed("The file is empty.", field="file")
    if len(header) > MAX_COLUMNS:
        raise ValidationFailed(f"The file has more than {MAX_COLUMNS} columns.", field="file")
    if any(len(h) > MAX_HEADER_CELL for h in header):
        raise ValidationFailed(
            "The first row must be a header naming the columns (its cells are too long).",
            field="file",
        )
    if count == 0:
        raise ValidationFailed("The file has a header row but no data rows.", field="file")
    return CsvFile(
        text=text,
        delimiter=delimiter,
        encoding=encoding,
        header=tuple(header),
        header_row=header_row,
        row_count=count,
    )


# ---- mapping file columns to fields ---------------------------------------------------------


def suggest_mapping(header: Sequence[str], kind: Kind) -> list[str]:
    """For each file column, the field it most likely holds ("" when none); each field once."""
    kind = check_kind(kind)
    lookup = {synonym: fld for fld, synonyms in _SYNONYMS[kind].items() for synonym in synonyms}
    taken: set[str] = set()
    out = []
    for cell in header:
        fld = lookup.get(_header_key(cell), "")
        if fld in taken:
            fld = ""
        if fld:
            taken.add(fld)
        out.append(fld)
    return out


def check_mapping(header: Sequence[str], mapping: object, kind: Kind) -> dict[int, str]:
    """A column mapping from untrusted input: {column index: field}; the required fields mapped.

    `mapping` is a list with one entry per file column: a field name, or "" to ignore the column.
    """
    kind = check_kind(kind)
    if not isinstance(mapping, list | tuple) or len(mapping) != len(header):
        raise ValidationFailed("must name a field (or nothing) for every column", field="mapping")
    fields = COLUMNS[kind]
    out: dict[int, str] = {}
    seen: dict[str, int] = {}
    for index, fld in enumerate(mapping):
        if fld in ("", None):
            continue
        if not isinstance(fld, str) or fld not in fields:
            raise ValidationFailed(f"column {index + 1}: unknown field", field="mapping")
        if fld in seen:
            raise ValidationFailed(
                f"columns {_label(header, seen[fld])} and {_label(header, index)} "
                f"both hold {fld}: map one of them to nothing",
                field="mapping",
            )
        seen[fld] = index
        out[index] = fld
    missing = [
        " or ".join(group) for group in _REQUIRED[kind] if not any(fld in seen for fld in group)
    ]
    if missing:
        raise ValidationFailed(
            "no column holds " + ", ".join(missing) + " (the first row must name the columns)",
            field="mapping",
        )
    return out


_REQUIRED: dict[Kind, tuple[tuple[str, ...], ...]] = {
    "firms": (("name",),),
    "traders": (("firm_name", "firm_lei"), ("name",), ("email",)),
}


def _label(header: Sequence[str], index: int) -> str:
    name = header[index] if index < len(header) else ""
    return f'{index + 1} ("{name}")' if name else str(index + 1)


def row_values(cells: Sequence[str], mapping: Mapping[int, str]) -> dict[str, str]:
    """The mapped cells of one row, trimmed, apostrophe-escaping removed; missing cells are ""."""
    return {
        fld: unescape_cell(cells[i].strip()) if i < len(cells) else "" for i, fld in mapping.items()
    }
