"""The exporters configuration API (exporters.md, "Configuration API"): credentials and exporters as JSON,
authentication and rights, every error shape, test loads and credential tests against a real local sink,
and a manual run on a real Celery worker."""

import base64
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client

from exporters.api.serializers import MASK, MAX_BODY_BYTES
from exporters.models import ConnectorCredential, Exporter, ExporterQuery, ExporterRun
from tests.factories import make_device

pytestmark = pytest.mark.django_db

BASE = "/api/config/v1"
PASSWORD = "correct horse battery"
SECRET = "destination-password-very-secret"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
RUN_KEYS = {"uid", "trigger", "status", "window_start", "window_end", "records_sent", "batches_sent", "bytes_sent",
            "attempts", "started_at", "finished_at", "duration_ms", "last_error"}
EXPORTER_KEYS = {"uid", "name", "description", "credential", "method", "resource", "recurrence", "enabled",
                 "batch_size", "max_request_bytes", "max_attempts", "queries", "last_run", "next_run"}
CREDENTIAL_KEYS = {"uid", "name", "base_url", "allow_plain_http", "auth_type", "username", "password", "token",
                   "token_url", "client_id", "client_secret", "scope", "audience", "client_auth", "headers",
                   "verify_tls", "ca_bundle"}


def basic_header(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Api:
    """A test client speaking JSON to the configuration API with Basic credentials."""

    def __init__(self, authorization: str | None):
        self.client = Client()
        self.authorization = authorization

    def call(self, method: str, path: str, body=None, *, raw: bytes | None = None, **extra):
        if raw is None:
            raw = b"" if body is None else json.dumps(body).encode()
        if self.authorization is not None:
            extra.setdefault("HTTP_AUTHORIZATION", self.authorization)
        return self.client.generic(method, BASE + path, raw, content_type="application/json", **extra)

    def get(self, path, **extra):
        return self.call("GET", path, **extra)

    def post(self, path, body=None, **extra):
        return self.call("POST", path, body, **extra)

    def put(self, path, body=None, **extra):
        return self.call("PUT", path, body, **extra)

    def patch(self, path, body=None, **extra):
        return self.call("PATCH", path, body, **extra)

    def delete(self, path, **extra):
        return self.call("DELETE", path, **extra)


@pytest.fixture
def admin(make_account):
    return make_account("admin", administration=True)


@pytest.fixture
def api(admin) -> Api:
    return Api(basic_header("admin"))


@pytest.fixture
def credential() -> ConnectorCredential:
    return ConnectorCredential.objects.create(name="Tool", base_url="https://tool.example.com", auth_type="basic",
                                              username="opendex", password=SECRET)


def credential_body(**fields) -> dict:
    body = {"name": "ServiceNow", "base_url": "https://tool.example.com/api", "auth_type": "basic",
            "username": "opendex", "password": SECRET}
    body.update(fields)
    return body


def exporter_body(credential="Tool", **fields) -> dict:
    body = {"name": "Devices", "credential": credential, "method": "POST", "resource": "api/import",
            "recurrence": {"kind": "daily"},
            "queries": [{"nql": "devices | list name", "payload_structure": "array",
                         "payload": '{"name": "{{device.name}}"}'}]}
    body.update(fields)
    return body


def errors(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content
    return response.json()["errors"]


# -- authentication and rights -------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Basic " + base64.b64encode(b"admin:wrong").decode(),
                                           "Basic !!!", "Bearer abc"])
def test_missing_or_wrong_credentials_answer_401_with_the_basic_challenge(admin, authorization):
    response = Api(authorization).get("/exporters")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="OpenDEX"'
    assert list(errors(response)) == ["authentication"]


def test_an_account_without_the_administration_right_gets_403(make_account):
    make_account("viewer", finder_access=True)
    for path in ("/exporters", "/connector-credentials"):
        response = Api(basic_header("viewer")).get(path)
        assert response.status_code == 403
        assert errors(response) == {"permission": ["The account's profile does not grant the administration right."]}
    response = Api(basic_header("viewer")).post("/connector-credentials", credential_body())
    assert response.status_code == 403
    assert not ConnectorCredential.objects.exists()


def test_repeated_failures_are_throttled_with_retry_after(admin, settings):
    settings.AUTH_THROTTLE_MAX_FAILURES_PER_ACCOUNT = 2
    wrong = Api("Basic " + base64.b64encode(b"admin:wrong").decode())
    assert [wrong.get("/exporters").status_code for _ in range(2)] == [401, 401]
    response = Api(basic_header("admin")).get("/exporters")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert list(errors(response)) == ["authentication"]


def test_an_inactive_administrator_is_refused(make_account):
    account = make_account("gone", administration=True)
    account.is_active = False
    account.save()
    assert Api(basic_header("gone")).get("/exporters").status_code == 401


def test_the_portal_session_works_and_unsafe_methods_need_the_csrf_token(admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.get(f"{BASE}/connector-credentials").json() == []
    body = json.dumps(credential_body())
    response = client.post(f"{BASE}/connector-credentials", body, content_type="application/json")
    assert response.status_code == 403
    assert list(errors(response)) == ["csrf"]
    assert not ConnectorCredential.objects.exists()
    token = "a" * 32
    client.cookies["csrftoken"] = token
    response = client.post(f"{BASE}/connector-credentials", body, content_type="application/json",
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content
    uid = response.json()["uid"]
    response = client.delete(f"{BASE}/connector-credentials/{uid}")
    assert response.status_code == 403
    response = client.delete(f"{BASE}/connector-credentials/{uid}", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 204


def test_a_session_without_the_administration_right_gets_403(make_account):
    client = Client()
    client.force_login(make_account("viewer", finder_access=True))
    assert client.get(f"{BASE}/exporters").status_code == 403


# -- routes, trailing slashes, 404 and 405 -------------------------------------------------------------


def test_every_path_answers_with_and_without_a_trailing_slash(api, credential):
    exporter = api.post("/exporters", exporter_body()).json()
    paths = ["/connector-credentials", f"/connector-credentials/{credential.uid}", "/exporters",
             f"/exporters/{exporter['uid']}", f"/exporters/{exporter['uid']}/runs"]
    for path in paths:
        plain, slashed = api.get(path), api.get(path + "/")
        assert plain.status_code == slashed.status_code == 200, path
        assert plain.json() == slashed.json()
    # POST-only routes are routed with the slash too (answering their own errors, not a redirect)
    for path in (f"/connector-credentials/{credential.uid}/test/", "/exporters/test-load/",
                 f"/exporters/{exporter['uid']}/run/", f"/exporters/{exporter['uid']}/test-load/"):
        response = api.post(path, raw=b"[1]")
        assert response.status_code == 400, path
        assert list(errors(response)) == ["body"]
    response = api.post("/connector-credentials/", credential_body(name="Other"))
    assert response.status_code == 201


@pytest.mark.parametrize("path", ["/exporters/{uid}", "/exporters/{uid}/runs", "/exporters/{uid}/run",
                                  "/exporters/{uid}/test-load", "/connector-credentials/{uid}",
                                  "/connector-credentials/{uid}/test"])
@pytest.mark.parametrize("uid", [str(uuid.UUID(int=7)), "not-a-uuid"])
def test_an_unknown_uid_is_a_json_404(api, path, uid):
    method = "POST" if path.endswith(("/run", "/test-load", "/test")) else "GET"
    response = api.call(method, path.format(uid=uid))
    assert response.status_code == 404
    assert list(errors(response)) == ["uid"]
    assert uid in errors(response)["uid"][0]


def test_an_unknown_path_is_a_json_404(api):
    response = api.get("/nothing/here")
    assert response.status_code == 404
    assert list(errors(response)) == ["path"]


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/exporters", "GET, POST"),
    ("PUT", "/connector-credentials", "GET, POST"),
    ("GET", "/exporters/test-load", "POST"),
    ("POST", "/exporters/{exporter}", "GET, PUT, PATCH, DELETE"),
    ("GET", "/exporters/{exporter}/run", "POST"),
    ("POST", "/exporters/{exporter}/runs", "GET"),
    ("GET", "/connector-credentials/{credential}/test", "POST"),
    ("OPTIONS", "/exporters", "GET, POST"),
    ("HEAD", "/exporters", "GET, POST"),
])
def test_a_method_not_allowed_is_a_json_405_with_allow(api, credential, method, path, allow):
    exporter = api.post("/exporters", exporter_body()).json()["uid"]
    response = api.call(method, path.format(exporter=exporter, credential=credential.uid))
    assert response.status_code == 405
    assert response["Allow"] == allow
    if method != "HEAD":
        assert list(errors(response)) == ["method"]


def test_an_unknown_query_parameter_is_refused(api):
    response = api.get("/exporters?format=xml")
    assert response.status_code == 400
    assert errors(response) == {"format": ["Unknown parameter."]}


# -- request bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "The request body is empty: send a JSON object."),
    (b"{", "The request body is not valid JSON: Expecting property name enclosed in double quotes at line 1, "
           "column 2."),
    (b"[]", "The request body must be a JSON object."),
    (b'"name"', "The request body must be a JSON object."),
    (b'{"name": "caf\xe9"}', "The request body is not UTF-8 text (invalid byte at position 13)."),
    (b"\xff\xfe{\x00}\x00", "The request body is not UTF-8 text (invalid byte at position 0)."),
    (b'{"batch_size": NaN}', "The request body is not valid JSON: NaN is not valid JSON."),
    (b"[" * 100_000 + b"]" * 100_000, "The request body is not valid JSON: it is nested too deeply."),
])
@pytest.mark.parametrize("path", ["/connector-credentials", "/exporters", "/exporters/test-load"])
def test_a_body_that_is_not_a_json_object_is_400_at_body(api, raw, message, path):
    response = api.post(path, raw=raw)
    assert response.status_code == 400
    assert errors(response) == {"body": [message]}


def test_a_huge_body_is_413(api):
    raw = json.dumps(credential_body(scope="x" * MAX_BODY_BYTES)).encode()
    response = api.post("/connector-credentials", raw=raw)
    assert response.status_code == 413
    assert errors(response) == {"body": [f"The request body is larger than {MAX_BODY_BYTES} bytes."]}
    response = api.post("/exporters", raw=b" " * (3 * 1024 * 1024))  # above Django's own upload limit too
    assert response.status_code == 413
    assert not ConnectorCredential.objects.exists()


def test_text_postgresql_cannot_store_is_refused_at_its_field(api, credential):
    response = api.post("/connector-credentials", raw=b'{"name": "a\\u0000b", "username": "\\ud800", '
                        b'"base_url": "https://x.example.com", "password": "p", "headers": {"X-A": "\\u0000"}}')
    assert response.status_code == 400
    body = errors(response)
    assert body["name"] == ["Null characters are not allowed."]
    assert body["username"][0].startswith("Must be valid Unicode text")
    assert body["headers"] == ["Null characters are not allowed."]
    response = api.post("/exporters", exporter_body(queries=[{"nql": "devices | list name\u0000",
                                                              "payload": "{}"}]))
    assert errors(response) == {"queries[0].nql": ["Null characters are not allowed."]}


# -- connector credentials -------------------------------------------------------------------------------


def test_create_a_credential_answers_201_with_secrets_masked(api):
    response = api.post("/connector-credentials", credential_body(headers={"X-Source": "opendex"}))
    assert response.status_code == 201
    assert SECRET.encode() not in response.content
    body = response.json()
    assert set(body) == CREDENTIAL_KEYS
    stored = ConnectorCredential.objects.get()
    assert body == {
        "uid": str(stored.uid), "name": "ServiceNow", "base_url": "https://tool.example.com/api",
        "allow_plain_http": False, "auth_type": "basic", "username": "opendex", "password": MASK, "token": None,
        "token_url": "", "client_id": "", "client_secret": None, "scope": "", "audience": "", "client_auth": "basic",
        "headers": {"X-Source": "opendex"}, "verify_tls": True, "ca_bundle": "",
    }
    assert stored.password == SECRET
    assert stored.extra_headers == {"X-Source": "opendex"}


def test_credentials_are_listed_by_name_and_read_by_uid(api):
    for name in ("Zeta", "Alpha", "Mid"):
        assert api.post("/connector-credentials", credential_body(name=name)).status_code == 201
    listed = api.get("/connector-credentials").json()
    assert [item["name"] for item in listed] == ["Alpha", "Mid", "Zeta"]
    assert all(item["password"] == MASK for item in listed)
    one = api.get(f"/connector-credentials/{listed[1]['uid']}")
    assert one.status_code == 200
    assert one.json() == listed[1]


def test_oauth2_credential_fields_and_client_auth_names(api):
    response = api.post("/connector-credentials", {
        "name": "OAuth", "base_url": "https://tool.example.com", "auth_type": "oauth2_client_credentials",
        "token_url": "https://login.example.com/token", "client_id": "opendex", "client_secret": SECRET,
        "scope": "import", "audience": "api://tool", "client_auth": "body"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["client_secret"], body["password"], body["token"]) == (MASK, None, None)
    assert body["client_auth"] == "body"
    stored = ConnectorCredential.objects.get()
    assert stored.client_auth == ConnectorCredential.CLIENT_AUTH_BODY
    assert stored.client_secret == SECRET
    response = api.patch(f"/connector-credentials/{body['uid']}", {"client_auth": "basic"})
    assert response.json()["client_auth"] == "basic"
    stored.refresh_from_db()
    assert stored.client_auth == ConnectorCredential.CLIENT_AUTH_BASIC_HEADER


def test_get_then_put_round_trips_and_keeps_the_secrets(api):
    uid = api.post("/connector-credentials", credential_body(token="also-secret")).json()["uid"]
    shown = api.get(f"/connector-credentials/{uid}").json()
    assert shown["token"] == MASK
    response = api.put(f"/connector-credentials/{uid}", shown)
    assert response.status_code == 200
    assert response.json() == shown
    stored = ConnectorCredential.objects.get()
    assert (stored.password, stored.token) == (SECRET, "also-secret")


def test_omitting_a_secret_keeps_it_and_a_new_value_replaces_it(api):
    uid = api.post("/connector-credentials", credential_body()).json()["uid"]
    put = credential_body(name="Renamed")
    del put["password"]
    response = api.put(f"/connector-credentials/{uid}", put)
    assert response.status_code == 200
    assert response.json()["password"] == MASK
    stored = ConnectorCredential.objects.get()
    assert (stored.name, stored.password) == ("Renamed", SECRET)
    assert api.patch(f"/connector-credentials/{uid}", {"username": "other"}).status_code == 200
    stored.refresh_from_db()
    assert (stored.username, stored.password) == ("other", SECRET)
    assert api.patch(f"/connector-credentials/{uid}", {"password": "new-one"}).json()["password"] == MASK
    stored.refresh_from_db()
    assert stored.password == "new-one"


def test_null_clears_a_secret_and_the_rules_of_the_portal_apply(api):
    uid = api.post("/connector-credentials", credential_body()).json()["uid"]
    response = api.patch(f"/connector-credentials/{uid}", {"password": None})
    assert response.status_code == 400
    assert errors(response) == {"password": ["Basic authentication needs a password."]}
    response = api.patch(f"/connector-credentials/{uid}", {"auth_type": "bearer", "password": None,
                                                            "token": "t0k3n"})
    assert response.status_code == 200
    assert (response.json()["password"], response.json()["token"]) == (None, MASK)
    assert ConnectorCredential.objects.get().password == ""


def test_the_mask_is_never_stored_as_a_secret(api):
    response = api.post("/connector-credentials", credential_body(password=MASK))
    assert response.status_code == 400
    assert errors(response) == {"password": ["Basic authentication needs a password."]}


def test_a_put_replaces_every_field_but_the_secrets(api):
    uid = api.post("/connector-credentials", credential_body(headers={"X-A": "1"}, verify_tls=False,
                                                             scope="s")).json()["uid"]
    body = api.put(f"/connector-credentials/{uid}", credential_body()).json()
    assert (body["headers"], body["verify_tls"], body["scope"], body["password"]) == ({}, True, "", MASK)


@pytest.mark.parametrize(("fields", "expected"), [
    ({"base_url": "http://tool.example.com"},
     {"base_url": ["Plain http:// is refused: use https://, or tick “allow plain HTTP” to accept it."]}),
    ({"auth_type": "basic", "username": "", "password": ""},
     {"username": ["Basic authentication needs a user name."], "password": ["Basic authentication needs a password."]}),
    ({"auth_type": "oauth2_client_credentials"},
     {"token_url": ["OAuth2 client credentials need a token URL."],
      "client_id": ["OAuth2 client credentials need a client ID."],
      "client_secret": ["OAuth2 client credentials need a client secret."]}),
    ({"headers": {"Authorization": "x"}},
     {"headers": ["“Authorization” cannot be an extra header: authentication and connection headers are set by the "
                  "credential."]}),
    ({"headers": {"X-A": 1}}, {"headers": ["The value of “X-A” must be text."]}),
    ({"ca_bundle": "not a pem"},
     {"ca_bundle": ["Paste one or more certificates in PEM form (-----BEGIN CERTIFICATE----- …)."]}),
    ({"name": ""}, {"name": ["This field cannot be blank."]}),
    ({"auth_type": "digest"}, {"auth_type": ["Value 'digest' is not a valid choice."]}),
])
def test_credential_validation_errors_are_the_portal_messages_at_the_api_names(api, fields, expected):
    response = api.post("/connector-credentials", credential_body(**fields))
    assert response.status_code == 400
    assert errors(response) == expected
    assert not ConnectorCredential.objects.exists()


def test_a_duplicate_credential_name_is_reported(api, credential):
    response = api.post("/connector-credentials", credential_body(name="Tool"))
    assert response.status_code == 400
    assert errors(response) == {"name": ["Connector credential with this Name already exists."]}


@pytest.mark.parametrize(("fields", "expected"), [
    ({"colour": "blue"}, {"colour": ["Unknown field."]}),
    ({"headers": []}, {"headers": ["Must be a JSON object."]}),
    ({"headers": "X-A: 1"}, {"headers": ["Must be a JSON object."]}),
    ({"verify_tls": "yes"}, {"verify_tls": ["Must be true or false."]}),
    ({"allow_plain_http": 1}, {"allow_plain_http": ["Must be true or false."]}),
    ({"name": 5}, {"name": ["Must be a string."]}),
    ({"password": ["x"]}, {"password": ["Must be a string."]}),
    ({"client_auth": "header"}, {"client_auth": [
        "Value 'header' is not a valid choice: use “basic” (Basic authorization header) or “body” (client_id and "
        "client_secret in the request body)."]}),
])
def test_credential_unknown_fields_and_wrong_types(api, fields, expected):
    response = api.post("/connector-credentials", credential_body(**fields))
    assert response.status_code == 400
    assert errors(response) == expected


def test_read_only_uid_is_ignored_on_input(api):
    response = api.post("/connector-credentials", credential_body(uid=str(uuid.UUID(int=1))))
    assert response.status_code == 201
    assert response.json()["uid"] != str(uuid.UUID(int=1))


def test_delete_a_credential(api, credential):
    response = api.delete(f"/connector-credentials/{credential.uid}")
    assert response.status_code == 204
    assert response.content == b""
    assert not ConnectorCredential.objects.exists()
    assert api.delete(f"/connector-credentials/{credential.uid}").status_code == 404


def test_deleting_a_credential_in_use_is_409_naming_the_exporters(api, credential):
    for name in ("Users", "Devices"):
        assert api.post("/exporters", exporter_body(name=name)).status_code == 201
    response = api.delete(f"/connector-credentials/{credential.uid}")
    assert response.status_code == 409
    assert errors(response) == {"credential": [
        "used by exporters “Devices”, “Users”: delete them or give them another credential first."]}
    assert ConnectorCredential.objects.filter(pk=credential.pk).exists()


def sink_credential(sink, **fields) -> ConnectorCredential:
    values = dict(name="Sink", base_url=sink.url + "/base", allow_plain_http=True, auth_type="basic",
                  username="opendex", password=SECRET)
    values.update(fields)
    return ConnectorCredential.objects.create(**values)


def test_credential_test_against_a_real_destination(api, sink):
    credential = sink_credential(sink)
    response = api.post(f"/connector-credentials/{credential.uid}/test")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "status": 200,
                               "message": f"Sink: {sink.url}/base is reachable; it answered HTTP 200."}
    assert sink.requests[0].method == "GET"
    assert sink.requests[0].path == "/base"
    assert sink.requests[0].headers["Authorization"] == basic_header("opendex", SECRET)
    sink.script(401)
    response = api.post(f"/connector-credentials/{credential.uid}/test", {})
    assert response.json() == {"ok": False, "status": 401, "message": f"Sink: {sink.url}/base is reachable; it "
                               "answered HTTP 401 — check the credentials and the base URL."}
    assert SECRET.encode() not in response.content


def test_credential_test_of_an_unreachable_destination(api, sink):
    credential = sink_credential(sink, base_url="http://127.0.0.1:9")
    body = api.post(f"/connector-credentials/{credential.uid}/test").json()
    assert (body["ok"], body["status"]) == (False, None)
    assert "is unreachable" in body["message"]


def test_credential_test_takes_no_input(api, credential):
    response = api.post(f"/connector-credentials/{credential.uid}/test", {"base_url": "https://other"})
    assert response.status_code == 400
    assert errors(response) == {"base_url": ["Unknown field."]}


# -- exporters ---------------------------------------------------------------------------------------------


def test_create_an_exporter_answers_201_with_the_object(api, credential):
    response = api.post("/exporters", exporter_body(description="CMDB feed"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == EXPORTER_KEYS
    exporter = Exporter.objects.get()
    delay = timedelta(seconds=settings.EXPORT_COMPLETENESS_DELAY)
    assert body == {
        "uid": str(exporter.uid), "name": "Devices", "description": "CMDB feed", "credential": str(credential.uid),
        "method": "POST", "resource": "api/import", "recurrence": {"kind": "daily"}, "enabled": True,
        "batch_size": 200, "max_request_bytes": 5_242_880, "max_attempts": 8,
        "queries": [{"nql": "devices | list name", "payload_structure": "array",
                     "payload": '{"name": "{{device.name}}"}', "helpers": ["device.name"]}],
        "last_run": None, "next_run": body["next_run"],
    }
    assert ISO_Z.match(body["next_run"])
    next_run = datetime.fromisoformat(body["next_run"].replace("Z", "+00:00"))
    now = datetime.now(UTC)
    assert now < next_run <= now + timedelta(days=1) + delay
    assert (next_run - delay).time() == datetime.min.time()
    assert list(exporter.queries.values_list("position", "nql")) == [(0, "devices | list name")]


def test_the_credential_is_given_by_uid_or_name_and_answered_by_uid(api, credential):
    body = api.post("/exporters", exporter_body(credential=str(credential.uid))).json()
    assert body["credential"] == str(credential.uid)
    response = api.post("/exporters", exporter_body(name="Other", credential="Nope"))
    assert response.status_code == 400
    assert errors(response) == {"credential": ["No connector credential has the UID or name “Nope”."]}
    response = api.post("/exporters", exporter_body(name="Other", credential=None))
    assert errors(response) == {"credential": ["This field is required."]}
    response = api.post("/exporters", exporter_body(name="Other", credential=3))
    assert errors(response) == {"credential": ["Must be a string."]}


@pytest.mark.parametrize(("recurrence", "expected"), [
    ({"kind": "hourly", "every_hours": 6}, {"kind": "hourly", "every_hours": 6}),
    ({"kind": "daily"}, {"kind": "daily"}),
    ({"kind": "weekly", "day": "wednesday"}, {"kind": "weekly", "day": "wednesday"}),
    ({"kind": "weekly", "day": "Sunday"}, {"kind": "weekly", "day": "sunday"}),
])
def test_recurrences(api, credential, recurrence, expected):
    body = api.post("/exporters", exporter_body(recurrence=recurrence)).json()
    assert body["recurrence"] == expected
    exporter = Exporter.objects.get()
    if expected["kind"] == "weekly":
        assert exporter.weekday == ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                    "sunday").index(expected["day"])
        next_run = datetime.fromisoformat(body["next_run"].replace("Z", "+00:00"))
        delay = timedelta(seconds=settings.EXPORT_COMPLETENESS_DELAY)
        assert (next_run - delay).weekday() == exporter.weekday


@pytest.mark.parametrize(("recurrence", "message"), [
    (None, "This field cannot be blank."),
    ("daily", 'Enter an object: {"kind": "hourly", "every_hours": 1}, {"kind": "daily"} or '
              '{"kind": "weekly", "day": "monday"}.'),
    ({}, 'The recurrence needs a “kind”: {"kind": "hourly", "every_hours": 1}, {"kind": "daily"} or '
         '{"kind": "weekly", "day": "monday"}.'),
    ({"kind": "monthly"}, "Unknown kind 'monthly': use “hourly”, “daily” or “weekly”."),
    ({"kind": "hourly"}, "An hourly recurrence needs “every_hours”: one of 1, 2, 3, 4, 6, 8, 12, 24."),
    ({"kind": "hourly", "every_hours": 5}, "“every_hours” must be one of 1, 2, 3, 4, 6, 8, 12, 24."),
    ({"kind": "hourly", "every_hours": "1"}, "“every_hours” must be one of 1, 2, 3, 4, 6, 8, 12, 24."),
    ({"kind": "hourly", "every_hours": 1.0}, "“every_hours” must be one of 1, 2, 3, 4, 6, 8, 12, 24."),
    ({"kind": "hourly", "every_hours": True}, "“every_hours” must be one of 1, 2, 3, 4, 6, 8, 12, 24."),
    ({"kind": "weekly"}, "A weekly recurrence needs a “day”: monday … sunday."),
    ({"kind": "weekly", "day": "funday"},
     "“day” must be one of monday, tuesday, wednesday, thursday, friday, saturday, sunday."),
    ({"kind": "daily", "day": "monday"}, "Unknown property “day” for a daily recurrence."),
])
def test_a_malformed_recurrence_is_reported_at_recurrence(api, credential, recurrence, message):
    body = exporter_body(recurrence=recurrence)
    body["queries"][0]["nql"] = "execution.events during past 1d | list device.name"
    response = api.post("/exporters", body)
    assert response.status_code == 400
    assert errors(response) == {"recurrence": [message]}


def test_a_missing_recurrence_is_required(api, credential):
    body = exporter_body()
    del body["recurrence"]
    assert errors(api.post("/exporters", body)) == {"recurrence": ["This field cannot be blank."]}


def test_exporter_validation_errors_are_keyed_like_the_api(api, credential):
    response = api.post("/exporters", exporter_body(
        name="", resource="https://tool.example.com/api", method="GET", batch_size=0,
        recurrence={"kind": "hourly", "every_hours": 2},
        queries=[
            {"nql": "execution.events during past 1d | list device.name", "payload_structure": "array",
             "payload": '{"n": "{{device.name}}"}'},
            {"nql": "devices | list name", "payload_structure": "object_with_array", "payload": '{"n": 1}'},
            {"nql": "devices | list nme", "payload_structure": "lines", "payload": "{"},
            {"nql": "devices | list name", "payload": '{"n": "{{device.nme}}"}'},
        ]))
    assert response.status_code == 400
    found = errors(response)
    assert found["name"] == ["This field cannot be blank."]
    assert found["resource"] == ["Enter only the path after the credential's base URL, without scheme and host, "
                                 "for example api/now/import/u_devices/insertMultiple."]
    assert found["method"] == ["Value 'GET' is not a valid choice."]
    assert found["batch_size"] == ["Ensure this value is greater than or equal to 1."]
    assert found["queries[0].nql"] == ["The time frame “during past 1d” does not match the every 2 hours "
                                       "recurrence: use “during past 2h” (line 1, column 18)."]
    assert "exactly one property whose value is an array" in found["queries[1].payload"][0]
    assert found["queries[2].nql"] == ["The query is not valid: unknown field 'nme' in table devices at line 1, "
                                       "column 16."]
    assert found["queries[2].payload_structure"] == ["Value 'lines' is not a valid choice."]
    assert found["queries[3].payload"] == ["Unknown placeholder {{device.nme}}: use one of the query's columns: "
                                           "device.name."]
    assert not Exporter.objects.exists()


def test_queries_count_between_one_and_ten(api, credential):
    assert errors(api.post("/exporters", exporter_body(queries=[]))) == {"queries": ["Add at least one query."]}
    query = exporter_body()["queries"][0]
    response = api.post("/exporters", exporter_body(queries=[query] * 11))
    assert errors(response) == {"queries": ["An exporter can have at most 10 queries."]}
    response = api.post("/exporters", exporter_body(queries=[query] * 10))
    assert response.status_code == 201
    assert len(response.json()["queries"]) == 10


@pytest.mark.parametrize(("fields", "expected"), [
    ({"batch_size": "x"}, {"batch_size": ["Must be an integer."]}),
    ({"batch_size": 1.5}, {"batch_size": ["Must be an integer."]}),
    ({"max_attempts": True}, {"max_attempts": ["Must be an integer."]}),
    ({"enabled": "yes"}, {"enabled": ["Must be true or false."]}),
    ({"description": 3}, {"description": ["Must be a string."]}),
    ({"queries": {}}, {"queries": ["Must be a JSON array."]}),
    ({"queries": "devices"}, {"queries": ["Must be a JSON array."]}),
    ({"queries": [1]}, {"queries[0]": ["Must be a JSON object."]}),
    ({"queries": [{"nql": 1, "payload": {"n": 1}}]},
     {"queries[0].nql": ["Must be a string."], "queries[0].payload": ["Must be a string."]}),
    ({"schedule": "daily"}, {"schedule": ["Unknown field."]}),
    ({"queries": [{"nql": "devices | list name", "payload": "{}", "template": "{}"}]},
     {"queries[0].template": ["Unknown field."]}),
    ({"max_request_bytes": 2**40}, {"max_request_bytes": ["Ensure this value is less than or equal to 2147483647."]}),
])
def test_exporter_unknown_fields_and_wrong_types(api, credential, fields, expected):
    response = api.post("/exporters", exporter_body(**fields))
    assert response.status_code == 400
    assert errors(response) == expected


def test_a_query_item_with_a_problem_does_not_hide_the_others(api, credential):
    good = exporter_body()["queries"][0]
    response = api.post("/exporters", exporter_body(queries=["x", good, dict(good, payload="[")]))
    assert errors(response) == {"queries[0]": ["Must be a JSON object."],
                                "queries[2].payload": ["The payload is not valid JSON at line 1, column 2."]}


def test_a_duplicate_exporter_name_is_reported(api, credential):
    assert api.post("/exporters", exporter_body()).status_code == 201
    response = api.post("/exporters", exporter_body())
    assert errors(response) == {"name": ["Exporter with this Name already exists."]}


def test_helpers_are_read_only_and_empty_for_an_invalid_query(api, credential):
    body = exporter_body()
    body["queries"][0]["helpers"] = ["made.up"]
    body["queries"][0]["nql"] = "devices | list name, operating_system.platform"
    created = api.post("/exporters", body).json()
    assert created["queries"][0]["helpers"] == ["device.name", "device.operating_system.platform"]
    exporter = Exporter.objects.get()
    ExporterQuery.objects.filter(exporter=exporter).update(nql="devices | list nothing")  # e.g. after a schema change
    assert api.get(f"/exporters/{exporter.uid}").json()["queries"][0]["helpers"] == []


def test_get_then_put_round_trips(api, credential):
    created = api.post("/exporters", exporter_body(recurrence={"kind": "weekly", "day": "friday"})).json()
    ExporterRun.objects.create(exporter=Exporter.objects.get(), exporter_name="Devices", trigger="manual",
                               status="success")
    shown = api.get(f"/exporters/{created['uid']}").json()
    assert shown["last_run"] is not None
    response = api.put(f"/exporters/{created['uid']}", shown)
    assert response.status_code == 200
    assert response.json() == shown


def test_put_replaces_the_whole_exporter_and_its_queries(api, credential):
    first = {"nql": "devices | list name", "payload_structure": "array", "payload": '{"a": "{{device.name}}"}'}
    second = {"nql": "users | list name", "payload_structure": "collection", "payload": '{"u": "{{user.name}}"}'}
    uid = api.post("/exporters", exporter_body(queries=[first, second], batch_size=50,
                                               description="old")).json()["uid"]
    response = api.put(f"/exporters/{uid}", exporter_body(name="Renamed", queries=[second, first]))
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["description"], body["batch_size"]) == ("Renamed", "", 200)
    assert [query["nql"] for query in body["queries"]] == ["users | list name", "devices | list name"]
    exporter = Exporter.objects.get()
    assert list(exporter.queries.order_by("position").values_list("position", "nql")) == [
        (0, "users | list name"), (1, "devices | list name")]
    assert ExporterQuery.objects.count() == 2


def test_patch_changes_only_the_given_fields(api, credential):
    uid = api.post("/exporters", exporter_body(description="keep", batch_size=50)).json()["uid"]
    response = api.patch(f"/exporters/{uid}", {"enabled": False, "max_attempts": 3})
    assert response.status_code == 200
    body = response.json()
    assert (body["enabled"], body["max_attempts"], body["description"], body["batch_size"]) == (False, 3, "keep", 50)
    assert body["next_run"] is None
    assert len(body["queries"]) == 1
    query = {"nql": "devices | list name, operating_system.platform", "payload_structure": "collection",
             "payload": '{"p": "{{device.operating_system.platform}}"}'}
    body = api.patch(f"/exporters/{uid}", {"queries": [query, query]}).json()
    assert [item["payload_structure"] for item in body["queries"]] == ["collection", "collection"]
    assert ExporterQuery.objects.count() == 2


def test_a_patch_is_validated_with_the_saved_queries(api, credential):
    body = exporter_body()
    body["queries"][0]["nql"] = "execution.events during past 1d | list device.name"
    uid = api.post("/exporters", body).json()["uid"]
    response = api.patch(f"/exporters/{uid}", {"recurrence": {"kind": "weekly", "day": "monday"}})
    assert response.status_code == 400
    assert errors(response) == {"queries[0].nql": [
        "The time frame “during past 1d” does not match the weekly recurrence: use “during past 7d” (line 1, "
        "column 18)."]}
    assert Exporter.objects.get().recurrence == "daily"


def test_an_invalid_update_changes_nothing(api, credential):
    uid = api.post("/exporters", exporter_body()).json()["uid"]
    before = api.get(f"/exporters/{uid}").json()
    response = api.put(f"/exporters/{uid}", exporter_body(name="New", queries=[{"nql": "devices | list x",
                                                                                "payload": "{}"}]))
    assert response.status_code == 400
    assert api.get(f"/exporters/{uid}").json() == before


def test_the_exporter_and_its_queries_are_saved_in_one_transaction(api, credential, monkeypatch):
    uid = api.post("/exporters", exporter_body(description="before")).json()["uid"]

    def fail(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ExporterQuery.objects, "bulk_create", fail)
    body = exporter_body(description="after")
    response = api.put(f"/exporters/{uid}", body)
    assert response.status_code == 500
    assert list(errors(response)) == ["server"]
    assert "request id" in errors(response)["server"][0]
    exporter = Exporter.objects.get()
    assert exporter.description == "before"
    assert exporter.queries.count() == 1


def test_exporters_are_listed_by_name_with_their_last_run(api, credential):
    for name in ("Zeta", "Alpha"):
        api.post("/exporters", exporter_body(name=name))
    zeta = Exporter.objects.get(name="Zeta")
    now = datetime.now(UTC)
    ExporterRun.objects.create(exporter=zeta, exporter_name="Zeta", trigger="schedule", status="failed",
                               started_at=now - timedelta(hours=2))
    newest = ExporterRun.objects.create(exporter=zeta, exporter_name="Zeta", trigger="manual", status="success",
                                        started_at=now - timedelta(hours=1), records_sent=12)
    listed = api.get("/exporters").json()
    assert [item["name"] for item in listed] == ["Alpha", "Zeta"]
    assert listed[0]["last_run"] is None
    assert listed[1]["last_run"]["uid"] == str(newest.uid)
    assert listed[1]["last_run"]["records_sent"] == 12
    assert listed[1]["queries"][0]["helpers"] == ["device.name"]
    assert listed[1] == api.get(f"/exporters/{zeta.uid}").json()


def test_delete_an_exporter_keeps_its_runs(api, credential):
    uid = api.post("/exporters", exporter_body()).json()["uid"]
    ExporterRun.objects.create(exporter=Exporter.objects.get(), exporter_name="Devices", trigger="manual")
    response = api.delete(f"/exporters/{uid}")
    assert response.status_code == 204
    assert not Exporter.objects.exists()
    assert ExporterRun.objects.get().exporter_name == "Devices"
    assert api.get(f"/exporters/{uid}").status_code == 404
    assert api.delete(f"/connector-credentials/{credential.uid}").status_code == 204


# -- runs ----------------------------------------------------------------------------------------------------


def test_runs_newest_first_with_every_field(api, credential):
    uid = api.post("/exporters", exporter_body()).json()["uid"]
    exporter = Exporter.objects.get()
    start = datetime(2025, 3, 1, tzinfo=UTC)
    for hour in range(5):
        ExporterRun.objects.create(
            exporter=exporter, exporter_name="Devices", trigger="schedule", status="success",
            window_start=start + timedelta(hours=hour), window_end=start + timedelta(hours=hour + 1),
            started_at=start + timedelta(hours=hour + 1, minutes=10),
            finished_at=start + timedelta(hours=hour + 1, minutes=10, seconds=2, microseconds=500_000),
            duration_ms=2500, records_sent=hour, batches_sent=1, bytes_sent=100, attempts=1)
    failed = ExporterRun.objects.create(exporter=exporter, exporter_name="Devices", trigger="manual",
                                        status="failed", started_at=start + timedelta(days=1),
                                        last_error="HTTP 500: boom")
    ExporterRun.objects.create(exporter=None, exporter_name="Other", trigger="manual")
    runs = api.get(f"/exporters/{uid}/runs").json()
    assert len(runs) == 6
    assert all(set(run) == RUN_KEYS for run in runs)
    assert runs[0]["uid"] == str(failed.uid)
    assert runs[0]["last_error"] == "HTTP 500: boom"
    assert runs[0]["finished_at"] is None
    assert runs[1] == {
        "uid": runs[1]["uid"], "trigger": "schedule", "status": "success",
        "window_start": "2025-03-01T04:00:00Z", "window_end": "2025-03-01T05:00:00Z",
        "records_sent": 4, "batches_sent": 1, "bytes_sent": 100, "attempts": 1,
        "started_at": "2025-03-01T05:10:00Z", "finished_at": "2025-03-01T05:10:02.500000Z", "duration_ms": 2500,
        "last_error": None,
    }
    assert [run["records_sent"] for run in runs[1:]] == [4, 3, 2, 1, 0]
    limited = api.get(f"/exporters/{uid}/runs?limit=2").json()
    assert limited == runs[:2]


def test_runs_are_capped_to_the_200_newest(api, credential):
    uid = api.post("/exporters", exporter_body()).json()["uid"]
    exporter = Exporter.objects.get()
    start = datetime(2025, 3, 1, tzinfo=UTC)
    ExporterRun.objects.bulk_create([ExporterRun(exporter=exporter, exporter_name="Devices", trigger="schedule",
                                                 started_at=start + timedelta(minutes=n), records_sent=n)
                                     for n in range(205)])
    runs = api.get(f"/exporters/{uid}/runs").json()
    assert len(runs) == 200
    assert (runs[0]["records_sent"], runs[-1]["records_sent"]) == (204, 5)
    assert len(api.get(f"/exporters/{uid}/runs?limit=1000").json()) == 205


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "limit=", "limit=-1", "limit=1.5",
                                   "limit=1&limit=2", "limit=" + "9" * 5000, "limit=\u0661"])
def test_a_bad_runs_limit_is_400(api, credential, query):
    uid = api.post("/exporters", exporter_body()).json()["uid"]
    response = api.get(f"/exporters/{uid}/runs?{query}")
    assert response.status_code == 400
    assert errors(response) == {"limit": ["Enter one whole number from 1 to 1000."]}


# -- test loads against a real destination --------------------------------------------------------------------


@pytest.fixture
def devices(db):
    return [make_device(number) for number in range(1, 26)]


def sink_exporter_body(**fields) -> dict:
    body = exporter_body(credential="Sink", resource="/api/import?mode=test", queries=[
        {"nql": "devices | list name | sort name asc", "payload_structure": "array",
         "payload": '{"name": "{{device.name}}", "source": "opendex"}'}])
    body.update(fields)
    return body


def expected_records(count: int) -> bytes:
    return ("[" + ",".join(f'{{"name":"DEV-{n:05d}","source":"opendex"}}' for n in range(1, count + 1))
            + "]").encode()


@pytest.mark.django_db(transaction=True)
def test_test_load_of_an_unsaved_exporter_sends_at_most_20_records(api, sink, devices):
    sink_credential(sink)
    sink.script((200, {}, b'{"result": "imported 20"}'))
    response = api.post("/exporters/test-load", sink_exporter_body())
    assert response.status_code == 200, response.content
    assert response.json() == {"queries": [{"records": 20, "status": 200,
                                            "response_start": '{"result": "imported 20"}', "errors": []}]}
    assert len(sink.requests) == 1
    received = sink.requests[0]
    assert (received.method, received.path) == ("POST", "/base/api/import?mode=test")
    assert received.headers["Content-Type"] == "application/json; charset=utf-8"
    assert received.headers["Authorization"] == basic_header("opendex", SECRET)
    assert received.body == expected_records(20)
    assert not Exporter.objects.exists()
    run = ExporterRun.objects.get()
    assert (run.trigger, run.status, run.exporter, run.records_sent) == ("test", "success", None, 20)


@pytest.mark.django_db(transaction=True)
def test_test_load_reports_the_destination_answer_per_query(api, sink, devices):
    sink_credential(sink)
    sink.script((500, {}, b"destination is down"))
    body = sink_exporter_body(queries=[
        sink_exporter_body()["queries"][0],
        {"nql": "devices | where name == 'DEV-00003' | list name", "payload_structure": "collection",
         "payload": '{"n": "{{device.name}}"}'},
    ])
    response = api.post("/exporters/test-load", body)
    assert response.status_code == 200
    first, second = response.json()["queries"]
    assert (first["records"], first["status"], first["response_start"]) == (0, 500, "destination is down")
    assert first["errors"]
    assert second == {"records": 1, "status": 200, "response_start": '{"result": "ok"}', "errors": []}
    assert sink.requests[-1].body == b'{"n":"DEV-00003"}\n'


@pytest.mark.django_db(transaction=True)
def test_test_load_of_an_invalid_unsaved_exporter_is_400(api, sink, devices):
    sink_credential(sink)
    response = api.post("/exporters/test-load", sink_exporter_body(
        queries=[{"nql": "devices | list name", "payload": '{"n": "{{device.nme}}"}'}]))
    assert response.status_code == 400
    assert list(errors(response)) == ["queries[0].payload"]
    assert sink.requests == []
    assert not ExporterRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_test_load_of_an_unsaved_exporter_may_reuse_a_saved_name(api, sink, devices):
    sink_credential(sink)
    assert api.post("/exporters", sink_exporter_body()).status_code == 201
    response = api.post("/exporters/test-load", sink_exporter_body(batch_size=5))
    assert response.status_code == 200
    assert response.json()["queries"][0]["records"] == 20
    assert [len(received.json()) for received in sink.requests] == [5, 5, 5, 5]


@pytest.mark.django_db(transaction=True)
def test_test_load_of_a_saved_exporter_with_and_without_changes(api, sink, devices):
    sink_credential(sink)
    uid = api.post("/exporters", sink_exporter_body()).json()["uid"]
    response = api.post(f"/exporters/{uid}/test-load")
    assert response.status_code == 200
    assert response.json()["queries"][0]["records"] == 20
    assert sink.requests[0].body == expected_records(20)
    changed = {"queries": [{"nql": "devices | list name | sort name asc | limit 3", "payload_structure": "array",
                            "payload": '{"name": "{{device.name}}", "source": "opendex"}'}]}
    response = api.post(f"/exporters/{uid}/test-load/", changed)
    assert response.json()["queries"][0]["records"] == 3
    assert sink.requests[1].body == expected_records(3)
    assert Exporter.objects.get().queries.get().nql == "devices | list name | sort name asc"  # not saved
    runs = api.get(f"/exporters/{uid}/runs").json()
    assert [(run["trigger"], run["records_sent"]) for run in runs] == [("test", 3), ("test", 20)]
    response = api.post(f"/exporters/{uid}/test-load", {"batch_size": 0})
    assert errors(response) == {"batch_size": ["Ensure this value is greater than or equal to 1."]}


# -- manual runs ---------------------------------------------------------------------------------------------


def test_run_of_an_invalid_exporter_is_400(api, credential):
    uid = api.post("/exporters", exporter_body()).json()["uid"]
    ExporterQuery.objects.update(payload='{"n": "{{device.gone}}"}')
    response = api.post(f"/exporters/{uid}/run")
    assert response.status_code == 400
    assert list(errors(response)) == ["queries[0].payload"]
    response = api.post(f"/exporters/{uid}/run", {"now": True})
    assert errors(response) == {"now": ["Unknown field."]}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_manual_run_is_queued_and_runs_on_a_real_worker(api, sink, devices, celery_worker_queue, monkeypatch):
    from exporters.tasks import run_exporter_task

    queued = []

    def delay_on_the_test_queue(**kwargs):
        result = run_exporter_task.apply_async(kwargs=kwargs, queue=celery_worker_queue)
        queued.append(kwargs)
        return result

    monkeypatch.setattr(run_exporter_task, "delay", delay_on_the_test_queue)
    sink_credential(sink)
    uid = api.post("/exporters", sink_exporter_body()).json()["uid"]
    response = api.post(f"/exporters/{uid}/run")
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"exporter", "trigger", "status", "task_id"}
    assert (body["exporter"], body["trigger"], body["status"]) == (uid, "manual", "queued")
    uuid.UUID(body["task_id"])
    assert queued == [{"exporter_id": Exporter.objects.get().pk, "trigger": "manual", "redo_of": None}]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = ExporterRun.objects.filter(trigger="manual").first()
        if run is not None and run.status != "running":
            break
        time.sleep(0.2)
    assert run is not None and run.status == "success", run and run.last_error
    assert run.records_sent == 25
    assert sink.requests[0].body == expected_records(25)
    runs = api.get(f"/exporters/{uid}/runs").json()
    assert runs[0]["uid"] == str(run.uid)
    assert api.get(f"/exporters/{uid}").json()["last_run"]["status"] == "success"


# -- secrets never leave ------------------------------------------------------------------------------------


def test_no_answer_ever_holds_a_secret(api, sink, caplog):
    credential = sink_credential(sink, token="tok-secret", client_secret="cs-secret")
    answers = [api.get("/connector-credentials"), api.get(f"/connector-credentials/{credential.uid}"),
               api.patch(f"/connector-credentials/{credential.uid}", {"scope": "x"}),
               api.put(f"/connector-credentials/{credential.uid}", {"name": "Sink"}),
               api.post(f"/connector-credentials/{credential.uid}/test")]
    for response in answers:
        for secret in (SECRET, "tok-secret", "cs-secret"):
            assert secret.encode() not in response.content
    for secret in (SECRET, "tok-secret", "cs-secret"):
        assert secret not in caplog.text
