"""The key check on databases written without the server's start (issue 13): the bench seeder's
path (`upgrade_head`, then the bulk seeder) records the canary, and a database holding encrypted
values without any canary still refuses a key ring that cannot open them."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from brm_app import settings as settings_module
from brm_app.db import get_engine, make_engine, unit_of_work
from brm_app.encryption import get_keyring
from brm_app.encryption.check import check_keys
from brm_app.encryption.keyring import KeyError_, KeyRing, blind_index_key, parse_ring
from brm_app.migrations import record_key_check, upgrade_head
from brm_app.services import seed
from tests.unit.test_cli import brm

SECRET = "test-secret-key-" + "x" * 40


def _spec(kid: str, byte: int) -> str:
    return f"{kid}:{base64.b64encode(bytes([byte]) * 32).decode()}"


RING_A = _spec("k1", 1)
RING_B_SAME_ID = _spec("k1", 2)  # another key under the same id
RING_B_OTHER_ID = _spec("k7", 3)


def _ring(spec: str) -> KeyRing:
    return KeyRing(parse_ring(spec, source="test"), blind_index_key(SECRET))


def _use(monkeypatch, tmp_path, url: str, keys: str) -> dict[str, str]:
    env = {
        "BRM_DATABASE_URL": url,
        "BRM_DATA_DIR": str(tmp_path / "data"),
        "BRM_SECRET_KEY": SECRET,
        "BRM_ENCRYPTION_KEYS": keys,
        "BRM_MARKET_DATA_PROVIDER": "off",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings_module.get_settings.cache_clear()
    get_engine.cache_clear()
    return env


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    """A database made as bench/dataset.py makes it with ring A: `upgrade_head`, then the bulk
    seeder's firms and traders (encrypted), with no server start in between."""
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    _use(monkeypatch, tmp_path, url, RING_A)
    upgrade_head(url)
    with unit_of_work(write=True) as db:
        seed.bulk_load(db, seed.SeedPlan(firms=3, traders_per_firm=2, seed=5))
    get_engine().dispose()
    yield url
    get_engine.cache_clear()
    settings_module.get_settings.cache_clear()


def _canaries(url: str) -> list[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        kids = [r.kid for r in conn.execute(sa.text("SELECT kid FROM encryption_canaries"))]
    engine.dispose()
    return sorted(kids)


def _drop_canaries(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM encryption_canaries"))
    engine.dispose()


def test_upgrade_head_records_the_canary_of_the_ring_it_ran_with(seeded):
    assert _canaries(seeded) == ["k1"]
    with unit_of_work(write=True) as db:
        check_keys(db.connection(), _ring(RING_A))  # the ring A passes


@pytest.mark.parametrize("other", [RING_B_SAME_ID, RING_B_OTHER_ID])
@pytest.mark.parametrize("canary", ["recorded", "missing"])
def test_another_ring_is_refused_with_or_without_a_canary(seeded, other, canary):
    if canary == "missing":
        _drop_canaries(seeded)  # a database seeded before upgrade_head recorded it
    refused = r"start with the key ring|not the key this database"
    with unit_of_work(write=True) as db, pytest.raises(KeyError_, match=refused):
        check_keys(db.connection(), _ring(other))
    # Refused before anything was written: no canary of the wrong ring was recorded.
    assert _canaries(seeded) == ([] if canary == "missing" else ["k1"])
    # The right ring still opens everything, and records its canary again when it was missing.
    with unit_of_work(write=True) as db:
        check_keys(db.connection(), _ring(RING_A))
    assert _canaries(seeded) == ["k1"]


def test_without_a_canary_the_probe_names_the_table_and_key(seeded):
    _drop_canaries(seeded)
    with unit_of_work(write=True) as db, pytest.raises(KeyError_) as refused:
        check_keys(db.connection(), _ring(RING_B_OTHER_ID))
    message = str(refused.value)
    assert "key 'k1', which is not in BRM_ENCRYPTION_KEYS" in message
    assert "nothing was read or changed" in message


def test_the_commands_and_the_start_refuse_another_ring(seeded, tmp_path, monkeypatch):
    _drop_canaries(seeded)
    env = _use(monkeypatch, tmp_path, seeded, RING_B_SAME_ID)
    # The server's start (`brm serve` runs `prepare`, which is `upgrade_head` and the check).
    with pytest.raises(KeyError_):
        upgrade_head(seeded)
    with pytest.raises(KeyError_):
        record_key_check(seeded)
    # `brm db upgrade` and a command that writes (`brm users create`): exit 2, one clear line.
    for args in (
        ("db", "upgrade"),
        ("users", "create", "--email", "x@test.example", "--role", "broker", "--name", "X"),
    ):
        r = brm(*args, env=env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "encryption keys:" in r.stderr and "Traceback" not in r.stderr
    assert _canaries(seeded) == []
    # With ring A the same command works, and the canary is back.
    r = brm(
        "users",
        "create",
        "--email",
        "x@test.example",
        "--role",
        "broker",
        "--name",
        "X",
        env={**env, "BRM_ENCRYPTION_KEYS": RING_A},
    )
    assert r.returncode == 0, r.stderr
    assert _canaries(seeded) == ["k1"]


def test_an_empty_database_takes_any_ring(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    _use(monkeypatch, tmp_path, url, RING_B_OTHER_ID)
    upgrade_head(url)
    assert _canaries(url) == ["k7"]
    assert get_keyring().current == "k7"
