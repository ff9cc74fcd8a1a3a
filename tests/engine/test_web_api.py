"""Web API V2 ``GET|POST /2/query`` and ``GET /api/configuration/v1/engines`` (nxql.md, platform.md):
every parameter, status and body, as the documented clients call them."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from urllib.parse import quote, urlencode

import pytest
from django.db import connection

from portal.models import PlatformSettings, Profile
from tests.engine.conftest import body_of, consumed, error_message, error_options
from tests.engine.nxql_fixture import basic

pytestmark = pytest.mark.django_db

CHALLENGE = 'Basic realm="OpenDEX"'
TINY = "(select (name platform) (from device (where device (eq name (string alpha)))))"
NAMES = "(select name (from device))"
DEFAULT_VISIBLE = {"alpha", "Bravo", "charlie", "echo", "Foxtrot"}
ALL_DEVICES = DEFAULT_VISIBLE | {"delta"}


def names(api, query=NAMES, **params) -> set[str]:
    return set(api.column(query, "name", **params))


def assert_error_page(response, status):
    body = body_of(response).decode("utf-8")
    assert response.status_code == status, body
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert error_message(body).strip(), body
    return body


# -- the query parameter ------------------------------------------------------------------------


def test_missing_query_is_a_400_error_page(api):
    response = api.get()
    body = assert_error_page(response, 400)
    assert 'id="error_message"' in body


def test_empty_query_is_a_400_error_page(api):
    assert_error_page(api.get("   "), 400)


def test_get_runs_the_query_from_the_query_string(api):
    assert api.text(TINY) == "name\tplatform\nalpha\twindows\n"


def test_post_runs_the_query_from_a_multipart_form_body(api):
    response = api.post(TINY)
    assert response.status_code == 200
    assert body_of(response) == b"name\tplatform\nalpha\twindows\n"


def test_post_runs_the_query_from_a_urlencoded_form_body(api):
    response = api.raw_post("/2/query", urlencode({"query": TINY, "format": "json"}),
                            "application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert json.loads(body_of(response)) == [{"name": "alpha", "platform": "windows"}]


def test_post_reads_parameters_of_the_query_string_too(api):
    response = consumed(api.client.post("/2/query?format=json", {"query": TINY}, HTTP_AUTHORIZATION=basic("analyst")))
    assert response.status_code == 200
    assert json.loads(body_of(response)) == [{"name": "alpha", "platform": "windows"}]


# -- formats --------------------------------------------------------------------------------------


def test_default_format_is_tab_separated_csv_with_header_and_trailing_newline(api):
    response = api.get("(select (name platform device_type) (from device (where device (eq name (string alpha)))))")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert body_of(response) == b"name\tplatform\tdevice_type\nalpha\twindows\tlaptop\n"


def test_csv_format_exact_bytes(api):
    response = api.get(TINY, format="csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert body_of(response) == b"name\tplatform\nalpha\twindows\n"


def test_csv_empty_result_is_the_header_line_only(api):
    assert api.text("(select (name platform) (from device (where device (eq name (string nobody)))))") == \
        "name\tplatform\n"


def test_csv_quotes_values_holding_tabs_and_quotes(api):
    text = api.text("(select (name description) (from binary (where binary (eq name (string teams.exe)))))")
    assert text == 'name\tdescription\nteams.exe\t"Microsoft ""Teams""\tclient"\n'


def test_json_format_exact_bytes(api):
    response = api.get(TINY, format="json")
    assert response["Content-Type"].split(";")[0] == "application/json"
    assert body_of(response) == b'[{"name":"alpha","platform":"windows"}]'


def test_json_empty_result_is_an_empty_array(api):
    assert api.rows("(select name (from device (where device (eq name (string nobody)))))") == []


def test_json_numbers_are_numbers_and_absent_values_null(api):
    rows = api.rows("(select (name total_ram number_of_cpus last_ip_address first_seen) (from device "
                    "(where device (eq name (string echo)) ) (where device (eq name (string alpha)))) (order_by name))")
    assert rows == [
        {"name": "alpha", "total_ram": 16 * 1024**3, "number_of_cpus": 8, "last_ip_address": "10.1.2.3",
         "first_seen": "2024-01-15T08:00:00Z"},
        {"name": "echo", "total_ram": None, "number_of_cpus": 2, "last_ip_address": "10.2.0.5", "first_seen": None},
    ]


def test_xml_format_exact_bytes(api):
    response = api.get(TINY, format="xml")
    assert response["Content-Type"].split(";")[0] == "application/xml"
    assert body_of(response) == (
        b'<?xml version="1.0" encoding="UTF-8"?><table><header><c>name</c><c>platform</c></header>'
        b"<body><r><c>alpha</c><c>windows</c></r></body></table>"
    )


def test_xml_is_well_formed_with_absent_values_empty(api):
    body = body_of(api.get("(select (name total_ram) (from device (where device (eq name (string echo)))))",
                           format="xml"))
    root = ET.fromstring(body)
    assert [c.text for c in root.find("header")] == ["name", "total_ram"]
    assert [[c.text or "" for c in r] for r in root.find("body")] == [["echo", ""]]


class _TableParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables = 0
        self.section = None
        self.head: list[str] = []
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables += 1
        elif tag in ("thead", "tbody"):
            self.section = tag
        elif tag == "tr" and self.section == "tbody":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            text = "".join(self.cell)
            if self.section == "thead":
                self.head.append(text)
            else:
                self.rows[-1].append(text)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_html_format_is_a_page_with_one_table(api):
    response = api.get(TINY, format="html")
    assert response["Content-Type"].split(";")[0] == "text/html"
    body = body_of(response).decode("utf-8")
    assert body.lstrip().lower().startswith("<!doctype html")
    parser = _TableParser()
    parser.feed(body)
    assert parser.tables == 1
    assert parser.head == ["name", "platform"]
    assert parser.rows == [["alpha", "windows"]]


def test_html_escapes_values(api):
    body = body_of(api.get("(select (name description) (from binary (where binary (eq name (string teams.exe)))))",
                           format="html")).decode("utf-8")
    assert "&quot;Teams&quot;" in body or "&#x27;" in body or "&#34;Teams&#34;" in body
    assert '"Teams"' not in body.split("<tbody>", 1)[1]


def test_format_names_are_accepted_in_any_documented_value(api):
    for fmt in ("csv", "json", "xml", "html"):
        assert api.get(TINY, format=fmt).status_code == 200


def test_unknown_format_is_a_400_listing_the_formats(api):
    response = api.get(TINY, format="yaml")
    body = assert_error_page(response, 400)
    assert set(error_options(body)) == {"csv", "html", "xml", "json"}


# -- hr --------------------------------------------------------------------------------------------

HR_QUERY = ("(select (name total_ram last_boot_duration system_drive_usage first_seen) (from device "
            "(where device (eq name (string Bravo)))))")


def test_hr_false_shows_raw_units(api):
    assert api.text(HR_QUERY, hr="false").splitlines()[1] == "Bravo\t8589934592\t12400\t0.851\t2024-02-01T00:00:00Z"


def test_hr_defaults_to_false(api):
    assert api.text(HR_QUERY) == api.text(HR_QUERY, hr="false")


def test_hr_true_shows_human_readable_units(api):
    assert api.text(HR_QUERY, hr="true").splitlines()[1] == "Bravo\t8.0 GB\t12.4 s\t85.1 %\t2024-02-01 00:00:00"


def test_hr_true_applies_to_xml_and_html(api):
    xml_body = body_of(api.get(HR_QUERY, hr="true", format="xml")).decode()
    assert "<c>8.0 GB</c>" in xml_body and "<c>12.4 s</c>" in xml_body
    html_body = body_of(api.get(HR_QUERY, hr="true", format="html")).decode()
    assert "8.0 GB" in html_body and "85.1 %" in html_body


def test_hr_is_ignored_for_json(api):
    assert api.rows(HR_QUERY, hr="true") == [{
        "name": "Bravo", "total_ram": 8 * 1024**3, "last_boot_duration": 12400, "system_drive_usage": 0.851,
        "first_seen": "2024-02-01T00:00:00Z",
    }]


def test_hr_rounds_into_the_next_unit_bracket(api):
    # charlie: 200 000 ms = 3 min 20 s; Foxtrot: 7 500 000 ms = 2 h 5 min; alpha: 850 ms.
    text = api.text("(select (name last_boot_duration) (from device (where device (ne last_boot_duration (null)))) "
                    "(order_by last_boot_duration))", hr="true")
    assert text == "name\tlast_boot_duration\nalpha\t850 ms\nBravo\t12.4 s\ncharlie\t3 min 20 s\nFoxtrot\t2 h 5 min\n"


@pytest.mark.parametrize("value", ["yes", "1", "maybe"])
def test_bad_hr_value_is_a_400(api, value):
    assert_error_page(api.get(TINY, hr=value), 400)


# -- platform ------------------------------------------------------------------------------------


def test_default_platforms_are_windows_and_mac_os(api):
    assert names(api) == DEFAULT_VISIBLE


def test_platform_parameter_is_repeatable(api):
    assert names(api, platform=["windows", "mobile"]) == {"alpha", "charlie", "echo", "delta"}


def test_platform_parameter_accepts_comma_separated_values(api):
    assert names(api, platform="mac_os,mobile") == {"Bravo", "Foxtrot", "delta"}


def test_single_platform(api):
    assert names(api, platform="mobile") == {"delta"}


def test_all_three_platforms(api):
    assert names(api, platform="windows,mac_os,mobile") == ALL_DEVICES


def test_unknown_platform_is_a_400(api):
    body = assert_error_page(api.get(NAMES, platform="linux"), 400)
    assert "linux" in error_message(body)


def test_platform_limits_activity_too(api):
    devices = api.column("(select ((device (name))) (from (execution device)))", "device/name",
                         platform="mobile")
    assert devices == ["delta"]


# -- template parameters ---------------------------------------------------------------------


def test_template_parameter_is_substituted(api):
    assert names(api, "(select name (from device (where device (eq name (string %1)))))", p1="Bravo") == {"Bravo"}


def test_template_parameters_one_to_nine(api):
    query = "(select name (from device (where device (eq name (string %1))) (where device (eq name (string %9)))))"
    assert names(api, query, p1="alpha", p9="echo") == {"alpha", "echo"}


def test_template_value_is_substituted_as_text_before_parsing(api):
    rows = api.rows("(select %1 (from device (where device (eq name (string alpha)))))", p1="(name platform)")
    assert rows == [{"name": "alpha", "platform": "windows"}]


def test_template_placeholder_without_value_is_a_400(api):
    assert_error_page(api.get("(select name (from device (where device (eq name (string %2)))))", p1="x"), 400)


# -- authentication ------------------------------------------------------------------------------


def assert_unauthorized(response):
    assert response.status_code == 401
    assert body_of(response) == b""
    assert response["WWW-Authenticate"] == CHALLENGE


def test_no_credentials_is_a_401_with_empty_body_and_challenge(api):
    assert_unauthorized(api.get(TINY, user=None))


def test_wrong_password_is_a_401(api):
    assert_unauthorized(api.get(TINY, HTTP_AUTHORIZATION=basic("analyst", "wrong")))


def test_unknown_account_is_a_401(api):
    assert_unauthorized(api.get(TINY, user="nobody"))


def test_inactive_account_is_a_401(api):
    assert_unauthorized(api.get(TINY, user="inactive"))


def test_account_without_finder_access_is_a_401(api):
    assert_unauthorized(api.get(TINY, user="viewer"))


@pytest.mark.parametrize("user", ["partial", "full"])
def test_account_with_data_privacy_is_a_401(api, user):
    assert_unauthorized(api.get(TINY, user=user))


def test_bearer_token_is_not_accepted(api):
    assert_unauthorized(api.get(TINY, HTTP_AUTHORIZATION="Bearer abcdef"))


def test_401_also_for_post(api):
    assert_unauthorized(api.post(TINY, user="viewer"))


def test_repeated_failures_for_an_account_are_throttled_with_429(api):
    for _ in range(10):
        assert api.get(TINY, HTTP_AUTHORIZATION=basic("analyst", "wrong")).status_code == 401
    response = api.get(TINY, user="analyst")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_throttling_one_account_leaves_others_alone(api):
    for _ in range(10):
        api.get(TINY, HTTP_AUTHORIZATION=basic("analyst", "wrong"))
    assert api.get(TINY, user="editor").status_code == 200


def test_rights_change_takes_effect_on_the_next_request(api, nxql_data):
    assert api.get(TINY, user="analyst").status_code == 200
    profile = Profile.objects.get(pk=nxql_data.accounts["analyst"].profile_id)
    profile.finder_access = False
    profile.save()
    assert_unauthorized(api.get(TINY, user="analyst"))


# -- licence, rights -------------------------------------------------------------------------------


def test_unlicensed_web_api_is_a_403_error_page(api):
    PlatformSettings.objects.update_or_create(pk=1, defaults={"web_api_licensed": False})
    assert_error_page(api.get(TINY), 403)


def test_licensed_web_api_answers(api):
    PlatformSettings.objects.update_or_create(pk=1, defaults={"web_api_licensed": True})
    assert api.get(TINY).status_code == 200


UPDATE = "(update (set #Criticality (enum low)) (from device (where device (eq name (string Bravo)))))"


def test_update_without_the_right_is_a_403_error_page(api):
    assert_error_page(api.get(UPDATE, user="analyst"), 403)


def test_update_without_the_right_changes_nothing(api):
    api.get(UPDATE, user="analyst")
    assert api.rows("(select (name #Criticality) (from device (where device (eq name (string Bravo)))))") == [
        {"name": "Bravo", "Criticality": None}]


def test_update_with_the_right_answers_the_updated_count(api):
    response = api.get(UPDATE, user="editor")
    assert response.status_code == 200
    assert body_of(response) == b"updated\n1\n"


def test_update_answers_in_the_requested_format(api):
    assert api.rows(UPDATE, user="editor") == [{"updated": 1}]


# -- time-out ----------------------------------------------------------------------------------


def _many_executions(data, count=60_000):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO engine_execution (device_id, user_id, binary_id, start_time, end_time, duration, cpu_time, "
            "memory, number_of_crashes, binary_path) "
            "SELECT %s, NULL, %s, now() - g * interval '1 second', now(), g, 1, 1, 0, '' "
            "FROM generate_series(1, %s) g",
            [data.devices["alpha"].pk, data.binaries["outlook.exe"].pk, count],
        )


def test_query_running_past_the_timeout_is_a_503_error_page(api, nxql_data, settings):
    _many_executions(nxql_data)
    settings.NXQL_TIMEOUT_SECONDS = 0.001
    response = api.get("(select (name number_of_executions execution_duration) (from device "
                       "(with execution (compute number_of_executions execution_duration))))")
    assert_error_page(response, 503)


def test_sub_millisecond_timeout_still_cancels(api, nxql_data, settings):
    _many_executions(nxql_data)
    settings.NXQL_TIMEOUT_SECONDS = 0.0004
    response = api.get("(select (name number_of_executions execution_duration) (from device "
                       "(with execution (compute number_of_executions execution_duration))))")
    assert_error_page(response, 503)


def test_update_running_past_the_timeout_is_a_503_error_page(api, nxql_data, settings):
    _many_executions(nxql_data)
    settings.NXQL_TIMEOUT_SECONDS = 0.001
    response = api.get('(update (set #Criticality (enum low)) (from device (with execution (where execution '
                       '(eq binary_path (string "nowhere"))))))', user="editor")
    assert_error_page(response, 503)


def test_query_within_the_timeout_answers(api, settings):
    settings.NXQL_TIMEOUT_SECONDS = 30
    assert api.get(TINY).status_code == 200


# -- error page ------------------------------------------------------------------------------------


def test_error_page_lists_options_closest_first(api):
    body = assert_error_page(api.get("(select (nme) (from device))"), 400)
    options = error_options(body)
    assert options, body
    assert options[0] == "name"
    assert "platform" in options


def test_error_page_message_names_problem_and_position(api):
    body = assert_error_page(api.get("(select (nme) (from device))"), 400)
    assert error_message(body) == "unknown field 'nme' in table device at line 1, column 10"


def test_error_page_escapes_the_message(api):
    body = assert_error_page(api.get("(select (<b>x</b>) (from device))"), 400)
    assert "<b>" not in body
    assert "<b>x</b>" in error_message(body)


# -- paths and methods ---------------------------------------------------------------------------


def test_trailing_slash_answers_the_same_without_redirect(api):
    plain = api.get(TINY, path="/2/query")
    slashed = api.get(TINY, path="/2/query/")
    assert slashed.status_code == 200
    assert body_of(slashed) == body_of(plain)


def test_trailing_slash_post_is_not_redirected(api):
    assert api.post(TINY, path="/2/query/").status_code == 200


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_405(api, method):
    response = consumed(getattr(api.client, method)("/2/query?query=" + quote(TINY),
                                                    HTTP_AUTHORIZATION=basic("analyst")))
    assert response.status_code == 405


# -- bad input is a 400, never a 500 ------------------------------------------------------------------


def test_invalid_utf8_in_the_query_string_is_a_400(api):
    response = api.raw_get("/2/query?query=%FF%FE")
    assert_error_page(response, 400)


def test_invalid_utf8_inside_a_valid_query_is_not_a_500(api):
    response = api.raw_get("/2/query?query=(select%20name%20(from%20device%20(where%20device%20(eq%20name%20"
                           "(string%20%FF%FE)))))")
    assert response.status_code in (200, 400)


def test_non_utf8_form_body_is_a_400(api):
    response = api.raw_post("/2/query", b"query=\xff\xfe(select", "application/x-www-form-urlencoded")
    assert_error_page(response, 400)


def test_nul_character_in_a_string_literal_is_not_a_500(api):
    response = api.raw_get("/2/query?query=" + quote('(select name (from device (where device (eq name '
                                                     '(string "al\x00pha")))))'))
    assert response.status_code in (200, 400), body_of(response)[:300]


def test_nul_character_in_a_pattern_is_not_a_500(api):
    response = api.get('(select name (from device (where device (eq name (pattern "a\x00*")))))')
    assert response.status_code in (200, 400), body_of(response)[:300]


def big_query(size=2 * 1024 * 1024) -> str:
    condition = '(eq name (string "x")) '
    return "(select name (from device (where device " + condition * (size // len(condition)) + ")))"


def test_two_megabyte_query_in_the_query_string_is_a_400(api):
    assert_error_page(api.get(big_query()), 400)


def test_two_megabyte_query_in_a_multipart_body_is_a_400(api):
    assert_error_page(api.post(big_query()), 400)


def test_two_megabyte_query_in_a_urlencoded_body_is_a_400(api):
    body = urlencode({"query": big_query()})
    response = api.raw_post("/2/query", body, "application/x-www-form-urlencoded")
    assert_error_page(response, 400)


def test_unknown_extra_parameters_are_ignored(api):
    response = api.get(TINY, foo="bar", _="1700000000", p10="x", Format="json")
    assert response.status_code == 200
    assert body_of(response) == b"name\tplatform\nalpha\twindows\n"


# -- routing by host, view domain ------------------------------------------------------------------


def test_host_equal_to_an_engine_address_sees_only_its_devices(api):
    assert names(api, HTTP_HOST="engine-1.localhost:8000") == {"alpha", "Bravo"}


def test_host_without_port_routes_too(api):
    assert names(api, HTTP_HOST="engine-2.localhost") == {"charlie", "echo", "Foxtrot"}


def test_host_routing_limits_activity(api):
    devices = api.column("(select ((device (name))) (from (execution device)))", "device/name",
                         HTTP_HOST="engine-1.localhost:8000")
    assert sorted(devices) == ["Bravo", "alpha", "alpha", "alpha"]


def test_engine_without_devices_answers_an_empty_result(api):
    assert api.text(NAMES, HTTP_HOST="engine-3.localhost") == "name\n"


def test_other_host_sees_every_engine(api):
    assert names(api, HTTP_HOST="localhost") == DEFAULT_VISIBLE
    assert names(api, HTTP_HOST="127.0.0.1:8000") == DEFAULT_VISIBLE


def test_view_domain_limits_devices(api):
    assert names(api, user="europe") == {"alpha", "Bravo", "echo"}


def test_view_domain_limits_activity(api):
    rows = api.rows("(select (name number_of_executions) (from device (with execution "
                    "(compute number_of_executions))) (order_by name))", user="europe")
    assert rows == [{"name": "Bravo", "number_of_executions": 1}, {"name": "alpha", "number_of_executions": 3},
                    {"name": "echo", "number_of_executions": 1}]


def test_view_domain_limits_events(api):
    devices = api.column("(select ((device (name))) (from (web_request device)))", "device/name", user="europe")
    assert sorted(devices) == ["Bravo", "alpha", "alpha"]


@pytest.mark.parametrize(("node", "expected"), [
    ("Switzerland", {"alpha", "Bravo", "echo"}),
    ("Zurich", {"Bravo"}),
    ("America", {"charlie", "Foxtrot"}),
])
def test_view_domain_is_the_subtree_of_any_node(api, make_account, nxql_data, node, expected):
    make_account("scoped", password="s3cret-pw", finder_access=True, view_domain=nxql_data.nodes[node])
    assert names(api, user="scoped") == expected


def test_view_domain_and_engine_routing_combine(api):
    assert names(api, user="europe", HTTP_HOST="engine-2.localhost") == {"echo"}


# -- List Engines ------------------------------------------------------------------------------


ENGINE_KEYS = {"name", "description", "version", "timezone", "databaseUID", "machineID", "status", "address", "port"}


def test_list_engines_answers_every_engine_with_the_documented_keys(api):
    response = api.get(path="/api/configuration/v1/engines")
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == "application/json"
    engines = json.loads(body_of(response))
    assert isinstance(engines, list)
    assert sorted(e["name"] for e in engines) == ["engine-1", "engine-2", "engine-3"]
    for engine in engines:
        assert set(engine) == ENGINE_KEYS


def test_list_engines_values(api):
    engines = {e["name"]: e for e in json.loads(body_of(api.get(path="/api/configuration/v1/engines")))}
    assert engines["engine-1"] == {
        "name": "engine-1", "description": "Engine number 1", "version": "6.30.0", "timezone": "Europe/Zurich",
        "databaseUID": f"{0xE1:032x}", "machineID": f"{0xF1:032x}", "status": "CONNECTED",
        "address": "engine-1.localhost", "port": 443,
    }
    assert engines["engine-3"]["status"] == "DISCONNECTED"


def test_list_engines_with_trailing_slash_answers_the_same(api):
    plain = api.get(path="/api/configuration/v1/engines")
    slashed = api.get(path="/api/configuration/v1/engines/")
    assert slashed.status_code == 200
    assert json.loads(body_of(slashed)) == json.loads(body_of(plain))


def test_list_engines_without_finder_access_is_a_401(api):
    response = api.get(path="/api/configuration/v1/engines", user="viewer")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == CHALLENGE


def test_list_engines_without_credentials_is_a_401(api):
    response = api.get(path="/api/configuration/v1/engines", user=None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == CHALLENGE


def test_list_engines_with_wrong_password_is_a_401(api):
    response = api.get(path="/api/configuration/v1/engines", HTTP_AUTHORIZATION=basic("analyst", "nope"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == CHALLENGE


def test_list_engines_accepts_any_account_with_finder_access(api):
    assert api.get(path="/api/configuration/v1/engines", user="partial").status_code == 200


# -- documented clients -----------------------------------------------------------------------


def test_wget_style_url_encoded_query(api):
    response = api.raw_get("/2/query?query=(select%20(name)%20(from%20device))&format=csv")
    assert response.status_code == 200
    lines = body_of(response).decode().splitlines()
    assert lines[0] == "name"
    assert set(lines[1:]) == DEFAULT_VISIBLE


def test_python_requests_style_basic_auth_and_json(api):
    # requests' auth=(u, p) sends exactly "Basic base64(u:p)" (latin-1), params in the query string.
    token = base64.b64encode(b"analyst:s3cret-pw").decode()
    url = "/2/query?" + urlencode({"query": "(select (name) (from device))", "format": "json", "platform": "windows"})
    response = api.raw_get(url, HTTP_AUTHORIZATION=f"Basic {token}", HTTP_ACCEPT="*/*",
                           HTTP_USER_AGENT="python-requests/2.32.3")
    assert response.status_code == 200
    assert sorted(row["name"] for row in json.loads(body_of(response))) == ["alpha", "charlie", "echo"]


def test_powershell_style_form_post(api):
    body = urlencode({"query": NAMES, "format": "json", "platform": "mobile"})
    response = api.raw_post("/2/query", body, "application/x-www-form-urlencoded; charset=utf-8")
    assert response.status_code == 200
    assert json.loads(body_of(response)) == [{"name": "delta"}]


@pytest.mark.parametrize("count", ["²", "¹⁰", "①"])
def test_limit_with_a_non_ascii_digit_character_is_a_400(api, count):
    # str.isdigit() holds for superscripts and circled digits, which int() cannot read.
    assert_error_page(api.get(f"(select name (from device) (limit {count}))"), 400)


def test_limit_with_arabic_indic_digits_is_not_a_500(api):
    response = api.get("(select name (from device) (limit ٣))")
    assert response.status_code in (200, 400)


def test_query_with_more_values_than_postgresql_can_bind_is_not_a_500(api):
    # Well under the length limit: 13 200 `with` clauses, each binding five values (its window, and the
    # platforms, view domain and Engine that limit its devices): more than one PostgreSQL statement can
    # bind (65 535).
    query = "(select id (from device " + "(with execution (between now now))" * 13_200 + "))"
    response = api.post(query, user="europe", HTTP_HOST="engine-1.localhost")
    assert response.status_code in (200, 400), body_of(response)[:300]
