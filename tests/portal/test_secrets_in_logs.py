"""Secrets never reach a log line (issue 8, "Security pass"): representative flows run with every logger at
DEBUG and SQL logging on, then the captured lines (messages, tracebacks, JSON as written) are searched for
every secret involved, raw and in the encodings a careless log would show (Basic header, base64)."""

from __future__ import annotations

import base64
import io
import json
import logging
from urllib.parse import quote_plus

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client

from engine.models import SavedQuery
from exporters.models import ConnectorCredential, Exporter
from exporters.services import run_exporter
from portal import logs
from portal.models import ApiCredential
from tests.exporters.sink import Answer, Sink, free_port, make_exporter
from tests.factories import make_device

ACCOUNT_PASSWORD = "Acct-Secret-7Qx1-pw"
WRONG_PASSWORD = "Wrong-Guess-9Zt3-pw"
CLIENT_SECRET = "Client-Secret-4Lm8-xx"
WRONG_CLIENT_SECRET = "Wrong-Client-2Hv6-xx"
FAKE_BEARER = "Fake-Bearer-5Pq0-token"
DEST_PASSWORD = "Dest-Password-3Rk5-xx"
DEST_TOKEN = "Dest-Token-8Ws2-xx"
DEST_CLIENT_SECRET = "Dest-Client-Secret-1Yb7"
DEMO_PASSWORD = "Demo-Seed-6Nc4-pw"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def forms(secret: str, usernames=("analyst", "admin-secrets", "integration", "opendex", "dest-client")) -> set[str]:
    """The secret, and how it would look in a logged Authorization header or body."""
    found = {secret, base64.b64encode(secret.encode()).decode().rstrip("=")}
    for username in usernames:
        found.add(base64.b64encode(f"{username}:{secret}".encode()).decode().rstrip("="))
    return found


def echo(received) -> Answer:
    """A destination that refuses and echoes what it got (headers and body) in its answer, as some do."""
    return Answer(401, body=f"denied: {received.headers} {received.body.decode(errors='replace')}".encode())


@pytest.fixture
def capture(caplog):
    """Every logger at DEBUG, SQL statements logged with their parameters."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")  # Django's own default is INFO for its loggers
    for connection in connections.all():
        connection.force_debug_cursor = True
    yield caplog
    for connection in connections.all():
        connection.force_debug_cursor = False


def logged_text(caplog) -> str:
    formatter = logs.JsonFormatter()
    lines = [caplog.text]
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(formatter.format(record))
    return "\n".join(lines)


@pytest.mark.django_db(transaction=True)  # exporter runs write on a connection of their own
def test_no_secret_in_the_logs_of_authentication_exporters_and_the_demo_seeder(capture, make_account, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EXPORT_RETRY_BASE_SECONDS = 0.01
    settings.EXPORT_RETRY_MAX_SECONDS = 0.02
    secrets = {ACCOUNT_PASSWORD, WRONG_PASSWORD, CLIENT_SECRET, WRONG_CLIENT_SECRET, FAKE_BEARER, DEST_PASSWORD,
               DEST_TOKEN, DEST_CLIENT_SECRET}
    make_device(1)
    make_account("analyst", ACCOUNT_PASSWORD, finder_access=True, allow_remote_action_api=True)
    make_account("admin-secrets", ACCOUNT_PASSWORD, administration=True)
    client = Client()

    # Basic authentication: wrong and right passwords on the Basic endpoints.
    assert client.get("/2/query", {"query": "(select (name) (from device))"},
                      HTTP_AUTHORIZATION=basic("analyst", WRONG_PASSWORD)).status_code == 401
    response = client.get("/2/query", {"query": "(select (name) (from device))"},
                          HTTP_AUTHORIZATION=basic("analyst", ACCOUNT_PASSWORD))
    assert response.status_code == 200 and b"DEV-00001" in b"".join(response.streaming_content)
    assert client.post("/api/remoteaction/v2/run", "{}", content_type="application/json",
                       HTTP_AUTHORIZATION=basic("analyst", WRONG_PASSWORD)).status_code == 401
    assert client.get("/api/config/v1/exporters",
                      HTTP_AUTHORIZATION=basic("admin-secrets", WRONG_PASSWORD)).status_code == 401

    # OAuth: token requests with a wrong and the right secret (both endpoints), the token used, a fake one.
    ApiCredential.objects.create(
        name="integration", client_id="integration", client_secret=CLIENT_SECRET, hash_client_secret=True,
        client_type=ApiCredential.CLIENT_CONFIDENTIAL, authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes="service:integration",
    )
    form = "application/x-www-form-urlencoded"
    for path in ("/oauth2/default/v1/token", "/api/v1/token"):
        assert client.post(path, "grant_type=client_credentials", content_type=form,
                           HTTP_AUTHORIZATION=basic("integration", WRONG_CLIENT_SECRET)).status_code == 401
    tokens = []
    for path in ("/oauth2/default/v1/token", "/api/v1/token"):
        response = client.post(path, "grant_type=client_credentials", content_type=form,
                               HTTP_AUTHORIZATION=basic("integration", CLIENT_SECRET))
        assert response.status_code == 200
        tokens.append(response.json()["access_token"])
    secrets.update(tokens)
    SavedQuery.objects.create(nql_id="#names", name="names", text="devices | list name")
    response = client.post("/api/v2/nql/execute", json.dumps({"queryId": "#names"}), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {tokens[0]}")
    assert response.status_code == 200
    assert client.post("/api/v2/nql/execute", json.dumps({"queryId": "#names"}), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {FAKE_BEARER}").status_code == 401
    assert client.get("/api/v1/act/remote-action", HTTP_AUTHORIZATION=f"Bearer {FAKE_BEARER}").status_code == 401

    # Connector credentials created through the Configuration API, then tested against failing destinations.
    admin_auth = basic("admin-secrets", ACCOUNT_PASSWORD)
    with Sink(responder=echo) as destination, Sink(responder=lambda received: Answer(
            400, body=b"bad client: " + received.body + str(received.headers).encode())) as token_endpoint:
        oauth = {"auth_type": "oauth2_client_credentials", "token_url": token_endpoint.url + "/token",
                 "client_id": "dest-client", "client_secret": DEST_CLIENT_SECRET, "allow_plain_http": True}
        bodies = [
            {"name": "basic", "base_url": destination.url, "auth_type": "basic", "username": "opendex",
             "password": DEST_PASSWORD, "allow_plain_http": True},
            {"name": "bearer", "base_url": f"http://127.0.0.1:{free_port()}/api", "auth_type": "bearer",
             "token": DEST_TOKEN, "allow_plain_http": True},
            {"name": "oauth-body", "base_url": destination.url, "client_auth": "body", **oauth},
            {"name": "oauth-header", "base_url": destination.url, "client_auth": "basic", **oauth},
        ]
        for body in bodies:
            response = client.post("/api/config/v1/connector-credentials", json.dumps(body),
                                   content_type="application/json", HTTP_AUTHORIZATION=admin_auth)
            assert response.status_code == 201, response.content
            uid = response.json()["uid"]
            response = client.post(f"/api/config/v1/connector-credentials/{uid}/test", "{}",
                                   content_type="application/json", HTTP_AUTHORIZATION=admin_auth)
            assert response.status_code == 200, response.content
            assert response.json()["ok"] is False, response.content
            for secret in (DEST_PASSWORD, DEST_TOKEN, DEST_CLIENT_SECRET):
                assert secret not in response.content.decode()  # nor in what the portal shows

        # An exporter run that fails: the destination refuses, echoing the credentials it was sent.
        exporter = make_exporter(ConnectorCredential.objects.get(name="basic"),
                                 [("devices | list name", "collection", '{"device": "{{device.name}}"}')])
        run = run_exporter(exporter.pk, trigger="manual")
        assert run.status == "failed", run.last_error
        assert DEST_PASSWORD not in run.last_error
        destination.default = Answer(500, body=b"oops: " + DEST_PASSWORD.encode())
        Exporter.objects.filter(pk=exporter.pk).update(credential=ConnectorCredential.objects.get(name="oauth-body"))
        assert run_exporter(exporter.pk, trigger="manual").status == "failed"
        assert destination.requests, "the destination was called"

    # The demo seeder, given its password.
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", devices=3, days=1, password=DEMO_PASSWORD, reset=True, stdout=out, stderr=err)
    secrets.add(DEMO_PASSWORD)
    assert DEMO_PASSWORD not in out.getvalue() + err.getvalue()

    text = logged_text(capture)
    assert any(record.name == "django.db.backends" for record in capture.records)  # SQL with its parameters
    assert len(capture.records) > 50  # the flows did log (requests, SQL, warnings of the failures)
    leaked = sorted({secret for secret in secrets for form in forms(secret) if form in text})
    assert not leaked, f"secrets found in the logs: {leaked}"


def test_scrub_hides_every_form_in_which_a_credential_travels():
    """What a destination may echo back into a run's error (stored, shown, logged): the Basic header built
    from the password, a form-encoded client secret, the OAuth2 token obtained with it."""
    from exporters import connectors

    password = "pä ss/+&=secret"
    basic_credential = ConnectorCredential(name="b", auth_type="basic", username="opendex", password=password)
    header = connectors.auth_headers(basic_credential)["Authorization"]
    scrubbed = connectors.scrub(f"echo: {header} | {quote_plus(password)} | {password}", basic_credential)
    for form in (header.split()[1], quote_plus(password), password):
        assert form not in scrubbed
    assert scrubbed.startswith("echo: Basic ••••")

    oauth = ConnectorCredential(name="o", auth_type="oauth2_client_credentials", token_url="https://id.example.com/t",
                                client_id="dest-client", client_secret=DEST_CLIENT_SECRET)
    connectors._tokens[connectors._cache_key(oauth)] = connectors.CachedToken("obtained-access-token-xyz", None)
    try:
        client_header = base64.b64encode(f"dest-client:{DEST_CLIENT_SECRET}".encode()).decode()
        text = f"Authorization: Bearer obtained-access-token-xyz; token request: Basic {client_header}"
        assert connectors.scrub(text, oauth) == "Authorization: Bearer ••••; token request: Basic ••••"
    finally:
        connectors.clear_token_cache()
