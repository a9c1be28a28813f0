"""A path with a line break in it gets the API's JSON 404, also behind Reflex's catch-all mount
(whose `.*` cannot match a line break, so Starlette answered in plain text)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from brm_app.api.app import create_api
from brm_app.api.odd_paths import ControlCharacterPaths


def _served_like_reflex():
    """As rx.App() assembles it: our API in front of the pages, all under a top-level catch-all
    mount (reflex/app.py, App.__call__)."""
    pages = Starlette(routes=[Route("/{path:path}", lambda r: PlainTextResponse("page"))])
    api = create_api()
    api.mount("", pages)
    top = Starlette()
    top.mount("", api)
    return top


def test_a_line_break_in_the_path_is_a_json_404(database_url):
    for app in (ControlCharacterPaths(_served_like_reflex()),):
        client = TestClient(app)
        for path in ("/api/v1/trader-roles/a%0Ab", "/api/v1/firms%0D", "/x%09/y%0A"):
            r = client.get(path)
            assert r.status_code == 404, path
            assert r.headers["content-type"] == "application/json", path
            assert r.json() == {"detail": "No such endpoint."}


def test_without_it_the_catch_all_answered_plain_text(database_url):
    """What the middleware is for: the assembled app alone answers text/plain."""
    r = TestClient(_served_like_reflex()).get("/api/v1/trader-roles/a%0Ab")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/plain")


def test_ordinary_paths_pass_through(database_url):
    client = TestClient(ControlCharacterPaths(_served_like_reflex()))
    assert client.get("/firms").text == "page"
    assert client.get("/api/health").status_code == 200
