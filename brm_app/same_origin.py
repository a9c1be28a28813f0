"""The built pages talk to the server that served them (issue 14: several servers, a proxy).

Reflex writes the backend's address into the frontend at build time (`ws://localhost:PORT/_event`)
and, in the browser, swaps in the page's host name but keeps the built port (and over https drops
it). A page served by another server, or through a proxy on another port, then opened its
websocket to the built port: refused by the pages' CSP (`connect-src 'self'`), so it never
connected. This plugin makes the production build follow the page's own host and port, so one
build serves every server and the proxy in front of them.
"""

from __future__ import annotations

from typing import Unpack

from reflex_base.plugins.base import Plugin, PreCompileContext

STATE_JS = "utils/state.js"
# Reflex 0.10's getBackendURL: the https branch, and where the page's port is put instead.
_BUILT_PORT = """      endpoint.port = ""; // Assume websocket is on https port via load balancer.
    }
"""
_PAGE_PORT = """    }
    // BRM: the page's own port as well (see brm_app/same_origin.py).
    endpoint.port = window.location.port;
"""


def follow_the_page(state_js: str) -> str:
    """Reflex's state.js with the backend on the page's own origin. Fails loudly when Reflex's
    code has changed, so an upgrade cannot quietly bring the built port back."""
    if _PAGE_PORT in state_js:  # patched by an earlier compile into the same folder
        return state_js
    if state_js.count(_BUILT_PORT) != 1:
        raise RuntimeError(f"{STATE_JS}: Reflex's getBackendURL changed; update {__name__}")
    return state_js.replace(_BUILT_PORT, _PAGE_PORT)


class SameOriginBackend(Plugin):
    def pre_compile(self, **context: Unpack[PreCompileContext]) -> None:
        from reflex_base import constants
        from reflex_base.environment import environment

        # Dev mode's Vite server and backend are two ports: there Reflex's own rule is right.
        if environment.REFLEX_ENV_MODE.get() == constants.Env.PROD:
            context["add_modify_task"](STATE_JS, follow_the_page)
