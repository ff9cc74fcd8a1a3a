"""NXQL meaning (nxql.md "Meaning", data-model.md "Aggregates", "Categories"), end to end through
``/2/query`` on the hand-made data set of ``nxql_fixture``.

Default platforms (windows, mac_os) hide ``delta`` (mobile) and its activity unless a test asks for
``platform=mobile``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.models import Execution
from engine.schema import SCHEMA
from tests.engine.conftest import body_of, error_message, error_options

pytestmark = pytest.mark.django_db

VISIBLE = {"alpha", "Bravo", "charlie", "echo", "Foxtrot"}
ALL_PLATFORMS = "windows,mac_os,mobile"


def devices(api, where="", **params) -> set[str]:
    return set(api.column(f"(select name (from device {where}))", "name", **params))


def devices_where(api, conditions: str, **params) -> set[str]:
    return devices(api, f"(where device {conditions})", **params)


def same_day_or_skip(data):
    """Windows ending at ``now`` see the event at yesterday 23:59:59 only while the day has not changed."""
    if datetime.now(UTC).date() != data.now.date():
        pytest.skip("the UTC day changed since the data set was built")


def by_name(rows, key="name"):
    return {row[key]: row for row in rows}


# -- tolerance of the documented product ------------------------------------------------------------


def test_outermost_parentheses_may_be_left_out(api):
    assert set(api.column("select name (from device)", "name")) == VISIBLE


def test_missing_closing_parentheses_at_the_end_are_added(api):
    assert set(api.column("(select name (from device (where device (eq platform (enum mac_os", "name")) == \
        {"Bravo", "Foxtrot"}


def test_limit_may_come_before_order_by(api):
    assert api.column("(select name (from device) (limit 2) (order_by name))") == ["Bravo", "Foxtrot"]


def test_keywords_are_case_insensitive(api):
    assert set(api.column("(SELECT name (FROM device (WHERE device (EQ platform (ENUM mac_os)))))", "name")) == \
        {"Bravo", "Foxtrot"}


def test_whitespace_and_newlines_are_free(api):
    assert set(api.column("(select\n\tname\r\n (from\n  device\n   (where device\n (eq name (string alpha)))))",
                          "name")) == {"alpha"}


# -- objects -----------------------------------------------------------------------------------------


def test_objects_one_row_per_object_that_passes(api):
    assert api.column("(select name (from device (where device (eq device_type (enum laptop)))) (order_by name))") \
        == ["Bravo", "alpha"]


def test_objects_without_where_are_every_visible_object(api):
    assert devices(api) == VISIBLE


def test_object_tables_other_than_device_list_every_row(api):
    assert set(api.column("(select name (from binary))")) == {"outlook.exe", "teams.exe", "chrome.exe", "Safari",
                                                              "updater.exe"}


def test_fields_reached_through_links_entity_engine_application(api):
    assert api.rows("(select (name entity engine) (from device (where device (eq name (string echo)))))") == [
        {"name": "echo", "entity": "Lausanne", "engine": "engine-2"}]
    assert api.rows("(select (name application_name) (from binary (where binary (eq name (string outlook.exe)))))") \
        == [{"name": "outlook.exe", "application_name": "Microsoft Outlook"}]


# -- events --------------------------------------------------------------------------------------


def test_event_window_includes_an_event_exactly_at_its_start(api):
    times = api.column("(select start_time (from execution (between (datetime 2024-03-01@10:00:00) "
                       "(datetime 2024-03-01@11:00:00))))")
    assert times == ["2024-03-01T10:00:00Z"]


def test_event_window_excludes_an_event_exactly_at_its_end(api):
    times = api.column("(select start_time (from execution (between (datetime 2024-03-01@09:00:00) "
                       "(datetime 2024-03-01@10:00:00))))")
    assert times == []


def test_event_window_with_quoted_datetimes(api):
    times = api.column('(select start_time (from execution (between (datetime "2024-03-01@11:00:00") '
                       '(datetime "2024-03-01@11:00:01"))))')
    assert times == ["2024-03-01T11:00:00Z"]


def test_events_between_now_minus_one_day_and_now(api, nxql_data):
    same_day_or_skip(nxql_data)
    names = api.column("(select ((device (name))) (from (execution device) (between now-1d now)))")
    assert sorted(names) == ["Bravo", "alpha", "alpha", "charlie", "echo"]


@pytest.mark.parametrize("start", ["now-150min", "now-150m", "now-9000s", "now-2h"])
def test_time_word_units(api, nxql_data, start):
    # Executions at now-2h (alpha, Bravo, charlie) but not those at now-3h or earlier. `now-2h` is later than
    # the data set's `now-2h` (the request comes after the data set), so it excludes them too. Echo's
    # execution at 23:59:59 yesterday is inside the range during the range's first minutes of a UTC day.
    span = timedelta(hours=2) if start == "now-2h" else timedelta(minutes=150)
    echo_age = nxql_data.now - (nxql_data.midnight - timedelta(seconds=1))
    if abs(echo_age - span) < timedelta(minutes=1):
        pytest.skip("echo's execution is on the range's start")
    expected = ([] if start == "now-2h" else ["Bravo", "alpha", "charlie"]) + (["echo"] if echo_age < span else [])
    names = sorted(api.column(f"(select ((device (name))) (from (execution device) (between {start} now)))"))
    assert names == sorted(expected)


def test_time_word_week_unit(api):
    assert len(api.rows("(select id (from execution (between now-1w now)))")) == 6


def test_midnight_is_the_start_of_the_current_utc_day(api, nxql_data):
    same_day_or_skip(nxql_data)
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if now - midnight < timedelta(minutes=2):
        pytest.skip("too close to midnight")
    expected = sorted(Execution.objects.filter(
        start_time__gte=midnight - timedelta(days=1), start_time__lt=midnight,
        device__platform__in=["windows", "mac_os"]).values_list("device__name", flat=True))
    names = sorted(api.column("(select ((device (name))) (from (execution device) (between midnight-1d midnight)))"))
    assert "echo" in names  # at 23:59:59 yesterday
    assert names == expected


def test_midnight_to_now_holds_todays_events(api, nxql_data):
    same_day_or_skip(nxql_data)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    expected = sorted(Execution.objects.filter(start_time__gte=midnight, device__platform__in=["windows", "mac_os"])
                      .values_list("device__name", flat=True))
    names = sorted(api.column("(select ((device (name))) (from (execution device) (between midnight now)))"))
    assert "echo" not in names
    assert names == expected


def test_events_without_between_are_all_stored_events(api):
    assert len(api.rows("(select id (from execution))")) == 8


def test_events_of_invisible_devices_are_hidden(api):
    assert len(api.rows("(select id (from execution))", platform=ALL_PLATFORMS)) == 9


def test_event_where_on_the_event_table(api):
    rows = api.rows("(select (status outgoing_traffic) (from connection "
                    "(where connection (eq status (enum timeout)))))")
    assert rows == [{"status": "timeout", "outgoing_traffic": 100}]


def test_event_where_on_a_linked_object(api):
    rows = api.rows("(select start_time (from execution (where binary (eq name (string outlook.exe)))))")
    assert len(rows) == 4


def test_event_where_on_a_nullable_link_with_null(api):
    rows = api.rows("(select ((device (name))) (from (execution device) (where user (eq name (null)))))")
    assert rows == [{"device/name": "echo"}]


def test_crash_start_time_is_its_time(api):
    rows = api.rows("(select (start_time exception_code) (from crash (where device (eq name (string alpha)))))")
    assert rows == [{"start_time": rows[0]["start_time"], "exception_code": "0xc0000005"}]
    assert rows[0]["start_time"].endswith("Z")


# -- decorated events -----------------------------------------------------------------------------


def test_decorated_events_one_row_per_event_with_table_slash_field_columns(api):
    rows = api.rows("(select ((execution (start_time duration)) (device (name)) (binary (name))) "
                    "(from (execution device binary) (between (datetime 2024-03-01@00:00:00) "
                    "(datetime 2024-03-02@00:00:00))) (order_by start_time))")
    assert rows == [
        {"execution/start_time": "2024-03-01T10:00:00Z", "execution/duration": 10000, "device/name": "alpha",
         "binary/name": "outlook.exe"},
        {"execution/start_time": "2024-03-01T11:00:00Z", "execution/duration": 20000, "device/name": "Foxtrot",
         "binary/name": "chrome.exe"},
    ]


def test_decorated_events_columns_in_selection_order(api):
    rows = api.rows("(select ((binary (name)) (execution (duration)) (device (name platform))) "
                    "(from (execution device binary) (where device (eq name (string Foxtrot)))))")
    assert list(rows[0]) == ["binary/name", "execution/duration", "device/name", "device/platform"]


def test_decorated_events_order_by_table_slash_field(api):
    rows = api.rows("(select ((execution (duration)) (device (name))) (from (execution device)) "
                    "(order_by execution/duration desc) (limit 2))")
    assert [r["execution/duration"] for r in rows] == [120000, 90000]


def test_decorated_event_without_linked_user_is_still_one_row(api):
    rows = api.rows("(select ((execution (duration)) (user (name))) (from (execution user)))")
    assert len(rows) == 8
    assert {"execution/duration": 45000, "user/name": None} in rows


def test_plain_selection_over_several_tables_names_fields_of_the_first_table(api):
    rows = api.rows("(select (start_time duration) (from (execution device binary) "
                    "(where device (eq name (string Foxtrot)))))")
    assert rows == [{"start_time": "2024-03-01T11:00:00Z", "duration": 20000}]


def test_decorated_events_where_on_each_table(api):
    rows = api.rows("(select ((device (name)) (binary (name))) (from (web_request device binary) "
                    "(where web_request (ge http_status (integer 400))) (where device (eq platform (enum windows)))))")
    assert sorted((r["device/name"], r["binary/name"]) for r in rows) == [("alpha", "chrome.exe"),
                                                                          ("charlie", "chrome.exe")]


# -- two objects -------------------------------------------------------------------------------------


def test_two_objects_are_unique_linked_pairs(api):
    # charlie installed Office 365 twice: one pair.
    rows = api.rows("(select ((device (name)) (package (name))) (from (device package)))")
    pairs = [(r["device/name"], r["package/name"]) for r in rows]
    assert len(pairs) == len(set(pairs))
    assert {("Bravo", "Zoom"), ("alpha", "Office 365"), ("charlie", "Office 365")} <= set(pairs)


def test_device_package_pairs_are_the_installed_packages(api):
    # nxql.md: device-package pairs are linked "via installed packages"; alpha installed 7-Zip and then
    # uninstalled it, so 7-Zip is no installed package of alpha.
    rows = api.rows("(select ((device (name)) (package (name))) (from (device package)))")
    assert sorted((r["device/name"], r["package/name"]) for r in rows) == [
        ("Bravo", "Zoom"), ("alpha", "Office 365"), ("charlie", "Office 365")]


def test_device_user_pairs_through_activity(api):
    rows = api.rows("(select ((device (name)) (user (name))) (from (device user)))")
    assert sorted((r["device/name"], r["user/name"]) for r in rows) == [
        ("Bravo", "bob"), ("Foxtrot", "bob"), ("alpha", "ann"), ("charlie", "carol")]


def test_device_binary_pairs_through_activity(api):
    rows = api.rows("(select ((device (name)) (binary (name))) (from (device binary)))")
    assert sorted((r["device/name"], r["binary/name"]) for r in rows) == [
        ("Bravo", "Safari"), ("Foxtrot", "chrome.exe"), ("alpha", "chrome.exe"), ("alpha", "outlook.exe"),
        ("alpha", "teams.exe"), ("charlie", "chrome.exe"), ("charlie", "outlook.exe"), ("charlie", "teams.exe"),
        ("echo", "outlook.exe")]


def test_two_objects_with_where_on_the_second(api):
    rows = api.rows("(select ((device (name))) (from (device package) "
                    '(where package (eq name (string "Office 365")))))')
    assert sorted(r["device/name"] for r in rows) == ["alpha", "charlie"]


def test_two_objects_respect_platforms(api):
    rows = api.rows("(select ((device (name)) (package (name))) (from (device package)))", platform="mobile")
    assert rows == [{"device/name": "delta", "package/name": "Zoom"}]


def test_three_object_tables_are_a_400(api):
    api.error("(select name (from (device package user)))")


# -- objects with activity -----------------------------------------------------------------------------


def test_with_keeps_objects_with_a_matching_event_and_computes_per_object(api):
    rows = api.rows('(select (name number_of_executions) (from device (with execution (where binary (eq name '
                    '(string "outlook.exe"))) (compute number_of_executions))) (order_by name))')
    assert rows == [{"name": "alpha", "number_of_executions": 2}, {"name": "charlie", "number_of_executions": 1},
                    {"name": "echo", "number_of_executions": 1}]


def test_documented_with_example_between_midnight_minus_one_day_and_midnight(api, nxql_data):
    same_day_or_skip(nxql_data)
    rows = api.rows('(select (name) (from device (with execution (where binary (eq name (string "outlook.exe"))) '
                    "(compute number_of_executions) (between midnight-1d midnight))))")
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    expected = {}
    for name in Execution.objects.filter(
            binary__name="outlook.exe", start_time__gte=midnight - timedelta(days=1), start_time__lt=midnight,
            device__platform__in=["windows", "mac_os"]).values_list("device__name", flat=True):
        expected[name] = expected.get(name, 0) + 1
    assert {r["name"]: r["number_of_executions"] for r in rows} == expected
    assert expected.get("echo") == 1


def test_aggregate_is_an_extra_output_column_named_after_it(api):
    rows = api.rows("(select name (from device (with execution (compute number_of_executions))))")
    assert list(rows[0]) == ["name", "number_of_executions"]


def test_several_aggregates_are_columns_in_their_order(api):
    rows = api.rows("(select name (from device (with execution (compute number_of_executions execution_duration)) "
                    "(where device (eq name (string alpha)))))")
    assert rows == [{"name": "alpha", "number_of_executions": 3, "execution_duration": 190000}]


def test_aggregate_is_usable_in_order_by(api):
    rows = api.rows("(select name (from device (with execution (compute execution_duration))) "
                    "(order_by execution_duration desc))")
    assert [(r["name"], r["execution_duration"]) for r in rows] == [
        ("alpha", 190000), ("charlie", 95000), ("echo", 45000), ("Bravo", 30000), ("Foxtrot", 20000)]


def test_several_with_must_all_hold(api):
    names = api.column('(select name (from device (with execution (where binary (eq name (string "outlook.exe")))) '
                       "(with web_request)) (order_by name))")
    assert names == ["alpha", "charlie"]


def test_with_window_limits_the_objects(api, nxql_data):
    same_day_or_skip(nxql_data)
    assert devices(api, "(with execution (between now-1d now))") == {"alpha", "Bravo", "charlie", "echo"}


def test_with_window_limits_the_aggregate(api, nxql_data):
    same_day_or_skip(nxql_data)
    rows = api.rows("(select (name number_of_executions) (from device (with execution (between now-1d now) "
                    "(compute number_of_executions))))")
    assert {r["name"]: r["number_of_executions"] for r in rows} == {"alpha": 2, "Bravo": 1, "charlie": 1, "echo": 1}


def test_compute_may_stand_anywhere_among_the_clauses(api):
    first = api.rows('(select name (from device (with execution (compute number_of_executions) '
                     '(where binary (eq name (string "outlook.exe")))))) ')
    last = api.rows('(select name (from device (with execution (where binary (eq name (string "outlook.exe"))) '
                    "(compute number_of_executions))))")
    assert sorted(first, key=str) == sorted(last, key=str)
    assert len(first) == 3


def test_compute_over_links_number_of_devices_on_binary(api):
    rows = api.rows("(select (name number_of_devices) (from binary (with execution (compute number_of_devices))) "
                    "(order_by name))")
    assert [(r["name"], r["number_of_devices"]) for r in rows] == [
        ("Safari", 1), ("chrome.exe", 2), ("outlook.exe", 3), ("teams.exe", 1)]


def test_activity_of_invisible_devices_is_not_counted(api):
    rows = api.rows("(select (name number_of_devices) (from binary (with execution (compute number_of_devices)) "
                    "(where binary (eq name (string chrome.exe)))))", platform=ALL_PLATFORMS)
    assert rows == [{"name": "chrome.exe", "number_of_devices": 3}]


def test_with_through_two_links_application(api):
    rows = api.rows("(select (name number_of_executions) (from application (with execution "
                    "(compute number_of_executions))) (order_by name))")
    assert [(r["name"], r["number_of_executions"]) for r in rows] == [
        ("Google Chrome", 2), ("Microsoft Outlook", 4), ("Microsoft Teams", 1)]


def test_with_where_on_the_event_table(api):
    rows = api.rows("(select (name number_of_connections) (from device (with connection (where connection "
                    "(eq status (enum established))) (compute number_of_connections))))")
    assert {r["name"]: r["number_of_connections"] for r in rows} == {"alpha": 1, "Foxtrot": 1}


# -- where semantics ------------------------------------------------------------------------------------


def test_conditions_inside_one_where_are_anded(api):
    assert devices_where(api, "(eq platform (enum windows)) (gt number_of_cpus (integer 4))") == {"alpha", "charlie"}


def test_several_wheres_on_the_same_table_are_ored(api):
    assert devices(api, "(where device (eq name (string alpha))) (where device (eq name (string Bravo)))") == \
        {"alpha", "Bravo"}


def test_wheres_on_different_tables_are_anded(api):
    rows = api.rows("(select start_time (from execution (where device (eq name (string alpha))) "
                    '(where binary (eq name (string "outlook.exe")))))')
    assert len(rows) == 2


def test_or_within_a_table_and_across_tables_combine(api):
    rows = api.rows("(select ((device (name)) (binary (name))) (from (execution device binary) "
                    "(where device (eq name (string alpha))) (where device (eq name (string charlie))) "
                    '(where binary (eq name (string "chrome.exe"))) (where binary (eq name (string "teams.exe")))))')
    assert sorted((r["device/name"], r["binary/name"]) for r in rows) == [("alpha", "teams.exe"),
                                                                          ("charlie", "chrome.exe")]


def test_where_without_conditions_holds_for_every_row(api):
    assert devices(api, "(where device)") == VISIBLE


# -- order ---------------------------------------------------------------------------------------------


def test_order_by_is_ascending_by_default_and_by_code_point(api):
    assert api.column("(select name (from device) (order_by name))") == ["Bravo", "Foxtrot", "alpha", "charlie",
                                                                          "echo"]


@pytest.mark.parametrize("direction", ["asc", "(asc)", "ASC"])
def test_order_by_asc_forms(api, direction):
    assert api.column(f"(select name (from device) (order_by name {direction}))")[0] == "Bravo"


@pytest.mark.parametrize("direction", ["desc", "(desc)", "DESC"])
def test_order_by_desc_forms(api, direction):
    assert api.column(f"(select name (from device) (order_by name {direction}))") == [
        "echo", "charlie", "alpha", "Foxtrot", "Bravo"]


def test_nulls_come_last_ascending(api):
    assert api.column("(select name (from device) (order_by total_ram))") == ["Foxtrot", "Bravo", "alpha", "charlie",
                                                                              "echo"]


def test_nulls_come_last_descending(api):
    assert api.column("(select name (from device) (order_by total_ram desc))") == ["charlie", "alpha", "Bravo",
                                                                                   "Foxtrot", "echo"]


def test_empty_text_sorts_as_null_last(api):
    names = api.column("(select name (from device) (order_by device_manufacturer desc))")
    assert names[-1] == "charlie"


def test_order_by_a_category(api):
    names = api.column("(select name (from device) (order_by #Criticality))")
    assert names[:3] == ["alpha", "echo", "charlie"]  # high, low, medium
    assert set(names[3:]) == {"Bravo", "Foxtrot"}


def test_order_by_a_field_not_selected(api):
    assert api.column("(select name (from device) (order_by number_of_cpus desc) (limit 1))") == ["charlie"]


def test_order_by_datetime(api):
    assert api.column("(select name (from device (where device (ne first_seen (null)))) (order_by first_seen))") == [
        "charlie", "alpha", "Bravo", "Foxtrot"]


# -- limit -------------------------------------------------------------------------------------------


def test_limit_keeps_the_first_rows(api):
    assert api.column("(select name (from device) (order_by name) (limit 2))") == ["Bravo", "Foxtrot"]


def test_limit_zero_is_empty(api):
    assert api.rows("(select name (from device) (limit 0))") == []


def test_limit_must_be_a_whole_number(api):
    api.error("(select name (from device) (limit two))")


# -- comparisons ---------------------------------------------------------------------------------------


def test_uid_compares_with_a_string_case_insensitively(api, nxql_data):
    uid = nxql_data.devices["alpha"].device_uid.upper()
    assert devices_where(api, f'(eq device_uid (string "{uid}"))') == {"alpha"}


def test_string_eq_is_case_insensitive(api):
    assert devices_where(api, "(eq name (string ALPHA))") == {"alpha"}


def test_string_ne_is_case_insensitive(api):
    assert devices_where(api, "(ne name (string ALPHA))") == VISIBLE - {"alpha"}


def test_enum_eq_is_case_insensitive(api):
    assert devices_where(api, '(eq platform (enum "Mac_OS"))') == {"Bravo", "Foxtrot"}


def test_enum_value_may_be_bare_or_quoted(api):
    assert devices_where(api, "(eq platform (enum windows))") == devices_where(api, '(eq platform (enum "windows"))')


def test_pattern_star_matches_any_run(api):
    assert devices_where(api, '(eq name (pattern "*O*"))') == {"Bravo", "echo", "Foxtrot"}


def test_pattern_question_mark_matches_one_character(api):
    assert devices_where(api, '(eq name (pattern "?LPH?"))') == {"alpha"}
    assert devices_where(api, '(eq name (pattern "?lph"))') == set()


def test_pattern_treats_sql_wildcards_literally(api):
    assert devices_where(api, '(eq os_build (pattern "22_31"))') == set()
    assert devices_where(api, '(eq os_build (pattern "22%"))') == set()
    assert devices_where(api, '(eq os_build (pattern "22?31"))') == {"alpha"}


def test_pattern_ne(api):
    assert devices_where(api, '(ne name (pattern "*a*"))') == {"echo", "Foxtrot"}


def test_pattern_on_an_enum(api):
    assert devices_where(api, '(eq platform (pattern "MAC*"))') == {"Bravo", "Foxtrot"}


def test_ip_address_eq_a_network_means_inside(api):
    assert devices_where(api, "(eq last_ip_address (ip_address 10.1.0.0/16))") == {"alpha", "Bravo"}
    assert devices_where(api, '(eq last_ip_address (ip_address "10.0.0.0/8"))') == {"alpha", "Bravo", "echo"}


def test_ip_address_eq_an_address(api):
    assert devices_where(api, "(eq last_ip_address (ip_address 10.1.2.3))") == {"alpha"}


def test_ip_address_ne_a_network(api):
    assert devices_where(api, "(ne last_ip_address (ip_address 10.0.0.0/8))") == {"charlie", "Foxtrot"}


def test_integer_order_comparisons(api):
    assert devices_where(api, "(gt number_of_cpus (integer 4))") == {"alpha", "charlie", "Foxtrot"}
    assert devices_where(api, "(le number_of_cpus (integer 4))") == {"Bravo", "echo"}


def test_bytes_comparisons_with_units(api):
    assert devices_where(api, "(ge total_ram (bytes 16GB))") == {"alpha", "charlie"}
    assert devices_where(api, "(lt total_ram (bytes 8GB))") == {"Foxtrot"}


def test_duration_comparisons_with_units(api):
    assert devices_where(api, "(gt last_boot_duration (duration 10s))") == {"Bravo", "charlie", "Foxtrot"}
    assert devices_where(api, "(lt last_boot_duration (duration 1s))") == {"alpha"}


def test_datetime_comparisons(api):
    assert devices_where(api, "(lt first_seen (datetime 2024-01-01@00:00:00))") == {"charlie"}
    assert devices_where(api, "(ge first_seen (datetime 2024-02-01@00:00:00))") == {"Bravo", "Foxtrot"}
    assert devices_where(api, "(gt first_seen (datetime 2024-02-01@00:00:00))") == {"Foxtrot"}


def test_datetime_literals_are_utc(api):
    assert devices_where(api, "(eq first_seen (datetime 2024-01-15@08:00:00))") == {"alpha"}


def test_real_comparison_on_a_percent(api):
    assert devices_where(api, "(gt system_drive_usage (real 0.6))") == {"Bravo"}


def test_strings_order_by_code_point_in_comparisons(api):
    assert devices_where(api, "(lt name (string a))") == {"Bravo", "Foxtrot"}
    assert devices_where(api, "(ge name (string a))") == {"alpha", "charlie", "echo"}


@pytest.mark.parametrize("condition", [
    "(lt platform (enum windows))",
    "(ge device_type (enum laptop))",
    "(gt #Criticality (enum high))",
    "(lt last_ip_address (ip_address 10.0.0.1))",
])
def test_order_operators_on_unordered_types_are_a_400(api, condition):
    api.error(f"(select name (from device (where device {condition})))")


def test_order_operator_with_a_pattern_is_a_400(api):
    api.error('(select name (from device (where device (lt name (pattern "a*")))))')


def test_order_operator_with_null_is_a_400(api):
    api.error("(select name (from device (where device (gt total_ram (null)))))")


def test_value_type_not_fitting_the_field_is_a_400_naming_both(api):
    message = api.error("(select name (from device (where device (eq name (integer 3)))))")
    assert "integer" in message and "name" in message and "string" in message


def test_value_type_not_fitting_a_bytes_field_is_a_400_naming_both(api):
    message = api.error('(select name (from device (where device (eq total_ram (string "big")))))')
    assert "total_ram" in message and "bytes" in message and "string" in message


def test_invalid_literal_is_a_400(api):
    api.error("(select name (from device (where device (eq number_of_cpus (integer many)))))")


def test_unknown_enum_value_is_a_400_with_the_values_as_options(api):
    response = api.get("(select name (from device (where device (eq platform (enum linux)))))")
    assert response.status_code == 400
    assert set(error_options(body_of(response).decode())) >= {"windows", "mac_os", "mobile"}


def test_unknown_value_type_is_a_400(api):
    api.error("(select name (from device (where device (eq name (text alpha)))))")


def test_eq_null_holds_when_absent(api):
    assert devices_where(api, "(eq total_ram (null))") == {"echo"}


def test_ne_null_holds_when_present(api):
    assert devices_where(api, "(ne total_ram (null))") == {"alpha", "Bravo", "charlie", "Foxtrot"}


def test_empty_text_is_absent(api):
    assert devices_where(api, "(eq device_manufacturer (null))") == {"charlie"}
    assert api.rows("(select device_model (from device (where device (eq name (string charlie)))))") == [
        {"device_model": None}]


def test_eq_null_on_an_ip_address(api):
    assert devices_where(api, "(eq last_ip_address (null))", platform=ALL_PLATFORMS) == {"delta"}


def test_eq_null_on_a_category(api):
    assert devices_where(api, "(eq #Criticality (null))") == {"Bravo", "Foxtrot"}


def test_ne_null_on_a_category(api):
    assert devices_where(api, "(ne #Criticality (null))") == {"alpha", "charlie", "echo"}


# -- categories -------------------------------------------------------------------------------------


def test_category_condition_is_case_insensitive(api):
    assert devices_where(api, "(eq #Location (enum lausanne))") == {"alpha", "echo"}


def test_category_with_a_quoted_name(api):
    assert devices_where(api, '(eq #"Business Unit" (enum it))') == {"Bravo"}
    assert devices_where(api, "(eq #'Business Unit' (enum IT))") == {"Bravo"}


def test_category_unknown_keyword_in_a_condition_is_a_400(api):
    api.error("(select name (from device (where device (eq #Location (enum Mars)))))")


def test_unknown_category_is_a_400(api):
    api.error("(select name (from device (where device (eq #Colour (enum red)))))")


def test_category_of_another_table_is_a_400(api):
    api.error("(select (name #Approved) (from device))")


def test_category_column_is_named_without_hash(api):
    rows = api.rows("(select (name #Location #Criticality) (from device) (order_by name))")
    assert rows[:3] == [{"name": "Bravo", "Location": "Zurich", "Criticality": None},
                        {"name": "Foxtrot", "Location": None, "Criticality": None},
                        {"name": "alpha", "Location": "Lausanne", "Criticality": "high"}]


def test_category_with_spaces_column_name(api):
    rows = api.rows('(select (name #"Business Unit") (from device (where device (eq name (string Bravo)))))')
    assert rows == [{"name": "Bravo", "Business Unit": "IT"}]


def test_hash_star_selects_every_category_of_the_table(api):
    rows = api.rows("(select (name #*) (from device (where device (eq name (string alpha)))))")
    assert set(rows[0]) == {"name", "Location", "Criticality", "Business Unit"}
    assert rows[0]["Location"] == "Lausanne" and rows[0]["Criticality"] == "high"
    assert rows[0]["Business Unit"] is None


def test_category_on_a_binary(api):
    rows = api.rows("(select (name #Approved) (from binary) (order_by name))")
    assert {r["name"]: r["Approved"] for r in rows}["outlook.exe"] == "yes"


# -- selection --------------------------------------------------------------------------------------


def test_star_selects_every_field_in_schema_order(api):
    rows = api.rows("(select * (from device (where device (eq name (string alpha)))))")
    assert list(rows[0]) == [f.name for f in SCHEMA.nxql_table("device").fields]


def test_glob_selects_matching_fields(api):
    rows = api.rows("(select (*_time) (from execution) (limit 1))")
    assert set(rows[0]) == {"start_time", "end_time", "cpu_time"}


def test_glob_with_prefix(api):
    rows = api.rows("(select (name last_*) (from device (where device (eq name (string alpha)))))")
    assert next(iter(rows[0])) == "name"
    assert set(rows[0]) == {"name", "last_ip_address", "last_seen", "last_system_boot", "last_boot_duration",
                            "last_logged_on_user"}


def test_glob_matching_no_field_is_a_400(api):
    api.error("(select (zz*) (from device))")


def test_columns_are_in_the_order_of_the_selection(api):
    rows = api.rows("(select (platform name number_of_cpus) (from device (where device (eq name (string alpha)))))")
    assert list(rows[0]) == ["platform", "name", "number_of_cpus"]


def test_field_names_are_case_insensitive(api):
    rows = api.rows("(select (NAME Platform) (from DEVICE (where device (eq name (string alpha)))))")
    assert rows == [{"name": "alpha", "platform": "windows"}]


# -- template parameters ---------------------------------------------------------------------------


def test_template_value_with_quotes_is_text(api):
    assert set(api.column("(select name (from device (where device (eq name %1))))", p1='(string "Bravo")')) == {
        "Bravo"}


def test_template_used_twice(api):
    assert api.column("(select name (from device (where device (eq name (string %1))) "
                      "(where device (eq name (string %1)))))", p1="alpha") == ["alpha"]


def test_missing_template_value_is_a_400(api):
    api.error("(select name (from device (where device (eq name (string %3)))))")


# -- update --------------------------------------------------------------------------------------------


def criticality(api, name, **params):
    rows = api.rows(f"(select #Criticality (from device (where device (eq name (string {name})))))", **params)
    return rows[0]["Criticality"]


def test_update_without_outermost_parentheses(api):
    assert api.rows("update (set #Criticality (enum low)) (from device (where device (eq name (string Bravo))))",
                    user="editor") == [{"updated": 1}]


def test_update_sets_a_category_keyword(api):
    assert api.rows("(update (set #Criticality (enum low)) (from device (where device (eq name (string Bravo)))))",
                    user="editor") == [{"updated": 1}]
    assert criticality(api, "Bravo") == "low"


def test_update_keyword_is_case_insensitive_and_stored_as_written(api):
    api.rows("(update (set #Criticality (enum HIGH)) (from device (where device (eq name (string Bravo)))))",
             user="editor")
    assert criticality(api, "Bravo") == "high"


def test_update_replaces_a_keyword(api):
    api.rows("(update (set #Criticality (enum low)) (from device (where device (eq name (string alpha)))))",
             user="editor")
    assert criticality(api, "alpha") == "low"


def test_update_clears_a_category_with_null(api):
    assert api.rows("(update (set #Criticality (null)) (from device (where device (eq name (string alpha)))))",
                    user="editor") == [{"updated": 1}]
    assert criticality(api, "alpha") is None


def test_update_counts_every_selected_object(api):
    assert api.rows("(update (set #Location (enum Zurich)) (from device (where device (eq platform (enum mac_os)))))",
                    user="editor") == [{"updated": 2}]
    assert devices_where(api, "(eq #Location (enum Zurich))") == {"Bravo", "Foxtrot"}


def test_update_several_sets(api):
    api.rows("(update (set #Criticality (enum medium)) (set #\"Business Unit\" (enum Sales)) "
             "(from device (where device (eq name (string echo)))))", user="editor")
    rows = api.rows('(select (#Criticality #"Business Unit") (from device (where device (eq name (string echo)))))')
    assert rows == [{"Criticality": "medium", "Business Unit": "Sales"}]


def test_update_only_touches_visible_devices(api):
    assert api.rows("(update (set #Criticality (enum low)) (from device))", user="editor") == [{"updated": 5}]
    assert criticality(api, "delta", platform="mobile") is None


def test_update_with_activity(api):
    assert api.rows('(update (set #Criticality (enum low)) (from device (with execution (where binary '
                    '(eq name (string "teams.exe"))))))', user="editor") == [{"updated": 1}]
    assert criticality(api, "alpha") == "low"


def test_update_of_another_object_table(api):
    assert api.rows("(update (set #Approved (enum no)) (from binary (where binary (eq name (string chrome.exe)))))",
                    user="editor") == [{"updated": 1}]
    rows = api.rows("(select #Approved (from binary (where binary (eq name (string chrome.exe)))))")
    assert rows == [{"Approved": "no"}]


def test_update_with_no_matching_object_counts_zero(api):
    assert api.rows("(update (set #Criticality (enum low)) (from device (where device (eq name (string nobody)))))",
                    user="editor") == [{"updated": 0}]


def test_update_unknown_category_is_a_400(api):
    api.error("(update (set #Colour (enum red)) (from device))", user="editor")


def test_update_unknown_keyword_is_a_400(api):
    api.error("(update (set #Criticality (enum extreme)) (from device))", user="editor")


def test_update_is_all_or_nothing(api):
    api.error("(update (set #Criticality (enum high)) (set #Location (enum Mars)) (from device))", user="editor")
    assert criticality(api, "Bravo") is None


def test_update_of_an_event_table_is_a_400(api):
    api.error("(update (set #Criticality (enum high)) (from execution))", user="editor")


def test_update_without_the_right_is_a_403(api):
    api.error("(update (set #Criticality (enum high)) (from device))", status=403, user="analyst")
    assert criticality(api, "Bravo") is None


# -- errors -----------------------------------------------------------------------------------------


def test_unknown_field_error_names_it_with_line_and_column(api):
    assert api.error("(select (nme) (from device))") == "unknown field 'nme' in table device at line 1, column 10"


def test_unknown_field_options_closest_first(api):
    response = api.get("(select (nme) (from device))")
    options = error_options(body_of(response).decode())
    assert options[0] == "name"
    assert set(options) >= {f.name for f in SCHEMA.nxql_table("device").fields} - {"name"}


def test_error_position_on_a_later_line(api):
    message = api.error("(select name\n  (from devic))")
    assert "devic" in message
    assert message.endswith("at line 2, column 9")


def test_unknown_table_options_closest_first(api):
    response = api.get("(select name (from devic))")
    assert error_options(body_of(response).decode())[0] == "device"


def test_syntax_error_names_a_position(api):
    message = api.error("(select name (from device)) extra)")
    assert "at line 1, column" in message


def test_unknown_operator_lists_the_operators(api):
    response = api.get("(select name (from device (where device (eqq name (string a)))))")
    body = body_of(response).decode()
    assert response.status_code == 400
    assert error_options(body)[0] == "eq"
    assert "eqq" in error_message(body)


def test_unknown_aggregate_is_a_400_with_options(api):
    response = api.get("(select name (from device (with execution (compute number_of_executoins))))")
    body = body_of(response).decode()
    assert response.status_code == 400
    assert error_options(body)[0] == "number_of_executions"


def test_unterminated_string_is_a_400(api):
    api.error('(select name (from device (where device (eq name (string "alpha)))))')


# -- aggregates, each with its exact value ---------------------------------------------------------------


def aggregate(api, table, event, name, *, where="", **params):
    rows = api.rows(f"(select (name {name}) (from {table} (with {event} (compute {name})) {where}))", **params)
    return {row["name"]: row[name] for row in rows}


def test_number_of_executions_counts_execution_rows(api):
    assert aggregate(api, "device", "execution", "number_of_executions") == {
        "alpha": 3, "Bravo": 1, "charlie": 2, "echo": 1, "Foxtrot": 1}


def test_number_of_crashes_over_crash_rows(api):
    assert aggregate(api, "device", "crash", "number_of_crashes") == {"alpha": 1, "charlie": 2}


def test_number_of_crashes_over_executions_sums_their_crashes(api):
    assert aggregate(api, "device", "execution", "number_of_crashes") == {
        "alpha": 1, "Bravo": 0, "charlie": 2, "echo": 0, "Foxtrot": 0}


def test_number_of_connections_counts_connection_rows(api):
    assert aggregate(api, "device", "connection", "number_of_connections") == {
        "alpha": 2, "Bravo": 1, "charlie": 2, "echo": 1, "Foxtrot": 1}


def test_number_of_failed_connections_counts_rejected_no_host_no_service_timeout(api):
    assert aggregate(api, "device", "connection", "number_of_failed_connections") == {
        "alpha": 1, "Bravo": 1, "charlie": 1, "echo": 1, "Foxtrot": 0}


def test_number_of_failed_connections_per_destination(api):
    assert aggregate(api, "destination", "connection", "number_of_failed_connections") == {
        "outlook.office365.com": 1, "intranet": 2, "teams.microsoft.com": 1}


def test_number_of_web_requests_counts_rows(api):
    assert aggregate(api, "device", "web_request", "number_of_web_requests") == {
        "alpha": 2, "Bravo": 1, "charlie": 2, "Foxtrot": 1}


def test_number_of_http_errors_counts_status_400_and_above(api):
    assert aggregate(api, "device", "web_request", "number_of_http_errors") == {
        "alpha": 1, "Bravo": 1, "charlie": 1, "Foxtrot": 0}


def test_number_of_http_errors_per_domain(api):
    assert aggregate(api, "domain", "web_request", "number_of_http_errors") == {
        "intranet.example.com": 1, "www.google.com": 2}
    assert aggregate(api, "domain", "web_request", "number_of_http_errors", platform=ALL_PLATFORMS) == {
        "intranet.example.com": 2, "www.google.com": 2}


def test_number_of_devices_counts_distinct_devices(api):
    assert aggregate(api, "domain", "web_request", "number_of_devices") == {
        "intranet.example.com": 3, "www.google.com": 2}


def test_number_of_users_counts_distinct_users_not_absent_ones(api):
    assert aggregate(api, "binary", "execution", "number_of_users") == {
        "outlook.exe": 2, "teams.exe": 1, "chrome.exe": 2, "Safari": 1}


def test_number_of_users_over_device_events(api):
    assert aggregate(api, "device", "event", "number_of_users") == {"alpha": 1, "Bravo": 0, "charlie": 1, "echo": 0}


def test_number_of_binaries_counts_distinct_binaries(api):
    assert aggregate(api, "device", "execution", "number_of_binaries") == {
        "alpha": 2, "Bravo": 1, "charlie": 2, "echo": 1, "Foxtrot": 1}


def test_incoming_traffic_sums_connections(api):
    assert aggregate(api, "destination", "connection", "incoming_traffic") == {
        "outlook.office365.com": 3000, "intranet": 0, "teams.microsoft.com": 300}


def test_incoming_traffic_sums_web_requests(api):
    assert aggregate(api, "domain", "web_request", "incoming_traffic") == {
        "intranet.example.com": 6170, "www.google.com": 2010}


def test_outgoing_traffic_sums_connections(api):
    assert aggregate(api, "device", "connection", "outgoing_traffic") == {
        "alpha": 600, "Bravo": 50, "charlie": 700, "echo": 10, "Foxtrot": 200}


def test_execution_duration_sums_durations(api):
    assert aggregate(api, "device", "execution", "execution_duration") == {
        "alpha": 190000, "Bravo": 30000, "charlie": 95000, "echo": 45000, "Foxtrot": 20000}


def test_average_network_response_time_ignores_absent_values(api):
    assert aggregate(api, "destination", "connection", "average_network_response_time") == {
        "outlook.office365.com": 50, "intranet": None, "teams.microsoft.com": 20}


def test_average_response_time(api):
    assert aggregate(api, "domain", "web_request", "average_response_time") == {
        "intranet.example.com": 110, "www.google.com": 225}


def test_aggregate_not_available_for_the_event_table_is_a_400(api):
    api.error("(select name (from device (with execution (compute number_of_http_errors))))")


def test_aggregate_hr_rendering(api):
    text = api.text("(select (name execution_duration) (from device (with execution (compute execution_duration)) "
                    "(where device (eq name (string alpha)))))", hr="true")
    assert text == "name\texecution_duration\nalpha\t3 min 10 s\n"


# -- links reached from events, more activity shapes ------------------------------------------------------
# data-model.md "Links": an object row may be reached from an event row (device, user, binary, application,
# destination, domain, port, remote_action); nxql.md: "a where may name the event table or any object
# linked to it".


def test_event_where_on_the_application_of_the_binary(api):
    rows = api.rows('(select start_time (from execution (where application (eq name (string "Microsoft Outlook")))))')
    assert len(rows) == 4


def test_decorated_events_with_the_application(api):
    rows = api.rows("(select ((device (name)) (application (name))) (from (execution device application) "
                    "(where device (eq name (string alpha)))))")
    assert sorted(r["application/name"] for r in rows) == ["Microsoft Outlook", "Microsoft Outlook",
                                                           "Microsoft Teams"]


def test_with_where_on_the_application_of_the_binary(api):
    assert devices(api, '(with execution (where application (eq name (string "Microsoft Teams"))))') == {"alpha"}


def test_where_on_a_table_outside_the_query_is_a_400(api):
    api.error("(select name (from device (where execution (gt duration (duration 1s)))))")


def test_two_withs_each_with_aggregates(api):
    rows = api.rows("(select name (from device (with execution (compute number_of_executions)) "
                    "(with connection (compute number_of_connections))))")
    assert {r["name"]: (r["number_of_executions"], r["number_of_connections"]) for r in rows} == {
        "alpha": (3, 2), "Bravo": (1, 1), "charlie": (2, 2), "echo": (1, 1), "Foxtrot": (1, 1)}


def test_same_aggregate_in_two_withs_is_a_400(api):
    api.error("(select name (from device (with execution (compute number_of_executions)) "
              "(with execution (compute number_of_executions))))")


def test_with_and_where_on_the_object_combine(api):
    rows = api.rows("(select name (from device (where device (eq platform (enum mac_os))) "
                    "(with execution (compute number_of_executions))))")
    assert {r["name"]: r["number_of_executions"] for r in rows} == {"Bravo": 1, "Foxtrot": 1}


def test_with_on_users_through_a_nullable_link(api):
    assert aggregate(api, "user", "execution", "number_of_devices") == {"ann": 1, "bob": 2, "carol": 1}


def test_with_installation_on_packages(api):
    assert aggregate(api, "package", "installation", "number_of_devices") == {"Office 365": 2, "7-Zip": 1, "Zoom": 1}


def test_with_installation_where_package(api):
    assert devices(api, "(with installation (where package (eq name (string zoom))))") == {"Bravo"}


def test_with_connection_on_ports(api):
    rows = api.rows("(select (port_number protocol number_of_connections) (from port (with connection "
                    "(compute number_of_connections))) (order_by port_number))")
    assert rows == [{"port_number": 53, "protocol": "udp", "number_of_connections": 1},
                    {"port_number": 80, "protocol": "tcp", "number_of_connections": 1},
                    {"port_number": 443, "protocol": "tcp", "number_of_connections": 5}]


def test_order_by_an_aggregate_puts_nulls_last_descending(api):
    names = api.column("(select name (from destination (with connection (compute average_network_response_time))) "
                       "(order_by average_network_response_time desc))")
    assert names == ["outlook.office365.com", "teams.microsoft.com", "intranet"]


def test_order_by_a_category_descending_puts_nulls_last(api):
    names = api.column("(select name (from device) (order_by #Criticality desc))")
    assert names[:3] == ["charlie", "echo", "alpha"]  # medium, low, high
    assert set(names[3:]) == {"Bravo", "Foxtrot"}


def test_condition_on_a_linked_name_field(api):
    assert devices_where(api, "(eq engine (string ENGINE-1))") == {"alpha", "Bravo"}
    assert devices_where(api, '(eq entity (pattern "l*"))') == {"alpha", "echo"}


def test_order_by_a_linked_field(api):
    names = api.column("(select name (from device) (order_by entity))")  # Boston, Lausanne, Zurich
    assert set(names[:2]) == {"charlie", "Foxtrot"}
    assert set(names[2:4]) == {"alpha", "echo"}
    assert names[4] == "Bravo"


def test_category_pattern_condition(api):
    assert devices_where(api, '(eq #Location (pattern "z*"))') == {"Bravo"}


def test_fractional_byte_units_are_powers_of_1024(api):
    assert devices_where(api, "(lt total_ram (bytes 1.6GB))") == {"Foxtrot"}
    assert devices_where(api, "(eq total_ram (bytes 1536MB))") == {"Foxtrot"}


def test_id_comparison(api, nxql_data):
    pk = nxql_data.devices["charlie"].pk
    assert devices_where(api, f"(eq id (id {pk}))") == {"charlie"}
    assert devices_where(api, f"(eq id (integer {pk}))") == {"charlie"}


def test_event_comparison_on_a_duration_field(api):
    assert len(api.rows("(select id (from execution (where execution (gt duration (duration 1min)))))")) == 2


# -- the data model's tables and fields (data-model.md: "the lists are the minimum") ------------------------

DATA_MODEL_FIELDS = {
    "device": "id name device_uid collector_uid platform os_version_and_architecture os_build device_type "
              "device_manufacturer device_model device_serial_number total_ram number_of_cpus cpu_model "
              "system_drive_capacity system_drive_free_space system_drive_usage last_ip_address entity engine "
              "first_seen last_seen last_system_boot last_boot_duration last_logged_on_user",
    "user": "id name user_uid sid full_name department job_title user_type first_seen last_seen",
    "binary": "id name executable_name version application_name company description threat_level size sha256 "
              "platform first_seen last_seen",
    "application": "id name company description category",
    "package": "id name version publisher platform first_seen",
    "destination": "id name ip_address",
    "domain": "id name category hosting_country",
    "port": "id port_number protocol",
    "execution": "id start_time end_time duration cpu_time memory number_of_crashes binary_path",
    "crash": "id start_time end_time exception_code",
    "connection": "id start_time end_time status incoming_traffic outgoing_traffic network_response_time "
                  "number_of_connections",
    "web_request": "id start_time end_time url_path protocol http_status response_time incoming_traffic "
                   "outgoing_traffic number_of_requests",
    "event": "id start_time end_time type duration details",
    "installation": "id start_time end_time type",
}
# The remote_action and remote_action_execution tables arrive with the remote-actions app (its issue
# adds them here).
EVENT_LINKS = {
    "execution": "device user binary",
    "crash": "device user binary",
    "connection": "device user binary destination port",
    "web_request": "device user binary domain",
    "event": "device user",
    "installation": "device package",
}


@pytest.mark.parametrize("table", sorted(DATA_MODEL_FIELDS))
def test_every_field_of_the_data_model_is_queryable(api, table):
    fields = DATA_MODEL_FIELDS[table].split()
    response = api.get(f"(select ({' '.join(fields)}) (from {table}) (limit 1))", format="json")
    body = body_of(response).decode()
    assert response.status_code == 200, error_message(body)


@pytest.mark.parametrize("event", sorted(EVENT_LINKS))
def test_every_link_of_an_event_decorates_it(api, event):
    links = EVENT_LINKS[event].split()
    selection = " ".join(f"({table} (id))" for table in links)
    response = api.get(f"(select ({selection}) (from ({event} {' '.join(links)})) (limit 1))", format="json")
    body = body_of(response).decode()
    assert response.status_code == 200, error_message(body)


def test_a_where_without_conditions_makes_its_table_alternatives_hold_for_every_row(api):
    assert devices(api, "(where device) (where device (eq name (string nope)))") == VISIBLE
