"""What ends when a user's credentials change (password changed or reset, account deactivated).

Every browser session (but the one making the change, if any), every API token (they carry
`credentials_changed_at` as their version) and every calendar feed URL. One function, so no path
that changes credentials can forget one of them; a reactivated account starts with none.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlmodel import Session, update

from brm_app.auth import sessions
from brm_app.db import utcnow
from brm_app.models.follow_up import CalendarFeed
from brm_app.models.user import User


class Revoked(NamedTuple):
    sessions: int
    feeds: int


def changed(db: Session, user: User, *, reason: str, keep_session_id: int | None = None) -> Revoked:
    """Mark the user's credentials changed now and revoke what they granted."""
    now = utcnow()
    user.credentials_changed_at = now
    db.add(user)
    revoked_sessions = sessions.revoke_all(
        db, user_id=user.id, reason=reason, keep_id=keep_session_id
    )
    revoked_feeds = db.exec(
        update(CalendarFeed)
        .where(CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    return Revoked(revoked_sessions, revoked_feeds or 0)
