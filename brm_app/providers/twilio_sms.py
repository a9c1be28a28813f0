"""SMS through Twilio's Python SDK (`BRM_SMS_PROVIDER=twilio`).

Twilio's host names are fixed per product; `api_base` (tests, a relay) is reached through an
HTTP client that rewrites the host of each request, the way Twilio's own tests do. HTTP 429 and
5xx and network failures are temporary (retried with backoff); other refusals are permanent
(21610: the number answered STOP). Twilio takes no idempotency key: the caller marks the
delivery "sending" before calling.
"""

from __future__ import annotations

from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from brm_app.providers.base import ProviderError, SendResult
from brm_app.providers.sms import OutgoingSms

TIMEOUT_SECONDS = 10.0
_TWILIO_API = "https://api.twilio.com"


# (twilio ships no type hints: its base class is Any to the type checker)
class _RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Sends what the SDK would send to api.twilio.com to `base` instead."""

    def __init__(self, base: str) -> None:
        super().__init__(timeout=TIMEOUT_SECONDS)
        self.base = base.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(_TWILIO_API):
            url = self.base + url[len(_TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


class TwilioSmsProvider:
    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str | None = None,
    ) -> None:
        self.from_number = from_number
        http = (
            _RebasedHttpClient(api_base) if api_base else TwilioHttpClient(timeout=TIMEOUT_SECONDS)
        )
        self.client = Client(account_sid, auth_token, http_client=http)

    def send(self, message: OutgoingSms) -> SendResult:
        kwargs: dict[str, Any] = {"to": message.to, "from_": self.from_number, "body": message.text}
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        try:
            sent = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            status = int(exc.status or 0)
            raise ProviderError(
                f"Twilio answered HTTP {status} (error {exc.code})",
                temporary=status == 429 or status >= 500,
            ) from None
        except (TwilioException, OSError) as exc:
            raise ProviderError(
                f"Twilio unreachable: {type(exc).__name__}", temporary=True
            ) from None
        return SendResult(provider_message_id=sent.sid)
