"""What every provider adapter answers and raises, whatever system it talks to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SendResult:
    """A provider accepted the message; its own id for it, when it gives one."""

    provider_message_id: str | None = None


class ProviderError(Exception):
    """A send failed. `temporary` failures (HTTP 429/5xx, timeouts) are retried with backoff;
    permanent ones (a refused address, bad credentials) are not."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary
