"""What reaches the server log: no live credentials, and no lines forged by a browser.

Reflex logs a whole event, the request headers with it, when the event names an unknown handler,
so a session cookie would be written to the log. Redaction therefore happens where every log
record is made (a record factory), not in one handler: Reflex swaps its own handlers in and out
and keeps its loggers from propagating, so a filter on a handler would miss records.

Any browser, signed in or not, can report a "frontend exception" with text of its choosing; it is
logged as one bounded line, so it cannot forge other log lines.
"""

from __future__ import annotations

import logging
import re
import traceback

log = logging.getLogger("brm.frontend")

REDACTED = "<redacted>"
FRONTEND_REPORT_MAX = 1000

# A header (or cookie) name followed by its value: `cookie: a=b`, `'cookie': 'a=b'`,
# `"Authorization": "Bearer x"`, `(b'cookie', b'a=b')`. The value runs to the next quote or line end.
_HEADER_VALUE = re.compile(
    r"""(?ix)
    (\b(?:cookie|set-cookie|authorization|proxy-authorization|x-api-key)\b
     (?:['"]?\s*[:=]\s*b?['"]?|['"]\s*,\s*b?['"]))
    [^'"\r\n]*
    """
)
# The session cookie and bearer tokens wherever they appear, e.g. inside a quoted repr.
_SESSION_COOKIE = re.compile(r"(?i)(\bbrm_session\s*=\s*)[^;\s'\",}\]]+")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    """The text with cookie and authorization values replaced by <redacted>."""
    text = _HEADER_VALUE.sub(rf"\g<1>{REDACTED}", text)
    text = _SESSION_COOKIE.sub(rf"\g<1>{REDACTED}", text)
    return _BEARER.sub(rf"\g<1>{REDACTED}", text)


def one_line(text: str, limit: int = FRONTEND_REPORT_MAX) -> str:
    """Client-supplied text as one printable line of at most `limit` characters."""
    clipped = len(text) > limit
    flat = "".join(c if c.isprintable() else " " for c in text[:limit])
    if clipped:
        flat = flat[: limit - len("… (truncated)")] + "… (truncated)"
    return flat


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: leave it to logging's own error report
        return record
    clean = redact(message)
    if record.exc_info and record.exc_info[0] is not None:
        # Handlers format the traceback from exc_info themselves, so a secret in an exception's
        # message is only kept out by folding the redacted traceback into the message.
        trace = "".join(traceback.format_exception(*record.exc_info))
        clean_trace = redact(trace)
        if clean_trace != trace:
            clean = f"{clean}\n{clean_trace.rstrip()}"
            record.exc_info = None
            record.exc_text = None
    if clean != message:
        record.msg, record.args = clean, ()
    return record


_installed = False


def install() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacting_factory(*args, **kwargs) -> logging.LogRecord:
        return _redact_record(make_record(*args, **kwargs))

    logging.setLogRecordFactory(redacting_factory)
    _installed = True


def show_app_info_lines() -> None:
    """Send the `brm` loggers' INFO lines (the job runner, the log providers' "email delivery:N
    accepted", the request and event lines) to stderr, the server log, as JSON lines (or text with
    BRM_LOG_FORMAT=text); Python's default would drop everything below WARNING.
    Left alone when the process already configured logging."""
    from brm_app.observability.logs import formatter

    app_log = logging.getLogger("brm")
    if not app_log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(formatter())
        app_log.addHandler(handler)
    if app_log.level == logging.NOTSET:
        app_log.setLevel(logging.INFO)


def frontend_exception_handler(exception: Exception) -> None:
    """Reflex's frontend_exception_handler: one bounded, redacted line per report."""
    log.error("frontend exception: %s", one_line(redact(str(exception))))
