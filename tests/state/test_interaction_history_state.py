"""The interaction page's history names what the saved versions hold by id (firm, traders) and
shows the date in the viewer's zone, while the saved record itself stays exactly as stored."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.models.firm import Firm
from brm_app.models.interaction import InteractionVersion, InteractionWrite
from brm_app.models.user import User
from brm_app.services import interactions
from brm_app.services.authentication import actor_of
from brm_app.state.items import InteractionPageState
from tests.state.conftest import Browser, session_token_for


def test_history_names_firm_and_traders_and_keeps_the_saved_record(world):
    when = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
    with unit_of_work(write=True) as db:
        broker = actor_of(db.get(User, world.users["broker"].id), ip=None)
        row = interactions.log_interaction(
            db,
            actor=broker,
            data=InteractionWrite(
                trader_ids=[world.t1],
                interaction_type="Call",
                interaction_date=when,
                subject="First take",
            ),
        )
        interactions.edit_interaction(
            db,
            actor=broker,
            interaction_id=row.interaction_id,
            data=InteractionWrite(
                trader_ids=[world.t1, world.t2],
                interaction_type="Call",
                interaction_date=when,
                subject="Second take",
            ),
        )
        firm_name = db.get(Firm, world.f).name
        # The stored JSON is encrypted (0010n): the rows open it, exactly as it was saved.
        stored = [
            v.data
            for v in db.exec(
                select(InteractionVersion)
                .where(InteractionVersion.interaction_id == row.interaction_id)
                .order_by(InteractionVersion.version)
            ).all()
        ]

    browser = Browser(
        session_token_for(world.users["broker"].email), f"/interactions/{row.interaction_id}"
    )
    browser.fire(InteractionPageState, "load")
    versions = browser.state(InteractionPageState).versions

    first = {c["field"]: c for c in versions[0]["changes"]}
    assert first["Firm"]["after"] == firm_name
    assert first["Traders"]["after"] == "Tom Trader"
    assert first["Date"]["after"] == "15 Jan 2026 09:30 (UTC)"
    second = {c["field"]: c for c in versions[1]["changes"]}
    assert second["Traders"] == {
        "field": "Traders",
        "before": "Tom Trader",
        "after": "Tess Portal, Tom Trader",
    }
    assert second["Subject"]["after"] == "Second take"
    assert "Firm" not in second
    assert [v["raw"] for v in versions] == list(stored)
