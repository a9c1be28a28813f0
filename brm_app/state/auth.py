"""Signing in (the one public state) and the signed-in user shown by the app shell."""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import urljoin, urlsplit

import reflex as rx

from brm_app.auth.rbac import PERMISSIONS
from brm_app.db import unit_of_work
from brm_app.models.user import ROLE_LABELS, Role
from brm_app.navigation import sections_for
from brm_app.services import authentication, users
from brm_app.services.errors import DomainError, SecondFactorNeeded
from brm_app.settings import get_settings
from brm_app.state.base import ServiceMixin
from brm_app.state.session_guard import (
    client_ip_of,
    public_state,
    session_token_of,
    setup_state,
)
from brm_app.state.shell_script import SHELL_JS


def _api_path(path: str) -> str:
    """Same origin in production; in `reflex run --env dev` the API is on the backend port."""
    if os.environ.get("REFLEX_ENV_MODE", "prod") == "dev":
        return rx.config.get_config().api_url.rstrip("/") + path
    return path


_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")


def safe_next(value: object) -> str:
    """Only a path inside this app, never another site (no open redirect).

    Judged as the browser will read it (WHATWG URL parser): leading/trailing C0 controls and
    spaces are stripped, every tab, CR and LF is dropped, and `\\` counts as `/`; so
    `/<TAB>/evil.example` is `//evil.example`, another host. The cleaned path is what is returned
    (the browser reads its `\\` as `/` just the same).
    """
    if not isinstance(value, str) or len(value) >= 500:
        return "/"
    path = value.strip(_C0_OR_SPACE).translate(_TAB_OR_NEWLINE)
    as_browser = path.replace("\\", "/")
    if (
        not as_browser.startswith("/")
        or as_browser.startswith("//")
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path)
        or as_browser.startswith("/login")
    ):
        return "/"
    parts = urlsplit(as_browser)
    if parts.scheme or parts.netloc:
        return "/"
    resolved = urlsplit(urljoin("http://brm.invalid/", as_browser))
    if (resolved.scheme, resolved.netloc) != ("http", "brm.invalid"):
        return "/"
    return "/" if as_browser.startswith("/index") else path


@public_state
class LoginState(rx.State):
    error: str = ""
    busy: bool = False
    # The password was right and the account has two-factor sign-in on: ask for the code too
    # (the form is sent again whole: nothing of the first step is kept on the server).
    need_otp: bool = False

    @rx.event
    def load(self):
        self.busy = False
        self.need_otp = False
        params = self.router.url.query_parameters
        self.error = "Your sign-in expired; please sign in again." if params.get("expired") else ""

    @rx.event
    async def submit(self, form: dict):
        if not isinstance(form, dict):
            self.error = "Enter your email and password."
            return
        email, password = form.get("email"), form.get("password")
        otp = form.get("otp") if self.need_otp else None
        root = self._get_root_state()
        ip = client_ip_of(root)
        user_agent = (root.router_data.get("headers") or {}).get("user-agent")
        self.busy = True
        self.error = ""
        yield

        def run() -> str:
            with unit_of_work(write=True) as db:
                return authentication.sign_in(
                    db,
                    email=email,
                    password=password,
                    ip=ip,
                    user_agent=user_agent,
                    settings=get_settings(),
                    otp=otp,
                )

        try:
            ticket = await asyncio.to_thread(run)
        except SecondFactorNeeded as exc:
            self.busy = False
            self.error = "" if exc.missing else exc.message
            self.need_otp = True
            return
        except DomainError as exc:
            self.busy = False
            self.error = exc.message
            return
        target = safe_next(self.router.url.query_parameters.get("next"))
        # Trade the ticket for the HttpOnly cookie, then load the app with it.
        yield rx.call_script(
            f"fetch({json.dumps(_api_path('/api/session'))}, {{method: 'POST', "
            "credentials: 'include', headers: {'Content-Type': 'application/json'}, "
            f"body: JSON.stringify({{ticket: {json.dumps(ticket)}}})}})"
            f".then(r => window.location.replace(r.ok ? {json.dumps(target)} : '/login?expired=1'))"
        )


@setup_state
class SessionState(ServiceMixin, rx.State):
    """The signed-in user as the shell shows them; loaded first on every protected page."""

    user_id: int = 0
    name: str = ""
    email: str = ""
    role: str = ""
    role_label: str = ""
    nav: list[dict[str, str]] = []
    # The signed-in user's permissions (rbac.Permission values), to show only usable actions.
    # Every action is still authorized again by the service it calls.
    perms: list[str] = []
    # How dates, times and numbers are written (BCP 47; "": the browser's own).
    locale: str = ""
    time_zone: str = ""  # IANA; "" until loaded (the browser's own)

    @rx.var
    def nav_hrefs(self) -> list[str]:
        return [item["href"] for item in self.nav]

    @rx.var
    def initials(self) -> str:
        parts = [p for p in self.name.split() if p]
        return "".join(p[0] for p in parts[:2]).upper() or "?"

    @rx.event
    async def load(self):
        def me(db, *, actor):
            return (
                users.get_me(db, actor=actor),
                sections_for(actor),
                sorted(PERMISSIONS[actor.role]),
            )

        try:
            profile, nav, perms = await self._call(me)
        except DomainError as exc:
            return self._error_event(exc)
        self.user_id = profile.user_id
        self.name = profile.name
        self.email = profile.email
        self.role = profile.role.value
        self.role_label = ROLE_LABELS[Role(profile.role)]
        self.nav = nav
        self.perms = [p.value for p in perms]
        self.locale, self.time_zone = profile.locale, profile.time_zone
        return rx.call_script(SHELL_JS)

    @rx.event
    async def sign_out(self):
        root = self._get_root_state()
        token, ip = session_token_of(root), client_ip_of(root)

        def run() -> None:
            with unit_of_work(write=True) as db:
                authentication.sign_out(db, token=token, ip=ip, settings=get_settings())

        await asyncio.to_thread(run)
        root.reset()
        # The session is already dead on the server; this clears the cookie and leaves.
        return rx.call_script(
            f"fetch({json.dumps(_api_path('/api/session'))}, {{method: 'DELETE', credentials: 'include'}})"
            ".finally(() => window.location.replace('/login'))"
        )
