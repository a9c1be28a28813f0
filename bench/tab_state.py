"""The Reflex state one browser tab keeps on the server, in bytes.

A tab is driven through the app's own event processor (tests/state/harness.py: the events the
browser sends, the session cookie read as in production, SessionGuard included), then every
substate in its tree is pickled the way the Redis state manager stores it (`_serialize()`, one
key per substate); the sum is what one open tab costs.
"""

from __future__ import annotations

from typing import Any


def tree_bytes(root: Any) -> int:
    """The pickled size of every substate of `root` (root included), as Redis would hold it."""
    total, stack = 0, [root]
    while stack:
        state = stack.pop()
        total += len(state._serialize())
        stack.extend(state.substates.values())
    return total


def measure_tab_state(*, cookie: str, search: str, firm_path: str) -> dict[str, int]:
    """{page: bytes} for one tab: the firms page after a search, then a firm's page.

    The app must already point at the database holding the session (BRM_DATABASE_URL)."""
    import reflex as rx

    from brm_app.state.firms import FirmsState
    from tests.state.harness import Server

    server = Server()
    try:
        tab = server.tab(cookie, path="/firms")
        tab.send(FirmsState, "search", search)
        sizes = {"firms": tree_bytes(tab.state(rx.State))}
        tab.open(firm_path)
        sizes["firm"] = tree_bytes(tab.state(rx.State))
        if server.errors:
            raise RuntimeError(f"the tab's events failed: {server.errors!r}")
        return sizes
    finally:
        server.close()
