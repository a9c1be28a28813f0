"""Provider webhooks over HTTP, signed with keys the test makes: SendGrid's ECDSA Event Webhook
(de-duplicated by sg_event_id) and Inbound Parse (Reply-To token), Twilio's status callback and
inbound SMS (X-Twilio-Signature through Twilio's own RequestValidator), STOP/START, and the triage
list. Unsigned, forged and replayed webhooks get 403 and change nothing."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import func, select
from twilio.request_validator import RequestValidator

from brm_app import settings as settings_module
from brm_app.db import unit_of_work
from brm_app.models.communication import (
    CommunicationLogEntry,
    Conversation,
    InboundTriage,
    Message,
    MessageAttachment,
    MessageDelivery,
    SmsOptOut,
)
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role
from brm_app.services import communications
from tests.api.test_interactions_api import bearer
from tests.factories import make_firm, make_trader, make_user

API = "/api/v1"
TOKEN = "twilio-test-auth-token"
PUBLIC = "https://brm.example.com"


@pytest.fixture
def key(monkeypatch, database_url):
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    monkeypatch.setenv("BRM_SENDGRID_WEBHOOK_PUBLIC_KEY", base64.b64encode(der).decode())
    monkeypatch.setenv("BRM_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("BRM_PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("BRM_INBOUND_DOMAIN", "reply.brokersync.example")
    settings_module.get_settings.cache_clear()
    return private


def sg_headers(private, body: bytes, timestamp: str = "1700000000") -> dict[str, str]:
    sig = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def tw_post(client, path: str, params: dict[str, str], *, token: str = TOKEN):
    signature = RequestValidator(token).compute_signature(f"{PUBLIC}{path}", params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def desk(client, key):
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    firm = make_firm(broker, name="Webhook Works")
    tess = make_trader(
        manager,
        firm.firm_id,
        name="Tess Hook",
        email="tess@client.example",
        mobile="+447911123456",
        permissions=[
            TraderPermission.PORTAL_ACCESS,
            TraderPermission.RECEIVE_EMAIL,
            TraderPermission.RECEIVE_SMS,
        ],
    )
    return broker, tess


def _send(broker, tess, channel: str, provider_id: str) -> int:
    with unit_of_work(write=True) as db:
        sent = communications.send_to_trader(
            db, actor=broker, trader_id=tess.trader_id, message_type=channel, content="Hello"
        )
        d = db.get(MessageDelivery, sent.deliveries[0].delivery_id)
        d.status, d.provider_message_id = "sent", provider_id
        d.provider = "sendgrid" if channel == "email" else "twilio"
        db.add(d)
        return d.id


def _delivery(delivery_id: int) -> MessageDelivery:
    with unit_of_work() as db:
        return db.get(MessageDelivery, delivery_id)


def _count(model) -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(model)).one()


def test_sendgrid_events_signed_update_status_forged_and_replayed_get_403(client, desk, key):
    broker, tess = desk
    delivery_id = _send(broker, tess, "email", "sg-abc")
    body = json.dumps(
        [
            {
                "event": "delivered",
                "sg_event_id": "evt-1",
                "sg_message_id": "sg-abc.filter0001",
                "brm_ref": f"delivery:{delivery_id}",
            }
        ]
    ).encode()
    path = f"{API}/webhooks/sendgrid/events"
    # Unsigned, and signed by someone else's key: 403, nothing changes.
    assert client.post(path, content=body).status_code == 403
    other = ec.generate_private_key(ec.SECP256R1())
    assert client.post(path, content=body, headers=sg_headers(other, body)).status_code == 403
    tampered = body.replace(b"delivered", b"bounce")
    assert client.post(path, content=tampered, headers=sg_headers(key, body)).status_code == 403
    assert _delivery(delivery_id).status == "sent"
    ok = client.post(path, content=body, headers=sg_headers(key, body))
    assert ok.status_code == 200, ok.text
    assert _delivery(delivery_id).status == "delivered"
    # The same events again: a replay, refused.
    again = client.post(path, content=body, headers=sg_headers(key, body))
    assert again.status_code == 403 and "replay" in again.text
    # A bounce reported for another delivery carries its reason.
    other_id = _send(broker, tess, "email", "sg-def")
    bounce = json.dumps(
        [
            {
                "event": "bounce",
                "sg_event_id": "evt-2",
                "sg_message_id": "sg-def.x",
                "reason": "550 mailbox unknown",
            }
        ]
    ).encode()
    assert client.post(path, content=bounce, headers=sg_headers(key, bounce)).status_code == 200
    d = _delivery(other_id)
    assert d.status == "bounced" and d.error == "550 mailbox unknown"


def test_twilio_status_callback_signed_forged_replayed(client, desk):
    broker, tess = desk
    delivery_id = _send(broker, tess, "sms", "SM777")
    path = f"{API}/webhooks/twilio/status"
    params = {"MessageSid": "SM777", "MessageStatus": "delivered", "AccountSid": "AC1"}
    assert client.post(path, data=params).status_code == 403
    assert tw_post(client, path, params, token="not-the-token").status_code == 403
    assert _delivery(delivery_id).status == "sent"
    assert tw_post(client, path, params).status_code == 204
    assert _delivery(delivery_id).status == "delivered"
    assert tw_post(client, path, params).status_code == 403  # replay
    failed_id = _send(broker, tess, "sms", "SM888")
    fail = {"MessageSid": "SM888", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert tw_post(client, path, fail).status_code == 204
    d = _delivery(failed_id)
    assert d.status == "failed" and d.error == "Twilio error 30003"


def test_inbound_sms_reply_stop_and_start(client, desk):
    broker, tess = desk
    _send(broker, tess, "sms", "SM1")
    path = f"{API}/webhooks/twilio/inbound"
    reply = {"MessageSid": "SMin1", "From": "+447911123456", "To": "+15005550006", "Body": "Yes ok"}
    r = tw_post(client, path, reply)
    assert r.status_code == 200 and "<Response/>" in r.text
    with unit_of_work() as db:
        last = db.exec(select(Message).order_by(Message.id.desc())).first()
    assert last.text == "Yes ok" and last.direction == "inbound" and last.channel == "sms"
    assert last.sender_trader_id == tess.trader_id
    assert tw_post(client, path, reply).status_code == 403  # replayed
    # STOP: later SMS are refused with a clear message until START.
    stop = {"MessageSid": "SMin2", "From": "+447911123456", "To": "+15005550006", "Body": "STOP"}
    assert tw_post(client, path, stop).status_code == 200
    assert _count(SmsOptOut) == 1
    h = bearer(broker)
    body = {"trader_id": tess.trader_id, "message_type": "sms", "content": "Hi"}
    refused = client.post(f"{API}/communications", json=body, headers=h)
    assert refused.status_code == 422 and "opted out" in refused.text
    start = {"MessageSid": "SMin3", "From": "+447911123456", "To": "+15005550006", "Body": "start"}
    assert tw_post(client, path, start).status_code == 200
    assert client.post(f"{API}/communications", json=body, headers=h).status_code == 201
    # From a number nobody has: triage.
    stranger = {"MessageSid": "SMin4", "From": "+14155552671", "To": "+1500", "Body": "who?"}
    assert tw_post(client, path, stranger).status_code == 200
    assert _count(InboundTriage) == 1


def test_stop_and_start_are_the_traders_messages_and_the_opt_out_keeps_no_clear_number(
    client, desk
):
    """STOP and START are communications from the trader: each lands as an inbound SMS in their
    latest SMS conversation and in the communication log; STOP refuses the next SMS with a clear
    message, START allows it again; the opt-out row and its audit events hold the number only
    encrypted (entity_id is the row's id, the changes a digest). From an unknown number the
    keyword goes to triage and the opt-out is still honoured."""
    from brm_app.models.audit import AuditEvent
    from brm_app.services import audit, communication_log
    from brm_app.services.communication_log import LogQuery

    broker, tess = desk
    _send(broker, tess, "sms", "SMk1")
    path = f"{API}/webhooks/twilio/inbound"
    stop = {"MessageSid": "SMk2", "From": "+447911123456", "To": "+15005550006", "Body": "Stop "}
    assert tw_post(client, path, stop).status_code == 200
    with unit_of_work() as db:
        conv = db.exec(select(Conversation)).one()
        last = db.exec(select(Message).order_by(Message.id.desc())).first()
        row = db.exec(select(SmsOptOut)).one()
        event = db.exec(select(AuditEvent).where(AuditEvent.action == "sms.opted_out")).one()
        sealed = audit.sealed_values(db, event.seq)
        log = communication_log.search(
            db, actor=make_user(Role.COMPLIANCE), query=LogQuery(trader_id=tess.trader_id)
        ).items
    assert (last.conversation_id, last.direction, last.channel) == (conv.id, "inbound", "sms")
    assert last.text == "Stop" and last.sender_trader_id == tess.trader_id
    assert any(e.content == "Stop" and e.direction == "inbound" for e in log)
    assert row.number == "+447911123456"  # opened by the app ...
    assert event.entity == "sms_opt_out" and event.entity_id == str(row.id)  # ... not the number
    assert "447911123456" not in event.changes and '"digest"' in event.changes
    assert sealed == {"/number": "+447911123456"}
    assert f'"trader_id":{tess.trader_id}' in event.changes
    h = bearer(broker)
    body = {"trader_id": tess.trader_id, "message_type": "sms", "content": "Hi"}
    refused = client.post(f"{API}/communications", json=body, headers=h)
    assert refused.status_code == 422 and "opted out of SMS (answered STOP)" in refused.text
    # The same number written otherwise is the same opt-out.
    with unit_of_work() as db:
        assert communications.is_opted_out(db, "+44 7911 123456")
    start = {"MessageSid": "SMk3", "From": "+447911123456", "To": "+15005550006", "Body": "START"}
    assert tw_post(client, path, start).status_code == 200
    with unit_of_work() as db:
        last = db.exec(select(Message).order_by(Message.id.desc())).first()
        opted_in = db.exec(select(AuditEvent).where(AuditEvent.action == "sms.opted_in")).one()
    assert last.text == "START" and last.direction == "inbound"
    assert opted_in.entity_id == str(row.id) and "447911123456" not in opted_in.changes
    assert _count(SmsOptOut) == 0
    assert client.post(f"{API}/communications", json=body, headers=h).status_code == 201
    # From a number nobody has: triage, and still opted out.
    stranger = {"MessageSid": "SMk4", "From": "+14155552671", "To": "+1500", "Body": "STOP"}
    assert tw_post(client, path, stranger).status_code == 200
    with unit_of_work() as db:
        item = db.exec(select(InboundTriage)).one()
        assert communications.is_opted_out(db, "+14155552671")
    assert (item.from_address, item.text) == ("+14155552671", "STOP")
    assert _count(Message) == 4  # two sends and Tess's two keywords, nothing for the stranger


def test_inbound_email_matched_by_reply_to_token_else_triage(client, desk, key):
    broker, tess = desk
    _send(broker, tess, "email", "sg-1")
    with unit_of_work() as db:
        conv = db.exec(select(Conversation)).one()
    fields = {
        "from": "Tess Hook <TESS@client.example>",
        "to": f"reply+{conv.reply_token}@reply.brokersync.example",
        "subject": "Re: Hello",
        "text": "Thanks, confirmed.",
        "headers": "Message-ID: <abc@client.example>\nFrom: tess@client.example",
    }
    from urllib3 import encode_multipart_formdata

    raw, content_type = encode_multipart_formdata(fields, boundary="brmboundary")
    path = f"{API}/webhooks/sendgrid/inbound"
    headers = {"Content-Type": content_type, **sg_headers(key, raw)}
    assert client.post(path, content=raw, headers={"Content-Type": content_type}).status_code == 403
    r = client.post(path, content=raw, headers=headers)
    assert r.status_code == 200 and r.json() == {"result": "matched"}
    with unit_of_work() as db:
        last = db.exec(select(Message).order_by(Message.id.desc())).first()
    assert last.text == "Thanks, confirmed." and last.channel == "email"
    assert last.direction == "inbound" and last.conversation_id == conv.id
    assert client.post(path, content=raw, headers=headers).status_code == 403  # replay
    # A reply from someone not in the conversation goes to triage.
    fields.update({"from": "someone@else.example", "headers": "Message-ID: <zzz@else>"})
    raw2, ct2 = encode_multipart_formdata(fields, boundary="brmboundary2")
    r2 = client.post(path, content=raw2, headers={"Content-Type": ct2, **sg_headers(key, raw2)})
    assert r2.json() == {"result": "triage"}
    compliance = make_user(Role.COMPLIANCE)
    listed = client.get(f"{API}/communication-triage", headers=bearer(compliance)).json()
    assert [t["from_address"] for t in listed["items"]] == ["someone@else.example"]
    assert client.get(f"{API}/communication-triage", headers=bearer(broker)).status_code == 403


PDF = b"%PDF-1.4\n% inbound attachment\n%%EOF\n"


def _inbound(client, key, fields: dict) -> dict:
    from urllib3 import encode_multipart_formdata

    raw, content_type = encode_multipart_formdata(fields, boundary="brmfiles")
    r = client.post(
        f"{API}/webhooks/sendgrid/inbound",
        content=raw,
        headers={"Content-Type": content_type, **sg_headers(key, raw)},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_inbound_email_files_become_attachments_checked_like_uploads(client, desk, key):
    broker, tess = desk
    _send(broker, tess, "email", "sg-files")
    with unit_of_work() as db:
        conv = db.exec(select(Conversation)).one()
    big = b"a,b\n" * (10 * 1024 * 1024 // 4 + 1)  # just over 10 MB of CSV
    info = {
        "attachment1": {"filename": "terms.pdf", "type": "application/pdf"},
        "attachment2": {"filename": "invoice.pdf", "type": "application/pdf"},
        "attachment3": {"filename": "prices.csv", "type": "text/csv"},
        "attachment4": {"filename": "tool.exe", "type": "application/octet-stream"},
    }
    answer = _inbound(
        client,
        key,
        {
            "from": "tess@client.example",
            "to": f"reply+{conv.reply_token}@reply.brokersync.example",
            "subject": "Re: Hello",
            "text": "Signed copy attached.",
            "headers": "Message-ID: <files@client.example>",
            "attachments": "4",
            "attachment-info": json.dumps(info),
            "attachment1": ("terms.pdf", PDF, "application/pdf"),
            # A name that lies about its content, one too big, a type we do not take.
            "attachment2": ("invoice.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"),
            "attachment3": ("prices.csv", big, "text/csv"),
            "attachment4": ("tool.exe", b"MZ\x90\x00", "application/octet-stream"),
        },
    )
    assert answer == {"result": "matched"}
    with unit_of_work() as db:
        msg = db.exec(select(Message).order_by(Message.id.desc())).first()
        atts = db.exec(
            select(MessageAttachment).where(MessageAttachment.message_id == msg.id)
        ).all()
        entry = db.exec(
            select(CommunicationLogEntry).where(CommunicationLogEntry.message_id == msg.id)
        ).one()
    assert msg.direction == "inbound" and msg.sender_trader_id == tess.trader_id
    assert [(a.filename, a.size, a.uploaded_by_id) for a in atts] == [("terms.pdf", len(PDF), None)]
    assert msg.text.startswith("Signed copy attached.")
    for refused in ("invoice.pdf", "prices.csv", "tool.exe"):
        assert refused in msg.text  # named in the message (and so in the log)
    assert "larger than 10 MB" in msg.text and "is not the .pdf file" in msg.text
    assert json.loads(entry.attachments) == [
        {"filename": "terms.pdf", "sha256": atts[0].sha256, "size": len(PDF)}
    ]
    # The broker downloads it like any attachment; a broker of another firm cannot.
    got = client.get(f"{API}/attachments/{atts[0].id}", headers=bearer(broker))
    assert got.status_code == 200 and got.content == PDF
    stranger = make_user(Role.BROKER)
    assert (
        client.get(f"{API}/attachments/{atts[0].id}", headers=bearer(stranger)).status_code == 404
    )

    # Unmatched: the triage item keeps the accepted file for when it is assigned.
    answer = _inbound(
        client,
        key,
        {
            "from": "nobody@else.example",
            "to": "desk@reply.brokersync.example",
            "subject": "Statement",
            "text": "See attached.",
            "headers": "Message-ID: <files2@else.example>",
            "attachment1": ("statement.pdf", PDF, "application/pdf"),
        },
    )
    assert answer == {"result": "triage"}
    with unit_of_work() as db:
        item = db.exec(select(InboundTriage)).one()
    kept = json.loads(item.attachments)
    assert [(f["filename"], f["size"], f["content_type"]) for f in kept] == [
        ("statement.pdf", len(PDF), "application/pdf")
    ]


def test_triage_item_assigned_to_a_trader_or_dismissed_with_a_reason_audited(client, desk, key):
    from brm_app.models.audit import AuditEvent

    broker, tess = desk
    _send(broker, tess, "email", "sg-triage")
    with unit_of_work() as db:
        conv = db.exec(select(Conversation)).one()
    for n in (1, 2):
        _inbound(
            client,
            key,
            {
                "from": f"tess.private{n}@home.example",
                "to": "desk@reply.brokersync.example",
                "subject": f"From my phone {n}",
                "text": "Please book it.",
                "headers": f"Message-ID: <triage{n}@home.example>",
                "attachment1": ("order.pdf", PDF, "application/pdf"),
            },
        )
    compliance = make_user(Role.COMPLIANCE)
    hdr = bearer(compliance)
    items = client.get(f"{API}/communication-triage?state=open", headers=hdr).json()["items"]
    assert len(items) == 2 and items[0]["attachments"][0]["filename"] == "order.pdf"
    first, second = items[1]["triage_id"], items[0]["triage_id"]
    base = f"{API}/communication-triage"
    messages_before = _count(Message)

    # Bad input changes nothing: unknown trader, a conversation of another firm, no reason.
    other_firm = make_firm(broker, name="Elsewhere Ltd")
    outsider = make_trader(broker, other_firm.firm_id, name="Otto Out", email="otto@else.example")
    bad = [
        (f"{base}/{first}/assign", {"trader_id": 999999}),
        (f"{base}/{first}/assign", {"trader_id": outsider.trader_id, "conversation_id": conv.id}),
        (f"{base}/{first}/assign", {"trader_id": outsider.trader_id}),  # no conversation yet
        (f"{base}/{first}/dismiss", {"reason": ""}),
        (f"{base}/999999/dismiss", {"reason": "x"}),
    ]
    for url, body in bad:
        r = client.post(url, json=body, headers=hdr)
        assert r.status_code in (404, 422), (url, body, r.text)
    assert _count(Message) == messages_before

    # Assigned: the trader's inbound message in the conversation, with the file, audited.
    r = client.post(f"{base}/{first}/assign", json={"trader_id": tess.trader_id}, headers=hdr)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["resolution"] == "assigned" and done["conversation_id"] == conv.id
    assert done["resolved_by_id"] == compliance.user_id
    msg = client.get(
        f"{API}/communications/{done['communication_id']}", headers=bearer(broker)
    ).json()
    assert msg["direction"] == "inbound" and msg["trader_id"] == tess.trader_id
    assert msg["content"] == "From my phone 1\n\nPlease book it."
    assert [a["filename"] for a in msg["attachments"]] == ["order.pdf"]
    # Resolved once: a second try is a conflict.
    again = client.post(f"{base}/{first}/dismiss", json={"reason": "dup"}, headers=hdr)
    assert again.status_code == 409

    # Dismissed with a reason.
    r = client.post(f"{base}/{second}/dismiss", json={"reason": "Duplicate of #1"}, headers=hdr)
    assert r.status_code == 200 and r.json()["resolution_reason"] == "Duplicate of #1"
    assert client.get(f"{base}?state=open", headers=hdr).json()["items"] == []
    assert len(client.get(f"{base}?state=resolved", headers=hdr).json()["items"]) == 2
    with unit_of_work() as db:
        actions = db.exec(
            select(AuditEvent.action, AuditEvent.actor_id).where(
                AuditEvent.entity == "inbound_triage",
                AuditEvent.action.in_(
                    ["communication.triage_assigned", "communication.triage_dismissed"]
                ),
            )
        ).all()
    assert sorted(actions) == [
        ("communication.triage_assigned", compliance.user_id),
        ("communication.triage_dismissed", compliance.user_id),
    ]
    # A broker may not resolve triage.
    assert (
        client.post(f"{base}/{second}/dismiss", json={"reason": "x"}, headers=bearer(broker))
    ).status_code == 403
