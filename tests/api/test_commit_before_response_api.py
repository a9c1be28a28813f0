"""The API commits before it answers: a 2xx means the write is in the database, and a commit
that fails answers 5xx with nothing kept."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from brm_app.api.app import create_api
from brm_app.db import unit_of_work
from brm_app.models.firm import Firm
from brm_app.models.user import Role
from tests.api.test_firms_api import headers_for
from tests.async_support import run_async
from tests.factories import make_user


def _firms_named(name: str) -> int:
    with unit_of_work() as db:
        return db.exec(select(sa.func.count()).select_from(Firm).where(Firm.name == name)).one()


def test_a_read_right_after_a_2xx_write_sees_it(database_url):
    """When the response's last byte is sent, a read on another connection already sees the row
    (driven at the ASGI level: a test client only returns once the whole app call has ended)."""
    headers = headers_for(make_user(Role.BROKER))
    api = create_api()
    body = json.dumps({"name": "Committed Before Answer"}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/firms",
        "raw_path": b"/api/v1/firms",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    seen: dict = {}
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            # What a client could read right after the 2xx, on its own connection.
            seen["visible"] = _firms_named("Committed Before Answer")

    run_async(api({**scope}, receive, send))
    assert seen["status"] == 201
    assert seen["visible"] == 1


@contextmanager
def failing_commits():
    """Every commit of an ORM session fails (as a lost connection or a deferred constraint would)."""

    def boom(session):
        raise sa.exc.OperationalError("COMMIT", None, RuntimeError("forced commit failure"))

    event.listen(Session, "before_commit", boom)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", boom)


def test_a_failing_commit_answers_5xx_and_keeps_nothing(client):
    headers = headers_for(make_user(Role.BROKER))
    with failing_commits():
        r = client.post("/api/v1/firms", json={"name": "Never Kept"}, headers=headers)
    assert r.status_code == 500, r.text
    assert r.json()["detail"] == "Internal error; it has been logged."
    assert _firms_named("Never Kept") == 0
