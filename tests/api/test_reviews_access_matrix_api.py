"""Who may do what in supervisory review, over HTTP (six callers, fresh records per row; see
matrix_support): compliance and admins work every item but their own, a manager only what was
escalated to them, brokers and traders none; only admins change the rules; evidence cannot be
changed or deleted (405); a refused request writes no audit event."""

from __future__ import annotations

import itertools
from functools import cached_property

from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.models.review import ReviewItem
from brm_app.services import conversations, review
from tests.api import matrix_support
from tests.api.matrix_support import People, Templates, call, play_matrix

matrix_support.NOT_FOUND |= {"Review item not found."}

# fmt: off
# $item  an open item: the broker's message with a lexicon hit
# $esc   such an item, escalated by compliance to the broker's manager
MATRIX = [
    # method   path                                 body                                     admin compl. manager broker trader stranger
    ("GET",    "/reviews",                          None,                                    (200, 200, 200, 403, 403, 403)),
    ("GET",    "/reviews?status=all&reason=sample", None,                                    (200, 200, 200, 403, 403, 403)),
    ("GET",    "/reviews/report",                   None,                                    (200, 200, 403, 403, 403, 403)),
    ("GET",    "/reviews/rules",                    None,                                    (200, 200, 200, 403, 403, 403)),
    ("PUT",    "/reviews/rules",                    {"sample_percent": 3},                   (200, 403, 403, 403, 403, 403)),
    ("GET",    "/reviews/$item",                    None,                                    (200, 200, 404, 403, 403, 403)),
    ("GET",    "/reviews/$esc",                     None,                                    (200, 200, 200, 403, 403, 403)),
    ("GET",    "/reviews/$item/escalation-targets", None,                                    (200, 200, 404, 403, 403, 403)),
    ("POST",   "/reviews/$item/actions",            {"action": "approve"},                   (200, 200, 404, 403, 403, 403)),
    ("POST",   "/reviews/$item/actions",            {"action": "flag", "comment": "No"},     (200, 200, 404, 403, 403, 403)),
    ("POST",   "/reviews/$esc/actions",             {"action": "approve"},                   (422, 422, 200, 403, 403, 403)),
    ("DELETE", "/reviews/$item",                    None,                                    (405, 405, 405, 405, 405, 405)),
    ("PATCH",  "/reviews/$item",                    {"status": "approved"},                  (405, 405, 405, 405, 405, 405)),
]
# fmt: on

_seq = itertools.count(1)


class World(Templates):
    def __init__(self, people: People) -> None:
        self.people = people
        self.n = next(_seq)

    def _flagged_item(self) -> int:
        conv = call(
            conversations.start_conversation,
            actor=self.people.broker,
            trader_ids=[self.people.own_trader_id],
        )
        call(
            conversations.send_message,
            actor=self.people.broker,
            conversation_id=conv.id,
            content=f"This is guaranteed ({self.n})",
        )
        with unit_of_work(write=True) as db:
            review.select_new(db, chance=lambda: 1.0)
        with unit_of_work() as db:
            item = db.exec(
                select(ReviewItem)
                .where(ReviewItem.reason == "lexicon")
                .order_by(ReviewItem.id.desc())  # type: ignore[union-attr]
            ).first()
        assert item is not None
        return item.id

    @cached_property
    def item(self) -> int:
        return self._flagged_item()

    @cached_property
    def esc(self) -> int:
        item_id = self._flagged_item()
        call(
            review.act,
            actor=self.people.compliance,
            item_id=item_id,
            action="escalate",
            comment="Over to you",
            escalate_to=self.people.manager.user_id,
        )
        return item_id


def test_reviews_access_matrix(client, people):
    mismatches = play_matrix(client, people, MATRIX, lambda: World(people))
    assert not mismatches, "\n".join(mismatches)


def test_bad_actions_are_refused_and_change_nothing(client, people):
    world = World(people)
    url = f"/api/v1/reviews/{world.item}/actions"
    h = people.headers["compliance"]
    for body in (
        {"action": "escalate", "comment": "x"},  # no one named
        {"action": "flag"},  # no comment
        {"action": "remove"},
        {"action": "approve", "extra": 1},
        {"action": "escalate", "comment": "x", "escalate_to": people.broker.user_id},
    ):
        r = client.post(url, json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
    got = client.get(f"/api/v1/reviews/{world.item}", headers=h).json()
    assert got["status"] == "open" and got["actions"] == []
    assert got["hit"] == "guaranteed"
    r = client.put(
        "/api/v1/reviews/rules", json={"sample_percent": 120}, headers=people.headers["admin"]
    )
    assert r.status_code == 422
