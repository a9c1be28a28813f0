"""Request size limits (brm_app/api/body_limit.py) in front of the API, over HTTP and websockets.

The same middleware wraps the whole served app (brm_app/brm_app.py); tests/e2e/test_limits_e2e.py
checks it there, against the production server."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from brm_app.api.app import create_api
from brm_app.api.body_limit import BodyLimit, MiB
from brm_app.models.user import Role
from tests.api.test_firms_api import headers_for
from tests.async_support import run_async
from tests.factories import make_user

FIRMS = "/api/v1/firms"
IMPORTS = "/api/session/imports"


@pytest.fixture
def limited(database_url):
    with TestClient(BodyLimit(create_api()), raise_server_exceptions=False) as c:
        yield c


def _call(path: str, *, content_length: int | None = None) -> tuple[list[dict], int]:
    """POST a 100 MiB body in 64 KiB chunks straight to the ASGI app (a test client would read
    the whole body first): what it answers, and how many chunks it pulled."""
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    reads = 0
    sent: list[dict] = []

    async def receive():
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b" " * 65536, "more_body": reads < 1600}

    async def send(message):
        sent.append(message)

    run_async(BodyLimit(create_api())(scope, receive, send))
    return sent, reads


def test_a_declared_oversized_body_is_413_at_once_and_never_read(database_url):
    started = time.monotonic()
    sent, reads = _call(FIRMS, content_length=100 * MiB)
    assert time.monotonic() - started < 1
    assert reads == 0
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert b"larger than 1 MiB" in sent[1]["body"]


def test_an_oversized_body_without_a_token_is_413_not_401(limited):
    r = limited.post(
        FIRMS, content=b"[" + b"1," * MiB + b"1]", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert r.json() == {"detail": "The request body is larger than 1 MiB."}


def test_a_body_without_a_length_is_cut_at_the_limit(database_url):
    sent, reads = _call(FIRMS)
    assert sent[0]["status"] == 413 and b"larger than 1 MiB" in sent[1]["body"]
    assert reads == 17  # 16 chunks make 1 MiB; the 17th passes the limit; nothing more is read


def test_a_streamed_body_cut_while_the_route_reads_it_is_413(limited):
    """The route has begun parsing (a token is valid): the app's own answer is replaced."""
    headers = {**headers_for(make_user(Role.BROKER)), "Content-Type": "application/json"}

    def chunks():
        yield b'{"name": "'
        for _ in range(40):
            yield b"a" * (64 * 1024)
        yield b'"}'

    r = limited.post(FIRMS, content=chunks(), headers=headers)
    assert r.status_code == 413, r.text
    assert limited.get(FIRMS, headers=headers).json()["total"] == 0


def test_a_body_within_the_limit_reaches_the_api(limited):
    r = limited.post(
        FIRMS,
        content=b'{"name": "' + b"a" * (MiB - 100) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 401


def test_the_import_upload_may_be_larger_up_to_its_own_limit(limited):
    # 5 MiB passes the middleware: the route itself answers (no session here).
    r = limited.post(IMPORTS, content=b"a,b\n" * (5 * MiB // 4), headers={"Origin": "x"})
    assert r.status_code in (401, 403), r.text
    sent, reads = _call(IMPORTS, content_length=20 * MiB + 1)
    assert sent[0]["status"] == 413 and reads == 0
    assert b"larger than 20 MiB" in sent[1]["body"]


def _echo_app(seen: list[int]) -> BodyLimit:
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                data = await ws.receive_bytes()
                seen.append(len(data))
                await ws.send_bytes(data[:10])
        except WebSocketDisconnect as exc:
            seen.append(-exc.code)

    return BodyLimit(Starlette(routes=[WebSocketRoute("/ws", echo)]))


def test_an_oversized_websocket_message_closes_the_connection_unseen():
    seen: list[int] = []
    with TestClient(_echo_app(seen)) as c, c.websocket_connect("/ws") as ws:
        ws.send_bytes(b"x" * MiB)  # at the limit: delivered
        assert ws.receive_bytes() == b"x" * 10
        ws.send_bytes(b"x" * (MiB + 1))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_bytes()
    assert closed.value.code == 1009
    assert seen == [MiB, -1009]  # the app never saw the oversized message


def test_an_oversized_websocket_text_counts_bytes_not_characters():
    seen: list[int] = []

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                seen.append(len(await ws.receive_text()))
                await ws.send_text(str(seen[-1]))
        except WebSocketDisconnect as exc:
            seen.append(-exc.code)

    app = BodyLimit(Starlette(routes=[WebSocketRoute("/ws", echo)]))
    with TestClient(app) as c, c.websocket_connect("/ws") as ws:
        ws.send_text("é" * (MiB // 2))  # exactly 1 MiB in UTF-8
        assert ws.receive_text() == str(MiB // 2)
        ws.send_text("é" * (MiB // 2 + 1))  # 2 bytes over, in fewer characters than the limit
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1009
    assert seen == [MiB // 2, -1009]
