"""The REST API through an HTTP-level client (real requests through FastAPI, real database)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from brm_app.api.app import create_api
from tests.factories import PASSWORD


@pytest.fixture
def client(database_url) -> TestClient:
    with TestClient(create_api(), raise_server_exceptions=False) as c:
        yield c


def get_token(client: TestClient, email: str, password: str = PASSWORD) -> str:
    r = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def people(client):
    """The six callers of the access matrices (see tests/api/matrix_support.py)."""
    from tests.api.matrix_support import People

    return People()
