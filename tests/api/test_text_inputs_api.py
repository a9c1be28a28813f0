"""Every text input of every API route passes the same text checks (models/fields.py).

The routes are walked, not listed: a new route or field is covered the day it is added. For each
text query or path parameter and each text field of a request body (nested objects and lists
included), a request carrying a NUL, another control character or (in JSON) a lone surrogate is
answered 422 naming that field; a name field also refuses invisible and text-direction characters.
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote

import pytest
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BaseModel

from brm_app.api.app import create_api
from brm_app.models.user import Role
from tests.api.conftest import auth, get_token
from tests.factories import make_firm, make_trader, make_user

# Secrets are never stored as text (they are hashed): their own policy checks them (see below).
SECRETS = {"password", "current_password", "new_password", "client_secret"}
# Fields that name something (a person, firm, role, type or outcome).
NAME_FIELDS = {"name", "role", "outcomes"}


def _routes(routes) -> typing.Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI's included routers
            yield from _routes(route.original_router.routes)


def _strip(annotation):
    """The types an annotation admits: Annotated and unions unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) for t in _strip(a)]
    return [annotation]


def _text_paths(annotation, path: tuple) -> typing.Iterator[tuple[tuple, bool]]:
    """(path to each text leaf, whether it sits in a list) under a type."""
    for t in _strip(annotation):
        if t is str:
            yield path, False
        elif typing.get_origin(t) in (list, set, tuple):
            for item in typing.get_args(t)[:1]:
                for sub, _ in _text_paths(item, path):
                    yield sub, True
        elif isinstance(t, type) and issubclass(t, BaseModel):
            for fname, info in t.model_fields.items():
                yield from _text_paths(info.annotation, (*path, info.alias or fname))
        elif isinstance(t, type) and issubclass(t, Enum):
            continue  # a fixed choice: anything else is refused already


@dataclass(frozen=True)
class Input:
    method: str
    path: str
    where: str  # "query", "path", "json" or "form"
    field: tuple
    in_list: bool

    @property
    def label(self) -> str:
        return f"{self.method} {self.path} {self.where}:{'.'.join(self.field)}"


def _flat(dependant):
    yield dependant
    for sub in dependant.dependencies:
        yield from _flat(sub)


def text_inputs() -> list[Input]:
    found = []
    for route in _routes(create_api().routes):
        method = sorted(route.methods - {"HEAD"})[0]
        for dep in _flat(route.dependant):
            for where, params in (("query", dep.query_params), ("path", dep.path_params)):
                for p in params:
                    for fpath, in_list in _text_paths(p.field_info.annotation, (p.alias,)):
                        found.append(Input(method, route.path, where, fpath, in_list))
            for p in dep.body_params:
                where = "form" if isinstance(p.field_info, Form) else "json"
                embed = len(dep.body_params) > 1 or where == "form"
                start = (p.alias,) if embed else ()
                for fpath, in_list in _text_paths(p.field_info.annotation, start):
                    found.append(Input(method, route.path, where, fpath, in_list))
    return found


INPUTS = text_inputs()


def test_the_walk_finds_the_text_inputs():
    """The walk reaches nested fields, lists, path and query parameters and forms."""
    labels = {i.label for i in INPUTS}
    assert "PATCH /api/v1/users/me json:name" in labels
    assert "POST /api/v1/firms json:address.city" in labels
    assert "PUT /api/v1/interaction-types/{name:path}/outcomes json:outcomes" in labels
    assert "GET /api/v1/interactions query:type" in labels
    assert "DELETE /api/v1/trader-roles/{name} path:name" in labels
    assert "POST /api/v1/auth/token form:username" in labels
    assert "POST /api/session json:ticket" in labels  # not in the OpenAPI document
    assert len(INPUTS) > 60


@pytest.fixture
def admin_headers(client):
    admin = make_user(Role.ADMIN)
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name="Acme Capital")
    make_trader(broker, firm.firm_id, name="Alice Archer", email="alice@acme.example")
    return auth(get_token(client, admin.email))


def _request(client, headers, item: Input, value: str):
    cell: object = [value] if item.in_list else value
    params, body = {}, None
    if item.where == "query":
        params[item.field[0]] = value
    elif item.where in ("json", "form"):
        body = cell
        for key in reversed(item.field):
            body = {key: body}

    def fill(match: re.Match) -> str:  # the tested parameter gets the value, the others an id
        if item.where == "path" and match[1] == item.field[0]:
            return quote(value, safe="")
        return "1"

    path = re.sub(r"\{(\w+)(?::\w+)?\}", fill, item.path)
    if item.where == "form":
        return client.request(item.method, path, params=params, data=body, headers=headers)
    content = json.dumps(body) if body is not None else None  # ASCII escapes keep surrogates
    headers = {**headers, "Content-Type": "application/json"} if content else headers
    return client.request(item.method, path, params=params, content=content, headers=headers)


def _named(response, item: Input) -> str | None:
    """The message the 422 gives for the input's field, or None. The token route answers as
    OAuth2 asks (RFC 6749 section 5.2): 400 with an `error` code, its own `errors` alongside."""
    oauth = item.path.endswith("/auth/token") and response.status_code == 400
    if response.status_code != 422 and not oauth:
        return None
    field = ".".join(item.field)
    for err in response.json().get("errors", []):
        if err["field"] == field or err["field"].startswith(field + "."):
            return err["message"]
    return None


BAD_TEXT = [
    ("\x00", "control characters"),
    ("\x1b", "control characters"),
    ("\x85", "control characters"),
]


def _refused(client, headers, item: Input, char: str, expected: str) -> str | None:
    """None if the input is refused for `char` with the expected message, else what was
    answered. A short and a longer text are tried, so a length limit cannot hide the check; a
    field with a format of its own (an email, a LEI, a fixed pattern), which refuses plain words
    as well, only has to refuse the text."""
    for text in (f"Ac{char}me", f"Acme{char}Capital Partners 2024"):
        r = _request(client, headers, item, text)
        message = _named(r, item)
        if message is not None and expected in message:
            return None
        if message is not None and _named(
            _request(client, headers, item, text.replace(char, " ")), item
        ):
            return None
    return f"{item.label} {char!r}: {r.status_code} {r.text[:160]}"


def test_every_text_input_refuses_control_characters(client, admin_headers):
    failures = []
    for item in INPUTS:
        if item.field[-1] in SECRETS:
            continue
        for char, expected in BAD_TEXT:
            if failure := _refused(client, admin_headers, item, char, expected):
                failures.append(failure)
    assert not failures, f"{len(failures)} inputs took bad text:\n" + "\n".join(failures)


def test_every_json_text_field_refuses_lone_surrogates(client, admin_headers):
    failures = []
    for item in INPUTS:
        if item.where != "json" or item.field[-1] in SECRETS:
            continue
        # Refused as it is parsed ("unable to parse raw data as a unicode string"); services
        # reached another way refuse it with check_text.
        if failure := _refused(client, admin_headers, item, "\ud800", ""):
            failures.append(failure)
    assert not failures, f"{len(failures)} fields took a lone surrogate:\n" + "\n".join(failures)


INVISIBLE = ["\u200b", "\u2060", "\ufeff", *map(chr, range(0x202A, 0x202F)),
             *map(chr, range(0x2066, 0x206A))]  # fmt: skip


def test_every_name_field_refuses_invisible_and_direction_characters(client, admin_headers):
    names = [i for i in INPUTS if i.field[-1] in NAME_FIELDS and i.where == "json"]
    assert len(names) >= 10, [i.label for i in names]
    failures = []
    for item in names:
        for char in INVISIBLE:
            if failure := _refused(client, admin_headers, item, char, "invisible"):
                failures.append(failure)
        for char in "\t\n":
            if failure := _refused(client, admin_headers, item, char, "one line"):
                failures.append(failure)
    assert not failures, f"{len(failures)} names took invisible characters:\n" + "\n".join(failures)
