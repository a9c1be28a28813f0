"""Email: the interface every adapter implements, and the default `log` adapter."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from brm_app.providers.base import SendResult

log = logging.getLogger("brm.providers.email")


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    # Our own reference for logs and provider metadata, e.g. "delivery:123" (ids only, no content).
    reference: str
    html: str | None = None
    reply_to: str | None = None


class EmailProvider(Protocol):
    name: str

    def send(self, message: OutgoingEmail) -> SendResult:
        """Hand the message to the outside system; raise ProviderError when it fails."""
        ...


class LogEmailProvider:
    """The default: nothing leaves the machine. Records the reference and channel in the server
    log, never the address or the content."""

    name = "log"

    def send(self, message: OutgoingEmail) -> SendResult:
        message_id = f"log-{uuid.uuid4().hex}"
        log.info("email %s accepted by the log provider as %s", message.reference, message_id)
        return SendResult(provider_message_id=message_id)
