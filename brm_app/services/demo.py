"""Demo data: a small brokerage (a manager, brokers, compliance) and its book of client firms.

Loaded on the first start of an empty database unless BRM_DEMO=0, or by `brm demo load`. Every
demo account shares one random password, printed once and saved to data/demo-credentials.txt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from brm_app.auth.actor import SystemActor
from brm_app.auth.passwords import generate_password
from brm_app.db import utcnow
from brm_app.models.user import Role, User, UserCreate, email_index
from brm_app.services import audit, users

DOMAIN = "brokersync.example"

DEMO_STAFF: list[tuple[str, str, Role, str | None]] = [
    # (email local part, name, role, manager's local part)
    ("maria.manager", "Maria Lindqvist", Role.MANAGER, None),
    ("ben.broker", "Ben Okafor", Role.BROKER, "maria.manager"),
    ("carla.broker", "Carla Mendes", Role.BROKER, "maria.manager"),
    ("dev.broker", "Dev Raman", Role.BROKER, "maria.manager"),
    ("chris.compliance", "Chris Halvorsen", Role.COMPLIANCE, None),
]


@dataclass
class DemoResult:
    password: str | None
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    firms: int = 0
    traders: int = 0
    # Demo traders with portal access (and their firm's portfolio): they sign in with the
    # printed password too.
    portal: list[str] = field(default_factory=list)


# (name, city, country) of the demo book; phones are valid example numbers for the country.
DEMO_FIRMS: list[tuple[str, str, str]] = [
    ("Aldgate Capital Partners", "London", "GB"),
    ("Northwind Asset Management", "New York", "US"),
    ("Kestrel Global Macro", "London", "GB"),
    ("Rheinland Invest AG", "Frankfurt", "DE"),
    ("Lakeshore Pension Fund", "Chicago", "US"),
    ("Helvetia Private Wealth", "Zurich", "CH"),
    ("Marina Bay Capital", "Singapore", "SG"),
    ("Victoria Harbour Advisors", "Hong Kong", "HK"),
    ("Seine Gestion", "Paris", "FR"),
    ("Sakura Asset Partners", "Tokyo", "JP"),
    ("Amstel Quant Strategies", "Amsterdam", "NL"),
    ("Nordic Balance Fonder", "Stockholm", "SE"),
    ("Liffey Insurance Investments", "Dublin", "IE"),
    ("Maple Leaf Endowment", "Toronto", "CA"),
    ("Southern Cross Super", "Sydney", "AU"),
    ("Blackfriars Credit Opportunities", "London", "GB"),
    ("Granite Peak Family Office", "Boston", "US"),
    ("Cormorant Event-Driven Fund", "New York", "US"),
    ("Thames Valley Multi-Asset", "Reading", "GB"),
    ("Bavaria Rentenfonds", "Munich", "DE"),
    ("Lucerne Alpine Capital", "Lucerne", "CH"),
    ("Harbourfront Hedge Partners", "Toronto", "CA"),
    ("Orchard Road Investments", "Singapore", "SG"),
    ("Montmartre Capital", "Paris", "FR"),
]
FIRST = [
    "Olivia",
    "James",
    "Amelia",
    "Noah",
    "Sophie",
    "Lucas",
    "Isla",
    "Ethan",
    "Mia",
    "Leo",
    "Hannah",
    "Yuki",
    "Priya",
    "Mateo",
    "Chloe",
    "Felix",
    "Aisha",
    "Henrik",
    "Grace",
    "Daniel",
    "Lena",
    "Ravi",
]
LAST = [
    "Whitfield",
    "Chen",
    "Okonkwo",
    "Schneider",
    "Rossi",
    "Tanaka",
    "Fischer",
    "Dubois",
    "Lindgren",
    "Murphy",
    "Patel",
    "Nakamura",
    "Silva",
    "Kowalski",
    "Haddad",
    "Bennett",
    "Moreau",
    "Jansen",
]
TRADER_ROLES = ["Portfolio Manager", "Analyst", "Trader", "Head of Desk", "Operations"]
STATUSES = ["Active", "Active", "Active", "Prospect", "Inactive", "Active", "Suspended", "Active"]
TIERS = ["A", "B", "B", "C", "A", "C", "B", "C"]


# What the demo interactions' notes say; two of them are what supervisory review looks for
# (the default lexicon has "guarantee*" and "complain*"), so the review queue has items to show.
DEMO_NOTES = [
    "Demo: discussed positioning and upcoming supply.",
    "Demo: walked through the new issue calendar.",
    "Demo: asked whether the fund's return is guaranteed; explained that it is not.",
    "Demo: reviewed last month's fills and settlement.",
    "Demo: mentioned a complaint about late confirmations; passed to operations.",
    "Demo: talked about rates and the curve.",
]


def demo_lei(n: int) -> str:
    """A well-formed LEI (correct ISO 17442 check digits) under a made-up LOU prefix."""
    body = f"9845{n:014d}".replace("0", "D", 2)[:18]
    digits = "".join(str(int(ch, 36)) for ch in body + "00")
    return f"{body}{98 - int(digits) % 97:02d}"


# The first trader of this many demo firms has portal access and sees the firm's portfolio.
PORTAL_FIRMS = 3
# Demo firms i with i % 8 == UNDISCLOSED have not recorded the recording disclosure.
UNDISCLOSED = 4


def load_book(
    db: Session, *, broker_ids: list[int], portal_password: str | None = None
) -> tuple[int, int, list[str]]:
    """The demo brokers' book: firms with coverage and traders, created through the services.
    Most firms have told their client that communications are recorded (the others show the
    warning); traders who take SMS have a mobile number; the first trader of the first
    PORTAL_FIRMS firms has portal access (password `portal_password`, kept like the demo
    staff's). Returns (firms, traders, the portal traders' emails)."""
    import phonenumbers

    from brm_app.auth.passwords import hash_password
    from brm_app.models.firm import FirmWrite
    from brm_app.models.trader import Trader, TraderPermission, TraderWrite
    from brm_app.services import firms, traders

    system = SystemActor(label="system:demo")
    n_traders = 0
    portal: list[str] = []
    today = utcnow().date()
    for i, (name, city, country) in enumerate(DEMO_FIRMS):
        example = phonenumbers.example_number_for_type(
            country, phonenumbers.PhoneNumberType.FIXED_LINE
        )
        example_mobile = phonenumbers.example_number_for_type(
            country, phonenumbers.PhoneNumberType.MOBILE
        )
        assert example_mobile is not None  # every demo country has one
        mobile = phonenumbers.format_number(example_mobile, phonenumbers.PhoneNumberFormat.E164)
        domain = "".join(ch for ch in name.lower().split()[0] if ch.isalpha()) + ".example"
        primary = broker_ids[i % len(broker_ids)]
        secondary = (
            [broker_ids[(i + 1) % len(broker_ids)]] if i % 3 == 0 and len(broker_ids) > 1 else []
        )
        firm = firms.create_firm(
            db,
            actor=system,
            data=FirmWrite(
                name=name,
                lei=demo_lei(i + 1) if i % 4 != 3 else None,
                address={
                    "street": f"{10 + i} Market Street",
                    "city": city,
                    "postal_code": f"{1000 + 37 * i}",
                    "country": country,
                },
                contact_details={
                    "phone": phonenumbers.format_number(
                        example, phonenumbers.PhoneNumberFormat.E164
                    ),
                    "email": f"desk@{domain}",
                    "website": f"https://www.{domain}",
                },
                account_status=STATUSES[i % len(STATUSES)],
                tier=TIERS[i % len(TIERS)],
                notes="Prefers calls before the open. Quarterly review due."
                if i % 5 == 0
                else None,
                primary_broker_id=primary,
                secondary_broker_ids=secondary,
                # One firm in eight has not been told yet (one of each demo broker's): the
                # composer and the interaction dialog warn there.
                recording_disclosed_on=None
                if i % 8 == UNDISCLOSED
                else today - timedelta(days=40 + 9 * i),
            ),
        )
        for j in range(3 + i % 4):
            first, last = FIRST[(i * 3 + j) % len(FIRST)], LAST[(i * 5 + j * 7) % len(LAST)]
            sms = j % 2 == 1 or (i < PORTAL_FIRMS and j == 0)
            on_portal = portal_password is not None and i < PORTAL_FIRMS and j == 0
            perms = (
                [TraderPermission.RECEIVE_EMAIL]
                + ([TraderPermission.RECEIVE_SMS] if sms else [])
                + (
                    [TraderPermission.PORTAL_ACCESS, TraderPermission.VIEW_PORTFOLIO]
                    if on_portal
                    else []
                )
            )
            created = traders.create_trader(
                db,
                actor=system,
                firm_id=firm.firm_id,
                data=TraderWrite(
                    name=f"{first} {last}",
                    email=f"{first}.{last}@{domain}".lower(),
                    phone=phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[
                        :-2
                    ]
                    + f"{10 + j:02d}",
                    # A valid example mobile of the country, made distinct per trader.
                    mobile=mobile[:-2] + f"{(i * 7 + j) % 100:02d}" if sms else None,
                    role=TRADER_ROLES[(i + j) % len(TRADER_ROLES)],
                    permissions=perms,
                ),
            )
            if on_portal and portal_password is not None:
                account = db.get(Trader, created.trader.trader_id)
                user = db.get(User, account.user_id) if account is not None else None
                assert user is not None  # portal access made the account
                user.password_hash = hash_password(portal_password)
                user.must_change_password = False
                db.add(user)
                portal.append(created.trader.email)
            n_traders += 1
    load_activity(db, broker_ids=broker_ids)
    load_portfolios(db)
    return len(DEMO_FIRMS), n_traders, portal


SUBJECTS = [
    ("Call", "Morning colour on rates", "Positive"),
    ("Meeting", "Quarterly review", "Follow-up required"),
    ("Email", "Sent the new issue calendar", "Closed"),
    ("Video call", "Credit desk intro", "Positive"),
    ("Call", "Checked in on the EUR block", "No answer"),
    ("Research request", "Asked for the semis deep dive", "Follow-up required"),
    ("Chat", "Quick axe on Bunds", "Order placed"),
    ("Roadshow", "CFO roadshow, London leg", "Positive"),
]


def load_activity(db: Session, *, broker_ids: list[int]) -> None:
    """Recent interactions and upcoming follow-ups for the demo book (some firms left uncontacted,
    so the due-for-contact list has something to say)."""
    from datetime import timedelta

    from sqlmodel import select

    from brm_app.db import utcnow
    from brm_app.models.firm import FirmCoverage
    from brm_app.models.follow_up import FollowUpWrite
    from brm_app.models.interaction import InteractionWrite
    from brm_app.models.trader import Trader
    from brm_app.services import follow_ups, interactions
    from brm_app.services.authentication import actor_of

    now = utcnow()
    rows = db.exec(
        select(FirmCoverage.firm_id, FirmCoverage.broker_id)
        .where(FirmCoverage.role == "primary", FirmCoverage.broker_id.in_(broker_ids))
        .order_by(FirmCoverage.firm_id)
    ).all()
    for n, (firm_id, broker_id) in enumerate(rows):
        broker = actor_of(db.get(User, broker_id), ip=None)
        people = db.exec(
            select(Trader.id).where(Trader.firm_id == firm_id).order_by(Trader.id)
        ).all()
        if n % 5 == 4:
            continue  # never contacted
        count = 1 + n % 4
        for k in range(count):
            kind, subject, outcome = SUBJECTS[(n + k) % len(SUBJECTS)]
            days_ago = (n * 7 + k * 11) % 100 + 1
            interactions.log_interaction(
                db,
                actor=broker,
                data=InteractionWrite(
                    trader_ids=[people[k % len(people)]],
                    interaction_type=kind,
                    interaction_date=(now - timedelta(days=days_ago)).replace(
                        hour=8 + (n + k) % 9, minute=0, second=0, microsecond=0
                    ),
                    duration_minutes=15 + 15 * (k % 3),
                    subject=subject,
                    notes=DEMO_NOTES[(n + k) % len(DEMO_NOTES)],
                    outcome=outcome,
                ),
            )
        if n % 2 == 0:
            follow_ups.create_follow_up(
                db,
                actor=broker,
                data=FollowUpWrite(
                    title=[
                        "Send the term sheet",
                        "Book the quarterly review",
                        "Share the research note",
                    ][n % 3],
                    due_at=(now + timedelta(days=n % 12 + 1)).replace(
                        hour=9 + n % 8, minute=0, second=0, microsecond=0
                    ),
                    firm_id=firm_id,
                    trader_ids=[people[0]],
                ),
            )


def load(db: Session, *, credentials_file: Path | None = None) -> DemoResult:
    """Create the demo users that do not exist yet (safe to run twice)."""
    system = SystemActor(label="system:demo")
    password = generate_password()
    result = DemoResult(password=password)
    by_local: dict[str, int] = {}
    for local, name, role, manager_local in DEMO_STAFF:
        email = f"{local}@{DOMAIN}"
        existing = db.exec(select(User).where(User.email_bidx == email_index(email))).first()
        if existing is not None:
            by_local[local] = existing.id
            result.skipped.append(email)
            continue
        created = users.create_user(
            db,
            actor=system,
            data=UserCreate(
                email=email,
                name=name,
                role=role,
                password=password,
                manager_id=by_local.get(manager_local) if manager_local else None,
            ),
            # Demo accounts share the printed password and keep it.
            must_change_password=False,
        )
        by_local[local] = created.user.user_id
        result.created.append(email)
    if not result.created:
        result.password = None
        return result
    broker_ids = [by_local[local] for local, _, role, _ in DEMO_STAFF if role == Role.BROKER]
    result.firms, result.traders, result.portal = load_book(
        db, broker_ids=broker_ids, portal_password=password
    )
    audit.record(
        db,
        actor=system,
        action="demo.loaded",
        entity="demo",
        changes={"users": result.created, "firms": result.firms, "traders": result.traders},
    )
    if credentials_file is not None:
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"Demo accounts (password for all: {password})\n")
            for email in result.created:
                fh.write(f"  {email}\n")
            if result.portal:
                fh.write("Demo traders on the portal (same password):\n")
                for email in result.portal:
                    fh.write(f"  {email}\n")
    return result


# The demo instrument master: (symbol, name, asset class, currency, ISIN, exchange).
DEMO_INSTRUMENTS: list[tuple[str, str, str, str, str | None, str]] = [
    ("AAPL", "Apple Inc.", "equity", "USD", "US0378331005", "XNAS"),
    ("MSFT", "Microsoft Corp.", "equity", "USD", "US5949181045", "XNAS"),
    ("JPM", "JPMorgan Chase & Co.", "equity", "USD", "US46625H1005", "XNYS"),
    ("SAP", "SAP SE", "equity", "EUR", "DE0007164600", "XETR"),
    ("ASML", "ASML Holding N.V.", "equity", "EUR", "NL0010273215", "XAMS"),
    ("NESN", "Nestle S.A.", "equity", "CHF", "CH0038863350", "XSWX"),
    ("SHEL", "Shell plc", "equity", "GBP", "GB00BP6MXD84", "XLON"),
    ("7203", "Toyota Motor Corp.", "equity", "JPY", "JP3633400001", "XTKS"),
    ("CSPX", "iShares Core S&P 500 UCITS ETF", "fund", "USD", "IE00B5BMR087", "XLON"),
    ("AGGG", "iShares Core Global Aggregate Bond ETF", "fund", "USD", None, "XLON"),
    ("UST10", "US Treasury 10Y note", "bond", "USD", None, "OTC"),
    ("GOLD", "Gold spot (oz)", "commodity", "USD", None, "OTC"),
]


def load_portfolios(db: Session, *, seed: int | None = None) -> int:
    """Every demo firm gets a portfolio with two years of history: a deposit, buys at the
    simulated feed's own daily closes (the same seed as the live feed, so the history and the
    ticks agree), some sells, dividends and a fee; the closes, the latest prices and FX rates
    are stored so the page shows values before the feed's first tick. Returns the transactions
    booked."""
    from datetime import timedelta
    from decimal import ROUND_DOWN

    from brm_app.db import utcnow
    from brm_app.models.firm import Firm, FirmCoverage
    from brm_app.models.portfolio import Instrument
    from brm_app.models.trader import Trader
    from brm_app.providers.market_data import SimulatedMarketData
    from brm_app.services import instruments, market_data, portfolios
    from brm_app.services.authentication import actor_of
    from brm_app.settings import get_settings

    system = SystemActor(label="system:demo")
    feed = SimulatedMarketData(seed=get_settings().market_data_seed if seed is None else seed)
    today = utcnow().date()
    start = today - timedelta(days=market_data.HISTORY_DAYS)
    closes: dict[str, dict[date, Decimal]] = {}
    for symbol, name, asset_class, currency, isin, exchange in DEMO_INSTRUMENTS:
        if db.exec(select(Instrument.id).where(Instrument.symbol == symbol)).first() is None:
            instruments.create_instrument(
                db,
                actor=system,
                data={
                    "symbol": symbol,
                    "name": name,
                    "asset_class": asset_class,
                    "currency": currency,
                    "isin": isin if isin and instruments.isin_check_digit_ok(isin) else None,
                    "exchange": exchange,
                },
            )
        history = feed.daily_closes(symbol, start, today - timedelta(days=1))
        market_data.record_closes(db, history)
        closes[symbol] = {c.day: c.close for c in history}
    market_data.record_quotes(db, feed.latest([s[0] for s in DEMO_INSTRUMENTS]))
    currencies = sorted({s[3] for s in DEMO_INSTRUMENTS})
    fx_pairs = [(c, q) for c in currencies for q in ("USD", "EUR", "GBP") if c != q]
    market_data.backfill_fx_history(db, feed, fx_pairs, today=today)
    market_data.record_rates(db, feed.fx_rates(fx_pairs))

    def close_on(symbol: str, day: date) -> tuple[date, Decimal | None]:
        series = closes[symbol]
        while day not in series and day > start:
            day -= timedelta(days=1)
        return day, series.get(day)

    booked = 0
    firms_ = db.exec(
        select(Firm.id, FirmCoverage.broker_id)
        .join(FirmCoverage, col(FirmCoverage.firm_id) == Firm.id)
        .where(FirmCoverage.role == "primary", col(Firm.archived_at).is_(None))
        .order_by(col(Firm.id))
    ).all()
    for n, (firm_id, broker_id) in enumerate(firms_):
        if db.exec(select(Firm.id).where(Firm.id == firm_id)).first() is None:
            continue
        user = db.get(User, broker_id)
        if user is None:
            continue
        broker = actor_of(user, ip=None)
        trader_ids = list(
            db.exec(
                select(Trader.id).where(Trader.firm_id == firm_id).order_by(col(Trader.id))
            ).all()
        )

        def book(broker: Any = broker, firm_id: int | None = firm_id, **data: Any) -> None:
            nonlocal booked
            portfolios.book_transaction(db, actor=broker, firm_id=firm_id, data=data)
            booked += 1

        first_day = start + timedelta(days=3 + n)
        picks = [DEMO_INSTRUMENTS[(n + k * 5) % len(DEMO_INSTRUMENTS)] for k in range(5)]
        book(kind="deposit", amount="1000000", currency="USD", trade_date=first_day)
        for currency in sorted({p[3] for p in picks} - {"USD"}):
            book(kind="deposit", amount="400000", currency=currency, trade_date=first_day)
        for k, (symbol, *_rest) in enumerate(picks):
            day, price = close_on(symbol, first_day + timedelta(days=7 + 20 * k))
            if price is None:
                continue
            budget = Decimal(120_000 + 15_000 * ((n + k) % 4))
            quantity = (budget / price).quantize(Decimal(1), rounding=ROUND_DOWN)
            if quantity <= 0:
                continue
            trader = trader_ids[k % len(trader_ids)] if trader_ids else None
            book(
                kind="buy",
                symbol=symbol,
                quantity=quantity,
                price=price,
                fees="12.50",
                trade_date=day,
                trader_id=trader,
            )
            # Top up half a year later, sell a third after a year, a dividend each year.
            day2, price2 = close_on(symbol, day + timedelta(days=180))
            if price2 is not None:
                book(
                    kind="buy",
                    symbol=symbol,
                    quantity=max(1, int(quantity) // 4),
                    price=price2,
                    fees="8.00",
                    trade_date=day2,
                    trader_id=trader,
                )
            day3, price3 = close_on(symbol, day + timedelta(days=400))
            if price3 is not None and (n + k) % 2 == 0:
                book(
                    kind="sell",
                    symbol=symbol,
                    quantity=max(1, int(quantity) // 3),
                    price=price3,
                    fees="9.75",
                    trade_date=day3,
                    trader_id=trader,
                )
            if k < 2:
                book(
                    kind="dividend",
                    symbol=symbol,
                    amount=str((budget / 100).quantize(Decimal(1))),
                    trade_date=day + timedelta(days=300),
                )
        book(kind="fee", amount="250", currency="USD", trade_date=today - timedelta(days=30))
    return booked
