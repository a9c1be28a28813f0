"""The Communication Center's state: a broker and a portal trader on two tabs; a message sent on
one reaches the other through the "messages" live event (the same push as the bell), with its
unread count, and read receipts come back; compliance reads without writing; ids from the
browser are checked again by the services."""

from __future__ import annotations

from sqlmodel import select

from brm_app import events, live
from brm_app.db import unit_of_work, utcnow
from brm_app.models.trader import Trader, TraderPermission
from brm_app.models.user import Role, User
from brm_app.services import conversations
from brm_app.state.communications import CommsState, MessageBadgeState
from tests.factories import PASSWORD, make_firm, make_trader, make_user
from tests.state.conftest import Browser, session_token_for, tab_server
from tests.state.test_live_push import _Worker


def _tab(email: str, user_id: int, path: str) -> Browser:
    browser = Browser(session_token_for(email), path)
    live.remember_tab(browser.token, user_id)
    return browser


def _world():
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    firm = make_firm(broker, name="Tabs Capital")
    tess = make_trader(
        manager, firm.firm_id, name="Tess Tab", permissions=[TraderPermission.PORTAL_ACCESS]
    )
    with unit_of_work(write=True) as db:
        user = db.get(User, db.get(Trader, tess.trader_id).user_id)
        from brm_app.auth import passwords

        # A portal account gets a password of the test's choosing, to sign in the tab with.

        user.password_hash = passwords.hash_password(PASSWORD)
        user.must_change_password = False
        db.add(user)
        trader_user = (user.id, user.email)
    with unit_of_work(write=True) as db:
        conv = conversations.start_conversation(db, actor=broker, trader_ids=[tess.trader_id])
    return broker, trader_user, conv.id


def test_a_message_reaches_the_other_tab_live_with_its_unread_count(database_url):
    broker, (trader_uid, trader_email), conv_id = _world()
    server = tab_server()
    broker_tab = _tab(broker.email, broker.user_id, f"/communications?conversation={conv_id}")
    trader_tab = _tab(trader_email, trader_uid, f"/communications?conversation={conv_id}")
    broker_tab.fire(CommsState, "load")
    trader_tab.fire(CommsState, "load")
    trader_tab.fire(CommsState, "open", 0)  # a bad id changes nothing
    assert trader_tab.state(CommsState).open_id == conv_id

    # The broker sends; the event the service published is delivered as a worker would.
    with unit_of_work(write=True) as db:
        sent = conversations.send_message(
            db, actor=broker, conversation_id=conv_id, content="Live hello"
        )
        users = events.pending(db, conversations.TOPIC)
    assert trader_uid in users
    # The trader is looking elsewhere: their badge counts it.
    trader_tab.server_state(CommsState).open_id = 0
    event = events.Event(conversations.TOPIC, frozenset(users), (conv_id,))
    server.loop.run(live.deliver_messages(_Worker(server), event))
    assert trader_tab.state(MessageBadgeState).unread == 1
    assert trader_tab.state(CommsState).conversations[0]["unread"] == 1

    # Opening it reads it: the receipt shows on the broker's tab after the next push.
    trader_tab.fire(CommsState, "open", conv_id)
    assert trader_tab.state(CommsState).messages[-1]["text"] == "Live hello"
    assert trader_tab.state(MessageBadgeState).unread == 0
    server.loop.run(live.deliver_messages(_Worker(server), event))
    last = broker_tab.state(CommsState).messages[-1]
    assert last["id"] == sent.communication_id and last["read_by"] == "Read by Tess Tab"
    # Nobody is told they read something themselves: Tess's own view names no reader.
    assert trader_tab.state(CommsState).messages[-1]["read_by"] == ""
    assert server.errors == []


def test_compliance_reads_but_the_composer_refuses(database_url):
    _, _, conv_id = _world()
    compliance = make_user(Role.COMPLIANCE)
    tab = Browser(session_token_for(compliance.email), f"/communications?conversation={conv_id}")
    tab.fire(CommsState, "load")
    state = tab.state(CommsState)
    assert state.open_id == conv_id and state.can_write is False
    tab.fire(CommsState, "send", {"content": "I should not"})
    assert "permission" in tab.state(CommsState).error
    with unit_of_work() as db:
        from brm_app.models.communication import Message

        assert db.exec(select(Message)).all() == []


def test_a_stranger_cannot_open_a_conversation_by_id(database_url):
    _, _, conv_id = _world()
    stranger = make_user(Role.BROKER)
    tab = Browser(session_token_for(stranger.email), "/communications")
    tab.fire(CommsState, "load")
    tab.fire(CommsState, "open", conv_id)
    state = tab.state(CommsState)
    assert state.open_id == 0 and state.messages == [] and "not found" in state.error


def test_the_log_page_is_for_compliance_and_admins(database_url):
    from brm_app.state.communication_log import CommLogState

    broker, _, conv_id = _world()
    with unit_of_work(write=True) as db:
        conversations.send_message(db, actor=broker, conversation_id=conv_id, content="Logged")
    compliance = make_user(Role.COMPLIANCE)
    tab = Browser(session_token_for(compliance.email), "/communications/log")
    tab.fire(CommLogState, "load")
    state = tab.state(CommLogState)
    assert state.total == 1 and state.rows[0]["content"] == "Logged"
    tab.fire(CommLogState, "search", {"text": "nothing like it"})
    assert tab.state(CommLogState).total == 0
    assert "text=nothing" in tab.state(CommLogState).csv_url
    tab.fire(CommLogState, "search", {"date_from": "not a date"})
    assert "date" in tab.state(CommLogState).error
    # The trader, broker and firm filters are chosen by name, not typed as ids.
    tab.fire(CommLogState, "search", {})
    tab.fire(CommLogState, "find", "trader", "tess")
    state = tab.state(CommLogState)
    assert state.finding == "trader" and [m["label"] for m in state.found] == [
        "Tess Tab (Tabs Capital)"
    ]
    match = state.found[0]
    tab.fire(CommLogState, "pick", "trader", match["id"], match["label"])
    state = tab.state(CommLogState)
    assert state.total == 1 and state.found == []
    assert state.picked["trader"]["label"] == "Tess Tab (Tabs Capital)"
    assert f"trader_id={match['id']}" in state.csv_url
    tab.fire(CommLogState, "find", "firm", "no such firm")
    assert tab.state(CommLogState).found == []
    tab.fire(CommLogState, "find", "planet", "tess")  # not a kind: nothing
    tab.fire(CommLogState, "pick", "firm", -1, "bad")
    assert "firm" not in tab.state(CommLogState).picked
    tab.fire(CommLogState, "unpick", "trader")
    assert (
        tab.state(CommLogState).picked == {} and "trader_id" not in tab.state(CommLogState).csv_url
    )
    # Rows read as words.
    assert tab.state(CommLogState).rows[0]["channel"] in ("In-app", "Email", "SMS")
    assert tab.state(CommLogState).rows[0]["direction"] == "sent"
    other = Browser(session_token_for(broker.email), "/communications/log")
    other.fire(CommLogState, "load")
    assert other.state(CommLogState).rows == [] and "permission" in other.state(CommLogState).error


def test_my_notification_preferences(database_url):
    from brm_app.state.preferences import PreferencesState

    ann = make_user(Role.BROKER)
    tab = Browser(session_token_for(ann.email), "/account")
    tab.fire(PreferencesState, "load")
    kinds = [r["kind"] for r in tab.state(PreferencesState).rows]
    assert kinds == ["reminder", "overdue", "message", "assigned", "review"]
    tab.fire(PreferencesState, "toggle", "message", "sms", True)
    assert "mobile" in tab.state(PreferencesState).error
    tab.fire(
        PreferencesState,
        "save_contact",
        {"mobile": "+447911123456", "quiet_start": "22:00", "quiet_end": "07:00"},
    )
    tab.fire(PreferencesState, "toggle", "message", "sms", True)
    state = tab.state(PreferencesState)
    assert state.error == "" and state.quiet_start == "22:00"
    assert next(r for r in state.rows if r["kind"] == "message")["sms"] is True
    tab.fire(PreferencesState, "toggle", "no-such-kind", "sms", True)
    tab.fire(PreferencesState, "save_contact", {"mobile": "not a number"})
    assert "mobile" in tab.state(PreferencesState).error


def test_compliance_resolves_the_triage_list_from_the_log_page(database_url):
    from brm_app.models.communication import InboundTriage, Message
    from brm_app.state.communication_log import CommLogState

    broker, _, conv_id = _world()
    with unit_of_work() as db:
        tess_id = db.exec(select(Trader.id).where(Trader.name == "Tess Tab")).one()
    with unit_of_work(write=True) as db:
        items = [
            InboundTriage(channel="sms", from_address="+447700900123", to_address="", text=t)
            for t in ("Call me back", "WIN A PRIZE")
        ]
        db.add_all(items)
        db.flush()
        call_me, spam = (i.id for i in items)
    compliance = make_user(Role.COMPLIANCE)
    tab = Browser(session_token_for(compliance.email), "/communications/log")
    tab.fire(CommLogState, "load")
    assert [t["text"] for t in tab.state(CommLogState).triage] == ["WIN A PRIZE", "Call me back"]
    # Bad input: nothing changes (a trader id typed in the form counts for nothing: the trader
    # is found by name).
    tab.fire(CommLogState, "assign_triage", {"triage_id": str(call_me), "trader_id": "abc"})
    tab.fire(CommLogState, "assign_triage", {"triage_id": str(call_me), "trader_id": str(tess_id)})
    tab.fire(CommLogState, "dismiss_triage", {"triage_id": str(spam), "reason": "  "})
    tab.fire(CommLogState, "dismiss_triage", ["not", "a", "form"])
    tab.fire(CommLogState, "start_assigning", 10**9)  # not an item of the list
    assert tab.state(CommLogState).assigning == 0
    assert len(tab.state(CommLogState).triage) == 2
    # Assigned to Tess, found by name, in her conversation; dismissed with a reason: both leave
    # the list.
    tab.fire(CommLogState, "start_assigning", call_me)
    tab.fire(CommLogState, "find", "assignee", "Tess")
    match = tab.state(CommLogState).found[0]
    assert match["id"] == tess_id
    tab.fire(CommLogState, "pick", "assignee", match["id"], match["label"])
    assert [c["id"] for c in tab.state(CommLogState).assignee_conversations] == [conv_id]
    # Another item than the one being assigned is refused.
    tab.fire(CommLogState, "assign_triage", {"triage_id": str(spam)})
    assert len(tab.state(CommLogState).triage) == 2
    tab.fire(
        CommLogState,
        "assign_triage",
        {"triage_id": str(call_me), "conversation_id": str(conv_id)},
    )
    assert tab.state(CommLogState).assigning == 0
    tab.fire(CommLogState, "dismiss_triage", {"triage_id": str(spam), "reason": "Spam"})
    assert tab.state(CommLogState).triage == []
    with unit_of_work() as db:
        msg = db.exec(select(Message).order_by(Message.id.desc())).first()
        assert (msg.conversation_id, msg.trader_id, msg.text) == (conv_id, tess_id, "Call me back")
        assert db.get(InboundTriage, spam).resolution_reason == "Spam"
    # A broker's tab may not resolve anything.
    with unit_of_work(write=True) as db:
        item = InboundTriage(channel="sms", from_address="+447700900124", to_address="", text="x")
        db.add(item)
        db.flush()
        other = item.id
    broker_tab = Browser(session_token_for(broker.email), "/communications/log")
    broker_tab.fire(CommLogState, "dismiss_triage", {"triage_id": str(other), "reason": "no"})
    with unit_of_work() as db:
        assert db.get(InboundTriage, other).resolved_at is None


def test_a_portal_trader_sees_the_broker_as_the_conversations_title(database_url):
    """The trader's own name as the title of their conversation said nothing (acceptance walk of
    issue 10): a trader sees who they talk to, the broker; the broker still sees the traders."""
    broker, (trader_uid, trader_email), conv_id = _world()
    trader_tab = _tab(trader_email, trader_uid, f"/communications?conversation={conv_id}")
    trader_tab.fire(CommsState, "load")
    state = trader_tab.state(CommsState)
    assert state.open_title == broker.name
    assert [c["title"] for c in state.conversations] == [broker.name]
    broker_tab = _tab(broker.email, broker.user_id, f"/communications?conversation={conv_id}")
    broker_tab.fire(CommsState, "load")
    state = broker_tab.state(CommsState)
    assert state.open_title == "Tess Tab"
    assert [c["title"] for c in state.conversations] == ["Tess Tab"]


def test_a_refused_sms_says_why_in_a_sentence_without_the_field_name(database_url):
    """The composer showed "message_type: Tess's number has opted out..." (acceptance walk of
    issue 10): the person reads the reason alone."""
    from brm_app.models.communication import Message, SmsOptOut

    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    firm = make_firm(broker, name="Opt Out Capital")
    tess = make_trader(
        manager,
        firm.firm_id,
        name="Tess Stop",
        mobile="+447911123456",
        permissions=[TraderPermission.RECEIVE_SMS],
    )
    with unit_of_work(write=True) as db:
        db.add(SmsOptOut(number="+447911123456"))
    tab = _tab(broker.email, broker.user_id, f"/communications?trader={tess.trader_id}")
    tab.fire(CommsState, "load")
    tab.fire(CommsState, "set_channel", "sms")
    tab.fire(CommsState, "send", {"content": "Are you there?"})
    error = tab.state(CommsState).error
    assert error.startswith("Tess Stop's number has opted out of SMS"), error
    assert "message_type" not in error
    with unit_of_work() as db:
        assert db.exec(select(Message)).all() == []


def test_a_broker_starts_an_email_conversation_with_a_trader_without_portal_access(database_url):
    """ "New conversation" on such a trader's tab did nothing and said nothing (acceptance walk of
    issue 10; most demo traders have no portal access): it opens a conversation on the email
    channel, the one the trader can be reached on, and the email goes out from it."""
    from brm_app.models.communication import Message, MessageDelivery

    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    firm = make_firm(broker, name="Mail Only Capital")
    amy = make_trader(
        manager,
        firm.firm_id,
        name="Amy Mail",
        email="amy@mail.example",
        permissions=[TraderPermission.RECEIVE_EMAIL],
    )
    tab = _tab(broker.email, broker.user_id, f"/communications?trader={amy.trader_id}")
    tab.fire(CommsState, "load")
    tab.fire(CommsState, "start_with_trader")
    state = tab.state(CommsState)
    assert state.error == "" and state.open_id > 0 and state.open_title == "Amy Mail"
    assert state.channel == "email"
    tab.fire(CommsState, "send", {"content": "Your statement is ready."})
    assert tab.state(CommsState).error == ""
    with unit_of_work() as db:
        (message,) = db.exec(select(Message)).all()
        (delivery,) = db.exec(select(MessageDelivery)).all()
    assert message.channel == "email" and delivery.channel == "email"
    # A trader who can be reached on no channel: the tab says why.
    nobody = make_trader(manager, firm.firm_id, name="No Way", permissions=[])
    other = _tab(broker.email, broker.user_id, f"/communications?trader={nobody.trader_id}")
    other.fire(CommsState, "load")
    other.fire(CommsState, "start_with_trader")
    state = other.state(CommsState)
    assert state.open_id == 0 and "No Way" in state.error


def test_the_broker_side_sees_that_a_trader_opted_out_of_sms(database_url):
    """The broker learned of a STOP only when a send was refused: the trader's communications
    tab and their conversation now say "SMS: <name> opted out since <date>"; a portal trader's
    own view does not; once the number is opted back in the note is gone."""
    from brm_app.models.communication import SmsOptOut

    broker, (trader_uid, trader_email), conv_id = _world()
    with unit_of_work(write=True) as db:
        tess = db.exec(select(Trader).where(Trader.name == "Tess Tab")).one()
        tess.mobile, tess.receive_sms = "+447911123456", True
        db.add(tess)
        db.add(SmsOptOut(number="+44 7911 123456"))
        tess_id = tess.id
    today = f"{utcnow():%Y-%m-%d}"
    tab = _tab(
        broker.email,
        broker.user_id,
        f"/communications?trader={tess_id}&conversation={conv_id}",
    )
    tab.fire(CommsState, "load")
    state = tab.state(CommsState)
    note = f"SMS: Tess Tab opted out since {today}"
    assert state.trader_sms_note.startswith(note), state.trader_sms_note
    assert [n[: len(note)] for n in state.open_sms_notes] == [note]
    trader_tab = _tab(trader_email, trader_uid, f"/communications?conversation={conv_id}")
    trader_tab.fire(CommsState, "load")
    assert trader_tab.state(CommsState).open_sms_notes == []
    with unit_of_work(write=True) as db:
        db.delete(db.exec(select(SmsOptOut)).one())
    tab.fire(CommsState, "load")
    state = tab.state(CommsState)
    assert state.trader_sms_note == "" and state.open_sms_notes == []
