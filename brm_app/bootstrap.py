"""The composition root: which adapter serves each outside system, chosen once from settings.

The app, the CLI, the job runner and the tests all take their providers from here; tests swap
them with `use_providers(...)`, never by patching modules.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from brm_app.providers.email import EmailProvider, LogEmailProvider
from brm_app.providers.sms import LogSmsProvider, SmsProvider


@dataclass(frozen=True)
class Providers:
    email: EmailProvider
    sms: SmsProvider


def _build() -> Providers:
    return Providers(email=LogEmailProvider(), sms=LogSmsProvider())


_override: list[Providers] = []


@functools.cache
def _configured() -> Providers:
    return _build()


def providers() -> Providers:
    """The providers in force (a test's override, else those the settings choose)."""
    return _override[-1] if _override else _configured()


@contextmanager
def use_providers(**changes: object) -> Iterator[Providers]:
    """Swap some providers for the duration of a block (tests): use_providers(email=fake)."""
    chosen = replace(providers(), **changes)
    _override.append(chosen)
    try:
        yield chosen
    finally:
        _override.remove(chosen)
