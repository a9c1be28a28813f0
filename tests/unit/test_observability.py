"""Log formats and the Reflex event figures (issue 14)."""

from __future__ import annotations

import json
import logging

from brm_app.observability import logs, metrics, reflex_events


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("brm.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.__dict__.update(extra)
    return record


def test_json_lines_by_default_and_text_on_request(monkeypatch):
    monkeypatch.delenv("BRM_LOG_FORMAT", raising=False)
    line = logs.formatter().format(_record(request_id="ab", user_id=7, status=200))
    data = json.loads(line)
    assert data["msg"] == "GET /x" and data["user_id"] == 7 and data["request_id"] == "ab"
    assert data["level"] == "info" and data["logger"] == "brm.access"
    monkeypatch.setenv("BRM_LOG_FORMAT", "text")
    text = logs.formatter().format(_record(request_id="ab", status=200))
    assert "GET /x" in text and "request_id=ab" in text and not text.startswith("{")


def test_reflex_events_are_timed_through_the_processor_hook():
    from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor

    assert reflex_events.install()
    assert BaseStateEventProcessor._execute_event.__name__ == "_execute_event"
    assert reflex_events.install()  # once only
    before = metrics.REFLEX_EVENTS.labels("state.x.y", "ok")._value.get()
    reflex_events.observe("state.x.y", "ok", 0.01)
    assert metrics.REFLEX_EVENTS.labels("state.x.y", "ok")._value.get() == before + 1
