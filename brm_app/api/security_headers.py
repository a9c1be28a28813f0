"""Security headers on every response: pages, static files, the API, the docs.

The Content-Security-Policy is as strict as Reflex allows (the README lists why each source is
there):
- script-src: our own files, plus the SHA-256 of each inline script of the built pages (React
  Router's hydration data and Reflex's theme script; read from the build when the first request
  arrives) and 'unsafe-eval', because Reflex's event protocol runs `rx.call_script` code with
  `eval`. No 'unsafe-inline': an injected inline script does not run.
- style-src 'unsafe-inline': Radix and emotion set styles inline at run time.
- img-src data: blob:: the two-factor QR code is a data URI; Plotly exports blobs.
- connect-src 'self': the websocket and the API on the same origin.
A response that sets its own policy (the API docs page) keeps it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brm_app.settings import get_settings

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)

_STATIC = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
        "interest-cohort=(), browsing-topics=()",
    ),
]
HSTS = "max-age=31536000; includeSubDomains"


def inline_script_hashes_of(html: bytes) -> set[str]:
    """CSP source expressions for the inline scripts of one page."""
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    }


def inline_script_hashes(html_files: Iterable[Path]) -> list[str]:
    """CSP source expressions for every distinct inline script in these pages."""
    found: set[str] = set()
    for path in html_files:
        found |= inline_script_hashes_of(path.read_bytes())
    return sorted(found)


def content_security_policy(script_hashes: Iterable[str]) -> str:
    scripts = " ".join(["'self'", "'unsafe-eval'", *script_hashes])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def built_pages() -> list[Path]:
    """The prerendered HTML of the production build (none in development)."""
    from reflex import constants
    from reflex.utils import prerequisites

    root = prerequisites.get_web_dir() / constants.Dirs.STATIC
    return sorted(root.rglob("*.html")) if root.is_dir() else []


class SecurityHeaders:
    """Outermost wrapper: adds the headers above to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._headers: list[tuple[str, str]] | None = None

    def _computed(self) -> list[tuple[str, str]]:
        if self._headers is None:
            csp = content_security_policy(inline_script_hashes(built_pages()))
            self._headers = [("content-security-policy", csp), *_STATIC]
        return self._headers

    def _is_https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        settings = get_settings()
        if settings.trusted_proxy_hops:
            for name, value in scope.get("headers", ()):
                if name == b"x-forwarded-proto":
                    return bool(value.split(b",")[-1].strip() == b"https")
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self._computed()
        https = self._is_https(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in headers:
                    if name not in out:
                        out[name] = value
                if https and "strict-transport-security" not in out:
                    out["strict-transport-security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
