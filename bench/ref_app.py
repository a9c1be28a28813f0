"""The reference: the minimal, idiomatic FastAPI + SQLAlchemy service a competent engineer would
write for three of the app's calls, on the app's own database, served by the same server.

- `GET /users/me`: the same JWT check (HS256, audience, issuer, required claims) and the same row
  checks (active, credentials unchanged since the token was issued).
- `GET /firms?limit=50`: a broker's first page, the same visibility rule (the firms they cover,
  primary or secondary, not archived), sorted by name, with the primary broker, the trader count
  and the total.
- `POST /interactions`: the trader must be live at a live firm the broker covers; the interaction,
  its trader link, its first version row, the firm's last-interaction time and one hash-chained
  audit event, in one transaction.

Sync routes with a `Depends` session, ORM models, pydantic in and out: what the FastAPI and
SQLAlchemy tutorials teach. Configured by REF_DATABASE_URL and REF_SECRET_KEY (the app's key, so
the app's tokens work here). Not part of the app: `make bench` serves it to measure against.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import jwt
import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column

from brm_app.encryption.keyring import KeyRing, blind_index_key, parse_ring

DATABASE_URL = os.environ["REF_DATABASE_URL"]
SECRET_KEY = os.environ["REF_SECRET_KEY"]
# users.email is encrypted (0010u): opened with the app's key ring (the bench sets
# BRM_ENCRYPTION_KEYS for every server it starts).
_RING = KeyRing(
    parse_ring(os.environ["BRM_ENCRYPTION_KEYS"], source="BRM_ENCRYPTION_KEYS"),
    blind_index_key(SECRET_KEY),
)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    row_key: Mapped[str]
    email: Mapped[bytes]
    name: Mapped[str]
    role: Mapped[str]
    is_active: Mapped[bool]
    manager_id: Mapped[int | None]
    credentials_changed_at: Mapped[datetime]
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    time_zone: Mapped[str]


class Firm(Base):
    __tablename__ = "firms"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    name_key: Mapped[str]
    lei: Mapped[str | None]
    city: Mapped[str | None]
    country: Mapped[str | None]
    account_status: Mapped[str]
    tier: Mapped[str]
    updated_at: Mapped[datetime]
    archived_at: Mapped[datetime | None]
    last_interaction_at: Mapped[datetime | None]


class FirmCoverage(Base):
    __tablename__ = "firm_coverage"
    firm_id: Mapped[int] = mapped_column(primary_key=True)
    broker_id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str]


class Trader(Base):
    __tablename__ = "traders"
    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int]
    name: Mapped[str]
    archived_at: Mapped[datetime | None]


class Interaction(Base):
    __tablename__ = "interactions"
    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int]
    broker_id: Mapped[int]
    interaction_type: Mapped[str]
    occurred_at: Mapped[datetime]
    time_zone: Mapped[str]
    duration_minutes: Mapped[int | None]
    subject: Mapped[str]
    notes: Mapped[str | None]
    outcome: Mapped[str | None]
    version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int | None]


class InteractionTrader(Base):
    __tablename__ = "interaction_traders"
    interaction_id: Mapped[int] = mapped_column(primary_key=True)
    trader_id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime]


class InteractionVersion(Base):
    __tablename__ = "interaction_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int]
    version: Mapped[int]
    data: Mapped[str]
    saved_at: Mapped[datetime]
    saved_by_id: Mapped[int]


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int]
    occurred_at: Mapped[datetime]
    actor_id: Mapped[int | None]
    actor_label: Mapped[str]
    action: Mapped[str]
    entity: Mapped[str]
    entity_id: Mapped[str | None]
    changes: Mapped[str]
    ip: Mapped[str | None]
    prev_hash: Mapped[str]
    hash: Mapped[str]


# ---- database --------------------------------------------------------------------------------

if DATABASE_URL.startswith("sqlite"):
    engine = sa.create_engine(
        DATABASE_URL, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(conn, _record):
        conn.isolation_level = None  # SQLAlchemy's "begin" below starts each transaction
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):
        # A write takes the lock up front, or a read-then-write would fail when another commits.
        write = conn.get_execution_options().get("write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

else:
    engine = sa.create_engine(DATABASE_URL, pool_size=10, max_overflow=20)

_writers = threading.Lock()  # SQLite: one writer at a time in this process


def get_db() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@contextmanager
def writing(db: Session) -> Iterator[None]:
    """SQLite: this process's writers one at a time, the write lock taken up front, and both let
    go at the commit (not after the response)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _writers:
        db.connection(execution_options={"write": True})
        yield


DB = Annotated[Session, Depends(get_db)]


def utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


# ---- authentication --------------------------------------------------------------------------

bearer = HTTPBearer()


def current_user(db: DB, creds: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> User:
    unauthorized = HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token")
    try:
        claims = jwt.decode(
            creds.credentials,
            SECRET_KEY,
            algorithms=["HS256"],
            audience="brm-api",
            issuer="brokersync-brm",
            options={"require": ["exp", "iat", "sub", "aud", "jti", "iss", "cv"]},
        )
    except jwt.PyJWTError:
        raise unauthorized from None
    user = db.get(User, int(claims["sub"]))
    if user is None or not user.is_active:
        raise unauthorized
    changed = user.credentials_changed_at.replace(tzinfo=UTC)
    if int(claims["cv"]) != int(changed.timestamp() * 1_000_000):
        raise unauthorized
    return user


CurrentUser = Annotated[User, Depends(current_user)]


# ---- schemas ---------------------------------------------------------------------------------


class UserOut(BaseModel):
    user_id: int
    email: str
    name: str
    role: str
    is_active: bool
    manager_id: int | None
    created_at: datetime
    last_login_at: datetime | None
    time_zone: str


class BrokerRef(BaseModel):
    user_id: int
    name: str


class FirmItem(BaseModel):
    firm_id: int
    name: str
    lei: str | None
    city: str | None
    country: str | None
    account_status: str
    tier: str
    updated_at: datetime
    archived_at: datetime | None
    primary_broker: BrokerRef | None
    trader_count: int


class FirmPage(BaseModel):
    items: list[FirmItem]
    total: int
    limit: int
    offset: int


class InteractionIn(BaseModel):
    trader_id: int = Field(ge=1)
    interaction_type: str = Field(min_length=1, max_length=60)
    interaction_date: datetime
    subject: str = Field(min_length=1, max_length=200)
    notes: str | None = Field(default=None, max_length=20_000)
    outcome: str | None = Field(default=None, max_length=60)
    duration_minutes: int | None = Field(default=None, ge=0, le=1440)


class InteractionOut(BaseModel):
    interaction_id: int
    firm_id: int
    broker_id: int
    trader_ids: list[int]
    interaction_type: str
    interaction_date: datetime
    subject: str
    notes: str | None
    outcome: str | None
    duration_minutes: int | None
    version: int


# ---- routes ----------------------------------------------------------------------------------

app = FastAPI(title="Reference service")


@app.get("/users/me", response_model=UserOut)
def read_me(user: CurrentUser) -> UserOut:
    return UserOut(
        user_id=user.id,
        email=_RING.open("users", "email", user.row_key, user.email),
        name=user.name,
        role=user.role,
        is_active=user.is_active,
        manager_id=user.manager_id,
        created_at=utc(user.created_at),
        last_login_at=utc(user.last_login_at),
        time_zone=user.time_zone,
    )


def _visible_firms(user: User):
    live = Firm.archived_at.is_(None)
    if user.role == "broker":
        covered = sa.select(FirmCoverage.firm_id).where(FirmCoverage.broker_id == user.id)
        return sa.and_(live, Firm.id.in_(covered))
    return live


@app.get("/firms", response_model=FirmPage)
def list_firms(db: DB, user: CurrentUser, limit: int = 50, offset: int = 0) -> FirmPage:
    limit = max(1, min(limit, 200))
    visible = _visible_firms(user)
    primary = aliased(FirmCoverage)
    broker = aliased(User)
    trader_count = (
        sa.select(sa.func.count(Trader.id))
        .where(Trader.firm_id == Firm.id, Trader.archived_at.is_(None))
        .correlate(Firm)
        .scalar_subquery()
    )
    rows = db.execute(
        sa.select(Firm, broker.id, broker.name, trader_count)
        .outerjoin(primary, sa.and_(primary.firm_id == Firm.id, primary.role == "primary"))
        .outerjoin(broker, broker.id == primary.broker_id)
        .where(visible)
        .order_by(Firm.name_key, Firm.id)
        .limit(limit)
        .offset(offset)
    ).all()
    total = db.scalar(sa.select(sa.func.count()).select_from(Firm).where(visible))
    items = [
        FirmItem(
            firm_id=f.id,
            name=f.name,
            lei=f.lei,
            city=f.city,
            country=f.country,
            account_status=f.account_status,
            tier=f.tier,
            updated_at=utc(f.updated_at),
            archived_at=utc(f.archived_at),
            primary_broker=BrokerRef(user_id=bid, name=bname) if bid else None,
            trader_count=count,
        )
        for f, bid, bname, count in rows
    ]
    return FirmPage(items=items, total=total, limit=limit, offset=offset)


def _audit(db: Session, *, user: User, action: str, entity: str, entity_id, changes: dict) -> None:
    """Append one event to the hash chain (the app's chain: same fields, same hash)."""
    if engine.dialect.name == "postgresql":
        db.execute(sa.text("SELECT pg_advisory_xact_lock(7270001)"))
    head = db.execute(
        sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev = (head.seq + 1, head.hash) if head else (1, "0" * 64)
    now = datetime.now(UTC)
    body = {
        "occurred_at": now.isoformat(),
        "actor_id": user.id,
        "actor_label": f"{user.name} #{user.id}",
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "changes": json.dumps(changes, sort_keys=True, separators=(",", ":")),
        "ip": None,
        "prev_hash": prev,
    }
    digest = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    db.add(
        AuditEvent(
            seq=seq,
            occurred_at=naive_utc(now),
            actor_id=user.id,
            actor_label=f"{user.name} #{user.id}",
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            changes=body["changes"],
            ip=None,
            prev_hash=prev,
            hash=digest,
        )
    )


@app.post("/interactions", response_model=InteractionOut, status_code=201)
def log_interaction(body: InteractionIn, db: DB, user: CurrentUser) -> InteractionOut:
    db.rollback()  # the token check's read transaction ends: the write starts its own
    with writing(db):
        row, firm, trader = _log(db, user, body)
    return InteractionOut(
        interaction_id=row.id,
        firm_id=firm.id,
        broker_id=user.id,
        trader_ids=[trader.id],
        interaction_type=row.interaction_type,
        interaction_date=body.interaction_date,
        subject=row.subject,
        notes=row.notes,
        outcome=row.outcome,
        duration_minutes=row.duration_minutes,
        version=1,
    )


def _log(db: Session, user: User, body: InteractionIn) -> tuple[Interaction, Firm, Trader]:
    trader = db.get(Trader, body.trader_id)
    firm = db.get(Firm, trader.firm_id) if trader is not None else None
    covered = (
        firm is not None
        and db.get(FirmCoverage, {"firm_id": firm.id, "broker_id": user.id}) is not None
    )
    if trader is None or trader.archived_at or firm.archived_at or not covered:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "trader not found")
    if body.interaction_date.tzinfo is None:
        raise HTTPException(422, "interaction_date needs a time zone")
    now = datetime.now(UTC)
    occurred = naive_utc(body.interaction_date)
    row = Interaction(
        firm_id=firm.id,
        broker_id=user.id,
        interaction_type=body.interaction_type,
        occurred_at=occurred,
        time_zone=user.time_zone,
        duration_minutes=body.duration_minutes,
        subject=body.subject,
        notes=body.notes,
        outcome=body.outcome,
        version=1,
        created_at=naive_utc(now),
        updated_at=naive_utc(now),
        updated_by_id=user.id,
    )
    db.add(row)
    db.flush()
    db.add(InteractionTrader(interaction_id=row.id, trader_id=trader.id, occurred_at=occurred))
    snapshot = body.model_dump(mode="json") | {"firm_id": firm.id, "trader_ids": [trader.id]}
    db.add(
        InteractionVersion(
            interaction_id=row.id,
            version=1,
            data=json.dumps(snapshot, sort_keys=True),
            saved_at=naive_utc(now),
            saved_by_id=user.id,
        )
    )
    if firm.last_interaction_at is None or occurred > firm.last_interaction_at:
        firm.last_interaction_at = occurred
    _audit(
        db,
        user=user,
        action="interaction.logged",
        entity="interaction",
        entity_id=row.id,
        changes={
            "firm_id": firm.id,
            "type": row.interaction_type,
            "outcome": row.outcome,
            "trader_ids": [trader.id],
        },
    )
    db.commit()
    return row, firm, trader
