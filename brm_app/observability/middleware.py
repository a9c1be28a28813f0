"""Outermost ASGI layer: a request id, a count and a latency per route, one log line per request,
open websockets, and `/metrics` for the addresses or the token allowed to read it.

Kept cheap (the API's small calls take about a millisecond): two clock reads, two metric steps
and one log record per request; the route is the template FastAPI matched (read from the scope
after the call), never the raw path, so user input never becomes a label or a log field.
"""

from __future__ import annotations

import contextvars
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import time
from functools import cache
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brm_app.observability import metrics

access_log = logging.getLogger("brm.access")

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
# The current request's fields that code below the middleware fills in (the signed-in user):
# a dict shared with the route's worker thread (contextvars are copied there, the dict is not).
_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "brm_request", default=None
)


def note_user(user_id: int | None) -> None:
    """Name the signed-in user in this request's log line."""
    info = _current.get()
    if info is not None and user_id is not None:
        info["user_id"] = user_id


def current_request_id() -> str | None:
    info = _current.get()
    return str(info["request_id"]) if info else None


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    if route is not None and (template := getattr(route, "path", None)):
        return str(template)
    path: str = scope.get("path", "")
    if path.startswith("/api/"):
        return "unmatched"
    if path.startswith("/_event"):
        return "/_event"
    if path.startswith("/_upload"):
        return "/_upload"
    if path == "/ping":
        return "/ping"
    return "frontend"  # pages and their static files


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


@cache
def _allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    raw = os.environ.get("BRM_METRICS_ALLOW") or "127.0.0.1,::1"
    nets = []
    for part in raw.split(","):
        part = part.strip()
        if part:
            nets.append(ipaddress.ip_network(part, strict=False))
    return tuple(nets)


def _client_address(scope: Scope) -> str | None:
    """The client as deps.client_ip sees it: behind BRM_TRUSTED_PROXY_HOPS proxies, the address
    they forwarded (a proxy on this host must not make every caller look local)."""
    from brm_app.settings import get_settings

    hops = get_settings().trusted_proxy_hops
    if hops:
        raw = (_header(scope, b"x-forwarded-for") or b"").decode("latin-1")
        forwarded = [p.strip() for p in raw.split(",") if p.strip()]
        return forwarded[-hops] if len(forwarded) >= hops else None
    client = scope.get("client")
    return client[0] if client else None


def metrics_allowed(scope: Scope) -> bool:
    token = os.environ.get("BRM_METRICS_TOKEN")
    if token:
        given = _header(scope, b"authorization") or b""
        if given[:7].lower() == b"bearer " and hmac.compare_digest(
            given[7:].strip(), token.encode()
        ):
            return True
    address = _client_address(scope)
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _allowed_networks())


async def _answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# The labelled series of each (route, method, status): labels() costs as much as the step itself.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _series(route: str, method: str, status: int) -> tuple[Any, Any]:
    key = (route, method, status)
    found = _SERIES.get(key)
    if found is None:
        found = (
            metrics.HTTP_REQUESTS.labels(route, method, str(status)),
            metrics.HTTP_LATENCY.labels(route, method),
        )
        _SERIES[key] = found
    return found


def _log_request(
    request_id: str, user_id: int | None, method: str, route: str, status: int, seconds: float
) -> None:
    """One record, made directly: its text is the route template and numbers only, so the
    redacting record factory (log_safety) has nothing to find and is skipped (it cost a third of
    the middleware's time)."""
    record = logging.LogRecord(
        access_log.name, logging.INFO, __file__, 0, "%s %s %s", (method, route, status), None
    )
    record.request_id = request_id
    record.user_id = user_id
    record.method = method
    record.route = route
    record.status = status
    record.duration_ms = round(seconds * 1000, 2)
    access_log.handle(record)


@cache
def _extra_headers() -> tuple[tuple[bytes, bytes], ...]:
    """HSTS when users reach the app over HTTPS (BRM_PUBLIC_URL https://...): browsers then never
    try plain HTTP for it again."""
    from brm_app.settings import get_settings

    if get_settings().public_url.startswith("https://"):
        return ((b"strict-transport-security", b"max-age=31536000; includeSubDomains"),)
    return ()


class Observability:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            metrics.WEBSOCKETS.inc()
            try:
                await self.app(scope, receive, send)
            finally:
                metrics.WEBSOCKETS.dec()
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") == "/metrics":
            await self._metrics(scope, send)
            return

        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given.decode() if given and _REQUEST_ID.match(given) else secrets.token_hex(8)
        info: dict[str, Any] = {"request_id": request_id}
        token = _current.set(info)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                    *_extra_headers(),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
            seconds = time.perf_counter() - started
            route = _route_of(scope)
            method = scope.get("method", "")
            count, latency = _series(route, method, status)
            count.inc()
            latency.observe(seconds)
            if access_log.isEnabledFor(logging.INFO):
                _log_request(request_id, info.get("user_id"), method, route, status, seconds)

    async def _metrics(self, scope: Scope, send: Send) -> None:
        if scope.get("method") not in ("GET", "HEAD"):
            body = json.dumps({"detail": "Method not allowed."}).encode()
            await _answer(send, 405, body, b"application/json")
            return
        if not metrics_allowed(scope):
            body = json.dumps(
                {"detail": "Not allowed: see BRM_METRICS_ALLOW and BRM_METRICS_TOKEN."}
            ).encode()
            await _answer(send, 403, body, b"application/json")
            return
        text = await run_in_threadpool(metrics.render)
        await _answer(send, 200, text, b"text/plain; version=0.0.4; charset=utf-8")
