"""Encryption at rest of communications (issue 13, part 2): after real sends (in-app, email and
SMS through the log providers and the outbox), inbound replies and unmatched inbound email and
SMS, the database file and its WAL hold none of the texts or addresses; the communication log
stays append-only yet re-encryptable, and a ciphertext moved between entries is named; key
rotation re-encrypts messages and the log; searches match whole words."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from brm_app.db import get_engine, unit_of_work
from brm_app.encryption import get_keyring
from brm_app.encryption.check import check_keys
from brm_app.encryption.keyring import append_key_file, key_id_of
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.models.communication import CommunicationLogEntry, Conversation, MessageDelivery
from brm_app.models.retention import PurgeGrant
from brm_app.models.user import Role
from brm_app.services import communication_log, communications, conversations, key_rotation
from brm_app.services.communication_log import LogQuery
from brm_app.services.errors import ValidationFailed
from tests.api.test_interactions_api import bearer
from tests.api.test_webhooks_api import desk, key, sg_headers, tw_post  # noqa: F401
from tests.factories import make_user

API = "/api/v1"
SECRETS = {
    "in-app": "Zebrafinch quarterly allocation",
    "email": "Quokkafold settlement instructions",
    "sms": "Narwhalite margin call",
    "reply": "Ptarmigan confirmed",
    "triage email": "Wombatine stranger body",
    "triage subject": "Okapian subject line",
    "triage sms": "Axolotlish unknown number",
    "stranger email": "stranger@unknown-sender.example",
    "stranger number": "14155552671",
    "trader email": "tess@client.example",
    "trader mobile": "447911123456",
}


def _raw(url: str) -> bytes:
    path = Path(url.removeprefix("sqlite:///"))
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def _send(broker, tess, channel: str, text: str) -> None:
    with unit_of_work(write=True) as db:
        communications.send_to_trader(
            db, actor=broker, trader_id=tess.trader_id, message_type=channel, content=text
        )


def _inbound_email(client, key, fields: dict) -> dict:  # noqa: F811
    from urllib3 import encode_multipart_formdata

    raw, content_type = encode_multipart_formdata(fields, boundary="brmcrypt")
    r = client.post(
        f"{API}/webhooks/sendgrid/inbound",
        content=raw,
        headers={"Content-Type": content_type, **sg_headers(key, raw)},
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def traffic(client, desk, key, database_url):  # noqa: F811
    """Every kind of message, sent and received for real."""
    broker, tess = desk
    _send(broker, tess, "in_app", SECRETS["in-app"])
    _send(broker, tess, "email", SECRETS["email"])
    _send(broker, tess, "sms", SECRETS["sms"])
    Runner(handlers(), periodic_seconds=0).run_round()  # the outbox sends both
    with unit_of_work() as db:
        statuses = [(d.status, d.address) for d in db.exec(select(MessageDelivery)).all()]
        conv = db.exec(select(Conversation)).first()
    assert sorted(statuses) == [("sent", "+447911123456"), ("sent", "tess@client.example")]
    inbound = f"{API}/webhooks/twilio/inbound"
    reply = {"MessageSid": "SMc1", "From": "+447911123456", "To": "+1500", "Body": SECRETS["reply"]}
    assert tw_post(client, inbound, reply).status_code == 200
    stranger = {"MessageSid": "SMc2", "From": "+14155552671", "To": "+1500"}
    assert tw_post(client, inbound, {**stranger, "Body": SECRETS["triage sms"]}).status_code == 200
    answer = _inbound_email(
        client,
        key,
        {
            "from": SECRETS["stranger email"],
            "to": f"reply+{conv.reply_token}@reply.brokersync.example",
            "subject": SECRETS["triage subject"],
            "text": SECRETS["triage email"],
            "headers": "Message-ID: <crypt1@unknown-sender.example>",
        },
    )
    assert answer == {"result": "triage"}
    return broker, tess


def test_no_text_or_address_of_a_communication_is_in_the_database_file(traffic, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("reads the SQLite file")
    compliance = make_user(Role.COMPLIANCE)
    with unit_of_work() as db:
        # The app reads every one of them back ...
        log = communication_log.search(db, actor=compliance, query=LogQuery()).items
        contents = {e.content for e in log}
        assert {SECRETS["in-app"], SECRETS["email"], SECRETS["sms"], SECRETS["reply"]} <= contents
        assert communication_log.verify_log(db).ok
    get_engine().dispose()  # the WAL as written, nothing held in a connection
    raw = _raw(database_url).lower()
    # ... and the file holds none of them.
    for name, secret in SECRETS.items():
        assert secret.lower().encode() not in raw, name
        # The made-up first word alone (a real word may name a column of the schema).
        assert secret.split()[0].lower().encode() not in raw, name


def _tables_holding(needle: bytes) -> set[str]:
    meta = sa.MetaData()
    meta.reflect(get_engine())
    found = set()
    with get_engine().connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for value in row:
                    raw = value.encode() if isinstance(value, str) else value
                    if isinstance(raw, bytes) and needle in raw.lower():
                        found.add(table.name)
    return found


def test_the_address_copies_are_encrypted(traffic):
    """The trader's email and its copies (their portal login, the deliveries, the log, the
    audit events) are all encrypted."""
    assert _tables_holding(SECRETS["trader email"].encode()) == set()
    assert _tables_holding(SECRETS["trader mobile"].encode()) == set()


def test_the_log_stays_append_only_and_a_moved_ciphertext_is_named(traffic):
    with unit_of_work() as db:
        a, b = db.exec(
            select(CommunicationLogEntry.id, CommunicationLogEntry.content)
            .where(CommunicationLogEntry.kind == "message")
            .order_by(CommunicationLogEntry.id)
            .limit(2)
        ).all()
    log = CommunicationLogEntry.__table__
    refused = [
        sa.update(log).where(log.c.id == b.id).values(content=a.content),
        sa.update(log).where(log.c.id == b.id).values(row_key="0" * 32),
        sa.update(log).where(log.c.id == b.id).values(kind="delivery"),
        sa.delete(log).where(log.c.id == b.id),
    ]
    for statement in refused:
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), get_engine().begin() as c:
            c.execute(statement)
    # Even inside a rotation's grant (the only way to change a ciphertext), a ciphertext moved
    # from another entry is named: it does not open for this entry.
    with get_engine().begin() as conn:
        txid = None
        if conn.dialect.name == "postgresql":
            txid = conn.execute(sa.text("SELECT txid_current()")).scalar_one()
        grants = PurgeGrant.__table__
        conn.execute(
            sa.insert(grants).values(table_name="communication_log.reseal", max_key=None, txid=txid)
        )
        conn.execute(sa.update(log).where(log.c.id == b.id).values(content=a.content))
        conn.execute(sa.delete(grants).where(grants.c.table_name == "communication_log.reseal"))
    with unit_of_work() as db:
        report = communication_log.verify_log(db)
    assert not report.ok and report.entry_id == b.id and "altered" in report.problem


def test_key_rotation_reencrypts_messages_deliveries_triage_and_the_log(traffic, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("adds a key to the SQLite keys file")
    with unit_of_work(write=True) as db:
        check_keys(db.connection())
    tables = ("messages", "message_deliveries", "inbound_triage", "communication_log")

    def kids() -> set[tuple[str, str]]:
        from brm_app.encryption.columns import ENCRYPTED

        out = set()
        with get_engine().connect() as conn:
            for table in tables:
                t = sa.table(table, *[sa.column(c) for c in ENCRYPTED[table]])
                for row in conn.execute(sa.select(*t.c)):
                    out |= {(table, key_id_of(v)) for v in row if v is not None}
        return out

    assert kids() == {(t, "k1") for t in tables}
    new = append_key_file(get_keyring().source_file)
    report = key_rotation.rotate(batch=3)
    assert all(report.rewritten[t] > 0 for t in tables)
    assert kids() == {(t, new) for t in tables}
    compliance = make_user(Role.COMPLIANCE)
    with unit_of_work() as db:
        assert communication_log.verify_log(db).ok
        contents = {
            e.content
            for e in communication_log.search(db, actor=compliance, query=LogQuery()).items
        }
    assert SECRETS["email"] in contents


def test_opted_out_numbers_are_not_in_the_database_file_and_rotation_covers_them(
    client, traffic, database_url
):
    """STOP through the signed Twilio webhook, from the trader and from a stranger: the opt-outs
    hold (the next SMS is refused), yet the database file and its WAL hold neither number (the
    opt-out rows, their audit events, the recorded STOP messages and the triage item); a key
    rotation re-encrypts the opt-outs, which still hold."""
    if not database_url.startswith("sqlite"):
        pytest.skip("reads the SQLite file and adds a key to the SQLite keys file")
    inbound = f"{API}/webhooks/twilio/inbound"
    for sid, number in (("SMo1", "+447911123456"), ("SMo2", "+14155552671")):
        stop = {"MessageSid": sid, "From": number, "To": "+1500", "Body": "STOP"}
        assert tw_post(client, inbound, stop).status_code == 200
    broker, tess = traffic
    with unit_of_work() as db:
        assert communications.is_opted_out(db, "+447911123456")
        assert communications.is_opted_out(db, "+14155552671")
    with pytest.raises(ValidationFailed, match="opted out of SMS"), unit_of_work(write=True) as db:
        communications.send_to_trader(
            db, actor=broker, trader_id=tess.trader_id, message_type="sms", content="Again"
        )
    get_engine().dispose()
    raw = _raw(database_url)
    for digits in (SECRETS["trader mobile"], SECRETS["stranger number"]):
        assert digits.encode() not in raw, digits
        assert _tables_holding(digits.encode()) == set(), digits
    with unit_of_work(write=True) as db:
        check_keys(db.connection())
    new = append_key_file(get_keyring().source_file)
    report = key_rotation.rotate(batch=1)
    assert report.rewritten["sms_opt_outs"] == 2
    with get_engine().connect() as conn:
        stored = conn.execute(sa.text("SELECT number FROM sms_opt_outs")).scalars().all()
    assert {key_id_of(v) for v in stored} == {new}
    with unit_of_work() as db:
        assert communications.is_opted_out(db, "+447911123456")
        assert communications.is_opted_out(db, "+14155552671")


def test_searches_match_whole_words_of_encrypted_text(traffic):
    broker, _ = traffic
    compliance = make_user(Role.COMPLIANCE)

    def conversations_for(q: str) -> int:
        with unit_of_work() as db:
            return len(conversations.list_conversations(db, actor=broker, q=q).items)

    def log_for(text: str) -> set[str]:
        with unit_of_work() as db:
            page = communication_log.search(db, actor=compliance, query=LogQuery(text=text))
            return {e.content for e in page.items}

    assert conversations_for("zebrafinch") == 1
    assert conversations_for("QUARTERLY zebrafinch") == 1  # every word, any case and order
    assert conversations_for("zebra") == 0  # a part of a word is not a word
    assert conversations_for("zebrafinch margin") == 0  # in two messages, never in one
    assert log_for("Narwhalite") == {SECRETS["sms"]}
    assert log_for("narwhal") == set()
    assert log_for("settlement quokkafold") == {SECRETS["email"]}
    # Sender and recipients are words too (the delivery entries name the address).
    assert SECRETS["email"] in log_for("tess")
    # The conversation list's preview opens the last message.
    with unit_of_work() as db:
        (conv,) = conversations.list_conversations(db, actor=broker).items
    assert conv.last_message == SECRETS["reply"]


def test_the_api_search_and_the_preview(client, traffic):
    broker, _ = traffic
    r = client.get(f"{API}/conversations", params={"q": "ptarmigan"}, headers=bearer(broker))
    assert r.status_code == 200, r.text
    assert [c["last_message"] for c in r.json()["items"]] == [SECRETS["reply"]]
    r = client.get(f"{API}/conversations", params={"q": "ptarmi"}, headers=bearer(broker))
    assert r.json()["items"] == []
