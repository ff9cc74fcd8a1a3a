"""Exporters: configuration rules, time frame vs recurrence, payload checks, the admin and PROTECT."""

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse

from exporters.models import MAX_QUERIES, ConnectorCredential, Exporter, ExporterQuery
from portal.models import Account, Profile

pytestmark = pytest.mark.django_db

EVENTS = "execution.events during past {} | list device.name"


@pytest.fixture
def credential() -> ConnectorCredential:
    return ConnectorCredential.objects.create(name="Tool", base_url="https://tool.example.com", auth_type="basic",
                                              username="opendex", password="secret")


def exporter_of(credential, **fields) -> Exporter:
    values = dict(name="Devices", credential=credential, method="POST", resource="api/now/import/u_devices",
                  recurrence="daily")
    values.update(fields)
    return Exporter(**values)


def errors_of(instance) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


def query_of(exporter, **fields) -> ExporterQuery:
    values = dict(exporter=exporter, nql="devices | list name", structure="array", payload='{"n": "{{device.name}}"}')
    values.update(fields)
    return ExporterQuery(**values)


def test_a_valid_exporter_and_query(credential):
    exporter = exporter_of(credential)
    exporter.full_clean()
    exporter.save()
    assert (exporter.batch_size, exporter.max_request_bytes, exporter.max_attempts) == (200, 5_242_880, 8)
    query = query_of(exporter)
    query.full_clean()
    query.save()
    assert query.output_columns() == ["device.name"]


def test_required_fields_are_reported_all_at_once():
    errors = errors_of(Exporter())
    assert {"name", "credential", "resource", "recurrence"} <= set(errors)
    errors = errors_of(ExporterQuery())
    assert {"exporter", "nql", "payload"} <= set(errors)


@pytest.mark.parametrize(("resource", "message"), [
    ("https://tool.example.com/api", "without scheme and host"),
    ("//tool.example.com/api", "without scheme and host"),
    ("ftp:api", "without scheme and host"),
    ("api/{{device.name}}", "cannot contain placeholders"),
    ("api/{id}", "cannot contain placeholders"),
    ("api/a b", "cannot contain spaces"),
])
def test_resource_rules(credential, resource, message):
    errors = errors_of(exporter_of(credential, resource=resource))
    assert list(errors) == ["resource"]
    assert message in errors["resource"][0]


def test_resource_may_have_a_query(credential):
    exporter_of(credential, resource="api/now/import/u_devices/insertMultiple?sysparm_x=1").full_clean()


def test_options_ranges_and_recurrence_details(credential):
    errors = errors_of(exporter_of(credential, batch_size=10_001, recurrence="hourly", every_hours=None))
    assert "batch_size" in errors
    assert errors["every_hours"] == ["An hourly recurrence needs the number of hours."]
    errors = errors_of(exporter_of(credential, batch_size=0, recurrence="weekly", every_hours=5))
    assert {"batch_size", "weekday", "every_hours"} <= set(errors)
    assert errors["weekday"] == ["A weekly recurrence needs the day of the week."]


def test_invalid_nql_is_reported_with_line_and_column(credential):
    exporter = exporter_of(credential)
    exporter.save()
    errors = errors_of(query_of(exporter, nql="devices | list nme"))
    assert errors["nql"] == ["The query is not valid: unknown field 'nme' in table devices at line 1, column 16."]
    assert "payload" not in errors


@pytest.mark.parametrize(("recurrence", "every_hours", "weekday", "good", "bad"), [
    ("hourly", 1, None, ["1h"], ["2h", "1d"]),
    ("hourly", 6, None, ["6h"], ["1h", "1d"]),
    ("hourly", 24, None, ["24h", "1d"], ["12h"]),
    ("daily", None, None, ["1d", "24h"], ["7d", "1h", "2d"]),
    ("weekly", None, 0, ["7d"], ["1d", "168h"]),
])
def test_time_frame_must_cover_one_recurrence_period(credential, recurrence, every_hours, weekday, good, bad):
    exporter = exporter_of(credential, recurrence=recurrence, every_hours=every_hours, weekday=weekday)
    exporter.full_clean()
    exporter.save()
    for past in good:
        query_of(exporter, nql=EVENTS.format(past)).full_clean()
    for past in bad:
        errors = errors_of(query_of(exporter, nql=EVENTS.format(past)))
        assert list(errors) == ["nql"]
        assert f"“during past {past}” does not match the" in errors["nql"][0]
        assert "line 1, column 18" in errors["nql"][0]


def test_object_queries_without_time_frame_are_always_valid(credential):
    for fields in ({"recurrence": "hourly", "every_hours": 2}, {"recurrence": "daily"},
                   {"recurrence": "weekly", "weekday": 3}):
        exporter = exporter_of(credential, name=str(fields), **fields)
        exporter.save()
        query_of(exporter, nql="devices | list name").full_clean()


@pytest.mark.parametrize(("nql", "column"), [
    ("execution.events | list device.name", 1),
    ("devices | with execution.events | list name", 11),
    ("devices | include web.events | compute n = count() | list name, n", 11),
])
def test_events_without_time_frame_are_refused(credential, nql, column):
    """Without a time frame events cover a default day ending whenever the run starts: windows would
    overlap or leave gaps, so an exporter's event query must name its period."""
    exporter = exporter_of(credential)
    exporter.save()
    errors = errors_of(query_of(exporter, nql=nql))
    assert errors["nql"] == [f"A query on events needs a time frame covering one period of the daily recurrence: "
                             f"add “during past 1d” or “during past 24h” (line 1, column {column})."]
    query_of(exporter, nql=nql.replace("events", "events during past 1d")).full_clean()


def test_other_time_frame_forms_are_refused(credential):
    exporter = exporter_of(credential)
    exporter.save()
    errors = errors_of(query_of(exporter, nql="execution.events from 2d ago to 1d ago | list device.name"))
    assert "must use a time frame “during past …”" in errors["nql"][0]
    assert "“during past 1d” or “during past 24h”" in errors["nql"][0]


@pytest.mark.parametrize(("structure", "payload", "message"), [
    ("array", '{"n": ', "The payload is not valid JSON at line 1, column 7."),
    ("collection", '[{"n": 1}]', "The payload must be one JSON object"),
    ("object_with_array", '{"n": 1}', "exactly one property whose value is an array"),
    ("object_with_array", '{"r": [{"a": 1}, {"b": 2}]}', "The array “r” must hold exactly one JSON object"),
])
def test_payload_must_be_json_matching_its_structure(credential, structure, payload, message):
    exporter = exporter_of(credential)
    exporter.save()
    errors = errors_of(query_of(exporter, structure=structure, payload=payload))
    assert list(errors) == ["payload"]
    assert message in errors["payload"][0]


def test_unknown_placeholder_lists_the_content_helpers(credential):
    exporter = exporter_of(credential)
    exporter.save()
    query = query_of(exporter, nql="devices | list name, operating_system.platform",
                     payload='{"n": "{{device.name}}", "x": "{{device.nme}} and {{name}}"}')
    assert errors_of(query) == {"payload": [
        "Unknown placeholders {{device.nme}}, {{name}}: use one of the query's columns: device.name, "
        "device.operating_system.platform."]}


def test_every_problem_is_reported_at_once(credential):
    exporter = exporter_of(credential)
    exporter.save()
    errors = errors_of(query_of(exporter, nql="devices | list nme", payload="{"))
    assert set(errors) == {"nql", "payload"}


def test_constant_payload_is_valid(credential):
    exporter = exporter_of(credential)
    exporter.save()
    query_of(exporter, payload='{"kind": "device"}').full_clean()


def test_at_most_ten_queries(credential):
    exporter = exporter_of(credential)
    exporter.save()
    for position in range(MAX_QUERIES):
        query = query_of(exporter, position=position)
        query.full_clean()
        query.save()
    errors = errors_of(query_of(exporter, position=MAX_QUERIES))
    assert errors[NON_FIELD_ERRORS] == ["An exporter can have at most 10 queries."]
    query.full_clean()  # an existing query stays valid


def test_deleting_a_credential_used_by_an_exporter_is_refused(credential):
    exporter_of(credential).save()
    with pytest.raises(ProtectedError):
        credential.delete()
    assert ConnectorCredential.objects.filter(pk=credential.pk).exists()


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


def form(credential, queries: list[dict], **general) -> dict:
    data = {"name": "Devices", "description": "", "credential": str(credential.pk), "method": "POST",
            "resource": "api/now/import/u_devices", "recurrence": "daily", "every_hours": "", "weekday": "",
            "enabled": "on", "batch_size": "200", "max_request_bytes": "5242880", "max_attempts": "8",
            "queries-TOTAL_FORMS": str(len(queries)), "queries-INITIAL_FORMS": "0",
            "queries-MIN_NUM_FORMS": "1", "queries-MAX_NUM_FORMS": "10"}
    data.update(general)
    for index, query in enumerate(queries):
        for key, value in query.items():
            data[f"queries-{index}-{key}"] = value
    return data


QUERY = {"position": "0", "nql": "devices | list name", "structure": "collection",
         "payload": '{"n": "{{device.name}}"}'}


def test_admin_saves_an_exporter_with_queries_and_shows_the_content_helpers(root, credential):
    response = root.post(reverse("admin:exporters_exporter_add"), form(credential, [QUERY]))
    assert response.status_code == 302, response.content.decode()[:3000]
    exporter = Exporter.objects.get(name="Devices")
    assert [query.structure for query in exporter.queries.all()] == ["collection"]
    page = root.get(reverse("admin:exporters_exporter_change", args=[exporter.pk])).content.decode()
    assert "Payload content helpers" in page
    assert "<code>{{device.name}}</code>" in page


def test_admin_reports_errors_at_their_fields(root, credential):
    bad = {**QUERY, "nql": EVENTS.format("7d"), "payload": '{"n": "{{device.nme}}"}'}
    response = root.post(reverse("admin:exporters_exporter_add"),
                         form(credential, [bad], resource="https://tool.example.com/x"))
    assert response.status_code == 200
    assert "without scheme and host" in response.context["adminform"].form.errors["resource"][0]
    query_errors = response.context["inline_admin_formsets"][0].formset.forms[0].errors
    assert "does not match the daily recurrence" in query_errors["nql"][0]
    assert "Unknown placeholder {{device.nme}}" in query_errors["payload"][0]
    assert not Exporter.objects.exists()


def test_admin_refuses_more_than_ten_queries(root, credential):
    queries = [{**QUERY, "position": str(index)} for index in range(MAX_QUERIES + 1)]
    response = root.post(reverse("admin:exporters_exporter_add"), form(credential, queries))
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert "Please submit at most 10 forms." in str(formset.non_form_errors())


def test_admin_refuses_to_delete_a_credential_in_use(root, credential):
    exporter_of(credential).save()
    url = reverse("admin:exporters_connectorcredential_delete", args=[credential.pk])
    response = root.post(url, {"post": "yes"})
    assert response.status_code == 200
    assert "would require deleting the following protected related objects" in response.content.decode()
    assert ConnectorCredential.objects.filter(pk=credential.pk).exists()
