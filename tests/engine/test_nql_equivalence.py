"""NQL and NXQL compile to the same query plan language (nql.md: "It compiles to the same query plan as NXQL
and reads the same schema registry"): an NQL query and its NXQL twin return the same rows.

Data: the module-scoped hand-made data set of ``nxql_fixture`` (``nxql_data``). Both languages run with
the same clock (``nxql_data.now``) and the same visibility (NXQL's default platforms, windows and mac_os).
NXQL runs through ``services.compile_nxql_text`` + ``services.execute``; a few twins also run through
``/2/query?format=json`` (the ``api`` fixture) and are compared with the NQL result rendered as JSON.
Rows are compared as sorted lists of value tuples (in order where the queries sort totally).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from engine import services
from engine.query import plan as p
from engine.query.render import render

pytestmark = pytest.mark.django_db

VISIBLE = p.Visibility(platforms=("windows", "mac_os"))
EVERY_PLATFORM = p.Visibility(platforms=("windows", "mac_os", "mobile"))


def _key(row: tuple):
    return tuple((value is None, repr(value)) for value in row)


def nql_result(data, text: str, visibility=VISIBLE):
    prepared = services.prepare_nql(text, visibility=visibility, now=data.now)
    return services.execute(prepared.plan)


def nql_rows(data, text: str, visibility=VISIBLE) -> list[tuple]:
    return list(nql_result(data, text, visibility).rows)


def nxql_rows(data, text: str, visibility=VISIBLE) -> list[tuple]:
    plan = services.compile_nxql_text(text, visibility=visibility, now=data.now)
    return list(services.execute(plan).rows)


def assert_twins(data, nql: str, nxql: str, *, ordered: bool = False, visibility=VISIBLE):
    expected = nxql_rows(data, nxql, visibility)
    got = nql_rows(data, nql, visibility)
    assert expected, "the NXQL twin must select something"
    if ordered:
        assert got == expected
    else:
        assert sorted(got, key=_key) == sorted(expected, key=_key)


def nxql_datetime(moment) -> str:
    return moment.strftime("%Y-%m-%d@%H:%M:%S")


def nql_datetime(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


# -- objects --------------------------------------------------------------------------------------------


def test_devices_and_their_fields(nxql_data):
    assert_twins(
        nxql_data,
        "devices | list name, operating_system.platform, hardware.type, hardware.number_of_cpus, hardware.memory, "
        "last_ip_address, entity, engine, first_seen, boot.last_boot_duration",
        "(select (name platform device_type number_of_cpus total_ram last_ip_address entity engine first_seen "
        "last_boot_duration) (from device))",
    )


def test_devices_of_a_platform_above_a_memory_size(nxql_data):
    assert_twins(
        nxql_data,
        "devices | where operating_system.platform == windows and hardware.memory > 8GB | list name, hardware.memory",
        "(select (name total_ram) (from device (where device (eq platform (enum windows)) "
        "(gt total_ram (bytes 8GB)))))",
    )


def test_devices_matching_a_wildcard_on_every_platform(nxql_data):
    assert_twins(
        nxql_data,
        'devices | where name == "*A*" | list name',
        '(select (name) (from device (where device (eq name (pattern "*A*")))))',
        visibility=EVERY_PLATFORM,
    )


def test_devices_inside_a_network(nxql_data):
    assert_twins(
        nxql_data,
        "devices | where last_ip_address == 10.1.0.0/16 | list name, last_ip_address",
        "(select (name last_ip_address) (from device (where device (eq last_ip_address (ip_address 10.1.0.0/16)))))",
    )


def test_users_with_an_absent_department(nxql_data):
    assert_twins(
        nxql_data,
        "users | where department == null | list name, type",
        "(select (name user_type) (from user (where user (eq department (null)))))",
    )


def test_devices_of_a_category_keyword(nxql_data):
    assert_twins(
        nxql_data,
        "devices | where #criticality == high or #location == zurich | list name, #location",
        "(select (name #Location) (from device (where device (eq #Criticality (enum high))) "
        "(where device (eq #Location (enum Zurich)))))",
    )


def test_devices_sorted_by_memory_with_a_limit(nxql_data):
    assert_twins(
        nxql_data,
        "devices | list name, hardware.memory | sort hardware.memory desc | limit 4",
        "(select (name total_ram) (from device) (order_by total_ram desc) (limit 4))",
        ordered=True,
    )


def test_devices_seen_in_the_past_day(nxql_data):
    since = nxql_data.now - timedelta(days=1)
    assert_twins(
        nxql_data,
        "devices during past 1d | list name, last_seen",
        f"(select (name last_seen) (from device (where device (ge last_seen (datetime {nxql_datetime(since)})) "
        f"(lt last_seen (datetime {nxql_datetime(nxql_data.now)})))))",
    )


# -- events -----------------------------------------------------------------------------------------------


def test_executions_of_a_binary_decorated_with_device_and_user(nxql_data):
    assert_twins(
        nxql_data,
        'execution.events during past 7d | where binary.name == "OUTLOOK.EXE" '
        "| list start_time, duration, device.name, user.name",
        "(select ((execution (start_time duration)) (device (name)) (user (name))) "
        '(from (execution device binary user) (where binary (eq name (string "OUTLOOK.EXE"))) (between now-7d now)))',
    )


def test_executions_in_an_absolute_half_open_window(nxql_data):
    assert_twins(
        nxql_data,
        "execution.events from 2024-03-01 10:00:00 to 2024-03-01 11:00:00 | list start_time, device.name",
        "(select ((execution (start_time)) (device (name))) (from (execution device) "
        "(between (datetime 2024-03-01@10:00:00) (datetime 2024-03-01@11:00:00))))",
    )


def test_device_events_of_two_types(nxql_data):
    assert_twins(
        nxql_data,
        "device_performance.events during past 7d | where type in [system_boot, user_logon] "
        "| list type, duration, device.name",
        "(select ((event (type duration)) (device (name))) (from (event device) "
        "(where event (eq type (enum system_boot))) (where event (eq type (enum user_logon))) (between now-7d now)))",
    )


def test_crashes_with_their_binary(nxql_data):
    assert_twins(
        nxql_data,
        "execution.crashes during past 7d | list time, exception_code, binary.name",
        "(select ((crash (start_time exception_code)) (binary (name))) (from (crash binary) (between now-7d now)))",
    )


def test_installations_with_device_and_package(nxql_data):
    assert_twins(
        nxql_data,
        "package.installations during past 7d | where type == installation | list device.name, package.name",
        "(select ((device (name)) (package (name))) (from (installation device package) "
        "(where installation (eq type (enum installation))) (between now-7d now)))",
        visibility=EVERY_PLATFORM,
    )


def test_failed_web_requests(nxql_data):
    assert_twins(
        nxql_data,
        "web.events during past 7d | where http_status >= 400 | list url_path, http_status, device.name, domain.name",
        "(select ((web_request (url_path http_status)) (device (name)) (domain (name))) "
        "(from (web_request device domain) (where web_request (ge http_status (integer 400))) (between now-7d now)))",
    )


# -- objects with activity ------------------------------------------------------------------------------------


def test_execution_counts_and_durations_per_device(nxql_data):
    assert_twins(
        nxql_data,
        "devices | with execution.events during past 7d | compute n = count(), total = duration.sum() "
        "| list name, n, total",
        "(select (name number_of_executions execution_duration) (from device (with execution "
        "(compute number_of_executions execution_duration) (between now-7d now))))",
    )


def test_executions_of_a_binary_per_device_in_the_past_day(nxql_data):
    assert_twins(
        nxql_data,
        'devices | with execution.events during past 1d | where binary.name == "outlook.exe" '
        "| compute n = count() | list name, n",
        '(select (name number_of_executions) (from device (with execution (where binary (eq name (string '
        '"outlook.exe"))) (compute number_of_executions) (between now-1d now))))',
    )


def test_distinct_devices_and_users_per_binary(nxql_data):
    assert_twins(
        nxql_data,
        "binaries | with execution.events during past 30d | compute devs = device.count(), usrs = user.count() "
        "| list name, devs, usrs",
        "(select (name number_of_devices number_of_users) (from binary (with execution "
        "(compute number_of_devices number_of_users) (between now-30d now))))",
    )


def test_http_errors_and_average_response_time_per_domain(nxql_data):
    assert_twins(
        nxql_data,
        "domains | with web.events during past 7d | compute errors = http_status.countif(http_status >= 400), "
        "rt = response_time.avg(), out = outgoing_traffic.sum() | list name, errors, rt, out",
        "(select (name number_of_http_errors average_response_time outgoing_traffic) (from domain (with web_request "
        "(compute number_of_http_errors average_response_time outgoing_traffic) (between now-7d now))))",
        visibility=EVERY_PLATFORM,
    )


def test_failed_connections_and_traffic_per_destination(nxql_data):
    assert_twins(
        nxql_data,
        "destinations | with connection.events during past 7d | compute n = count(), "
        "failed = status.countif(status in [rejected, no_host, no_service, timeout]), "
        "rt = network_response_time.avg(), incoming = incoming_traffic.sum() | list name, n, failed, rt, incoming",
        "(select (name number_of_connections number_of_failed_connections average_network_response_time "
        "incoming_traffic) (from destination (with connection (compute number_of_connections "
        "number_of_failed_connections average_network_response_time incoming_traffic) (between now-7d now))))",
    )


def test_with_without_compute_keeps_devices_having_events(nxql_data):
    assert_twins(
        nxql_data,
        "devices | with web.events during past 7d | where http_status >= 500 | list name",
        "(select (name) (from device (with web_request (where web_request (ge http_status (integer 500))) "
        "(between now-7d now))))",
        visibility=EVERY_PLATFORM,
    )


# -- the same answers through the Web API --------------------------------------------------------------------------


def nql_json(data, text: str) -> list[tuple]:
    result = nql_result(data, text)
    rows = json.loads(b"".join(render("json", result.columns, result.rows)))
    return sorted((tuple(row.values()) for row in rows), key=_key)


def api_json(api, query: str) -> list[tuple]:
    return sorted((tuple(row.values()) for row in api.rows(query)), key=_key)


@pytest.mark.parametrize(("nql", "nxql"), [
    ("devices | list name, hardware.memory, last_ip_address, last_seen | sort name",
     "(select (name total_ram last_ip_address last_seen) (from device))"),
    ("devices | with execution.events during past 7d | compute n = count(), total = duration.sum() "
     "| list name, n, total",
     "(select (name number_of_executions execution_duration) (from device (with execution "
     "(compute number_of_executions execution_duration) (between now-7d now))))"),
    ("execution.events during past 7d | list start_time, duration, binary.name",
     "(select ((execution (start_time duration)) (binary (name))) (from (execution binary) (between now-7d now)))"),
])
def test_nql_json_equals_web_api_json(api, nxql_data, nql, nxql):
    expected = api_json(api, nxql)
    assert expected
    assert nql_json(nxql_data, nql) == expected
