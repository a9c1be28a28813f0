"""Who may do what to a firm and its traders, over HTTP: the access rules as a table.

Every row is run for six callers against fresh records: an admin, a compliance officer, a manager,
the broker who covers the firm, a trader (a portal user whose own trader record is at the firm),
and a broker who does not cover the firm (the "stranger"). The rules it spells out:

- managers, compliance and admins see every live firm; only admins see archived firms;
- compliance is read-only;
- brokers see and change only the firms they cover, and those firms' traders;
- a trader sees only their own firm (read-only, without notes) and only their own trader record;
- only managers and admins assign coverage, merge firms and grant portal access;
- only admins restore archived firms and manage trader roles;
- a record the caller may not see answers 404 (exactly like a missing one); a role that lacks a
  permission answers 403; a refused request changes nothing (no audit event is written).
"""

from __future__ import annotations

import itertools
from functools import cached_property

from brm_app.models.firm import FirmWrite
from brm_app.models.trader import TraderWrite
from brm_app.services import firms, traders
from tests.api.matrix_support import (
    API,
    ROLES,
    People,
    Templates,
    call,
    play_matrix,
)

# fmt: off
# $name placeholders are fresh records made for each row (see World below):
#   $firm      a live firm covered by "broker" (primary), where "trader"'s own record works
#   $trader    another trader at $firm             $own      "trader"'s own trader record
#   $archived  an archived firm covered by broker  $source   a second firm covered by broker
#   $target    a third firm covered by broker      $role     a custom trader role
MATRIX = [
    # method    path                              body                                   admin compl. manager broker trader stranger
    # -- firms
    ("GET",    "/firms",                          None,                                    (200, 200, 200, 200, 200, 200)),
    ("GET",    "/firms?archived=true",            None,                                    (200, 403, 403, 403, 403, 403)),
    ("POST",   "/firms",                          {"name": "$new_name", "primary_broker_id": "$broker"},
                                                                                           (201, 403, 201, 201, 403, 403)),
    ("GET",    "/firms/$firm",                    None,                                    (200, 200, 200, 200, 200, 404)),
    ("PUT",    "/firms/$firm",                    {"name": "$new_name"},                   (200, 403, 200, 200, 403, 404)),
    ("PATCH",  "/firms/$firm",                    {"tier": "A"},                           (200, 403, 200, 200, 403, 404)),
    ("PATCH",  "/firms/$firm",                    {"secondary_broker_ids": ["$stranger"]}, (200, 403, 200, 403, 403, 404)),
    ("DELETE", "/firms/$firm",                    None,                                    (204, 403, 204, 204, 403, 404)),
    ("GET",    "/firms/$archived",                None,                                    (200, 404, 404, 404, 404, 404)),
    ("POST",   "/firms/$archived/restore",        None,                                    (200, 403, 403, 403, 403, 403)),
    ("PUT",    "/firms/$firm/coverage",           {"primary_broker_id": "$broker", "secondary_broker_ids": ["$stranger"]},
                                                                                           (200, 403, 200, 403, 403, 403)),
    ("POST",   "/firms/$firm/merge",              {"source_firm_id": "$source"},           (200, 403, 200, 403, 403, 403)),
    ("GET",    "/brokers",                        None,                                    (200, 200, 200, 200, 403, 200)),
    # -- a firm's traders
    ("GET",    "/firms/$firm/traders",            None,                                    (200, 200, 200, 200, 200, 404)),
    ("POST",   "/firms/$firm/traders",            {"name": "New Trader", "email": "$new_email"},
                                                                                           (201, 403, 201, 201, 403, 404)),
    ("POST",   "/firms/$firm/traders",            {"name": "New Trader", "email": "$new_email", "permissions": ["portal_access"]},
                                                                                           (201, 403, 201, 403, 403, 404)),
    ("GET",    "/firms/$firm/traders/$trader",    None,                                    (200, 200, 200, 200, 404, 404)),
    ("GET",    "/firms/$firm/traders/$own",       None,                                    (200, 200, 200, 200, 200, 404)),
    ("PUT",    "/firms/$firm/traders/$trader",    {"name": "Renamed", "email": "$trader_email"},
                                                                                           (200, 403, 200, 200, 403, 404)),
    ("PATCH",  "/firms/$firm/traders/$trader",    {"phone": "+1 212 555 0100"},            (200, 403, 200, 200, 403, 404)),
    ("PATCH",  "/firms/$firm/traders/$trader",    {"permissions": ["portal_access"]},      (200, 403, 200, 403, 403, 404)),
    ("PATCH",  "/firms/$firm/traders/$own",       {"phone": "+1 212 555 0100"},            (200, 403, 200, 200, 403, 404)),
    ("DELETE", "/firms/$firm/traders/$trader",    None,                                    (204, 403, 204, 204, 403, 404)),
    # -- all traders
    ("GET",    "/traders",                        None,                                    (200, 200, 200, 200, 200, 200)),
    ("GET",    "/traders/$trader",                None,                                    (200, 200, 200, 200, 404, 404)),
    ("GET",    "/traders/$own",                   None,                                    (200, 200, 200, 200, 200, 404)),
    ("GET",    "/traders/$trader/history",        None,                                    (200, 200, 200, 200, 404, 404)),
    ("GET",    "/traders/$own/history",           None,                                    (200, 200, 200, 200, 200, 404)),
    ("POST",   "/traders/$trader/move",           {"firm_id": "$target"},                  (200, 403, 200, 200, 403, 404)),
    # -- trader roles
    ("GET",    "/trader-roles",                   None,                                    (200, 200, 200, 200, 200, 200)),
    ("POST",   "/trader-roles",                   {"name": "$new_role"},                   (201, 403, 403, 403, 403, 403)),
    ("DELETE", "/trader-roles/$role",             None,                                    (204, 403, 403, 403, 403, 403)),
]

# Which records each caller finds in a list (True) or not (False); None: the list is refused (403/404).
LISTS = [
    # path                        record        admin compl. manager broker trader stranger
    ("/firms",                    "$firm",      (True,  True,  True,  True,  True,  False)),
    ("/firms?covered=true",       "$firm",      (False, False, False, True,  False, False)),
    ("/firms?archived=true",      "$archived",  (True,  None,  None,  None,  None,  None)),
    ("/traders",                  "$trader",    (True,  True,  True,  True,  False, False)),
    ("/traders",                  "$own",       (True,  True,  True,  True,  True,  False)),
    ("/firms/$firm/traders",      "$trader",    (True,  True,  True,  True,  False, None)),
    ("/firms/$firm/traders",      "$own",       (True,  True,  True,  True,  True,  None)),
]
# fmt: on

_seq = itertools.count(1)


class World(Templates):
    """Fresh records for one row, made on first use of their placeholder."""

    def __init__(self, people: People) -> None:
        self.people = people
        self.n = next(_seq)

    def _firm(self, label: str):
        return call(
            firms.create_firm,
            data=FirmWrite(
                name=f"{label} {self.n}",
                notes="internal notes",
                primary_broker_id=self.people.broker.user_id,
            ),
        )

    @cached_property
    def firm(self) -> int:
        firm_id = self._firm("Matrix Firm").firm_id
        # The portal user's own trader record works here for this row.
        call(traders.move_trader, trader_id=self.people.own_trader_id, to_firm_id=firm_id)
        return firm_id

    @cached_property
    def own(self) -> int:
        _ = self.firm
        return self.people.own_trader_id

    @cached_property
    def trader_email(self) -> str:
        return f"colleague{self.n}@client.example"

    @cached_property
    def trader(self) -> int:
        saved = call(
            traders.create_trader,
            firm_id=self.firm,
            data=TraderWrite(name=f"Colleague {self.n}", email=self.trader_email),
        )
        return saved.trader.trader_id

    @cached_property
    def source(self) -> int:
        firm_id = self._firm("Duplicate").firm_id
        call(
            traders.create_trader,
            firm_id=firm_id,
            data=TraderWrite(name="Dee Duplicate", email=f"dee{self.n}@client.example"),
        )
        return firm_id

    @cached_property
    def target(self) -> int:
        return self._firm("Move Target").firm_id

    @cached_property
    def archived(self) -> int:
        firm_id = self._firm("Archived").firm_id
        call(firms.archive_firm, firm_id=firm_id)
        return firm_id

    @cached_property
    def role(self) -> str:
        name = f"Desk Role {self.n}"
        call(traders.add_role, name=name)
        return name

    @property
    def new_role(self) -> str:
        return f"New Role {self.n}"

    @property
    def new_name(self) -> str:
        return f"New Firm {self.n}"

    @property
    def new_email(self) -> str:
        return f"new{self.n}@client.example"

    @property
    def broker(self) -> int:
        return self.people.broker.user_id

    @property
    def stranger(self) -> int:
        return self.people.stranger.user_id


def test_access_matrix(client, people):
    """Each (route, caller) answers the status in MATRIX; refused requests change nothing."""
    mismatches = play_matrix(client, people, MATRIX, lambda: World(people))
    assert not mismatches, "\n".join(mismatches)


def test_list_visibility(client, people):
    """Each caller finds exactly the records LISTS says in the firm and trader lists."""
    mismatches = []
    world = World(people)
    for path, record, expected in LISTS:
        record_id = world.fill(record)
        for role, want in zip(ROLES, expected, strict=True):
            url = API + world.fill(path) + ("&" if "?" in path else "?") + "limit=200"
            r = client.get(url, headers=people.headers[role])
            where = f"GET {path} as {role}, looking for {record}"
            if want is None:
                if r.status_code not in (403, 404):
                    mismatches.append(f"{where}: expected 403/404, got {r.status_code}")
                continue
            if r.status_code != 200:
                mismatches.append(f"{where}: expected 200, got {r.status_code} {r.text[:160]}")
                continue
            ids = {item.get("firm_id") if "/traders" not in path else item["trader_id"]
                   for item in r.json()["items"]}  # fmt: skip
            if (record_id in ids) != want:
                mismatches.append(f"{where}: expected found={want}")
    assert not mismatches, "\n".join(mismatches)


def test_traders_never_see_internal_notes(client, people):
    world = World(people)
    for role in ROLES[:5]:
        firm = client.get(f"{API}/firms/{world.firm}", headers=people.headers[role]).json()
        assert firm["notes"] == (None if role == "trader" else "internal notes"), role
