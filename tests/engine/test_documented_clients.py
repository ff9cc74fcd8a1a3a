"""The documented clients work unchanged against a real server: wget, Python requests, POST forms.

These tests run a live server, so pytest-django makes them transactional: each builds its own rows.
"""

import base64
import shutil
import subprocess
import urllib.parse

import pytest
import requests
from django.test import Client

from tests.factories import make_device

PASSWORD = "documented-clients-pw"
QUERY = "(select (name platform total_ram) (from device) (order_by name))"


@pytest.fixture
def server(live_server, make_account, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    make_account("analyst", password=PASSWORD, finder_access=True)
    for number, platform in enumerate(["windows", "mac_os", "mobile", "windows"]):
        make_device(number, platform=platform, total_ram=(number + 1) * 2**30)
    return live_server.url


def expected_body(output_format="csv", **params) -> bytes:
    """What the in-process test client gets for the same request."""
    credentials = base64.b64encode(f"analyst:{PASSWORD}".encode()).decode()
    response = Client(HTTP_HOST="localhost").get(
        "/2/query", {"query": QUERY, "format": output_format, **params},
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.mark.skipif(shutil.which("wget") is None, reason="wget is not installed")
def test_wget_with_user_and_password_and_a_url_encoded_query(server):
    url = f"{server}/2/query?query={urllib.parse.quote(QUERY)}&format=csv"
    result = subprocess.run(
        ["wget", "--quiet", "--user=analyst", f"--password={PASSWORD}", "--output-document", "-", url],
        capture_output=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_body()
    assert result.stdout.startswith(b"name\tplatform\ttotal_ram\n")


def test_python_requests_with_basic_auth_and_json(server):
    response = requests.get(f"{server}/2/query", params={"query": QUERY, "format": "json"},
                            auth=("analyst", PASSWORD), timeout=60)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == expected_body("json")
    assert all(set(row) == {"name", "platform", "total_ram"} for row in response.json())


def test_post_form_body_with_repeated_platforms(server):
    response = requests.post(
        f"{server}/2/query",
        data={"query": QUERY, "format": "xml", "platform": ["windows", "mobile"], "hr": "true"},
        auth=("analyst", PASSWORD), timeout=60,
    )
    assert response.status_code == 200
    assert response.content == expected_body("xml", platform=["windows", "mobile"], hr="true")
    assert b"mac_os" not in response.content and b"mobile" in response.content


def test_wrong_password_gets_the_basic_challenge(server):
    response = requests.get(f"{server}/2/query", params={"query": QUERY}, auth=("analyst", "nope"), timeout=60)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="OpenDEX"'
    assert response.content == b""


