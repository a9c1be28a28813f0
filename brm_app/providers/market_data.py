"""Market data: the interface every feed implements, and the built-in feeds.

- `simulated` (the default): geometric Brownian motion per instrument with a fixed seed, so the
  same seed gives the same history and the same ticks; two years of daily closes on request.
- `csv`: reads the prices a market data module publishes as CSV (a file path or an http(s) URL)
  with the columns `symbol,price` and optionally `prev_close` and `date`: rows with a date are
  daily closes, rows whose symbol is `BASE/QUOTE` (EUR/USD) are FX rates (with a date: FX
  history).
- `off`: no prices at all (tests, and deployments that only book trades).
Swapping one for another changes no other code: bootstrap builds the one the settings name.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Quote:
    symbol: str
    price: Decimal
    prev_close: Decimal | None = None


@dataclass(frozen=True)
class Close:
    symbol: str
    day: date
    close: Decimal


@dataclass(frozen=True)
class Rate:
    base: str
    quote: str
    rate: Decimal


@dataclass(frozen=True)
class DailyRate:
    """A pair's rate on one day (FX history)."""

    base: str
    quote: str
    day: date
    rate: Decimal


class MarketDataProvider(Protocol):
    name: str

    def latest(self, symbols: Iterable[str]) -> list[Quote]:
        """The newest price of each symbol it knows (one call is one tick for a stream)."""
        ...

    def daily_closes(self, symbol: str, start: date, end: date) -> list[Close]:
        """Closing prices of business days from start to end, inclusive."""
        ...

    def fx_rates(self, pairs: Iterable[tuple[str, str]]) -> list[Rate]:
        """The newest rate of each (base, quote) pair it knows."""
        ...

    def fx_history(
        self, pairs: Iterable[tuple[str, str]], start: date, end: date
    ) -> list[DailyRate]:
        """Each pair's rate on the business days from start to end, inclusive."""
        ...


class NoMarketData:
    name = "off"

    def latest(self, symbols: Iterable[str]) -> list[Quote]:
        return []

    def daily_closes(self, symbol: str, start: date, end: date) -> list[Close]:
        return []

    def fx_rates(self, pairs: Iterable[tuple[str, str]]) -> list[Rate]:
        return []

    def fx_history(
        self, pairs: Iterable[tuple[str, str]], start: date, end: date
    ) -> list[DailyRate]:
        return []


def _cents(value: float) -> Decimal:
    return Decimal(str(round(value, 4)))


# Rough levels so the simulated FX rates look like the real ones (units of USD per unit).
_USD_PER = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "CHF": 1.12,
    "JPY": 0.0067,
    "CAD": 0.73,
    "AUD": 0.66,
    "SEK": 0.095,
    "HKD": 0.128,
}


class SimulatedMarketData:
    """GBM: S(t+dt) = S(t) * exp((mu - sigma^2/2) dt + sigma sqrt(dt) Z), per symbol.

    Each symbol has its own random stream seeded from (seed, symbol), its own start level, drift
    and volatility, so results do not depend on which other symbols are asked for or in what
    order. Ticks are one second apart in simulated time."""

    name = "simulated"
    TICK_YEARS = 1 / (252 * 6.5 * 3600)  # one second of a trading year

    def __init__(self, seed: int = 42, today: date | None = None) -> None:
        self.seed = seed
        self.today = today
        self._last: dict[str, float] = {}
        self._rng: dict[str, random.Random] = {}
        self._prev_close: dict[str, float] = {}

    def _params(self, symbol: str) -> tuple[random.Random, float, float, float]:
        digest = hashlib.sha256(f"{self.seed}:{symbol}".encode()).digest()
        start = 20 + int.from_bytes(digest[:2], "big") % 480  # 20 .. 500
        mu = 0.02 + (digest[2] % 10) / 100  # 2% .. 11% a year
        sigma = 0.12 + (digest[3] % 25) / 100  # 12% .. 36% a year
        return random.Random(int.from_bytes(digest[4:12], "big")), float(start), mu, sigma

    def _history(self, symbol: str, end: date) -> list[tuple[date, float]]:
        """Two years (and a bit) of business-day closes ending at `end`, always the same path."""
        rng, level, mu, sigma = self._params(symbol)
        dt = 1 / 252
        day = end - timedelta(days=800)
        out = []
        while day <= end:
            if day.weekday() < 5:
                z = rng.gauss(0, 1)
                level *= math.exp((mu - sigma * sigma / 2) * dt + sigma * math.sqrt(dt) * z)
                out.append((day, level))
            day += timedelta(days=1)
        return out

    def _end(self) -> date:
        return self.today or datetime.now(UTC).date()

    def daily_closes(self, symbol: str, start: date, end: date) -> list[Close]:
        return [
            Close(symbol, d, _cents(v)) for d, v in self._history(symbol, end) if start <= d <= end
        ]

    def latest(self, symbols: Iterable[str]) -> list[Quote]:
        out = []
        for symbol in symbols:
            if symbol not in self._last:
                history = self._history(symbol, self._end() - timedelta(days=1))
                self._last[symbol] = history[-1][1] if history else 100.0
                self._prev_close[symbol] = self._last[symbol]
                tick_seed = hashlib.sha256(f"{self.seed}:{symbol}:ticks".encode()).digest()
                self._rng[symbol] = random.Random(int.from_bytes(tick_seed[:8], "big"))
            _, _, mu, sigma = self._params(symbol)
            # Faster than real time (a minute per tick) so a watched page visibly moves.
            dt = self.TICK_YEARS * 60
            z = self._rng[symbol].gauss(0, 1)
            self._last[symbol] *= math.exp(
                (mu - sigma * sigma / 2) * dt + sigma * math.sqrt(dt) * z
            )
            out.append(Quote(symbol, _cents(self._last[symbol]), _cents(self._prev_close[symbol])))
        return out

    def fx_rates(self, pairs: Iterable[tuple[str, str]]) -> list[Rate]:
        out = []
        for base, quote in pairs:
            if base in _USD_PER and quote in _USD_PER:
                out.append(
                    Rate(base, quote, Decimal(str(round(_USD_PER[base] / _USD_PER[quote], 6))))
                )
        return out

    def _usd_per_history(self, currency: str) -> dict[date, float]:
        """USD per unit of `currency` on business days: a random walk (7% a year) that ends at
        today's level, so the history meets the latest rate; always the same path."""
        if currency == "USD":
            return {}
        digest = hashlib.sha256(f"{self.seed}:fx:{currency}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        end, day, level, path = self._end(), self._end() - timedelta(days=800), 1.0, []
        while day <= end:
            if day.weekday() < 5:
                level *= math.exp(0.07 * math.sqrt(1 / 252) * rng.gauss(0, 1))
                path.append((day, level))
            day += timedelta(days=1)
        scale = _USD_PER[currency] / path[-1][1]
        return {d: v * scale for d, v in path}

    def fx_history(
        self, pairs: Iterable[tuple[str, str]], start: date, end: date
    ) -> list[DailyRate]:
        out = []
        for base, quote in pairs:
            if base not in _USD_PER or quote not in _USD_PER or base == quote:
                continue
            b, q = self._usd_per_history(base), self._usd_per_history(quote)
            days = sorted(set(b) | set(q)) if b or q else []
            for d in days:
                if start <= d <= end:
                    value = b.get(d, 1.0) / q.get(d, 1.0)
                    out.append(DailyRate(base, quote, d, Decimal(str(round(value, 6)))))
        return out


class CsvMarketData:
    """Prices published as CSV by a market data module: read on every call (it is the module's
    job to keep the file current)."""

    name = "csv"

    def __init__(self, source: str) -> None:
        self.source = source

    def _rows(self) -> list[dict[str, str]]:
        if self.source.startswith(("http://", "https://")):
            with urllib.request.urlopen(self.source, timeout=5) as response:  # noqa: S310
                text = response.read(10 * 1024 * 1024).decode("utf-8-sig")
        else:
            text = Path(self.source).read_text(encoding="utf-8-sig")
        return list(csv.DictReader(io.StringIO(text)))

    @staticmethod
    def _decimal(text: str | None) -> Decimal | None:
        if not text or not text.strip():
            return None
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            return None
        return value if value.is_finite() and value > 0 else None

    def latest(self, symbols: Iterable[str]) -> list[Quote]:
        wanted = set(symbols)
        out = []
        for row in self._rows():
            symbol = (row.get("symbol") or "").strip().upper()
            price = self._decimal(row.get("price"))
            if symbol in wanted and price is not None and not (row.get("date") or "").strip():
                out.append(Quote(symbol, price, self._decimal(row.get("prev_close"))))
        return out

    def daily_closes(self, symbol: str, start: date, end: date) -> list[Close]:
        out = []
        for row in self._rows():
            if (row.get("symbol") or "").strip().upper() != symbol:
                continue
            price = self._decimal(row.get("price"))
            try:
                day = date.fromisoformat((row.get("date") or "").strip())
            except ValueError:
                continue
            if price is not None and start <= day <= end:
                out.append(Close(symbol, day, price))
        return sorted(out, key=lambda c: c.day)

    def fx_rates(self, pairs: Iterable[tuple[str, str]]) -> list[Rate]:
        wanted = {f"{b}/{q}" for b, q in pairs}
        out = []
        for row in self._rows():
            symbol = (row.get("symbol") or "").strip().upper()
            price = self._decimal(row.get("price"))
            if symbol in wanted and price is not None and not (row.get("date") or "").strip():
                base, quote = symbol.split("/")
                out.append(Rate(base, quote, price))
        return out

    def fx_history(
        self, pairs: Iterable[tuple[str, str]], start: date, end: date
    ) -> list[DailyRate]:
        """`EUR/USD` rows with a date."""
        wanted = {f"{b}/{q}" for b, q in pairs}
        out = []
        for row in self._rows():
            symbol = (row.get("symbol") or "").strip().upper()
            price = self._decimal(row.get("price"))
            if symbol not in wanted or price is None:
                continue
            try:
                day = date.fromisoformat((row.get("date") or "").strip())
            except ValueError:
                continue
            if start <= day <= end:
                base, quote = symbol.split("/")
                out.append(DailyRate(base, quote, day, price))
        return sorted(out, key=lambda r: (r.base, r.quote, r.day))
