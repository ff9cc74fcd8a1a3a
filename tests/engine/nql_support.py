"""Shared data of the NQL API, saved-query, ``manage.py nql`` and Investigations tests.

A small fleet (five devices, one with a name that CSV must quote), saved queries with parameters of
several types, API credentials and OAuth tokens taken from the real token endpoint.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from ipaddress import IPv4Address

from django.test import Client

from engine.models import SavedQuery
from portal.models import ApiCredential
from tests.factories import make_device, make_engine

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECRET = "nql-test-secret-0123456789"
TOKEN_URL = "/oauth2/default/v1/token"
GIB = 1024**3
LAST_SEEN = datetime(2024, 3, 1, 10, 15, 2, 500000, tzinfo=UTC)

# name, platform, cpus, extra fields
FLEET = (
    ("DEV-00001", "windows", 4, {"total_ram": 8 * GIB, "last_seen": LAST_SEEN, "last_boot_duration": 12345,
                                 "system_drive_usage": 0.5, "last_ip_address": str(IPv4Address("10.0.0.1"))}),
    ("DEV-00002", "windows", 8, {}),
    ('Odd, "quoted" name', "windows", 2, {}),
    ("MAC-00004", "mac_os", 8, {}),
    ("PHONE-00005", "mobile", 6, {"device_type": "smartphone"}),
)

SAVED_QUERIES = {
    "#all_devices": "devices | list name, collector.uid, operating_system.platform, entity | sort name asc",
    "#devices_on_platform": "devices | where operating_system.platform == $platform | list name, collector.uid"
                            " | sort name asc",
    "#devices_with_cpus": "devices | where hardware.number_of_cpus >= $cpus | list name, hardware.number_of_cpus"
                          " | sort name asc",
    "#typed_values": "devices | where name == \"DEV-00001\" | list name, last_seen, hardware.memory,"
                     " boot.last_boot_duration, hardware.system_drive_usage, last_ip_address, hardware.model",
}


def make_fleet() -> None:
    engine = make_engine()
    for number, (name, platform, cpus, extra) in enumerate(FLEET, start=1):
        make_device(number, engine=engine, name=name, platform=platform, number_of_cpus=cpus, **extra)


def make_saved_queries() -> dict[str, SavedQuery]:
    return {nql_id: SavedQuery.objects.create(nql_id=nql_id, name=nql_id[1:].replace("_", " "), text=text)
            for nql_id, text in SAVED_QUERIES.items()}


def make_credential(client_id: str = "nql-test", scopes: str = "service:integration") -> ApiCredential:
    """A client-credentials API credential with secret ``SECRET`` (hashed with the test's hashers)."""
    return ApiCredential.objects.create(
        name=f"{client_id} credential", client_id=client_id, client_secret=SECRET, hash_client_secret=True,
        client_type=ApiCredential.CLIENT_CONFIDENTIAL,
        authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS, allowed_scopes=scopes,
    )


def basic(client_id: str, secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")


def token_for(client: Client, client_id: str, scope: str | None = None) -> str:
    """A Bearer token from the token endpoint (``POST /oauth2/default/v1/token``)."""
    body = "grant_type=client_credentials" + (f"&scope={scope}" if scope else "")
    response = client.post(TOKEN_URL, body, content_type="application/x-www-form-urlencoded",
                           HTTP_AUTHORIZATION=basic(client_id))
    assert response.status_code == 200, response.content
    return response.json()["access_token"]
