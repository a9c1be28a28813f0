"""BRM_PUBLIC_URL: where absolute addresses (feed URLs, links in feeds) point, and what the
allowed origins default to."""

from __future__ import annotations

import pytest

from brm_app.settings import SettingsError, load_settings


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("BRM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BRM_SECRET_KEY", "test-secret-key-" + "x" * 40)
    for name in ("BRM_PUBLIC_URL", "BRM_ALLOWED_ORIGINS", "BRM_PORT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_public_url_defaults_to_localhost_on_the_port(env):
    s = load_settings()
    assert s.public_url == "http://localhost:3000"
    assert s.allowed_origins == ("http://localhost:3000", "http://127.0.0.1:3000")
    env.setenv("BRM_PORT", "8080")
    s = load_settings()
    assert s.public_url == "http://localhost:8080"
    assert s.allowed_origins == ("http://localhost:8080", "http://127.0.0.1:8080")
    assert load_settings().describe()["public_url"] == "http://localhost:8080"


def test_the_allowed_origins_follow_the_public_url(env):
    env.setenv("BRM_PUBLIC_URL", "https://BRM.example.com/")
    s = load_settings()
    assert s.public_url == "https://brm.example.com"
    assert s.allowed_origins == ("https://brm.example.com",)
    # Behind a proxy under a path: addresses keep the path, the origin is scheme and host.
    env.setenv("BRM_PUBLIC_URL", "https://intranet.example:8443/brm/")
    s = load_settings()
    assert s.public_url == "https://intranet.example:8443/brm"
    assert s.allowed_origins == ("https://intranet.example:8443",)
    # An explicit list still wins.
    env.setenv("BRM_ALLOWED_ORIGINS", "https://a.example, https://b.example/")
    assert load_settings().allowed_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    "value",
    [
        "brm.example.com",
        "ftp://brm.example.com",
        "https://",
        "https://brm.example.com/?next=/",
        "https://brm.example.com/#top",
        "https://user:pw@brm.example.com",
        "https://brm.example.com:99999",
    ],
)
def test_a_bad_public_url_is_refused_clearly(env, value):
    env.setenv("BRM_PUBLIC_URL", value)
    with pytest.raises(SettingsError, match="BRM_PUBLIC_URL"):
        load_settings()


def test_postgresql_needs_the_secret_key_from_the_environment(monkeypatch, tmp_path):
    """Servers sharing a PostgreSQL database must share the key: none is generated per host."""
    monkeypatch.setenv("BRM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BRM_DATABASE_URL", "postgresql://root@127.0.0.1:5432/none")
    monkeypatch.delenv("BRM_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="BRM_SECRET_KEY must be set"):
        load_settings()
    assert not (tmp_path / "secret_key").exists()
    monkeypatch.setenv("BRM_SECRET_KEY", "s" * 40)
    # ... and the encryption key ring likewise (none is generated per host either).
    with pytest.raises(SettingsError, match="BRM_ENCRYPTION_KEYS must be set"):
        load_settings()
    assert not (tmp_path / "encryption_keys").exists()
    monkeypatch.setenv("BRM_ENCRYPTION_KEYS", "k1:" + "A" * 43 + "=")
    assert load_settings().secret_key == "s" * 40
