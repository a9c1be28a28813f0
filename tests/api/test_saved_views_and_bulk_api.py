"""Saved views (per user) and bulk actions on selected firms, over HTTP (both databases)."""

from __future__ import annotations

from brm_app.models.user import Role
from tests.api.conftest import auth, get_token
from tests.factories import make_firm, make_user


def test_saved_views_are_per_user_and_checked(client):
    make_user(Role.BROKER, email="vera.views@test.example")
    make_user(Role.BROKER, email="otto.other@test.example")
    vera = auth(get_token(client, "vera.views@test.example"))
    otto = auth(get_token(client, "otto.other@test.example"))
    body = {
        "list_name": "firms",
        "name": "Tier A prospects",
        "settings": {"tier": "A", "status": "Prospect", "sort": "updated", "direction": "desc",
                     "columns": ["name", "tier", "updated"]},
    }  # fmt: skip
    r = client.post("/api/v1/saved-views", json=body, headers=vera)
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["settings"]["tier"] == "A" and view["settings"]["coverage"] == "all"
    # Saving the same name replaces it; the list is per user.
    body["settings"]["tier"] = "B"
    assert (
        client.post("/api/v1/saved-views", json=body, headers=vera).json()["view_id"]
        == view["view_id"]
    )
    mine = client.get("/api/v1/saved-views", params={"list_name": "firms"}, headers=vera).json()
    assert [(v["name"], v["settings"]["tier"]) for v in mine] == [("Tier A prospects", "B")]
    assert client.get("/api/v1/saved-views", headers=otto).json() == []
    # Bad settings are refused by name; another user's view is not found.
    bad = {**body, "settings": {"sort": "password"}}
    r = client.post("/api/v1/saved-views", json=bad, headers=vera)
    assert r.status_code == 422 and "sort" in r.text
    bad = {**body, "settings": {"columns": ["name", "secret"]}}
    assert client.post("/api/v1/saved-views", json=bad, headers=vera).status_code == 422
    assert client.delete(f"/api/v1/saved-views/{view['view_id']}", headers=otto).status_code == 404
    assert client.delete(f"/api/v1/saved-views/{view['view_id']}", headers=vera).status_code == 204


def test_bulk_archive_coverage_and_export_all_or_nothing(client):
    manager = make_user(Role.MANAGER, email="mia.bulk@test.example")
    broker = make_user(Role.BROKER, email="bo.bulk@test.example")
    other = make_user(Role.BROKER, email="ola.bulk@test.example")
    mine = [make_firm(broker, name=f"Bulk Firm {i}").firm_id for i in range(3)]
    theirs = make_firm(other, name="Not Bo's Firm").firm_id
    bo = auth(get_token(client, "bo.bulk@test.example"))
    mia = auth(get_token(client, "mia.bulk@test.example"))

    # Export of a selection: only those firms (and only those one may see).
    r = client.get(
        "/api/v1/exports/firms.csv", params={"ids": f"{mine[0]},{mine[1]},{theirs}"}, headers=bo
    )
    assert r.status_code == 200
    assert "Bulk Firm 0" in r.text and "Bulk Firm 1" in r.text
    assert "Bulk Firm 2" not in r.text and "Not Bo's Firm" not in r.text

    # A broker may not assign coverage; a manager gives three firms the same coverage.
    body = {"action": "assign_coverage", "firm_ids": mine, "primary_broker_id": other.user_id}
    assert client.post("/api/v1/bulk/firms", json=body, headers=bo).status_code == 403
    r = client.post("/api/v1/bulk/firms", json=body, headers=mia)
    assert r.status_code == 200, r.text
    assert r.json() == {"action": "assign_coverage", "count": 3}
    firm = client.get(f"/api/v1/firms/{mine[0]}", headers=mia).json()
    assert firm["coverage"]["primary"]["user_id"] == other.user_id

    # Archive: one firm the caller may not see and nothing is archived.
    ola = auth(get_token(client, "ola.bulk@test.example"))
    r = client.post(
        "/api/v1/bulk/firms", json={"action": "archive", "firm_ids": [theirs, 999999]}, headers=ola
    )
    assert r.status_code == 404
    assert client.get(f"/api/v1/firms/{theirs}", headers=ola).status_code == 200
    r = client.post(
        "/api/v1/bulk/firms", json={"action": "archive", "firm_ids": [theirs]}, headers=ola
    )
    assert r.status_code == 200 and r.json()["count"] == 1
    assert client.get(f"/api/v1/firms/{theirs}", headers=ola).status_code == 404
    assert client.post("/api/v1/bulk/firms", json={"action": "archive", "firm_ids": []},
                       headers=ola).status_code == 422  # fmt: skip
    assert manager.user_id  # the manager exists for the coverage step


def test_saved_views_of_the_trader_list_take_its_own_filters(client):
    make_user(Role.BROKER, email="tia.traders@test.example")
    tia = auth(get_token(client, "tia.traders@test.example"))
    body = {
        "list_name": "traders",
        "name": "Heads of desk who left",
        "settings": {"q": "smith", "status": "left", "role": "Head of Desk", "sort": "updated",
                     "direction": "desc", "columns": ["name", "email", "firm", "updated"]},
    }  # fmt: skip
    r = client.post("/api/v1/saved-views", json=body, headers=tia)
    assert r.status_code == 201, r.text
    assert r.json()["settings"] == {**body["settings"], "q": "smith"}
    listed = client.get("/api/v1/saved-views", params={"list_name": "traders"}, headers=tia)
    assert [v["name"] for v in listed.json()] == ["Heads of desk who left"]
    # The firm list's views are apart; the trader list has no tier or coverage filter, and its
    # own columns, sorts and statuses.
    assert (
        client.get("/api/v1/saved-views", params={"list_name": "firms"}, headers=tia).json() == []
    )
    for bad in ({"tier": "A"}, {"coverage": "mine"}, {"sort": "tier"}, {"status": "Prospect"},
                {"columns": ["name", "tier"]}, {"role": "x" * 61}, {"role": 7}):  # fmt: skip
        r = client.post("/api/v1/saved-views", json={**body, "settings": bad}, headers=tia)
        assert r.status_code == 422, (bad, r.text)
    # A firm view does not take the trader list's role.
    r = client.post(
        "/api/v1/saved-views",
        json={"list_name": "firms", "name": "x", "settings": {"role": "Trader"}},
        headers=tia,
    )
    assert r.status_code == 422
