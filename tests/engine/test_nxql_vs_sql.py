"""NXQL answers equal hand-written SQL on the same data (nxql.md "Meaning", data-model.md "Aggregates").

Each test runs one representative NXQL query through ``/2/query?format=json`` and the SQL a reader
of the contract would write for it, and compares the rows as lists of tuples: in order when the
NXQL query orders (and the order is total), as multisets otherwise.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

VISIBLE_PLATFORMS = "('windows', 'mac_os')"  # the default platforms of /2/query


def normalized(value):
    """A value of a SQL row as JSON would show it."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, IPv4Interface | IPv6Interface):
        return str(value.ip) if value.network.prefixlen == value.max_prefixlen else str(value)
    if isinstance(value, IPv4Address | IPv6Address):
        return str(value)
    if value == "":
        return None  # absent text reads as null
    return value


def sql_rows(sql, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(normalized(v) for v in row) for row in cursor.fetchall()]


def nxql_rows(api, query, **params) -> list[tuple]:
    rows = api.rows(query, **params)
    return [tuple(row.values()) for row in rows]


def assert_same_rows(api, query, sql, *, ordered=False, sql_params=(), **params):
    expected = sql_rows(sql, sql_params)
    got = nxql_rows(api, query, **params)
    assert expected, "the SQL of this test must select something"
    if ordered:
        assert got == expected
    else:
        assert Counter(got) == Counter(expected)


def test_devices_of_the_default_platforms(api):
    assert_same_rows(
        api, "(select (name platform device_type number_of_cpus total_ram) (from device))",
        f"SELECT name, platform, device_type, number_of_cpus, total_ram FROM engine_device "
        f"WHERE platform IN {VISIBLE_PLATFORMS}",
    )


def test_devices_ordered_by_total_ram_descending_nulls_last_with_limit(api):
    assert_same_rows(
        api, "(select (name total_ram) (from device) (order_by total_ram desc) (limit 4))",
        f"SELECT name, total_ram FROM engine_device WHERE platform IN {VISIBLE_PLATFORMS} "
        "ORDER BY total_ram DESC NULLS LAST LIMIT 4",
        ordered=True,
    )


def test_devices_ordered_by_name_in_code_point_order(api):
    assert_same_rows(
        api, "(select (name) (from device) (order_by name))",
        f'SELECT name FROM engine_device WHERE platform IN {VISIBLE_PLATFORMS} ORDER BY name COLLATE "C"',
        ordered=True,
    )


def test_device_fields_reached_through_links(api):
    assert_same_rows(
        api, "(select (name entity engine last_ip_address) (from device))",
        "SELECT d.name, e.name, g.name, d.last_ip_address FROM engine_device d "
        "JOIN portal_entity e ON e.id = d.entity_id JOIN engine_engine g ON g.id = d.engine_id "
        f"WHERE d.platform IN {VISIBLE_PLATFORMS}",
    )


def test_devices_inside_a_network(api):
    assert_same_rows(
        api, "(select (name last_ip_address) (from device (where device "
             "(eq last_ip_address (ip_address 10.0.0.0/8)))))",
        "SELECT name, last_ip_address FROM engine_device WHERE last_ip_address <<= '10.0.0.0/8'::inet "
        f"AND platform IN {VISIBLE_PLATFORMS}",
    )


def test_devices_matching_a_pattern_on_any_platform(api):
    assert_same_rows(
        api, '(select (name) (from device (where device (eq name (pattern "*A*")))))',
        "SELECT name FROM engine_device WHERE name ILIKE '%%a%%'",
        platform="windows,mac_os,mobile",
    )


def test_users_with_absent_department(api):
    assert_same_rows(
        api, "(select (name user_type) (from user (where user (eq department (null)))))",
        "SELECT name, user_type FROM engine_user WHERE department = '' OR department IS NULL",
    )


def test_decorated_executions_of_a_binary(api):
    assert_same_rows(
        api, "(select ((execution (start_time duration)) (device (name)) (user (name))) "
             '(from (execution device binary user) (where binary (eq name (string "OUTLOOK.EXE")))))',
        "SELECT x.start_time, x.duration, d.name, u.name FROM engine_execution x "
        "JOIN engine_device d ON d.id = x.device_id JOIN engine_binary b ON b.id = x.binary_id "
        "LEFT JOIN engine_user u ON u.id = x.user_id "
        f"WHERE lower(b.name) = 'outlook.exe' AND d.platform IN {VISIBLE_PLATFORMS}",
    )


def test_executions_in_an_absolute_window(api):
    assert_same_rows(
        api, "(select ((execution (start_time)) (device (name))) (from (execution device) "
             "(between (datetime 2024-01-01@00:00:00) (datetime 2024-03-01@11:00:00))))",
        "SELECT x.start_time, d.name FROM engine_execution x JOIN engine_device d ON d.id = x.device_id "
        "WHERE x.start_time >= '2024-01-01T00:00:00Z' AND x.start_time < '2024-03-01T11:00:00Z' "
        f"AND d.platform IN {VISIBLE_PLATFORMS}",
    )


def test_failed_web_requests_with_device_and_domain(api):
    assert_same_rows(
        api, "(select ((web_request (url_path http_status)) (device (name)) (domain (name))) "
             "(from (web_request device domain) (where web_request (ge http_status (integer 400)))))",
        "SELECT w.url_path, w.http_status, d.name, m.name FROM engine_webrequest w "
        "JOIN engine_device d ON d.id = w.device_id JOIN engine_domain m ON m.id = w.domain_id "
        f"WHERE w.http_status >= 400 AND d.platform IN {VISIBLE_PLATFORMS}",
    )


def test_execution_counts_and_durations_per_device(api):
    assert_same_rows(
        api, "(select (name number_of_executions execution_duration) (from device (with execution "
             "(compute number_of_executions execution_duration))) (order_by execution_duration desc))",
        "SELECT d.name, count(*), sum(x.duration) FROM engine_device d "
        "JOIN engine_execution x ON x.device_id = d.id "
        f"WHERE d.platform IN {VISIBLE_PLATFORMS} GROUP BY d.id, d.name ORDER BY sum(x.duration) DESC",
        ordered=True,
    )


def test_devices_and_users_per_binary(api):
    assert_same_rows(
        api, "(select (name number_of_devices number_of_users) (from binary (with execution "
             "(compute number_of_devices number_of_users))))",
        "SELECT b.name, count(DISTINCT x.device_id), count(DISTINCT x.user_id) FROM engine_binary b "
        "JOIN engine_execution x ON x.binary_id = b.id JOIN engine_device d ON d.id = x.device_id "
        f"WHERE d.platform IN {VISIBLE_PLATFORMS} GROUP BY b.id, b.name",
    )


def test_failed_connections_and_response_time_per_destination(api):
    assert_same_rows(
        api, "(select (name number_of_connections number_of_failed_connections average_network_response_time "
             "incoming_traffic) (from destination (with connection (compute number_of_connections "
             "number_of_failed_connections average_network_response_time incoming_traffic))))",
        "SELECT t.name, count(*), "
        "count(*) FILTER (WHERE c.status IN ('rejected', 'no_host', 'no_service', 'timeout')), "
        "round(avg(c.network_response_time)), sum(c.incoming_traffic) "
        "FROM engine_destination t JOIN engine_connection c ON c.destination_id = t.id "
        f"JOIN engine_device d ON d.id = c.device_id WHERE d.platform IN {VISIBLE_PLATFORMS} GROUP BY t.id, t.name",
    )


def test_http_errors_and_response_time_per_domain_on_every_platform(api):
    assert_same_rows(
        api, "(select (name number_of_web_requests number_of_http_errors average_response_time outgoing_traffic) "
             "(from domain (with web_request (compute number_of_web_requests number_of_http_errors "
             "average_response_time outgoing_traffic))))",
        "SELECT m.name, count(*), count(*) FILTER (WHERE w.http_status >= 400), round(avg(w.response_time)), "
        "sum(w.outgoing_traffic) FROM engine_domain m JOIN engine_webrequest w ON w.domain_id = m.id "
        "GROUP BY m.id, m.name",
        platform="windows,mac_os,mobile",
    )


def test_device_package_pairs(api):
    # Packages never uninstalled (7-Zip was, on alpha: test_nxql_semantics covers that case).
    assert_same_rows(
        api, '(select ((device (name)) (package (name))) (from (device package) (where package (eq name (string '
             '"Office 365"))) (where package (eq name (string zoom)))))',
        "SELECT DISTINCT d.name, p.name FROM engine_installation i JOIN engine_device d ON d.id = i.device_id "
        "JOIN engine_package p ON p.id = i.package_id WHERE p.name IN ('Office 365', 'Zoom') "
        f"AND d.platform IN {VISIBLE_PLATFORMS}",
    )


def test_device_user_pairs(api):
    assert_same_rows(
        api, "(select ((device (name)) (user (name))) (from (device user)))",
        "SELECT DISTINCT d.name, u.name FROM ("
        "  SELECT device_id, user_id FROM engine_execution UNION SELECT device_id, user_id FROM engine_connection"
        "  UNION SELECT device_id, user_id FROM engine_webrequest UNION SELECT device_id, user_id FROM engine_event"
        ") a JOIN engine_device d ON d.id = a.device_id JOIN engine_user u ON u.id = a.user_id "
        f"WHERE d.platform IN {VISIBLE_PLATFORMS}",
    )


def test_devices_in_a_category(api):
    assert_same_rows(
        api, "(select (name #Location #Criticality) (from device (where device (eq #Location (enum LAUSANNE)))))",
        "SELECT d.name, k.name, kc.name FROM engine_device d "
        "JOIN engine_categoryassignment a ON a.object_id = d.id "
        "JOIN engine_category c ON c.id = a.category_id AND c.name = 'Location' AND c.object_table = 'device' "
        "JOIN engine_keyword k ON k.id = a.keyword_id "
        "LEFT JOIN (engine_categoryassignment ac JOIN engine_category cc ON cc.id = ac.category_id "
        "           AND cc.name = 'Criticality' AND cc.object_table = 'device' "
        "           JOIN engine_keyword kc ON kc.id = ac.keyword_id) ON ac.object_id = d.id "
        f"WHERE lower(k.name) = 'lausanne' AND d.platform IN {VISIBLE_PLATFORMS}",
    )


def test_devices_with_outlook_executions_and_web_requests(api):
    assert_same_rows(
        api, '(select (name) (from device (with execution (where binary (eq name (string "outlook.exe")))) '
             "(with web_request)))",
        f"SELECT d.name FROM engine_device d WHERE d.platform IN {VISIBLE_PLATFORMS} "
        "AND EXISTS (SELECT 1 FROM engine_execution x JOIN engine_binary b ON b.id = x.binary_id "
        "            WHERE x.device_id = d.id AND b.name = 'outlook.exe') "
        "AND EXISTS (SELECT 1 FROM engine_webrequest w WHERE w.device_id = d.id)",
    )


def test_view_domain_devices(api):
    assert_same_rows(
        api, "(select (name entity) (from device))",
        "SELECT d.name, e.name FROM engine_device d JOIN portal_entity e ON e.id = d.entity_id "
        f"WHERE e.name IN ('Lausanne', 'Zurich') AND d.platform IN {VISIBLE_PLATFORMS}",
        user="europe",
    )


def test_engine_routing_executions(api):
    assert_same_rows(
        api, "(select ((device (name)) (binary (name))) (from (execution device binary)))",
        "SELECT d.name, b.name FROM engine_execution x JOIN engine_device d ON d.id = x.device_id "
        "JOIN engine_binary b ON b.id = x.binary_id JOIN engine_engine g ON g.id = d.engine_id "
        "WHERE g.address = 'engine-2.localhost'",
        HTTP_HOST="engine-2.localhost:8000", platform="windows,mac_os,mobile",
    )
