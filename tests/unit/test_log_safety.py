"""Log records carry no session cookies or bearer tokens; browser-reported text stays one line."""

from __future__ import annotations

import io
import logging

import pytest

from brm_app import log_safety

TOKEN = "Zq3-live_session_token.value"


@pytest.mark.parametrize(
    "text",
    [
        f"cookie: brm_session={TOKEN}",
        f"Cookie: theme=dark; brm_session={TOKEN}; other=1",
        f"{{'headers': {{'cookie': 'brm_session={TOKEN}', 'host': 'x'}}}}",
        f'{{"Cookie": "a=b; brm_session={TOKEN}"}}',
        f"[(b'cookie', b'brm_session={TOKEN}')]",
        f"authorization: Bearer {TOKEN}",
        f"{{'Authorization': 'Basic {TOKEN}'}}",
        f"set-cookie: brm_session={TOKEN}; HttpOnly",
        f"request with brm_session={TOKEN} failed",
        f"token sent as bearer {TOKEN}",
    ],
)
def test_redact_removes_credentials(text):
    clean = log_safety.redact(text)
    assert TOKEN not in clean
    assert "<redacted>" in clean


def test_redact_keeps_the_rest():
    text = "{'headers': {'cookie': 'brm_session=abc', 'user-agent': 'Chromium'}, 'ip': '1.2.3.4'}"
    assert log_safety.redact(text) == (
        "{'headers': {'cookie': '<redacted>', 'user-agent': 'Chromium'}, 'ip': '1.2.3.4'}"
    )
    assert log_safety.redact("nothing secret here") == "nothing secret here"


@pytest.fixture
def captured():
    """A logger that does not propagate, with a handler of its own (as Reflex's is)."""
    log_safety.install()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.log_safety")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, out
    logger.removeHandler(handler)


def test_every_record_is_redacted_whatever_its_handler(captured):
    logger, out = captured
    event = {"name": "x.nope", "router_data": {"headers": {"cookie": f"brm_session={TOKEN}"}}}
    logger.error("Error processing event queue entry for %s", event)
    logger.warning(f"Authorization: Bearer {TOKEN}")
    try:
        raise KeyError(f"no handler; headers were cookie: brm_session={TOKEN}")
    except KeyError:
        logger.exception("Error processing event")
    text = out.getvalue()
    assert TOKEN not in text
    assert "Error processing event queue entry for" in text
    assert "KeyError" in text  # the traceback is still there, redacted


def test_frontend_report_is_one_bounded_line(captured, caplog):
    report = "boom\r\nERROR forged line\n" + "x" * 50_000 + f" brm_session={TOKEN}"
    with caplog.at_level(logging.ERROR, logger="brm.frontend"):
        log_safety.frontend_exception_handler(Exception(report))
    (record,) = [r for r in caplog.records if r.name == "brm.frontend"]
    message = record.getMessage()
    assert "\n" not in message and "\r" not in message
    assert len(message) <= log_safety.FRONTEND_REPORT_MAX + 50
    assert message.startswith("frontend exception: boom  ERROR forged line")
    assert message.endswith("(truncated)")


def test_frontend_report_drops_escape_sequences(captured, caplog):
    with caplog.at_level(logging.ERROR, logger="brm.frontend"):
        log_safety.frontend_exception_handler(Exception("a\x1b[31mred\u2028b\x00c"))
    (record,) = [r for r in caplog.records if r.name == "brm.frontend"]
    assert record.getMessage() == "frontend exception: a [31mred b c"


def test_the_app_uses_the_bounded_frontend_handler():
    from brm_app.brm_app import app

    assert app.frontend_exception_handler is log_safety.frontend_exception_handler
    assert logging.getLogRecordFactory().__name__ == "redacting_factory"
