"""A count and a latency per Reflex event handler, and one log line per event.

Reflex 0.10 calls no middleware after a handler (its `postprocess` hook is never called), so the
one place that sees an event start and end is the event processor's `_execute_event`: it is
wrapped here. If a Reflex upgrade renames it, the app still starts (a warning says the event
figures are missing) and tests/unit/test_observability.py fails.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from brm_app.observability import metrics

event_log = logging.getLogger("brm.events")
log = logging.getLogger("brm.metrics")

_installed = False


def install() -> bool:
    """Wrap the processor once per process; False when Reflex no longer has the hook."""
    global _installed
    if _installed:
        return True
    try:
        from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor
    except ImportError:
        log.warning("metrics: Reflex's event processor not found; no per-handler figures")
        return False
    original = getattr(BaseStateEventProcessor, "_execute_event", None)
    if original is None:
        log.warning("metrics: Reflex's _execute_event not found; no per-handler figures")
        return False

    @functools.wraps(original)
    async def timed(self: Any, *, entry: Any, registered_handler: Any) -> None:
        handler = entry.event.name
        started = time.perf_counter()
        outcome = "error"
        try:
            await original(self, entry=entry, registered_handler=registered_handler)
            outcome = "ok"
        finally:
            observe(handler, outcome, time.perf_counter() - started)

    BaseStateEventProcessor._execute_event = timed  # type: ignore[method-assign]
    _installed = True
    return True


def observe(handler: str, outcome: str, seconds: float) -> None:
    metrics.REFLEX_EVENTS.labels(handler, outcome).inc()
    metrics.REFLEX_LATENCY.labels(handler).observe(seconds)
    if event_log.isEnabledFor(logging.INFO):
        event_log.info(
            "event %s %s",
            handler,
            outcome,
            extra={
                "handler": handler,
                "outcome": outcome,
                "duration_ms": round(seconds * 1000, 2),
            },
        )
