"""Who may do what to conversations, messages, attachments, deliveries and the communication log,
over HTTP: the access rules as a table (six callers, fresh records per row; see matrix_support).

- the broker side follows coverage: the covering broker and their manager write; a broker who
  does not cover the firm (the stranger) gets 404 for the conversation and its messages;
- a trader (portal user) sees and replies in their own conversations only, and starts none;
- compliance and admins read every conversation but write in none (403), and alone search and
  export the communication log;
- nothing changes or deletes a message, a conversation or a log entry: those methods are 405;
- a refused request writes no audit event.
"""

from __future__ import annotations

import itertools
from functools import cached_property

from brm_app.db import unit_of_work
from brm_app.models.communication import InboundTriage
from brm_app.models.firm import FirmWrite
from brm_app.models.trader import TraderPermission, TraderWrite
from brm_app.services import attachments, communications, conversations, firms, traders
from tests.api import matrix_support
from tests.api.matrix_support import People, Templates, call, play_matrix

matrix_support.NOT_FOUND |= {
    f"{what} not found." for what in ("Conversation", "Communication", "Attachment", "Delivery")
}
PDF = b"%PDF-1.4\n%%EOF\n"

# fmt: off
# $conv        a conversation the broker started with "trader"'s own record ($own) at $firm
# $other_conv  a conversation at $firm with $colleague (a portal trader), not with "trader"
# $msg         a message in $conv            $att  an attachment sent in $conv
# $trader      a trader at $firm without portal access (email allowed)
# $delivery    the queued email delivery of a message to $trader
# $triage      an unmatched inbound email waiting in the triage list
MATRIX = [
    # method   path                                  body                                     admin compl. manager broker trader stranger
    ("GET",    "/conversations",                     None,                                    (200, 200, 200, 200, 200, 200)),
    ("POST",   "/conversations",                     {"trader_ids": ["$own"], "content": "Hi"},
                                                                                              (403, 403, 201, 201, 403, 422)),
    ("GET",    "/conversations/$conv",               None,                                    (200, 200, 200, 200, 200, 404)),
    ("GET",    "/conversations/$other_conv",         None,                                    (200, 200, 200, 200, 404, 404)),
    ("GET",    "/conversations/$conv/messages",      None,                                    (200, 200, 200, 200, 200, 404)),
    ("GET",    "/conversations/$other_conv/messages", None,                                   (200, 200, 200, 200, 404, 404)),
    ("POST",   "/conversations/$conv/messages",      {"content": "Reply"},                    (403, 403, 201, 201, 201, 404)),
    ("POST",   "/conversations/$other_conv/messages", {"content": "Reply"},                   (403, 403, 201, 201, 404, 404)),
    ("POST",   "/conversations/$conv/read",          None,                                    (403, 403, 200, 200, 200, 404)),
    ("POST",   "/communications",                    {"trader_id": "$own", "message_type": "in_app", "content": "Hi"},
                                                                                              (403, 403, 201, 201, 403, 404)),
    ("POST",   "/communications",                    {"trader_id": "$trader", "message_type": "email", "content": "Hi"},
                                                                                              (403, 403, 201, 201, 403, 404)),
    ("POST",   "/communications",                    {"trader_id": "$trader", "message_type": "in_app", "content": "Hi"},
                                                                                              (403, 403, 422, 422, 403, 404)),
    ("POST",   "/communications",                    {"trader_id": "$trader", "message_type": "sms", "content": "Hi"},
                                                                                              (403, 403, 422, 422, 403, 404)),
    ("GET",    "/communications/$msg",               None,                                    (200, 200, 200, 200, 200, 404)),
    ("GET",    "/communications/unread",             None,                                    (200, 200, 200, 200, 200, 200)),
    ("GET",    "/traders/$own/communications",       None,                                    (200, 200, 200, 200, 200, 404)),
    ("GET",    "/traders/$trader/communications",    None,                                    (200, 200, 200, 200, 404, 404)),
    ("GET",    "/attachments/$att",                  None,                                    (200, 200, 200, 200, 200, 404)),
    ("POST",   "/deliveries/$delivery/resend",       None,                                    (403, 403, 422, 422, 404, 404)),
    ("POST",   "/deliveries/$delivery/dismiss",      None,                                    (403, 403, 422, 422, 404, 404)),
    ("GET",    "/communication-log",                 None,                                    (200, 200, 403, 403, 403, 403)),
    ("GET",    "/communication-log/export.csv",      None,                                    (200, 200, 403, 403, 403, 403)),
    ("GET",    "/communication-log/export.zip",      None,                                    (200, 200, 403, 403, 403, 403)),
    ("GET",    "/communication-triage",              None,                                    (200, 200, 403, 403, 403, 403)),
    ("POST",   "/communication-triage/$triage/assign", {"trader_id": "$own", "conversation_id": "$conv"},
                                                                                              (200, 200, 403, 403, 403, 403)),
    ("POST",   "/communication-triage/$triage/dismiss", {"reason": "Spam"},                   (200, 200, 403, 403, 403, 403)),
    # -- one's own preferences
    ("GET",    "/users/me/notification-preferences", None,                                    (200, 200, 200, 200, 200, 200)),
    ("PUT",    "/users/me/notification-preferences/message", {"in_app": True, "email": True, "sms": False},
                                                                                              (200, 200, 200, 200, 200, 200)),
    ("PUT",    "/users/me/quiet-hours",              {"start": "22:00", "end": "07:00"},      (200, 200, 200, 200, 200, 200)),
    # -- webhooks answer only their provider's signature, whoever calls
    ("POST",   "/webhooks/sendgrid/events",          [{"event": "delivered", "sg_event_id": "x"}],
                                                                                              (403, 403, 403, 403, 403, 403)),
    ("POST",   "/webhooks/twilio/status",            {"MessageSid": "SM1", "MessageStatus": "delivered"},
                                                                                              (403, 403, 403, 403, 403, 403)),
    # -- append-only: no method changes or removes a message, a conversation or the log
    ("PUT",    "/communications/$msg",               {"content": "Rewritten"},                (405, 405, 405, 405, 405, 405)),
    ("PATCH",  "/communications/$msg",               {"content": "Rewritten"},                (405, 405, 405, 405, 405, 405)),
    ("DELETE", "/communications/$msg",               None,                                    (405, 405, 405, 405, 405, 405)),
    ("DELETE", "/conversations/$conv",               None,                                    (405, 405, 405, 405, 405, 405)),
    ("PATCH",  "/conversations/$conv",               {"subject": "x"},                        (405, 405, 405, 405, 405, 405)),
    ("DELETE", "/communication-log",                 None,                                    (405, 405, 405, 405, 405, 405)),
]
# fmt: on

_seq = itertools.count(1)


class World(Templates):
    def __init__(self, people: People) -> None:
        self.people = people
        self.n = next(_seq)

    @cached_property
    def firm(self) -> int:
        firm_id = call(
            firms.create_firm,
            data=FirmWrite(
                name=f"Comms Firm {self.n}", primary_broker_id=self.people.broker.user_id
            ),
        ).firm_id
        call(traders.move_trader, trader_id=self.people.own_trader_id, to_firm_id=firm_id)
        return firm_id

    @cached_property
    def own(self) -> int:
        _ = self.firm
        return self.people.own_trader_id

    @cached_property
    def trader(self) -> int:
        return call(
            traders.create_trader,
            firm_id=self.firm,
            data=TraderWrite(name=f"Plain {self.n}", email=f"plain{self.n}@client.example"),
        ).trader.trader_id

    @cached_property
    def colleague(self) -> int:
        return call(
            traders.create_trader,
            firm_id=self.firm,
            data=TraderWrite(
                name=f"Colleague {self.n}",
                email=f"coll{self.n}@client.example",
                permissions=[TraderPermission.PORTAL_ACCESS],
            ),
        ).trader.trader_id

    @cached_property
    def conv(self) -> int:
        return call(
            conversations.start_conversation, actor=self.people.broker, trader_ids=[self.own]
        ).id

    @cached_property
    def other_conv(self) -> int:
        return call(
            conversations.start_conversation, actor=self.people.broker, trader_ids=[self.colleague]
        ).id

    @cached_property
    def msg(self) -> int:
        return call(
            conversations.send_message,
            actor=self.people.broker,
            conversation_id=self.conv,
            content="Hello",
        ).communication_id

    @cached_property
    def att(self) -> int:
        att = call(
            attachments.upload,
            actor=self.people.broker,
            conversation_id=self.conv,
            filename="terms.pdf",
            data=PDF,
        )
        call(
            conversations.send_message,
            actor=self.people.broker,
            conversation_id=self.conv,
            content="Attached",
            attachment_ids=[att.attachment_id],
        )
        return att.attachment_id

    @cached_property
    def delivery(self) -> int:
        sent = call(
            communications.send_to_trader,
            actor=self.people.broker,
            trader_id=self.trader,
            message_type="email",
            content="By email",
        )
        return sent.deliveries[0].delivery_id

    @cached_property
    def triage(self) -> int:
        with unit_of_work(write=True) as db:
            item = InboundTriage(
                channel="email",
                from_address=f"unknown{self.n}@else.example",
                to_address="desk@reply.example",
                text="Who am I?",
            )
            db.add(item)
            db.flush()
            return item.id


def test_communications_access_matrix(client, people):
    mismatches = play_matrix(client, people, MATRIX, lambda: World(people))
    assert not mismatches, "\n".join(mismatches)


def test_conversation_lists_show_each_caller_what_they_may_see(client, people):
    world = World(people)
    conv, other = world.conv, world.other_conv
    expected = {
        "admin": {conv, other},
        "compliance": {conv, other},
        "manager": {conv, other},
        "broker": {conv, other},
        "trader": {conv},
        "stranger": set(),
    }
    for role, want in expected.items():
        r = client.get(
            f"{matrix_support.API}/conversations?limit=200", headers=people.headers[role]
        )
        assert r.status_code == 200, r.text
        found = {c["conversation_id"] for c in r.json()["items"]} & {conv, other}
        assert found == want, role
