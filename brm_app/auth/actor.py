"""Who is acting: passed explicitly to every service call."""

from __future__ import annotations

from dataclasses import dataclass

from brm_app.models.user import Role


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    role: Role
    email: str
    name: str
    # The client address, recorded in the audit trail.
    ip: str | None = None
    # The browser session the request came through (None for API tokens and the CLI).
    session_id: int | None = None
    # Set while the account must be put in order before anything else: "password" (chosen by an
    # admin, to be changed) or "mfa" (the role requires two-factor sign-in, not yet set up).
    # Services refuse such an actor (rbac.require); only the password change and two-factor
    # enrolment accept it.
    setup_required: str | None = None
    # The user's own time zone when the caller read it already (API calls do, with the token's
    # row); None: services read it when they need it.
    time_zone: str | None = None

    @property
    def label(self) -> str:
        return user_label(self.user_id, self.name)


def user_label(user_id: int | None, name: str) -> str:
    """How the audit trail names a user: their name and id, never their email (encrypted in
    `users`, so never copied in clear into the trail)."""
    return f"{name} #{user_id}"


@dataclass(frozen=True, slots=True)
class SystemActor:
    """The app itself (CLI, scheduler, first start): allowed everything, recorded as 'system'."""

    label: str = "system"
    ip: str | None = None
    user_id: None = None
    role: None = None
