"""CSV files a brokerage moving in would bring: firms, then their traders, generated the same way
for the same seed (so every run imports the same bytes).

Names carry a word the seeded book never uses ("Arrival"), so they never clash with it; every
firm row is valid (a real LEI with its check digits, a phone number, an active broker), and a
few rows in every thousand are wrong on purpose (a duplicate name, a bad email), as in a real
file, so the importer's checks run on real work.
"""

from __future__ import annotations

import random
from pathlib import Path

from brm_app.services.bulk.csv_format import csv_text

_HEADS = (
    "Aldgate", "Beacon", "Cedar", "Dover", "Elm", "Fenwick", "Granite", "Harbour", "Ivory",
    "Juniper", "Kestrel", "Linden", "Meridian", "Norland", "Oakley", "Pemberton", "Quarry",
    "Ravens", "Sterling", "Tamar", "Upton", "Vale", "Westgate", "Yarrow",
)  # fmt: skip
_CORES = ("Capital", "Asset Management", "Securities", "Investments", "Advisors", "Funds")
_CITIES = (("London", "GB"), ("Paris", "FR"), ("Frankfurt", "DE"), ("Zurich", "CH"))
_FIRST = ("Ada", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gia", "Hugo", "Ines", "Jon", "Kai", "Lea")
_LAST = ("Archer", "Baker", "Carter", "Dalton", "Ellis", "Foster", "Grant", "Hayes", "Irwin")
_ROLES = ("Portfolio Manager", "Analyst", "Trader", "Head of Desk", "Operations")
_STATUSES = ("Prospect", "Active", "Inactive")
FIRM_HEADER = (
    "name", "lei", "street", "city", "postal_code", "country", "phone", "email", "website",
    "account_status", "tier", "notes", "primary_broker_email", "secondary_broker_emails",
)  # fmt: skip
TRADER_HEADER = ("firm_name", "name", "email", "phone", "role", "permissions", "status")
# One row in this many is wrong on purpose (a repeated firm, an unusable email).
BAD_EVERY = 500


def lei(base18: str) -> str:
    """A valid LEI: 18 characters and their ISO 7064 MOD 97-10 check digits."""
    digits = int("".join(str(int(ch, 36)) for ch in base18 + "00"))
    return f"{base18}{98 - digits % 97:02d}"


def firm_name(i: int) -> str:
    return f"{_HEADS[i % len(_HEADS)]} {_CORES[i // len(_HEADS) % len(_CORES)]} Arrival {i:06d}"


def firms_csv(rows: int, brokers: list[str], seed: int = 1) -> str:
    """`rows` firm rows; the primary broker of each is one of `brokers` (emails)."""
    rng = random.Random(seed)
    out: list[list[str]] = [list(FIRM_HEADER)]
    for i in range(rows):
        city, country = _CITIES[i % len(_CITIES)]
        name = firm_name(i)
        if i % BAD_EVERY == BAD_EVERY - 1:
            name = firm_name(i - 1).upper()  # a duplicate of the row before (ignoring case)
        secondary = rng.sample(brokers, 2) if len(brokers) > 2 and i % 4 == 0 else []
        primary = rng.choice(brokers)
        out.append(
            [
                name,
                lei(f"ARRV{i:014d}"),
                f"{1 + i % 200} King Street",
                city,
                f"EC{i % 10}V {i % 9}AB",
                country,
                f"+44 20 7{i % 1000:03d} {i % 10000:04d}",
                f"desk{i}@arrival{i}.example",
                f"https://arrival{i}.example",
                _STATUSES[i % len(_STATUSES)],
                "ABC"[i % 3],
                "Moved in with the book" if i % 10 == 0 else "",
                primary,
                ";".join(b for b in secondary if b != primary),
            ]
        )
    return csv_text(out)


def traders_csv(firms: int, per_firm: int, seed: int = 1) -> str:
    """`per_firm` traders at each of the first `firms` firms of firms_csv (by name)."""
    rng = random.Random(seed + 1)
    out: list[list[str]] = [list(TRADER_HEADER)]
    n = 0
    for f in range(firms):
        if f % BAD_EVERY == BAD_EVERY - 1:
            f -= 1  # that firm row was a duplicate: its traders go to the firm it repeated
        for k in range(per_firm):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first.lower()}.{last.lower()}{n}@arrival{f}.example"
            if n % BAD_EVERY == BAD_EVERY - 1:
                email = f"{first.lower()} at arrival{f}"  # not an email address
            out.append(
                [
                    firm_name(f),
                    f"{first} {last}",
                    email,
                    f"+44 7911 {n % 300000:06d}" if k % 2 == 0 else "",
                    _ROLES[n % len(_ROLES)],
                    "receive_email;view_portfolio" if k % 3 == 0 else "receive_email",
                    "left" if n % 20 == 19 else "active",
                ]
            )
            n += 1
    return csv_text(out)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
