"""The bench's bulk seeder of conversations writes messages as the app does: encrypted, with
their words in the search index (a conversation is found by a word of its messages)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.models.communication import Message, MessageSearchTerm
from brm_app.models.user import Role
from brm_app.services import conversations
from brm_app.services.seed_communications import CommsPlan, bulk_load_communications
from tests.factories import make_firm, make_trader, make_user


def test_bulk_seeded_messages_are_encrypted_and_searchable(sqlite_url):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name="Seeded Firm")
    for i in range(3):
        make_trader(broker, firm.firm_id, name=f"Seeded Trader {i}")
    with unit_of_work(write=True) as db:
        result = bulk_load_communications(db, CommsPlan(messages=300, conversations=10))
    assert result.messages == 300
    with unit_of_work() as db:
        raw = db.connection().execute(sa.select(Message.__table__.c.text).limit(1)).scalar_one()
        assert bytes(raw)[:2] == b"\xe5\x01"
        first = db.exec(select(Message).order_by(Message.id)).first()
        indexed = db.exec(select(sa.func.count(sa.distinct(MessageSearchTerm.message_id)))).one()
        word = first.text.split()[0].strip(".").lower()
        found = conversations.list_conversations(db, actor=broker, q=word).items
    assert indexed == 300
    assert first.conversation_id in {c.conversation_id for c in found}
