"""Browser tabs that reach the app's states the way a real browser's do.

A `Tab` sends each event as the JSON a browser puts on the websocket: it is decoded like a
socket.io packet, handed to the app's real `EventNamespace.on_event` (router data built from
the connection's headers, so the session cookie is read as in production), queued on Reflex's
`BaseStateEventProcessor` with the app itself as middleware (SessionGuard, InputGuard),
payloads converted by the handler's type hints, returned and yielded events queued and run,
deltas resolved, and every update serialized with the same JSON encoder the socket uses. What
the tab "receives" is that JSON, so a test can search it for what must never reach the browser.

Only the socket.io transport is left out. The processor runs on an event loop of its own thread
(the Playwright tests keep a loop running in the main thread), with an in-memory state manager
per `Server`, so a test can still read or set a tab's server-side state between events.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import reflex as rx
from reflex.app import EventNamespace, _sio_dumps, _sio_loads
from reflex.istate.manager.memory import StateManagerMemory
from reflex.istate.manager.token import BaseStateToken
from reflex.state import StateUpdate
from reflex.utils.token_manager import SocketRecord
from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor
from reflex_base.event.processor.future import EventFuture

from brm_app.brm_app import app

T = TypeVar("T")

HYDRATE = f"{rx.State.get_full_name()}.hydrate_and_load"


def _pages_registered() -> None:
    """The routes the browser's paths resolve to, and their on_load events, as `brm serve` has
    them after compiling: page loads run through `on_load_internal` like in production."""
    if not app._unevaluated_pages:
        app._apply_decorated_pages()


class _Loop:
    """One event loop on a thread of its own; `run` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        context = contextvars.copy_context()  # Reflex keeps its registry in a context variable
        self.thread = threading.Thread(
            target=context.run, args=(self.loop.run_forever,), daemon=True, name="tabs"
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class _Processor(BaseStateEventProcessor):
    """Reflex's own processor, remembering every event it queued so a send can wait for the
    whole chain (returned and yielded events included)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pending: list[EventFuture] = []

    async def enqueue(self, token, event, ev_ctx=None):  # type: ignore[override]
        future = await super().enqueue(token, event, ev_ctx)
        self.pending.append(future)
        return future


class _Namespace(EventNamespace):
    """The app's websocket namespace, its sending replaced by a recorder per tab."""

    def __init__(self, server: Server) -> None:
        super().__init__(rx.config.get_config().get_event_namespace(), _AppView(server))
        self.server = server

    async def emit_update(self, update: StateUpdate, token: str) -> None:
        tab = self.server.tabs.get(token)
        if tab is not None:
            tab._receive(update)


class _AppView:
    """The app as the namespace sees it, with this server's event processor."""

    def __init__(self, server: Server) -> None:
        self._server = server

    @property
    def event_processor(self) -> _Processor:
        return self._server.processor

    def __getattr__(self, name: str) -> Any:
        return getattr(app, name)


class Server:
    """The backend side: one state manager and event processor for the tabs of one test."""

    def __init__(self) -> None:
        _pages_registered()
        self.loop = _Loop()
        self.errors: list[BaseException] = []  # what reached the backend exception handler
        self.tabs: dict[str, Tab] = {}
        self.state_manager = StateManagerMemory()
        self.namespace = _Namespace(self)
        self.processor = _Processor(middleware=app, backend_exception_handler=self._on_error)
        self.processor.configure(state_manager=self.state_manager, event_namespace=self.namespace)
        self.loop.run(self.processor.start())

    def _on_error(self, exc: Exception) -> Any:
        self.errors.append(exc)
        return app.backend_exception_handler(exc)

    def close(self) -> None:
        # start() attached the root context inside a task of its own: nothing to detach here.
        self.processor._attached_root_context_token = None
        self.loop.run(self.processor.stop(graceful_shutdown_timeout=1))
        self.loop.run(self.state_manager.close())
        self.loop.close()

    def tab(self, cookie_token: str | None = None, path: str | None = "/") -> Tab:
        """A new tab with this session cookie; `path` is opened at once (None: not yet)."""
        tab = Tab(self, cookie_token)
        if path is not None:
            tab.open(path)
        return tab

    async def _drain(self) -> None:
        while self.processor.pending:
            future = self.processor.pending.pop(0)
            try:
                await future.wait_all()
            except asyncio.CancelledError:
                pass
            except Exception:  # reported through _on_error as well
                pass
        # The backend exception handler's own events run as tasks of their own.
        while self.processor._tasks:
            await asyncio.sleep(0.001)


@dataclass
class Received:
    """One update as the browser gets it: the JSON text and what it decodes to."""

    text: str
    delta: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


class Tab:
    """One browser tab: its client token, its socket and its session cookie."""

    def __init__(self, server: Server, cookie_token: str | None) -> None:
        self.server = server
        self.token = str(uuid.uuid4())  # the client token Reflex's frontend makes
        self.sid = uuid.uuid4().hex
        self.path = "/"
        self.received: list[Received] = []
        server.tabs[self.token] = self
        self.connect(cookie_token)

    # ---- the connection ----------------------------------------------------------------

    def connect(self, cookie_token: str | None, extra: dict[str, str] | None = None) -> None:
        """(Re)connect the socket with this cookie (and any other headers the browser sends,
        `extra` replacing the defaults): headers are read once per connection."""
        fields = {"origin": "http://localhost:3000", "user-agent": "harness", **(extra or {})}
        headers = [(k.encode(), v.encode()) for k, v in fields.items()]
        if cookie_token:
            headers.append((b"cookie", f"brm_session={cookie_token}".encode()))
        environ = {"asgi.scope": {"headers": headers, "client": ("127.0.0.1", 50000)}}
        namespace = self.server.namespace
        namespace._static_router_data[self.sid] = namespace._build_static_router_data(
            self.sid, environ
        )
        namespace._token_manager.sid_to_token[self.sid] = self.token
        # Which worker holds the tab's socket: this one (live pushes look it up).
        namespace._token_manager.token_to_socket[self.token] = SocketRecord(
            instance_id=namespace._token_manager.instance_id, sid=self.sid
        )

    # ---- sending ----------------------------------------------------------------------

    def _router_data(self) -> dict[str, Any]:
        parts = urlsplit(self.path)
        # Decoded, as the frontend's URLSearchParams hands them over (?q=ac%1Bme is "ac\x1bme").
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        return {"pathname": parts.path, "asPath": self.path, "query": query}

    def send_raw(self, name: str, payload: dict[str, Any]) -> list[Received]:
        """Send one event by its full name; returns what the tab received for it."""
        packet = _sio_dumps({"name": name, "payload": payload, "router_data": self._router_data()})
        data = _sio_loads(packet)  # what socket.io hands on_event
        start = len(self.received)

        async def go() -> None:
            await self.server.namespace.on_event(self.sid, data)
            await self.server._drain()

        self.server.loop.run(go())
        return self.received[start:]

    def open(self, path: str) -> list[Received]:
        """Load a page: the socket's boot event hydrates the tab and runs the page's on_load."""
        self.path = path
        return self.send_raw(HYDRATE, {})

    def send(self, cls: type[rx.State], handler: str, *args: Any, **kwargs: Any) -> list[Received]:
        """Fire a handler as a button would: positional arguments take the handler's parameter
        names in order (the frontend sends them by name)."""
        payload = dict(kwargs)
        if args:
            fn = cls.event_handlers[handler].fn
            names = [p for p in inspect.signature(fn).parameters if p != "self"]
            if len(args) > len(names):
                raise TypeError(f"{cls.__name__}.{handler} takes {len(names)} arguments")
            payload.update(zip(names, args, strict=False))
        return self.send_raw(f"{cls.get_full_name()}.{handler}", payload)

    def _receive(self, update: StateUpdate) -> None:
        text = _sio_dumps(update)  # exactly what goes on the socket
        decoded = json.loads(text)
        self.received.append(
            Received(text, decoded.get("delta", {}) or {}, decoded.get("events", []) or [])
        )

    # ---- reading what arrived and what the server holds ----------------------------------

    @property
    def text(self) -> str:
        """Everything this tab was sent, as one string to search."""
        return "\n".join(r.text for r in self.received)

    def events(self, since: int = 0) -> Iterator[dict[str, Any]]:
        for r in self.received[since:]:
            yield from r.events

    def redirected_to(self, since: int = 0) -> str | None:
        """The path of the last redirect sent to this tab (the sign-in page, for instance)."""
        found = None
        for e in self.events(since):
            if e.get("name") == "_redirect":
                found = e.get("payload", {}).get("path")
        return found

    def toasts(self, since: int = 0) -> list[str]:
        """The messages of the toasts sent to this tab (they travel as _call_function)."""
        return [json.dumps(e) for e in self.events(since) if "toast" in json.dumps(e)]

    def state(self, cls: type[rx.State]) -> Any:
        """The tab's server-side state (the same object the next event will see)."""

        async def get() -> Any:
            root = await self.server.state_manager.get_state(
                BaseStateToken(ident=self.token, cls=rx.State)
            )
            return await root.get_state(cls)

        return self.server.loop.run(get())

    def root(self) -> Any:
        return self.state(rx.State)
