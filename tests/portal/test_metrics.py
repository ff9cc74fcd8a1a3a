"""Prometheus metrics at ``/metrics`` (issue 8, "Observability"): the families after real requests,
exporter runs and Celery tasks, the multiprocess mode, and who may read them."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
from celery import shared_task
from django.conf import settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from engine.models import SavedQuery
from exporters.services import test_load
from portal import metrics
from portal.models import ApiCredential
from remote_actions.models import Execution
from tests.exporters.sink import Answer, Sink, make_credential, make_exporter
from tests.factories import make_device

PASSWORD = "metrics-password-0123"


@pytest.fixture(autouse=True)
def _fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def basic(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def scrape(client: Client | None = None, **extra) -> dict[tuple[str, tuple], float]:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, tuple], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values, name: str, **labels) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def consume(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# -- the families, after real requests -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_families_after_requests(client, make_account):
    for number in range(1, 4):
        make_device(number)
    make_account("analyst", PASSWORD, finder_access=True)
    ApiCredential.objects.create(
        name="metrics", client_id="metrics", client_secret=PASSWORD, hash_client_secret=True,
        client_type=ApiCredential.CLIENT_CONFIDENTIAL, authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes="nql",
    )
    SavedQuery.objects.create(nql_id="#names", name="names", text="devices | list name")
    before = scrape()

    for fmt in ("csv", "json", "csv"):
        response = client.get("/2/query", {"query": "(select (name) (from device))", "format": fmt},
                              HTTP_AUTHORIZATION=basic("analyst"))
        assert response.status_code == 200
        consume(response)
    token = client.post("/oauth2/default/v1/token", "grant_type=client_credentials",
                        content_type="application/x-www-form-urlencoded",
                        HTTP_AUTHORIZATION=basic("metrics")).json()["access_token"]
    response = client.post("/api/v2/nql/execute", json.dumps({"queryId": "#names"}), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["rows"] == 3
    assert client.get("/no/such/page").status_code == 404

    response = client.get("/metrics")
    text = response.content.decode()
    for family in metrics.FAMILIES:
        assert f"# TYPE {family} " in text or f"# TYPE {family}_total " in text, family
    after = parse(text)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("opendex_http_requests_total", endpoint="engine-api:query", method="GET", status="200") == 3
    assert grew("opendex_http_requests_total", endpoint="engine-api:nql-execute-v2", method="POST", status="200") == 1
    assert grew("opendex_http_requests_total", endpoint="unmatched", method="GET", status="404") == 1
    assert grew("opendex_http_request_duration_seconds_count", endpoint="engine-api:query", method="GET") == 3
    assert grew("opendex_query_rows_total", language="nxql", format="csv") == 6
    assert grew("opendex_query_rows_total", language="nxql", format="json") == 3
    assert grew("opendex_query_duration_seconds_count", language="nxql", format="csv") == 2
    assert grew("opendex_query_rows_total", language="nql", format="json") == 3
    assert grew("opendex_query_duration_seconds_count", language="nql", format="json") == 1
    for status in Execution.Status.values:
        assert value(after, "opendex_remote_action_executions", status=status) == Execution.objects.filter(
            status=status).count()


@pytest.mark.django_db(transaction=True)  # exporter runs write their progress on a connection of their own
def test_exporter_runs_records_and_failures():
    make_device(1)
    before = scrape()
    with Sink() as sink:
        credential = make_credential(sink.url)
        exporter = make_exporter(credential, [("devices | list name", "collection", '{"device": "{{device.name}}"}')])
        assert test_load(exporter, list(exporter.queries.all())).run.status == "success"
        sink.script(Answer(401, body=b"go away"))
        assert test_load(exporter, list(exporter.queries.all())).run.status == "failed"
    after = scrape()

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("opendex_exporter_runs_total", trigger="test", status="success") == 1
    assert grew("opendex_exporter_runs_total", trigger="test", status="failed") == 1
    assert grew("opendex_exporter_records_total", trigger="test") == 1
    assert grew("opendex_exporter_failures_total", trigger="test", http_status="401") == 1
    assert grew("opendex_exporter_run_duration_seconds_count", trigger="test") == 2


@shared_task(name="tests.metrics.maybe_fails")
def maybe_fails(fail: bool) -> str:
    if fail:
        raise RuntimeError("the task failed on purpose")
    return "ok"


@pytest.mark.django_db
def test_celery_task_outcomes():
    before = scrape()
    maybe_fails.apply(args=(False,))
    maybe_fails.apply(args=(True,))
    maybe_fails.apply(args=(False,))
    after = scrape()
    task = "tests.metrics.maybe_fails"
    assert value(after, "opendex_celery_tasks_total", task=task, outcome="success") - value(
        before, "opendex_celery_tasks_total", task=task, outcome="success") == 2
    assert value(after, "opendex_celery_tasks_total", task=task, outcome="failure") - value(
        before, "opendex_celery_tasks_total", task=task, outcome="failure") == 1


# -- several processes (gunicorn workers, Celery) add up ---------------------------------------------------

CHILD = """
from portal import metrics
metrics.HTTP_REQUESTS.labels("multi:endpoint", "GET", "200").inc()
metrics.QUERY_ROWS.labels("nql", "export").inc(5)
metrics.celery_task_outcome("multi.task", "success")
"""


@pytest.mark.django_db
def test_multiprocess_mode_adds_up_the_processes(tmp_path, monkeypatch):
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", CHILD], cwd=settings.BASE_DIR, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "prometheus").glob("*.db"))) >= 2  # one file per process and kind
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))
    values = parse(metrics.exposition()[0].decode())
    assert value(values, "opendex_http_requests_total", endpoint="multi:endpoint", method="GET", status="200") == 2
    assert value(values, "opendex_query_rows_total", language="nql", format="export") == 10
    assert value(values, "opendex_celery_tasks_total", task="multi.task", outcome="success") == 2
    assert ("opendex_remote_action_executions", (("status", "success"),)) in values


# -- who may read them ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_loopback_may_read_without_a_token(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert Client().get("/metrics/", REMOTE_ADDR="127.0.0.1").status_code == 200  # no trailing-slash redirect


@pytest.mark.django_db
@pytest.mark.parametrize("extra", [
    {"REMOTE_ADDR": "10.1.2.3"},
    {"REMOTE_ADDR": "192.0.2.10"},
    {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},  # through a proxy on this machine
    {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=203.0.113.9"},
    {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "203.0.113.9"},
])
def test_anyone_else_is_refused_without_a_token(settings, extra):
    settings.METRICS_TOKEN = ""
    response = Client().get("/metrics", **extra)
    assert response.status_code == 403
    assert b"opendex_" not in response.content


@pytest.mark.django_db
def test_with_a_token_every_reader_needs_it(settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    for remote in ("127.0.0.1", "10.1.2.3"):
        for authorization in (None, "Bearer wrong", "Basic c2NyYXBlOnRva2Vu", "Bearer scrape-token-012345678"):
            extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
            response = Client().get("/metrics", REMOTE_ADDR=remote, **extra)
            assert response.status_code == 401, (remote, authorization)
            assert response["WWW-Authenticate"].startswith("Bearer")
            assert b"opendex_" not in response.content
        response = Client().get("/metrics", REMOTE_ADDR=remote, HTTP_AUTHORIZATION="Bearer scrape-token-0123456789")
        assert response.status_code == 200
        assert b"opendex_http_requests_total" in response.content


@pytest.mark.django_db
def test_a_database_out_of_reach_does_not_fail_the_scrape(settings, monkeypatch):
    from django.db.models import QuerySet

    def unavailable(*args, **kwargs):
        raise RuntimeError("the database is gone")

    settings.METRICS_TOKEN = ""
    assert value(scrape(), "opendex_database_up") == 1
    monkeypatch.setattr(QuerySet, "_fetch_all", unavailable)
    values = scrape()
    assert value(values, "opendex_database_up") == 0
    assert not any(name == "opendex_remote_action_executions" for name, _labels in values)
    assert any(name == "opendex_http_requests_total" for name, _labels in values)


@pytest.mark.django_db
def test_openmetrics_when_asked(settings):
    settings.METRICS_TOKEN = ""
    response = Client().get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    text = response.content.decode()
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    assert "opendex_remote_action_executions" in text


@pytest.mark.django_db
def test_only_get_and_head(settings):
    settings.METRICS_TOKEN = ""
    assert Client().post("/metrics").status_code == 405
