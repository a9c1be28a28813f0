"""Who may do what to interactions, follow-ups, notifications, the calendar and its feeds,
timelines, the due-for-contact list and the settings, over HTTP: the access rules as a table.

Every row is run for six callers against fresh records: an admin, a compliance officer, a manager
(the broker's manager), the broker who covers the firm, a trader (a portal user whose own trader
record is at the firm) and a broker who does not cover the firm (the "stranger"). The rules:

- brokers see and log interactions and follow-ups only at the firms they cover; managers and
  admins at every firm; compliance reads everything (voided interactions too) and changes nothing;
- only the broker who logged an interaction, managers and admins edit it (a broker who also
  covers the firm reads it but may not rewrite it); only admins void; only the assignee (or a
  manager or admin) snoozes a follow-up;
- traders (portal users) have no access to interactions, follow-ups, timelines or the calendar;
- notifications and calendar feeds are strictly the caller's own: someone else's id is a 404;
- the settings (relationship rules, interaction types and outcomes) are admins' only;
- a record the caller may not see answers 404 (exactly like a missing one); a role that lacks a
  permission answers 403; a refused request changes nothing (no audit event is written).
- An id in a body that names a trader the caller may not use is a 422 naming the field (the
  request is well-formed, its content is not acceptable): see POST /interactions as stranger.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from functools import cached_property

from brm_app.db import unit_of_work, utcnow
from brm_app.models.firm import FirmWrite
from brm_app.models.follow_up import FollowUpWrite
from brm_app.models.interaction import InteractionWrite
from brm_app.models.trader import TraderWrite
from brm_app.services import (
    calendar_feed,
    firms,
    follow_ups,
    interaction_config,
    interactions,
    notifications,
    traders,
)
from tests.api.matrix_support import (
    API,
    ROLES,
    People,
    Templates,
    call,
    play_matrix,
)

CALENDAR = "/calendar?start=$yesterday&end=$next_week"
RULES = {
    "contact_days": {"A": 10, "B": 20, "C": 60},
    "overdue_escalation_days": 3,
    "default_reminder_minutes": [60],
}

# fmt: off
# $name placeholders are fresh records made for each row (see World below):
#   $firm          a live firm covered by "broker" (primary), where "trader"'s own record works
#   $trader        a trader at $firm               $interaction  broker's call with $trader
#   $voided        broker's interaction at $firm, voided by an admin
#   $follow_up     broker's follow-up at $firm     $note         a notification for broker
#   $feed          broker's calendar feed          $type         a custom interaction type
#   $co_interaction, $co_follow_up  broker's records at a firm the stranger also covers
#   $past, $future times for bodies                $yesterday, $next_week  days for the calendar
MATRIX = [
    # method    path                                     body                                   admin compl. manager broker trader stranger
    # -- interactions
    ("GET",    "/interactions",                          None,                                    (200, 200, 200, 200, 403, 200)),
    ("POST",   "/interactions",                          {"trader_ids": ["$trader"], "interaction_type": "Call",
                                                          "interaction_date": "$past", "subject": "Logged"},
                                                                                                  (201, 403, 201, 201, 403, 422)),
    ("GET",    "/interactions/$interaction",             None,                                    (200, 200, 200, 200, 403, 404)),
    ("PUT",    "/interactions/$interaction",             {"trader_id": "$trader", "interaction_type": "Meeting",
                                                          "interaction_date": "$past", "subject": "Rewritten"},
                                                                                                  (200, 403, 200, 200, 403, 404)),
    ("PUT",    "/interactions/$co_interaction",          {"trader_id": "$co_trader", "interaction_type": "Email",
                                                          "interaction_date": "$past", "subject": "Rewritten"},
                                                                                                  (200, 403, 200, 200, 403, 403)),
    ("GET",    "/interactions/$interaction/versions",    None,                                    (200, 200, 200, 200, 403, 404)),
    ("GET",    "/interactions/$co_interaction/versions", None,                                    (200, 200, 200, 200, 403, 200)),
    ("POST",   "/interactions/$interaction/void",        {"reason": "Logged twice"},              (200, 403, 403, 403, 403, 403)),
    ("GET",    "/interactions/$voided",                  None,                                    (200, 200, 404, 404, 403, 404)),
    ("GET",    "/interactions/$voided/versions",         None,                                    (200, 200, 404, 404, 403, 404)),
    ("PUT",    "/interactions/$voided",                  {"trader_id": "$trader", "interaction_type": "Call",
                                                          "interaction_date": "$past", "subject": "Again"},
                                                                                                  (422, 403, 404, 404, 403, 404)),
    ("GET",    "/firms/$firm/interactions",              None,                                    (200, 200, 200, 200, 403, 404)),
    ("GET",    "/traders/$trader/interactions",          None,                                    (200, 200, 200, 200, 403, 404)),
    ("GET",    "/interaction-types",                     None,                                    (200, 200, 200, 200, 403, 200)),
    # -- follow-ups
    ("GET",    "/follow-ups",                            None,                                    (200, 200, 200, 200, 403, 200)),
    ("GET",    "/follow-ups?scope=all&overdue=true",     None,                                    (200, 200, 200, 200, 403, 200)),
    ("GET",    "/follow-ups?scope=team",                 None,                                    (200, 200, 200, 403, 403, 403)),
    ("POST",   "/follow-ups",                            {"title": "Call back", "due_at": "$future",
                                                          "firm_id": "$firm", "assignee_id": "$broker"},
                                                                                                  (201, 403, 201, 201, 403, 404)),
    ("POST",   "/follow-ups",                            {"title": "From the call", "due_at": "$future",
                                                          "interaction_id": "$interaction", "assignee_id": "$broker"},
                                                                                                  (201, 403, 201, 201, 403, 404)),
    ("GET",    "/follow-ups/$follow_up",                 None,                                    (200, 200, 200, 200, 403, 404)),
    ("PATCH",  "/follow-ups/$follow_up",                 {"title": "Renamed"},                    (200, 403, 200, 200, 403, 404)),
    ("PATCH",  "/follow-ups/$follow_up",                 {"status": "done"},                      (200, 403, 200, 200, 403, 404)),
    ("PUT",    "/follow-ups/$follow_up",                 {"title": "Replaced", "due_at": "$future"},
                                                                                                  (200, 403, 200, 200, 403, 404)),
    ("POST",   "/follow-ups/$follow_up/snooze",          {"minutes": 30},                         (200, 403, 200, 200, 403, 404)),
    ("POST",   "/follow-ups/$co_follow_up/snooze",       {"minutes": 30},                         (200, 403, 200, 200, 403, 403)),
    # -- notifications: strictly the caller's own
    ("GET",    "/notifications",                         None,                                    (200, 200, 200, 200, 200, 200)),
    ("GET",    "/notifications?unread=true",             None,                                    (200, 200, 200, 200, 200, 200)),
    ("GET",    "/notifications/unread-count",            None,                                    (200, 200, 200, 200, 200, 200)),
    ("POST",   "/notifications/read-all",                None,                                    (200, 200, 200, 200, 200, 200)),
    ("POST",   "/notifications/$note/read",              None,                                    (404, 404, 404, 200, 404, 404)),
    # -- calendar and feeds
    ("GET",    CALENDAR,                                 None,                                    (200, 200, 200, 200, 403, 200)),
    ("GET",    CALENDAR + "&team=true",                  None,                                    (200, 200, 200, 403, 403, 403)),
    ("GET",    CALENDAR + "&broker_id=$broker",          None,                                    (200, 200, 200, 403, 403, 403)),
    ("GET",    "/calendar-feeds",                        None,                                    (200, 200, 200, 200, 200, 200)),
    ("POST",   "/calendar-feeds",                        None,                                    (201, 201, 201, 201, 403, 201)),
    ("DELETE", "/calendar-feeds/$feed",                  None,                                    (404, 404, 404, 204, 404, 404)),
    # -- relationship
    ("GET",    "/firms/$firm/timeline",                  None,                                    (200, 200, 200, 200, 403, 404)),
    ("GET",    "/traders/$trader/timeline",              None,                                    (200, 200, 200, 200, 403, 404)),
    ("GET",    "/due-for-contact",                       None,                                    (200, 200, 200, 200, 403, 200)),
    ("GET",    "/due-for-contact?mine=true",             None,                                    (200, 200, 200, 200, 403, 200)),
    # -- settings: admins only
    ("GET",    "/settings/relationship-rules",           None,                                    (200, 403, 403, 403, 403, 403)),
    ("PUT",    "/settings/relationship-rules",           RULES,                                   (200, 403, 403, 403, 403, 403)),
    ("POST",   "/interaction-types",                     {"name": "$new_name"},                   (201, 403, 403, 403, 403, 403)),
    ("POST",   "/interaction-outcomes",                  {"name": "$new_name"},                   (201, 403, 403, 403, 403, 403)),
    ("PUT",    "/interaction-types/$type/outcomes",      {"outcomes": ["Positive", "Closed"]},    (200, 403, 403, 403, 403, 403)),
    ("PATCH",  "/interaction-types/$type",               {"active": False},                       (200, 403, 403, 403, 403, 403)),
]

# Which records each caller finds in a list (True) or not (False); None: the list is refused.
LISTS = [
    # path                                 record            found as                 admin  compl. manager broker trader stranger
    ("/interactions",                      "$interaction",    "items.interaction_id",  (True,  True,  True,  True,  None,  False)),
    ("/interactions",                      "$co_interaction", "items.interaction_id",  (True,  True,  True,  True,  None,  True)),
    ("/interactions",                      "$voided",         "items.interaction_id",  (False, False, False, False, None,  False)),
    ("/interactions?include_voided=true",  "$voided",         "items.interaction_id",  (True,  True,  False, False, None,  False)),
    ("/firms/$firm/interactions",          "$interaction",    "items.interaction_id",  (True,  True,  True,  True,  None,  None)),
    ("/traders/$trader/interactions",      "$interaction",    "items.interaction_id",  (True,  True,  True,  True,  None,  None)),
    ("/follow-ups",                        "$follow_up",      "items.follow_up_id",    (False, False, False, True,  None,  False)),
    ("/follow-ups?scope=all",              "$follow_up",      "items.follow_up_id",    (True,  True,  True,  True,  None,  False)),
    ("/follow-ups?scope=team",             "$follow_up",      "items.follow_up_id",    (True,  True,  True,  None,  None,  None)),
    ("/notifications",                     "$note",           "items.notification_id", (False, False, False, True,  False, False)),
    (CALENDAR,                             "$follow_up",      "calendar.follow_up",    (False, False, False, True,  None,  False)),
    (CALENDAR + "&team=true",              "$follow_up",      "calendar.follow_up",    (True,  True,  True,  None,  None,  None)),
    ("/calendar-feeds",                    "$feed",           "feeds",                 (False, False, False, True,  False, False)),
    ("/due-for-contact",                   "$quiet_firm",     "items.firm_id",         (True,  True,  True,  True,  None,  False)),
    ("/firms/$firm/timeline",              "$interaction",    "timeline.interaction",  (True,  True,  True,  True,  None,  None)),
    ("/traders/$trader/timeline",          "$follow_up",      "timeline.follow_up",    (True,  True,  True,  True,  None,  None)),
]
# fmt: on


def _found(found_as: str, body) -> set[int]:
    """The ids of one kind of record in a list answer."""
    where, _, key = found_as.partition(".")
    if where == "feeds":
        return {f["feed_id"] for f in body}
    if where == "calendar":
        return {i["id"] for i in body["items"] if i["kind"] == key}
    if where == "timeline":
        return {e[key][f"{key}_id"] for e in body["entries"] if e["kind"] == key}
    return {item[key] for item in body["items"]}


_seq = itertools.count(1)


class World(Templates):
    """Fresh records for one row, made on first use of their placeholder."""

    def __init__(self, people: People) -> None:
        self.people = people
        self.broker_actor = people.broker
        self.n = next(_seq)

    def _firm(self, label: str, secondary: list[int] | None = None, **fields) -> int:
        return call(
            firms.create_firm,
            data=FirmWrite(
                name=f"{label} {self.n}",
                primary_broker_id=self.people.broker.user_id,
                secondary_broker_ids=secondary,
                **fields,
            ),
        ).firm_id

    def _trader_at(self, firm_id: int, label: str) -> int:
        saved = call(
            traders.create_trader,
            firm_id=firm_id,
            data=TraderWrite(name=f"{label} {self.n}", email=f"{label.lower()}{self.n}@c.example"),
        )
        return saved.trader.trader_id

    def _log(self, trader_id: int, subject: str) -> int:
        return call(
            interactions.log_interaction,
            actor=self.broker_actor,
            data=InteractionWrite(
                trader_ids=[trader_id],
                interaction_type="Call",
                interaction_date=utcnow() - timedelta(hours=3),
                subject=subject,
            ),
        ).interaction_id

    def _follow_up(self, firm_id: int, trader_ids: list[int]) -> int:
        return call(
            follow_ups.create_follow_up,
            actor=self.broker_actor,
            data=FollowUpWrite(
                title=f"Send the deck {self.n}",
                due_at=utcnow() + timedelta(days=2),
                firm_id=firm_id,
                trader_ids=trader_ids,
            ),
        ).follow_up_id

    @cached_property
    def firm(self) -> int:
        firm_id = self._firm("Activity Firm")
        # The portal user's own trader record works here for this row.
        call(traders.move_trader, trader_id=self.people.own_trader_id, to_firm_id=firm_id)
        return firm_id

    @cached_property
    def trader(self) -> int:
        return self._trader_at(self.firm, "Colleague")

    @cached_property
    def interaction(self) -> int:
        return self._log(self.trader, f"Matrix call {self.n}")

    @cached_property
    def voided(self) -> int:
        interaction_id = self._log(self.trader, f"Voided call {self.n}")
        call(interactions.void_interaction, interaction_id=interaction_id, reason="Duplicate")
        return interaction_id

    @cached_property
    def follow_up(self) -> int:
        return self._follow_up(self.firm, [self.trader])

    @cached_property
    def co_firm(self) -> int:
        return self._firm("Shared Firm", secondary=[self.people.stranger.user_id])

    @cached_property
    def co_trader(self) -> int:
        return self._trader_at(self.co_firm, "Shared")

    @cached_property
    def co_interaction(self) -> int:
        return self._log(self.co_trader, f"Shared call {self.n}")

    @cached_property
    def co_follow_up(self) -> int:
        return self._follow_up(self.co_firm, [])

    @cached_property
    def quiet_firm(self) -> int:
        return self._firm("Quiet Firm", tier="A", account_status="Active")

    @cached_property
    def note(self) -> int:
        with unit_of_work(write=True) as db:
            return notifications.notify(
                db, user_id=self.people.broker.user_id, kind="reminder", title="Matrix note"
            ).id

    @cached_property
    def feed(self) -> int:
        info, _ = call(calendar_feed.create_feed, actor=self.broker_actor)
        return info.feed_id

    @cached_property
    def type(self) -> str:
        name = f"Desk Visit {self.n}"
        call(interaction_config.add_type, name=name)
        return name

    @property
    def new_name(self) -> str:
        return f"New Name {self.n}"

    @property
    def broker(self) -> int:
        return self.people.broker.user_id

    @property
    def past(self) -> str:
        return (utcnow() - timedelta(hours=1)).isoformat()

    @property
    def future(self) -> str:
        return (utcnow() + timedelta(days=3)).isoformat()

    @property
    def yesterday(self) -> str:
        return (utcnow() - timedelta(days=1)).date().isoformat()

    @property
    def next_week(self) -> str:
        return (utcnow() + timedelta(days=7)).date().isoformat()


def test_activity_access_matrix(client, people):
    """Each (route, caller) answers the status in MATRIX; refused requests change nothing."""
    mismatches = play_matrix(client, people, MATRIX, lambda: World(people))
    assert not mismatches, "\n".join(mismatches)


def test_activity_list_visibility(client, people):
    """Each caller finds exactly the records LISTS says in each list."""
    mismatches = []
    world = World(people)
    for path, record, found_as, expected in LISTS:
        record_id = world.fill(record)
        for role, want in zip(ROLES, expected, strict=True):
            url = API + world.fill(path)
            if found_as.startswith("items"):
                url += ("&" if "?" in url else "?") + "limit=200"
            r = client.get(url, headers=people.headers[role])
            where = f"GET {path} as {role}, looking for {record}"
            if want is None:
                if r.status_code not in (403, 404):
                    mismatches.append(f"{where}: expected 403/404, got {r.status_code}")
                continue
            if r.status_code != 200:
                mismatches.append(f"{where}: expected 200, got {r.status_code} {r.text[:160]}")
                continue
            if (record_id in _found(found_as, r.json())) != want:
                mismatches.append(f"{where}: expected found={want}")
    assert not mismatches, "\n".join(mismatches)
