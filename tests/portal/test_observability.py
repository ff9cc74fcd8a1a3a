"""Request ids (header, every log line, the 500 bodies), structured logs and Celery task ids (issue 8,
"Observability"; docs/decisions.md)."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys

import pytest
from celery import shared_task, signals
from django.conf import settings
from django.test import Client

from engine import services as engine_services
from engine.api import nql_views
from engine.models import SavedQuery
from exporters.api import views as exporter_views
from portal import logs, oauth
from portal.models import ApiCredential
from tests.factories import make_device

pytestmark = pytest.mark.django_db

PASSWORD = "observability-pw-0123"
HEX32 = re.compile(r"[0-9a-f]{32}")
NXQL = "(select (name) (from device))"


@pytest.fixture(autouse=True)
def _fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def basic(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def analyst(make_account):
    make_device(1)
    return make_account("analyst", PASSWORD, finder_access=True)


def records_with(caplog, text: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if text in record.getMessage()]


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# -- the header ------------------------------------------------------------------------------------


def test_every_response_names_a_generated_request_id(client):
    first = client.get("/no/such/page")
    second = client.get("/api/configuration/v1/engines")
    assert first.status_code == 404 and second.status_code == 401
    assert HEX32.fullmatch(first["X-Request-ID"]) and HEX32.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_sane_incoming_request_id_is_kept(client):
    response = client.get("/api/configuration/v1/engines", HTTP_X_REQUEST_ID="trace-42.abc_DEF:1")
    assert response["X-Request-ID"] == "trace-42.abc_DEF:1"


@pytest.mark.parametrize("incoming", ["", "with space", "x" * 129, "quote\"d", "new\nline", "-leading-dash",
                                      "é-accent"])
def test_an_odd_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/api/configuration/v1/engines", HTTP_X_REQUEST_ID=incoming)
    assert HEX32.fullmatch(response["X-Request-ID"])


# -- the id on every log line -------------------------------------------------------------------------


def test_log_lines_of_a_request_carry_its_id_streamed_body_included(client, analyst, caplog, monkeypatch):
    inner = logging.getLogger("tests.observability")
    real_execute = engine_services.execute

    class Logged:
        """A query result whose rows log while the response streams (after the view has returned)."""

        def __init__(self, result):
            self.columns, self._rows = result.columns, result.rows

        @property
        def rows(self):
            for row in self._rows:
                inner.warning("streaming row %s", row[0])
                yield row

    def execute(compiled, *args, **kwargs):
        inner.warning("running the query")
        return Logged(real_execute(compiled, *args, **kwargs))

    monkeypatch.setattr(engine_services, "execute", execute)
    caplog.set_level(logging.INFO)
    response = client.get("/2/query", {"query": NXQL}, HTTP_AUTHORIZATION=basic("analyst"))
    content = body(response)
    assert response.status_code == 200 and b"DEV-00001" in content
    request_id = response["X-Request-ID"]
    lines = records_with(caplog, "running the query") + records_with(caplog, "streaming row")
    assert len(lines) == 2
    assert {record.request_id for record in lines} == {request_id}
    # Nothing of the request leaks into what the thread logs afterwards.
    inner.warning("after the request")
    assert records_with(caplog, "after the request")[0].request_id is None


def test_the_handlers_filter_annotates_records_made_elsewhere():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)  # no factory
    assert not hasattr(record, "request_id")
    token = logs.request_id_var.set("abc123")
    try:
        logs.ContextFilter().filter(record)
    finally:
        logs.request_id_var.reset(token)
    assert record.request_id == "abc123"


# -- the 500 paths name the same id as their log line -------------------------------------------------


def boom(*args, **kwargs):
    raise RuntimeError("boom: something unexpected")


def assert_logged_with(caplog, request_id: str) -> None:
    """The view's log line names the id and holds the traceback; every error line (Django's own
    ``Internal Server Error`` line included) carries the id."""
    failures = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert {record.request_id for record in failures} == {request_id}
    own = [record for record in failures if record.name != "django.request"]
    assert own, "the failure was not logged by the view"
    for record in own:
        assert request_id in record.getMessage()
        assert record.exc_info or record.exc_text


def test_web_api_500(client, analyst, caplog, monkeypatch):
    monkeypatch.setattr(engine_services, "execute", boom)
    response = client.get("/2/query", {"query": NXQL}, HTTP_AUTHORIZATION=basic("analyst"))
    request_id = response["X-Request-ID"]
    assert response.status_code == 500
    assert f"request id {request_id}".encode() in body(response)
    assert b"boom" not in body(response)
    assert_logged_with(caplog, request_id)


def test_web_api_500_names_the_callers_request_id(client, analyst, caplog, monkeypatch):
    monkeypatch.setattr(engine_services, "execute", boom)
    response = client.get("/2/query", {"query": NXQL}, HTTP_AUTHORIZATION=basic("analyst"),
                          HTTP_X_REQUEST_ID="caller-chosen-id-7")
    assert b"request id caller-chosen-id-7" in body(response)
    assert_logged_with(caplog, "caller-chosen-id-7")


def nql_token(client) -> str:
    ApiCredential.objects.create(
        name="observability", client_id="observability", client_secret=PASSWORD, hash_client_secret=True,
        client_type=ApiCredential.CLIENT_CONFIDENTIAL, authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes="service:integration",
    )
    response = client.post("/oauth2/default/v1/token", "grant_type=client_credentials",
                           content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=basic("observability"))
    return response.json()["access_token"]


def test_nql_api_500(client, caplog, monkeypatch):
    token = nql_token(client)
    SavedQuery.objects.create(nql_id="#all", name="all", text="devices | list name")
    monkeypatch.setattr(nql_views, "prepare", boom)
    response = client.post("/api/v2/nql/execute", json.dumps({"queryId": "#all"}), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    request_id = response["X-Request-ID"]
    assert response.status_code == 500
    assert response.json() == {"message": f"internal error (request id {request_id})", "code": 500}
    assert_logged_with(caplog, request_id)


def test_token_endpoint_500(client, caplog, monkeypatch):
    ApiCredential.objects.create(
        name="t", client_id="t", client_secret=PASSWORD, hash_client_secret=True,
        client_type=ApiCredential.CLIENT_CONFIDENTIAL, authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes="nql",
    )
    monkeypatch.setattr(oauth, "issue_token", boom)
    response = client.post("/oauth2/default/v1/token", "grant_type=client_credentials",
                           content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=basic("t"))
    assert response.status_code == 500
    assert response.json() == {"error": "server_error"}
    assert_logged_with(caplog, response["X-Request-ID"])


def test_configuration_api_500(client, make_account, caplog, monkeypatch):
    make_account("admin-obs", PASSWORD, administration=True)
    monkeypatch.setattr(exporter_views.ExporterList, "get", boom)
    response = client.get("/api/config/v1/exporters", HTTP_AUTHORIZATION=basic("admin-obs"))
    request_id = response["X-Request-ID"]
    assert response.status_code == 500
    assert response.json() == {"errors": {"server": [f"Internal error (request id {request_id})."]}}
    assert_logged_with(caplog, request_id)


def test_a_portal_page_500_names_the_request_id(make_account, caplog, monkeypatch):
    from django.contrib.admin import AdminSite

    monkeypatch.setattr(AdminSite, "each_context", boom)
    client = Client(raise_request_exception=False)
    client.force_login(make_account("admin-page", PASSWORD, administration=True))
    response = client.get("/admin/")
    request_id = response["X-Request-ID"]
    assert response.status_code == 500
    assert f"request id {request_id}" in response.content.decode()
    assert b"boom" not in response.content and b"Traceback" not in response.content
    assert_logged_with_django(caplog, request_id)


def assert_logged_with_django(caplog, request_id: str) -> None:
    """Django's own log line of an unhandled exception (``django.request``) carries the id too."""
    failures = [record for record in caplog.records if record.name == "django.request"]
    assert failures and {record.request_id for record in failures} == {request_id}


def test_outside_a_request_the_current_id_is_new_each_time():
    assert HEX32.fullmatch(logs.current_request_id())
    assert logs.current_request_id() != logs.current_request_id()


# -- formats ---------------------------------------------------------------------------------------------


def make_record(message="hello %s", args=("world",), exc=False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad value")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.getLogger("tests.format").makeRecord("tests.format", logging.ERROR, __file__, 1, message, args,
                                                        exc_info)


def test_json_lines_hold_the_documented_fields():
    token = logs.request_id_var.set("req-1")
    try:
        record = make_record(exc=True)
    finally:
        logs.request_id_var.reset(token)
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert (entry["level"], entry["logger"], entry["request_id"]) == ("ERROR", "tests.format", "req-1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert "ValueError: bad value" in entry["exception"]
    assert "task_id" not in entry


def test_plain_lines_name_the_request_id_or_a_dash():
    assert " [-] hello world" in logs.PlainFormatter().format(make_record())
    token = logs.request_id_var.set("req-2")
    try:
        assert " [req-2] hello world" in logs.PlainFormatter().format(make_record())
    finally:
        logs.request_id_var.reset(token)


def test_log_format_defaults_to_json_unless_debug():
    assert logs.log_format(None, debug=False) == "json"
    assert logs.log_format(None, debug=True) == "plain"
    assert logs.log_format("PLAIN", debug=False) == "plain"
    assert logs.log_format("json", debug=True) == "json"
    assert logs.log_format("xml", debug=False) == "json"


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    from django.db import connection

    from portal.database import database_url

    environment = {k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "DEBUG", "LOG_LEVEL")}
    environment.update(DATABASE_URL=database_url(connection.settings_dict), SECRET_KEY=settings.SECRET_KEY,
                       OPENDEX_SECRETS_KEY=settings.OPENDEX_SECRETS_KEY, **env)
    return subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=settings.BASE_DIR, env=environment,
                          capture_output=True, text=True, timeout=120)


LOG_SOMETHING = "import logging; logging.getLogger('tests.child').warning('a line from %s', 'the child')"


def test_production_logs_are_json_lines_on_stderr():
    done = run_django(LOG_SOMETHING)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    entry = next(entry for entry in entries if entry["logger"] == "tests.child")
    assert entry["message"] == "a line from the child" and entry["level"] == "WARNING"
    assert entry["request_id"] is None


def test_log_format_plain_gives_text_lines():
    done = run_django(LOG_SOMETHING, LOG_FORMAT="plain")
    assert done.returncode == 0, done.stderr
    assert re.search(r"WARNING tests\.child \[-\] a line from the child", done.stderr)


# -- Celery ----------------------------------------------------------------------------------------------


@shared_task(name="tests.observability.logs_a_line")
def logs_a_line(fail: bool = False) -> str:
    logging.getLogger("tests.task").warning("inside the task")
    if fail:
        raise RuntimeError("the task failed")
    return "done"


def test_task_log_lines_carry_the_task_id(caplog):
    caplog.set_level(logging.INFO)
    result = logs_a_line.apply(task_id="task-id-1234")
    assert result.get() == "done"
    record = records_with(caplog, "inside the task")[0]
    assert (record.task_id, record.task_name) == ("task-id-1234", "tests.observability.logs_a_line")
    entry = json.loads(logs.JsonFormatter().format(record))
    assert (entry["task_id"], entry["task"]) == ("task-id-1234", "tests.observability.logs_a_line")
    assert "[task-id-1234]" in logs.PlainFormatter().format(record)
    logging.getLogger("tests.task").warning("after the task")
    assert records_with(caplog, "after the task")[0].task_id is None


def test_celery_logs_with_the_project_configuration():
    """A receiver of ``setup_logging`` stops Celery from installing its own handlers and format."""
    from portal.observability import _setup_logging

    assert any(receiver is _setup_logging for _key, receiver in signals.setup_logging.receivers)
