"""Methods: OPTIONS on an API path answers 204 with every method the path serves in `Allow`;
any other method the path does not serve answers 405 JSON with the same `Allow`; also with
Reflex's catch-all mount behind the API, as in the served app."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from brm_app.api.app import create_api


def _documented(client: TestClient) -> dict[str, set[str]]:
    paths = client.get("/api/openapi.json").json()["paths"]
    return {path: {m.upper() for m in ops} for path, ops in paths.items()}


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "Call" if m.group(1) in ("name", "token") else "1", path)


def _allow(response) -> set[str]:
    return {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}


def _catch_all_app():
    """What Reflex mounts behind the API in the served app: pages, and a 405 of its own."""

    async def page(request):
        return PlainTextResponse("page")

    return Starlette(routes=[Route("/{rest:path}", page, methods=["GET", "HEAD"])])


def _clients(database_url):
    plain = create_api()
    served = create_api()
    served.mount("", _catch_all_app())
    return {"api": TestClient(plain), "served": TestClient(served)}


def test_options_lists_every_documented_method(database_url):
    for label, client in _clients(database_url).items():
        wrong = []
        for path, methods in _documented(client).items():
            r = client.options(_fill(path))
            if r.status_code != 204 or _allow(r) != methods | {"OPTIONS"}:
                wrong.append(f"{path}: {r.status_code} Allow={sorted(_allow(r))}")
        assert not wrong, f"{label}:\n" + "\n".join(wrong)


def test_an_undeclared_method_is_405_with_allow(database_url):
    cases = [
        ("PATCH", "/api/v1/interaction-types/Call/outcomes", {"PUT"}),
        ("DELETE", "/api/v1/firms", {"GET", "POST"}),
        ("POST", "/api/v1/firms/1", {"GET", "PUT", "PATCH", "DELETE"}),
        ("PUT", "/api/v1/users/me", {"GET", "PATCH"}),
    ]
    for label, client in _clients(database_url).items():
        for method, url, methods in cases:
            r = client.request(method, url, json={"outcomes": []})
            assert r.status_code == 405, (label, method, url, r.status_code, r.text)
            assert r.headers["content-type"] == "application/json", (label, url)
            assert r.json()["detail"] == "Method not allowed on this endpoint."
            assert _allow(r) == methods | {"OPTIONS"}, (label, method, url, r.headers)


def test_pages_and_preflights_are_left_alone(database_url):
    client = _clients(database_url)["served"]
    assert client.get("/firms").text == "page"
    r = client.options(
        "/api/v1/firms",
        headers={"Origin": "http://x.example", "Access-Control-Request-Method": "POST"},
    )
    # No CORS middleware in this app: a preflight is an OPTIONS like any other here.
    assert r.status_code == 204
    assert client.get("/api/v1/no-such-thing").json() == {"detail": "No such endpoint."}
