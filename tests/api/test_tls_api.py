"""HTTPS served by the app itself (issue 14): BRM_TLS_CERT/BRM_TLS_KEY become granian's TLS
options (`brm serve --prebuilt`, the container), with HSTS and Secure cookies following an https
BRM_PUBLIC_URL."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl

import httpx
import pytest

from brm_app import runtime
from tests.api.test_crash_safety_api import granian


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def test_the_app_serves_https_with_hsts(sqlite_url, tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("BRM_TLS_CERT", cert)
    monkeypatch.setenv("BRM_TLS_KEY", key)
    monkeypatch.setenv("BRM_PUBLIC_URL", "https://127.0.0.1")
    args = runtime.tls_arguments()
    assert args == ["--ssl-certificate", cert, "--ssl-keyfile", key]
    with granian(tmp_path / "server.log", *args, scheme="https") as (url, _):
        r = httpx.get(url + "/api/health/live", verify=ssl.create_default_context(cafile=cert))
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on that port
            httpx.get(url.replace("https://", "http://") + "/api/health/live", timeout=3)


def test_tls_settings_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("BRM_TLS_CERT", str(tmp_path / "missing.pem"))
    monkeypatch.delenv("BRM_TLS_KEY", raising=False)
    with pytest.raises(ValueError, match="both"):
        runtime.tls_arguments()
    monkeypatch.setenv("BRM_TLS_KEY", str(tmp_path / "key.pem"))
    with pytest.raises(ValueError, match="no such file"):
        runtime.tls_arguments()
