"""Log lines as JSON (one object a line, for collectors), or as text with BRM_LOG_FORMAT=text.

What the app logs about a request or an event is a fixed set of fields (request id, user id,
route template or handler, status, duration): never a query string, a body, a header, a
password, a token or a message's content. log_safety redacts credentials in every other record.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

# The request and event fields a record may carry (set with `extra=`).
FIELDS = (
    "request_id",
    "user_id",
    "method",
    "route",
    "handler",
    "status",
    "outcome",
    "duration_ms",
)


def log_format() -> str:
    value = (os.environ.get("BRM_LOG_FORMAT") or "json").strip().lower()
    return "text" if value == "text" else "json"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = " ".join(
            f"{name}={record.__dict__[name]}"
            for name in FIELDS
            if record.__dict__.get(name) is not None
        )
        return f"{text} {extras}" if extras else text


def formatter() -> logging.Formatter:
    return TextFormatter() if log_format() == "text" else JsonFormatter()
