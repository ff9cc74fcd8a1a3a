"""The current remote-actions API (OAuth Bearer): list, details, execute; every error code, the order
of the checks, the 10,000-device execute and following a request through NXQL."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client

from engine.models import Device
from portal import oauth
from portal.models import PlatformSettings
from remote_actions.models import Execution, RemoteAction, Request
from tests.engine.nql_support import FAST_HASHERS, make_credential, token_for
from tests.factories import make_device, make_engine
from tests.remote_actions.conftest import make_action
from tests.remote_actions.test_queries import nxql

LIST = "/api/v1/act/remote-action"
DETAILS = "/api/v1/act/remote-action/details"
EXECUTE = "/api/v1/act/execute"


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def client(db) -> Client:
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def token(client) -> str:
    make_credential("ra-test", "service:integration")
    return token_for(client, "ra-test")


@pytest.fixture
def nql_token(client) -> str:
    make_credential("nql-only", "nql")
    return token_for(client, "nql-only")


@pytest.fixture
def actions(db, info_action, restart_action, power_action):
    info_action.description = "Collects device facts"
    info_action.save()
    built_in = make_action("#built_in_mac_only", windows="", origin="built_in", built_in_content_version="1.2.0",
                           purpose=["DATA_COLLECTION", "REMEDIATION"], api_enabled=False, manual_enabled=False)
    disabled = make_action("#disabled_action", enabled=False)
    return {"info": info_action, "restart": restart_action, "power": power_action, "built_in": built_in,
            "disabled": disabled}


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def get(client, path, token, **params):
    return client.get(path, params, **bearer(token))


def post(client, token, body, **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = bearer(token) if token else {}
    return client.post(EXECUTE, data, content_type="application/json", **headers, **extra)


def assert_error(response, status: int, code: str, contains: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] == code, body
    assert body["message"]
    if contains:
        assert contains in body["message"], body
    return body


def assert_401(response):
    assert response.status_code == 401, response.content
    assert response.content == b""
    assert response["WWW-Authenticate"] == "Bearer"


def uid(device: Device) -> str:
    return device.collector_uid


# -- list and details ------------------------------------------------------------------------


def test_list_shape_enabled_only_and_no_scripts(client, token, actions):
    response = get(client, LIST, token)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    listed = response.json()
    assert [item["id"] for item in listed] == ["#built_in_mac_only", "#get_device_info", "#restart_service",
                                                 "#set_power_plan"]
    info = next(item for item in listed if item["id"] == "#get_device_info")
    assert set(info) == {"id", "uuid", "name", "description", "origin", "builtInContentVersion", "purpose",
                         "targeting", "scriptInfo"}
    assert info["uuid"] == actions["info"].uid and info["description"] == "Collects device facts"
    assert info["origin"] == "custom" and info["builtInContentVersion"] is None
    assert info["purpose"] == ["DATA_COLLECTION"]
    assert info["targeting"] == {"apiEnabled": True, "manualEnabled": True, "workflowEnabled": False,
                                 "manualAllowMultipleDevices": True}
    script = info["scriptInfo"]
    assert script["runAs"] == "LOCAL_SYSTEM" and script["timeoutSeconds"] == 120
    assert script["hasScriptWindows"] is True and script["hasScriptMacOs"] is True
    assert script["inputs"] == []
    assert script["outputs"] == [
        {"id": "Uptime", "name": "Uptime", "type": "int", "description": "", "usedByWindows": True,
         "usedByMacOs": True},
        {"id": "FreeDisk", "name": "FreeDisk", "type": "bytes", "description": "", "usedByWindows": True,
         "usedByMacOs": True},
    ]
    assert "Write-Output" not in response.content.decode() and "echo 1" not in response.content.decode()
    restart = next(item for item in listed if item["id"] == "#restart_service")
    assert restart["scriptInfo"]["inputs"] == [
        {"id": "ServiceName", "name": "ServiceName", "description": "", "usedByWindows": True, "usedByMacOs": True,
         "options": ["Spooler", "wuauserv"], "allowCustomValue": True, "defaultValue": "Spooler"},
    ]
    assert restart["scriptInfo"]["hasScriptMacOs"] is False
    built_in = next(item for item in listed if item["id"] == "#built_in_mac_only")
    assert built_in["targeting"]["apiEnabled"] is False  # listed, with the flag
    assert built_in["origin"] == "built_in" and built_in["builtInContentVersion"] == "1.2.0"


@pytest.mark.parametrize(("query", "expected"), [
    ({"hasScriptWindows": "true"}, ["#get_device_info", "#restart_service", "#set_power_plan"]),
    ({"hasScriptWindows": "false"}, ["#built_in_mac_only"]),
    ({"hasScriptMacOs": "false"}, ["#restart_service"]),
    ({"hasScriptMacOs": "true", "hasScriptWindows": "true"}, ["#get_device_info", "#set_power_plan"]),
    ({"apiEnabled": "false"}, ["#built_in_mac_only"]),
    ({"apiEnabled": "true"}, ["#get_device_info", "#restart_service", "#set_power_plan"]),
    ({"manualEnabled": "false"}, ["#built_in_mac_only"]),
    ({"purpose": "REMEDIATION"}, ["#built_in_mac_only", "#restart_service"]),
    ({"purpose": "DATA_COLLECTION"}, ["#built_in_mac_only", "#get_device_info", "#set_power_plan"]),
    ({"origin": "built_in"}, ["#built_in_mac_only"]),
    ({"origin": "custom", "purpose": "REMEDIATION"}, ["#restart_service"]),
])
def test_list_filters(client, token, actions, query, expected):
    response = get(client, LIST, token, **query)
    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()] == expected


@pytest.mark.parametrize("query", [
    "?unknown=1", "?hasScriptWindows=yes", "?apiEnabled=", "?purpose=FIXING", "?origin=builtin",
    "?manualEnabled=true&manualEnabled=false", "?hasScriptMacOs=%FF",
])
def test_list_bad_parameters(client, token, actions, query):
    assert_error(client.get(LIST + query, **bearer(token)), 400, "INVALID_REQUEST")


def test_details(client, token, actions):
    response = client.get(DETAILS + "?nql-id=%23get_device_info", **bearer(token))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == "#get_device_info" and body["uuid"] == actions["info"].uid
    # an action whose API box is off is still described
    assert get(client, DETAILS, token, **{"nql-id": "#built_in_mac_only"}).json()["targeting"]["apiEnabled"] is False


def test_details_errors(client, token, actions):
    assert_error(client.get(DETAILS, **bearer(token)), 400, "INVALID_REQUEST", "nql-id")
    assert_error(client.get(DETAILS + "?nql-id=", **bearer(token)), 400, "INVALID_REQUEST")
    assert_error(get(client, DETAILS, token, **{"nql-id": "#nope"}), 404, "NOT_FOUND")
    assert_error(get(client, DETAILS, token, **{"nql-id": "#disabled_action"}), 404, "NOT_FOUND")
    assert_error(client.get(DETAILS + "?nql-id=%23a%00b", **bearer(token)), 404, "NOT_FOUND")


@pytest.mark.parametrize("path", [LIST, LIST + "/", DETAILS + "?nql-id=%23get_device_info",
                                  DETAILS + "/?nql-id=%23get_device_info"])
def test_paths_with_and_without_slash(client, token, actions, path):
    assert client.get(path, **bearer(token)).status_code == 200


# -- authentication and scope ----------------------------------------------------------------


@pytest.mark.parametrize("path", [LIST, DETAILS + "?nql-id=%23get_device_info"])
def test_get_endpoints_need_a_token_with_the_scope(client, token, nql_token, actions, path):
    assert_401(client.get(path))
    assert_401(client.get(path, HTTP_AUTHORIZATION="Bearer wrong"))
    assert_401(client.get(path, HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz"))
    assert_error(client.get(path, **bearer(nql_token)), 403, "FORBIDDEN")


def test_remote_actions_scope_is_enough(client, actions):
    make_credential("ra-only", "remote_actions")
    narrow = token_for(client, "ra-only")
    assert client.get(LIST, **bearer(narrow)).status_code == 200


def test_expired_token_is_401(client, token, actions, fleet, monkeypatch):
    later = oauth.now() + timedelta(seconds=900)
    monkeypatch.setattr(oauth, "now", lambda: later)
    assert_401(client.get(LIST, **bearer(token)))
    assert_401(post(client, token, {"remoteActionId": "#get_device_info", "devices": [uid(fleet["win"])]}))


def test_execute_401_and_403_come_before_the_body(client, token, nql_token, actions):
    assert_401(post(client, None, b"not json"))
    assert_401(post(client, "wrong-token", b"not json"))
    assert_error(post(client, nql_token, b"not json"), 403, "FORBIDDEN")
    assert_error(post(client, token, b"not json"), 400, "INVALID_REQUEST")


# -- execute -----------------------------------------------------------------------------------


def test_execute_stores_one_execution_per_device(client, token, actions, fleet):
    devices = [uid(fleet["win"]), uid(fleet["mac"]), uid(fleet["phone"]), uid(fleet["win"]).upper()]
    response = post(client, token, {
        "remoteActionId": "#get_device_info", "devices": devices, "params": {}, "expiresInMinutes": 120,
        "triggerInfo": {"externalSource": "ServiceNow", "reason": "why not", "externalReference": "INC001"},
    })
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"requestId", "expiresInMinutes"} and body["expiresInMinutes"] == 120
    request = Request.objects.get(pk=body["requestId"])
    assert request.trigger_method == "api" and request.external_source == "ServiceNow"
    assert request.external_reference == "INC001" and request.reason == "why not"
    assert request.requested_by == "ra-test"
    assert abs((request.expires_at - request.created) - timedelta(minutes=120)) < timedelta(seconds=1)
    statuses = dict(request.executions.values_list("device__name", "status"))
    assert statuses == {fleet["win"].name: "waiting_for_device", fleet["mac"].name: "waiting_for_device",
                        fleet["phone"].name: "failure"}  # duplicates ignored; no script for mobile
    # queryable by request id (NXQL)
    _, rows = nxql('(select (status) (from remote_action_execution (where remote_action_execution '
                   f'(eq request_id (string "{body["requestId"]}")))))')
    assert sorted(row[0] for row in rows) == ["failure", "waiting_for_device", "waiting_for_device"]


def test_execute_defaults_and_params(client, token, actions, fleet):
    response = post(client, token, {"remoteActionId": "#restart_service", "devices": [uid(fleet["win"])]})
    assert response.status_code == 200, response.content
    assert response.json()["expiresInMinutes"] == 60
    assert Request.objects.get(pk=response.json()["requestId"]).params == {"ServiceName": "Spooler"}
    response = post(client, token, {"remoteActionId": "#restart_service", "devices": [uid(fleet["win"])],
                                    "params": {"ServiceName": "Custom"}, "expiresInMinutes": None,
                                    "triggerInfo": None})
    assert Request.objects.get(pk=response.json()["requestId"]).params == {"ServiceName": "Custom"}


def test_execute_with_trailing_slash(client, token, actions, fleet):
    response = client.post(EXECUTE + "/", json.dumps({"remoteActionId": "#get_device_info",
                                                      "devices": [uid(fleet["win"])]}),
                           content_type="application/json", **bearer(token))
    assert response.status_code == 200, response.content


VALID = {"remoteActionId": "#get_device_info", "devices": ["00000000-0000-4000-8000-000000000001"]}


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe{}", b"", b"[1, 2]", b'"text"', b"null", b"{" * 100000 + b"}" * 100000,
    b'{"remoteActionId": "#get_device_info", "devices": ["00000000-0000-4000-8000-000000000001"], '
    b'"expiresInMinutes": NaN}',
    {**VALID, "extra": 1},
    {"devices": VALID["devices"]},
    {"remoteActionId": "#get_device_info"},
    {**VALID, "remoteActionId": 5},
    {**VALID, "remoteActionId": ""},
    {**VALID, "devices": "00000000-0000-4000-8000-000000000001"},
    {**VALID, "devices": []},
    {**VALID, "devices": [5]},
    {**VALID, "devices": ["not-a-uuid"]},
    {**VALID, "devices": ["00000000000040008000000000000001"]},
    {**VALID, "devices": [{"id": "x"}]},
    {**VALID, "params": ["a"]},
    {**VALID, "params": {"a": 1}},
    {**VALID, "params": {"a": "b\u0000"}},
    {**VALID, "expiresInMinutes": 59},
    {**VALID, "expiresInMinutes": 10081},
    {**VALID, "expiresInMinutes": "60"},
    {**VALID, "expiresInMinutes": 60.5},
    {**VALID, "expiresInMinutes": True},
    {**VALID, "triggerInfo": []},
    {**VALID, "triggerInfo": {"reason": "x" * 501}},
    {**VALID, "triggerInfo": {"reason": 5}},
    {**VALID, "triggerInfo": {"unknown": "x"}},
    {**VALID, "triggerInfo": {"externalSource": "\ud800"}},
])
def test_execute_invalid_request(client, token, actions, fleet, body):
    assert_error(post(client, token, body), 400, "INVALID_REQUEST")
    assert not Request.objects.exists()


def test_execute_reason_of_500_characters_is_accepted(client, token, actions, fleet):
    response = post(client, token, {**VALID, "triggerInfo": {"reason": "x" * 500}})
    assert response.status_code == 200, response.content


def test_huge_body_is_400_not_500(client, token, actions, fleet, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert_error(post(client, token, {**VALID, "params": {"a": "x" * 5000}}), 400, "INVALID_REQUEST")


def test_too_many_devices_counts_distinct_devices(client, token, actions, fleet):
    settings_row = PlatformSettings.load()
    settings_row.act_max_devices = 2
    settings_row.save()
    three = [str(uuid.uuid4()) for _ in range(3)]
    assert_error(post(client, token, {"remoteActionId": "#nope", "devices": three}), 400, "TOO_MANY_DEVICES")
    # duplicates ignored: two distinct devices are fine (and then the unknown action is reported)
    twice = [three[0], three[0].upper(), three[1]]
    assert_error(post(client, token, {"remoteActionId": "#nope", "devices": twice}), 404, "NOT_FOUND")


def test_not_found(client, token, actions, fleet):
    for action_id in ("#nope", "#disabled_action", "no hash", "#" + "a" * 300):
        assert_error(post(client, token, {**VALID, "remoteActionId": action_id}), 404, "NOT_FOUND")
    # a text PostgreSQL could not even store is a bad request
    assert_error(post(client, token, {**VALID, "remoteActionId": "#a\u0000"}), 400, "INVALID_REQUEST")


def test_api_not_enabled(client, token, actions, fleet):
    unknown = [str(uuid.uuid4())]  # API_NOT_ENABLED before UNKNOWN_DEVICES
    assert_error(post(client, token, {"remoteActionId": "#built_in_mac_only", "devices": unknown}), 403,
                 "API_NOT_ENABLED")


def test_unknown_devices_lists_up_to_20(client, token, actions, fleet):
    unknown = [f"00000000-0000-4000-9000-{n:012x}" for n in range(25)]
    body = assert_error(post(client, token, {**VALID, "devices": [uid(fleet["win"]), *unknown]}), 400,
                        "UNKNOWN_DEVICES")
    assert all(item in body["message"] for item in unknown[:20])
    assert not any(item in body["message"] for item in unknown[20:])
    assert "25" in body["message"] and "5 more" in body["message"]
    assert not Request.objects.exists()


def test_invalid_parameter(client, token, actions, fleet):
    device = [uid(fleet["win"])]
    assert_error(post(client, token, {"remoteActionId": "#restart_service", "devices": device,
                                      "params": {"Other": "x"}}), 400, "INVALID_PARAMETER", "Other")
    assert_error(post(client, token, {"remoteActionId": "#set_power_plan", "devices": device}), 400,
                 "INVALID_PARAMETER", "Plan")
    assert_error(post(client, token, {"remoteActionId": "#set_power_plan", "devices": device,
                                      "params": {"Plan": "turbo"}}), 400, "INVALID_PARAMETER")
    # unknown devices are reported before parameters
    assert_error(post(client, token, {"remoteActionId": "#set_power_plan", "devices": [str(uuid.uuid4())]}), 400,
                 "UNKNOWN_DEVICES")
    assert not Request.objects.exists()


def test_order_of_checks(client, token, actions, fleet):
    settings_row = PlatformSettings.load()
    settings_row.act_max_devices = 1
    settings_row.save()
    two = [str(uuid.uuid4()), str(uuid.uuid4())]
    # INVALID_REQUEST before TOO_MANY_DEVICES
    assert_error(post(client, token, {"remoteActionId": "#nope", "devices": [*two, "bad"]}), 400, "INVALID_REQUEST")
    # TOO_MANY_DEVICES before NOT_FOUND
    assert_error(post(client, token, {"remoteActionId": "#nope", "devices": two}), 400, "TOO_MANY_DEVICES")
    # NOT_FOUND before UNKNOWN_DEVICES
    assert_error(post(client, token, {"remoteActionId": "#nope", "devices": two[:1]}), 404, "NOT_FOUND")


def test_execute_only_answers_post(client, token, actions):
    assert_error(client.get(EXECUTE, **bearer(token)), 405, "METHOD_NOT_ALLOWED")
    assert_error(client.post(LIST, "{}", content_type="application/json", **bearer(token)), 405,
                 "METHOD_NOT_ALLOWED")


def test_execute_10000_devices(client, token, actions):
    engine = make_engine("bulk")
    entity = make_device(1, engine=engine).entity
    Device.objects.bulk_create(
        Device(name=f"BULK-{n:05d}", device_uid=f"{n:032x}", collector_uid=f"00000000-0000-4000-a000-{n:012x}",
               engine=engine, entity=entity, platform="windows" if n % 2 else "mac_os", device_type="laptop")
        for n in range(2, 10002)
    )
    devices = [f"00000000-0000-4000-a000-{n:012x}" for n in range(2, 10002)]
    body = json.dumps({"remoteActionId": "#get_device_info", "devices": devices})
    response = post(client, token, body)  # its speed is measured by bench/remote_actions_bench.py
    assert response.status_code == 200, response.content[:500]
    request_id = response.json()["requestId"]
    assert Execution.objects.filter(request_id=request_id).count() == 10000
    _, rows = nxql('(select (status) (from remote_action_execution (where remote_action_execution '
                   f'(eq request_id (string "{request_id}")))))')
    assert len(rows) == 10000
    assert RemoteAction.objects.get(nql_id="#get_device_info").requests.count() == 1
