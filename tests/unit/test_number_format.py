"""Numbers written as in the user's locale on the server (the strings the states send, the
charts' labels), as Chromium's Intl writes them for the locales My account offers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brm_app.services import number_format as nf
from brm_app.services.users import LOCALES


@pytest.mark.parametrize(
    ("locale", "money", "small", "pct", "count"),
    [
        ("en-US", "1,234,567.89", "-1,234.50", "12.35%", "12,345"),
        ("en-GB", "1,234,567.89", "-1,234.50", "12.35%", "12,345"),
        ("de-DE", "1.234.567,89", "-1.234,50", "12,35\u00a0%", "12.345"),
        ("de-CH", "1'234'567.89", "-1'234.50", "12.35%", "12'345"),
        ("fr-FR", "1\u202f234\u202f567,89", "-1\u202f234,50", "12,35\u00a0%", "12\u202f345"),
        # Spanish and Italian group only from five digits on, as ICU does.
        ("es-ES", "1.234.567,89", "-1234,50", "12,35\u00a0%", "12.345"),
        ("it-IT", "1.234.567,89", "-1234,50", "12,35%", "12.345"),
        ("nl-NL", "1.234.567,89", "-1.234,50", "12,35%", "12.345"),
        ("ja-JP", "1,234,567.89", "-1,234.50", "12.35%", "12,345"),
        ("zh-CN", "1,234,567.89", "-1,234.50", "12.35%", "12,345"),
    ],
)
def test_each_offered_locale(locale, money, small, pct, count):
    assert nf.number(Decimal("1234567.891"), locale) == money
    assert nf.number(-1234.5, locale) == small
    assert nf.percent(Decimal("0.12345"), locale) == pct
    assert nf.count(12345, locale) == count


def test_every_offered_locale_is_known():
    assert {loc for loc in LOCALES if loc} <= set(nf.KNOWN)


def test_places_quantities_and_empty_values():
    assert nf.number(Decimal("2.5"), "de-DE", 4) == "2,5000"
    assert nf.number(None, "de-DE") == "—"
    assert nf.quantity(Decimal("1500.2500"), "de-DE") == "1.500,25"
    assert nf.quantity(Decimal("1500"), "en-US") == "1,500"
    assert nf.quantity(Decimal("0.00012345"), "en-US") == "0.00012345"
    assert nf.number(Decimal("-0.001"), "en-US") == "0.00"  # no "-0.00"
    assert nf.percent(None, "en-US") == "—"


def test_the_browser_locale_is_read_from_accept_language():
    assert nf.effective_locale("", "de-DE,de;q=0.9,en;q=0.8") == "de-DE"
    assert nf.effective_locale("fr-FR", "de-DE,de;q=0.9") == "fr-FR"  # My account wins
    assert nf.effective_locale("", "de-AT") == "de-AT"  # written as German
    assert nf.number(1234.5, "de-AT") == "1\u00a0234,50"
    assert nf.number(1234.5, "de-LU") == "1.234,50"  # German elsewhere: as de-DE
    assert nf.effective_locale("", "fr-CH,fr;q=0.9") == "fr-CH"
    assert nf.effective_locale("", "") == "en-US"
    assert nf.effective_locale("", "*") == "en-US"
    assert nf.effective_locale("", "x" * 500) == "en-US"
    assert nf.number(1234.5, "xx-YY") == "1,234.50"  # unknown: as en-US


def test_a_lists_count_and_a_capped_one():
    from types import SimpleNamespace

    from brm_app.state.base import total_label

    assert total_label(SimpleNamespace(total=12345, total_at_least=None), "de-DE") == "12.345"
    assert total_label(SimpleNamespace(total=None, total_at_least=10000), "en-US") == "10,000+"
