"""After sign-in the browser goes to `next` only when it stays on this site, as a browser reads it.

Browsers (the WHATWG URL parser) strip leading/trailing C0 controls and spaces, drop every tab, CR
and LF anywhere, and read `\\` as `/` in http(s) URLs: `/\\t/evil.example` is `//evil.example`.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from brm_app.state.auth import safe_next

OFF_SITE = [
    "//evil.example",
    "//evil.example/path",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    "/\t\\evil.example",
    "/\\\tevil.example",
    " //evil.example",
    "\x00//evil.example",
    "\x1f//evil.example",
    "//evil.example\x00",
    "\n/\n/\nevil.example",
    "/\t\t\t/evil.example",
    "https://evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "evil.example",
    "",
    "   ",
    "\t",
]

ODD_OR_LOOPING = [
    "/login",
    "/login?next=/",
    "/\tlogin",
    "/lo\ngin",
    "/" + "a" * 600,
    None,
    42,
    ["/firms"],
    {"$ne": 1},
]


@pytest.mark.parametrize("value", OFF_SITE)
def test_off_site_targets_fall_back_to_the_dashboard(value):
    assert safe_next(value) == "/"


@pytest.mark.parametrize("value", ODD_OR_LOOPING)
def test_odd_values_and_the_sign_in_page_fall_back_to_the_dashboard(value):
    assert safe_next(value) == "/"


KEPT = [
    ("/", "/"),
    ("/firms", "/firms"),
    ("/firms/12", "/firms/12"),
    ("/firms?status=active&tier=1", "/firms?status=active&tier=1"),
    ("/calendar#week", "/calendar#week"),
    ("/audit/", "/audit/"),
    # What the browser would visit anyway: tabs/newlines dropped, edges trimmed.
    ("/fi\trms", "/firms"),
    (" /firms ", "/firms"),
    ("/index", "/"),
]


@pytest.mark.parametrize(("value", "expected"), KEPT)
def test_paths_on_this_site_are_kept(value, expected):
    assert safe_next(value) == expected


@pytest.mark.parametrize("value", OFF_SITE + [v for v, _ in KEPT])
def test_every_accepted_target_resolves_to_this_origin(value):
    resolved = urlsplit(urljoin("http://brm.invalid/", safe_next(value)))
    assert (resolved.scheme, resolved.netloc) == ("http", "brm.invalid")
