"""The security headers wrapper on a small ASGI app: every response gets them, HSTS only over
HTTPS (directly or from a trusted proxy), a response's own policy is kept."""

from __future__ import annotations

import base64
import hashlib

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from brm_app.api import security_headers as sh
from brm_app.settings import get_settings


def _app() -> Starlette:
    async def plain(request):
        return PlainTextResponse("hi")

    async def own_policy(request):
        return PlainTextResponse("hi", headers={"content-security-policy": "default-src 'none'"})

    return Starlette(routes=[Route("/", plain), Route("/own", own_policy)])


def test_every_response_gets_the_headers_and_no_hsts_over_plain_http():
    r = TestClient(sh.SecurityHeaders(_app())).get("/")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    assert "camera=()" in r.headers["permissions-policy"]
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "strict-transport-security" not in r.headers
    # A 404 from the router too.
    assert "content-security-policy" in TestClient(sh.SecurityHeaders(_app())).get("/nope").headers


def test_hsts_over_https():
    r = TestClient(sh.SecurityHeaders(_app()), base_url="https://testserver").get("/")
    assert r.headers["strict-transport-security"].startswith("max-age=31536000")


def test_forwarded_https_counts_only_behind_a_trusted_proxy(monkeypatch):
    client = TestClient(sh.SecurityHeaders(_app()))
    forwarded = {"x-forwarded-proto": "https"}
    assert "strict-transport-security" not in client.get("/", headers=forwarded).headers
    monkeypatch.setenv("BRM_TRUSTED_PROXY_HOPS", "1")
    get_settings.cache_clear()
    try:
        assert "strict-transport-security" in client.get("/", headers=forwarded).headers
    finally:
        monkeypatch.delenv("BRM_TRUSTED_PROXY_HOPS")
        get_settings.cache_clear()


def test_a_response_with_its_own_policy_keeps_it():
    r = TestClient(sh.SecurityHeaders(_app())).get("/own")
    assert r.headers["content-security-policy"] == "default-src 'none'"


def test_inline_scripts_are_allowed_by_hash_only(tmp_path):
    page = tmp_path / "p.html"
    page.write_bytes(
        b'<html><script src="/a.js"></script><script>let a = 1;</script>'
        b'<script type="module">import "/b.js";</script></html>'
    )
    hashes = sh.inline_script_hashes([page])
    want = {
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in (b"let a = 1;", b'import "/b.js";')
    }
    assert set(hashes) == want
    script_src = next(
        d for d in sh.content_security_policy(hashes).split("; ") if d.startswith("script-src")
    )
    assert "'unsafe-inline'" not in script_src
    assert all(h in script_src for h in want)
