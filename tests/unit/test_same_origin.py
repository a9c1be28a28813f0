"""The production build's pages open their websocket on the origin that served them (issue 14),
so one build serves two servers on two ports and the proxy in front of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import reflex_base

from brm_app.same_origin import STATE_JS, SameOriginBackend, follow_the_page
from rxconfig import config

REFLEX_STATE_JS = Path(reflex_base.__file__).parent / ".templates" / "web" / STATE_JS


def test_reflex_state_js_is_patched_to_the_page_port_once():
    original = REFLEX_STATE_JS.read_text()
    patched = follow_the_page(original)
    assert "endpoint.port = window.location.port;" in patched
    assert "Assume websocket is on https port" not in patched
    assert follow_the_page(patched) == patched  # a second compile into the same folder


def test_a_changed_reflex_fails_the_build():
    with pytest.raises(RuntimeError, match="getBackendURL changed"):
        follow_the_page("export const getBackendURL = (url_str) => new URL(url_str);")


def test_the_app_uses_the_plugin_in_production_builds_only(monkeypatch):
    assert any(isinstance(p, SameOriginBackend) for p in config.plugins)
    tasks = []
    monkeypatch.setenv("REFLEX_ENV_MODE", "dev")
    SameOriginBackend().pre_compile(add_modify_task=lambda *a: tasks.append(a))
    assert tasks == []
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    SameOriginBackend().pre_compile(add_modify_task=lambda *a: tasks.append(a))
    assert tasks == [(STATE_JS, follow_the_page)]
