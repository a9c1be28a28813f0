"""The bulk seeder (services.seed): valid, searchable, consistent data on both databases."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from sqlmodel import select

from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work
from brm_app.models.audit import AuditEvent
from brm_app.models.fields import (
    check_country,
    check_email,
    check_lei,
    check_phone,
    check_website,
    lei_checksum_ok,
    name_key,
)
from brm_app.models.firm import CoverageRole, Firm, FirmCoverage, FirmWrite
from brm_app.models.trader import BUILT_IN_ROLES, Trader
from brm_app.models.user import Role, User
from brm_app.services import audit, firms, seed, traders
from brm_app.services.firms import FirmQuery
from brm_app.services.traders import TraderQuery

SYSTEM = SystemActor(label="system:test")


def _load(**plan) -> seed.SeedResult:
    with unit_of_work(write=True) as db:
        return seed.bulk_load(db, seed.SeedPlan(**plan))


def test_lei_check_digits():
    assert seed.lei_with_check_digits("5493001KJTIIGC8Y1R") == "5493001KJTIIGC8Y1R12"
    rng = seed.random.Random(3)
    for _ in range(200):
        lei = seed._lei(rng)
        assert lei_checksum_ok(lei) and check_lei(lei) == lei


def test_same_seed_same_rows():
    def rows(s: int) -> list[dict]:
        gen = seed.BookGenerator(
            seed.SeedPlan(firms=30, seed=s), taken_names=set(), taken_leis=set()
        )
        firm_rows = [gen.firm_row(i + 1) for i in range(30)]
        counts = gen.trader_counts(30)
        return firm_rows + [
            t for f, c in zip(firm_rows, counts, strict=True) for t in gen.trader_rows(f, c, 1)
        ]

    assert rows(4) == rows(4)
    assert rows(4) != rows(5)


def test_bulk_load_gives_valid_consistent_searchable_data(database_url):
    result = _load(firms=200, traders_per_firm=3, brokers=4, seed=5)
    assert (result.firms, result.traders, result.brokers, result.brokers_created) == (
        200,
        600,
        4,
        4,
    )

    with unit_of_work() as db:
        firm_rows = db.exec(select(Firm)).all()
        trader_rows = db.exec(select(Trader)).all()
        coverage = db.exec(select(FirmCoverage)).all()
        brokers = {u.id: u for u in db.exec(select(User).where(User.role == Role.BROKER)).all()}

    assert len(firm_rows) == 200 and len(trader_rows) == 600
    assert [f.id for f in firm_rows] == list(range(result.first_firm_id, result.last_firm_id + 1))
    # Firms: names unique ignoring case, every field in the form the validators produce.
    assert len({f.name_key for f in firm_rows}) == 200
    leis = [f.lei for f in firm_rows if f.lei]
    assert 40 <= len(leis) <= 120 and len(set(leis)) == len(leis)
    for f in firm_rows:
        assert f.name_key == name_key(f.name)
        assert f.lei is None or check_lei(f.lei) == f.lei
        assert check_country(f.country) == f.country and f.city
        assert f.phone is None or check_phone(f.phone) == f.phone
        assert f.email is None or check_email(f.email) == f.email
        assert f.website is None or check_website(f.website) == f.website
        assert f.created_at <= f.updated_at and f.archived_at is None
    assert len({f.account_status for f in firm_rows}) == 4 and len({f.tier for f in firm_rows}) == 3

    # Traders: names and emails unique within their firm, built-in roles, valid contacts.
    per_firm = Counter(t.firm_id for t in trader_rows)
    assert set(per_firm) == {f.id for f in firm_rows} and len(set(per_firm.values())) > 1
    assert len({(t.firm_id, t.email) for t in trader_rows}) == 600
    assert len({(t.firm_id, t.name_key) for t in trader_rows}) == 600
    for t in trader_rows:
        assert t.role in BUILT_IN_ROLES and t.name_key == name_key(t.name)
        assert check_email(t.email) == t.email
        assert t.phone is None or check_phone(t.phone) == t.phone

    # Coverage: exactly one primary per firm from the broker pool; secondaries are others.
    primaries = Counter(c.firm_id for c in coverage if c.role == CoverageRole.PRIMARY)
    assert set(primaries) == {f.id for f in firm_rows} and set(primaries.values()) == {1}
    assert any(c.role == CoverageRole.SECONDARY for c in coverage)
    assert {c.broker_id for c in coverage} <= set(brokers)
    assert all(u.is_active for u in brokers.values())

    # Searchable through the real search (FTS5 / GIN), for firms and traders alike.
    firm, trader = firm_rows[17], trader_rows[123]
    word = firm.name.split()[0]
    with unit_of_work() as db:
        found = firms.list_firms(db, actor=SYSTEM, query=FirmQuery(q=word[:4]))
        expected = sum(
            1 for f in firm_rows if any(w.startswith(word[:4].lower()) for w in f.name_key.split())
        )
        assert firm.id in {i.firm_id for i in found.items} or found.total > 50
        assert found.total == expected
        by_name = traders.list_traders(db, actor=SYSTEM, query=TraderQuery(q=trader.name))
        assert trader.id in {i.trader_id for i in by_name.items}

    # One audit event for the whole load, and the chain still verifies.
    with unit_of_work() as db:
        events = db.exec(select(AuditEvent).where(AuditEvent.action == "seed.bulk_loaded")).all()
        assert len(events) == 1 and '"firms":200' in events[0].changes
        assert audit.verify_chain(db).ok


def test_second_load_rebuilding_the_index_keeps_search_and_ids_working(database_url):
    first = _load(firms=60, traders_per_firm=2, brokers=2, seed=9)
    # Same seed again: the names already taken are avoided; this time the index is rebuilt.
    second = _load(firms=60, traders_per_firm=2, brokers=2, seed=9, search_index="rebuild")
    assert second.first_firm_id == first.last_firm_id + 1 and second.brokers_created == 0
    # A small load into a bigger book keeps the index row by row (the triggers).
    third = _load(firms=10, traders_per_firm=2, brokers=2, seed=10)
    assert third.search_index == "triggers"
    assert first.search_index == ("rebuild" if "sqlite" in database_url else "triggers")
    with unit_of_work() as db:
        assert db.exec(select(sa.func.count(sa.distinct(Firm.name_key)))).one() == 130
        dialect = db.get_bind().dialect.name
        if dialect == "sqlite":
            triggers = set(
                db.exec(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars()
            )
            assert {"firms_fts_ai", "firms_fts_ad", "firms_fts_au"} <= triggers
            assert {"traders_fts_ai", "traders_fts_ad", "traders_fts_au"} <= triggers
        else:
            indexes = set(
                db.exec(
                    sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
                ).scalars()
            )
            assert {"ix_firms_search", "ix_traders_search"} <= indexes
        broker_id = db.exec(select(User.id).where(User.role == Role.BROKER)).first()
    # Rows written by the services after the load get fresh ids and are indexed by the triggers.
    with unit_of_work(write=True) as db:
        created = firms.create_firm(
            db,
            actor=SYSTEM,
            data=FirmWrite(name="Zyzzogeton Capital", primary_broker_id=broker_id),
        )
    assert created.firm_id == third.last_firm_id + 1
    with unit_of_work() as db:
        assert [
            i.firm_id for i in firms.list_firms(db, actor=SYSTEM, query=FirmQuery(q="zyzz")).items
        ] == [created.firm_id]
        # Every firm of the three loads is in the index: a prefix finds exactly what it should.
        names = db.exec(select(Firm.name_key)).all()
        for prefix in ("nor", "cap", "har"):
            expected = sum(1 for n in names if any(w.startswith(prefix) for w in n.split()))
            found = firms.list_firms(db, actor=SYSTEM, query=FirmQuery(q=prefix)).total
            assert found == expected
