"""NQL meaning (nql.md, *Grammar* rules, *Meaning*, *Saved queries* parameter typing): queries are
prepared with ``services.prepare_nql`` at a FIXED clock (``NOW``) and run with ``services.execute``
against a small hand-made data set with events at known times around ``NOW``.

Data set (module-scoped, committed, removed afterwards), NOW = 2024-06-15 12:00:00 UTC:

  devices   platform  type        memory  cpus  ip            last_seen            build   #NqltTier
  Alpha     windows   laptop      16 GiB  8     10.1.2.3      NOW-1h               22631   Gold
  bravo     mac_os    laptop       8 GiB  4     10.1.9.9      NOW-3d               23E214  Silver
  charlie   windows   desktop     -       -     192.168.1.10  NOW-7d-1s            ''      -
  delta     mobile    smartphone   4 GiB  6     -             NOW-7d (exactly)     ''      -
  echo_1    windows   server      32 GiB  16    10.2.0.5      NOW-8d               20348   -
  echoX1    windows   virtual      2 GiB  2     -             -                    ''      -

  executions (duration in ms identifies each one)
  1000  Alpha   ann  outlook.exe  NOW-30min              crashes 1, memory 100 MB
  2000  Alpha   ann  outlook.exe  NOW-45min (exactly)              memory 200 MB
  3000  Alpha   ann  chrome.exe   NOW-45min-1s                     memory 300 MB
  4000  bravo   bob  outlook.exe  NOW-1h (exactly)       crashes 2
  5000  bravo   bob  chrome.exe   NOW-23h59min
  6000  charlie -    outlook.exe  NOW-24h (exactly)
  7000  charlie -    chrome.exe   NOW-24h-1s
  8000  Alpha   ann  outlook.exe  2024-06-01 00:00:00
  9000  Alpha   ann  outlook.exe  2024-06-01 23:59:59
  10000 bravo   bob  outlook.exe  2024-06-02 00:00:00
  11000 bravo   bob  chrome.exe   2024-05-31 23:59:59
  12000 delta   ann  chrome.exe   NOW-21d (exactly)
  13000 Alpha   ann  chrome.exe   2024-06-01 00:14:59
  14000 Alpha   ann  chrome.exe   2024-06-01 00:15:00
  15000 delta   ann  chrome.exe   NOW-21d-1s

  crashes: Alpha/outlook.exe at NOW-2h (code 0xA), bravo/chrome.exe at NOW-2d (code 0xB)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from engine import services
from engine.models import (
    Application,
    Binary,
    Category,
    CategoryAssignment,
    Crash,
    Device,
    EndUser,
    Engine,
    Execution,
    Keyword,
)
from engine.query import plan as p
from engine.query.errors import QueryError
from engine.query.render import render
from engine.schema import SCHEMA
from portal.models import Entity

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 15, 12, 0, 0, tzinfo=UTC)
GIB = 1024**3
MIB = 1024**2
ALL_DEVICES = {"Alpha", "bravo", "charlie", "delta", "echo_1", "echoX1"}


def ago(**delta) -> datetime:
    return NOW - timedelta(**delta)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class World:
    engine: Engine | None = None
    entity: Entity | None = None
    devices: dict[str, Device] = field(default_factory=dict)
    users: dict[str, EndUser] = field(default_factory=dict)
    binaries: dict[str, Binary] = field(default_factory=dict)
    application: Application | None = None
    category: Category | None = None


def build_world() -> World:
    world = World()
    world.engine = Engine.objects.create(
        name="nqlt-engine", database_uid=f"{0xB1:032x}", machine_id=f"{0xB2:032x}", address="nqlt-engine.localhost",
    )
    world.entity = Entity.objects.get_or_create(name="NqltSite")[0]
    rows = [
        dict(name="Alpha", platform="windows", device_type="laptop", total_ram=16 * GIB, number_of_cpus=8,
             last_ip_address="10.1.2.3", last_seen=ago(hours=1), os_build="22631",
             first_seen=at("2024-01-01T00:00:00"), system_drive_usage=0.5, last_boot_duration=850),
        dict(name="bravo", platform="mac_os", device_type="laptop", total_ram=8 * GIB, number_of_cpus=4,
             last_ip_address="10.1.9.9", last_seen=ago(days=3), os_build="23E214", system_drive_usage=0.25,
             last_boot_duration=12_400),
        dict(name="charlie", platform="windows", device_type="desktop", last_ip_address="192.168.1.10",
             last_seen=ago(days=7, seconds=1)),
        dict(name="delta", platform="mobile", device_type="smartphone", total_ram=4 * GIB, number_of_cpus=6,
             last_seen=ago(days=7)),
        dict(name="echo_1", platform="windows", device_type="server", total_ram=32 * GIB, number_of_cpus=16,
             last_ip_address="10.2.0.5", last_seen=ago(days=8), os_build="20348"),
        dict(name="echoX1", platform="windows", device_type="virtual", total_ram=2 * GIB, number_of_cpus=2),
    ]
    for number, row in enumerate(rows, start=1):
        world.devices[row["name"]] = Device.objects.create(
            device_uid=f"{0xC0DE00 + number:032x}", collector_uid=f"00000000-0000-4000-8000-{0xC0DE00 + number:012x}",
            engine=world.engine, entity=world.entity, **row,
        )
    for number, (name, kind) in enumerate((("ann", "domain"), ("bob", "local")), start=1):
        world.users[name] = EndUser.objects.create(name=name, user_uid=f"00000000-0000-4000-9999-{number:012x}",
                                                   user_type=kind)
    world.application = Application.objects.create(name="Nqlt Mail", company="Nqlt")
    world.binaries["outlook.exe"] = Binary.objects.create(
        name="outlook.exe", executable_name="outlook.exe", version="16.0.1", application=world.application,
        platform="windows", size=30 * MIB)
    world.binaries["chrome.exe"] = Binary.objects.create(
        name="chrome.exe", executable_name="chrome.exe", version="120.0", platform="windows", size=200 * MIB)

    dev, usr, binr = world.devices, world.users, world.binaries
    for duration, device, user, binary, start, crashes, memory in (
        (1000, "Alpha", "ann", "outlook.exe", ago(minutes=30), 1, 100 * MIB),
        (2000, "Alpha", "ann", "outlook.exe", ago(minutes=45), 0, 200 * MIB),
        (3000, "Alpha", "ann", "chrome.exe", ago(minutes=45, seconds=1), 0, 300 * MIB),
        (4000, "bravo", "bob", "outlook.exe", ago(hours=1), 2, 100 * MIB),
        (5000, "bravo", "bob", "chrome.exe", ago(hours=23, minutes=59), 0, 100 * MIB),
        (6000, "charlie", None, "outlook.exe", ago(hours=24), 0, 50 * MIB),
        (7000, "charlie", None, "chrome.exe", ago(hours=24, seconds=1), 0, 50 * MIB),
        (8000, "Alpha", "ann", "outlook.exe", at("2024-06-01T00:00:00"), 0, MIB),
        (9000, "Alpha", "ann", "outlook.exe", at("2024-06-01T23:59:59"), 0, MIB),
        (10000, "bravo", "bob", "outlook.exe", at("2024-06-02T00:00:00"), 0, MIB),
        (11000, "bravo", "bob", "chrome.exe", at("2024-05-31T23:59:59"), 0, MIB),
        (12000, "delta", "ann", "chrome.exe", ago(days=21), 0, MIB),
        (13000, "Alpha", "ann", "chrome.exe", at("2024-06-01T00:14:59"), 0, MIB),
        (14000, "Alpha", "ann", "chrome.exe", at("2024-06-01T00:15:00"), 0, MIB),
        (15000, "delta", "ann", "chrome.exe", ago(days=21, seconds=1), 0, MIB),
    ):
        Execution.objects.create(
            device=dev[device], user=usr[user] if user else None, binary=binr[binary], start_time=start,
            end_time=start + timedelta(milliseconds=duration), duration=duration, cpu_time=duration // 10,
            memory=memory, number_of_crashes=crashes, binary_path=f"C:\\Apps\\{binary}",
        )
    Crash.objects.create(device=dev["Alpha"], user=usr["ann"], binary=binr["outlook.exe"], time=ago(hours=2),
                         exception_code="0xA")
    Crash.objects.create(device=dev["bravo"], user=usr["bob"], binary=binr["chrome.exe"], time=ago(days=2),
                         exception_code="0xB")
    world.category = Category.objects.create(name="NqltTier", object_table="device")
    gold = Keyword.objects.create(category=world.category, name="Gold")
    silver = Keyword.objects.create(category=world.category, name="Silver")
    CategoryAssignment.objects.create(category=world.category, keyword=gold, object_id=dev["Alpha"].pk)
    CategoryAssignment.objects.create(category=world.category, keyword=silver, object_id=dev["bravo"].pk)
    return world


def destroy_world(world: World) -> None:
    device_ids = [d.pk for d in world.devices.values()]
    Execution.objects.filter(device_id__in=device_ids).delete()
    Crash.objects.filter(device_id__in=device_ids).delete()
    if world.category is not None:
        CategoryAssignment.objects.filter(category=world.category).delete()
        world.category.delete()
    Device.objects.filter(pk__in=device_ids).delete()
    Binary.objects.filter(pk__in=[b.pk for b in world.binaries.values()]).delete()
    if world.application is not None:
        world.application.delete()
    EndUser.objects.filter(pk__in=[u.pk for u in world.users.values()]).delete()
    if world.entity is not None:
        Entity.objects.filter(pk=world.entity.pk, devices__isnull=True).delete()
    if world.engine is not None:
        world.engine.delete()


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        built = build_world()
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            destroy_world(built)


# -- helpers ----------------------------------------------------------------------------------------


def run(text: str, *, parameters=None, visibility=None) -> tuple[list[str], list[tuple]]:
    prepared = services.prepare_nql(text, parameters=parameters, visibility=visibility, now=NOW)
    result = services.execute(prepared.plan)
    return [c.name for c in result.columns], list(result.rows)


def first_column(text: str, **kw) -> list:
    return [row[0] for row in run(text, **kw)[1]]


def first_set(text: str, **kw) -> set:
    values = first_column(text, **kw)
    assert len(values) == len(set(values)), values
    return set(values)


def names_of(text: str, **kw) -> list[str]:
    return run(text, **kw)[0]


def json_rows(text: str, **kw) -> list[dict]:
    prepared = services.prepare_nql(text, now=NOW, **kw)
    result = services.execute(prepared.plan)
    return json.loads(b"".join(render("json", result.columns, result.rows)))


def refused(text: str, **kw) -> QueryError:
    with pytest.raises(QueryError) as caught:
        run(text, **kw)
    assert caught.value.status == 400, caught.value
    return caught.value


# -- time frames ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("frame", "durations"), [
    ("", {1000, 2000, 3000, 4000, 5000, 6000}),  # no time frame: the past 24 h, NOW-24h included
    ("during past 24h", {1000, 2000, 3000, 4000, 5000, 6000}),
    ("during past 1d", {1000, 2000, 3000, 4000, 5000, 6000}),
    ("during past 45min", {1000, 2000}),
    ("during past 1h", {1000, 2000, 3000, 4000}),
    ("during past 21d", {1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000, 13000, 14000}),
    ("from 2024-06-01 00:00:00 to 2024-06-02", {8000, 9000, 13000, 14000}),
    ("from 2024-06-01 to 2024-06-02 00:00:00", {8000, 9000, 13000, 14000}),
    ("on 2024-06-01", {8000, 9000, 13000, 14000}),
    ("on 2024-05-31", {11000}),
    ("from 2024-06-01 00:00 to 2024-06-01 00:15", {8000, 13000}),
    ("from 2024-05-31 23:59:59 to 2024-06-01 00:00:00", {11000}),
    ("from 21d ago to 1d ago", {7000, 8000, 9000, 10000, 11000, 12000, 13000, 14000}),
    ("from 2024-06-01 to 1d ago", {7000, 8000, 9000, 10000, 13000, 14000}),
    ("from 1h ago to 30min ago", {2000, 3000, 4000}),
])
def test_time_frames_select_the_half_open_window(world, frame, durations):
    assert first_set(f"execution.events {frame} | list duration") == durations


def test_time_frame_applies_to_the_time_of_crashes(world):
    assert first_set("execution.crashes | list exception_code") == {"0xA"}
    assert first_set("execution.crashes during past 7d | list exception_code") == {"0xA", "0xB"}
    assert first_set("execution.crashes from 2d ago to 2h ago | list exception_code") == {"0xB"}


def test_object_table_without_time_frame_lists_all_objects(world):
    assert first_set("devices | list name") == ALL_DEVICES


def test_devices_during_past_7d_are_the_devices_seen_in_the_past_7_days(world):
    assert first_set("devices during past 7d | list name") == {"Alpha", "bravo", "delta"}


def test_devices_from_to_uses_last_seen_with_end_excluded(world):
    assert first_set("devices from 2024-06-01 to 2024-06-08 12:00:00 | list name") == {"charlie", "echo_1"}


def test_devices_on_a_day(world):
    assert first_set("devices on 2024-06-08 | list name") == {"charlie", "delta"}


@pytest.mark.parametrize("text", [
    "execution.events on 2024-02-30", "execution.events from 2024-13-01 to 2024-12-01",
    "execution.events during past 99999999999999d", "execution.events from 99999999999999d ago to 1d ago",
])
def test_invalid_time_frames_are_400(world, text):
    refused(text)


# -- comparisons --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("condition", "expected"), [
    ('name == "ALPHA"', {"Alpha"}),
    ("name == 'alpha'", {"Alpha"}),
    ('name = "BRAVO"', {"bravo"}),
    ('name != "ALPHA"', ALL_DEVICES - {"Alpha"}),
    ('name in ["ALPHA", "Bravo"]', {"Alpha", "bravo"}),
    ('name !in ["ALPHA", "Bravo"]', ALL_DEVICES - {"Alpha", "bravo"}),
    ('name contains "LPH"', {"Alpha"}),
    ('name !contains "A"', {"echo_1", "echoX1"}),
    ('name contains "_"', {"echo_1"}),
    ('name contains "%"', set()),
    ("operating_system.platform == WINDOWS", {"Alpha", "charlie", "echo_1", "echoX1"}),
    ('operating_system.platform == "Mac_OS"', {"bravo"}),
    ("operating_system.platform in [MOBILE, mac_os]", {"bravo", "delta"}),
    ("operating_system.platform != windows", {"bravo", "delta"}),
    ("hardware.type == LAPTOP", {"Alpha", "bravo"}),
    (f'uid == "{0xC0DE01:032X}"', {"Alpha"}),
])
def test_string_enum_and_uid_comparisons_ignore_case(world, condition, expected):
    assert first_set(f"devices | where {condition} | list name") == expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ('"a*"', {"Alpha"}),
    ('"*A*"', {"Alpha", "bravo", "charlie", "delta"}),
    ('"echo?1"', {"echo_1", "echoX1"}),
    ('"ECHO*"', {"echo_1", "echoX1"}),
    ('"?????"', {"Alpha", "bravo", "delta"}),
    ('"*"', ALL_DEVICES),
    ('"echo_1"', {"echo_1"}),  # no wildcard: `_` is an ordinary character
    ('"echo_?"', {"echo_1"}),
    ('"ech%"', set()),
    ('"ech%*"', set()),
])
def test_wildcards_with_equals(world, pattern, expected):
    assert first_set(f"devices | where name == {pattern} | list name") == expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ('"*a*"', {"echo_1", "echoX1"}),
    ('"echo?1"', {"Alpha", "bravo", "charlie", "delta"}),
    ('"E*"', {"Alpha", "bravo", "charlie", "delta"}),
])
def test_wildcards_with_not_equals(world, pattern, expected):
    assert first_set(f"devices | where name != {pattern} | list name") == expected


def test_wildcards_on_a_linked_string(world):
    assert first_set('execution.events | where binary.name == "OUT*" | list duration') == {1000, 2000, 4000, 6000}


@pytest.mark.parametrize(("condition", "expected"), [
    ("hardware.number_of_cpus >= 8", {"Alpha", "echo_1"}),
    ("hardware.number_of_cpus == 4", {"bravo"}),
    ("hardware.number_of_cpus < 4", {"echoX1"}),
    ("hardware.memory > 8GB", {"Alpha", "echo_1"}),
    ("hardware.memory <= 8GB", {"bravo", "delta", "echoX1"}),
    ("hardware.memory == 8589934592", {"bravo"}),
    ("hardware.memory == 8192MB", {"bravo"}),
    ("hardware.memory in [2GB, 4GB]", {"delta", "echoX1"}),
    ("boot.last_boot_duration < 1s", {"Alpha"}),
    ("boot.last_boot_duration > 850", {"bravo"}),
    ("boot.last_boot_duration == 12400ms", {"bravo"}),
    ("hardware.system_drive_usage > 0.3", {"Alpha"}),
    ("last_seen >= 2024-06-14", {"Alpha"}),
    ("last_seen < 2024-06-08 12:00:00", {"charlie", "echo_1"}),
    ("last_seen == 2024-06-08 12:00:00", {"delta"}),
    ('last_seen > "2024-06-12T00:00:00Z"', {"Alpha", "bravo"}),
    ("first_seen < 2024-02-01", {"Alpha"}),
    ("last_ip_address == 10.1.0.0/16", {"Alpha", "bravo"}),
    ("last_ip_address == 10.1.2.3", {"Alpha"}),
    ('last_ip_address == "192.168.0.0/16"', {"charlie"}),
])
def test_typed_comparisons(world, condition, expected):
    assert first_set(f"devices | where {condition} | list name") == expected


@pytest.mark.parametrize(("listed", "ored", "anded"), [
    ('name in ["ALPHA", "bravo"]', 'name == "ALPHA" or name == "bravo"', None),
    ('name !in ["ALPHA", "bravo"]', None, 'name != "ALPHA" and name != "bravo"'),
    ("hardware.memory in [8GB, 16GB]", "hardware.memory == 8GB or hardware.memory == 16GB", None),
    ("hardware.memory !in [8GB, 16GB]", None, "hardware.memory != 8GB and hardware.memory != 16GB"),
    ("operating_system.platform in [mobile, MAC_OS]",
     "operating_system.platform == mobile or operating_system.platform == MAC_OS", None),
    ("last_ip_address in [10.1.2.3, 10.2.0.5]", "last_ip_address == 10.1.2.3 or last_ip_address == 10.2.0.5", None),
    ("last_ip_address in [10.1.0.0/16, 192.168.0.0/16]",
     "last_ip_address == 10.1.0.0/16 or last_ip_address == 192.168.0.0/16", None),
    ("last_ip_address !in [10.1.0.0/16, 192.168.0.0/16]", None,
     "last_ip_address != 10.1.0.0/16 and last_ip_address != 192.168.0.0/16"),
])
def test_in_is_equals_any_and_not_in_is_not_equals_all(world, listed, ored, anded):
    """``in [a, b]`` compares like ``== a or == b`` (an address against a network: inside it), ``!in`` like
    ``!= a and != b``."""
    found = first_set(f"devices | where {listed} | list name")
    assert found == first_set(f"devices | where {ored or anded} | list name")


def test_ip_not_equals_excludes_the_network(world):
    found = first_set("devices | where last_ip_address != 10.1.0.0/16 | list name")
    assert {"charlie", "echo_1"} <= found
    assert not found & {"Alpha", "bravo"}


@pytest.mark.parametrize(("condition", "expected"), [
    ("hardware.memory == null", {"charlie"}),
    ("hardware.memory != null", ALL_DEVICES - {"charlie"}),
    ("last_ip_address == null", {"delta", "echoX1"}),
    ("last_seen == null", {"echoX1"}),
    ("operating_system.build == null", {"charlie", "delta", "echoX1"}),  # stored empty: absent
    ("operating_system.build != null", {"Alpha", "bravo", "echo_1"}),
    ("#nqlttier == null", {"charlie", "delta", "echo_1", "echoX1"}),
    ("#nqlttier != null", {"Alpha", "bravo"}),
])
def test_null_comparisons(world, condition, expected):
    assert first_set(f"devices | where {condition} | list name") == expected


@pytest.mark.parametrize(("condition", "expected"), [
    ('name == "bravo" or name == "charlie" and hardware.number_of_cpus > 100', {"bravo"}),
    ('(name == "bravo" or name == "charlie") and hardware.number_of_cpus > 100', set()),
    ('not name == "alpha" and not name == "bravo"', ALL_DEVICES - {"Alpha", "bravo"}),
    ('not (name == "alpha" or name == "bravo")', ALL_DEVICES - {"Alpha", "bravo"}),
    ('name == "alpha" or not hardware.number_of_cpus > 2', {"Alpha", "echoX1"}),
    ('hardware.type == laptop and (hardware.memory > 10GB or operating_system.platform == mac_os)',
     {"Alpha", "bravo"}),
])
def test_boolean_precedence_when_running(world, condition, expected):
    assert first_set(f"devices | where {condition} | list name") == expected


def test_several_where_stages_are_anded(world):
    assert first_set("devices | where operating_system.platform == windows | where hardware.number_of_cpus > 4 "
                     "| list name") == {"Alpha", "echo_1"}
    assert first_set('devices | where name == "*a*" | where name == "*o" | where hardware.type == laptop '
                     '| list name') == {"bravo"}


def test_categories_compare_their_keyword_ignoring_case(world):
    assert first_set("devices | where #nqlttier == GOLD | list name") == {"Alpha"}
    assert first_set("devices | where #NqltTier in [gold, silver] | list name") == {"Alpha", "bravo"}
    assert first_set("execution.events | where device.#nqlttier == silver | list duration") == {4000, 5000}


def test_unknown_category_keyword_is_400_with_options(world):
    error = refused("devices | where #nqlttier == platinum")
    assert set(error.options) == {"Gold", "Silver"}


# -- with, include, compute --------------------------------------------------------------------------


def test_with_keeps_the_objects_having_events_in_the_default_window(world):
    assert first_set("devices | with execution.events | list name") == {"Alpha", "bravo", "charlie"}


def test_with_takes_its_own_time_frame(world):
    assert first_set("devices | with execution.events during past 1h | list name") == {"Alpha", "bravo"}
    assert first_set("devices | with execution.events on 2024-06-01 | list name") == {"Alpha"}
    assert first_set("devices | with execution.events from 21d ago to 1d ago | list name") == {
        "Alpha", "bravo", "charlie", "delta"}


def test_where_after_with_filters_the_events(world):
    assert first_set('devices | with execution.events | where binary.name == "chrome.exe" | list name') == {
        "Alpha", "bravo"}
    _names, rows = run('devices | with execution.events | where binary.name == "outlook.exe" '
                       '| compute n = count() | list name, n')
    assert set(rows) == {("Alpha", 2), ("bravo", 1), ("charlie", 1)}


def test_where_before_with_filters_the_objects(world):
    _names, rows = run('devices | where name == "alpha" | with execution.events | compute n = count() | list name, n')
    assert rows == [("Alpha", 3)]


def test_where_after_with_names_event_links_and_fields(world):
    _names, rows = run("devices | with execution.events | where duration >= 3000 and user.name == bob "
                       "| compute n = count() | list name, n")
    assert rows == [("bravo", 2)]


def test_compute_aggregates_exact_values(world):
    _names, rows = run(
        "devices | with execution.events | compute n = count(), total = duration.sum(), mean = duration.avg(), "
        "lo = duration.min(), hi = duration.max(), crashy = number_of_crashes.countif(number_of_crashes > 0), "
        "bins = binary.count(), crashes = number_of_crashes.sum(), ram = memory.max() "
        "| list name, n, total, mean, lo, hi, crashy, bins, crashes, ram")
    assert set(rows) == {
        ("Alpha", 3, 6000, 2000, 1000, 3000, 1, 2, 1, 300 * MIB),
        ("bravo", 2, 9000, 4500, 4000, 5000, 1, 2, 2, 100 * MIB),
        ("charlie", 1, 6000, 6000, 6000, 6000, 0, 1, 0, 50 * MIB),
    }


def test_average_of_an_integer_field_is_a_real(world):
    _names, rows = run("devices | with execution.events | compute c = number_of_crashes.avg() | list name, c")
    values = dict(rows)
    assert values["Alpha"] == pytest.approx(1 / 3)
    assert values["bravo"] == pytest.approx(1.0)
    assert values["charlie"] == pytest.approx(0.0)


def test_distinct_count_of_a_link(world):
    _names, rows = run("devices | with execution.events during past 30d | compute bins = binary.count(), "
                       "users = user.count() | list name, bins, users")
    assert set(rows) == {("Alpha", 2, 1), ("bravo", 2, 1), ("charlie", 2, 0), ("delta", 1, 1)}


def test_include_keeps_every_object_with_zero_counts_and_null_aggregates(world):
    _names, rows = run("devices | include execution.events | compute n = count(), hi = duration.max(), "
                       "mean = duration.avg(), crashy = number_of_crashes.countif(number_of_crashes > 0) "
                       "| list name, n, hi, mean, crashy")
    assert set(rows) == {
        ("Alpha", 3, 3000, 2000, 1), ("bravo", 2, 5000, 4500, 1), ("charlie", 1, 6000, 6000, 0),
        ("delta", 0, None, None, 0), ("echo_1", 0, None, None, 0), ("echoX1", 0, None, None, 0),
    }


def test_include_sum_of_no_events_is_zero_or_null(world):
    _names, rows = run("devices | include execution.events | compute total = duration.sum() | list name, total")
    values = dict(rows)
    assert values["Alpha"] == 6000
    assert values["delta"] in (0, None)


def test_include_with_its_own_time_frame_and_where(world):
    _names, rows = run('devices | include execution.events on 2024-06-01 | where binary.name == "chrome.exe" '
                       "| compute n = count() | list name, n")
    assert dict(rows) == {"Alpha": 2, "bravo": 0, "charlie": 0, "delta": 0, "echo_1": 0, "echoX1": 0}


def test_include_needs_a_compute(world):
    refused("devices | include execution.events | list name")


def test_compute_needs_a_with_or_include(world):
    refused("devices | compute n = count()")


def test_with_on_an_event_source_is_400(world):
    refused("execution.events | with web.events")


def test_with_of_an_unlinked_table_is_400(world):
    refused("domains | with execution.events")


def test_with_and_include_on_users_and_binaries(world):
    _names, rows = run("users | with execution.events during past 30d | compute n = count() | list name, n")
    assert set(rows) == {("ann", 9), ("bob", 4)}
    _names, rows = run("binaries | with execution.events | compute devices = device.count() | list name, devices")
    assert set(rows) == {("outlook.exe", 3), ("chrome.exe", 2)}


def test_with_reaches_applications_through_binaries(world):
    _names, rows = run('applications | where name == "Nqlt Mail" | with execution.events | compute n = count() '
                       "| list name, n")
    assert rows == [("Nqlt Mail", 4)]


# -- summarize ---------------------------------------------------------------------------------------------


def test_summarize_without_by_is_one_row(world):
    names, rows = run("execution.events | summarize n = count(), total = duration.sum(), hi = duration.max()")
    assert names == ["n", "total", "hi"]
    assert rows == [(6, 21000, 6000)]


def test_summarize_by_a_link_field(world):
    names, rows = run("execution.events | summarize n = count() by device.name")
    assert names == ["device.name", "n"]
    assert set(rows) == {("Alpha", 3), ("bravo", 2), ("charlie", 1)}


def test_summarize_by_two_fields(world):
    names, rows = run("execution.events | summarize n = count(), total = duration.sum() by device.name, binary.name")
    assert names == ["device.name", "binary.name", "n", "total"]
    assert set(rows) == {("Alpha", "outlook.exe", 2, 3000), ("Alpha", "chrome.exe", 1, 3000),
                         ("bravo", "outlook.exe", 1, 4000), ("bravo", "chrome.exe", 1, 5000),
                         ("charlie", "outlook.exe", 1, 6000)}


def test_summarize_an_object_table_by_its_own_field(world):
    names, rows = run("devices | summarize n = count() by operating_system.platform")
    assert names == ["device.operating_system.platform", "n"]
    assert set(rows) == {("windows", 4), ("mac_os", 1), ("mobile", 1)}


def test_summarize_then_sort_and_limit(world):
    _names, rows = run("execution.events | summarize n = count() by device.name | sort n desc | limit 2")
    assert rows == [("Alpha", 3), ("bravo", 2)]


def test_summarize_by_1d_buckets(world):
    names, rows = run("execution.events from 2024-05-31 to 2024-06-03 | summarize n = count() by 1d")
    assert names == ["start_time", "end_time", "bucket_duration", "n"]
    assert sorted(rows) == [
        (at("2024-05-31T00:00:00"), at("2024-06-01T00:00:00"), 86_400_000, 1),
        (at("2024-06-01T00:00:00"), at("2024-06-02T00:00:00"), 86_400_000, 4),
        (at("2024-06-02T00:00:00"), at("2024-06-03T00:00:00"), 86_400_000, 1),
    ]


def test_summarize_by_15min_buckets(world):
    names, rows = run("execution.events on 2024-06-01 | summarize n = count(), total = duration.sum() by 15min")
    assert names == ["start_time", "end_time", "bucket_duration", "n", "total"]
    assert sorted(rows) == [
        (at("2024-06-01T00:00:00"), at("2024-06-01T00:15:00"), 900_000, 2, 21000),
        (at("2024-06-01T00:15:00"), at("2024-06-01T00:30:00"), 900_000, 1, 14000),
        (at("2024-06-01T23:45:00"), at("2024-06-02T00:00:00"), 900_000, 1, 9000),
    ]


def test_summarize_by_1h_buckets(world):
    _names, rows = run("execution.events on 2024-06-01 | summarize n = count() by 1h")
    assert sorted(rows) == [
        (at("2024-06-01T00:00:00"), at("2024-06-01T01:00:00"), 3_600_000, 3),
        (at("2024-06-01T23:00:00"), at("2024-06-02T00:00:00"), 3_600_000, 1),
    ]


def test_bucket_columns_render_as_datetimes_and_milliseconds(world):
    rows = json_rows("execution.events on 2024-05-31 | summarize n = count() by 1d")
    assert rows == [{"start_time": "2024-05-31T00:00:00Z", "end_time": "2024-06-01T00:00:00Z",
                     "bucket_duration": 86_400_000, "n": 1}]


@pytest.mark.parametrize("bucket", ["30min", "45min", "2h", "3d"])
def test_buckets_that_are_multiples_of_15_minutes_are_accepted(world, bucket):
    run(f"execution.events | summarize n = count() by {bucket}")


@pytest.mark.parametrize("bucket", ["10min", "20min", "16min", "90s", "1500ms", "0d", "1s", "0.1h"])
def test_buckets_that_are_not_multiples_of_15_minutes_are_400(world, bucket):
    refused(f"execution.events | summarize n = count() by {bucket}")


@pytest.mark.parametrize("text", [
    "execution.events | summarize n = count() by start_time",
    "execution.events | summarize n = count() by end_time",
    "execution.events | summarize n = count() by memory",
    "execution.events | summarize n = count() by device.hardware.memory",
    "execution.events | summarize n = count() by device.last_seen",
    "execution.events | summarize n = count() by device.name, binary.size",
    "devices | summarize n = count() by last_seen",
    "devices | summarize n = count() by hardware.memory",
    "execution.crashes | summarize n = count() by time",
    "devices | with execution.events | compute last = start_time.max() | summarize n = count() by last",
])
def test_grouping_by_a_datetime_or_bytes_field_is_400(world, text):
    refused(text)


# -- sort and limit ------------------------------------------------------------------------------------------


def test_sort_by_code_point_ascending_and_descending(world):
    assert first_column("devices | list name | sort name") == ["Alpha", "bravo", "charlie", "delta", "echoX1",
                                                                "echo_1"]
    assert first_column("devices | list name | sort name asc") == ["Alpha", "bravo", "charlie", "delta", "echoX1",
                                                                    "echo_1"]
    assert first_column("devices | list name | sort name desc") == ["echo_1", "echoX1", "delta", "charlie", "bravo",
                                                                     "Alpha"]


def test_sort_by_a_number_descending(world):
    _names, rows = run("devices | where hardware.memory != null | list name, hardware.memory "
                       "| sort hardware.memory desc")
    assert [r[0] for r in rows] == ["echo_1", "Alpha", "bravo", "delta", "echoX1"]


def test_sort_by_a_field_that_is_not_listed(world):
    assert first_column("devices | where hardware.memory != null | list name | sort hardware.memory") == [
        "echoX1", "delta", "bravo", "Alpha", "echo_1"]


def test_limit(world):
    assert first_column("devices | list name | sort name | limit 2") == ["Alpha", "bravo"]
    assert first_column("devices | list name | sort name | limit 0") == []
    assert len(first_column("devices | limit 4")) == 4


def test_sort_by_a_computed_alias(world):
    _names, rows = run("devices | with execution.events | compute n = count() | sort n desc | list name, n")
    assert rows == [("Alpha", 3), ("bravo", 2), ("charlie", 1)]


def test_stages_run_left_to_right_sort_before_summarize(world):
    """A sort before a summarize orders the rows that are then grouped: the groups are the same."""
    assert run("devices | sort name | summarize n = count()")[1] == [(6,)]
    _names, rows = run("execution.events | sort duration desc | summarize n = count() by device.name")
    assert set(rows) == {("Alpha", 3), ("bravo", 2), ("charlie", 1)}


def test_summarize_after_limit_is_refused(world):
    """Left to right, a limit before a summarize would group only the limited rows: not supported,
    refused with a 400 rather than answered differently (docs/decisions.md)."""
    refused("devices | limit 2 | summarize n = count()")
    refused("execution.events | limit 4 | summarize n = count()")


def test_later_sorts_decide_first_and_earlier_ones_break_ties(world):
    by_platform_then_name = first_column("devices | list name, operating_system.platform | sort name "
                                         "| sort operating_system.platform")
    rows = run("devices | list name, operating_system.platform")[1]
    assert by_platform_then_name == [name for name, _ in sorted(rows, key=lambda r: (r[1], r[0]))]


def test_sort_after_limit_is_refused(world):
    refused("devices | list name | sort name desc | limit 2 | sort name")


@pytest.mark.parametrize("text", ["devices | limit -1", "devices | limit 1.5", "devices | limit 99999999999999999999"])
def test_invalid_limit_is_400(world, text):
    refused(text)


# -- output columns ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("devices | list name", ["device.name"]),
    ("devices | list hardware.memory, operating_system.platform, uid",
     ["device.hardware.memory", "device.operating_system.platform", "device.uid"]),
    ("users | list name, type", ["user.name", "user.type"]),
    ("binaries | list name, version, application.name", ["binary.name", "binary.version", "application.name"]),
    ("applications | list name", ["application.name"]),
    ("packages | list name", ["package.name"]),
    ("execution.events | list start_time", ["execution.event.start_time"]),
    ("execution.events | list duration, device.name, binary.version, binary.application.name",
     ["execution.event.duration", "device.name", "binary.version", "binary.application.name"]),
    ("execution.crashes | list time, exception_code", ["execution.crash.time", "execution.crash.exception_code"]),
    ("connection.events | list status, destination.name", ["connection.event.status", "destination.name"]),
    ("web.events | list url_path, domain.name", ["web.event.url_path", "domain.name"]),
    ("device_performance.events | list type", ["device_performance.event.type"]),
    ("package.installations | list type, package.name", ["package.installation.type", "package.name"]),
    ("devices | list name, #nqlttier", ["device.name", "device.#nqlttier"]),
    ("execution.events | list device.#nqlttier", ["device.#nqlttier"]),
    ("devices | with execution.events | compute n = count() | list name, n", ["device.name", "n"]),
    ("devices | with execution.events | compute Total_Time = duration.sum(), nB = binary.count() | list name",
     ["device.name", "Total_Time", "nB"]),
])
def test_output_column_names(world, text, expected):
    assert names_of(text) == expected


@pytest.mark.parametrize("table", [t for t in SCHEMA.query_tables() if t.nql])
def test_no_list_and_no_summarize_gives_every_field_of_the_source(world, table):
    expected = [f"{table.nql_singular}.{f.nql}" for f in table.fields if f.nql is not None]
    names = names_of(table.nql)
    assert names == expected
    assert len(names) == len(set(names))


def test_no_list_with_compute_gives_every_field_then_the_aliases(world):
    device = SCHEMA.nql_table("devices")
    expected = [f"device.{f.nql}" for f in device.fields if f.nql is not None] + ["n"]
    assert names_of("devices | with execution.events | compute n = count()") == expected


# -- types and null rendering (data-model.md) -------------------------------------------------------------------------


def test_json_types_and_nulls(world):
    rows = json_rows('devices | where name in ["alpha", "charlie"] | list name, hardware.memory, '
                     "hardware.number_of_cpus, hardware.system_drive_usage, last_ip_address, last_seen, first_seen, "
                     "operating_system.build, boot.last_boot_duration, operating_system.platform, #nqlttier "
                     "| sort name")
    assert rows == [
        {"device.name": "Alpha", "device.hardware.memory": 16 * GIB, "device.hardware.number_of_cpus": 8,
         "device.hardware.system_drive_usage": 0.5, "device.last_ip_address": "10.1.2.3",
         "device.last_seen": "2024-06-15T11:00:00Z", "device.first_seen": "2024-01-01T00:00:00Z",
         "device.operating_system.build": "22631", "device.boot.last_boot_duration": 850,
         "device.operating_system.platform": "windows", "device.#nqlttier": "Gold"},
        {"device.name": "charlie", "device.hardware.memory": None, "device.hardware.number_of_cpus": None,
         "device.hardware.system_drive_usage": None, "device.last_ip_address": "192.168.1.10",
         "device.last_seen": "2024-06-08T11:59:59Z", "device.first_seen": None,
         "device.operating_system.build": None, "device.boot.last_boot_duration": None,
         "device.operating_system.platform": "windows", "device.#nqlttier": None},
    ]


def test_json_of_aggregates(world):
    rows = json_rows("devices | include execution.events | compute n = count(), mean = duration.avg(), "
                     "ram = memory.max() | list name, n, mean, ram | sort name | limit 4")
    assert rows == [
        {"device.name": "Alpha", "n": 3, "mean": 2000, "ram": 300 * MIB},
        {"device.name": "bravo", "n": 2, "mean": 4500, "ram": 100 * MIB},
        {"device.name": "charlie", "n": 1, "mean": 6000, "ram": 50 * MIB},
        {"device.name": "delta", "n": 0, "mean": None, "ram": None},
    ]


def test_json_of_event_fields(world):
    rows = json_rows('execution.events | where duration == 1s | list start_time, end_time, duration, memory, '
                     "user.name, binary.application.name")
    assert rows == [{"execution.event.start_time": "2024-06-15T11:30:00Z",
                     "execution.event.end_time": "2024-06-15T11:30:01Z", "execution.event.duration": 1000,
                     "execution.event.memory": 100 * MIB, "user.name": "ann", "binary.application.name": "Nqlt Mail"}]
    rows = json_rows("execution.events | where duration == 6s | list user.name, binary.application.name")
    assert rows == [{"user.name": None, "binary.application.name": "Nqlt Mail"}]


# -- parameters -------------------------------------------------------------------------------------------------


def prepared(text: str, **parameters):
    return services.prepare_nql(text, parameters=parameters, now=NOW)


def rows_of(prepared_query) -> list[tuple]:
    return list(services.execute(prepared_query.plan).rows)


@pytest.mark.parametrize(("text", "parameters", "executed", "expected"), [
    ("devices | where name == $n | list name", {"n": "alpha"}, 'devices | where name == "alpha" | list name',
     {"Alpha"}),
    ("devices | where name == $n | list name", {"n": "echo?1"}, 'devices | where name == "echo?1" | list name',
     {"echo_1", "echoX1"}),
    ("devices | where name contains $n | list name", {"n": "LPH"},
     'devices | where name contains "LPH" | list name', {"Alpha"}),
    ("devices | where operating_system.platform == $p | list name", {"p": "mac_os"},
     "devices | where operating_system.platform == mac_os | list name", {"bravo"}),
    ("devices | where hardware.number_of_cpus >= $c | list name", {"c": "8"},
     "devices | where hardware.number_of_cpus >= 8 | list name", {"Alpha", "echo_1"}),
    ("devices | where hardware.memory > $m | list name", {"m": "8GB"},
     "devices | where hardware.memory > 8GB | list name", {"Alpha", "echo_1"}),
    ("devices | where hardware.system_drive_usage > $u | list name", {"u": "0.3"},
     "devices | where hardware.system_drive_usage > 0.3 | list name", {"Alpha"}),
    ("devices | where boot.last_boot_duration < $d | list name", {"d": "1s"},
     "devices | where boot.last_boot_duration < 1s | list name", {"Alpha"}),
    ("devices | where last_seen >= $t | list name", {"t": "2024-06-14 00:00:00"},
     "devices | where last_seen >= 2024-06-14 00:00:00 | list name", {"Alpha"}),
    ("devices | where last_ip_address == $net | list name", {"net": "10.1.0.0/16"},
     "devices | where last_ip_address == 10.1.0.0/16 | list name", {"Alpha", "bravo"}),
    ("devices | where operating_system.platform in [$a, $b] | list name", {"a": "mobile", "b": "mac_os"},
     "devices | where operating_system.platform in [mobile, mac_os] | list name", {"bravo", "delta"}),
    ("devices | where uid == $u | list name", {"u": f"{0xC0DE02:032x}"},
     f'devices | where uid == "{0xC0DE02:032x}" | list name', {"bravo"}),
    ('devices | with execution.events | where binary.name == $b | list name', {"b": "chrome.exe"},
     'devices | with execution.events | where binary.name == "chrome.exe" | list name', {"Alpha", "bravo"}),
])
def test_parameters_are_typed_by_the_compared_field_and_substituted(world, text, parameters, executed, expected):
    query = prepared(text, **parameters)
    assert query.executed_query == executed
    assert {row[0] for row in rows_of(query)} == expected
    again = services.prepare_nql(query.executed_query, now=NOW)
    assert {row[0] for row in rows_of(again)} == expected


def test_category_parameter_is_written_bare(world):
    query = prepared("devices | where #nqlttier == $tier | list name", tier="gold")
    assert query.executed_query.lower() == "devices | where #nqlttier == gold | list name"
    assert {row[0] for row in rows_of(query)} == {"Alpha"}


def test_enum_parameter_is_written_bare(world):
    query = prepared("devices | where operating_system.platform == $p | list name", p="Windows")
    assert query.executed_query.lower() == "devices | where operating_system.platform == windows | list name"
    assert {row[0] for row in rows_of(query)} == {"Alpha", "charlie", "echo_1", "echoX1"}


def test_string_parameter_with_quotes_and_backslashes_is_escaped(world):
    query = prepared("devices | where name != $n | list name", n='we"ird\\name')
    assert query.executed_query == 'devices | where name != "we\\"ird\\\\name" | list name'
    again = services.prepare_nql(query.executed_query, now=NOW)
    assert again.plan.condition == query.plan.condition


def test_number_like_string_parameter_is_quoted(world):
    query = prepared("binaries | where version == $v | list name", v="16.0.1")
    assert query.executed_query == 'binaries | where version == "16.0.1" | list name'
    assert [row[0] for row in rows_of(query)] == ["outlook.exe"]


def test_same_parameter_used_twice_is_substituted_everywhere(world):
    query = prepared("devices | where name == $n or name == $n | list name", n="bravo")
    assert query.executed_query == 'devices | where name == "bravo" or name == "bravo" | list name'


@pytest.mark.parametrize(("text", "value", "expected"), [
    ("devices | where last_seen >= $x | list name", "2024-06-14T00:00:00Z", {"Alpha"}),
    ("devices | where last_seen >= $x | list name", "2024-06-14T00:00:00", {"Alpha"}),
    ("devices | where last_seen >= $x | list name", "2024-06-14", {"Alpha"}),
    ("devices | where last_seen >= $x | list name", "2024-06-14@00:00:00", {"Alpha"}),
    ("devices | where boot.last_boot_duration < $x | list name", "0:00:01", {"Alpha"}),
    ("devices | where boot.last_boot_duration < $x | list name", "999", {"Alpha"}),
    ("devices | where hardware.memory > $x | list name", "8 GB", {"Alpha", "echo_1"}),
    ("devices | where hardware.memory > $x | list name", "8589934592", {"Alpha", "echo_1"}),
    ("devices | where hardware.number_of_cpus > $x | list name", "+8", {"echo_1"}),
    ("devices | where hardware.system_drive_usage > $x | list name", ".3", {"Alpha"}),
])
def test_executed_query_writes_every_converted_value_as_a_valid_literal(world, text, value, expected):
    """Values arrive as strings in any form the field's type accepts; ``executedQuery`` writes each as an
    NQL literal of that type, so that it parses and means the same."""
    query = prepared(text, x=value)
    assert {row[0] for row in rows_of(query)} == expected
    again = services.prepare_nql(query.executed_query, now=NOW)
    assert {row[0] for row in rows_of(again)} == expected


@pytest.mark.parametrize(("text", "value"), [
    ("devices | where hardware.number_of_cpus == $x", "four"),
    ("devices | where hardware.number_of_cpus == $x", "4.5"),
    ("devices | where hardware.number_of_cpus == $x", ""),
    ("devices | where hardware.number_of_cpus == $x", "99999999999999999999"),
    ("devices | where hardware.memory > $x", "lots"),
    ("devices | where hardware.memory > $x", "8XB"),
    ("devices | where hardware.system_drive_usage > $x", "half"),
    ("devices | where operating_system.platform == $x", "linux"),
    ("devices | where last_seen > $x", "yesterday"),
    ("devices | where last_seen > $x", "2024-02-30"),
    ("devices | where last_ip_address == $x", "999.1.1.1"),
    ("devices | where boot.last_boot_duration > $x", "fast"),
    ("devices | where #nqlttier == $x", "platinum"),
])
def test_parameter_value_that_does_not_convert_is_400(world, text, value):
    with pytest.raises(QueryError) as caught:
        prepared(text, x=value)
    assert caught.value.status == 400


def test_parameter_that_is_not_a_string_is_400_not_a_crash(world):
    with pytest.raises(QueryError) as caught:
        services.prepare_nql("devices | where hardware.number_of_cpus == $x", parameters={"x": 4}, now=NOW)
    assert caught.value.status == 400


@pytest.mark.parametrize("text", ["devices | where name == $x | list name", "devices | where name in [$x]"])
def test_parameter_value_with_a_nul_character_is_400(world, text):
    refused(text, parameters={"x": "al\x00pha"})


def test_parameters_stand_in_where_stages_only(world):
    """nql.md: ``"$" name -- parameter of a saved query (in where only)``."""
    with pytest.raises(QueryError) as caught:
        prepared("devices | with execution.events | compute n = countif(binary.name == $b) | list name, n",
                 b="outlook.exe")
    assert caught.value.status == 400


def test_missing_parameter_is_400(world):
    with pytest.raises(QueryError) as caught:
        prepared("devices | where name == $n and hardware.number_of_cpus > $c", n="alpha")
    assert caught.value.status == 400
    assert "c" in caught.value.message
    with pytest.raises(QueryError):
        services.prepare_nql("devices | where name == $n", now=NOW)


def test_given_parameter_the_query_does_not_use_is_400(world):
    with pytest.raises(QueryError) as caught:
        prepared("devices | where name == $n", n="alpha", other="x")
    assert caught.value.status == 400
    assert "other" in caught.value.message
    with pytest.raises(QueryError):
        prepared("devices | list name", n="alpha")


def test_query_without_parameters_is_executed_as_written(world):
    text = 'devices | where name == "alpha" | list name'
    assert prepared(text).executed_query == text


def test_parameter_names_in_order_of_appearance(world):
    assert services.nql_parameter_names(
        "devices | where name == $b and hardware.number_of_cpus > $a or name in [$c, $b] "
        "| with execution.events | where binary.name == $d | compute n = count()") == ["b", "a", "c", "d"]
    assert services.nql_parameter_names("devices | list name") == []


def test_parameter_names_of_an_invalid_query_is_400(world):
    with pytest.raises(QueryError):
        services.nql_parameter_names("devices | where nme == $x")
    with pytest.raises(QueryError):
        services.nql_parameter_names("devices | where")


# -- unknown names and type errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "closest"), [
    ("devicez", "devices"),
    ("execution.event", "execution.events"),
    ("devices | with execution.evnts", "execution.events"),
    ('devices | where nme == "x"', "name"),
    ("devices | list hardware.memroy", "hardware.memory"),
    ("devices | sort last_sen", "last_seen"),
    ("execution.events | list duraton", "duration"),
    ("execution.events | list binary.nme", "name"),
    ("execution.events | summarize n = count() by device.nme", "name"),
    ("devices | with execution.events | compute n = duraton.sum()", "duration"),
])
def test_unknown_table_or_field_is_400_with_closest_options_first(world, text, closest):
    error = refused(text)
    assert "unknown" in error.message
    assert error.options, error
    assert error.options[0] == closest


@pytest.mark.parametrize("text", [
    'devices | where hardware.memory == "abc"',
    'devices | where hardware.number_of_cpus == "abc"',
    "devices | where hardware.number_of_cpus == 4GB",
    "devices | where hardware.number_of_cpus == 99999999999999999999",
    "devices | where last_seen == 5",
    "devices | where last_seen == 5GB",
    "devices | where operating_system.platform == linux",
    "devices | where operating_system.platform > windows",
    'devices | where last_ip_address == "not an ip"',
    "devices | where last_ip_address > 10.0.0.1",
    'devices | where hardware.memory contains "1"',
    "devices | where boot.last_boot_duration > 5GB",
    "devices | where hardware.memory > 5min",
    "devices | where name == true",
    'devices | where name > "a*"',
    "execution.events | where duration in [1s, 2GB]",
    "devices | with execution.events | compute s = binary_path.sum()",
    "devices | with execution.events | compute s = duration.median()",
    "devices | with execution.events | compute s = duration.sum(duration > 1)",
    "devices | with execution.events | compute s = duration.countif()",
    "devices | with execution.events | compute n = count(), n = duration.sum()",
])
def test_type_mismatches_are_400(world, text):
    refused(text)


def test_enum_mismatch_lists_the_allowed_values(world):
    error = refused("devices | where operating_system.platform == linux")
    assert set(error.options) == {"windows", "mac_os", "mobile"}


# -- visibility ---------------------------------------------------------------------------------------------------


def test_visibility_limits_devices_and_their_events(world):
    visible = p.Visibility(platforms=("windows", "mac_os"))
    assert first_set("devices | list name", visibility=visible) == ALL_DEVICES - {"delta"}
    assert 12000 not in first_set("execution.events during past 30d | list duration", visibility=visible)
