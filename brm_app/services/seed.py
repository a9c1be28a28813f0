"""Bulk synthetic data: a large, realistic book of firms, traders and coverage, and its activity
(interactions and follow-ups), loaded fast.

For demos at scale (`brm demo load --firms N`) and the benchmarks (`python -m bench`). Rows are
generated deterministically from a seed and written with SQLAlchemy Core executemany in large
batches (not the per-row services: 600,000 rows through them would take an hour). What the services
would otherwise guarantee is kept here by construction:
- firm names are unique ignoring case and spacing (also against firms already present), LEIs are
  unique and carry valid ISO 17442 check digits; phones are E.164; countries ISO 3166;
- trader names and emails are unique within their firm; roles come from the built-in list;
- every firm has exactly one primary broker (from a pool of broker users), some have secondaries;
- the search index stays consistent (SQLite FTS5 / PostgreSQL GIN, see `_search_index_rebuilt`);
- interactions (`bulk_load_activity`) involve traders of one firm, are logged by a broker who
  covers it with a type and outcome the configuration allows, and carry their version-1 row with
  the JSON the service saves; follow-ups go to a covering broker with the default reminders, and
  what would have fired by the plan's anchor date has fired;
- one audit event summarises each load (not one per row).
Everything happens in the caller's single write transaction: a failure leaves nothing behind.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
import string
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic_core import PydanticUndefined
from sqlmodel import Session, SQLModel

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.passwords import generate_password, hash_password
from brm_app.encryption import get_keyring
from brm_app.encryption.columns import BLIND_INDEXES, ENCRYPTED, new_row_key, open_row, seal_row
from brm_app.models.fields import name_key
from brm_app.models.firm import AccountStatus, CoverageRole, Firm, FirmCoverage, Tier
from brm_app.models.follow_up import FollowUp, FollowUpStatus, FollowUpTrader, Reminder
from brm_app.models.interaction import Interaction, InteractionTrader, InteractionVersion
from brm_app.models.trader import BUILT_IN_ROLES, Trader, TraderStatus
from brm_app.models.user import Role, User, email_index
from brm_app.services import audit
from brm_app.services.brokers import active_broker
from brm_app.services.drafts import table as drafts_table

SearchIndexMode = Literal["auto", "triggers", "rebuild"]

# Fixed, so that one seed always gives the same rows (timestamps included).
DEFAULT_ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
SEED_BROKER_DOMAIN = "brokersync.example"
MAX_TRADERS_PER_FIRM = 500
# A pool of brokers proportional to the book: one broker per this many firms (at least 3).
FIRMS_PER_BROKER = 200


@dataclass(frozen=True)
class SeedPlan:
    firms: int
    traders_per_firm: int = 5
    # Size of the broker pool coverage is drawn from; None: one per FIRMS_PER_BROKER firms.
    brokers: int | None = None
    seed: int = 1
    lei_share: float = 0.4
    secondary_share: float = 0.3
    batch_firms: int = 5_000
    # How the search index is kept: SQLite's FTS triggers row by row, or dropped and rebuilt
    # once at the end ("auto": rebuild on SQLite when the load at least doubles the book).
    search_index: SearchIndexMode = "auto"
    # Refresh the planner's statistics afterwards (a bulk load changes the tables' shape).
    analyze: bool = True
    anchor: datetime = DEFAULT_ANCHOR
    # The password of the brokers created here (None: a random one, answered once in the result).
    broker_password: str | None = None

    def broker_pool_size(self) -> int:
        if self.brokers is not None:
            return self.brokers
        return max(3, math.ceil(self.firms / FIRMS_PER_BROKER))


@dataclass
class SeedResult:
    firms: int = 0
    traders: int = 0
    coverage: int = 0
    brokers: int = 0
    brokers_created: int = 0
    # Shared by the brokers created here (None when none were): shown once by the caller.
    broker_password: str | None = None
    first_firm_id: int | None = None
    last_firm_id: int | None = None
    search_index: str = ""
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)


# ---- vocabulary --------------------------------------------------------------------------------


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(sep) if w.strip())


_NAME_HEADS = _words(
    "Aldgate Ashford Bedford Belgrave Birchwood Blackwater Bluestone Bramley Brookfield Cabot "
    "Calder Carrington Castlegate Cedar Chalkhill Chesterton Clarendon Cobalt Copperfield "
    "Cornhill Crescent Crown Dalton Drake Dunmore Eastgate Elmstead Emerald Everest Fairfax Falcon "
    "Fenwick Fleet Foxhall Garnet Glenmore Granite Greyfriars Halcyon Hamilton Harbour Hartwell "
    "Hawthorn Heron Highgate Holborn Hudson Ironbridge Ivybridge Juniper Kestrel Kingsway "
    "Lambert Lancaster Larchmont Ledgerwood Linden Lombard Ludgate Maple Marlow Mayfair Meridian "
    "Milton Monarch Moorgate Northbridge Northgate Oakridge Onyx Orchard Osprey Pembroke "
    "Pinecrest Portland Quayside Ravenscroft Redwood Regent Richmond Riverside Rowan Saffron "
    "Salisbury Sterling Stonebridge Summit Tamar Thames Thornbury Tower Trafalgar Tudor Vale "
    "Vantage Vauxhall Walbrook Waterloo Wellington Westbury Whitehall Willow Windsor Wren "
    "Yarrow Zenith Albion Aurora Beacon Bishopsgate Caledonia Cheapside Cygnet Dorset Everton"
)
_NAME_CORES = _words(
    "Capital|Asset Management|Investments|Securities|Advisors|Wealth|Global Investors|Funds|"
    "Equity|Holdings|Trading|Markets|Credit|Income|Alpha|Macro|Value Partners|Growth|Quant|"
    "Strategic|Pension Fund|Insurance|Bank|Trust|Family Office|Fixed Income|Treasury|Endowment|"
    "Risk Partners|Ventures|Private Capital|Investment Managers|Fund Services|Brokerage",
    "|",
)
_NAME_TAILS = ("", "", "", "Management", "Partners", "Group", "International", "Europe", "Asia")
_ROMAN = ("II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")

_STREETS = _words(
    "High Street|King Street|Queen Street|Market Street|Bridge Road|Church Lane|Mill Lane|"
    "Harbour Road|Station Road|Park Avenue|Broad Street|Old Broad Street|Bank Street|Lime Street|"
    "Wall Street|Water Street|Main Street|Fleet Street|Cannon Street|Exchange Square|"
    "Canal Street|Ship Street|Victoria Embankment|Finsbury Circus|Grand Parade",
    "|",
)


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10**n)).zfill(n)


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_uppercase, k=n))


# (country, city, weight, legal suffixes, phone prefix, phone digits, postal code maker).
# Phone prefixes are city dialling codes whose numbers phonenumbers accepts as valid E.164
# (checked by the tests); the first digit after the prefix is never 0 or 1.
_Place = tuple[str, str, int, tuple[str, ...], str, int, object]
_PLACES: tuple[_Place, ...] = (
    (
        "GB",
        "London",
        20,
        ("Ltd", "LLP", "plc", "Limited"),
        "+44207",
        7,
        lambda r: f"EC{r.randint(1, 4)}{_letters(r, 1)} {r.randint(1, 9)}{_letters(r, 2)}",
    ),
    ("US", "New York", 16, ("LLC", "Inc.", "LP"), "+1212", 7, lambda r: f"100{_digits(r, 2)}"),
    ("US", "Chicago", 4, ("LLC", "Inc."), "+1312", 7, lambda r: f"606{_digits(r, 2)}"),
    ("US", "Boston", 4, ("LLC", "Inc.", "LP"), "+1617", 7, lambda r: f"021{_digits(r, 2)}"),
    ("DE", "Frankfurt am Main", 6, ("GmbH", "AG"), "+4969", 8, lambda r: f"603{_digits(r, 2)}"),
    ("FR", "Paris", 6, ("SA", "SAS"), "+331", 8, lambda r: f"750{r.randint(1, 20):02d}"),
    ("CH", "Zurich", 5, ("AG", "SA"), "+4144", 7, lambda r: f"80{_digits(r, 2)}"),
    (
        "NL",
        "Amsterdam",
        3,
        ("B.V.", "N.V."),
        "+3120",
        7,
        lambda r: f"10{_digits(r, 2)} {_letters(r, 2)}",
    ),
    ("JP", "Tokyo", 4, ("K.K.",), "+813", 8, lambda r: f"100-{_digits(r, 4)}"),
    ("SG", "Singapore", 4, ("Pte. Ltd.",), "+6563", 6, lambda r: f"0{_digits(r, 5)}"),
    (
        "IE",
        "Dublin",
        3,
        ("DAC", "Ltd", "ICAV"),
        "+3531",
        7,
        lambda r: f"D0{r.randint(1, 9)} {_letters(r, 1)}{_digits(r, 3)}",
    ),
    ("IT", "Milan", 3, ("S.p.A.", "S.r.l."), "+3902", 8, lambda r: f"201{_digits(r, 2)}"),
    ("ES", "Madrid", 3, ("S.A.", "S.L."), "+3491", 7, lambda r: f"280{_digits(r, 2)}"),
    ("AU", "Sydney", 3, ("Pty Ltd",), "+6129", 7, lambda r: f"2{r.randint(0, 2)}{_digits(r, 2)}"),
    (
        "CA",
        "Toronto",
        4,
        ("Inc.", "Ltd."),
        "+1416",
        7,
        lambda r: f"M5{_letters(r, 1)} {r.randint(1, 9)}{_letters(r, 1)}{r.randint(1, 9)}",
    ),
    ("AE", "Dubai", 2, ("LLC", "Ltd"), "+97143", 6, lambda r: None),
    ("SE", "Stockholm", 2, ("AB",), "+468", 8, lambda r: f"111 {_digits(r, 2)}"),
    (
        "LU",
        "Luxembourg",
        3,
        ("S.A.", "S.à r.l."),
        "+35226",
        6,
        lambda r: f"L-{r.randint(1, 2)}{_digits(r, 3)}",
    ),
)
_PLACE_CUM = tuple(itertools.accumulate(p[2] for p in _PLACES))

_FIRST_NAMES = _words(
    "Aaron Abigail Adam Aisha Alejandro Alice Amelia Ana Andrea Anil Anna Arjun Ben Bianca "
    "Carla Carlos Charlotte Chen Chloe Chris Daniel David Diego Elena Elif Emily Emma Ethan "
    "Fatima Felix Fiona Freya George Grace Hannah Hans Harry Hiro Isabel Isaac Jack James Jana "
    "Javier Jessica John Jonas Julia Kai Karim Kate Kenji Laura Leo Liam Lina Lucas Lucy Maria "
    "Mark Marta Matteo Mei Mia Michael Nadia Noah Nora Oliver Olivia Omar Paul Priya Rachel Raj "
    "Rosa Ryan Sara Sean Sofia Sophie Stefan Tom Valentina Victor William Yara Yuki Zara Zoe"
)
_LAST_NAMES = _words(
    "Adams|Ahmed|Andersen|Bauer|Becker|Bennett|Brown|Campbell|Castro|Chen|Clarke|Costa|"
    "Davies|Dubois|Evans|Fernandes|Fischer|Fontaine|Garcia|Gonzalez|Green|Gupta|Hall|"
    "Hansen|Harris|Hughes|Ito|Jackson|Jansen|Johnson|Jones|Kaur|Khan|Kim|Klein|Kowalski|"
    "Larsen|Lee|Lewis|Lindqvist|Lopez|Martin|Meyer|Moreau|Morgan|Muller|Murphy|Nakamura|"
    "Nguyen|Novak|Okafor|O'Brien|Patel|Perez|Petrov|Quinn|Rahman|Raman|Ricci|Roberts|Rossi|"
    "Russo|Sato|Schmidt|Schneider|Silva|Singh|Smith|Sorensen|Suzuki|Tanaka|Taylor|Thomas|"
    "Thompson|Tran|Walker|Wang|Weber|White|Williams|Wilson|Wong|Wright|Young|Zhang|Ziegler|"
    "van Dijk|de Jong|García|Müller|Åberg|Nuñez",
    "|",
)
_ROLE_CUM = tuple(itertools.accumulate((15, 20, 40, 8, 17)))  # over BUILT_IN_ROLES
_STATUS_CHOICES = (
    AccountStatus.ACTIVE.value,
    AccountStatus.PROSPECT.value,
    AccountStatus.INACTIVE.value,
    AccountStatus.SUSPENDED.value,
)
_STATUS_CUM = tuple(itertools.accumulate((55, 25, 15, 5)))
_TIER_CHOICES = (Tier.A.value, Tier.B.value, Tier.C.value)
_TIER_CUM = tuple(itertools.accumulate((15, 35, 50)))

# Words of firm names, for callers that want a realistic search term (the benchmarks).
NAME_HEADS: tuple[str, ...] = tuple(_NAME_HEADS)


# ---- LEIs ----------------------------------------------------------------------------------------


def lei_with_check_digits(base18: str) -> str:
    """ISO 17442: append the two ISO 7064 MOD 97-10 check digits to an 18-character base."""
    digits = "".join(str(int(ch, 36)) for ch in base18 + "00")
    return f"{base18}{98 - int(digits) % 97:02d}"


_LOUS = ("5493", "2138", "5299", "7245", "8156", "9695", "3912", "6354")


def _lei(rng: random.Random) -> str:
    # A real LOU prefix, the reserved "00", 12 entity characters, 2 check digits.
    entity = "".join(rng.choices(string.digits + string.ascii_uppercase, k=12))
    return lei_with_check_digits(rng.choice(_LOUS) + "00" + entity)


# ---- row generation (pure, deterministic) -------------------------------------------------------


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


@functools.cache
def _email_local(first: str, last: str) -> str:
    return _slug([first]) + "." + _slug(last.split())


def _slug(words: list[str]) -> str:
    return "-".join(_ascii(w).lower().strip(".") for w in words if w.strip(".")).replace("'", "")


class BookGenerator:
    """Makes the rows of a synthetic book; names and LEIs already taken are passed in."""

    def __init__(
        self,
        plan: SeedPlan,
        *,
        taken_names: set[str],
        taken_leis: set[str],
        taken_broker_emails: set[str] | None = None,
    ):
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.taken_names = taken_names
        self.taken_leis = taken_leis
        self.taken_broker_emails = taken_broker_emails or set()

    def _firm_name(self, place: _Place) -> str:
        rng = self.rng
        for _ in range(8):
            words = [rng.choice(_NAME_HEADS)]
            if rng.random() < 0.25:
                words.append(rng.choice(_NAME_HEADS))
            words.append(rng.choice(_NAME_CORES))
            tail = rng.choice(_NAME_TAILS)
            if tail:
                words.append(tail)
            words.append(rng.choice(place[3]))
            name = " ".join(words)
            if name_key(name) not in self.taken_names:
                return name
        # A crowded corner of the name space: number the fund ("... II", then "... 11" onwards).
        base = " ".join(words[:-1])
        for n in range(len(_ROMAN) + 1, 10**9):
            numeral = _ROMAN[n - len(_ROMAN) - 1] if n <= 2 * len(_ROMAN) else str(n)
            name = f"{base} {numeral} {words[-1]}"
            if name_key(name) not in self.taken_names:
                return name
        raise RuntimeError("unreachable")

    def _phone(self, place: _Place) -> str:
        rng = self.rng
        return f"{place[4]}{rng.randint(2, 9)}{_digits(rng, place[5] - 1)}"

    def firm_row(self, firm_id: int) -> dict:
        rng = self.rng
        place = rng.choices(_PLACES, cum_weights=_PLACE_CUM)[0]
        name = self._firm_name(place)
        key = name_key(name)
        self.taken_names.add(key)
        lei = None
        if rng.random() < self.plan.lei_share:
            lei = _lei(rng)
            while lei in self.taken_leis:
                lei = _lei(rng)
            self.taken_leis.add(lei)
        domain = f"{_slug(name.split()[:2])}.example"
        created = self.plan.anchor - timedelta(seconds=rng.randint(86_400, 5 * 365 * 86_400))
        updated = created + timedelta(
            seconds=rng.randint(0, int((self.plan.anchor - created).total_seconds()))
        )
        has_contact = rng.random() < 0.9
        return {
            "id": firm_id,
            "name": name,
            "name_key": key,
            "lei": lei,
            "street": f"{rng.randint(1, 250)} {rng.choice(_STREETS)}",
            "city": place[1],
            "postal_code": place[6](rng),
            "country": place[0],
            "phone": self._phone(place) if has_contact else None,
            "email": f"info@{domain}" if has_contact else None,
            "website": f"https://www.{domain}" if rng.random() < 0.8 else None,
            "account_status": rng.choices(_STATUS_CHOICES, cum_weights=_STATUS_CUM)[0],
            "tier": rng.choices(_TIER_CHOICES, cum_weights=_TIER_CUM)[0],
            "notes": None,
            "created_at": created,
            "updated_at": updated,
            "created_by_id": None,
            "archived_at": None,
            "merged_into_id": None,
            # Not a column: what the traders of this firm need.
            "_place": place,
            "_domain": domain,
        }

    def trader_counts(self, n_firms: int) -> list[int]:
        """Per-firm trader counts that vary (pairs of firms at M+k and M-k, never 0) and sum to n * M."""
        m, rng = self.plan.traders_per_firm, self.rng
        counts = []
        for _ in range(n_firms // 2):
            k = rng.randint(0, min(m - 1, 3)) if m else 0
            counts += [m + k, m - k]
        if n_firms % 2:
            counts.append(m)
        return counts

    def trader_rows(self, firm: dict, count: int, first_id: int) -> list[dict]:
        rng = self.rng
        # "Garcia" and "García" are two names but one email: both must be unique in the firm.
        seen: set[str] = set()
        rows = []
        for i in range(count):
            person = (rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES))
            while _email_local(*person) in seen:
                person = (rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES))
            seen.add(_email_local(*person))
            name = f"{person[0]} {person[1]}"
            created = firm["created_at"] + timedelta(
                seconds=rng.randint(0, int((self.plan.anchor - firm["created_at"]).total_seconds()))
            )
            left = rng.random() < 0.08
            rows.append(
                {
                    "id": first_id + i,
                    "firm_id": firm["id"],
                    "name": name,
                    "name_key": name_key(name),
                    "email": f"{_email_local(*person)}@{firm['_domain']}",
                    "phone": self._phone(firm["_place"]) if rng.random() < 0.7 else None,
                    "role": rng.choices(BUILT_IN_ROLES, cum_weights=_ROLE_CUM)[0],
                    "portal_access": False,
                    "view_portfolio": rng.random() < 0.2,
                    "receive_email": not left and rng.random() < 0.9,
                    "receive_sms": rng.random() < 0.15,
                    "status": (TraderStatus.LEFT if left else TraderStatus.ACTIVE).value,
                    "user_id": None,
                    "created_at": created,
                    "updated_at": created,
                    "archived_at": None,
                    "merged_into_id": None,
                }
            )
        return rows

    def coverage_rows(self, firm: dict, brokers: list[int]) -> list[dict]:
        rng = self.rng
        primary = rng.choice(brokers)
        rows = [(primary, CoverageRole.PRIMARY.value)]
        if len(brokers) > 1 and rng.random() < self.plan.secondary_share:
            others = rng.sample(brokers, k=min(len(brokers), 3))
            rows += [(b, CoverageRole.SECONDARY.value) for b in others if b != primary][:2]
        return [
            {
                "firm_id": firm["id"],
                "broker_id": b,
                "role": role,
                "assigned_at": firm["created_at"],
                "assigned_by_id": None,
            }
            for b, role in rows
        ]

    def broker_rows(self, count: int, *, password_hash: str, manager_id: int | None) -> list[dict]:
        rng, now = self.rng, self.plan.anchor
        rows = []
        n = 0
        while len(rows) < count:
            n += 1
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            email = f"{_email_local(first, last)}.{n:04d}@{SEED_BROKER_DOMAIN}"
            if email in self.taken_broker_emails:
                continue
            self.taken_broker_emails.add(email)
            rows.append(
                {
                    "email": email,
                    "name": f"{first} {last}",
                    "role": Role.BROKER.value,
                    "password_hash": password_hash,
                    "is_active": True,
                    "manager_id": manager_id,
                    "credentials_changed_at": now,
                    "created_at": now,
                    "updated_at": now,
                    "last_login_at": None,
                }
            )
        return rows


# ---- writing -------------------------------------------------------------------------------------


def _defaults(model: type[SQLModel], given: dict) -> dict:
    """Every other column of `model`'s table at the model's default (columns added by later
    modules get their default here, as they would through the services)."""
    out = {}
    for column in model.__table__.columns:
        if column.name in given or column.primary_key:
            continue
        info = model.model_fields.get(column.name)
        if info is None:
            out[column.name] = None
        elif info.default_factory is not None:
            out[column.name] = info.default_factory()
        else:
            out[column.name] = None if info.default is PydanticUndefined else info.default
    return out


def _as_rows(model: type[SQLModel], rows: list[dict]) -> list[dict]:
    """Rows holding exactly the table's columns: ours, then the defaults for the rest."""
    if not rows:
        return rows
    columns = {c.name for c in model.__table__.columns}
    rest = _defaults(model, rows[0])
    out = [{**{k: v for k, v in r.items() if k in columns}, **rest} for r in rows]
    table = drafts_table(model).name
    if table not in ENCRYPTED:
        return out
    # Each row its own row_key (the defaults above are shared), its values encrypted.
    given = "row_key" in rows[0]
    return [seal_row(table, r if given else {**r, "row_key": new_row_key()}) for r in out]


def _sealed(table: sa.Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a table with encrypted columns (no blind index): each its own row_key, its
    values sealed. The seeder's hot path: the ring looked up once, not per value."""
    name, ring = table.name, get_keyring()
    columns = ENCRYPTED[name]
    assert not BLIND_INDEXES.get(name), name
    out = []
    for r in rows:
        row_key = new_row_key()
        sealed = {**r, "row_key": row_key}
        for c in columns:
            value = r.get(c)
            if isinstance(value, str):
                sealed[c] = ring.seal(name, c, row_key, value)
        out.append(sealed)
    return out


def _next_id(conn: sa.Connection, table: sa.Table) -> int:
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one() + 1


def _advance_sequence(conn: sa.Connection, table: sa.Table) -> None:
    """PostgreSQL: explicit ids do not move the serial's sequence; move it past them."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
            f"(SELECT max(id) FROM {table.name}))"
        )


def _broker_pool(
    conn: sa.Connection, gen: BookGenerator, plan: SeedPlan, result: SeedResult
) -> list[int]:
    """Active brokers (existing first); brokers are created to fill the pool up to its size."""
    users = User.__table__
    wanted = plan.broker_pool_size()
    existing = list(
        conn.execute(
            sa.select(users.c.id).where(active_broker()).order_by(users.c.id).limit(wanted)
        ).scalars()
    )
    missing = wanted - len(existing)
    if missing <= 0:
        return existing
    # Emails are encrypted: opened (users are few next to the book this loads).
    gen.taken_broker_emails.update(
        open_row("users", row, ("email",))["email"]
        for row in conn.execute(sa.select(users.c.row_key, users.c.email))
    )
    manager_id = conn.execute(
        sa.select(users.c.id)
        .where(users.c.role == Role.MANAGER.value, users.c.is_active.is_(True))
        .order_by(users.c.id)
        .limit(1)
    ).scalar_one_or_none()
    password = plan.broker_password or generate_password()
    rows = gen.broker_rows(missing, password_hash=hash_password(password), manager_id=manager_id)
    conn.execute(users.insert(), _as_rows(User, rows))
    created = list(
        conn.execute(
            sa.select(users.c.id).where(
                users.c.email_bidx.in_([email_index(r["email"]) for r in rows])
            )
        ).scalars()
    )
    result.brokers_created, result.broker_password = len(created), password
    return existing + created


def _analyze(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """Fresh planner statistics: on SQLite, without them an equality on `archived_at` (NULL in
    every live row) looks selective and a search counts by scanning the whole firms index."""
    for table in tables:
        conn.exec_driver_sql(f"ANALYZE {table.name}")


def _use_rebuild(conn: sa.Connection, mode: SearchIndexMode, adding: int, existing: int) -> bool:
    """Measured on SQLite (20,000 firms + 100,000 traders): inserting through the FTS triggers
    took 6.9 s for the traders, dropping them and rebuilding once 2.5 s + 0.2 s. A rebuild
    re-reads every row, so "auto" rebuilds only when the load at least doubles the book. On
    PostgreSQL rebuilding the GIN indexes saved nothing and would lock the tables: keep them."""
    if mode == "auto":
        return conn.dialect.name == "sqlite" and adding >= existing
    return mode == "rebuild"


@contextmanager
def _search_index_rebuilt(conn: sa.Connection, rebuild: bool) -> Iterator[None]:
    """Drop the search index (SQLite: FTS tables and their triggers; PostgreSQL: GIN indexes) for
    the load and build it again once at the end, with the very DDL the migrations use."""
    if not rebuild:
        yield
        return
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from brm_app import search_ddl

    ops_context = MigrationContext.configure(conn)
    with Operations.context(ops_context):
        search_ddl.drop()
    yield
    with Operations.context(ops_context):
        # Recreates the tables and the exact triggers, then indexes every row ('rebuild').
        search_ddl.create()


@contextmanager
def _bulk_pragmas(conn: sa.Connection) -> Iterator[None]:
    """SQLite: a larger page cache for the index inserts of this one load (reset after)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


def bulk_load(
    db: Session,
    plan: SeedPlan,
    *,
    actor: Actor | SystemActor | None = None,
    progress=None,
) -> SeedResult:
    """Add `plan.firms` firms, about `traders_per_firm` traders each, and their coverage.

    Runs in the caller's transaction (open it with `unit_of_work(write=True)`).
    `progress(done_firms, total_firms)` is called after each batch when given.
    """
    if plan.firms < 0 or not 0 <= plan.traders_per_firm <= MAX_TRADERS_PER_FIRM:
        raise ValueError(f"firms must be >= 0 and traders per firm 0..{MAX_TRADERS_PER_FIRM}")
    if plan.broker_pool_size() < 1:
        raise ValueError("coverage needs at least one broker")
    actor = actor or SystemActor(label="system:seed")
    started = time.perf_counter()
    result = SeedResult()
    conn = db.connection()
    firms_t, traders_t, coverage_t = Firm.__table__, Trader.__table__, FirmCoverage.__table__

    def step(name: str, since: float) -> float:
        now = time.perf_counter()
        result.steps[name] = result.steps.get(name, 0.0) + (now - since)
        return now

    t = time.perf_counter()
    gen = BookGenerator(
        plan,
        taken_names=set(conn.execute(sa.select(firms_t.c.name_key)).scalars()),
        taken_leis=set(
            conn.execute(sa.select(firms_t.c.lei).where(firms_t.c.lei.is_not(None))).scalars()
        ),
    )
    brokers = _broker_pool(conn, gen, plan, result)
    result.brokers = len(brokers)
    next_firm, next_trader = _next_id(conn, firms_t), _next_id(conn, traders_t)
    counts = gen.trader_counts(plan.firms)
    t = step("prepare", t)

    rebuild = _use_rebuild(conn, plan.search_index, plan.firms, len(gen.taken_names))
    result.search_index = "rebuild" if rebuild else "triggers"
    with _bulk_pragmas(conn), _search_index_rebuilt(conn, rebuild):
        t = step("search index drop", t)
        done = 0
        while done < plan.firms:
            n = min(plan.batch_firms, plan.firms - done)
            firm_rows = [gen.firm_row(next_firm + i) for i in range(n)]
            trader_rows: list[dict] = []
            coverage_rows: list[dict] = []
            for i, firm in enumerate(firm_rows):
                trader_rows += gen.trader_rows(firm, counts[done + i], next_trader)
                next_trader += counts[done + i]
                coverage_rows += gen.coverage_rows(firm, brokers)
            t = step("generate", t)
            conn.execute(firms_t.insert(), _as_rows(Firm, firm_rows))
            t = step("insert firms", t)
            if trader_rows:
                conn.execute(traders_t.insert(), _as_rows(Trader, trader_rows))
            t = step("insert traders", t)
            conn.execute(coverage_t.insert(), _as_rows(FirmCoverage, coverage_rows))
            t = step("insert coverage", t)
            result.traders += len(trader_rows)
            result.coverage += len(coverage_rows)
            next_firm += n
            done += n
            if progress is not None:
                progress(done, plan.firms)
    t = step("search index rebuild" if rebuild else "search index (triggers)", t)
    if plan.firms:
        result.firms = plan.firms
        result.last_firm_id = next_firm - 1
        result.first_firm_id = next_firm - plan.firms
        _advance_sequence(conn, firms_t)
        _advance_sequence(conn, traders_t)
    if plan.analyze and plan.firms:
        _analyze(conn, [firms_t, traders_t, coverage_t, User.__table__])
        t = step("analyze", t)
    result.seconds = time.perf_counter() - started
    audit.record(
        db,
        actor=actor,
        action="seed.bulk_loaded",
        entity="firm",
        changes={
            "firms": result.firms,
            "traders": result.traders,
            "coverage_rows": result.coverage,
            "firm_ids": [result.first_firm_id, result.last_firm_id],
            "broker_pool": result.brokers,
            "brokers_created": result.brokers_created,
            "seed": plan.seed,
            "traders_per_firm": plan.traders_per_firm,
            "search_index": result.search_index,
            "seconds": round(result.seconds, 2),
        },
    )
    return result


# ---- interactions and follow-ups -----------------------------------------------------------------


@dataclass(frozen=True)
class ActivityPlan:
    """Interactions and follow-ups for the book already in the database (see `bulk_load_activity`)."""

    interactions: int = 2_000_000
    open_follow_ups: int = 100_000
    done_follow_ups: int = 4_000
    seed: int = 1
    # Interactions fall on the days before the anchor, this many of them.
    days: int = 3 * 365
    # Of the open follow-ups, this share is overdue at the anchor; the rest fall due later.
    overdue_share: float = 0.12
    # Reminders that fell due before the anchor have fired, except the latest `due_reminders`:
    # what the scheduler finds due when it runs at the anchor after a pause.
    due_reminders: int = 100
    two_trader_share: float = 0.25
    voided_share: float = 0.001
    batch: int = 25_000
    analyze: bool = True
    anchor: datetime = DEFAULT_ANCHOR


@dataclass
class ActivityResult:
    interactions: int = 0
    interaction_traders: int = 0
    voided: int = 0
    first_interaction_id: int | None = None
    last_interaction_id: int | None = None
    firms_with_interactions: int = 0
    follow_ups_open: int = 0
    follow_ups_overdue: int = 0
    follow_ups_done: int = 0
    reminders: int = 0
    # Not fired yet; of those, due at the anchor.
    reminders_pending: int = 0
    reminders_due: int = 0
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)


# The time zone an interaction with a firm in this city is logged in.
_CITY_ZONES = {
    "London": "Europe/London",
    "New York": "America/New_York",
    "Chicago": "America/Chicago",
    "Boston": "America/New_York",
    "Frankfurt am Main": "Europe/Berlin",
    "Paris": "Europe/Paris",
    "Zurich": "Europe/Zurich",
    "Amsterdam": "Europe/Amsterdam",
    "Tokyo": "Asia/Tokyo",
    "Singapore": "Asia/Singapore",
    "Dublin": "Europe/Dublin",
    "Milan": "Europe/Rome",
    "Madrid": "Europe/Madrid",
    "Sydney": "Australia/Sydney",
    "Toronto": "America/Toronto",
    "Dubai": "Asia/Dubai",
    "Stockholm": "Europe/Stockholm",
    "Luxembourg": "Europe/Luxembourg",
}
# How often each built-in type is logged, and each outcome given (only pairs the configuration
# allows are drawn; types and outcomes admins added get weight 1).
_TYPE_WEIGHTS = {
    "Call": 34,
    "Email": 20,
    "Chat": 12,
    "Meeting": 12,
    "Video call": 10,
    "Research request": 7,
    "Conference": 3,
    "Roadshow": 2,
}
_OUTCOME_WEIGHTS = {
    "Positive": 30,
    "Closed": 20,
    "Follow-up required": 16,
    "No answer": 12,
    "Negative": 8,
    "Order placed": 7,
}
# Share of interactions of a type logged without an outcome.
_NO_OUTCOME = {"Email": 0.3, "Chat": 0.4, "Research request": 0.2}
# Minutes (low, high) an interaction of this type lasts; absent: no duration.
_DURATIONS = {
    "Call": (3, 30),
    "Video call": (15, 60),
    "Meeting": (30, 90),
    "Conference": (60, 480),
    "Roadshow": (60, 240),
}
_TOPICS = _words(
    "rates outlook|European equities|US credit|the ECB decision|Fed minutes|Q3 earnings|"
    "new issue pipeline|the block in Siemens|ASML results|emerging markets debt|the yen|"
    "inflation-linked bonds|high yield flows|the Tesla convertible|index rebalancing|"
    "commodities desk|energy transition research|bank capital notes|Japan equities|"
    "covered bonds|FX hedging|the Nestlé placement|small caps|sovereign supply|"
    "volatility trades|dividend futures|the IPO calendar|ESG screening|China reopening|"
    "duration positioning|the Airbus order book|sector rotation|credit default swaps|"
    "the gilt auction|private credit|healthcare names",
    "|",
)
_SUBJECTS = {
    "Call": ("Call re {t}", "Morning call: {t}", "Quick check-in on {t}", "Call about {t}"),
    "Email": ("Sent our note on {t}", "Email: {t}", "Shared the {t} deck"),
    "Chat": ("Bloomberg chat: {t}", "Chat re {t}"),
    "Meeting": ("Meeting on {t}", "Lunch meeting: {t}", "Office visit: {t}"),
    "Video call": ("Video call: {t}", "Teams call on {t}"),
    "Research request": ("Asked for research on {t}", "Research request: {t}"),
    "Conference": ("Met at our conference: {t}", "Conference panel on {t}"),
    "Roadshow": ("Roadshow: {t}", "Roadshow meeting, {t}"),
}
_NOTE_SENTENCES = (
    "Interested in adding exposure before month end.",
    "Wants the full model and our price targets.",
    "Prefers to trade through the algo desk.",
    "Asked to be kept posted on any blocks.",
    "Not active this quarter; check back in the new year.",
    "Compared our pricing with two other brokers.",
    "Happy with execution on the last order.",
    "Raised a settlement issue; passed to operations.",
    "Will bring the portfolio manager next time.",
    "Looking at a switch out of duration.",
)
_FOLLOW_UP_TITLES = (
    "Send the {t} note",
    "Call back about {t}",
    "Set up a meeting on {t}",
    "Share our view on {t}",
    "Check interest in {t}",
    "Follow up on {t}",
)
# Interactions per firm, relative: tier A firms hear from us more, inactive ones rarely.
_TIER_WEIGHTS = {"A": 5.0, "B": 2.0, "C": 1.0}
_STATUS_WEIGHTS = {"active": 1.0, "prospect": 0.5, "inactive": 0.15, "suspended": 0.1}


@dataclass
class _Book:
    """What the activity is drawn from: the live firms with traders and a covering broker."""

    firm_ids: list[int]
    cum_weights: list[float]
    zones: dict[int, object]  # firm -> ZoneInfo
    zone_names: dict[int, str]
    traders: dict[int, list[int]]
    brokers: dict[int, tuple[int, list[int]]]  # firm -> (primary, others)
    type_outcomes: list[tuple[str, list[str], list[float]]]  # type, outcomes, their cum. weights
    type_cum: list[float]
    admin_id: int | None


def _read_book(conn: sa.Connection, db: Session) -> _Book:
    from zoneinfo import ZoneInfo

    from brm_app.services import interaction_config

    firms_t, traders_t, coverage_t = Firm.__table__, Trader.__table__, FirmCoverage.__table__
    users = User.__table__
    traders: dict[int, list[int]] = {}
    for firm_id, trader_id in conn.execute(
        sa.select(traders_t.c.firm_id, traders_t.c.id)
        .where(traders_t.c.archived_at.is_(None))
        .order_by(traders_t.c.firm_id, traders_t.c.id)
    ):
        traders.setdefault(firm_id, []).append(trader_id)
    brokers: dict[int, tuple[int, list[int]]] = {}
    for firm_id, broker_id in conn.execute(
        sa.select(coverage_t.c.firm_id, coverage_t.c.broker_id)
        .join(users, users.c.id == coverage_t.c.broker_id)
        .where(active_broker())
        .order_by(coverage_t.c.firm_id, coverage_t.c.role != CoverageRole.PRIMARY.value)
    ):
        if firm_id in brokers:
            brokers[firm_id][1].append(broker_id)
        else:
            brokers[firm_id] = (broker_id, [])
    firm_ids, weights, zones, zone_names = [], [], {}, {}
    zone_cache: dict[str, object] = {}
    for firm_id, tier, status, city in conn.execute(
        sa.select(firms_t.c.id, firms_t.c.tier, firms_t.c.account_status, firms_t.c.city)
        .where(firms_t.c.archived_at.is_(None))
        .order_by(firms_t.c.id)
    ):
        if firm_id not in traders or firm_id not in brokers:
            continue
        firm_ids.append(firm_id)
        weights.append(_TIER_WEIGHTS.get(tier, 1.0) * _STATUS_WEIGHTS.get(status, 0.5))
        name = _CITY_ZONES.get(city or "", "UTC")
        if name not in zone_cache:
            zone_cache[name] = ZoneInfo(name)
        zones[firm_id], zone_names[firm_id] = zone_cache[name], name
    type_outcomes = []
    for t in interaction_config.config(db):
        w = [_OUTCOME_WEIGHTS.get(o, 1.0) for o in t.outcomes]
        type_outcomes.append((t.name, t.outcomes, list(itertools.accumulate(w))))
    admin_id = conn.execute(
        sa.select(users.c.id)
        .where(users.c.role == Role.ADMIN.value, users.c.is_active.is_(True))
        .order_by(users.c.id)
        .limit(1)
    ).scalar_one_or_none()
    return _Book(
        firm_ids=firm_ids,
        cum_weights=list(itertools.accumulate(weights)),
        zones=zones,
        zone_names=zone_names,
        traders=traders,
        brokers=brokers,
        type_outcomes=type_outcomes,
        type_cum=list(itertools.accumulate(_TYPE_WEIGHTS.get(t, 1.0) for t, _, _ in type_outcomes)),
        admin_id=admin_id,
    )


def _pick(rng: random.Random, cum_weights: list[float]) -> int:
    """The index drawn by weight (random.choices, without its per-call overhead)."""
    return bisect.bisect(cum_weights, rng.random() * cum_weights[-1], 0, len(cum_weights) - 1)


class _VersionSource:
    """The attributes services.interactions._version_json reads from an interaction row."""

    __slots__ = (
        "duration_minutes",
        "firm_id",
        "interaction_type",
        "notes",
        "occurred_at",
        "outcome",
        "subject",
        "time_zone",
    )

    def __init__(self, row: dict):
        for name in self.__slots__:
            setattr(self, name, row[name])


class ActivityGenerator:
    """Makes interaction and follow-up rows for a book (deterministic for a plan and a book)."""

    def __init__(self, plan: ActivityPlan, book: _Book):
        self.plan = plan
        self.book = book
        self.rng = random.Random(plan.seed * 1_000_003 + 7)
        self.anchor_day = plan.anchor.astimezone(UTC).date()
        # firm -> (id, occurred_at) of its latest interaction so far (follow-ups link to it).
        self.latest: dict[int, tuple[int, datetime]] = {}

    # -- time ---------------------------------------------------------------------------------

    def _local(self, firm_id: int, days_back: int, minute_of_day: int) -> datetime:
        day = self.anchor_day - timedelta(days=days_back)
        local = datetime(day.year, day.month, day.day, tzinfo=self.book.zones[firm_id])
        # Wall-clock time of that day (timedelta arithmetic on an aware datetime keeps the zone).
        return (local + timedelta(minutes=minute_of_day)).astimezone(UTC)

    def _business_minute(self, step: int = 1) -> int:
        # 07:30 to 18:30, most around the middle of the day.
        rnd = self.rng.random
        minute = 7 * 60 + 30 + int((rnd() + rnd()) * 5.5 * 60)
        return minute - minute % step

    def _weekday_back(self, low: int, high: int) -> int:
        """Days back from the anchor in [low, high), weekends mostly avoided."""
        rng = self.rng
        days = rng.randrange(low, high)
        for _ in range(3):
            if (self.anchor_day - timedelta(days=days)).weekday() < 5 or rng.random() < 0.1:
                break
            days = rng.randrange(low, high)
        return days

    def _firm(self) -> int:
        return self.book.firm_ids[_pick(self.rng, self.book.cum_weights)]

    def _broker(self, firm_id: int) -> int:
        primary, others = self.book.brokers[firm_id]
        if others and self.rng.random() < 0.2:
            return self.rng.choice(others)
        return primary

    # -- interactions -------------------------------------------------------------------------

    def interaction_rows(
        self, first_id: int, count: int, days_back: tuple[int, int]
    ) -> tuple[list[dict], list[dict], list[dict]]:
        """`count` interactions between `days_back` = (nearest, farthest) days before the anchor,
        numbered in date order from `first_id`; with their version-1 rows and trader links."""
        from brm_app.services.interactions import _version_json

        rng, book, plan = self.rng, self.book, self.plan
        anchor = plan.anchor
        drafts = []
        for _ in range(count):
            firm_id = self._firm()
            itype, outcomes, outcome_cum = book.type_outcomes[_pick(rng, book.type_cum)]
            outcome = None
            if outcomes and rng.random() >= _NO_OUTCOME.get(itype, 0.05):
                outcome = outcomes[_pick(rng, outcome_cum)]
            meeting = itype in _DURATIONS and itype != "Call"
            occurred = self._local(
                firm_id,
                self._weekday_back(*days_back),
                self._business_minute(15 if meeting else 1),
            )
            if occurred >= anchor:
                occurred -= timedelta(days=1)
            span = _DURATIONS.get(itype)
            people = book.traders[firm_id]
            if len(people) > 1 and rng.random() < plan.two_trader_share:
                trader_ids = rng.sample(people, 2)
            else:
                trader_ids = [rng.choice(people)]
            notes = None
            if rng.random() < 0.35:
                notes = " ".join(rng.sample(_NOTE_SENTENCES, rng.randint(1, 2)))
            broker_id = self._broker(firm_id)
            created = min(occurred + timedelta(minutes=rng.randint(1, 240)), anchor)
            row = {
                "firm_id": firm_id,
                "broker_id": broker_id,
                "interaction_type": itype,
                "occurred_at": occurred,
                "time_zone": book.zone_names[firm_id],
                "duration_minutes": rng.randint(*span) if span else None,
                "subject": rng.choice(_SUBJECTS.get(itype, ("{t}",))).format(t=rng.choice(_TOPICS)),
                "notes": notes,
                "outcome": outcome,
                "version": 1,
                "created_at": created,
                "updated_at": created,
                "updated_by_id": broker_id,
                "voided_at": None,
                "voided_by_id": None,
                "void_reason": None,
            }
            if book.admin_id is not None and rng.random() < plan.voided_share:
                row["voided_at"] = min(created + timedelta(days=rng.randint(0, 20)), anchor)
                row["voided_by_id"] = book.admin_id
                row["void_reason"] = "Logged against the wrong firm"
            drafts.append((occurred, row, trader_ids))
        drafts.sort(key=lambda d: d[0])
        rows, versions, links = [], [], []
        for i, (occurred, row, trader_ids) in enumerate(drafts):
            row["id"] = iid = first_id + i
            rows.append(row)
            versions.append(
                {
                    "interaction_id": iid,
                    "version": 1,
                    "data": _version_json(_VersionSource(row), trader_ids),
                    "saved_at": row["created_at"],
                    "saved_by_id": row["broker_id"],
                }
            )
            for tid in trader_ids:
                links.append({"interaction_id": iid, "trader_id": tid, "occurred_at": occurred})
            if row["voided_at"] is None:
                seen = self.latest.get(row["firm_id"])
                if seen is None or seen[1] <= occurred:
                    self.latest[row["firm_id"]] = (iid, occurred)
        return rows, versions, links

    # -- follow-ups ---------------------------------------------------------------------------

    def follow_up_rows(
        self, first_id: int, *, open_count: int, done_count: int, reminder_minutes: list[int]
    ) -> tuple[list[dict], list[dict], list[dict]]:
        """Open follow-ups (some overdue, most due in the coming months) and done ones (due in
        the past year), numbered in order of creation, with their traders and reminders."""
        rng, plan, anchor = self.rng, self.plan, self.plan.anchor
        drafts = []
        for n in range(open_count + done_count):
            done = n >= open_count
            firm_id = self._firm()
            if done:
                back = int(rng.triangular(1, 365, 20))
            elif rng.random() < plan.overdue_share:
                back = int(rng.triangular(0, 45, 1))
            else:
                back = -int(rng.triangular(0, 120, 5))
            due = self._local(firm_id, back, 8 * 60 + 30 * rng.randrange(20))
            if back >= 0 and due >= anchor:
                due -= timedelta(days=1)
            elif back < 0 and due <= anchor:
                due += timedelta(days=1)
            if due < anchor:
                created = due - timedelta(minutes=rng.randint(60, 30 * 24 * 60))
            else:
                created = anchor - timedelta(minutes=rng.randint(5, 30 * 24 * 60))
            assignee = self._broker(firm_id)
            people = self.book.traders[firm_id]
            r = rng.random()
            trader_ids = (
                [rng.choice(people)]
                if r < 0.7
                else rng.sample(people, 2)
                if r < 0.8 and len(people) > 1
                else []
            )
            interaction_id = None
            latest = self.latest.get(firm_id)
            if latest is not None and latest[1] <= created and rng.random() < 0.5:
                interaction_id = latest[0]
            completed = None
            if done:
                until = min(due + timedelta(days=2), anchor)
                completed = created + (until - created) * rng.uniform(0.3, 1.0)
            row = {
                "title": rng.choice(_FOLLOW_UP_TITLES).format(t=rng.choice(_TOPICS)),
                "notes": rng.choice(_NOTE_SENTENCES) if rng.random() < 0.3 else None,
                "due_at": due,
                "assignee_id": assignee,
                "firm_id": firm_id,
                "interaction_id": interaction_id,
                "status": (FollowUpStatus.DONE if done else FollowUpStatus.OPEN).value,
                "snoozed_until": None,
                "created_by_id": assignee,
                "created_at": created,
                "updated_at": completed or created,
                "completed_at": completed,
                "escalated_at": None,
            }
            drafts.append((created, row, trader_ids))
        drafts.sort(key=lambda d: d[0])
        rows, links, reminders = [], [], []
        for i, (created, row, trader_ids) in enumerate(drafts):
            row["id"] = fid = first_id + i
            rows.append(row)
            links += [{"follow_up_id": fid, "trader_id": t} for t in trader_ids]
            due, completed = row["due_at"], row["completed_at"]
            for minutes in sorted(set(reminder_minutes), reverse=True):
                at = due - timedelta(minutes=minutes)
                if at <= created:
                    continue
                fired, outcome = None, None
                if completed is not None and completed <= at:
                    fired, outcome = completed, "skipped"  # finishing it stopped the reminder
                elif at < anchor:
                    fired, outcome = at + timedelta(seconds=rng.randint(0, 5)), "sent"
                reminders.append(
                    {"follow_up_id": fid, "remind_at": at, "fired_at": fired, "outcome": outcome}
                )
        # The latest reminders that fell due are still waiting for the scheduler.
        fired_open = sorted(
            (r for r in reminders if r["outcome"] == "sent" and r["remind_at"] < anchor),
            key=lambda r: (r["remind_at"], r["follow_up_id"]),
        )
        open_ids = {r["id"] for r in rows if r["status"] == FollowUpStatus.OPEN.value}
        waiting = [r for r in fired_open if r["follow_up_id"] in open_ids][-plan.due_reminders :]
        for r in waiting if plan.due_reminders else []:
            r["fired_at"], r["outcome"] = None, None
        return rows, links, reminders


def bulk_load_activity(
    db: Session,
    plan: ActivityPlan,
    *,
    actor: Actor | SystemActor | None = None,
    progress=None,
) -> ActivityResult:
    """Add interactions and follow-ups to the book in the database (load it first: `bulk_load`).

    Each interaction involves one or two traders of a live firm and was logged by a broker who
    covers it, with a type and outcome the configuration allows, on a weekday in business hours
    of the firm's city over `plan.days` days before the anchor; each has its version-1 row
    (the same canonical JSON the service saves) and its trader links, and firms get their last
    contact. Follow-ups are assigned to a covering broker with the default reminders; reminders
    that fell due before the anchor have fired (overdue ones were escalated), except the latest
    `plan.due_reminders`. Runs in the caller's transaction, like `bulk_load`.
    `progress(done_interactions, total)` is called after each batch when given.
    """
    if min(plan.interactions, plan.open_follow_ups, plan.done_follow_ups, plan.days) < 0:
        raise ValueError("counts must be >= 0")
    if plan.interactions and plan.days < 1:
        raise ValueError("interactions need at least one day")
    actor = actor or SystemActor(label="system:seed")
    started = time.perf_counter()
    result = ActivityResult()
    conn = db.connection()
    it, vt, lt = Interaction.__table__, InteractionVersion.__table__, InteractionTrader.__table__
    ft, flt, rt = FollowUp.__table__, FollowUpTrader.__table__, Reminder.__table__

    def step(name: str, since: float) -> float:
        now = time.perf_counter()
        result.steps[name] = result.steps.get(name, 0.0) + (now - since)
        return now

    t = time.perf_counter()
    book = _read_book(conn, db)
    if not book.firm_ids and (plan.interactions or plan.open_follow_ups or plan.done_follow_ups):
        raise ValueError("no live firm has traders and a covering broker: load a book first")
    gen = ActivityGenerator(plan, book)
    t = step("read book", t)
    with _bulk_pragmas(conn):
        first = next_id = _next_id(conn, it)
        done = 0
        while done < plan.interactions:
            n = min(plan.batch, plan.interactions - done)
            # Batches walk forward in time, so ids follow the dates as they would in real use.
            far = plan.days - (done * plan.days) // plan.interactions
            near = plan.days - ((done + n) * plan.days) // plan.interactions
            rows, versions, links = gen.interaction_rows(next_id, n, (near, max(far, near + 1)))
            t = step("generate interactions", t)
            conn.execute(it.insert(), _sealed(it, rows))
            t = step("insert interactions", t)
            conn.execute(vt.insert(), _sealed(vt, versions))
            t = step("insert versions", t)
            conn.execute(lt.insert(), links)
            t = step("insert interaction traders", t)
            result.interaction_traders += len(links)
            result.voided += sum(1 for r in rows if r["voided_at"] is not None)
            next_id += n
            done += n
            if progress is not None:
                progress(done, plan.interactions)
        if plan.interactions:
            result.interactions = plan.interactions
            result.first_interaction_id, result.last_interaction_id = first, next_id - 1
            _advance_sequence(conn, it)
            latest = (
                sa.select(sa.func.max(it.c.occurred_at))
                .where(it.c.firm_id == Firm.__table__.c.id, it.c.voided_at.is_(None))
                .scalar_subquery()
            )
            result.firms_with_interactions = conn.execute(
                sa.update(Firm.__table__)
                .where(Firm.__table__.c.id.in_(sa.select(it.c.firm_id).distinct()))
                .values(last_interaction_at=latest)
            ).rowcount
            t = step("firms' last contact", t)

        from brm_app.services import app_settings

        rules = app_settings.get_rules(db)
        fu_rows, fu_links, reminders = gen.follow_up_rows(
            _next_id(conn, ft),
            open_count=plan.open_follow_ups,
            done_count=plan.done_follow_ups,
            reminder_minutes=rules.default_reminder_minutes,
        )
        escalate_before = plan.anchor - timedelta(days=rules.overdue_escalation_days)
        for row in fu_rows:
            if row["status"] == FollowUpStatus.OPEN.value and row["due_at"] < escalate_before:
                row["escalated_at"] = row["due_at"] + timedelta(
                    days=rules.overdue_escalation_days, seconds=gen.rng.randint(0, 5)
                )
        t = step("generate follow-ups", t)
        for table, rows in ((ft, fu_rows), (flt, fu_links), (rt, reminders)):
            for i in range(0, len(rows), plan.batch):
                chunk = rows[i : i + plan.batch]
                conn.execute(table.insert(), _sealed(table, chunk) if table is ft else chunk)
        if fu_rows:
            _advance_sequence(conn, ft)
        t = step("insert follow-ups", t)
    opened = [r for r in fu_rows if r["status"] == FollowUpStatus.OPEN.value]
    result.follow_ups_open = len(opened)
    result.follow_ups_overdue = sum(1 for r in opened if r["due_at"] < plan.anchor)
    result.follow_ups_done = len(fu_rows) - len(opened)
    result.reminders = len(reminders)
    result.reminders_pending = sum(1 for r in reminders if r["fired_at"] is None)
    result.reminders_due = sum(
        1 for r in reminders if r["fired_at"] is None and r["remind_at"] <= plan.anchor
    )
    if plan.analyze:
        _analyze(conn, [it, vt, lt, ft, flt, rt, Firm.__table__])
        t = step("analyze", t)
    result.seconds = time.perf_counter() - started
    audit.record(
        db,
        actor=actor,
        action="seed.activity_loaded",
        entity="interaction",
        changes={
            "interactions": result.interactions,
            "interaction_ids": [result.first_interaction_id, result.last_interaction_id],
            "follow_ups_open": result.follow_ups_open,
            "follow_ups_done": result.follow_ups_done,
            "reminders": result.reminders,
            "seed": plan.seed,
            "anchor": plan.anchor.isoformat(),
            "seconds": round(result.seconds, 2),
        },
    )
    return result
