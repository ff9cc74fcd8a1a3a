"""The Engine's data in the portal: pages, searches and filters, read-only activity, categories,
bounded queries on the activity tables, and data privacy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from engine import admin as engine_admin
from engine.models import (
    Application,
    Binary,
    Category,
    CategoryAssignment,
    Connection,
    Crash,
    Destination,
    Device,
    DeviceEvent,
    Domain,
    EndUser,
    Engine,
    Execution,
    Installation,
    Keyword,
    NqlExport,
    Package,
    Port,
    SavedQuery,
    WebRequest,
)
from portal.models import Account, Entity, Profile

EVENT_MODELS = (Execution, Crash, Connection, WebRequest, DeviceEvent, Installation)
EVENTS_PER_DEVICE = 15


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def client_for(account: Account) -> Client:
    client = Client()
    client.force_login(account)
    return client


def make_account(username: str, superuser: bool = False, **rights) -> Account:
    profile = Profile.objects.create(name=f"profile of {username}", **rights)
    account = Account(username=username, profile=profile, is_superuser=superuser, is_staff=superuser)
    account.set_unusable_password()
    account.save()
    return account


@pytest.fixture
def engine_data(db):
    """Two Engines with one device each, their users, software, network objects, activity, categories."""
    lausanne, boston = Entity.objects.create(name="Lausanne"), Entity.objects.create(name="Boston")
    engine1 = Engine.objects.create(name="engine-1", database_uid="a" * 32, machine_id="b" * 32,
                                    address="engine-1.localhost", timezone="Europe/Zurich")
    engine2 = Engine.objects.create(name="engine-2", database_uid="c" * 32, machine_id="d" * 32,
                                    address="engine-2.localhost", status=Engine.Status.DISCONNECTED)
    now = timezone.now()
    pc = Device.objects.create(
        name="LAUSANNE-PC-0001", device_uid="1" * 32, collector_uid="col-0001", engine=engine1,
        entity=lausanne, platform="windows", device_type="laptop", device_serial_number="SERLAU0001",
        last_ip_address="10.1.2.3", mac_addresses="aa:bb:cc:dd:ee:01", last_logged_on_user="alice.smith",
        total_ram=16 * 1024**3, last_seen=now, last_boot_duration=42_000,
    )
    mac = Device.objects.create(
        name="BOSTON-MAC-0002", device_uid="2" * 32, collector_uid="col-0002", engine=engine2,
        entity=boston, platform="mac_os", device_type="desktop", device_serial_number="SERBOS0002",
        last_ip_address="10.9.8.7", last_logged_on_user="bob.jones", last_seen=now,
    )
    alice = EndUser.objects.create(name="alice.smith", user_uid="u-0001", sid="S-1-5-21-1001",
                                   full_name="Alice Smith", department="Finance")
    bob = EndUser.objects.create(name="bob.jones", user_uid="u-0002", sid="S-1-5-21-1002",
                                 full_name="Bob Jones", department="Sales")
    outlook = Application.objects.create(name="Microsoft Outlook", company="Microsoft", category="Email")
    binary = Binary.objects.create(name="outlook.exe", executable_name="outlook.exe", version="16.0",
                                   application=outlook, platform="windows", threat_level="none",
                                   size=35 * 1024**2)
    chrome = Binary.objects.create(name="chrome.exe", executable_name="chrome.exe", version="120",
                                   platform="windows", threat_level="low")
    package = Package.objects.create(name="Office", version="2021", publisher="Microsoft", platform="windows")
    destination = Destination.objects.create(name="outlook.office365.com", ip_address="52.97.1.1")
    domain = Domain.objects.create(name="intranet.example.com", category="Business", hosting_country="CH")
    port = Port.objects.create(port_number=443, protocol="tcp")
    Port.objects.create(port_number=53, protocol="udp")

    for device, user in ((pc, alice), (mac, bob)):
        for i in range(EVENTS_PER_DEVICE):
            start = now - timedelta(minutes=10 * i + 5)
            end = start + timedelta(minutes=5)
            Execution.objects.create(device=device, user=user, binary=binary, start_time=start, end_time=end,
                                     duration=300_000, cpu_time=1_500, memory=200 * 1024**2)
            Crash.objects.create(device=device, user=user, binary=binary, time=start, exception_code="c0000005")
            Connection.objects.create(device=device, user=user, binary=binary, destination=destination,
                                      port=port, start_time=start, end_time=end,
                                      status="established" if i % 3 else "timeout",
                                      incoming_traffic=2048, outgoing_traffic=512, network_response_time=35)
            WebRequest.objects.create(device=device, user=user, binary=chrome, domain=domain, url_path="/home",
                                      start_time=start, end_time=end, protocol="https",
                                      http_status=500 if i % 5 == 0 else 200, response_time=120)
            DeviceEvent.objects.create(device=device, user=user, start_time=start, end_time=end,
                                       type="system_boot" if i % 2 else "user_logon", duration=30_000)
            Installation.objects.create(device=device, package=package, start_time=start, end_time=end,
                                        type="installation")

    criticality = Category.objects.create(name="Criticality", object_table="device")
    high = Keyword.objects.create(category=criticality, name="high")
    Keyword.objects.create(category=criticality, name="low")
    location = Category.objects.create(name="Location", object_table="device")
    Keyword.objects.create(category=location, name="Lausanne")
    CategoryAssignment.objects.create(category=criticality, keyword=high, object_id=pc.pk)
    saved = SavedQuery.objects.create(nql_id="#all_devices", name="All devices", text="devices | list name")
    NqlExport.objects.create(saved_query=saved, query_id=saved.nql_id, query_text=saved.text)

    return {
        "pc": pc, "mac": mac, "alice": alice, "engine1": engine1, "criticality": criticality,
        "location": location, "high": high, "outlook": outlook,
        "root": make_account("root", superuser=True),
        "ops": make_account("ops", administration=True),
        "partial": make_account("partial", administration=True, data_privacy="partial"),
        "full": make_account("full", administration=True, data_privacy="full"),
    }


@pytest.fixture
def root(engine_data) -> Client:
    return client_for(engine_data["root"])


def engine_models():
    return [(model, model_admin) for model, model_admin in admin.site._registry.items()
            if model._meta.app_label == "engine"]


def test_every_engine_page_search_and_filter_answers_for_a_superuser(root, engine_data):
    request = RequestFactory().get("/")
    request.user = engine_data["root"]
    models = engine_models()
    assert {model for model, _ in models} == {
        Engine, Device, EndUser, Application, Binary, Package, Destination, Domain, Port, *EVENT_MODELS,
        Category, Keyword, CategoryAssignment, SavedQuery, NqlExport,
    }
    for model, model_admin in models:
        url = admin_url(model, "changelist")
        response = root.get(url)
        assert response.status_code == 200, url
        changelist = response.context["cl"]
        assert changelist.result_count > 0, url
        if model_admin.get_search_fields(request):
            assert root.get(url, {"q": "a"}).status_code == 200, url
            assert changelist.search_help_text, url
        for spec in changelist.filter_specs:
            for choice in spec.choices(changelist):
                filtered = root.get(url + choice["query_string"])
                assert filtered.status_code == 200, (url, choice["query_string"])
        add = root.get(admin_url(model, "add"))
        assert add.status_code == (200 if model_admin.has_add_permission(request) else 403), model
        obj = model.objects.order_by("pk").first()
        assert root.get(admin_url(model, "change", obj.pk)).status_code == 200, model


def test_engine_list(root, engine_data):
    url = admin_url(Engine, "changelist")
    response = root.get(url)
    assert list(response.context["cl"].list_display)[1:] == [
        "name", "address", "status", "database_uid", "timezone", "version", "number_of_devices"]
    assert {e.name: e.device_count for e in response.context["cl"].result_list} == {"engine-1": 1, "engine-2": 1}
    response = root.get(url, {"status__exact": "DISCONNECTED"})
    assert [e.name for e in response.context["cl"].result_list] == ["engine-2"]
    response = root.get(url, {"q": "engine-1.localhost"})
    assert [e.name for e in response.context["cl"].result_list] == ["engine-1"]


def test_device_list_filters_search_and_fieldsets(root, engine_data):
    pc = engine_data["pc"]
    url = admin_url(Device, "changelist")

    def names(**params):
        return [d.name for d in root.get(url, params).context["cl"].result_list]

    assert names() == ["BOSTON-MAC-0002", "LAUSANNE-PC-0001"]
    assert names(platform__exact="windows") == ["LAUSANNE-PC-0001"]
    assert names(device_type__exact="desktop") == ["BOSTON-MAC-0002"]
    assert names(engine__id__exact=engine_data["engine1"].pk) == ["LAUSANNE-PC-0001"]
    assert names(entity__id__exact=pc.entity_id) == ["LAUSANNE-PC-0001"]
    assert names(q="lausanne") == ["LAUSANNE-PC-0001"]
    assert names(q="1" * 32) == ["LAUSANNE-PC-0001"]
    assert names(q="col-0002") == ["BOSTON-MAC-0002"]
    assert names(q="SERBOS") == ["BOSTON-MAC-0002"]

    response = root.get(url)
    assert "Search by" in response.content.decode()
    for column in ("name", "platform", "device_type", "engine", "entity", "last_ip_address", "last_seen"):
        assert column in response.context["cl"].list_display

    # Deleting a device would cascade into (and load) all its activity: not offered.
    assert root.get(admin_url(Device, "delete", pc.pk)).status_code == 403
    assert 'name="_selected_action"' not in response.content.decode()

    page = root.get(admin_url(Device, "change", pc.pk))
    assert page.context["has_change_permission"]
    assert [fieldset.name for fieldset in page.context["adminform"]] == [
        "Identity", "Operating system", "Hardware", "Network", "Activity"]
    html = page.content.decode()
    executions = admin_url(Execution, "changelist") + f"?device__id__exact={pc.pk}"
    assert executions in html.replace("&amp;", "&")
    response = root.get(executions)
    rows = response.context["cl"].result_list
    assert len(rows) == EVENTS_PER_DEVICE and {r.device_id for r in rows} == {pc.pk}


def test_object_pages_columns_and_searches(root, engine_data):
    def names(model, **params):
        return [str(row) for row in root.get(admin_url(model, "changelist"), params).context["cl"].result_list]

    assert names(EndUser, q="Alice") == ["alice.smith"]
    assert names(EndUser, department__exact="Sales") == ["bob.jones"]
    assert names(Binary, q="outlook") == ["outlook.exe 16.0"]
    assert names(Binary, threat_level__exact="low") == ["chrome.exe 120"]
    assert names(Application, q="micro") == ["Microsoft Outlook"]
    assert names(Package, platform__exact="windows") == ["Office 2021"]
    assert names(Destination, q="office365") == ["outlook.office365.com"]
    assert names(Domain, hosting_country="CH") == ["intranet.example.com"]
    assert names(Port, q="443") == ["443/tcp"]
    assert names(Port, q="tcp") == []
    assert names(Port, protocol__exact="udp") == ["53/udp"]

    response = root.get(admin_url(Binary, "changelist"))
    assert "35.0 MB" in response.content.decode()
    response = root.get(admin_url(Application, "changelist"))
    assert response.context["cl"].result_list[0].binary_count == 1

    page = root.get(admin_url(Binary, "change", Binary.objects.get(name="outlook.exe").pk))
    assert "admin-autocomplete" in page.content.decode()
    found = root.get(reverse("admin:autocomplete"), {
        "app_label": "engine", "model_name": "binary", "field_name": "application", "term": "outl"})
    assert [r["text"] for r in found.json()["results"]] == ["Microsoft Outlook"]


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_activity_pages_are_read_only_and_use_a_bounded_number_of_queries(
    root, engine_data, model, django_assert_max_num_queries
):
    url = admin_url(model, "changelist")
    root.get(url)  # warm up per-process caches (content types, templates)
    with django_assert_max_num_queries(10):
        response = root.get(url)
    assert response.status_code == 200
    changelist = response.context["cl"]
    assert changelist.result_count == 2 * EVENTS_PER_DEVICE
    assert len(changelist.result_list) == 2 * EVENTS_PER_DEVICE
    assert not changelist.model_admin.show_full_result_count
    assert not changelist.model_admin.date_hierarchy
    assert 'name="_selected_action"' not in response.content.decode()  # no actions, no deletes

    with django_assert_max_num_queries(10):
        assert root.get(url, {"q": "LAUSANNE-PC-0001"}).status_code == 200

    obj = model.objects.order_by("pk").first()
    page = root.get(admin_url(model, "change", obj.pk))
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert root.get(admin_url(model, "add")).status_code == 403
    assert root.post(admin_url(model, "add"), {}).status_code == 403
    assert root.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert root.get(admin_url(model, "delete", obj.pk)).status_code == 403
    assert model.objects.count() == 2 * EVENTS_PER_DEVICE


def test_activity_filters_and_searches(root, engine_data):
    def count(model, **params):
        response = root.get(admin_url(model, "changelist"), params)
        assert response.status_code == 200
        return len(response.context["cl"].result_list)

    assert count(Connection, status__exact="timeout") == 10
    assert count(WebRequest, http_status_class="errors") == 6
    assert count(WebRequest, http_status_class="2xx") == 24
    assert count(WebRequest, protocol__exact="http") == 0
    assert count(DeviceEvent, type__exact="user_logon") == 16
    assert count(Installation, type__exact="uninstallation") == 0
    assert count(Execution, q="LAUSANNE-PC-0001") == EVENTS_PER_DEVICE
    assert count(Execution, q="outlook.exe") == 2 * EVENTS_PER_DEVICE
    assert count(Crash, q="c0000005") == 2 * EVENTS_PER_DEVICE

    response = root.get(admin_url(Execution, "changelist"))
    html = response.content.decode()
    assert "5 min 0 s" in html and "1.5 s" in html and "200.0 MB" in html
    assert response.context["cl"].sortable_by == ("start_time",)


def test_the_paginator_estimates_unfiltered_big_tables_and_caps_filtered_counts(root, engine_data, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE engine_execution")
    monkeypatch.setattr(engine_admin.EstimatedCountPaginator, "exact_count_limit", 5)
    url = admin_url(Execution, "changelist")

    response = root.get(url)
    assert response.context["cl"].result_count == 2 * EVENTS_PER_DEVICE  # pg_class.reltuples
    assert len(response.context["cl"].result_list) == 2 * EVENTS_PER_DEVICE

    response = root.get(url, {"device__id__exact": engine_data["pc"].pk})
    assert response.context["cl"].result_count == 5  # counted up to the limit only

    monkeypatch.setattr(engine_admin.EstimatedCountPaginator, "exact_count_limit", 10_000)
    response = root.get(url, {"device__id__exact": engine_data["pc"].pk})
    assert response.context["cl"].result_count == EVENTS_PER_DEVICE


def test_category_keywords_inline_and_assignment_validation(root, engine_data):
    response = root.post(admin_url(Category, "add"), {
        "name": "Owner", "object_table": "user", "description": "",
        "keywords-TOTAL_FORMS": "3", "keywords-INITIAL_FORMS": "0", "keywords-MIN_NUM_FORMS": "0",
        "keywords-MAX_NUM_FORMS": "1000",
        "keywords-0-name": "it", "keywords-1-name": "finance", "keywords-2-name": "",
    })
    assert response.status_code == 302
    owner = Category.objects.get(name="Owner")
    assert sorted(owner.keywords.values_list("name", flat=True)) == ["finance", "it"]

    listing = root.get(admin_url(Category, "changelist"))
    assert list(listing.context["cl"].list_display)[1:4] == ["name", "object_table", "number_of_keywords"]
    assert {c.name: c.keyword_count for c in listing.context["cl"].result_list}["Owner"] == 2

    url = admin_url(CategoryAssignment, "changelist")
    response = root.get(url, {"category__id__exact": engine_data["criticality"].pk})
    assert [str(a.keyword) for a in response.context["cl"].result_list] == ["high"]
    assert list(response.context["cl"].list_display)[1:] == ["category", "keyword", "object_id"]

    add = admin_url(CategoryAssignment, "add")
    foreign_keyword = owner.keywords.get(name="it")
    response = root.post(add, {"category": engine_data["criticality"].pk, "keyword": foreign_keyword.pk,
                               "object_id": engine_data["mac"].pk})
    assert response.status_code == 200
    assert "is not a keyword of #Criticality" in response.content.decode()
    response = root.post(add, {"category": engine_data["criticality"].pk, "keyword": engine_data["high"].pk,
                               "object_id": 987654321})
    assert response.status_code == 200 and "No device has the id 987654321" in response.content.decode()
    response = root.post(add, {"category": engine_data["criticality"].pk, "keyword": engine_data["high"].pk,
                               "object_id": engine_data["mac"].pk})
    assert response.status_code == 302
    assert CategoryAssignment.objects.filter(object_id=engine_data["mac"].pk).count() == 1


def test_an_administrator_without_privacy_restrictions_sees_and_edits_everything(engine_data):
    ops = client_for(engine_data["ops"])
    response = ops.get(admin_url(Device, "changelist"))
    assert "last_logged_on_user" in response.context["cl"].list_display
    assert "LAUSANNE-PC-0001" in response.content.decode()
    page = ops.get(admin_url(Device, "change", engine_data["pc"].pk))
    assert page.context["has_change_permission"]


def test_partial_privacy_hides_user_identifying_fields(engine_data):
    partial = client_for(engine_data["partial"])
    pc = engine_data["pc"]

    response = partial.get(admin_url(Device, "changelist"))
    html = response.content.decode()
    assert "last_logged_on_user" not in response.context["cl"].list_display
    assert "column-last_logged_on_user" not in html and "alice.smith" not in html
    assert "LAUSANNE-PC-0001" in html  # devices stay identifiable

    page = partial.get(admin_url(Device, "change", pc.pk))
    assert page.status_code == 200 and "alice.smith" not in page.content.decode()
    assert not page.context["has_change_permission"]  # read-only where something is hidden
    assert partial.get(admin_url(Device, "add")).status_code == 403

    response = partial.get(admin_url(EndUser, "changelist"))
    html = response.content.decode()
    for value in ("alice.smith", "Alice Smith", "S-1-5-21-1001"):
        assert value not in html
    assert "Finance" in html
    assert response.context["cl"].list_display[0] == "id"
    page = partial.get(admin_url(EndUser, "change", engine_data["alice"].pk)).content.decode()
    assert "alice.smith" not in page and "Alice Smith" not in page and f"User #{engine_data['alice'].pk}" in page
    history = partial.get(admin_url(EndUser, "history", engine_data["alice"].pk)).content.decode()
    assert "alice.smith" not in history

    # Neither search nor hand-made filters reach hidden fields.
    assert not partial.get(admin_url(EndUser, "changelist"), {"q": "alice"}).context["cl"].result_list
    assert partial.get(admin_url(EndUser, "changelist"), {"name__startswith": "a"}).status_code == 400
    assert partial.get(admin_url(Device, "changelist"), {"last_logged_on_user": "alice.smith"}).status_code == 400

    response = partial.get(admin_url(Execution, "changelist"))
    assert "user" not in response.context["cl"].list_display
    assert "alice.smith" not in response.content.decode()
    page = partial.get(admin_url(Execution, "change", Execution.objects.first().pk)).content.decode()
    assert "alice.smith" not in page


def test_full_privacy_also_hides_device_identifying_fields(engine_data):
    full = client_for(engine_data["full"])
    pc = engine_data["pc"]
    secrets = ("LAUSANNE-PC-0001", "BOSTON-MAC-0002", "10.1.2.3", "aa:bb:cc:dd:ee:01", "SERLAU0001",
               "alice.smith")

    response = full.get(admin_url(Device, "changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    for value in secrets:
        assert value not in html, value
    display = response.context["cl"].list_display
    assert display[0] == "id" and "name" not in display and "last_ip_address" not in display
    assert "Lausanne" in html and "engine-1" in html

    page = full.get(admin_url(Device, "change", pc.pk))
    html = page.content.decode()
    for value in secrets:
        assert value not in html, value
    assert f"Device #{pc.pk}" in html

    assert not full.get(admin_url(Device, "changelist"), {"q": "LAUSANNE"}).context["cl"].result_list
    assert full.get(admin_url(Device, "changelist"), {"q": "1" * 32}).context["cl"].result_list
    assert full.get(admin_url(Device, "changelist"), {"name": "LAUSANNE-PC-0001"}).status_code == 400

    for model in EVENT_MODELS:
        response = full.get(admin_url(model, "changelist"))
        assert response.status_code == 200
        assert "device" not in response.context["cl"].list_display
        html = response.content.decode()
        for value in secrets:
            assert value not in html, (model, value)

    root = client_for(engine_data["root"])
    html = root.get(admin_url(Device, "changelist")).content.decode()
    assert all(value in html for value in ("LAUSANNE-PC-0001", "10.1.2.3", "alice.smith"))


def test_autocomplete_offers_no_rows_whose_name_is_hidden(engine_data):
    from django.urls import resolve

    model_admin = admin.site.get_model_admin(Device)
    request = RequestFactory().get(reverse("admin:autocomplete"))
    request.resolver_match = resolve(reverse("admin:autocomplete"))
    for account, expected in ((engine_data["full"], 0), (engine_data["partial"], 1), (engine_data["root"], 1)):
        request.user = account
        request.__dict__.pop("_opendex_hidden_fields", None)
        found, _ = model_admin.get_search_results(request, Device.objects.all(), "col-0001")
        assert found.count() == expected, account


def test_the_identifying_fields_are_listed_once():
    partial = engine_admin.hidden_fields("partial")
    full = engine_admin.hidden_fields("full")
    assert engine_admin.hidden_fields("none") == {}
    assert partial[EndUser] >= {"name", "full_name", "sid"} and partial[Device] == {"last_logged_on_user"}
    assert full[Device] >= {"name", "last_ip_address", "mac_addresses", "device_serial_number",
                            "last_logged_on_user"}
    assert engine_admin.path_is_hidden(Execution, "user", partial)
    assert not engine_admin.path_is_hidden(Execution, "device", partial)
    assert engine_admin.path_is_hidden(Execution, "device__name__exact", full)
    assert not engine_admin.path_is_hidden(Execution, "device__id__exact", full)


@pytest.mark.parametrize(("ms", "text"), [
    (850, "850 ms"), (12_400, "12.4 s"), (59_960, "1 min 0 s"), (200_000, "3 min 20 s"),
    (7_500_000, "2 h 5 min"), (273_600_000, "3 d 4 h"),
])
def test_durations_read_like_the_data_model_says(ms, text):
    assert engine_admin.human_duration(ms) == text


@pytest.mark.parametrize(("value", "text"), [
    (512, "512 B"), (1536, "1.5 KB"), (int(23.1 * 1024**2), "23.1 MB"), (4 * 1024**3, "4.0 GB"),
    (int(1023.96 * 1024), "1.0 MB"),
])
def test_byte_counts_read_like_the_data_model_says(value, text):
    assert engine_admin.human_bytes(value) == text
