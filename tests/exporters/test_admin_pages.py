"""Exporter portal pages (exporters.md, "Portal pages"): the data exporter list, the type chooser, the
General/Data form with live payload content helpers and the test load, run history, Run now, delete
confirmation and rights. Test-client tests first, then headless Chromium against a live server and a
real local HTTP sink."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from exporters import schedule, services
from exporters.models import ConnectorCredential, Exporter, ExporterQuery, ExporterRun
from portal.models import Account, Profile
from tests import browser as browser_support
from tests.exporters.sink import Sink
from tests.factories import make_device, make_engine

browser = browser_support.browser  # the module-scoped headless Chromium fixture

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WAIT_SECONDS = 20
LIST_URL = "/admin/exporters/exporter/"
ADD_URL = "/admin/exporters/exporter/add/"
HELPERS_URL = "/admin/exporters/exporter/helpers/"
TEST_LOAD_URL = "/admin/exporters/exporter/test-load/"
RUNS_URL = "/admin/exporters/exporterrun/"
EVENTS = "execution.events during past {} | list device.name"
QUERY = {"position": "0", "nql": "devices | list name", "structure": "array",
         "payload": '{"name": "{{device.name}}", "source": "opendex"}'}


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    settings.ALLOWED_HOSTS = ["*"]


def make_admin(username: str = "exporter-admin") -> Account:
    """An account whose profile has the administration right (staff, every exporter permission)."""
    profile = Profile.objects.create(name=f"profile of {username}", administration=True)
    return Account.objects.create(username=username, profile=profile)


def make_user(username: str = "analyst") -> Account:
    profile = Profile.objects.create(name=f"profile of {username}", administration=False)
    return Account.objects.create(username=username, profile=profile)


def logged_in(account: Account) -> Client:
    client = Client()
    client.force_login(account)
    return client


def make_credential(url: str = "https://tool.example.com", name: str = "Tool") -> ConnectorCredential:
    return ConnectorCredential.objects.create(name=name, base_url=url, auth_type="basic", username="opendex",
                                              password="s3cret", allow_plain_http=url.startswith("http:"))


def make_exporter(credential, name: str = "Devices", queries: tuple[dict, ...] = (QUERY,), **fields) -> Exporter:
    values = dict(name=name, credential=credential, method="POST", resource="api/import/devices",
                  recurrence="daily")
    values.update(fields)
    exporter = Exporter.objects.create(**values)
    for position, query in enumerate(queries):
        ExporterQuery.objects.create(exporter=exporter, position=position, nql=query["nql"],
                                     structure=query["structure"], payload=query["payload"])
    return exporter


def make_devices(count: int) -> None:
    engine = make_engine()
    for number in range(1, count + 1):
        make_device(number, engine=engine)


def form_data(credential, queries: list[dict], *, initial: int = 0, **general) -> dict:
    """The POST of the exporter form: General fields, Options, and the query formset."""
    data = {"name": "Devices", "description": "", "credential": str(credential.pk), "method": "POST",
            "resource": "api/import/devices", "recurrence": "daily", "every_hours": "", "weekday": "",
            "enabled": "on", "batch_size": "200", "max_request_bytes": "5242880", "max_attempts": "8",
            "queries-TOTAL_FORMS": str(len(queries)), "queries-INITIAL_FORMS": str(initial),
            "queries-MIN_NUM_FORMS": "1", "queries-MAX_NUM_FORMS": "10"}
    data.update(general)
    for index, query in enumerate(queries):
        for key, value in query.items():
            data[f"queries-{index}-{key}"] = value
    return data


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def make_run(exporter, minutes_ago: int, **fields) -> ExporterRun:
    values = dict(exporter=exporter, exporter_name=exporter.name, trigger=ExporterRun.SCHEDULE,
                  status=ExporterRun.SUCCESS, started_at=timezone.now() - timedelta(minutes=minutes_ago),
                  records_sent=0)
    values.update(fields)
    return ExporterRun.objects.create(**values)


# -- the list ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_count_recurrence_enabled_last_and_next_run():
    credential = make_credential()
    hourly = make_exporter(credential, "Hourly", recurrence="hourly", every_hours=6,
                           queries=({**QUERY, "nql": EVENTS.format("6h")},))
    daily = make_exporter(credential, "Daily")
    make_exporter(credential, "Weekly off", recurrence="weekly", weekday=2, enabled=False)
    make_run(hourly, 120, records_sent=7)
    make_run(hourly, 60, status=ExporterRun.FAILED, records_sent=1234, last_error="HTTP 500")
    make_run(hourly, 1, trigger=ExporterRun.TEST, records_sent=20)  # a test load is not the last run

    response = logged_in(make_admin()).get(LIST_URL)
    assert response.status_code == 200
    changelist = response.context["cl"]
    assert changelist.result_count == changelist.full_result_count == 3
    assert list(changelist.list_display) == ["action_checkbox", "name", "recurrence_display", "enabled", "last_run",
                                             "next_run"]
    page = text_of(response)
    assert "<h1>Data exporters</h1>" in page
    assert 'id="exporter-count">3 exporters</p>' in page
    assert ">3 exporters<" in page  # Django's own count line
    assert ">New exporter<" in page and "Add exporter" not in page

    rows = {row.split("</th>")[0].rsplit(">", 2)[-2].split("<")[0]: row
            for row in page.split('<tr>')[2:] if "</th>" in row}
    hourly_row, daily_row, weekly_row = rows["Hourly"], rows["Daily"], rows["Weekly off"]
    assert "Every 6 hours" in hourly_row
    assert 'class="run-status run-status-failed">failed</span>' in hourly_row and "1,234 records" in hourly_row
    next_hourly = schedule.next_run_at(hourly, timezone.now())
    assert next_hourly.strftime("%Y-%m-%d %H:%M UTC") in hourly_row
    assert "Daily at 00:00 UTC" in daily_row and "never" in daily_row
    assert schedule.next_run_at(daily, timezone.now()).strftime("%Y-%m-%d %H:%M UTC") in daily_row
    assert "Weekly on Wednesday at 00:00 UTC" in weekly_row
    assert 'class="field-next_run">—</td>' in weekly_row
    assert 'alt="False"' in weekly_row and 'alt="True"' in daily_row


@pytest.mark.django_db
def test_list_queries_do_not_grow_with_the_number_of_exporters():
    credential = make_credential()
    client = logged_in(make_admin())

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST_URL).status_code == 200
        return len(queries)

    for number in range(2):
        make_run(make_exporter(credential, f"A{number}"), 5, records_sent=number)
    few = count()
    for number in range(8):
        make_run(make_exporter(credential, f"B{number}"), 5, records_sent=number)
    assert count() == few


# -- new exporter: the type, then the tabs -----------------------------------------------------------


@pytest.mark.django_db
def test_new_exporter_asks_for_the_type_then_shows_the_tabs_and_the_test_button():
    make_credential()
    client = logged_in(make_admin())
    response = client.get(ADD_URL)
    assert response.status_code == 200
    assert response.templates[0].name == "admin/exporters/exporter/choose_type.html"
    page = text_of(response)
    assert "CMDB &amp; Ops tools / HTTP API (Payload)" in page
    assert 'href="/admin/exporters/exporter/add/?type=http_api"' in page

    response = client.get(ADD_URL + "?type=http_api")
    assert response.status_code == 200
    page = text_of(response)
    assert "New exporter: CMDB &amp; Ops tools / HTTP API (Payload)" in page
    assert 'id="tab-general"' in page and 'id="tab-data"' in page
    assert 'id="panel-general"' in page and 'id="panel-data"' in page
    assert ">Test load up to 20 records<" in page
    assert 'data-helpers-url="/admin/exporters/exporter/helpers/"' in page
    assert 'data-test-load-url="/admin/exporters/exporter/test-load/"' in page
    assert "exporters/exporter_form.js" in page
    # General holds the general fields and the options; Data holds the queries.
    general, data = page.split('id="panel-general"')[1].split('id="panel-data"')
    for field in ("name", "description", "credential", "method", "resource", "recurrence", "every_hours",
                  "weekday", "enabled", "batch_size", "max_request_bytes", "max_attempts"):
        assert f'name="{field}"' in general, field
    assert 'name="queries-0-nql"' in data and 'name="queries-0-payload"' in data
    assert "Type a query to see its columns." in data


@pytest.mark.django_db
def test_add_through_the_form_with_its_queries():
    credential = make_credential()
    client = logged_in(make_admin())
    second = {"position": "1", "nql": EVENTS.format("1d"), "structure": "collection",
              "payload": '{"device": "{{device.name}}"}'}
    response = client.post(ADD_URL + "?type=http_api", form_data(credential, [QUERY, second]))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == LIST_URL
    exporter = Exporter.objects.get(name="Devices")
    assert [(query.position, query.structure) for query in exporter.queries.order_by("position")] == [
        (0, "array"), (1, "collection")]
    page = text_of(client.get(reverse("admin:exporters_exporter_change", args=[exporter.pk])))
    assert "<code>{{device.name}}</code>" in page
    assert 'id="runs-link">Runs (0)</a>' in page
    assert f'data-test-load-url="/admin/exporters/exporter/{exporter.pk}/test-load/"' in page


@pytest.mark.django_db
def test_errors_are_shown_at_their_fields_and_their_tab_is_marked():
    credential = make_credential()
    client = logged_in(make_admin())
    bad_query = {**QUERY, "nql": EVENTS.format("7d")}
    response = client.post(ADD_URL + "?type=http_api", form_data(credential, [bad_query]))
    assert response.status_code == 200
    assert not Exporter.objects.exists()
    query_errors = response.context["inline_admin_formsets"][0].formset.forms[0].errors
    assert "does not match the daily recurrence" in query_errors["nql"][0]
    assert response.context["data_errors"] and not response.context["general_errors"]
    assert response.context["active_tab"] == "data"
    page = text_of(response)
    data_tab = page.split('id="tab-data"')[0].rsplit("<button", 1)[1]
    assert "has-errors" in data_tab
    # the message sits in the NQL field's row of the first query
    nql_row = page.split('id="queries-0"')[1].split("field-nql")[1].split("</textarea>")[0]
    assert "does not match the daily recurrence" in nql_row

    response = client.post(ADD_URL, form_data(credential, [QUERY], resource="https://tool.example.com/x",
                                              name=""))
    assert response.context["general_errors"] and not response.context["data_errors"]
    assert response.context["active_tab"] == "general"
    assert set(response.context["adminform"].form.errors) == {"name", "resource"}


# -- the payload content helpers -----------------------------------------------------------------


@pytest.mark.django_db
def test_helpers_view_answers_the_columns_or_the_error():
    client = logged_in(make_admin())
    answer = client.get(HELPERS_URL, {"nql": "devices | list name, operating_system.platform"}).json()
    assert answer == {"columns": ["device.name", "device.operating_system.platform"],
                      "placeholders": ["{{device.name}}", "{{device.operating_system.platform}}"],
                      "error": None, "warnings": []}

    answer = client.get(HELPERS_URL, {"nql": "devices | list nme"}).json()
    assert answer["columns"] == []
    assert answer["error"] == "The query is not valid: unknown field 'nme' in table devices at line 1, column 16."

    answer = client.get(HELPERS_URL, {"nql": EVENTS.format("7d"), "recurrence": "hourly", "every_hours": "2"}).json()
    assert answer["columns"] == ["device.name"]
    assert "does not match the every 2 hours recurrence" in answer["warnings"][0]

    assert client.get(HELPERS_URL, {"nql": "  "}).json()["columns"] == []


@pytest.mark.django_db
def test_helpers_view_is_for_administrators_only():
    response = logged_in(make_user()).get(HELPERS_URL, {"nql": "devices | list name"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert Client().get(HELPERS_URL, {"nql": "devices | list name"}).status_code == 302


# -- the test load ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_test_load_of_an_unsaved_exporter_sends_twenty_records_and_saves_only_the_run():
    make_devices(25)
    client = logged_in(make_admin())
    with Sink() as sink:
        credential = make_credential(sink.url)
        second = {"position": "1", "nql": "devices | where name == \"DEV-00003\" | list name",
                  "structure": "collection", "payload": '{"only": "{{device.name}}"}'}
        response = client.post(TEST_LOAD_URL, form_data(credential, [QUERY, second]))
        assert response.status_code == 200, response.content
        answer = response.json()
        assert answer["ok"] is True
        outcomes = [(query["query"], query["records"], query["status"], query["errors"])
                    for query in answer["queries"]]
        assert outcomes == [(1, 20, 200, []), (2, 1, 200, [])]
        assert answer["queries"][0]["response_start"] == '{"result": "ok"}'
        assert "21 records sent" in answer["message"]
        assert len(sink.requests) == 2
        first = sink.requests[0]
        assert first.path == "/api/import/devices"
        assert len(first.json()) == 20
        assert first.json()[0] == {"name": "DEV-00001", "source": "opendex"}
        assert sink.requests[1].lines() == [{"only": "DEV-00003"}]
    assert not Exporter.objects.exists() and not ExporterQuery.objects.exists()
    run = ExporterRun.objects.get()
    assert (run.trigger, run.status, run.exporter_id, run.exporter_name) == ("test", "success", None, "Devices")
    assert run.records_sent == 21
    assert answer["run"]["uid"] == str(run.uid)
    assert answer["run"]["url"] == reverse("admin:exporters_exporterrun_change", args=[run.pk])


@pytest.mark.django_db(transaction=True)
def test_test_load_of_a_saved_exporter_uses_the_unsaved_changes():
    make_devices(3)
    client = logged_in(make_admin())
    with Sink() as sink:
        credential = make_credential(sink.url)
        exporter = make_exporter(credential)
        query = exporter.queries.get()
        changed = {"id": str(query.pk), "exporter": str(exporter.pk), **QUERY,
                   "payload": '{"changed": "{{device.name}}"}'}
        url = reverse("admin:exporters_exporter_test_load", args=[exporter.pk])
        answer = client.post(url, form_data(credential, [changed], initial=1, resource="api/other")).json()
        assert answer["ok"] is True and answer["queries"][0]["records"] == 3
        assert sink.requests[0].path == "/api/other"
        assert sink.requests[0].json()[0] == {"changed": "DEV-00001"}
    exporter.refresh_from_db()
    assert exporter.resource == "api/import/devices"
    assert exporter.queries.get().payload == QUERY["payload"]
    run = ExporterRun.objects.get()
    assert (run.trigger, run.exporter_id) == ("test", exporter.pk)


@pytest.mark.django_db(transaction=True)
def test_test_load_reports_the_destination_answer_when_it_refuses():
    make_devices(2)
    client = logged_in(make_admin())
    with Sink() as sink:
        sink.script((400, {}, b'{"error": "unknown table u_devices"}'))
        credential = make_credential(sink.url)
        response = client.post(TEST_LOAD_URL, form_data(credential, [QUERY]))
        answer = response.json()
    assert answer["ok"] is False
    outcome = answer["queries"][0]
    assert outcome["status"] == 400 and outcome["records"] == 0
    assert "unknown table u_devices" in outcome["response_start"]
    assert outcome["errors"]
    assert ExporterRun.objects.get().status == ExporterRun.FAILED


@pytest.mark.django_db
def test_test_load_shows_the_validation_errors_and_sends_nothing():
    credential = make_credential()
    client = logged_in(make_admin())
    bad = {**QUERY, "nql": EVENTS.format("7d"), "payload": '{"n": "{{device.nme}}"}'}
    response = client.post(TEST_LOAD_URL, form_data(credential, [bad], resource="https://x.example.com/a"))
    assert response.status_code == 400
    answer = response.json()
    assert answer["ok"] is False and "not run" in answer["message"]
    where = {(entry["tab"], entry["field"], entry["label"]): entry["messages"] for entry in answer["errors"]}
    assert "without scheme and host" in where[("general", "resource", "Resource")][0]
    assert "does not match the daily recurrence" in where[("data", "queries-0-nql", "Query 1, NQL query")][0]
    assert "Unknown placeholder {{device.nme}}" in where[("data", "queries-0-payload", "Query 1, Payload JSON")][0]
    assert not ExporterRun.objects.exists()


@pytest.mark.django_db
def test_test_load_is_a_post_for_administrators_only():
    credential = make_credential()
    assert logged_in(make_admin()).get(TEST_LOAD_URL).status_code == 405
    response = logged_in(make_user()).post(TEST_LOAD_URL, form_data(credential, [QUERY]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert not ExporterRun.objects.exists()


# -- runs, Run now, delete ------------------------------------------------------------------------


@pytest.mark.django_db
def test_runs_list_filters_and_detail():
    credential = make_credential()
    exporter = make_exporter(credential)
    other = make_exporter(credential, "Other")
    window_end = datetime(2026, 3, 2, tzinfo=UTC)
    make_run(exporter, 30, status=ExporterRun.RUNNING, records_sent=4000, batches_sent=4, bytes_sent=2048,
             attempts=4, window_start=window_end - timedelta(days=1), window_end=window_end)
    failed = make_run(exporter, 90, status=ExporterRun.FAILED, last_status=503, duration_ms=1500,
                      last_error="HTTP 503: <h1>busy</h1>", results=[{"window": "x", "records": 0}])
    make_run(other, 10)
    client = logged_in(make_admin())

    page = text_of(client.get(reverse("admin:exporters_exporter_change", args=[exporter.pk])))
    assert f'href="{RUNS_URL}?exporter__id__exact={exporter.pk}" id="runs-link">Runs (2)</a>' in page

    response = client.get(RUNS_URL, {"exporter__id__exact": exporter.pk})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    assert list(response.context["cl"].list_display) == [
        "exporter_name", "trigger", "status_display", "window", "records", "batches", "bytes_display",
        "attempts", "started", "duration", "last_status"]
    page = text_of(response)
    assert "run-status-running" in page and "4,000" in page and "2.0 KB" in page
    assert "2026-03-01 00:00 → 2026-03-02 00:00" in page
    assert "1.5 s" in page and "503" in page
    assert "exporters/runs.js" in page  # reloads while a run is running
    assert "Add exporter run" not in page
    filters = response.context["cl"].filter_specs
    assert [spec.title for spec in filters] == ["status", "trigger", "exporter"]
    assert client.get(RUNS_URL, {"status__exact": "failed"}).context["cl"].result_count == 1

    page = text_of(client.get(reverse("admin:exporters_exporterrun_change", args=[failed.pk])))
    assert '<pre class="run-error">HTTP 503: &lt;h1&gt;busy&lt;/h1&gt;</pre>' in page
    assert "&quot;records&quot;: 0" in page
    assert 'name="_save"' not in page  # read-only
    assert client.post(reverse("admin:exporters_exporterrun_delete", args=[failed.pk]),
                       {"post": "yes"}).status_code == 403


@pytest.mark.django_db
def test_run_now_button_and_action_queue_manual_runs(monkeypatch):
    queued = []
    monkeypatch.setattr(services, "queue_run", lambda exporter, trigger="manual": queued.append((exporter.name,
                                                                                                  trigger)))
    credential = make_credential()
    exporter = make_exporter(credential)
    second = make_exporter(credential, "Second")
    client = logged_in(make_admin())
    page = text_of(client.get(reverse("admin:exporters_exporter_change", args=[exporter.pk])))
    assert f'action="/admin/exporters/exporter/{exporter.pk}/run/" id="run-now-form"' in page
    assert 'form="run-now-form" id="run-now"' in page

    url = reverse("admin:exporters_exporter_run", args=[exporter.pk])
    assert client.get(url).status_code == 405
    response = client.post(url, follow=True)
    assert response.redirect_chain[0][0] == f"{RUNS_URL}?exporter__id__exact={exporter.pk}"
    assert queued == [("Devices", "manual")]
    assert "A run of “Devices” was queued" in text_of(response)

    queued.clear()
    response = client.post(LIST_URL, {"action": "run_now", "_selected_action": [exporter.pk, second.pk]})
    assert response.status_code == 302
    assert sorted(queued) == [("Devices", "manual"), ("Second", "manual")]


@pytest.mark.django_db
def test_delete_confirmation_says_it_cannot_be_undone():
    credential = make_credential()
    exporter = make_exporter(credential)
    make_run(exporter, 5)
    client = logged_in(make_admin())
    page = text_of(client.get(reverse("admin:exporters_exporter_delete", args=[exporter.pk])))
    assert 'id="cannot-be-undone"' in page and "cannot be undone" in page
    assert "Yes, I\u2019m sure" in page
    page = text_of(client.post(LIST_URL, {"action": "delete_selected", "_selected_action": [exporter.pk]}))
    assert "cannot be undone" in page
    response = client.post(reverse("admin:exporters_exporter_delete", args=[exporter.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Exporter.objects.exists()
    assert ExporterRun.objects.get().exporter_name == "Devices"  # the run history stays


@pytest.mark.django_db
def test_accounts_without_the_administration_right_are_refused():
    credential = make_credential()
    exporter = make_exporter(credential)
    run = make_run(exporter, 5)
    client = logged_in(make_user())
    for url in (LIST_URL, ADD_URL, ADD_URL + "?type=http_api", reverse("admin:exporters_exporter_change",
                                                                       args=[exporter.pk]),
                reverse("admin:exporters_exporter_delete", args=[exporter.pk]), RUNS_URL,
                reverse("admin:exporters_exporterrun_change", args=[run.pk]),
                "/admin/exporters/connectorcredential/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), url
    response = client.post(reverse("admin:exporters_exporter_run", args=[exporter.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


# -- in the browser --------------------------------------------------------------------------------


def sign_in_browser(driver, live_server, account) -> None:
    session = logged_in(account).cookies[django_settings.SESSION_COOKIE_NAME].value
    driver.get(live_server.url + "/admin/login/")
    driver.delete_all_cookies()
    driver.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": session, "path": "/"})


def wait(driver, condition):
    return WebDriverWait(driver, WAIT_SECONDS).until(condition)


def loaded(driver) -> bool:
    return driver.execute_script("return document.readyState") == "complete"


def helpers_text(driver, row: int) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"#queries-{row} .field-content_helpers .readonly").text


def type_into(driver, name: str, text: str) -> None:
    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(text)


def test_load_message(driver) -> str:
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#test-load-message.success, #test-load-message.error"))
    return driver.find_element(By.ID, "test-load-message").text


test_load_message.__test__ = False  # a helper, not a test


@pytest.mark.django_db(transaction=True)
def test_create_a_credential_and_an_exporter_with_live_helpers_and_a_test_load(browser, live_server):
    make_devices(25)
    sign_in_browser(browser, live_server, make_admin())
    with Sink() as sink:
        # the credential, through its page
        browser.get(live_server.url + "/admin/exporters/connectorcredential/add/")
        type_into(browser, "name", "Sink")
        type_into(browser, "base_url", sink.url)
        browser.find_element(By.NAME, "allow_plain_http").click()
        Select(browser.find_element(By.NAME, "auth_type")).select_by_value("basic")
        type_into(browser, "username", "opendex")
        type_into(browser, "password", "s3cret")
        browser.find_element(By.NAME, "_save").click()
        wait(browser, lambda d: loaded(d) and "/connectorcredential/add/" not in d.current_url)
        credential = ConnectorCredential.objects.get(name="Sink")
        assert credential.password == "s3cret"

        # New exporter -> the type -> the form
        browser.get(live_server.url + LIST_URL)
        browser.find_element(By.ID, "new-exporter").click()
        wait(browser, lambda d: d.find_elements(By.ID, "exporter-types"))
        browser.find_element(By.LINK_TEXT, "CMDB & Ops tools / HTTP API (Payload)").click()
        wait(browser, lambda d: loaded(d) and d.find_elements(By.ID, "tab-data"))

        # General tab
        assert browser.find_element(By.ID, "panel-general").is_displayed()
        assert not browser.find_element(By.ID, "panel-data").is_displayed()
        type_into(browser, "name", "Devices to the sink")
        Select(browser.find_element(By.NAME, "credential")).select_by_visible_text("Sink")
        Select(browser.find_element(By.NAME, "method")).select_by_value("PUT")
        type_into(browser, "resource", "api/import/devices")
        Select(browser.find_element(By.NAME, "recurrence")).select_by_value("daily")

        # Data tab: the helpers appear as the NQL is typed
        browser.find_element(By.ID, "tab-data").click()
        assert browser.find_element(By.ID, "panel-data").is_displayed()
        assert not browser.find_element(By.ID, "panel-general").is_displayed()
        assert helpers_text(browser, 0) == "Type a query to see its columns."
        browser.find_element(By.NAME, "queries-0-nql").send_keys("devices | list name, hardware.number_of_cpus")
        wait(browser, lambda d: "{{device.hardware.number_of_cpus}}" in helpers_text(d, 0))
        assert helpers_text(browser, 0) == "{{device.name}}, {{device.hardware.number_of_cpus}}"
        browser.find_element(By.NAME, "queries-0-nql").send_keys("x")
        wait(browser, lambda d: "not valid" in helpers_text(d, 0))
        assert "number_of_cpusx" in helpers_text(browser, 0)
        browser.find_element(By.NAME, "queries-0-nql").send_keys("\b")
        wait(browser, lambda d: "{{device.name}}" in helpers_text(d, 0))

        # clicking a helper inserts it in the payload
        Select(browser.find_element(By.NAME, "queries-0-structure")).select_by_value("array")
        payload = browser.find_element(By.NAME, "queries-0-payload")
        payload.send_keys('{"name": "')
        browser.find_element(By.XPATH, "//div[@id='queries-0']//code[text()='{{device.name}}']").click()
        payload.send_keys('", "source": "opendex"}')
        assert payload.get_attribute("value") == '{"name": "{{device.name}}", "source": "opendex"}'

        # the test load, on the unsaved form
        browser.find_element(By.ID, "test-load").click()
        message = test_load_message(browser)
        assert "Test load done: 20 records sent" in message
        cells = browser.find_elements(By.CSS_SELECTOR, ".test-load-query td")
        assert [cell.text for cell in cells[:3]] == ["#1", "20", "200"]
        assert '{"result": "ok"}' in cells[3].text
        assert len(sink.requests) == 1
        assert sink.requests[0].method == "PUT" and sink.requests[0].path == "/api/import/devices"
        assert sink.requests[0].json()[:2] == [{"name": "DEV-00001", "source": "opendex"},
                                              {"name": "DEV-00002", "source": "opendex"}]
        assert not Exporter.objects.exists()
        assert ExporterRun.objects.get().trigger == "test"

        # Save
        browser.find_element(By.NAME, "_save").click()
        wait(browser, lambda d: loaded(d) and d.current_url.endswith(LIST_URL))
        assert "1 exporter" in browser.find_element(By.ID, "exporter-count").text
        assert "Devices to the sink" in browser.find_element(By.ID, "result_list").text
    exporter = Exporter.objects.get()
    assert (exporter.name, exporter.method, exporter.credential, exporter.recurrence) == (
        "Devices to the sink", "PUT", credential, "daily")
    assert exporter.queries.get().payload == '{"name": "{{device.name}}", "source": "opendex"}'


@pytest.mark.django_db(transaction=True)
def test_validation_errors_in_the_browser_and_helpers_for_added_queries(browser, live_server):
    make_devices(3)
    sign_in_browser(browser, live_server, make_admin())
    with Sink() as sink:
        credential = make_credential(sink.url, name="Sink")
        exporter = make_exporter(credential)
        browser.get(live_server.url + reverse("admin:exporters_exporter_change", args=[exporter.pk]))
        wait(browser, lambda d: loaded(d) and d.find_elements(By.ID, "tab-data"))
        assert browser.find_element(By.ID, "runs-link").get_attribute("textContent") == "Runs (0)"

        # a query added with "Add another" gets its helpers too
        browser.find_element(By.ID, "tab-data").click()
        assert helpers_text(browser, 0) == "{{device.name}}"
        browser.find_element(By.CSS_SELECTOR, "#queries-group .add-row a").click()
        wait(browser, lambda d: d.find_elements(By.NAME, "queries-1-nql"))
        browser.find_element(By.NAME, "queries-1-nql").send_keys(EVENTS.format("7d"))
        wait(browser, lambda d: "{{device.name}}" in helpers_text(d, 1))
        assert "does not match the daily recurrence" in helpers_text(browser, 1)
        browser.find_element(By.NAME, "queries-1-payload").send_keys('{"n": "{{device.nme}}"}')

        # the test load validates first: errors at the top, at their fields, and the tab marked
        browser.find_element(By.ID, "tab-general").click()
        browser.find_element(By.ID, "test-load").click()
        message = test_load_message(browser)
        assert "The test load was not run" in message
        assert "Query 2, NQL query: The time frame “during past 7d” does not match the daily recurrence" in message
        assert "Query 2, Payload JSON: Unknown placeholder {{device.nme}}" in message
        assert browser.find_element(By.ID, "panel-data").is_displayed()
        assert "has-errors" in browser.find_element(By.ID, "tab-data").get_attribute("class")
        field_errors = browser.find_element(By.CSS_SELECTOR, "#queries-1 .field-nql .test-load-errorlist").text
        assert "does not match the daily recurrence" in field_errors
        assert not sink.requests and not ExporterRun.objects.exists()

        # Save reports the same errors at their fields, on the Data tab
        browser.find_element(By.NAME, "_save").click()
        wait(browser, lambda d: loaded(d) and d.find_elements(By.CSS_SELECTOR, ".errornote"))
        assert browser.find_element(By.ID, "panel-data").is_displayed()
        assert not browser.find_element(By.ID, "panel-general").is_displayed()
        assert "has-errors" in browser.find_element(By.ID, "tab-data").get_attribute("class")
        nql_errors = browser.find_element(By.CSS_SELECTOR, "#queries-1 .field-nql .errorlist").text
        assert "does not match the daily recurrence" in nql_errors
        assert helpers_text(browser, 1).startswith("{{device.name}}")  # shown again for the unsaved query
        assert exporter.queries.count() == 1

        # fixed: the test load sends, then Save saves both queries
        type_into(browser, "queries-1-nql", EVENTS.format("1d"))
        type_into(browser, "queries-1-payload", '{"n": "{{device.name}}"}')
        browser.find_element(By.ID, "test-load").click()
        message = test_load_message(browser)
        assert "Test load done: 3 records sent" in message, message
        assert [row.text.split()[:2] for row in browser.find_elements(By.CSS_SELECTOR, ".test-load-query")] == [
            ["#1", "3"], ["#2", "0"]]
        browser.find_element(By.NAME, "_save").click()
        wait(browser, lambda d: loaded(d) and d.current_url.endswith(LIST_URL))
    assert exporter.queries.count() == 2
