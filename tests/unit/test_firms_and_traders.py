"""Firm and trader rules in the service layer (both databases)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.models.firm import AccountStatus, FirmPatch, Tier
from brm_app.models.trader import TraderMove, TraderPatch, TraderPermission, TraderWrite
from brm_app.models.user import Role, User
from brm_app.services import firms, traders
from brm_app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from brm_app.services.firms import FirmQuery
from brm_app.services.pagination import PageRequest
from brm_app.services.traders import TraderQuery
from tests.factories import make_firm, make_trader, make_user


def call(fn, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, **kw)


def test_broker_creates_firm_and_becomes_primary(database_url):
    broker = make_user(Role.BROKER)
    firm = make_firm(
        broker,
        name="  Acme   Capital ",
        lei="5493001KJTIIGC8Y1R12",
        address={"city": "London", "country": "gb"},
        contact_details={"phone": "+44 20 7946 0958"},
    )
    assert firm.name == "Acme   Capital"
    assert firm.coverage.primary.user_id == broker.user_id and firm.coverage.secondary == []
    assert firm.address.country == "GB" and firm.contact_details.phone == "+442079460958"
    assert firm.account_status == AccountStatus.PROSPECT and firm.tier == Tier.C


def test_names_are_unique_ignoring_case_and_spaces_and_lei_too(database_url):
    broker = make_user(Role.BROKER)
    make_firm(broker, name="Acme Capital", lei="5493001KJTIIGC8Y1R12")
    with pytest.raises(Conflict) as exc:
        make_firm(broker, name=" acme   CAPITAL ")
    assert exc.value.field == "name"
    with pytest.raises(Conflict) as exc:
        make_firm(broker, name="Other", lei="5493001KJTIIGC8Y1R12")
    assert exc.value.field == "lei"


def test_coverage_rules(database_url):
    manager, b1, b2 = make_user(Role.MANAGER), make_user(Role.BROKER), make_user(Role.BROKER)
    with pytest.raises(ValidationFailed) as exc:
        make_firm(manager, name="No Primary")
    assert "primary_broker_id" in exc.value.errors
    with pytest.raises(PermissionDenied):
        make_firm(b1, name="Pick Someone Else", primary_broker_id=b2.user_id)
    firm = make_firm(
        manager, name="Assigned", primary_broker_id=b1.user_id, secondary_broker_ids=[b2.user_id]
    )
    assert firm.coverage.primary.user_id == b1.user_id and [
        s.user_id for s in firm.coverage.secondary
    ] == [b2.user_id]
    with pytest.raises(PermissionDenied):
        call(
            firms.patch_firm,
            actor=b1,
            firm_id=firm.firm_id,
            data=FirmPatch(primary_broker_id=b2.user_id),
        )
    swapped = call(
        firms.set_coverage,
        actor=manager,
        firm_id=firm.firm_id,
        primary_broker_id=b2.user_id,
        secondary_broker_ids=[b1.user_id],
    )
    assert swapped.coverage.primary.user_id == b2.user_id
    with pytest.raises(ValidationFailed):
        call(
            firms.set_coverage,
            actor=manager,
            firm_id=firm.firm_id,
            primary_broker_id=manager.user_id,
            secondary_broker_ids=[],
        )


def test_visibility_by_role(database_url):
    admin, manager, compliance = (
        make_user(Role.ADMIN),
        make_user(Role.MANAGER),
        make_user(Role.COMPLIANCE),
    )
    owner, other = make_user(Role.BROKER), make_user(Role.BROKER)
    firm = make_firm(owner, name="Visible Ltd", notes="internal: likes golf")
    for who in (admin, manager, compliance, owner):
        assert call(firms.get_firm, actor=who, firm_id=firm.firm_id).name == "Visible Ltd"
    with pytest.raises(NotFound):
        call(firms.get_firm, actor=other, firm_id=firm.firm_id)
    assert call(firms.list_firms, actor=other).items == []
    with pytest.raises(NotFound):
        call(firms.patch_firm, actor=other, firm_id=firm.firm_id, data=FirmPatch(tier=Tier.A))
    with pytest.raises(PermissionDenied):
        call(firms.patch_firm, actor=compliance, firm_id=firm.firm_id, data=FirmPatch(tier=Tier.A))


def test_trader_portal_user_sees_only_own_firm_without_notes(database_url):
    admin, broker = make_user(Role.ADMIN), make_user(Role.BROKER)
    mine = make_firm(broker, name="Mine", notes="internal")
    make_firm(broker, name="Not Mine")
    saved = call(
        traders.create_trader,
        actor=admin,
        firm_id=mine.firm_id,
        data=TraderWrite(
            name="Tess Trader",
            email="tess@mine.example",
            permissions=[TraderPermission.PORTAL_ACCESS],
        ),
    )
    assert saved.portal_initial_password and saved.trader.portal_user_id
    with unit_of_work() as db:
        from brm_app.services.authentication import actor_of

        portal = actor_of(db.get(User, saved.trader.portal_user_id), ip=None)
    assert portal.role == Role.TRADER
    listed = call(firms.list_firms, actor=portal)
    assert [f.name for f in listed.items] == ["Mine"]
    assert call(firms.get_firm, actor=portal, firm_id=mine.firm_id).notes is None
    with pytest.raises(PermissionDenied):
        call(firms.patch_firm, actor=portal, firm_id=mine.firm_id, data=FirmPatch(tier=Tier.A))
    assert [t.email for t in call(traders.list_traders, actor=portal).items] == [
        "tess@mine.example"
    ]


def test_search_by_prefix_and_filters(database_url):
    manager, broker = make_user(Role.MANAGER), make_user(Role.BROKER)
    make_firm(broker, name="Acme Capital Partners", tier="A")
    make_firm(broker, name="Acmeville Holdings", tier="B")
    make_firm(broker, name="Zenith Asset Management", account_status="Active")

    def names(**q):
        return [f.name for f in call(firms.list_firms, actor=manager, query=FirmQuery(**q)).items]

    assert names(q="acm") == ["Acme Capital Partners", "Acmeville Holdings"]
    assert names(q="acme cap") == ["Acme Capital Partners"]
    assert names(q="cap acm") == ["Acme Capital Partners"]
    assert names(q="asset") == ["Zenith Asset Management"]
    assert names(q="'; DROP TABLE firms; --") == []
    assert names(tier=Tier.B) == ["Acmeville Holdings"]
    assert names(status=AccountStatus.ACTIVE) == ["Zenith Asset Management"]
    assert names(sort="name", direction="desc")[0] == "Zenith Asset Management"


def test_cursor_and_offset_pagination_agree(database_url):
    broker = make_user(Role.BROKER)
    for i in range(7):
        make_firm(broker, name=f"Page Firm {i:02d}")
    seen, cursor = [], None
    while True:
        page = call(firms.list_firms, actor=broker, page=PageRequest(limit=3), cursor=cursor)
        seen += [f.name for f in page.items]
        if not page.has_next:
            break
        cursor = page.next_cursor
    by_offset = [
        f.name
        for o in (0, 3, 6)
        for f in call(firms.list_firms, actor=broker, page=PageRequest(offset=o, limit=3)).items
    ]
    assert seen == by_offset == [f"Page Firm {i:02d}" for i in range(7)]
    assert call(firms.list_firms, actor=broker, page=PageRequest(limit=3)).total == 7
    with pytest.raises(ValidationFailed):
        call(firms.list_firms, actor=broker, cursor="not-a-cursor")


def test_archive_hides_and_admin_restores(database_url):
    admin, broker, manager = make_user(Role.ADMIN), make_user(Role.BROKER), make_user(Role.MANAGER)
    firm = make_firm(broker, name="Gone Soon")
    call(firms.archive_firm, actor=broker, firm_id=firm.firm_id)
    assert call(firms.list_firms, actor=manager).items == []
    for who in (broker, manager):
        with pytest.raises(NotFound):
            call(firms.get_firm, actor=who, firm_id=firm.firm_id)
    archived = call(firms.list_firms, actor=admin, query=FirmQuery(archived=True)).items
    assert [f.name for f in archived] == ["Gone Soon"]
    with pytest.raises(PermissionDenied):
        call(firms.list_firms, actor=manager, query=FirmQuery(archived=True))
    assert call(firms.get_firm, actor=admin, firm_id=firm.firm_id).archived_at is not None
    restored = call(firms.restore_firm, actor=admin, firm_id=firm.firm_id)
    assert restored.archived_at is None
    assert call(firms.get_firm, actor=broker, firm_id=firm.firm_id).name == "Gone Soon"


def test_merge_moves_traders_and_coverage_and_archives_source(database_url):
    manager, b1, b2 = make_user(Role.MANAGER), make_user(Role.BROKER), make_user(Role.BROKER)
    a = make_firm(b1, name="Alpha Trading")
    b = make_firm(b2, name="Alpha Trading Ltd (dup)")
    make_trader(b1, a.firm_id, name="Same Person", email="same@alpha.example")
    make_trader(b2, b.firm_id, name="Same Person", email="same@alpha.example")
    moved = make_trader(b2, b.firm_id, name="Only In B", email="onlyb@alpha.example")
    with pytest.raises(PermissionDenied):
        call(firms.merge_firms, actor=b1, source_id=b.firm_id, target_id=a.firm_id)
    result = call(firms.merge_firms, actor=manager, source_id=b.firm_id, target_id=a.firm_id)
    assert (result.traders_moved, result.traders_matched) == (1, 1)
    assert result.firm.trader_count == 2
    assert {s.user_id for s in result.firm.coverage.secondary} == {b2.user_id}
    with pytest.raises(NotFound):
        call(firms.get_firm, actor=manager, firm_id=b.firm_id)
    assert call(traders.get_trader, actor=b1, trader_id=moved.trader_id).firm_id == a.firm_id
    history = call(traders.history, actor=b1, trader_id=moved.trader_id)
    assert history[0].from_firm_name == "Alpha Trading Ltd (dup)" and "merge" in history[0].reason


def test_trader_rules(database_url):
    admin, broker, other = make_user(Role.ADMIN), make_user(Role.BROKER), make_user(Role.BROKER)
    f1, f2 = make_firm(broker, name="One"), make_firm(broker, name="Two")
    t = make_trader(
        broker,
        f1.firm_id,
        name="Ann Analyst",
        email="Ann@One.example",
        role="analyst",
        phone="+1 212 555 0147",
    )
    assert t.email == "ann@one.example" and t.role == "Analyst" and t.phone == "+12125550147"
    with pytest.raises(Conflict):
        make_trader(broker, f1.firm_id, email="ANN@one.example")
    make_trader(broker, f2.firm_id, email="ann@one.example")  # unique within the firm only
    with pytest.raises(ValidationFailed) as exc:
        make_trader(broker, f1.firm_id, role="Astronaut")
    assert "role" in exc.value.errors
    call(traders.add_role, actor=admin, name="Astronaut")
    assert make_trader(broker, f1.firm_id, role="astronaut").role == "Astronaut"
    with pytest.raises(NotFound):
        call(traders.get_trader, actor=other, trader_id=t.trader_id)
    with pytest.raises(NotFound):
        call(traders.get_trader, actor=broker, trader_id=t.trader_id, firm_id=f2.firm_id)
    with pytest.raises(PermissionDenied):
        call(
            traders.patch_trader,
            actor=broker,
            trader_id=t.trader_id,
            firm_id=f1.firm_id,
            data=TraderPatch(permissions=[TraderPermission.PORTAL_ACCESS]),
        )


def test_trader_move_keeps_history_and_email_rule(database_url):
    broker = make_user(Role.BROKER)
    f1, f2 = make_firm(broker, name="Old Shop"), make_firm(broker, name="New Shop")
    t = make_trader(broker, f1.firm_id, email="mover@x.example")
    make_trader(broker, f2.firm_id, email="taken@x.example")
    saved = call(
        traders.move_trader,
        actor=broker,
        trader_id=t.trader_id,
        to_firm_id=f2.firm_id,
        reason="joined New Shop",
    )
    assert saved.trader.firm_id == f2.firm_id and saved.trader.trader_id == t.trader_id
    with unit_of_work() as db:
        assert (
            db.exec(select(TraderMove).where(TraderMove.trader_id == t.trader_id)).one().reason
            == "joined New Shop"
        )
    clash = make_trader(broker, f1.firm_id, email="taken@x.example")
    with pytest.raises(Conflict):
        call(traders.move_trader, actor=broker, trader_id=clash.trader_id, to_firm_id=f2.firm_id)


def test_portal_access_grant_and_revoke(database_url):
    manager, broker = make_user(Role.MANAGER), make_user(Role.BROKER)
    firm = make_firm(broker, name="Portal Co")
    t = make_trader(broker, firm.firm_id, email="p@portal.example")
    granted = call(
        traders.patch_trader,
        actor=manager,
        trader_id=t.trader_id,
        firm_id=firm.firm_id,
        data=TraderPatch(
            permissions=[TraderPermission.PORTAL_ACCESS, TraderPermission.VIEW_PORTFOLIO]
        ),
    )
    assert granted.portal_initial_password
    uid = granted.trader.portal_user_id
    call(
        traders.patch_trader,
        actor=broker,
        trader_id=t.trader_id,
        firm_id=firm.firm_id,
        data=TraderPatch(status="left"),
    )
    with unit_of_work() as db:
        assert db.get(User, uid).is_active is False


def test_list_traders_searches_names_and_whole_emails(database_url):
    """Emails are encrypted: a whole address finds its trader (blind index), a part does not."""
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name="Search Co")
    make_trader(broker, firm.firm_id, name="Jonathan Smythe", email="j.smythe@searchco.example")
    make_trader(broker, firm.firm_id, name="Mary Jones", email="mj@searchco.example")

    def q(s):
        return [
            t.name for t in call(traders.list_traders, actor=broker, query=TraderQuery(q=s)).items
        ]

    assert q("jon") == ["Jonathan Smythe", "Mary Jones"]  # Jones starts with "jon" too
    assert q("jona") == ["Jonathan Smythe"]
    assert q("smy") == ["Jonathan Smythe"]
    assert q("searchco") == []
    assert q("mj") == []
    assert q("MJ@searchco.example") == ["Mary Jones"]
