"""SMS: the interface every adapter implements, and the default `log` adapter."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from brm_app.providers.base import SendResult

log = logging.getLogger("brm.providers.sms")


@dataclass(frozen=True)
class OutgoingSms:
    to: str  # E.164
    text: str
    # Our own reference for logs and provider metadata, e.g. "delivery:123" (ids only, no content).
    reference: str
    # Where the provider reports the delivery status (our webhook), when it can.
    status_callback: str | None = None


class SmsProvider(Protocol):
    name: str

    def send(self, message: OutgoingSms) -> SendResult:
        """Hand the message to the outside system; raise ProviderError when it fails."""
        ...


class LogSmsProvider:
    """The default: nothing leaves the machine. Records the reference and channel in the server
    log, never the number or the content."""

    name = "log"

    def send(self, message: OutgoingSms) -> SendResult:
        message_id = f"log-{uuid.uuid4().hex}"
        log.info("sms %s accepted by the log provider as %s", message.reference, message_id)
        return SendResult(provider_message_id=message_id)
