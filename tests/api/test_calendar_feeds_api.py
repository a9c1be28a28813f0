"""A calendar feed's address over HTTP: it ends with its owner's credentials (own password
change, an admin's reset, deactivation, even once reactivated), and absolute addresses come from
BRM_PUBLIC_URL, never from the request's Host header."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import icalendar
import pytest

from brm_app.db import utcnow
from brm_app.models.user import Role
from brm_app.settings import get_settings
from tests.api.test_interactions_api import API, bearer
from tests.factories import PASSWORD, make_firm, make_user

FORGED_HOST = {"Host": "attacker.example"}


def _new_feed(client, headers) -> tuple[int, str]:
    r = client.post(f"{API}/calendar-feeds", headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["feed_id"], r.json()["url"]


def _path(url: str) -> str:
    return urlsplit(url).path


@pytest.mark.parametrize("change", ["own password change", "admin reset", "deactivate+reactivate"])
def test_a_feed_ends_with_its_owners_credentials(client, change):
    admin, broker = make_user(Role.ADMIN), make_user(Role.BROKER)
    feed_id, url = _new_feed(client, bearer(broker))
    assert client.get(_path(url)).status_code == 200

    if change == "own password change":
        r = client.post(
            f"{API}/users/me/password",
            headers=bearer(broker),
            json={"current_password": PASSWORD, "new_password": "completely different one"},
        )
        assert r.status_code == 204, r.text
    elif change == "admin reset":
        r = client.patch(
            f"{API}/users/{broker.user_id}",
            headers=bearer(admin),
            json={"password": "an admin's new password"},
        )
        assert r.status_code == 200, r.text
        assert client.get(_path(url)).status_code == 404
        # The admin chose it: the broker must choose their own before using anything else.
        r = client.post(
            f"{API}/users/me/password",
            headers=bearer(broker),
            json={"current_password": "an admin's new password", "new_password": PASSWORD + "!"},
        )
        assert r.status_code == 204, r.text
    else:
        for active in (False, True):
            r = client.patch(
                f"{API}/users/{broker.user_id}", headers=bearer(admin), json={"is_active": active}
            )
            assert r.status_code == 200, r.text

    assert client.get(_path(url)).status_code == 404
    h = bearer(broker)  # a token issued after the change
    listed = client.get(f"{API}/calendar-feeds", headers=h).json()
    assert [(f["feed_id"], f["active"]) for f in listed] == [(feed_id, False)]
    _, fresh = _new_feed(client, h)  # a new address works
    assert client.get(_path(fresh)).status_code == 200
    assert client.get(_path(url)).status_code == 404


def test_feed_addresses_come_from_the_public_url_not_the_host_header(client, monkeypatch):
    monkeypatch.setenv("BRM_PUBLIC_URL", "https://brm.example.com/")
    get_settings.cache_clear()
    broker = make_user(Role.BROKER)
    firm = make_firm(broker)
    h = bearer(broker)
    r = client.post(
        f"{API}/follow-ups",
        json={"title": "Call back", "due_at": (utcnow() + timedelta(days=1)).isoformat(),
              "firm_id": firm.firm_id},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    follow_up_id = r.json()["follow_up_id"]

    r = client.post(f"{API}/calendar-feeds", headers={**h, **FORGED_HOST})
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith("https://brm.example.com/api/calendar/") and url.endswith(".ics")

    r = client.get(_path(url), headers=FORGED_HOST)
    assert r.status_code == 200
    links = [str(e["url"]) for e in icalendar.Calendar.from_ical(r.content).walk("VEVENT")]
    assert links == [f"https://brm.example.com/follow-ups/{follow_up_id}"]


def test_without_a_public_url_addresses_use_localhost_and_the_port(client, monkeypatch):
    monkeypatch.delenv("BRM_PUBLIC_URL", raising=False)
    monkeypatch.setenv("BRM_PORT", "3456")
    get_settings.cache_clear()
    broker = make_user(Role.BROKER)
    r = client.post(f"{API}/calendar-feeds", headers={**bearer(broker), **FORGED_HOST})
    assert r.status_code == 201, r.text
    assert r.json()["url"].startswith("http://localhost:3456/api/calendar/")
