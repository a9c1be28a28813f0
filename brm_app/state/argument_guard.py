"""The check every browser event passes before its handler: its arguments fit the handler.

Any connected browser can call any public handler by name with any JSON object as arguments.
Reflex calls the handler with them as keyword arguments, so an unknown or a missing argument
raised a TypeError inside Reflex (an error toast naming the handler, a traceback in the log),
and `setvar`, which Reflex gives every state, raised for any `var_name` that names no setter.
Such an event is refused here instead: nothing runs, the tab gets a short message. The values'
types are still the handlers' and the services' to check.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex.middleware.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event
from reflex_base.registry import RegistrationContext

log = logging.getLogger("brm.input")

_SETVAR = "setvar"


@functools.cache
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def misfit(event: Event) -> str | None:
    """Why the event's arguments do not fit its handler, or None when they do."""
    registered = RegistrationContext.get().event_handlers.get(event.name)
    if registered is None:
        return None  # Reflex itself reports an unknown handler
    payload = event.payload
    if not isinstance(payload, dict):
        return "arguments are not an object"
    handler = registered.handler
    try:
        _signature(handler.fn).bind(None, **payload)
    except TypeError as exc:
        return str(exc)
    if event.name.rpartition(".")[2] == _SETVAR:
        name = payload.get("var_name")
        setter = f"set_{name}" if isinstance(name, str) else None
        state_cls = registered.states[0]
        if setter is None or setter not in state_cls.event_handlers:
            return "setvar names no setter of this state"
    return None


class ArgumentGuard(Middleware):
    async def preprocess(self, app: Any, state: BaseState, event: Event) -> StateUpdate | None:
        reason = misfit(event)
        if reason is None:
            return None
        log.info("refused %s: %s", event.name, reason[:200])
        toast = rx.toast.error("This action could not be done. Nothing was changed.")
        return StateUpdate(events=Event.from_event_type(toast))
