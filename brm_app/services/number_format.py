"""Numbers written for display as in the user's locale (My account; "" is the browser's, read
from the Accept-Language the tab's socket sent). The states format money, quantities,
percentages and counts here before sending them; the browser's own `Intl` writes the rest
(`components.ui.local_number`). Both write the same: the separators below are those Chromium's
ICU uses for each locale. CSV and PDF exports do not come here (machine numbers).

A table rather than Babel: the app offers a short list of locales (services.users.LOCALES), and
a locale not in it is written as its language's, else as en-US.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NamedTuple

NBSP, NNBSP = "\u00a0", "\u202f"


class Style(NamedTuple):
    group: str
    decimal: str
    min_grouping: int  # 2: 1234 ungrouped, 12.345 grouped (es, it)
    percent: str  # the pattern around the number


EN = Style(",", ".", 1, "{}%")
DE = Style(".", ",", 1, "{}" + NBSP + "%")
KNOWN: dict[str, Style] = {
    "en": EN,
    "ja": EN,
    "zh": EN,
    "de": DE,
    "de-AT": Style(NBSP, ",", 1, "{}" + NBSP + "%"),
    "de-CH": Style("'", ".", 1, "{}%"),
    "de-LI": Style("'", ".", 1, "{}%"),
    "fr": Style(NNBSP, ",", 1, "{}" + NBSP + "%"),
    "fr-CH": Style(NNBSP, ",", 1, "{}%"),
    "es": Style(".", ",", 2, "{}" + NBSP + "%"),
    "it": Style(".", ",", 2, "{}%"),
    "nl": Style(".", ",", 1, "{}%"),
    "pt": Style(".", ",", 1, "{}%"),
}
# The locales offered on My account, each by its language or its own entry.
for _tag in ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "nl-NL", "ja-JP", "zh-CN"):
    KNOWN.setdefault(_tag, KNOWN[_tag.split("-")[0]])

_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
DEFAULT_LOCALE = "en-US"


def effective_locale(user_locale: str, accept_language: str | None) -> str:
    """The user's own choice, else the browser's first language, else en-US."""
    if user_locale:
        return user_locale
    first = (accept_language or "")[:200].split(",")[0].split(";")[0].strip()
    return first if _TAG.match(first) else DEFAULT_LOCALE


def style(locale: str) -> Style:
    if locale in KNOWN:
        return KNOWN[locale]
    parts = locale.split("-")
    if len(parts) > 1 and f"{parts[0]}-{parts[-1].upper()}" in KNOWN:
        return KNOWN[f"{parts[0]}-{parts[-1].upper()}"]
    return KNOWN.get(parts[0].lower(), EN)


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _write(d: Decimal, s: Style, places: int | None) -> str:
    if places is not None:  # halves away from zero, as Intl rounds
        d = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{abs(d):f}"
    whole, _, frac = text.partition(".")
    if places is None:
        frac = frac.rstrip("0")
    if len(whole) >= 4 + (s.min_grouping - 1):
        groups: list[str] = []
        while len(whole) > 3:
            whole, tail = whole[:-3], whole[-3:]
            groups.insert(0, tail)
        whole = s.group.join([whole, *groups])
    sign = "-" if d < 0 and (d != 0) else ""
    return sign + whole + (s.decimal + frac if frac else "")


def number(value: object, locale: str, places: int = 2, empty: str = "—") -> str:
    """Money and prices: grouped, `places` decimals."""
    d = _decimal(value)
    return empty if d is None else _write(d, style(locale), places)


def quantity(value: object, locale: str, empty: str = "—") -> str:
    """Quantities: grouped, as many decimals as the value has (no trailing zeros)."""
    d = _decimal(value)
    return empty if d is None else _write(d.normalize(), style(locale), None)


def percent(value: object, locale: str, places: int = 2, empty: str = "—") -> str:
    """A ratio (0.1234) as a percentage (12.34%)."""
    d = _decimal(value)
    if d is None:
        return empty
    s = style(locale)
    return s.percent.format(_write(d * 100, s, places))


def count(value: int, locale: str) -> str:
    return _write(Decimal(int(value)), style(locale), 0)
