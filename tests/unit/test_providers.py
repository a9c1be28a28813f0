"""Email and SMS providers: the `log` default keeps content out of the log, the settings choose
the adapters, and tests swap them through the composition root (never by patching modules)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from brm_app import bootstrap
from brm_app import settings as settings_module
from brm_app.providers.base import SendResult
from brm_app.providers.email import LogEmailProvider, OutgoingEmail
from brm_app.providers.sms import LogSmsProvider, OutgoingSms
from brm_app.settings import SettingsError, load_settings

EMAIL = OutgoingEmail(
    to="ivy.investor@client.example",
    subject="Reminder: call Northbridge",
    text="Ask about the bond desk restructuring",
    html="<p>Ask about the bond desk restructuring</p>",
    reply_to="ben.okafor@brokersync.example",
    reference="delivery:4711",
)
SMS = OutgoingSms(
    to="+447700900123", text="Call Northbridge about the Zephyrine bond", reference="delivery:4712"
)


def _logged(caplog) -> str:
    """Everything the records carry: the formatted message and its raw arguments."""
    return "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records)


def test_the_log_email_provider_logs_the_reference_and_channel_never_address_or_content(caplog):
    caplog.set_level(logging.DEBUG)
    result = LogEmailProvider().send(EMAIL)
    assert isinstance(result, SendResult) and result.provider_message_id
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "email" in lines[0] and "delivery:4711" in lines[0]
    assert result.provider_message_id in lines[0]
    logged = _logged(caplog)
    for secret in ("ivy.investor", "client.example", "Northbridge", "bond desk", "ben.okafor"):
        assert secret not in logged


def test_the_log_sms_provider_logs_the_reference_and_channel_never_number_or_content(caplog):
    caplog.set_level(logging.DEBUG)
    result = LogSmsProvider().send(SMS)
    assert result.provider_message_id
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "sms" in lines[0] and "delivery:4712" in lines[0]
    logged = _logged(caplog)
    for secret in ("+447700900123", "7700900123", "Northbridge", "Zephyrine"):
        assert secret not in logged


# ---- settings ------------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("BRM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BRM_SECRET_KEY", "test-secret-key-" + "x" * 40)
    for name in ("BRM_EMAIL_PROVIDER", "BRM_SMS_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    settings_module.get_settings.cache_clear()
    yield monkeypatch
    settings_module.get_settings.cache_clear()


def test_the_log_providers_are_the_default(env):
    s = load_settings()
    assert (s.email_provider, s.sms_provider) == ("log", "log")
    assert s.describe()["email_provider"] == "log" and s.describe()["sms_provider"] == "log"
    chosen = bootstrap.providers()
    assert isinstance(chosen.email, LogEmailProvider) and isinstance(chosen.sms, LogSmsProvider)


def test_the_settings_choose_the_providers(env):
    env.setenv("BRM_EMAIL_PROVIDER", " LOG ")
    env.setenv("BRM_SMS_PROVIDER", "Log")
    s = load_settings()
    assert (s.email_provider, s.sms_provider) == ("log", "log")
    built = bootstrap._build(s)
    assert isinstance(built.email, LogEmailProvider) and isinstance(built.sms, LogSmsProvider)


def test_every_provider_name_the_settings_accept_has_an_adapter_and_no_more(env):
    # The real adapters need their keys (the settings refuse them without).
    for key, value in {
        "BRM_SENDGRID_API_KEY": "SG.test",
        "BRM_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "BRM_TWILIO_AUTH_TOKEN": "token",
        "BRM_TWILIO_FROM": "+15005550006",
    }.items():
        env.setenv(key, value)
    settings_module.get_settings.cache_clear()
    assert set(bootstrap.EMAIL_ADAPTERS) == set(settings_module.EMAIL_PROVIDERS)
    assert set(bootstrap.SMS_ADAPTERS) == set(settings_module.SMS_PROVIDERS)
    for name, make in bootstrap.EMAIL_ADAPTERS.items():
        assert make().name == name
    for name, make in bootstrap.SMS_ADAPTERS.items():
        assert make().name == name


@pytest.mark.parametrize("variable", ["BRM_EMAIL_PROVIDER", "BRM_SMS_PROVIDER"])
@pytest.mark.parametrize("value", ["sendgrid-typo", "smtp", "log,twilio"])
def test_an_unknown_provider_is_refused_naming_the_valid_ones(env, variable, value):
    env.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert variable in message and repr(value) in message and "log" in message


def test_an_unknown_provider_stops_the_app_from_starting(tmp_path):
    """`brm serve` checks the settings before anything else: exit 2, one clear line."""
    env = {
        **os.environ,
        "BRM_DATA_DIR": str(tmp_path),
        "BRM_DATABASE_URL": f"sqlite:///{tmp_path / 'brm.db'}",
        "BRM_SECRET_KEY": "test-secret-key-" + "x" * 40,
        "BRM_EMAIL_PROVIDER": "carrier-pigeon",
        "BRM_PORT": "39999",
    }
    run = subprocess.run(
        [sys.executable, "-m", "brm_app.cli", "serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 2
    assert "BRM_EMAIL_PROVIDER" in run.stderr and "'log'" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "brm.db").exists()  # nothing was migrated or created


# ---- swapping through the composition root -------------------------------------------------------


class FakeEmail:
    name = "fake"

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    def send(self, message: OutgoingEmail) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_message_id=f"fake-{len(self.sent)}")


def test_a_test_swaps_the_email_provider_through_the_root(env, caplog):
    caplog.set_level(logging.INFO, logger="brm.providers")
    fake = FakeEmail()
    before = bootstrap.providers()
    with bootstrap.use_providers(email=fake) as swapped:
        assert bootstrap.providers() is swapped
        assert bootstrap.providers().email is fake
        assert bootstrap.providers().sms is before.sms  # the rest stays as configured
        assert bootstrap.providers().email.send(EMAIL).provider_message_id == "fake-1"
        inner = FakeEmail()
        with bootstrap.use_providers(email=inner):
            bootstrap.providers().email.send(EMAIL)
        assert bootstrap.providers().email is fake
    assert fake.sent == [EMAIL] and inner.sent == [EMAIL]
    assert not caplog.records  # the log provider was not used meanwhile
    after = bootstrap.providers()
    assert isinstance(after.email, LogEmailProvider)
    with pytest.raises(TypeError), bootstrap.use_providers(fax=fake):
        pass
