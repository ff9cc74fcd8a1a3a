"""Connector credentials: encryption at rest, URL and field rules, write-only admin, test connection."""

import base64
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from exporters import connectors
from exporters.models import ConnectorCredential
from portal.models import Account, Profile

PASSWORD = "pa55-w0rd-very-secret"
TOKEN = "bearer-token-very-secret"
CLIENT_SECRET = "client-secret-very-secret"
ISSUED = "issued-access-token-42"

pytestmark = pytest.mark.django_db

CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw
DgYDVQQKEwdBY21lIENvMB4XDTE3MTAyMDE5NDMwNloXDTE4MTAyMDE5NDMwNlow
EjEQMA4GA1UEChMHQWNtZSBDbzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABD0d
7VNhbWvZLWPuj/RtHFjvtJBEwOkhbN/BnnE8rnZR8+sbwnc/KhCk3FhnpHZnQz7B
5aETbbIgmuvewdjvSBSjYzBhMA4GA1UdDwEB/wQEAwICpDATBgNVHSUEDDAKBggr
BgEFBQcDATAPBgNVHRMBAf8EBTADAQH/MCkGA1UdEQQiMCCCDmxvY2FsaG9zdDo1
NDUzgg4xMjcuMC4wLjE6NTQ1MzAKBggqhkjOPQQDAgNIADBFAiEA2zpJEPQyz6/l
Wf86aX6PepsntZv2GYlA5UpabfT2EZICICpJ5h/iI+i341gBmLiAFQOyTDT+/wQc
6MF9+Yw1Yy0t
-----END CERTIFICATE-----
"""


def basic(**fields) -> ConnectorCredential:
    values = dict(name="ServiceNow", base_url="https://tool.example.com/api", auth_type="basic",
                  username="opendex", password=PASSWORD)
    values.update(fields)
    return ConnectorCredential(**values)


def errors_of(credential: ConnectorCredential) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        credential.full_clean()
    return caught.value.message_dict


# -- A real local HTTP server ----------------------------------------------------------------------


class Tool:
    """What the local server saw, and how it answers."""

    def __init__(self):
        self.requests: list[dict] = []
        self.token_calls: list[dict] = []
        self.expires_in = 3600
        self.api_status = 200


@pytest.fixture
def tool():
    state = Tool()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            state.requests.append({"path": self.path, "headers": dict(self.headers)})
            self.answer(state.api_status, {"ok": state.api_status == 200})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
            state.token_calls.append({"path": self.path, "headers": dict(self.headers), "form": form})
            self.answer(200, {"access_token": ISSUED, "token_type": "Bearer", "expires_in": state.expires_in})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    connectors.clear_token_cache()
    yield state
    server.shutdown()
    server.server_close()
    connectors.clear_token_cache()


# -- Encryption at rest ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_secrets_are_encrypted_at_rest_and_read_back():
    credential = ConnectorCredential.objects.create(
        name="All", base_url="https://tool.example.com", auth_type="basic", username="u", password=PASSWORD,
        token=TOKEN, client_secret=CLIENT_SECRET,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT password, token, client_secret FROM exporters_connectorcredential WHERE id = %s",
                       [credential.pk])
        row = cursor.fetchone()
    for stored, secret in zip(row, (PASSWORD, TOKEN, CLIENT_SECRET), strict=True):
        assert stored and secret not in stored
        assert stored.startswith("gAAAA")  # a Fernet token
    again = ConnectorCredential.objects.get(pk=credential.pk)
    assert (again.password, again.token, again.client_secret) == (PASSWORD, TOKEN, CLIENT_SECRET)
    assert PASSWORD not in repr(again) and PASSWORD not in str(again)


@pytest.mark.django_db
def test_a_blank_secret_stays_blank():
    credential = ConnectorCredential.objects.create(name="B", base_url="https://x.example", auth_type="bearer",
                                                    token=TOKEN)
    again = ConnectorCredential.objects.get(pk=credential.pk)
    assert again.password == "" and again.client_secret == "" and again.token == TOKEN


# -- Validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://tool.example.com", "https://tool.example.com:8443/api/",
                                 "https://10.0.0.5/base/path"])
def test_https_urls_are_accepted(url):
    basic(base_url=url).clean()


def test_plain_http_is_refused_unless_allowed_for_base_and_token_url():
    errors = errors_of(basic(base_url="http://tool.example.com"))
    assert "allow plain HTTP" in errors["base_url"][0]
    basic(base_url="http://tool.example.com", allow_plain_http=True).clean()

    oauth = dict(auth_type="oauth2_client_credentials", username="", password="", client_id="c",
                 client_secret=CLIENT_SECRET)
    errors = errors_of(basic(token_url="http://idp.example.com/token", **oauth))
    assert list(errors) == ["token_url"] and "https://" in errors["token_url"][0]
    basic(token_url="http://idp.example.com/token", allow_plain_http=True, **oauth).clean()
    basic(token_url="https://idp.example.com/token", **oauth).clean()


@pytest.mark.parametrize("url", ["ftp://tool.example.com", "tool.example.com", "https://user:pw@tool.example.com",
                                 "https://tool.example.com/api?x=1", "https://tool.example.com/#a", "https://",
                                 "https://tool.example.com:99999"])
def test_malformed_base_urls_are_refused(url):
    assert "base_url" in errors_of(basic(base_url=url))


def test_required_fields_per_auth_type_are_reported_at_their_fields_all_at_once():
    errors = errors_of(ConnectorCredential(name="n", base_url="http://x.example", auth_type="basic"))
    assert set(errors) == {"base_url", "username", "password"}
    assert errors["username"] == ["Basic authentication needs a user name."]
    assert errors["password"] == ["Basic authentication needs a password."]

    errors = errors_of(ConnectorCredential(name="n", base_url="https://x.example", auth_type="bearer"))
    assert errors == {"token": ["Bearer authentication needs a token."]}

    errors = errors_of(ConnectorCredential(name="n", base_url="https://x.example",
                                           auth_type="oauth2_client_credentials"))
    assert errors == {
        "token_url": ["OAuth2 client credentials need a token URL."],
        "client_id": ["OAuth2 client credentials need a client ID."],
        "client_secret": ["OAuth2 client credentials need a client secret."],
    }


def test_extra_headers_and_ca_bundle_are_validated():
    basic(extra_headers={"X-Source": "opendex"}, ca_bundle_pem=CERTIFICATE).clean()
    errors = errors_of(basic(extra_headers={"Authorization": "x", "bad name": "y", "X-N": 3},
                             ca_bundle_pem="not a certificate"))
    assert set(errors) == {"extra_headers", "ca_bundle_pem"}
    assert len(errors["extra_headers"]) == 3
    assert "PEM" in errors["ca_bundle_pem"][0]
    assert "extra_headers" in errors_of(basic(extra_headers=["X-A"]))
    broken = CERTIFICATE.replace("MIIBhTCC", "MIIBhXXX")
    assert "ca_bundle_pem" in errors_of(basic(ca_bundle_pem=broken))


# -- Admin -----------------------------------------------------------------------------------------


@pytest.fixture
def root(db) -> Client:
    profile = Profile.objects.create(name="Root", administration=True)
    account = Account(username="root", profile=profile, is_superuser=True, is_staff=True)
    account.set_unusable_password()
    account.save()
    client = Client()
    client.force_login(account)
    return client


def change_url(credential) -> str:
    return reverse("admin:exporters_connectorcredential_change", args=[credential.pk])


FORM = {"name": "Tool", "base_url": "https://tool.example.com", "auth_type": "basic", "username": "opendex",
        "password": "", "token": "", "token_url": "", "client_id": "", "client_secret": "", "scope": "",
        "audience": "", "client_auth": "basic_header", "extra_headers": "{}", "verify_tls": "on",
        "ca_bundle_pem": ""}


def test_admin_secrets_are_write_only_and_a_blank_field_keeps_the_stored_value(root):
    response = root.post(reverse("admin:exporters_connectorcredential_add"), {**FORM, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:3000]
    credential = ConnectorCredential.objects.get(name="Tool")
    assert credential.password == PASSWORD

    page = root.get(change_url(credential)).content.decode()
    assert PASSWORD not in page
    assert "password: stored" in page and "token: not set" in page
    assert 'type="password"' in page

    response = root.post(change_url(credential), {**FORM, "username": "renamed"})
    assert response.status_code == 302, response.content.decode()[:3000]
    credential.refresh_from_db()
    assert (credential.username, credential.password) == ("renamed", PASSWORD)

    response = root.post(change_url(credential), {**FORM, "password": "replaced-secret"})
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.password == "replaced-secret"


def test_admin_reports_missing_secrets_at_their_fields(root):
    response = root.post(reverse("admin:exporters_connectorcredential_add"), {**FORM, "auth_type": "bearer"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["token"] == ["Bearer authentication needs a token."]


def test_admin_test_connection_action_reports_reachability_without_secrets(root, tool, caplog):
    credential = basic(base_url=tool.url + "/api", allow_plain_http=True)
    credential.save()
    caplog.set_level(logging.DEBUG)
    response = root.post(reverse("admin:exporters_connectorcredential_changelist"),
                         {"action": "test_connection", "_selected_action": [credential.pk]}, follow=True)
    page = response.content.decode()
    assert "is reachable" in page and "HTTP 200" in page
    assert PASSWORD not in page and PASSWORD not in caplog.text
    assert tool.requests[0]["path"] == "/api"


def test_an_unused_credential_can_be_deleted(root):
    credential = basic()
    credential.save()
    response = root.post(reverse("admin:exporters_connectorcredential_delete", args=[credential.pk]),
                         {"post": "yes"})
    assert response.status_code == 302
    assert not ConnectorCredential.objects.exists()


# -- Test connection against a real server ---------------------------------------------------------


@pytest.mark.django_db
def test_basic_header_is_sent(tool):
    credential = basic(base_url=tool.url, allow_plain_http=True, extra_headers={"X-Source": "opendex"})
    credential.save()
    result = connectors.test_connection(credential)
    assert result.ok and result.status == 200
    headers = tool.requests[0]["headers"]
    expected = base64.b64encode(f"opendex:{PASSWORD}".encode()).decode()
    assert headers["Authorization"] == f"Basic {expected}"
    assert headers["X-Source"] == "opendex"


@pytest.mark.django_db
def test_bearer_token_is_sent_and_an_error_status_is_reported(tool):
    credential = ConnectorCredential.objects.create(name="B", base_url=tool.url + "/base/", auth_type="bearer",
                                                    token=TOKEN, allow_plain_http=True)
    tool.api_status = 403
    result = connectors.test_connection(credential)
    assert not result.ok and result.status == 403 and "HTTP 403" in result.message
    assert tool.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in result.message


def oauth(tool, **fields) -> ConnectorCredential:
    values = dict(name="O", base_url=tool.url + "/api", auth_type="oauth2_client_credentials",
                  token_url=tool.url + "/token", client_id="opendex-client", client_secret=CLIENT_SECRET,
                  scope="read write", audience="https://tool", allow_plain_http=True)
    values.update(fields)
    return ConnectorCredential.objects.create(**values)


@pytest.mark.django_db
def test_oauth2_token_is_obtained_with_client_credentials_and_cached(tool, caplog):
    caplog.set_level(logging.DEBUG)
    credential = oauth(tool)
    result = connectors.test_connection(credential)
    assert result.ok, result.message
    assert len(tool.token_calls) == 1
    call = tool.token_calls[0]
    assert call["path"] == "/token"
    assert call["form"] == {"grant_type": "client_credentials", "scope": "read write", "audience": "https://tool"}
    expected = base64.b64encode(f"opendex-client:{CLIENT_SECRET}".encode()).decode()
    assert call["headers"]["Authorization"] == f"Basic {expected}"
    assert tool.requests[0]["headers"]["Authorization"] == f"Bearer {ISSUED}"

    assert connectors.auth_headers(credential) == {"Authorization": f"Bearer {ISSUED}"}
    connectors.test_connection(ConnectorCredential.objects.get(pk=credential.pk))
    assert len(tool.token_calls) == 1  # cached

    connectors.refresh_token(credential)
    assert len(tool.token_calls) == 2
    for secret in (CLIENT_SECRET, ISSUED):
        assert secret not in caplog.text and secret not in result.message


@pytest.mark.django_db
def test_oauth2_body_fields_and_expiry_within_60_seconds_refetches(tool):
    tool.expires_in = 30  # already inside the 60 s margin: never reused
    credential = oauth(tool, client_auth="body_fields", scope="", audience="")
    connectors.auth_headers(credential)
    connectors.auth_headers(credential)
    assert len(tool.token_calls) == 2
    call = tool.token_calls[0]
    assert "Authorization" not in call["headers"]
    assert call["form"] == {"grant_type": "client_credentials", "client_id": "opendex-client",
                            "client_secret": CLIENT_SECRET}


@pytest.mark.django_db
def test_oauth2_a_401_refreshes_the_token_once(tool):
    credential = oauth(tool)
    tool.api_status = 401
    result = connectors.test_connection(credential)
    assert not result.ok and result.status == 401
    assert len(tool.token_calls) == 2 and len(tool.requests) == 2


@pytest.mark.django_db
def test_unreachable_destination_is_reported_without_secrets(caplog):
    caplog.set_level(logging.DEBUG)
    credential = basic(base_url="http://127.0.0.1:9", allow_plain_http=True)
    credential.save()
    result = connectors.test_connection(credential)
    assert not result.ok and "unreachable" in result.message
    assert PASSWORD not in result.message and PASSWORD not in caplog.text
    encoded = base64.b64encode(f"opendex:{PASSWORD}".encode()).decode()
    assert encoded not in caplog.text


@pytest.mark.django_db
def test_token_endpoint_failure_is_reported(tool):
    credential = oauth(tool, token_url="http://127.0.0.1:9/token")
    result = connectors.test_connection(credential)
    assert not result.ok and "no OAuth2 token" in result.message
    assert CLIENT_SECRET not in result.message and tool.requests == []
