"""The text check every browser event passes: the same one every API input passes.

Any connected browser can call any public handler by name with any JSON arguments, so text
cannot be trusted to reach a schema: a search box's value goes straight into a query (and a NUL
makes PostgreSQL fail half-way through the handler). Every string in an event's arguments (dict
keys too, at any depth) and every parameter of the page's address (which page loads read) is
checked with models.fields.check_text before any handler runs: no control characters but tab
and line breaks, no lone surrogates. A refused event changes nothing and shows a message naming
the field. Names get their stricter checks where they are parsed
(the schemas and the services).

Passwords are never stored as text (they are hashed): in a field whose name says "password"
only what no hash can take, a lone surrogate, is refused; the password policy does the rest.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import reflex as rx
from reflex.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event

from brm_app.models.fields import check_text
from brm_app.state.session_guard import _is_reflex_internal

log = logging.getLogger("brm.input")

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_secret(value: str) -> str:
    if _SURROGATE.search(value):
        raise ValueError("must not contain invalid characters (unpaired surrogates)")
    return value


def bad_text(payload: Any) -> tuple[list[str], str] | None:
    """(path of keys, message) of the first string the text checks refuse, or None."""
    stack: list[tuple[list[str], Any]] = [([], payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            secret = bool(path) and "password" in path[-1].lower()
            try:
                (_check_secret if secret else check_text)(value)
            except ValueError as exc:
                return path, str(exc)
        elif isinstance(value, dict):
            for key, item in value.items():
                key = str(key)
                try:
                    check_text(key)
                except ValueError as exc:
                    return path, str(exc)
                stack.append(([*path, key], item))
        elif isinstance(value, list | tuple):
            stack.extend((path, item) for item in value)
    return None


def _label(path: list[str]) -> str:
    """The field for the user: form.first_name -> "First name"; a bare argument -> "The text"."""
    if len(path) < 2:
        return "The text"
    return path[-1].replace("_", " ").strip().capitalize() or "The text"


def _refusal(state: BaseState, event: Event) -> str | None:
    """What is wrong with the event's text, for the user; None when nothing is."""
    found = bad_text(event.payload)
    if found is not None:
        path, message = found
        return f"{_label(path)} {message}."
    # Page loads read the address's query (?q=..., ?entity=...): it is input as well.
    root = state._get_root_state()
    params = dict(root.router.url.query_parameters) if root.router else {}
    found = bad_text(params)
    if found is not None:
        path, message = found
        return f"The page address ({'.'.join(path) or 'query'}) {message}."
    return None


class InputGuard(Middleware):
    async def preprocess(self, app, state: BaseState, event: Event) -> StateUpdate | None:
        state_path, _, _handler = event.name.rpartition(".")
        if _is_reflex_internal(state_path):
            return None
        refusal = _refusal(state, event)
        if refusal is None:
            return None
        log.info("refused %s: %s", event.name, refusal)
        toast = rx.toast.error(f"{refusal} Nothing was changed.", close_button=True)
        return StateUpdate(events=Event.from_event_type(toast))
