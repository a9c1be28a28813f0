"""The market data feed: one process fetches prices, every worker's open pages revalue.

Every app worker (and `brm worker`) runs `feed_loop`, but only the holder of the feed lease
fetches: a row in `app_settings` taken with a compare-and-swap and renewed on every tick, taken
over when its holder stops renewing it (LEASE seconds). Each tick stores the latest quotes of the
instruments that are held (and the FX rates their currencies need), which publishes one "prices"
event after the commit; the events bus (in process, or Redis across workers) hands it to every
worker, and each revalues the portfolio pages whose tabs it holds (brm_app.live). No portfolio
is written per tick. On first start the holder also stores two years of daily closes for held
instruments that have none. BRM_MARKET_DATA_PROVIDER=off (the tests' default) turns it all off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from brm_app import bootstrap
from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import AppSetting
from brm_app.models.portfolio import Instrument
from brm_app.providers.market_data import MarketDataProvider
from brm_app.services import market_data
from brm_app.settings import get_settings

log = logging.getLogger("brm.market_feed")

LEASE_KEY = "market_feed.lease"
LEASE = timedelta(seconds=10)
HELD_REFRESH_SECONDS = 5.0


class Feed:
    def __init__(self, provider: MarketDataProvider, *, reporting: tuple[str, ...] = ("USD",)):
        self.provider = provider
        self.reporting = reporting
        self.holder = uuid.uuid4().hex
        self._held: list[Instrument] = []
        self._held_at = 0.0
        self._backfilled: set[int] = set()
        self._fx_backfilled: set[tuple[str, str]] = set()
        self._held_until: datetime | None = None

    def take_lease(self, now: datetime | None = None) -> bool:
        """Hold (or renew) the feed lease; False when another live process holds it. Renewed
        when half of it has run, so most ticks write nothing for it."""
        now = now or utcnow()
        if self._held_until is not None and now < self._held_until - LEASE / 2:
            return True
        held = self._claim(now)
        self._held_until = now + LEASE if held else None
        return held

    def _claim(self, now: datetime) -> bool:
        mine = json.dumps({"holder": self.holder, "until": (now + LEASE).isoformat()})
        with unit_of_work(write=True) as db:
            row = db.get(AppSetting, LEASE_KEY)
            if row is None:
                try:
                    with db.begin_nested():
                        db.add(AppSetting(key=LEASE_KEY, value=mine, updated_at=now))
                        db.flush()
                except sa.exc.IntegrityError:
                    return False
                return True
            try:
                current = json.loads(row.value)
                until = datetime.fromisoformat(current["until"])
                holder = current["holder"]
            except (ValueError, KeyError, TypeError):
                holder, until = "", now
            if holder != self.holder and until > now:
                return False
            swapped = db.exec(
                sa.update(AppSetting)
                .where(col(AppSetting.key) == LEASE_KEY, col(AppSetting.value) == row.value)
                .values(value=mine, updated_at=now)
            ).rowcount
            return bool(swapped)

    def _instruments(self) -> list[Instrument]:
        if time.monotonic() - self._held_at > HELD_REFRESH_SECONDS or not self._held:
            with unit_of_work() as db:
                self._held = market_data.held_instruments(db)
            self._held_at = time.monotonic()
        return self._held

    def tick(self) -> list[int]:
        """One round: if this process holds the lease, fetch and store; returns the instruments
        whose price changed."""
        if not self.take_lease():
            return []
        held = self._instruments()
        if not held:
            return []
        todo = [i for i in held if i.id not in self._backfilled]
        if todo:
            with unit_of_work(write=True) as db:
                added = market_data.backfill_history(db, self.provider, todo)
            if added:
                log.info("stored %s daily closes for %s instruments", added, len(todo))
            self._backfilled |= {i.id for i in todo if i.id is not None}
        pairs = market_data.fx_pairs(held, self.reporting) - self._fx_backfilled
        if pairs:
            with unit_of_work(write=True) as db:
                added = market_data.backfill_fx_history(db, self.provider, pairs)
            if added:
                log.info("stored %s daily FX rates for %s pairs", added, len(pairs))
            self._fx_backfilled |= pairs
        with unit_of_work(write=True) as db:
            return market_data.fetch(db, self.provider, held, self.reporting)


def _reporting() -> tuple[str, ...]:
    from brm_app.models.firm import Firm

    default = get_settings().reporting_currency
    with unit_of_work() as db:
        others = db.exec(
            select(Firm.reporting_currency)
            .where(col(Firm.reporting_currency).is_not(None))
            .distinct()
        ).all()
    return tuple(sorted({default, *(c for c in others if c)}))


async def feed_loop(app: object = None) -> None:
    """Lifespan task: tick every BRM_MARKET_DATA_TICK_MS while this process holds the lease."""
    settings = get_settings()
    if settings.market_data_provider == "off":
        log.info("market data feed is off (BRM_MARKET_DATA_PROVIDER=off)")
        return
    feed = Feed(bootstrap.providers().market_data)
    while True:
        started = time.monotonic()
        try:
            feed.reporting = await asyncio.to_thread(_reporting)
            await asyncio.to_thread(feed.tick)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("market data tick failed", exc_info=True)
        elapsed = time.monotonic() - started
        await asyncio.sleep(max(0.05, settings.market_data_tick_seconds - elapsed))
