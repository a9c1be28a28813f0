"""Typed settings read once from the environment.

Every knob an operator may turn lives here, so the README's table and the code cannot drift:
`brm settings` prints the effective values (secrets masked).
"""

from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be 0 or 1, got {raw!r}")


class SettingsError(ValueError):
    """A setting has a value the app cannot use."""


# The adapters each outside system can use (bootstrap maps each name to its adapter).
EMAIL_PROVIDERS = ("log", "sendgrid")
SMS_PROVIDERS = ("log", "twilio")
MARKET_DATA_PROVIDERS = ("simulated", "csv", "off")
_SECRETS = {
    "secret_key",
    "encryption_keys",
    "admin_password",
    "sendgrid_api_key",
    "twilio_auth_token",
}


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (_env(name) or default).lower()
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise SettingsError(f"{name} must be one of {valid}, got {_env(name)!r}")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    port: int
    # Where users reach the app: every absolute address it hands out (feed URLs, links) starts here.
    public_url: str
    secret_key: str = field(repr=False)
    admin_email: str
    admin_password: str | None = field(repr=False)
    demo: bool
    allowed_origins: tuple[str, ...]
    session_idle_minutes: int
    session_absolute_hours: int
    token_minutes: int
    login_slow_after: int
    login_lock_after: int
    login_lock_minutes: int
    ip_lock_after: int
    cookie_secure: bool
    trusted_proxy_hops: int
    scheduler_seconds: int
    email_provider: str
    sms_provider: str
    # Run background jobs (reminders, deliveries) in the app's own process; 0 when `brm worker` does.
    jobs_in_process: bool = True
    # Portfolio totals' currency for firms without their own; where prices and FX rates come from.
    reporting_currency: str = "USD"
    market_data_provider: str = "simulated"
    # The CSV provider's file path or http(s) URL; the simulated feed's seed and tick interval.
    market_data_url: str | None = None
    market_data_seed: int = 42
    market_data_tick_seconds: float = 1.0
    # Communications: sender identities, provider keys, where replies and webhooks arrive.
    email_from: str = "no-reply@brokersync.example"
    # Replies to outgoing email go to reply+<conversation token>@this domain (Inbound Parse).
    inbound_domain: str | None = None
    sendgrid_api_key: str | None = field(default=None, repr=False)
    sendgrid_api_host: str = "https://api.sendgrid.com"
    # The Event Webhook's (and signed Inbound Parse's) ECDSA public key, base64 as SendGrid shows it.
    sendgrid_webhook_public_key: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_from: str | None = None
    # Only to reach a stub or relay instead of api.twilio.com.
    twilio_api_base: str | None = None
    # Attempts per email/SMS before it is marked failed (temporary failures retry with backoff).
    delivery_max_attempts: int = 5
    # The key ring of encryption at rest (brm_app/encryption): BRM_ENCRYPTION_KEYS, or on SQLite
    # None, and the data folder's keys file is used (created on the first start).
    encryption_keys: str | None = field(default=None, repr=False)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def describe(self) -> dict[str, str]:
        """The effective settings with secrets masked, for `brm settings` and the logs."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRETS:
                value = "(set)" if value else "(unset)"
            elif f.name == "database_url":
                value = _mask_url_password(str(value))
            out[f.name] = str(value)
        return out


def _mask_url_password(url: str) -> str:
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"


def _public_url(port: int) -> str:
    """BRM_PUBLIC_URL, normalised (lower-case scheme and host, no trailing slash), or the local
    default. Never the Host header of a request: anyone can send any Host."""
    raw = _env("BRM_PUBLIC_URL")
    if raw is None:
        return f"http://localhost:{port}"
    parts = urlsplit(raw)
    try:
        explicit_port = parts.port
    except ValueError:
        explicit_port = -1
    if (
        parts.scheme.lower() not in {"http", "https"}
        or not parts.hostname
        or explicit_port == -1
        or parts.username is not None
        or "?" in raw
        or "#" in raw
        or any(c.isspace() for c in raw)
    ):
        raise SettingsError(
            f"BRM_PUBLIC_URL must be the address users open, such as https://brm.example.com, "
            f"got {raw!r}"
        )
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = host + (f":{explicit_port}" if explicit_port is not None else "")
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _secret_key(data_dir: Path, *, shared_database: bool) -> str:
    """BRM_SECRET_KEY, or a key generated once into the data folder (never committed).

    On PostgreSQL the key must come from the environment: several servers share the database,
    and a key generated per host would make each refuse the others' sessions and tokens."""
    configured = _env("BRM_SECRET_KEY")
    if configured:
        if len(configured) < 32:
            raise SettingsError("BRM_SECRET_KEY must be at least 32 characters")
        return configured
    if shared_database:
        raise SettingsError(
            "BRM_SECRET_KEY must be set with a PostgreSQL database (every server sharing it "
            "needs the same key): generate one with `python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'`"
        )
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Create with owner-only permissions before writing the secret into it.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _encryption_keys(*, shared_database: bool) -> str | None:
    """BRM_ENCRYPTION_KEYS, checked here so a bad value stops the start before anything else."""
    from brm_app.encryption.keyring import KeyError_, parse_ring

    configured = _env("BRM_ENCRYPTION_KEYS")
    if configured is None:
        if shared_database:
            raise SettingsError(
                "BRM_ENCRYPTION_KEYS must be set with a PostgreSQL database (every server "
                "sharing it needs the same keys): generate one with `python3 -c 'import base64, "
                'secrets; print("k1:" + base64.b64encode(secrets.token_bytes(32)).decode())\''
                "`"
            )
        return None
    try:
        parse_ring(configured, source="BRM_ENCRYPTION_KEYS")
    except KeyError_ as exc:
        raise SettingsError(str(exc)) from None
    return configured


def load_settings() -> Settings:
    # Checked before anything is written (the data folder, the secret key).
    email_provider = _env_choice("BRM_EMAIL_PROVIDER", "log", EMAIL_PROVIDERS)
    sms_provider = _env_choice("BRM_SMS_PROVIDER", "log", SMS_PROVIDERS)
    data_dir = Path(_env("BRM_DATA_DIR", str(PROJECT_ROOT / "data"))).resolve()
    database_url = _env("BRM_DATABASE_URL") or f"sqlite:///{data_dir / 'brm.db'}"
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would pick psycopg2.
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    if database_url.startswith("sqlite"):
        data_dir.mkdir(parents=True, exist_ok=True)
    port = _env_int("BRM_PORT", 3000)
    if not 1 <= port <= 65535:
        raise SettingsError(f"BRM_PORT must be between 1 and 65535, got {port}")
    public_url = _public_url(port)
    origins_raw = _env("BRM_ALLOWED_ORIGINS")
    if origins_raw:
        origins = tuple(o.strip().rstrip("/") for o in origins_raw.split(",") if o.strip())
    elif _env("BRM_PUBLIC_URL"):
        origins = (_origin_of(public_url),)
    else:  # the local default, reached as localhost or 127.0.0.1
        origins = (public_url, f"http://127.0.0.1:{port}")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=_env("BRM_REDIS_URL"),
        port=port,
        public_url=public_url,
        secret_key=_secret_key(data_dir, shared_database=not database_url.startswith("sqlite")),
        encryption_keys=_encryption_keys(shared_database=not database_url.startswith("sqlite")),
        admin_email=(_env("BRM_ADMIN_EMAIL") or "admin@brokersync.example").lower(),
        admin_password=_env("BRM_ADMIN_PASSWORD"),
        demo=_env_bool("BRM_DEMO", True),
        allowed_origins=origins,
        session_idle_minutes=_env_int("BRM_SESSION_IDLE_MINUTES", 30),
        session_absolute_hours=_env_int("BRM_SESSION_ABSOLUTE_HOURS", 12),
        token_minutes=_env_int("BRM_TOKEN_MINUTES", 15),
        login_slow_after=_env_int("BRM_LOGIN_SLOW_AFTER", 3),
        login_lock_after=_env_int("BRM_LOGIN_LOCK_AFTER", 8),
        login_lock_minutes=_env_int("BRM_LOGIN_LOCK_MINUTES", 15),
        ip_lock_after=_env_int("BRM_IP_LOCK_AFTER", 40),
        # Served over HTTPS (BRM_PUBLIC_URL https://...): Secure cookies unless told otherwise.
        cookie_secure=_env_bool("BRM_COOKIE_SECURE", public_url.startswith("https://")),
        trusted_proxy_hops=_env_int("BRM_TRUSTED_PROXY_HOPS", 0),
        scheduler_seconds=_env_int("BRM_SCHEDULER_SECONDS", 5),
        email_provider=email_provider,
        sms_provider=sms_provider,
        jobs_in_process=_env_bool("BRM_JOBS_IN_PROCESS", True),
        reporting_currency=_reporting_currency(),
        market_data_provider=_env_choice(
            "BRM_MARKET_DATA_PROVIDER", "simulated", MARKET_DATA_PROVIDERS
        ),
        market_data_url=_env("BRM_MARKET_DATA_URL"),
        market_data_seed=_env_int("BRM_MARKET_DATA_SEED", 42),
        market_data_tick_seconds=_env_int("BRM_MARKET_DATA_TICK_MS", 1000) / 1000,
        **_communications(email_provider, sms_provider),
    )


def _reporting_currency() -> str:
    code = (_env("BRM_REPORTING_CURRENCY") or "USD").upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise SettingsError(
            f"BRM_REPORTING_CURRENCY must be a 3-letter currency code, got {code!r}"
        )
    return code


def _communications(email_provider: str, sms_provider: str) -> dict[str, Any]:
    """The communications settings, checked: a real provider needs its keys and sender."""
    values: dict[str, Any] = {
        "email_from": _env("BRM_EMAIL_FROM", "no-reply@brokersync.example"),
        "inbound_domain": (_env("BRM_INBOUND_DOMAIN") or "").lower() or None,
        "sendgrid_api_key": _env("BRM_SENDGRID_API_KEY"),
        "sendgrid_api_host": _env("BRM_SENDGRID_API_HOST", "https://api.sendgrid.com"),
        "sendgrid_webhook_public_key": _env("BRM_SENDGRID_WEBHOOK_PUBLIC_KEY"),
        "twilio_account_sid": _env("BRM_TWILIO_ACCOUNT_SID"),
        "twilio_auth_token": _env("BRM_TWILIO_AUTH_TOKEN"),
        "twilio_from": _env("BRM_TWILIO_FROM"),
        "twilio_api_base": _env("BRM_TWILIO_API_BASE"),
        "delivery_max_attempts": _env_int("BRM_DELIVERY_MAX_ATTEMPTS", 5),
    }
    if not 1 <= values["delivery_max_attempts"] <= 20:
        raise SettingsError("BRM_DELIVERY_MAX_ATTEMPTS must be between 1 and 20")
    if email_provider == "sendgrid" and not values["sendgrid_api_key"]:
        raise SettingsError("BRM_EMAIL_PROVIDER=sendgrid needs BRM_SENDGRID_API_KEY")
    if sms_provider == "twilio":
        missing = [
            name
            for name, key in (
                ("BRM_TWILIO_ACCOUNT_SID", "twilio_account_sid"),
                ("BRM_TWILIO_AUTH_TOKEN", "twilio_auth_token"),
                ("BRM_TWILIO_FROM", "twilio_from"),
            )
            if not values[key]
        ]
        if missing:
            raise SettingsError(f"BRM_SMS_PROVIDER=twilio needs {', '.join(missing)}")
    return values


@functools.cache
def get_settings() -> Settings:
    return load_settings()
