"""The bulk seeder (services.seed): valid, searchable, consistent data on both databases."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.db import get_engine, unit_of_work
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
from brm_app.models.follow_up import FollowUp, FollowUpStatus, FollowUpTrader, Reminder
from brm_app.models.interaction import Interaction, InteractionTrader, InteractionVersion
from brm_app.models.trader import BUILT_IN_ROLES, Trader
from brm_app.models.user import Role, User
from brm_app.services import (
    audit,
    calendar,
    firms,
    interaction_config,
    interactions,
    relationship,
    scheduler,
    seed,
    traders,
)
from brm_app.services.firms import FirmQuery
from brm_app.services.interactions import InteractionQuery
from brm_app.services.traders import TraderQuery
from tests.factories import make_user

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
        firm_rows = db.exec(select(Firm).order_by(col(Firm.id))).all()
        trader_rows = db.exec(select(Trader).order_by(col(Trader.id))).all()
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


def test_bulk_activity_is_consistent_and_the_services_read_it(database_url):
    """Interactions and follow-ups on a seeded book: valid by the services' rules, and the
    lists, timelines, calendar and scheduler work on them."""
    admin = make_user(Role.ADMIN)  # voids the few interactions logged by mistake
    _load(firms=60, traders_per_firm=3, brokers=4, seed=5)
    plan = seed.ActivityPlan(
        interactions=1500,
        open_follow_ups=300,
        done_follow_ups=20,
        due_reminders=7,
        days=200,
        batch=400,
        voided_share=0.01,
    )
    with unit_of_work(write=True) as db:
        result = seed.bulk_load_activity(db, plan)
    anchor = plan.anchor
    assert (result.interactions, result.follow_ups_open, result.follow_ups_done) == (1500, 300, 20)
    assert result.reminders_due == 7 and result.voided > 0

    with unit_of_work() as db:
        rows = db.exec(select(Interaction).order_by(Interaction.id)).all()
        versions = {v.interaction_id: v for v in db.exec(select(InteractionVersion)).all()}
        links = db.exec(select(InteractionTrader)).all()
        trader_firm = dict(db.exec(select(Trader.id, Trader.firm_id)).all())
        covers = {(c.firm_id, c.broker_id) for c in db.exec(select(FirmCoverage)).all()}
        firm_rows = {f.id: f for f in db.exec(select(Firm)).all()}
        allowed = {(t.name, o) for t in interaction_config.config(db) for o in [*t.outcomes, None]}
        fus = db.exec(select(FollowUp)).all()
        fu_traders = db.exec(select(FollowUpTrader)).all()
        reminders = db.exec(select(Reminder)).all()

    # Notes, the versions' JSON and follow-up notes are stored encrypted, each row its own key.
    with get_engine().connect() as conn:
        for table, column in (
            ("interactions", "notes"),
            ("interaction_versions", "data"),
            ("follow_ups", "notes"),
        ):
            stored = conn.execute(sa.text(f"SELECT row_key, {column} FROM {table}")).all()
            assert len({k for k, _ in stored}) == len(stored), table
            sealed = [bytes(v) for _, v in stored if v is not None]
            assert sealed and all(v.startswith(b"\xe5\x01") for v in sealed), table
    assert any(r.notes for r in rows) and any(f.notes for f in fus)

    # Interactions: 1-2 traders of the firm, a covering broker, an allowed type and outcome,
    # business days before the anchor; version 1 holds exactly what the service would save.
    assert [r.id for r in rows] == list(
        range(result.first_interaction_id, result.last_interaction_id + 1)
    )
    people: dict[int, list[int]] = {}
    for link in links:
        people.setdefault(link.interaction_id, []).append(link.trader_id)
    by_id = {r.id: r for r in rows}
    for link in links:
        assert link.occurred_at == by_id[link.interaction_id].occurred_at
    assert len(links) == result.interaction_traders
    for r in rows:
        assert 1 <= len(people[r.id]) <= 2
        assert {trader_firm[t] for t in people[r.id]} == {r.firm_id}
        assert (r.firm_id, r.broker_id) in covers
        assert (r.interaction_type, r.outcome) in allowed
        assert anchor - timedelta(days=plan.days + 2) <= r.occurred_at < anchor
        assert r.version == 1 and r.occurred_at <= r.created_at <= anchor
        assert r.voided_at is None or (r.voided_by_id == admin.user_id and r.void_reason)
        assert versions[r.id].data == interactions._version_json(r, people[r.id])
        assert versions[r.id].version == 1 and versions[r.id].saved_by_id == r.broker_id
    assert len({r.interaction_type for r in rows}) >= 6 and len({r.outcome for r in rows}) >= 5
    assert sum(1 for r in rows if r.occurred_at.weekday() >= 5) < 0.1 * len(rows)
    # Each firm's last contact is its latest live interaction.
    latest: dict[int, object] = {}
    for r in rows:
        if r.voided_at is None:
            latest[r.firm_id] = max(latest.get(r.firm_id, r.occurred_at), r.occurred_at)
    assert latest and all(firm_rows[f].last_interaction_at == at for f, at in latest.items())

    # Follow-ups: assigned to a covering broker, traders of the firm, reminders before the due
    # time; those due before the anchor fired except the latest few; overdue ones escalated.
    for fu in fus:
        assert (fu.firm_id, fu.assignee_id) in covers
        assert fu.created_at <= anchor and fu.created_at < fu.due_at + timedelta(minutes=5)
        escalate = fu.status == FollowUpStatus.OPEN and fu.due_at < anchor - timedelta(days=2)
        assert (fu.escalated_at is not None) == escalate
        assert (fu.completed_at is not None) == (fu.status == FollowUpStatus.DONE)
    fu_firm = {f.id: f.firm_id for f in fus}
    assert fu_traders and all(
        trader_firm[t.trader_id] == fu_firm[t.follow_up_id] for t in fu_traders
    )
    due = [r for r in reminders if r.fired_at is None and r.remind_at <= anchor]
    assert len(due) == 7
    fu_due = {f.id: f.due_at for f in fus}
    assert all(r.remind_at < fu_due[r.follow_up_id] for r in reminders)
    assert all(r.fired_at is None or r.outcome in ("sent", "skipped") for r in reminders)
    assert any(f.due_at < anchor for f in fus if f.status == FollowUpStatus.OPEN)
    assert sum(1 for f in fus if f.due_at > anchor) > len(fus) / 2

    # The services read it: a trader's list, a firm's timeline, a broker's month, the scheduler.
    trader_id = links[0].trader_id
    firm_id = by_id[links[0].interaction_id].firm_id
    fu = next(f for f in fus if f.due_at > anchor)
    with unit_of_work() as db:
        page = interactions.list_interactions(
            db, actor=SYSTEM, query=InteractionQuery(trader_id=trader_id)
        )
        live_ids = {link.interaction_id for link in links if link.trader_id == trader_id}
        live_ids = {i for i in live_ids if by_id[i].voided_at is None}
        assert page.total == len(live_ids) and {i.interaction_id for i in page.items} <= live_ids
        line = relationship.timeline(db, actor=SYSTEM, firm_id=firm_id)
        assert line.entries and [e.at for e in line.entries] == sorted(
            (e.at for e in line.entries), reverse=True
        )
        broker = db.get(User, fu.assignee_id)
        actor = Actor(user_id=broker.id, role=Role.BROKER, email=broker.email, name=broker.name)
        day = fu.due_at.date()
        view = calendar.items(db, actor=actor, start=day.replace(day=1), end=day)
        assert fu.id in {i.item_id for i in view.items if i.kind == "follow_up"}
        month = anchor.date() - timedelta(days=20)
        past = calendar.items(db, actor=actor, start=month, end=month + timedelta(days=19))
        assert any(i.kind == "interaction" for i in past.items)
    with unit_of_work(write=True) as db:
        report = scheduler.fire_due_reminders(db, now=anchor)
        assert (report.reminders_sent, report.reminders_skipped) == (7, 0)
    with unit_of_work(write=True) as db:
        assert scheduler.fire_due_reminders(db, now=anchor).reminders_sent == 0

    # The same seed gives the same rows; one audit event; the chain verifies.
    with unit_of_work() as db:
        book = seed._read_book(db.connection(), db)
        a, b = (seed.ActivityGenerator(plan, book) for _ in range(2))
        assert a.interaction_rows(1, 50, (0, 30)) == b.interaction_rows(1, 50, (0, 30))
        events = db.exec(
            select(AuditEvent).where(AuditEvent.action == "seed.activity_loaded")
        ).all()
        assert len(events) == 1 and '"interactions":1500' in events[0].changes
        assert audit.verify_chain(db).ok
