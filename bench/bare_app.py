"""The baseline: a bare Starlette endpoint returning a fixed JSON list of 50 items.

Served by granian with one worker (the server software the app runs on), so each app scenario's
throughput can be read as a share of what this machine does with no framework, database or auth.
The items have the shape and size of a firm list row.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

ITEMS = [
    {
        "firm_id": n,
        "name": f"Northbridge Capital Partners {n} LLP",
        "lei": "5493001KJTIIGC8Y1R12",
        "city": "London",
        "country": "GB",
        "account_status": "Active",
        "tier": "B",
        "primary_broker": {"user_id": 7, "name": "Ben Okafor"},
        "trader_count": 5,
        "updated_at": "2025-11-03T09:41:27.123456Z",
        "archived_at": None,
    }
    for n in range(1, 51)
]


async def items(request) -> JSONResponse:
    return JSONResponse(ITEMS)


app = Starlette(routes=[Route("/", items)])
