"""Communications over HTTP: the design's endpoints and names, conversations, attachments upload
and download, read marks, email/SMS refusals, and the compliance log's search and exports.
Bad input is a 4xx naming the problem and changes nothing."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import pytest
from sqlmodel import func, select

from brm_app.db import unit_of_work
from brm_app.models.communication import CommunicationLogEntry, Message, MessageDelivery
from brm_app.models.trader import Trader, TraderPermission
from brm_app.models.user import Role, User
from brm_app.services.authentication import actor_of
from tests.api.test_interactions_api import bearer
from tests.factories import make_firm, make_trader, make_user

API = "/api/v1"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"


class Desk:
    def __init__(self) -> None:
        self.manager = make_user(Role.MANAGER)
        self.broker = make_user(Role.BROKER, manager_id=self.manager.user_id)
        self.compliance = make_user(Role.COMPLIANCE)
        self.firm = make_firm(self.broker, name="Message Markets")
        self.tess = make_trader(
            self.manager,
            self.firm.firm_id,
            name="Tess Portal",
            permissions=[
                TraderPermission.PORTAL_ACCESS,
                TraderPermission.RECEIVE_EMAIL,
                TraderPermission.RECEIVE_SMS,
            ],
            mobile="+447911123456",
        )
        self.nora = make_trader(
            self.broker, self.firm.firm_id, name="Nora Plain", phone="+442079460958"
        )
        with unit_of_work() as db:
            user = db.get(User, db.get(Trader, self.tess.trader_id).user_id)
            self.tess_actor = actor_of(user, ip="127.0.0.1")
        self.h = {
            "broker": bearer(self.broker),
            "manager": bearer(self.manager),
            "compliance": bearer(self.compliance),
            "tess": bearer(self.tess_actor),
        }


@pytest.fixture
def desk(client) -> Desk:
    return Desk()


def _count(model) -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(model)).one()


def test_post_communication_uses_the_design_names(client, desk):
    r = client.post(
        f"{API}/communications",
        json={"trader_id": desk.tess.trader_id, "message_type": "in_app", "content": "Hello Tess"},
        headers=desk.h["broker"],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    for name in (
        "communication_id",
        "broker_id",
        "trader_id",
        "message_type",
        "content",
        "sent_at",
    ):
        assert name in body
    assert body["broker_id"] == desk.broker.user_id
    assert body["trader_id"] == desk.tess.trader_id
    assert body["message_type"] == "in_app" and body["content"] == "Hello Tess"
    got = client.get(f"{API}/communications/{body['communication_id']}", headers=desk.h["tess"])
    assert got.status_code == 200 and got.json()["content"] == "Hello Tess"
    # A second message to the same trader lands in the same conversation.
    again = client.post(
        f"{API}/communications",
        json={"trader_id": desk.tess.trader_id, "message_type": "email", "content": "By email"},
        headers=desk.h["broker"],
    ).json()
    assert again["conversation_id"] == body["conversation_id"]
    assert again["deliveries"][0]["status"] == "queued"
    listed = client.get(
        f"{API}/traders/{desk.tess.trader_id}/communications", headers=desk.h["broker"]
    ).json()
    assert [c["message_type"] for c in listed["items"]] == ["email", "in_app"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message_type": "in_app", "content": ""}, "content"),
        ({"message_type": "in_app", "content": "x" * 10_001}, "content"),
        ({"message_type": "fax", "content": "Hi"}, "message_type"),
        ({"message_type": "in_app", "content": "Hi", "extra": 1}, "extra"),
    ],
)
def test_bad_messages_are_refused_and_change_nothing(client, desk, body, field):
    before = _count(Message)
    r = client.post(
        f"{API}/communications",
        json={"trader_id": desk.tess.trader_id, **body},
        headers=desk.h["broker"],
    )
    assert r.status_code == 422, r.text
    assert field in r.text
    assert _count(Message) == before


def test_channel_refusals_say_why(client, desk):
    cases = [
        (desk.nora.trader_id, "in_app", "portal access"),
        (desk.nora.trader_id, "sms", "receive SMS"),
    ]
    for trader_id, channel, words in cases:
        r = client.post(
            f"{API}/communications",
            json={"trader_id": trader_id, "message_type": channel, "content": "Hi"},
            headers=desk.h["broker"],
        )
        assert r.status_code == 422 and words in r.text, r.text
    # Receive-email withdrawn: no email.
    with unit_of_work(write=True) as db:
        t = db.get(Trader, desk.nora.trader_id)
        t.receive_email = False
        db.add(t)
    r = client.post(
        f"{API}/communications",
        json={"trader_id": desk.nora.trader_id, "message_type": "email", "content": "Hi"},
        headers=desk.h["broker"],
    )
    assert r.status_code == 422 and "receive email" in r.text
    assert _count(MessageDelivery) == 0


def test_sms_goes_to_the_mobile_only_and_not_after_stop(client, desk):
    r = client.post(
        f"{API}/communications",
        json={"trader_id": desk.tess.trader_id, "message_type": "sms", "content": "Ping"},
        headers=desk.h["broker"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["deliveries"][0]["address"] == "+447911123456"
    from brm_app.models.communication import SmsOptOut

    with unit_of_work(write=True) as db:
        db.add(SmsOptOut(number="+447911123456"))
    r = client.post(
        f"{API}/communications",
        json={"trader_id": desk.tess.trader_id, "message_type": "sms", "content": "Ping"},
        headers=desk.h["broker"],
    )
    assert r.status_code == 422 and "opted out" in r.text


def test_a_landline_is_not_a_mobile(client, desk):
    r = client.patch(
        f"{API}/firms/{desk.firm.firm_id}/traders/{desk.nora.trader_id}",
        json={"mobile": "+442079460958"},
        headers=desk.h["broker"],
    )
    assert r.status_code == 422 and "mobile" in r.text


def test_conversation_chat_attachments_and_read_receipts(client, desk):
    r = client.post(
        f"{API}/conversations",
        json={"trader_ids": [desk.tess.trader_id], "subject": "Allocation", "content": "Hi"},
        headers=desk.h["broker"],
    )
    assert r.status_code == 201, r.text
    conv = r.json()["conversation_id"]
    up = client.post(
        f"{API}/attachments",
        data={"conversation_id": str(conv)},
        files={"file": ("terms.pdf", PDF, "application/pdf")},
        headers=desk.h["broker"],
    )
    assert up.status_code == 201, up.text
    att = up.json()
    assert att["sha256"] == hashlib.sha256(PDF).hexdigest()
    liar = client.post(
        f"{API}/attachments",
        data={"conversation_id": str(conv)},
        files={"file": ("photo.png", PDF, "image/png")},
        headers=desk.h["broker"],
    )
    assert liar.status_code == 422 and "not the .png" in liar.text
    sent = client.post(
        f"{API}/conversations/{conv}/messages",
        json={"content": "Terms attached", "attachment_ids": [att["attachment_id"]]},
        headers=desk.h["broker"],
    )
    assert sent.status_code == 201, sent.text
    # The trader sees two unread, downloads the file, replies, and reads.
    listed = client.get(f"{API}/conversations", headers=desk.h["tess"]).json()
    assert listed["items"][0]["unread"] == 2
    dl = client.get(f"{API}/attachments/{att['attachment_id']}", headers=desk.h["tess"])
    assert dl.status_code == 200 and dl.content == PDF
    assert dl.headers["content-type"] == "application/pdf"
    assert "attachment" in dl.headers["content-disposition"]
    reply = client.post(
        f"{API}/conversations/{conv}/messages", json={"content": "Thanks"}, headers=desk.h["tess"]
    )
    assert reply.status_code == 201 and reply.json()["direction"] == "inbound"
    read = client.post(f"{API}/conversations/{conv}/read", headers=desk.h["tess"])
    assert read.status_code == 200 and read.json() == {"unread": 0}
    msgs = client.get(f"{API}/conversations/{conv}/messages", headers=desk.h["broker"]).json()
    assert [m["content"] for m in msgs] == ["Hi", "Terms attached", "Thanks"]
    assert [r["name"] for r in msgs[1]["read_by"]] == ["Tess Portal"]
    assert client.get(f"{API}/communications/unread", headers=desk.h["broker"]).json() == {
        "unread": 1
    }


def test_compliance_searches_and_exports_the_log(client, desk):
    conv = client.post(
        f"{API}/conversations",
        json={"trader_ids": [desk.tess.trader_id], "content": "Convertible bond terms"},
        headers=desk.h["broker"],
    ).json()["conversation_id"]
    up = client.post(
        f"{API}/attachments",
        data={"conversation_id": str(conv)},
        files={"file": ("terms.pdf", PDF, "application/pdf")},
        headers=desk.h["broker"],
    ).json()
    client.post(
        f"{API}/conversations/{conv}/messages",
        json={"content": "Signed copy", "attachment_ids": [up["attachment_id"]]},
        headers=desk.h["broker"],
    )
    # The same file sent again: the package holds it once.
    again = client.post(
        f"{API}/attachments",
        data={"conversation_id": str(conv)},
        files={"file": ("terms.pdf", PDF, "application/pdf")},
        headers=desk.h["broker"],
    ).json()
    assert again["sha256"] == up["sha256"]
    client.post(
        f"{API}/conversations/{conv}/messages",
        json={"content": "Same terms", "attachment_ids": [again["attachment_id"]]},
        headers=desk.h["broker"],
    )
    found = client.get(
        f"{API}/communication-log?text=convertible&trader_id={desk.tess.trader_id}",
        headers=desk.h["compliance"],
    ).json()
    assert found["total"] == 1 and found["items"][0]["content"] == "Convertible bond terms"
    csv_r = client.get(
        f"{API}/communication-log/export.csv?conversation_id={conv}", headers=desk.h["compliance"]
    )
    assert csv_r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(csv_r.text)))
    assert [r["content"] for r in rows] == ["Convertible bond terms", "Signed copy", "Same terms"]
    pkg = client.get(
        f"{API}/communication-log/export.zip?conversation_id={conv}", headers=desk.h["compliance"]
    )
    assert pkg.status_code == 200
    with zipfile.ZipFile(io.BytesIO(pkg.content)) as zf:
        assert len(zf.namelist()) == len(set(zf.namelist())), zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))["sha256"]
        assert set(manifest) == {"entries.jsonl", f"attachments/{up['sha256']}-terms.pdf"}
        for name, digest in manifest.items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
        lines = zf.read("entries.jsonl").decode().splitlines()
    assert len(lines) == 3
    assert _count(CommunicationLogEntry) == 3
