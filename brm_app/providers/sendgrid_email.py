"""Email through SendGrid's Python SDK (`BRM_EMAIL_PROVIDER=sendgrid`).

The SDK's `host` goes straight to its HTTP client, so tests point it at a stub on 127.0.0.1 and
check the very request it makes. HTTP 429 and 5xx, timeouts and refused connections are
temporary (the job retries with backoff); other refusals are permanent. SendGrid takes no
idempotency key: the caller marks the delivery "sending" before calling (services/communications).
"""

from __future__ import annotations

from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail, ReplyTo

from brm_app.providers.base import ProviderError, SendResult
from brm_app.providers.email import OutgoingEmail

TIMEOUT_SECONDS = 10.0


class SendGridEmailProvider:
    name = "sendgrid"

    def __init__(
        self, *, api_key: str, from_email: str, host: str = "https://api.sendgrid.com"
    ) -> None:
        self.from_email = from_email
        self.client = SendGridAPIClient(api_key=api_key, host=host)
        self.client.client.timeout = TIMEOUT_SECONDS

    def send(self, message: OutgoingEmail) -> SendResult:
        mail = Mail(
            from_email=self.from_email,
            to_emails=message.to,
            subject=message.subject,
            plain_text_content=message.text,
            html_content=message.html,
        )
        if message.reply_to:
            mail.reply_to = ReplyTo(message.reply_to)
        # Our reference comes back in every event of the Event Webhook.
        mail.custom_arg = CustomArg("brm_ref", message.reference)
        try:
            response = self.client.send(mail)
        except HTTPError as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            raise ProviderError(
                f"SendGrid answered HTTP {status}", temporary=status == 429 or status >= 500
            ) from None
        except (TimeoutError, URLError, ConnectionError) as exc:
            raise ProviderError(
                f"SendGrid unreachable: {type(exc).__name__}", temporary=True
            ) from None
        headers = getattr(response, "headers", None) or {}
        message_id = headers.get("X-Message-Id") if hasattr(headers, "get") else None
        return SendResult(provider_message_id=message_id)
