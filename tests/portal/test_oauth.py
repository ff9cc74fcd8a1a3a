"""OAuth 2.0 client credentials: token endpoints, Bearer tokens and scopes (remote-actions.md, "Tokens")."""

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import AccessToken, revoke_access_token

from portal import oauth, throttling
from portal.models import ApiCredential, AuthenticationFailure
from tests.clock import Clock

pytestmark = pytest.mark.django_db

TOKEN_URL = "/oauth2/default/v1/token"
LEGACY_URL = "/api/v1/token"
FORM = "application/x-www-form-urlencoded"
BASIC_CHALLENGE = 'Basic realm="OpenDEX"'
SECRET = "s3cret-Value_0123456789"
GRANT = "grant_type=client_credentials"


def basic(client_id, secret=SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(throttling, "now", fake)
    monkeypatch.setattr(throttling, "_next_prune_at", None)
    monkeypatch.setattr(oauth, "now", fake)
    return fake


@pytest.fixture
def fast_hashes(settings):
    """A cheap hasher, for tests that check secrets many times."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_credential(fast_hashes):
    def make(client_id="integration", scopes="service:integration", secret=SECRET, **fields):
        return ApiCredential.objects.create(
            client_id=client_id, name=f"credential {client_id}", allowed_scopes=scopes,
            client_type=ApiCredential.CLIENT_CONFIDENTIAL,
            authorization_grant_type=fields.pop("grant", ApiCredential.GRANT_CLIENT_CREDENTIALS),
            client_secret=make_password(secret), hash_client_secret=True, **fields,
        )

    return make


@pytest.fixture
def client():
    return Client()


@pytest.fixture
def post(client):
    def send(path=TOKEN_URL, body=GRANT, authorization=None, content_type=FORM, address="10.0.0.1", **extra):
        if authorization is not None:
            extra["HTTP_AUTHORIZATION"] = authorization
        return client.generic("POST", path, body, content_type=content_type, REMOTE_ADDR=address, **extra)

    return send


@pytest.fixture
def get_token(post):
    def issue(client_id="integration", secret=SECRET, scope=None) -> str:
        body = GRANT + (f"&scope={scope}" if scope else "")
        response = post(body=body, authorization=basic(client_id, secret))
        assert response.status_code == 200, response.content
        return response.json()["access_token"]

    return issue


def error(response, status, code):
    assert response.status_code == status, response.content
    assert response.json() == {"error": code}
    assert response["Cache-Control"] == "no-store"


def assert_invalid_client(response):
    error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"] == BASIC_CHALLENGE


def failures() -> int:
    return AuthenticationFailure.objects.count()


# -- issuing tokens (through the project's own URLconf) ------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        (TOKEN_URL, GRANT, FORM),
        (TOKEN_URL + "/", GRANT, FORM),
        (TOKEN_URL, GRANT + "&scope=service:integration", FORM),
        (LEGACY_URL, "", FORM),
        (LEGACY_URL + "/", "", FORM),
        (LEGACY_URL, "", "application/json"),  # an empty body, whatever its type
        (LEGACY_URL, GRANT, FORM),
    ],
)
def test_both_endpoints_issue_a_token_with_the_exact_body(make_credential, post, path, body, content_type):
    make_credential()
    response = post(path, body=body, authorization=basic("integration"), content_type=content_type)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store" and response["Pragma"] == "no-cache"
    answer = response.json()
    assert list(answer) == ["token_type", "expires_in", "access_token", "scope"]
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 900
    assert answer["scope"] == "service:integration"
    assert isinstance(answer["access_token"], str) and len(answer["access_token"]) >= 40
    row = AccessToken.objects.get()
    assert row.application.client_id == "integration" and row.user is None
    assert row.scope == "service:integration"
    assert row.expires == oauth.now() + timedelta(seconds=900)


def test_each_request_gets_a_new_token(make_credential, get_token):
    make_credential()
    assert len({get_token() for _ in range(3)}) == 3
    assert AccessToken.objects.count() == 3


@pytest.mark.parametrize(
    ("allowed", "asked", "granted"),
    [
        ("service:integration", None, "service:integration"),
        ("service:integration", "", "service:integration"),
        ("service:integration", "nql", "nql"),
        ("service:integration", "remote_actions", "remote_actions"),
        ("service:integration", "remote_actions nql", "nql remote_actions"),
        ("service:integration", "nql  nql", "nql"),
        ("nql", None, "nql"),
        ("nql", "nql", "nql"),
        ("nql remote_actions", None, "nql remote_actions"),
        ("nql remote_actions", "remote_actions", "remote_actions"),
    ],
)
def test_the_granted_scope_is_the_credentials_or_the_asked_subset(make_credential, post, allowed, asked, granted):
    make_credential(scopes=allowed)
    body = GRANT if asked is None else f"{GRANT}&scope={asked.replace(' ', '+')}"
    response = post(body=body, authorization=basic("integration"))
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == granted
    assert AccessToken.objects.get().scope == granted


def test_legacy_endpoint_narrows_the_scope_too(make_credential, post):
    make_credential()
    response = post(LEGACY_URL, body="scope=nql", authorization=basic("integration"))
    assert response.json()["scope"] == "nql"


@pytest.mark.parametrize(
    ("allowed", "asked"),
    [
        ("nql", "remote_actions"),
        ("nql", "service:integration"),
        ("nql", "nql remote_actions"),
        ("remote_actions", "nql"),
        ("service:integration", "admin"),
        ("service:integration", "read write"),
        ("", None),  # nothing to grant
    ],
)
def test_a_scope_the_credential_lacks_is_invalid_scope(make_credential, post, allowed, asked):
    make_credential(scopes=allowed)
    body = GRANT if asked is None else f"{GRANT}&scope={asked.replace(' ', '+')}"
    error(post(body=body, authorization=basic("integration")), 400, "invalid_scope")
    error(post(LEGACY_URL, body=body, authorization=basic("integration")), 400, "invalid_scope")
    assert not AccessToken.objects.exists()
    assert failures() == 0


# -- client authentication -----------------------------------------------------------------------


@pytest.mark.parametrize("path", [TOKEN_URL, LEGACY_URL])
def test_wrong_secret_and_unknown_client_are_invalid_client_and_count(make_credential, post, path):
    make_credential()
    assert_invalid_client(post(path, authorization=basic("integration", "wrong")))
    assert_invalid_client(post(path, authorization=basic("integration", "")))
    assert_invalid_client(post(path, authorization=basic("nobody")))
    assert_invalid_client(post(path, authorization=basic("", SECRET)))
    assert_invalid_client(post(path, authorization=basic("in\x00tegration")))
    assert_invalid_client(post(path, authorization=basic("integration" * 50)))
    assert AuthenticationFailure.objects.filter(kind="account", key="client:integration").count() == 2
    assert AuthenticationFailure.objects.filter(kind="account", key="client:nobody").count() == 1
    assert AuthenticationFailure.objects.filter(kind="address", key="10.0.0.1").count() == 6
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Basic", "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(),
     "Bearer abc", "Digest username=x", "Basic a b", "Basic \u20ac"],
)
@pytest.mark.parametrize("path", [TOKEN_URL, LEGACY_URL])
def test_missing_or_malformed_basic_is_invalid_client_not_counted(make_credential, post, path, authorization):
    make_credential()
    assert_invalid_client(post(path, authorization=authorization))
    assert failures() == 0


def test_credentials_in_the_body_do_not_authenticate(make_credential, post):
    make_credential()
    body = f"{GRANT}&client_id=integration&client_secret={SECRET}"
    assert_invalid_client(post(body=body))
    assert failures() == 0


def test_the_secret_is_checked_against_the_hash_created_like_the_demo(post, settings):
    """``portal.demo`` stores ``make_password(password)`` (Argon2) with ``hash_client_secret``."""
    assert settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    password_hash = make_password("demo password")
    for client_id, scopes in (("demo-client", "service:integration"), ("demo-nql-only", "nql")):
        ApiCredential.objects.create(
            client_id=client_id, name=client_id, allowed_scopes=scopes,
            client_type=ApiCredential.CLIENT_CONFIDENTIAL,
            authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS,
            client_secret=password_hash, hash_client_secret=True,
        )
    stored = ApiCredential.objects.get(client_id="demo-client").client_secret
    assert stored == password_hash and stored.startswith("argon2")
    response = post(authorization=basic("demo-client", "demo password"))
    assert response.status_code == 200 and response.json()["scope"] == "service:integration"
    response = post(authorization=basic("demo-nql-only", "demo password"))
    assert response.status_code == 200 and response.json()["scope"] == "nql"
    error(post(body=GRANT + "&scope=remote_actions", authorization=basic("demo-nql-only", "demo password")),
          400, "invalid_scope")
    assert_invalid_client(post(authorization=basic("demo-client", "demo passwor")))
    assert_invalid_client(post(authorization=basic("demo-client", stored)))  # the hash is no secret


def test_a_secret_set_in_plain_is_hashed_by_the_toolkit_and_accepted(fast_hashes, post):
    credential = ApiCredential.objects.create(
        client_id="plain", name="plain", client_type=ApiCredential.CLIENT_CONFIDENTIAL,
        authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS, client_secret=SECRET,
    )
    credential.refresh_from_db()
    assert credential.client_secret != SECRET
    assert post(authorization=basic("plain")).status_code == 200


def test_non_utf8_credentials_are_read_as_latin1(make_credential, post):
    make_credential(client_id="caf\u00e9", secret="s\u00e9cret")
    raw = base64.b64encode("caf\u00e9:s\u00e9cret".encode("latin-1")).decode()
    assert post(authorization="Basic " + raw).status_code == 200
    utf8 = base64.b64encode("caf\u00e9:s\u00e9cret".encode()).decode()
    assert post(authorization="Basic " + utf8).status_code == 200


def test_a_credential_of_another_grant_type_is_unauthorized_client(make_credential, post):
    make_credential(grant=ApiCredential.GRANT_AUTHORIZATION_CODE, redirect_uris="https://example.com/cb")
    error(post(authorization=basic("integration")), 400, "unauthorized_client")
    assert not AccessToken.objects.exists()


# -- grant types and bodies ----------------------------------------------------------------------


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token",
                                        "client-credentials", "CLIENT_CREDENTIALS", "urn:x\x00"])
@pytest.mark.parametrize("path", [TOKEN_URL, LEGACY_URL])
def test_other_grant_types_are_unsupported(make_credential, post, path, grant_type):
    make_credential()
    body = "grant_type=" + grant_type.replace("\x00", "%00")
    error(post(path, body=body, authorization=basic("integration")), 400, "unsupported_grant_type")
    assert not AccessToken.objects.exists()


def test_the_client_is_authenticated_before_the_body_is_read(make_credential, post):
    make_credential()
    assert_invalid_client(post(body="grant_type=password", authorization=basic("integration", "wrong")))
    assert_invalid_client(post(body="{}", content_type="application/json", authorization=basic("x")))
    assert failures() == 4  # two failures, each for the client and the address


@pytest.mark.parametrize(
    "body",
    ["", "scope=nql", "grant_type=", "grant_type", "grant_type=client_credentials&grant_type=client_credentials",
     "grant_type=client_credentials&scope=nql&scope=nql"],
)
def test_missing_or_repeated_parameters_are_invalid_request(make_credential, post, body):
    make_credential()
    error(post(body=body, authorization=basic("integration")), 400, "invalid_request")
    assert failures() == 0


def test_the_legacy_endpoint_implies_the_grant_type(make_credential, post):
    make_credential()
    assert post(LEGACY_URL, body="scope=nql", authorization=basic("integration")).status_code == 200
    assert post(LEGACY_URL, body="grant_type=", authorization=basic("integration")).status_code == 200
    error(post(LEGACY_URL, body=GRANT + "&" + GRANT, authorization=basic("integration")), 400, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        GRANT + "&foo=bar",
        GRANT + "&foo=1&foo=2&client_id=someone-else&audience=x",
        "foo&" + GRANT + "&&=x",
        "scope=nql&grant_type=client_credentials",
        "grant_type=client%5Fcredentials",
        "grant_type=client_credentials&scope=",
    ],
)
def test_form_variants_and_unknown_fields_are_accepted(make_credential, post, body):
    make_credential()
    response = post(body=body, authorization=basic("integration"))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "content_type", [FORM + "; charset=UTF-8", FORM + ";charset=utf8", FORM + "; charset=ISO-8859-1",
                     FORM + "; charset=us-ascii", "Application/X-WWW-Form-URLEncoded"],
)
def test_form_content_type_parameters(make_credential, post, content_type):
    make_credential()
    assert post(body=GRANT, content_type=content_type, authorization=basic("integration")).status_code == 200


@pytest.mark.parametrize("path", [TOKEN_URL, LEGACY_URL])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (json.dumps({"grant_type": "client_credentials"}), "application/json"),
        ("{}", "application/json"),
        ("[1, 2", "application/json"),
        (GRANT, "text/plain"),
        (GRANT, ""),
        (GRANT, "multipart/form-data; boundary=x"),
        (GRANT.encode("utf-16"), FORM + "; charset=utf-16"),
        (GRANT, FORM + "; charset=bogus"),
        (GRANT, FORM + "; charset=rot13"),
        (GRANT + "&scope=n\xe9ql".encode().decode("latin-1"), FORM + "; charset=ascii"),
        (b"grant_type=client_credentials&scope=\xff\xfe", FORM),
        (GRANT + "&scope=%ff%fe", FORM),
        (b"\x00\x01\x02\xff" * 100, FORM),
        ("&".join(f"f{i}=v" for i in range(100)) + "&" + GRANT, FORM),
    ],
)
def test_bodies_that_are_not_a_readable_form_are_invalid_request(make_credential, post, path, body, content_type):
    make_credential()
    if isinstance(body, str) and not body.isascii():
        body = body.encode("latin-1")
    error(post(path, body=body, content_type=content_type, authorization=basic("integration")),
          400, "invalid_request")
    assert not AccessToken.objects.exists()
    assert failures() == 0


@pytest.mark.parametrize("path", [TOKEN_URL, LEGACY_URL])
def test_a_3_mb_body_is_refused_not_a_crash(make_credential, post, path):
    make_credential()
    body = GRANT + "&pad=" + "x" * (3 * 1024 * 1024)
    error(post(path, body=body, authorization=basic("integration")), 413, "invalid_request")
    error(post(path, body=b"\xff" * (3 * 1024 * 1024), content_type="application/octet-stream",
               authorization=basic("integration")), 413, "invalid_request")
    assert not AccessToken.objects.exists()


def test_a_broken_content_length_is_invalid_request_not_a_crash(make_credential, post):
    make_credential()
    for path in (TOKEN_URL, LEGACY_URL):
        for length in ("abc", "-5", "1e3", " "):
            response = post(path, body=GRANT, authorization=basic("integration"), CONTENT_LENGTH=length)
            error(response, 400, "invalid_request")
    assert failures() == 0


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch", "options"])
@pytest.mark.parametrize("path", [TOKEN_URL, LEGACY_URL])
def test_other_methods_answer_405(make_credential, client, path, method):
    make_credential()
    response = getattr(client, method)(path, HTTP_AUTHORIZATION=basic("integration"))
    error(response, 405, "invalid_request")
    assert response["Allow"] == "POST"


def test_no_csrf_token_is_needed(make_credential):
    make_credential()
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(TOKEN_URL, GRANT, content_type=FORM, HTTP_AUTHORIZATION=basic("integration"))
    assert response.status_code == 200


def test_an_unexpected_failure_is_a_json_500_with_a_request_id(make_credential, post, monkeypatch):
    make_credential()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(oauth, "issue_token", broken)
    response = post(authorization=basic("integration"))
    error(response, 500, "server_error")
    assert len(response["X-Request-Id"]) == 32
    assert b"boom" not in response.content


# -- throttling ----------------------------------------------------------------------------------


def test_ten_wrong_secrets_throttle_the_client_even_with_the_right_secret(make_credential, post, clock):
    make_credential()
    make_credential(client_id="other")
    for _ in range(10):
        assert_invalid_client(post(authorization=basic("integration", "wrong")))
        clock.advance(1)
    for path in (TOKEN_URL, LEGACY_URL):
        response = post(path, authorization=basic("integration"))
        error(response, 429, "too_many_requests")
        assert response["Retry-After"] == str(300 - 10)
    # a throttled attempt is not checked and does not count
    assert AuthenticationFailure.objects.filter(kind="account", key="client:integration").count() == 10
    assert post(authorization=basic("other")).status_code == 200
    assert post(authorization=basic("other"), address="10.9.9.9").status_code == 200
    # the client is throttled from any address
    error(post(authorization=basic("integration"), address="10.9.9.9"), 429, "too_many_requests")
    clock.advance(290)
    assert post(authorization=basic("integration")).status_code == 200


def test_client_ids_and_account_names_are_throttled_apart(make_credential, make_account, post):
    make_credential(client_id="alice")
    for _ in range(10):
        post(authorization=basic("alice", "wrong"))
    assert not AuthenticationFailure.objects.filter(key="alice").exists()
    assert AuthenticationFailure.objects.filter(kind="account", key="client:alice").count() == 10


def test_an_address_over_the_limit_is_throttled_for_every_client(make_credential, post, settings):
    settings.AUTH_THROTTLE_MAX_FAILURES_PER_ADDRESS = 5
    make_credential()
    for index in range(5):
        assert_invalid_client(post(authorization=basic(f"guess-{index}")))
    response = post(authorization=basic("integration"))
    error(response, 429, "too_many_requests")
    assert int(response["Retry-After"]) == 300
    assert post(authorization=basic("integration"), address="10.0.0.2").status_code == 200


# -- Bearer tokens on a protected view -----------------------------------------------------------


@pytest.fixture
def call(client):
    def get(path="/protected/nql", authorization=None, **extra):
        if authorization is not None:
            extra["HTTP_AUTHORIZATION"] = authorization
        return client.get(path, REMOTE_ADDR="10.0.0.1", **extra)

    return get


def bearer(token: str) -> str:
    return f"Bearer {token}"


def assert_bearer_401(response):
    assert response.status_code == 401
    assert response.content == b""
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.urls("tests.portal.oauth_urls")
@pytest.mark.parametrize(
    ("allowed", "asked", "nql", "remote_actions"),
    [
        ("service:integration", None, 200, 200),
        ("service:integration", "nql", 200, 403),
        ("service:integration", "remote_actions", 403, 200),
        ("nql", None, 200, 403),
        ("remote_actions", None, 403, 200),
        ("nql remote_actions", None, 200, 200),
    ],
)
def test_scopes_guard_the_protected_views(make_credential, get_token, call, allowed, asked, nql, remote_actions):
    make_credential(scopes=allowed)
    token = get_token(scope=asked)
    assert call("/protected/nql", bearer(token)).status_code == nql
    assert call("/protected/remote-actions", bearer(token)).status_code == remote_actions
    assert call("/protected/any", bearer(token)).status_code == 200


@pytest.mark.urls("tests.portal.oauth_urls")
def test_request_auth_holds_the_credential_and_the_scopes(make_credential, get_token, call):
    make_credential(scopes="nql remote_actions")
    response = call("/protected/any", bearer(get_token(scope="nql")))
    assert response.json() == {"client_id": "integration", "scopes": ["nql"], "user": None}


@pytest.mark.urls("tests.portal.oauth_urls")
def test_a_refused_scope_is_403_not_401(make_credential, get_token, call):
    make_credential(scopes="remote_actions")
    response = call("/protected/nql", bearer(get_token()))
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response
    assert failures() == 0


@pytest.mark.urls("tests.portal.oauth_urls")
@pytest.mark.parametrize("path", ["/protected/nql", "/protected/any", "/protected/handler"])
def test_missing_basic_or_garbage_credentials_are_401_without_body(make_credential, get_token, call, path):
    make_credential()
    token = get_token()
    for authorization in (
        None, "", basic("integration"), "Basic " + token, "Bearer", "Bearer ", f"Bearer {token} extra",
        "Bearer garbage", "Bearer " + token[:-1], "Bearer " + "x" * 5000, "Token " + token,
        f"Bearer {token}\u20ac", "Bearer " + hashlib.sha256(token.encode()).hexdigest(),
    ):
        assert_bearer_401(call(path, authorization))
    assert failures() == 0  # Bearer lookups never count
    assert call(path, bearer(token)).status_code == 200
    assert call(path, f"bearer  {token}").status_code == 200


@pytest.mark.urls("tests.portal.oauth_urls")
def test_the_exception_handler_keeps_other_errors(make_credential, get_token, call):
    make_credential(scopes="remote_actions")
    response = call("/protected/handler", bearer(get_token()))
    assert response.status_code == 403 and response.json()["detail"]


@pytest.mark.urls("tests.portal.oauth_urls")
def test_a_token_lives_900_seconds(make_credential, get_token, call, clock):
    make_credential()
    token = get_token()
    clock.advance(899)
    assert call("/protected/nql", bearer(token)).status_code == 200
    clock.advance(0.999)
    assert call("/protected/nql", bearer(token)).status_code == 200
    clock.advance(0.001)
    assert_bearer_401(call("/protected/nql", bearer(token)))
    clock.advance(3600)
    assert_bearer_401(call("/protected/nql", bearer(token)))
    # a new token works again
    assert call("/protected/nql", bearer(get_token())).status_code == 200


@pytest.mark.urls("tests.portal.oauth_urls")
def test_a_revoked_token_is_refused(make_credential, get_token, call):
    make_credential()
    first, second = get_token(), get_token()
    AccessToken.objects.get(token_checksum=oauth.token_checksum(first)).delete()
    assert_bearer_401(call("/protected/nql", bearer(first)))
    revoke_access_token(AccessToken.objects.get(token_checksum=oauth.token_checksum(second)))
    assert_bearer_401(call("/protected/nql", bearer(second)))


@pytest.mark.urls("tests.portal.oauth_urls")
def test_deleting_the_credential_revokes_its_tokens(make_credential, get_token, call):
    credential = make_credential()
    token = get_token()
    credential.delete()
    assert not AccessToken.objects.exists()
    assert_bearer_401(call("/protected/nql", bearer(token)))


@pytest.mark.urls("tests.portal.oauth_urls")
def test_narrowing_a_credential_takes_effect_on_issued_tokens(make_credential, get_token, call):
    credential = make_credential()
    token = get_token()
    credential.allowed_scopes = "remote_actions"
    credential.save()
    assert call("/protected/nql", bearer(token)).status_code == 403
    assert call("/protected/remote-actions", bearer(token)).status_code == 200
    credential.allowed_scopes = ""
    credential.save()
    assert call("/protected/remote-actions", bearer(token)).status_code == 403
    assert call("/protected/any", bearer(token)).json()["scopes"] == []
    credential.allowed_scopes = "nql remote_actions service:integration"
    credential.save()
    assert call("/protected/nql", bearer(token)).status_code == 200


@pytest.mark.urls("tests.portal.oauth_urls")
def test_a_toolkit_token_without_credential_is_refused(make_credential, call, clock):
    AccessToken.objects.create(token="orphan-token-value", expires=clock() + timedelta(seconds=60),
                               scope="service:integration")
    assert_bearer_401(call("/protected/nql", bearer("orphan-token-value")))


# -- storage -------------------------------------------------------------------------------------


def test_tokens_are_not_stored_in_clear(make_credential, get_token):
    make_credential()
    token = get_token()
    row = AccessToken.objects.get()
    assert row.token == ""
    assert row.token_checksum == hashlib.sha256(token.encode()).hexdigest()
    values = AccessToken.objects.values().get()
    assert not any(token in str(value) for value in values.values())
    # saving the row again (e.g. from the admin) keeps the checksum: the token stays usable
    row.save()
    assert AccessToken.objects.get().token_checksum == oauth.token_checksum(token)
    assert oauth.read_token(token) is not None


def test_the_token_is_looked_up_by_its_checksum_only(make_credential, get_token):
    make_credential()
    token = get_token()
    assert oauth.read_token(token).scopes == {"service:integration"}
    assert oauth.read_token("") is None
    assert oauth.read_token(oauth.token_checksum(token)) is None


def test_the_admin_can_revoke_a_token(make_credential, get_token, make_account, client):
    make_credential()
    token = get_token()
    admin_account = make_account("root", administration=True)
    admin_account.is_superuser = True
    admin_account.save()
    client.force_login(admin_account)
    url = reverse("admin:oauth2_provider_accesstoken_changelist")
    listing = client.get(url)
    assert listing.status_code == 200 and token not in listing.content.decode()
    row = AccessToken.objects.get()
    response = client.post(url, {"action": "revoke_tokens", "_selected_action": [row.pk]})
    assert response.status_code == 302
    assert not AccessToken.objects.exists()
    assert oauth.read_token(token) is None


# -- building blocks -----------------------------------------------------------------------------


def test_has_scope_classes_are_shared_and_checked():
    assert oauth.HasScope("nql") is oauth.HasScope("nql")
    assert oauth.HasScope("nql").scope == "nql"
    assert oauth.HasScope("remote_actions") is not oauth.HasScope("nql")
    with pytest.raises(ValueError):
        oauth.HasScope("admin")


@pytest.mark.parametrize(
    ("granted", "allowed", "held"),
    [
        ("service:integration", "service:integration", {"service:integration"}),
        ("service:integration", "nql", {"nql"}),
        ("service:integration", "nql remote_actions", {"nql", "remote_actions"}),
        ("nql", "service:integration", {"nql"}),
        ("nql", "remote_actions", set()),
        ("nql remote_actions", "remote_actions", {"remote_actions"}),
        ("nql unknown", "service:integration", {"nql"}),
        ("service:integration", "", set()),
    ],
)
def test_effective_scopes(granted, allowed, held):
    assert oauth.effective_scopes(granted.split(), allowed.split()) == held


def test_covers():
    assert oauth.covers({"service:integration"}, "nql")
    assert oauth.covers({"service:integration"}, "remote_actions")
    assert oauth.covers({"nql"}, "nql")
    assert not oauth.covers({"nql"}, "remote_actions")
    assert not oauth.covers({"nql"}, "service:integration")
    assert not oauth.covers({"service:integration"}, "unknown")
