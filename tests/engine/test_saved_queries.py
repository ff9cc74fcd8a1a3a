"""Saved NQL queries (``nql.md``, *Saved queries*): the model's rules, the admin pages and the demo's queries."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from engine import demo as engine_demo
from engine import services
from engine.models import SavedQuery
from portal.demo import DemoContext
from portal.models import Account, Profile
from tests.engine.nql_support import make_fleet

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:engine_savedquery_add")
LIST_URL = reverse("admin:engine_savedquery_changelist")
VALID = "devices | where operating_system.platform == $platform | list name"


def change_url(query: SavedQuery) -> str:
    return reverse("admin:engine_savedquery_change", args=[query.pk])


@pytest.fixture
def staff() -> Client:
    profile = Profile.objects.create(name="administrators", administration=True)
    account = Account.objects.create(username="admin-nql", profile=profile)
    client = Client()
    client.force_login(account)
    return client


def form(**fields) -> dict:
    return {"nql_id": "#my_query", "name": "My query", "description": "", "text": VALID, **fields}


def field_errors(response, field: str) -> list[str]:
    assert response.status_code == 200, response.status_code
    return list(response.context["adminform"].form.errors.get(field, []))


# -- model ----------------------------------------------------------------------------------------


def test_clean_lists_the_parameters_of_a_valid_text():
    query = SavedQuery(nql_id="#q", name="q", text=VALID)
    query.full_clean()
    assert query.parameter_names() == ["platform"]


def test_clean_reports_an_invalid_text_on_the_text_field_with_the_compilers_message():
    query = SavedQuery(nql_id="#q", name="q", text="devices | list no_such_field")
    with pytest.raises(ValidationError) as caught:
        query.full_clean()
    assert set(caught.value.message_dict) == {"text"}
    [message] = caught.value.message_dict["text"]
    assert "no_such_field" in message and "line 1" in message


@pytest.mark.parametrize("nql_id", ["q", "#", "#Upper", "#with-dash", "#" + "a" * 256, "#spa ce", "#q\n"])
def test_an_nql_id_is_a_hash_and_lowercase_letters_digits_or_underscores(nql_id):
    with pytest.raises(ValidationError) as caught:
        SavedQuery(nql_id=nql_id, name="q", text=VALID).full_clean()
    assert "nql_id" in caught.value.message_dict


def test_the_longest_nql_id_is_valid():
    SavedQuery(nql_id="#" + "a_1" * 85, name="q", text=VALID).full_clean()


def test_nql_ids_are_unique():
    SavedQuery.objects.create(nql_id="#q", name="q", text=VALID)
    with pytest.raises(ValidationError) as caught:
        SavedQuery(nql_id="#q", name="other", text=VALID).full_clean()
    assert "nql_id" in caught.value.message_dict


def test_an_nql_id_cannot_change_once_saved():
    query = SavedQuery.objects.create(nql_id="#q", name="q", text=VALID)
    query = SavedQuery.objects.get(pk=query.pk)
    query.nql_id = "#renamed"
    with pytest.raises(ValidationError) as caught:
        query.full_clean()
    assert caught.value.message_dict["nql_id"] == ["The NQL ID cannot be changed once saved."]
    with pytest.raises(ValueError, match="cannot change"):
        query.save()
    query.nql_id = "#q"
    query.name = "renamed"
    query.save()


# -- admin ----------------------------------------------------------------------------------------


def test_admin_adds_a_valid_query(staff):
    response = staff.post(ADD_URL, form())
    assert response.status_code == 302, response.content
    query = SavedQuery.objects.get(nql_id="#my_query")
    assert query.text == VALID


def test_admin_shows_the_compilers_message_on_the_text_field(staff):
    response = staff.post(ADD_URL, form(text="devices | where operating_system.platform == linux | list name"))
    [message] = field_errors(response, "text")
    assert "linux" in message and "windows, mac_os, mobile" in message
    assert not SavedQuery.objects.exists()
    assert "errornote" in response.content.decode()


def test_admin_reports_a_syntax_error_with_its_position(staff):
    response = staff.post(ADD_URL, form(text="devices | lisst name"))
    [message] = field_errors(response, "text")
    assert "line 1, column" in message


def test_admin_requires_a_text(staff):
    assert field_errors(staff.post(ADD_URL, form(text="")), "text") == ["This field is required."]


def test_admin_explains_a_malformed_nql_id(staff):
    [message] = field_errors(staff.post(ADD_URL, form(nql_id="#My-Query")), "nql_id")
    assert message == "An NQL ID is # followed by 1 to 255 lowercase letters, digits or underscores."


def test_admin_refuses_a_duplicate_nql_id(staff):
    SavedQuery.objects.create(nql_id="#my_query", name="first", text=VALID)
    [message] = field_errors(staff.post(ADD_URL, form()), "nql_id")
    assert "already exists" in message


def test_admin_makes_the_nql_id_read_only_on_change(staff):
    query = SavedQuery.objects.create(nql_id="#my_query", name="q", text=VALID)
    page = staff.get(change_url(query))
    assert "nql_id" not in page.context["adminform"].form.fields
    assert "$platform" in page.content.decode()  # the read-only Parameters display
    response = staff.post(change_url(query), form(nql_id="#renamed", name="Renamed"))
    assert response.status_code == 302
    query.refresh_from_db()
    assert (query.nql_id, query.name) == ("#my_query", "Renamed")


def test_admin_list_shows_id_with_copy_button_name_and_parameters(staff):
    SavedQuery.objects.create(nql_id="#on_platform", name="Devices on a platform", text=VALID)
    SavedQuery.objects.create(nql_id="#all", name="All devices", text="devices | list name")
    page = staff.get(LIST_URL).content.decode()
    assert 'data-nql-id="#on_platform"' in page and "copy-nql-id" in page
    assert "Devices on a platform" in page and "$platform" in page


def test_admin_search_finds_queries_by_id_name_and_text(staff):
    SavedQuery.objects.create(nql_id="#on_platform", name="Devices on a platform", text=VALID)
    SavedQuery.objects.create(nql_id="#all", name="All devices", text="devices | list name")
    found = staff.get(LIST_URL, {"q": "operating_system"}).context["cl"].result_list
    assert [q.nql_id for q in found] == ["#on_platform"]
    found = staff.get(LIST_URL, {"q": "All devices"}).context["cl"].result_list
    assert [q.nql_id for q in found] == ["#all"]


def test_admin_pages_are_for_administrators_only():
    profile = Profile.objects.create(name="analysts", finder_access=True)
    client = Client()
    client.force_login(Account.objects.create(username="analyst-nql", profile=profile))
    assert client.get(LIST_URL).status_code == 302  # to the login page


# -- demo -----------------------------------------------------------------------------------------


def test_the_demo_seeds_the_documented_saved_queries():
    make_fleet()
    ctx = DemoContext()
    engine_demo.seed_saved_queries(ctx)
    assert SavedQuery._meta.db_table in engine_demo.RESET_TABLES
    queries = {query.nql_id: query for query in SavedQuery.objects.all()}
    assert set(queries) == {"#all_devices", "#devices_on_platform"}
    assert ctx.counts[SavedQuery._meta.db_table] == 2
    for query in queries.values():
        query.full_clean()

    all_devices = services.prepare_nql(queries["#all_devices"].text)
    assert [c.name for c in all_devices.plan.columns] == [
        "device.name", "device.collector.uid", "device.operating_system.platform", "device.entity"]
    assert queries["#devices_on_platform"].parameter_names() == ["platform"]
    on_platform = services.prepare_nql(queries["#devices_on_platform"].text, parameters={"platform": "mac_os"})
    assert [c.name for c in on_platform.plan.columns] == ["device.name", "device.collector.uid"]
    rows = list(services.execute(on_platform.plan).rows)
    assert [row[0] for row in rows] == ["MAC-00004"]
