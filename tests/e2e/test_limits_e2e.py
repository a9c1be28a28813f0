"""Size limits on the production server (`brm serve`, granian): oversized bodies get 413 before
authentication or parsing, and an oversized websocket message on Reflex's /_event is refused."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import aiohttp
import pytest

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def _address(server) -> tuple[str, int]:
    url = urlsplit(server.url)
    return url.hostname, url.port


def _response(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP response (status, headers, body) from a raw socket."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    headers = {k.lower(): v for k, v in headers.items()}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _post_head(path: str, host: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


def test_a_declared_100_mb_body_without_a_token_is_413_at_once(server):
    host, port = _address(server)
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as sock:
        # Only the headers and the first bytes: the answer must not wait for the rest.
        sock.sendall(_post_head("/api/v1/firms", host, f"Content-Length: {100 * MiB}\r\n"))
        sock.sendall(b'{"name": "' + b"a" * 1000)
        status, headers, body = _response(sock, timeout=10)
    assert status == 413, body
    assert headers["connection"] == "close"
    assert time.monotonic() - started < 2
    assert json.loads(body)["detail"].startswith("The request body is larger than 1 MiB")


def test_a_chunked_body_is_cut_soon_after_1_mib(server):
    host, port = _address(server)
    chunk = b" " * (64 * 1024)
    sent = 0
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(_post_head("/api/v1/firms", host, "Transfer-Encoding: chunked\r\n"))
        answered = False
        while sent < 100 * MiB:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                answered = True
                break
            sent += len(chunk)
            if select.select([sock], [], [], 0)[0]:
                answered = True
                break
        assert answered
        status, _, body = _response(sock, timeout=10)
    assert status == 413, body
    # What the server took in before answering: the limit plus what was in flight.
    assert sent < 16 * MiB


def test_a_body_under_the_limit_still_reaches_the_api(server):
    with server.api() as api:
        r = api.post("/api/v1/firms", json={"name": "a" * (MiB // 2)})
    assert r.status_code == 401


def test_an_oversized_websocket_message_on_the_event_socket_is_refused(server):
    async def exchange() -> tuple[str, aiohttp.WSMessage, int | None]:
        url = server.url + "/_event/?EIO=4&transport=websocket"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, max_msg_size=0) as ws,
        ):
            opened = await ws.receive(timeout=15)
            await ws.send_str("4" + "x" * (MiB + 16))  # an engine.io message of just over 1 MiB
            answer = await ws.receive(timeout=15)
            return opened.data, answer, ws.close_code

    # A thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        opened, answer, code = pool.submit(asyncio.run, exchange()).result()
    assert opened.startswith("0{")  # the engine.io handshake: the socket was live
    assert answer.type == aiohttp.WSMsgType.CLOSE
    assert code == 1009  # "message too big", from the limit in front of the app


def test_a_line_break_in_an_api_path_is_a_json_404(server):
    """Reflex's top-level catch-all cannot match a line break; the app's outermost wrapper
    answers such paths as the API answers every unknown path."""
    with server.api() as api:
        for path in ("/api/v1/trader-roles/a%0Ab", "/api/v1/firms%0D"):
            r = api.get(path)
            assert r.status_code == 404, path
            assert r.headers["content-type"] == "application/json", path
            assert r.json() == {"detail": "No such endpoint."}
