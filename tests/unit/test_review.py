"""Supervisory review: the lexicon (wildcards, phrases, apostrophes), selection of messages and
interaction versions by lexicon, attachment and sample, the queue nobody sees their own items in,
approve/escalate/flag with append-only evidence in the audit chain, and the reports — on SQLite
and PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from brm_app.db import unit_of_work, utcnow
from brm_app.models.audit import AuditEvent
from brm_app.models.follow_up import Notification
from brm_app.models.interaction import InteractionWrite
from brm_app.models.review import ReviewEvidence, ReviewItem
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role
from brm_app.services import audit, conversations, interactions, review
from brm_app.services.errors import NotFound, PermissionDenied, ValidationFailed
from tests.factories import make_firm, make_trader, make_user


def call(fn, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, **kw)


def never() -> float:
    return 1.0  # the sample never picks


def always() -> float:
    return 0.0


# ---- the lexicon (no database) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "term", "hit"),
    [
        ("We guarantee it", "guarantee*", "guarantee"),
        ("It is GUARANTEED to rise", "guarantee*", "GUARANTEED"),
        ("You can't lose here", "can't lose", "can't lose"),
        ("You can\u2019t   lose here", "can't lose", "can\u2019t   lose"),
        ("This is\noff the record, ok?", "off the record", "off the record"),
        ("a risk-free trade", "risk-free", "risk-free"),
    ],
)
def test_terms_match_words_phrases_wildcards_and_apostrophes(text, term, hit):
    found = review.find_hit(text, review.lexicon([term]), [term])
    assert found is not None
    assert text[found.start : found.end] == hit


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("unguaranteed", "guarantee*"),  # inside another word
        ("promissory note", "promise*"),
        ("off-the-cuff record", "off the record"),
        ("", "guarantee*"),
    ],
)
def test_terms_do_not_match_inside_other_words(text, term):
    assert review.find_hit(text, review.lexicon([term]), [term]) is None


def test_every_term_found_is_named_and_the_first_hit_is_highlighted():
    terms = ["promise*", "guarantee*"]
    text = "I guarantee it and I promise you, I promise."
    hit = review.find_hit(text, review.lexicon(terms), terms)
    assert hit is not None
    assert text[hit.start : hit.end] == "guarantee"
    assert hit.terms == ["guarantee*", "promise*"]
    long = "x" * 300 + " guarantee " + "y" * 300
    cut, hs, he = review.excerpt(long, 301, 310)
    assert cut[hs:he] == "guarantee"
    assert cut.startswith("…") and cut.endswith("…")
    assert len(cut) <= 2 * review.CONTEXT + 9 + 2


# ---- selection --------------------------------------------------------------------------------


@pytest.fixture
def desk(database_url):
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    compliance = make_user(Role.COMPLIANCE)
    compliance2 = make_user(Role.COMPLIANCE)
    admin = make_user(Role.ADMIN)
    other_manager = make_user(Role.MANAGER)
    firm = make_firm(broker, name="Review Capital")
    portal = [TraderPermission.PORTAL_ACCESS]
    tess = make_trader(manager, firm.firm_id, name="Tess Review", permissions=portal)
    conv = call(
        conversations.start_conversation,
        actor=broker,
        trader_ids=[tess.trader_id],
        subject="Ideas",
    )
    return {
        "manager": manager,
        "broker": broker,
        "compliance": compliance,
        "compliance2": compliance2,
        "admin": admin,
        "other_manager": other_manager,
        "firm": firm,
        "tess": tess,
        "conv": conv.id,
    }


def say(d, text):
    return call(
        conversations.send_message, actor=d["broker"], conversation_id=d["conv"], content=text
    )


def log(d, subject, notes=None):
    data = InteractionWrite(
        trader_ids=[d["tess"].trader_id],
        interaction_type="Call",
        interaction_date=utcnow() - timedelta(hours=1),
        subject=subject,
        notes=notes,
    )
    return call(interactions.log_interaction, actor=d["broker"], data=data)


def items():
    with unit_of_work() as db:
        return db.exec(select(ReviewItem).order_by(ReviewItem.id)).all()


def test_two_runners_at_once_select_each_record_once(desk, monkeypatch):
    """Two servers' job runners pass at the same moment (issue 14): one selects, the other waits
    for it and finds nothing new; neither fails on a duplicate item."""
    say(desk, "Honestly this fund is guaranteed to beat the index.")
    log(desk, "Call about Q3", notes="Told them it was risk free, off the record.")
    both_read = threading.Barrier(2, timeout=2)
    last_id = review._last_id

    def read_then_wait(db, source):
        found = last_id(db, source)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()  # (without a lock, both read the same position before either writes)
        return found

    monkeypatch.setattr(review, "_last_id", read_then_wait)
    made, errors = [], []

    def runner() -> None:
        try:
            made.append(call(review.select_new, chance=never))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(made) == [0, 2]
    assert len(items()) == 2


def test_selection_by_lexicon_from_messages_and_interactions_once(desk):
    say(desk, "Morning, the usual update.")
    say(desk, "Honestly this fund is guaranteed to beat the index.")
    log(desk, "Call about Q3", notes="Told them it was risk free, off the record.")
    made = call(review.select_new, chance=never)
    assert made == 2
    got = items()
    assert [(i.source, i.reason) for i in got] == [
        ("message", "lexicon"),
        ("interaction", "lexicon"),
    ]
    msg, inter = got
    assert msg.excerpt[msg.hit_start : msg.hit_end] == "guaranteed"
    assert msg.broker_id == desk["broker"].user_id
    assert msg.link == f"/communications?conversation={desk['conv']}"
    assert inter.rule == "risk free, off the record"
    assert inter.link.startswith("/interactions/")
    # The next pass starts where this one stopped: nothing is selected twice.
    assert call(review.select_new, chance=always) == 0
    # Each selection is in the audit chain.
    with unit_of_work() as db:
        actions = db.exec(select(AuditEvent.action)).all()
    assert actions.count("review.selected") == 2
    # Compliance hears of it in the bell.
    with unit_of_work() as db:
        notes = db.exec(
            select(Notification).where(Notification.user_id == desk["compliance"].user_id)
        ).all()
    assert [n.title for n in notes] == ["2 new item(s) to review"]


def test_attachments_and_samples_are_selected_by_their_rules(desk):
    from brm_app.services import attachments

    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    att = call(
        attachments.upload,
        actor=desk["broker"],
        conversation_id=desk["conv"],
        filename="terms.pdf",
        data=pdf,
    )
    call(
        conversations.send_message,
        actor=desk["broker"],
        conversation_id=desk["conv"],
        content="Terms attached",
        attachment_ids=[att.attachment_id],
    )
    say(desk, "Plain words")
    assert call(review.select_new, chance=never) == 1
    assert [i.reason for i in items()] == ["attachment"]
    say(desk, "More plain words")
    assert call(review.select_new, chance=always) == 1
    assert [i.reason for i in items()] == ["attachment", "sample"]
    # Sampling off, attachments rule off: nothing more.
    call(review.update_rules, actor=desk["admin"], sample_percent=0, attachments=False)
    say(desk, "Even more plain words")
    assert call(review.select_new, chance=always) == 0


def test_rules_are_set_by_admins_only_validated_and_audited(desk):
    with pytest.raises(PermissionDenied):
        call(review.update_rules, actor=desk["compliance"], terms=["x"])
    with pytest.raises(ValidationFailed):
        call(review.update_rules, actor=desk["admin"], sample_percent=101)
    with pytest.raises(ValidationFailed):
        call(review.update_rules, actor=desk["admin"], terms=["***"])
    with pytest.raises(ValidationFailed):
        call(review.update_rules, actor=desk["admin"], overdue_days=0)
    rules = call(
        review.update_rules,
        actor=desk["admin"],
        terms="moon*\n\nsure thing\nMOON*",
        sample_percent=2.5,
    )
    assert rules.terms == ["moon*", "sure thing"]
    assert rules.sample_percent == 2.5
    say(desk, "To the mooooon? No: to the moonshot, a sure   thing.")
    call(review.select_new, chance=never)
    assert items()[0].rule == "moon*, sure thing"
    with unit_of_work() as db:
        assert db.exec(
            select(AuditEvent).where(AuditEvent.action == "review.rules_changed")
        ).first()


def test_the_queue_never_shows_ones_own_and_managers_see_only_what_was_escalated(desk):
    say(desk, "I promise you this")
    call(review.select_new, chance=never)
    (item,) = items()
    with unit_of_work() as db:
        for who in ("compliance", "admin"):
            assert [i.id for i in review.list_items(db, actor=desk[who]).items] == [item.id]
        assert review.list_items(db, actor=desk["manager"]).items == []
        with pytest.raises(NotFound):
            review.get_item(db, actor=desk["manager"], item_id=item.id)
        with pytest.raises(PermissionDenied):
            review.list_items(db, actor=desk["broker"])
    # A compliance officer's own message is not in their queue, and they cannot act on it.
    officer = desk["compliance"]
    with unit_of_work(write=True) as db:
        db.exec(sa.update(ReviewItem).values(broker_id=officer.user_id))  # type: ignore[call-overload]
    with unit_of_work() as db:
        assert review.list_items(db, actor=officer).items == []
    with pytest.raises(NotFound):
        call(review.act, actor=officer, item_id=item.id, action="approve")


def test_escalate_then_decide_with_evidence_in_the_chain(desk):
    say(desk, "It's a guarantee")
    call(review.select_new, chance=never)
    (item,) = items()
    c1, c2, mgr = desk["compliance"], desk["compliance2"], desk["manager"]
    # A comment is needed to escalate or flag; the target must be a reviewer, not the broker.
    with pytest.raises(ValidationFailed):
        call(review.act, actor=c1, item_id=item.id, action="escalate", escalate_to=mgr.user_id)
    with pytest.raises(ValidationFailed):
        call(
            review.act,
            actor=c1,
            item_id=item.id,
            action="escalate",
            comment="check",
            escalate_to=desk["broker"].user_id,
        )
    with pytest.raises(ValidationFailed):
        call(review.act, actor=c1, item_id=item.id, action="delete")
    with unit_of_work() as db:
        targets = {t["id"] for t in review.escalation_targets(db, actor=c1, item_id=item.id)}
    assert mgr.user_id in targets and c2.user_id in targets
    assert desk["broker"].user_id not in targets and c1.user_id not in targets
    out = call(
        review.act,
        actor=c1,
        item_id=item.id,
        action="escalate",
        comment="Please talk to your broker",
        escalate_to=mgr.user_id,
    )
    assert out.status == "escalated" and out.assigned_to_id == mgr.user_id
    # Now only the manager decides it (another reviewer cannot), and they see it.
    with pytest.raises(ValidationFailed):
        call(review.act, actor=c2, item_id=item.id, action="approve")
    with unit_of_work() as db:
        assert [i.id for i in review.list_items(db, actor=mgr, status="escalated").items] == [
            item.id
        ]
        assert review.list_items(db, actor=desk["other_manager"], status="all").items == []
    done = call(review.act, actor=mgr, item_id=item.id, action="flag", comment="Spoke to him")
    assert done.status == "flagged" and done.closed_at is not None
    assert [(a.action, a.reviewer_id) for a in done.actions] == [
        ("escalate", c1.user_id),
        ("flag", mgr.user_id),
    ]
    with pytest.raises(ValidationFailed):
        call(review.act, actor=mgr, item_id=item.id, action="approve")
    # The manager was told in the bell.
    with unit_of_work() as db:
        assert db.exec(
            select(Notification).where(
                Notification.user_id == mgr.user_id, Notification.kind == "review"
            )
        ).first()
        actions = db.exec(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions[-2:] == ["review.escalate", "review.flag"]
        assert audit.verify_chain(db).ok


def test_evidence_cannot_be_changed_or_removed_in_the_database(desk):
    say(desk, "guarantee")
    call(review.select_new, chance=never)
    (item,) = items()
    call(review.act, actor=desk["compliance"], item_id=item.id, action="approve")
    for stmt in (
        sa.update(ReviewEvidence).values(comment="changed"),  # type: ignore[arg-type]
        sa.delete(ReviewEvidence),
    ):
        with pytest.raises(sa.exc.DBAPIError), unit_of_work(write=True) as db:
            db.exec(stmt)  # type: ignore[call-overload]


def test_reports_coverage_overdue_and_flags(desk):
    say(desk, "guarantee one")
    say(desk, "guarantee two")
    say(desk, "promise three")
    call(review.select_new, chance=never)
    first, second, third = items()
    c = desk["compliance"]
    call(review.act, actor=c, item_id=first.id, action="flag", comment="bad")
    call(review.act, actor=c, item_id=second.id, action="approve")
    # The third is old and undecided.
    with unit_of_work(write=True) as db:
        row = db.get(ReviewItem, third.id)
        row.created_at = utcnow() - timedelta(days=10)
        db.add(row)
    with unit_of_work() as db:
        rep = review.report(db, actor=c)
        with pytest.raises(PermissionDenied):
            review.report(db, actor=desk["manager"])
        with pytest.raises(ValidationFailed):
            review.report(db, actor=c, months=0)
    mine = [r for r in rep.coverage if r["broker_id"] == desk["broker"].user_id]
    assert sum(r["selected"] for r in mine) == 3
    assert sum(r["decided"] for r in mine) == 2
    assert sum(r["flagged"] for r in mine) == 1
    assert rep.open_too_long_count == 1
    assert rep.open_too_long[0].id == third.id and rep.open_too_long[0].overdue
    assert rep.flags_by_rule == [{"reason": "lexicon", "rule": "guarantee*", "count": 1}]


def test_the_queue_lists_each_items_evidence(desk):
    """A decided item in the queue shows who decided what, when and why (the walk found the
    queue showed only a status: the evidence was in the API's item and the audit trail)."""
    say(desk, "It's a guarantee")
    say(desk, "No promise made")
    call(review.select_new, chance=never)
    first, second = items()
    c1, mgr = desk["compliance"], desk["manager"]
    call(
        review.act,
        actor=c1,
        item_id=first.id,
        action="escalate",
        comment="Please look",
        escalate_to=mgr.user_id,
    )
    call(review.act, actor=mgr, item_id=first.id, action="flag", comment="Spoke to him")
    with unit_of_work() as db:
        listed = {i.id: i for i in review.list_items(db, actor=c1, status="all").items}
    assert [(a.action, a.reviewer_name, a.comment) for a in listed[first.id].actions] == [
        ("escalate", c1.name, "Please look"),
        ("flag", mgr.name, "Spoke to him"),
    ]
    assert listed[first.id].actions[0].escalated_to_name == mgr.name
    assert listed[second.id].actions == []
