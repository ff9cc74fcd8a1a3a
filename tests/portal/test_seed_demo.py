"""``manage.py seed_demo``: refusal and reset, determinism, and the shape of the demo data."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command
from django.db import connection

from engine.models import (
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
    Port,
    WebRequest,
)
from portal import demo
from portal.models import Account, ApiCredential, Entity, Hierarchy, HierarchyNode, PlatformSettings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "demo-password-42"
END = datetime(2024, 5, 15, 12, tzinfo=UTC)  # a Wednesday: the window covers working days only
OPTIONS = {"devices": 40, "days": 2, "seed": 7, "password": PASSWORD, "end": END.isoformat()}
EVENT_MODELS = (Execution, Crash, Connection, WebRequest, DeviceEvent, Installation)
# Salted hashes differ from one run to the next; everything else must not.
NOT_DETERMINISTIC = {"password", "client_secret"}


def seed(**overrides) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=stdout, stderr=stderr, **{**OPTIONS, **overrides})
    return stdout.getvalue(), stderr.getvalue()


def digest() -> dict[str, str]:
    """An md5 of every seeded table's rows in id order (salted secrets left out)."""
    digests = {}
    with connection.cursor() as cursor:
        for table in demo.reset_tables():
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)
                       if c.name not in NOT_DETERMINISTIC]
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            cursor.execute(
                f"SELECT count(*), md5(string_agg(ROW({quoted})::text, E'\\n' ORDER BY id)) "
                f"FROM {connection.ops.quote_name(table)}"
            )
            count, md5 = cursor.fetchone()
            digests[table] = f"{count}:{md5}"
    return digests


@pytest.fixture
def seeded(db):
    seed()


# -- Refusal, reset, determinism ----------------------------------------------------------------


@pytest.mark.django_db
def test_refuses_a_database_with_devices_or_accounts_unless_reset():
    seed()
    before = digest()
    with pytest.raises(CommandError, match="--reset"):
        seed()
    with pytest.raises(CommandError):
        seed(seed=8, devices=5)
    assert digest() == before


@pytest.mark.django_db
def test_refuses_a_database_holding_only_an_account(make_account):
    make_account("someone-else")
    with pytest.raises(CommandError, match="already holds data"):
        seed()
    assert Account.objects.count() == 1
    assert not Device.objects.exists()


@pytest.mark.django_db
def test_reset_replaces_the_data():
    seed()
    Device.objects.filter(pk=1).update(name="RENAMED")
    seed(reset=True, devices=12, password="another-password")
    assert Device.objects.count() == 12
    assert not Device.objects.filter(name="RENAMED").exists()
    assert Account.objects.count() == 8
    admin = Account.objects.get(username="admin")
    assert admin.check_password("another-password") and not admin.check_password(PASSWORD)
    assert set(Execution.objects.values_list("device_id", flat=True).distinct()) <= set(range(1, 13))


@pytest.mark.django_db
def test_same_options_give_the_same_rows_and_another_seed_other_rows():
    seed()
    first = digest()
    seed(reset=True)
    assert digest() == first
    assert all(not value.startswith("0:") for table, value in first.items()
               if table not in ("engine_installation",)), first
    seed(reset=True, seed=8)
    other = digest()
    for table in ("engine_device", "engine_user", "engine_execution", "engine_connection", "engine_webrequest"):
        assert other[table] != first[table], table
    seed(reset=True, end=(END + timedelta(hours=1)).isoformat())
    assert digest()["engine_execution"] != first["engine_execution"]


def _database_url() -> str:
    db = connection.settings_dict
    options = db.get("OPTIONS") or {}
    user = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        user += ":" + quote(db["PASSWORD"], safe="")
    host = str(db.get("HOST") or options.get("host") or "")
    port = str(db.get("PORT") or options.get("port") or "")
    name = quote(db["NAME"], safe="")
    if host.startswith("/"):
        return f"postgresql://{user}@/{name}?host={quote(host, safe='/')}" + (f"&port={port}" if port else "")
    return f"postgresql://{user}@{host}{':' + port if port else ''}/{name}"


def _manage(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": _database_url()}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.django_db(transaction=True)
def test_command_prints_a_random_password_refuses_then_resets_and_matches_across_processes():
    options = ["--devices", "40", "--days", "2", "--seed", "7", "--end", END.isoformat()]
    first = _manage("seed_demo", *options)
    assert first.returncode == 0, first.stderr
    password = first.stdout.strip()
    assert len(password) >= 12 and "\n" not in password
    assert "engine_execution" in first.stderr and "event rows/s" in first.stderr
    assert Account.objects.get(username="analyst").check_password(password)
    assert check_password(password, ApiCredential.objects.get(client_id="demo-client").client_secret)
    from_process = digest()

    refused = _manage("seed_demo", *options)
    assert refused.returncode != 0
    assert "--reset" in refused.stderr and refused.stdout == ""
    assert digest() == from_process

    # In this process, with another password: the same rows (other interpreters, other hash seeds).
    seed(reset=True)
    assert digest() == from_process
    assert Account.objects.get(username="analyst").check_password(PASSWORD)

    given = _manage("seed_demo", "--reset", "--password", "given-password-1", *options)
    assert given.returncode == 0, given.stderr
    assert given.stdout == ""
    assert digest() == from_process
    # The committed load left every index and foreign key in place.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'engine_execution'")
        assert cursor.fetchone()[0] == 5


# -- Accounts, credentials, hierarchies ---------------------------------------------------------


@pytest.mark.django_db
def test_accounts_and_their_rights_follow_the_table(seeded):
    rights = {
        a.username: (a.is_superuser, a.profile.finder_access, a.profile.data_privacy,
                     a.profile.allow_remote_action_api, a.profile.can_edit_categories,
                     str(a.profile.view_domain) if a.profile.view_domain else None)
        for a in Account.objects.select_related("profile__view_domain")
    }
    assert rights == {
        "admin": (True, True, "none", True, True, None),
        "analyst": (False, True, "none", False, False, None),
        "partial": (False, True, "partial", False, False, None),
        "viewer": (False, False, "none", False, False, None),
        "actor": (False, True, "none", True, False, None),
        "editor": (False, True, "none", False, True, None),
        "europe": (False, True, "none", False, False, "Europe"),
        "actor_eu": (False, True, "none", True, False, "Europe"),
    }
    admin = Account.objects.get(username="admin")
    assert admin.is_staff and admin.profile.administration and admin.is_active
    assert not Account.objects.filter(is_staff=True).exclude(username="admin").exists()
    europe = Account.objects.get(username="europe").profile.view_domain
    assert europe.hierarchy.name == "Geography" and europe.parent is None
    assert PlatformSettings.load().services_api_enabled


@pytest.mark.django_db
def test_passwords_are_argon2_and_api_credentials_check(seeded):
    hashes = set(Account.objects.values_list("password", flat=True))
    hashes |= set(ApiCredential.objects.values_list("client_secret", flat=True))
    for hashed in hashes:  # Argon2 is slow on purpose: check each distinct hash once
        assert hashed.startswith("argon2$")
        assert check_password(PASSWORD, hashed)
    assert not check_password("wrong", hashes.pop())
    assert Account.objects.get(username="viewer").check_password(PASSWORD)
    credentials = {c.client_id: c for c in ApiCredential.objects.all()}
    assert set(credentials) == {"demo-client", "demo-nql-only"}
    assert credentials["demo-client"].scope_set() == {"service:integration"}
    assert credentials["demo-nql-only"].scope_set() == {"nql"}
    for credential in credentials.values():
        assert credential.client_type == "confidential"
        assert credential.authorization_grant_type == "client-credentials"
        assert credential.hash_client_secret
        assert credential.client_secret != PASSWORD
        assert check_password(PASSWORD, credential.client_secret)


@pytest.mark.django_db
def test_hierarchies_have_the_documented_shape(seeded):
    def tree(name):
        hierarchy = Hierarchy.objects.get(name=name)
        paths = {}
        for node in HierarchyNode.objects.filter(hierarchy=hierarchy).select_related("level", "entity"):
            path = tuple(n.name for n in node.path())
            paths[path] = (node.level.name, node.entity.name if node.entity else None)
        return [level.name for level in hierarchy.levels.all()], paths

    levels, paths = tree("Geography")
    assert levels == ["Continent", "Country", "Entity"]
    assert paths == {
        ("Europe",): ("Continent", None),
        ("Europe", "Switzerland"): ("Country", None),
        ("Europe", "Switzerland", "Lausanne"): ("Entity", "Lausanne"),
        ("Europe", "Switzerland", "Zurich"): ("Entity", "Zurich"),
        ("Europe", "France"): ("Country", None),
        ("Europe", "France", "Paris"): ("Entity", "Paris"),
        ("America",): ("Continent", None),
        ("America", "USA"): ("Country", None),
        ("America", "USA", "Boston"): ("Entity", "Boston"),
        ("America", "USA", "Austin"): ("Entity", "Austin"),
    }
    levels, paths = tree("Organization")
    assert levels == ["Division", "Entity"]
    assert paths == {
        ("Corporate",): ("Division", None),
        ("Corporate", "Lausanne"): ("Entity", "Lausanne"),
        ("Corporate", "Boston"): ("Entity", "Boston"),
        ("Field",): ("Division", None),
        ("Field", "Zurich"): ("Entity", "Zurich"),
        ("Field", "Paris"): ("Entity", "Paris"),
        ("Field", "Austin"): ("Entity", "Austin"),
    }
    assert sorted(Entity.objects.values_list("name", flat=True)) == ["Austin", "Boston", "Lausanne", "Paris",
                                                                     "Zurich"]
    for node in HierarchyNode.objects.all():
        node.full_clean()


# -- Engines, devices, categories ---------------------------------------------------------------


@pytest.mark.django_db
def test_engines_split_the_devices_by_continent(seeded):
    engines = {e.name: e for e in Engine.objects.all()}
    assert set(engines) == {"engine-1", "engine-2", "engine-3"}
    assert [engines[n].status for n in ("engine-1", "engine-2", "engine-3")] == [
        "CONNECTED", "CONNECTED", "DISCONNECTED"]
    for name, engine in engines.items():
        assert engine.address == f"{name}.localhost"
        engine.full_clean()  # 32-hex database UID and machine ID
    assert len({e.database_uid for e in engines.values()}) == 3
    entities = {name: set(Device.objects.filter(engine=engines[name]).values_list("entity__name", flat=True))
                for name in engines}
    assert entities["engine-1"] == {"Lausanne", "Zurich", "Paris"}
    assert entities["engine-2"] == {"Boston", "Austin"}
    assert entities["engine-3"] == set()
    assert Device.objects.count() == 40


@pytest.mark.django_db
def test_devices_look_real_and_platform_shares_are_about_70_25_5(seeded):
    shares = Counter(Device.objects.values_list("platform", flat=True))
    assert shares == {"windows": 28, "mac_os": 10, "mobile": 2}
    for device in Device.objects.select_related("entity"):
        device.full_clean()
        code = {"Lausanne": "LAU", "Zurich": "ZRH", "Paris": "PAR", "Boston": "BOS", "Austin": "AUS"}
        assert device.name.startswith(code[device.entity.name] + "-")
        assert device.device_model and device.device_serial_number and device.mac_addresses
        assert device.total_ram and device.system_drive_capacity > device.system_drive_free_space > 0
        assert device.last_ip_address.startswith("10.")
        assert device.last_logged_on_user
    assert Device.objects.filter(name__regex=r"^[A-Z]{3}-LT-\d{5}$").exists()
    users = EndUser.objects.filter(user_type="domain")
    assert 40 <= users.count() <= 60
    assert all(u.sid.startswith("S-1-5-21-") and u.department and u.job_title for u in users)


@pytest.mark.django_db
def test_larger_fleets_keep_the_platform_shares():
    seed(devices=300, days=1)
    shares = Counter(Device.objects.values_list("platform", flat=True))
    assert shares == {"windows": 210, "mac_os": 75, "mobile": 15}


@pytest.mark.django_db
def test_categories_location_and_criticality(seeded):
    location = Category.objects.get(name="Location", object_table="device")
    criticality = Category.objects.get(name="Criticality", object_table="device")
    assert set(location.keywords.values_list("name", flat=True)) == {"Lausanne", "Zurich", "Paris", "Boston",
                                                                     "Austin"}
    assert set(criticality.keywords.values_list("name", flat=True)) == {"high", "medium", "low"}
    devices = {d.pk: d.entity.name for d in Device.objects.select_related("entity")}
    assignments = {a.object_id: a.keyword.name
                   for a in CategoryAssignment.objects.filter(category=location).select_related("keyword")}
    assert assignments == devices
    levels = Counter(CategoryAssignment.objects.filter(category=criticality)
                     .values_list("keyword__name", flat=True))
    assert set(levels) == {"high", "medium", "low"}
    assert 0 < sum(levels.values()) < len(devices)  # some devices left empty


# -- Activity -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_activity_lies_in_the_window(seeded):
    start = END - timedelta(days=2)
    for model in EVENT_MODELS:
        assert model.objects.exists(), model
        time_field = "time" if model is Crash else "start_time"
        assert not model.objects.filter(**{f"{time_field}__lt": start}).exists(), model
        assert not model.objects.filter(**{f"{time_field}__gte": END}).exists(), model
        if model is not Crash:
            assert not model.objects.filter(end_time__gte=END).exists(), model
            assert not model.objects.filter(end_time__lt=start).exists(), model
    # About 150-300 event rows per device and working day.
    rows = sum(model.objects.count() for model in EVENT_MODELS)
    assert 120 <= rows / (40 * 2) <= 320, rows


@pytest.mark.django_db
def test_activity_follows_working_hours(seeded):
    europe_hours = Counter()
    for start in Execution.objects.filter(device__engine__name="engine-1").values_list("start_time", flat=True):
        europe_hours[(start + timedelta(hours=2)).hour] += 1  # CEST in May
    total = sum(europe_hours.values())
    working = sum(n for hour, n in europe_hours.items() if 8 <= hour < 19)
    assert working / total > 0.9
    assert not any(europe_hours[h] for h in range(0, 6))


@pytest.mark.django_db
def test_services_traffic_failures_and_errors_exist(seeded):
    outlook = Connection.objects.filter(destination__name="outlook.office365.com", port__port_number=443,
                                        port__protocol="tcp")
    assert outlook.count() > 50
    assert Destination.objects.get(name="outlook.office365.com").ip_address
    assert Connection.objects.filter(status__in=Connection.FAILED_STATUSES).exists()
    assert Connection.objects.filter(status__in=["established", "closed"]).count() > 0.9 * Connection.objects.count()
    intranet = WebRequest.objects.filter(domain__name="intranet.example.com")
    assert intranet.count() > 20
    assert WebRequest.objects.filter(http_status__gte=400).exists()
    assert WebRequest.objects.filter(http_status__lt=400).count() > 0.85 * WebRequest.objects.count()
    assert {(p.port_number, p.protocol) for p in Port.objects.all()} >= {(443, "tcp"), (80, "tcp"), (53, "udp")}
    assert Domain.objects.filter(name="intranet.example.com").exists()
    types = set(DeviceEvent.objects.values_list("type", flat=True))
    assert {"system_boot", "user_logon"} <= types
    assert DeviceEvent.objects.filter(type="system_boot", duration__gt=0).exists()
    assert Crash.objects.exists() and Crash.objects.count() < Execution.objects.count() / 100
    crashed = Execution.objects.filter(number_of_crashes__gt=0).count()
    assert crashed == Crash.objects.count()
    assert Execution.objects.filter(binary__name="outlook.exe").exists()


@pytest.mark.django_db
def test_ids_continue_after_the_seeded_rows(seeded):
    device = Device.objects.create(
        name="NEW-LT-99999", device_uid="f" * 32, collector_uid="new-collector", engine=Engine.objects.first(),
        entity=Entity.objects.first(), platform="windows", device_type="laptop",
    )
    assert device.pk == 41
    user = EndUser.objects.create(name="new.user@example.com", user_uid="new-user")
    assert user.pk == EndUser.objects.count()
    execution = Execution.objects.create(device=device, binary_id=1, start_time=END, end_time=END, duration=1,
                                         cpu_time=1, memory=1)
    assert execution.pk == Execution.objects.count()
    Account.objects.create(username="late", profile=Account.objects.first().profile)
    Entity.objects.create(name="Geneva")


@pytest.mark.django_db
def test_indexes_and_foreign_keys_are_restored(seeded):
    with connection.cursor() as cursor:
        for model in EVENT_MODELS:
            table = model._meta.db_table
            constraints = connection.introspection.get_constraints(cursor, table)
            indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}
            assert ("device_id", "time" if model is Crash else "start_time") in indexed, table
            assert ("time" if model is Crash else "start_time",) in indexed, table
            foreign = {c["columns"][0] for c in constraints.values() if c["foreign_key"]}
            expected = {f.column for f in model._meta.fields if f.is_relation}
            assert foreign == expected, table


@pytest.mark.django_db
def test_summary_goes_to_stderr_and_a_given_password_is_not_printed(db):
    stdout, stderr = seed()
    assert stdout == ""
    assert PASSWORD not in stderr
    assert "engine_execution" in stderr and "event rows/s" in stderr


@pytest.mark.django_db
def test_the_context_publishes_ids_for_later_seeders():
    ctx = demo.DemoContext(seed=3, devices=10, days=1, end=END, password=PASSWORD)
    from django.db import transaction

    with transaction.atomic():
        demo.run(ctx)
    assert ctx.ids["entities"] == dict(Entity.objects.values_list("name", "pk"))
    assert ctx.ids["engines"] == dict(Engine.objects.values_list("name", "pk"))
    assert [d[0] for d in ctx.ids["devices"]] == list(Device.objects.order_by("pk").values_list("pk", flat=True))
    assert ctx.counts["engine_device"] == 10
    assert ctx.event_rows == sum(model.objects.count() for model in EVENT_MODELS)
    assert demo.SEEDERS[:2] == ["portal.demo.seed", "engine.demo.seed"]


@pytest.mark.django_db
def test_weekends_are_quiet_and_any_end_time_bounds_the_window():
    end = datetime(2024, 5, 20, 9, 34, 56, tzinfo=UTC)  # a Monday morning, not on the hour
    seed(days=7, end=end.isoformat())
    start = end - timedelta(days=7)
    per_day = Counter(t.date() for t in Execution.objects.values_list("start_time", flat=True))
    weekdays = [n for day, n in per_day.items() if day.weekday() < 5 and start.date() < day < end.date()]
    weekend = [per_day.get(datetime(2024, 5, d).date(), 0) for d in (18, 19)]
    assert min(weekdays) > 5 * max(weekend)
    for model in EVENT_MODELS:
        time_field = "time" if model is Crash else "start_time"
        assert not model.objects.filter(**{f"{time_field}__lt": start}).exists(), model
        assert not model.objects.filter(**{f"{time_field}__gte": end}).exists(), model
