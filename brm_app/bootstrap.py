"""The composition root: which adapter serves each outside system, chosen once from settings,
and the one list of record rules and firm-merge hooks (`wire()`).

The app, the CLI, the job runner and the tests all take their providers from here and call
`wire()` before serving; tests swap providers with `use_providers(...)`, never by patching modules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from brm_app.providers.email import EmailProvider, LogEmailProvider
from brm_app.providers.market_data import (
    CsvMarketData,
    MarketDataProvider,
    NoMarketData,
    SimulatedMarketData,
)
from brm_app.providers.sms import LogSmsProvider, SmsProvider
from brm_app.settings import Settings, get_settings


def _sendgrid() -> EmailProvider:
    from brm_app.providers.sendgrid_email import SendGridEmailProvider

    s = get_settings()
    assert s.sendgrid_api_key is not None  # settings refuse sendgrid without it
    return SendGridEmailProvider(
        api_key=s.sendgrid_api_key, from_email=s.email_from, host=s.sendgrid_api_host
    )


def _twilio() -> SmsProvider:
    from brm_app.providers.twilio_sms import TwilioSmsProvider

    s = get_settings()
    assert s.twilio_account_sid and s.twilio_auth_token and s.twilio_from
    return TwilioSmsProvider(
        account_sid=s.twilio_account_sid,
        auth_token=s.twilio_auth_token,
        from_number=s.twilio_from,
        api_base=s.twilio_api_base,
    )


# Setting value -> adapter. Each name here is one the settings accept (EMAIL_PROVIDERS ...).
EMAIL_ADAPTERS: dict[str, Callable[[], EmailProvider]] = {
    "log": LogEmailProvider,
    "sendgrid": _sendgrid,
}
SMS_ADAPTERS: dict[str, Callable[[], SmsProvider]] = {"log": LogSmsProvider, "twilio": _twilio}


def _market_data(settings: Settings) -> MarketDataProvider:
    if settings.market_data_provider == "simulated":
        return SimulatedMarketData(seed=settings.market_data_seed)
    if settings.market_data_provider == "csv" and settings.market_data_url:
        return CsvMarketData(settings.market_data_url)
    return NoMarketData()


@dataclass(frozen=True)
class Providers:
    email: EmailProvider
    sms: SmsProvider
    market_data: MarketDataProvider


def _build(settings: Settings) -> Providers:
    return Providers(
        email=EMAIL_ADAPTERS[settings.email_provider](),
        sms=SMS_ADAPTERS[settings.sms_provider](),
        market_data=_market_data(settings),
    )


_override: list[Providers] = []
_built: tuple[Settings, Providers] | None = None
_build_lock = threading.Lock()


def _configured() -> Providers:
    """Built once per settings object (tests that re-read the settings get fresh providers)."""
    global _built
    settings = get_settings()
    with _build_lock:
        if _built is None or _built[0] is not settings:
            _built = (settings, _build(settings))
        return _built[1]


def providers() -> Providers:
    """The providers in force (a test's override, else those the settings choose)."""
    return _override[-1] if _override else _configured()


@contextmanager
def use_providers(
    *,
    email: EmailProvider | None = None,
    sms: SmsProvider | None = None,
    market_data: MarketDataProvider | None = None,
) -> Iterator[Providers]:
    """Swap some providers for the duration of a block (tests): use_providers(email=fake)."""
    current = providers()
    chosen = Providers(
        email=current.email if email is None else email,
        sms=current.sms if sms is None else sms,
        market_data=current.market_data if market_data is None else market_data,
    )
    _override.append(chosen)
    try:
        yield chosen
    finally:
        _override.remove(chosen)


def wire() -> None:
    """Install every record rule and every firm-merge hook: the one place that says what exists.

    Call before serving (the app, the CLI, the worker and the tests do); calling again sets the
    same lists, so it is harmless. Until it runs, `rbac.require` refuses every record.
    """
    # Imported here, not at the top: services may take providers from this module.
    from brm_app.auth import rbac
    from brm_app.models.communication import Conversation
    from brm_app.models.firm import Firm
    from brm_app.models.follow_up import FollowUp
    from brm_app.models.interaction import Interaction
    from brm_app.models.portfolio import Portfolio
    from brm_app.models.review import ReviewItem
    from brm_app.models.trader import Trader
    from brm_app.services import (
        access,
        conversations,
        firms,
        follow_ups,
        interactions,
        portfolios,
        review,
    )

    # Who may see (and so act on) one record of each kind.
    rbac.install_record_rules(
        {
            Firm: access.firm_visible,
            Trader: access.trader_visible,
            Interaction: interactions.interaction_visible,
            FollowUp: follow_ups.follow_up_visible,
            Portfolio: portfolios.portfolio_visible,
            Conversation: conversations.conversation_visible,
            ReviewItem: review.item_visible,
        }
    )
    # What moves from a merged firm to the one it is merged into (traders and coverage move in
    # firms.merge_firms itself).
    firms.install_merge_hooks(
        [
            interactions.move_to_firm,
            follow_ups.move_to_firm,
            portfolios.move_to_firm,
            conversations.move_to_firm,
        ]
    )
