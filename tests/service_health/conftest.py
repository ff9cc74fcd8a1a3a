"""Fixtures of the services tests: the world (``world.py``), accounts, a fixed clock and an API caller."""

from __future__ import annotations

import base64

import pytest

from service_health import services
from tests.service_health.world import NOW, PASSWORD, World, build, make_profile_account

URL = "/api/beta/service/data/overview"


@pytest.fixture(autouse=True)
def _fast_hashers(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch):
    monkeypatch.setattr(services, "now", lambda: NOW)


@pytest.fixture
def world(db) -> World:
    return build()


@pytest.fixture
def accounts(world):
    """``admin`` (every entity), ``europe`` (view domain Geography/Europe, like the demo account),
    ``swiss`` (Geography/Europe/Switzerland), ``corporate`` (Organization/Corporate), ``partial`` and
    ``full`` (data privacy), ``viewer`` (no right at all) and ``gone`` (inactive)."""
    return {
        "admin": make_profile_account("admin", finder_access=True, administration=True),
        "europe": make_profile_account("europe", view_domain=world.nodes[("Geography", "Europe")]),
        "swiss": make_profile_account("swiss", view_domain=world.nodes[("Geography", "Europe", "Switzerland")]),
        "corporate": make_profile_account("corporate", view_domain=world.nodes[("Organization", "Corporate")]),
        "partial": make_profile_account("partial", data_privacy="partial"),
        "full": make_profile_account("full", data_privacy="full"),
        "viewer": make_profile_account("viewer"),
        "gone": make_profile_account("gone", is_active=False),
    }


def basic(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class Api:
    def __init__(self, client):
        self.client = client

    def get(self, params=None, *, user: str | None = "admin", password: str = PASSWORD, url: str = URL, **extra):
        if user is not None:
            extra.setdefault("HTTP_AUTHORIZATION", basic(user, password))
        return self.client.get(url, params or {}, **extra)

    def json(self, user: str = "admin", **params):
        params.setdefault("format", "json")
        response = self.get(params, user=user)
        assert response.status_code == 200, response.content
        return response.json()


@pytest.fixture
def api(client, accounts) -> Api:
    return Api(client)
