"""What is measured: one Scenario per BENCH line. Append to SCENARIOS to add a measurement.

A scenario names the server it drives and builds its request paths (wrk rotates over them) from
the context: the seeded dataset's figures and an authenticated client for looking things up.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

import httpx

from bench.dataset import Dataset

PAGE = 50
# Search terms a user would type: word prefixes from the generated names (see services.seed).
SEARCHES = ("harb", "kestrel", "north", "wel cap")


@dataclass
class BenchContext:
    dataset: Dataset
    api: httpx.Client  # the app, with the bearer token
    notes: dict[str, list[str]] = field(default_factory=dict)

    def note(self, scenario: str, text: str) -> None:
        self.notes.setdefault(scenario, []).append(text)

    @property
    def firms(self) -> int:
        return int(self.dataset.figures["firms"])

    def get(self, path: str) -> dict:
        r = self.api.get(path)
        if r.status_code != 200:
            raise RuntimeError(f"GET {path} answered {r.status_code}: {r.text[:500]}")
        return r.json()


@dataclass(frozen=True)
class Scenario:
    name: str
    server: Literal["app", "bare"]
    paths: Callable[[BenchContext], list[str]]
    # Held to the targets (p95 under 25 ms, at least 40% of bare_json's throughput).
    targeted: bool = True


def _firms(**params) -> str:
    return "/api/v1/firms?" + urlencode({"limit": PAGE, **params})


def _deep_offsets(ctx: BenchContext) -> list[int]:
    """Eight pages between 80% and 95% of the way into the book."""
    n = ctx.firms
    return sorted({(int(n * (0.80 + 0.02 * i)) // PAGE) * PAGE for i in range(8)})


def first_page(ctx: BenchContext) -> list[str]:
    path = _firms()
    body = ctx.get(path)
    ctx.note("firms_first_page", f"total={body['total']} total_at_least={body['total_at_least']}")
    return [path]


def deep_page(ctx: BenchContext) -> list[str]:
    offsets = _deep_offsets(ctx)
    ctx.note("firms_deep_page", f"offsets {offsets[0]}..{offsets[-1]} ({len(offsets)} pages)")
    return [_firms(offset=o) for o in offsets]


def deep_cursor(ctx: BenchContext) -> list[str]:
    """The same depths as firms_deep_page, reached by keyset (the cursor of the page before)."""
    paths = []
    for o in _deep_offsets(ctx):
        cursor = ctx.get(_firms(offset=o - PAGE))["next_cursor"]
        paths.append(_firms(cursor=cursor))
    ctx.note("firms_deep_cursor", f"{len(paths)} cursors at the firms_deep_page depths")
    return paths


def search(ctx: BenchContext) -> list[str]:
    paths = []
    for q in SEARCHES:
        body = ctx.get(_firms(q=q))
        found = body["total"] if body["total"] is not None else f">{body['total_at_least']}"
        ctx.note("firms_search", f"q={q!r} matches {found}")
        paths.append(_firms(q=q))
    return paths


def firm_traders(ctx: BenchContext) -> list[str]:
    first, last = ctx.dataset.figures["first_firm_id"], ctx.dataset.figures["last_firm_id"]
    rng = random.Random(7)
    ids = [rng.randint(first, last) for _ in range(1000)]
    sizes = [len(ctx.get(f"/api/v1/firms/{i}/traders")["items"]) for i in ids[:20]]
    ctx.note("firm_traders", f"{len(ids)} firms rotated; traders per firm (sample) {sizes}")
    return [f"/api/v1/firms/{i}/traders" for i in ids]


SCENARIOS: list[Scenario] = [
    Scenario("bare_json", "bare", lambda ctx: ["/"], targeted=False),
    # Floors, for reading the others: Reflex's own /ping (no auth, no database) and the
    # cheapest authenticated API call (token check + one row).
    Scenario("app_ping", "app", lambda ctx: ["/ping"], targeted=False),
    Scenario("api_me", "app", lambda ctx: ["/api/v1/users/me"], targeted=False),
    Scenario("firms_first_page", "app", first_page),
    Scenario("firms_deep_page", "app", deep_page),
    Scenario("firms_deep_cursor", "app", deep_cursor),
    Scenario("firms_search", "app", search),
    Scenario("firm_traders", "app", firm_traders),
]
