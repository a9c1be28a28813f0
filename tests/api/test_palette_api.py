"""GET /api/v1/palette over HTTP: a broker finds a trader in a few keystrokes; nothing unseen."""

from __future__ import annotations

from brm_app.models.user import Role
from tests.api.conftest import auth, get_token
from tests.factories import make_firm, make_trader, make_user


def test_palette_finds_what_the_caller_may_see(client):
    ben = make_user(Role.BROKER, email="ben.palette@test.example")
    carla = make_user(Role.BROKER, email="carla.palette@test.example")
    firm = make_firm(ben, name="Quayside Capital")
    make_firm(carla, name="Quayline Fund")
    make_trader(ben, firm.firm_id, name="Quentin Quayle", email="quentin@quayside.example")

    headers = auth(get_token(client, "ben.palette@test.example"))
    r = client.get("/api/v1/palette", params={"q": "quen"}, headers=headers)
    assert r.status_code == 200, r.text
    top = r.json()["items"][0]
    assert top["kind"] == "trader" and top["label"] == "Quentin Quayle"
    assert top["href"].startswith("/traders/")

    labels = [
        i["label"]
        for i in client.get("/api/v1/palette", params={"q": "quay"}, headers=headers).json()[
            "items"
        ]
    ]
    assert "Quayside Capital" in labels and "Quayline Fund" not in labels

    assert (
        client.get("/api/v1/palette", params={"q": "x" * 101}, headers=headers).status_code == 422
    )
    assert client.get("/api/v1/palette", params={"q": "quay"}).status_code == 401
