"""The device channel end to end with Django's test client (``remote-actions.md``, "Device channel")."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from remote_actions import services
from remote_actions.models import DeviceEnrollment, Execution
from tests.remote_actions.conftest import SECRET

S = Execution.Status


def post(client: Client, path: str, body, raw: bool = False):
    data = body if raw else json.dumps(body)
    return client.post(path, data, content_type="application/json")


def enroll(client, device, secret=SECRET):
    return post(client, "/api/collector/v1/enroll", {
        "enrollSecret": secret, "collectorUid": device.collector_uid, "deviceUid": device.device_uid,
        "name": device.name, "platform": device.platform, "osVersion": "11",
    })


def test_life_cycle_through_the_channel(client, fleet, info_action):
    response = enroll(client, fleet["win"])
    assert response.status_code == 200
    node_key = response.json()["nodeKey"]
    assert DeviceEnrollment.objects.get(device=fleet["win"]).node_key_hash == services.hash_node_key(node_key)
    assert node_key not in DeviceEnrollment.objects.get(device=fleet["win"]).node_key_hash

    request = services.create_request(info_action, [fleet["win"]])
    response = post(client, "/api/collector/v1/actions/poll", {"nodeKey": node_key})
    assert response.status_code == 200
    [item] = response.json()["executions"]
    assert set(item) == {"executionId", "remoteActionId", "script", "language", "params", "timeoutSeconds"}
    assert item["script"] == "Write-Output 1"
    execution_id = item["executionId"]
    assert Execution.objects.get(pk=execution_id).status == S.IN_PROGRESS

    path = f"/api/collector/v1/actions/{execution_id}/result"
    body = {"nodeKey": node_key, "status": "success", "outputs": {"Uptime": 12, "FreeDisk": 1024},
            "statusDetails": "done"}
    response = post(client, path, body)
    assert response.status_code == 200, response.content
    assert response.json() == {"executionId": execution_id, "status": "success"}
    execution = request.executions.get()
    assert (execution.status, execution.status_details, execution.outputs) == (
        S.SUCCESS, "done", {"Uptime": 12, "FreeDisk": 1024})
    assert post(client, path, body).status_code == 409
    assert post(client, path, body).json()["code"] == "CONFLICT"


def test_wrong_secret_unknown_device_and_no_secret(client, fleet):
    assert enroll(client, fleet["win"], secret="wrong").status_code == 401
    from portal.models import PlatformSettings

    PlatformSettings.objects.update(enroll_secret="")
    assert enroll(client, fleet["win"], secret="").status_code == 401


def test_results_of_other_devices_are_not_found(client, fleet, enrolled, info_action):
    services.create_request(info_action, [fleet["win"]])
    [item] = services.poll(enrolled["win"])
    for execution_id in (item["executionId"], 999999, "abc"):
        response = post(client, f"/api/collector/v1/actions/{execution_id}/result",
                        {"nodeKey": enrolled["win2"], "status": "success"})
        assert response.status_code == 404, execution_id
        assert response.json()["code"] == "NOT_FOUND"


def test_unknown_or_revoked_node_key_is_401_node_invalid(client, fleet, enrolled):
    response = post(client, "/api/collector/v1/actions/poll", {"nodeKey": "unknown"})
    assert (response.status_code, response.json()) == (401, {"node_invalid": True})
    DeviceEnrollment.objects.filter(device=fleet["win"]).update(revoked=True)
    response = post(client, "/api/collector/v1/actions/poll", {"nodeKey": enrolled["win"]})
    assert (response.status_code, response.json()) == (401, {"node_invalid": True})
    response = post(client, "/api/collector/v1/actions/1/result", {"nodeKey": "unknown", "status": "success"})
    assert (response.status_code, response.json()) == (401, {"node_invalid": True})


@pytest.mark.parametrize(("path", "body"), [
    ("/api/collector/v1/actions/poll", "not json"),
    ("/api/collector/v1/actions/poll", "[1]"),
    ("/api/collector/v1/actions/poll", b"\xff\xfe"),
    ("/api/collector/v1/actions/poll", '{"nodeKey": 3}'),
    ("/api/collector/v1/actions/poll", '{"nodeKey": "x", "extra": 1}'),
    ("/api/collector/v1/actions/poll", "{}"),
    ("/api/collector/v1/enroll", '{"enrollSecret": 1, "collectorUid": "x"}'),
    ("/api/collector/v1/actions/1/result", '{"nodeKey": "k", "status": "success", "outputs": []}'),
    ("/api/collector/v1/actions/1/result", '{"nodeKey": "k"}'),
])
def test_bad_bodies_are_400_with_a_json_error(client, fleet, path, body):
    response = post(client, path, body, raw=True)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "INVALID_REQUEST" and payload["message"] and "errors" in payload


def test_bad_status_and_outputs_are_400(client, fleet, enrolled, info_action):
    services.create_request(info_action, [fleet["win"]])
    [item] = services.poll(enrolled["win"])
    path = f"/api/collector/v1/actions/{item['executionId']}/result"
    for body in ({"nodeKey": enrolled["win"], "status": "pending"},
                 {"nodeKey": enrolled["win"], "status": "success", "outputs": {"Uptime": "x"}},
                 {"nodeKey": enrolled["win"], "status": "success", "outputs": {"Unknown": 1}}):
        response = post(client, path, body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "INVALID_REQUEST"


def test_get_is_not_allowed(client, fleet):
    assert client.get("/api/collector/v1/actions/poll").status_code == 405


def test_enroll_of_an_unknown_device_is_404_and_re_enrolling_replaces_the_key(client, fleet):
    response = post(client, "/api/collector/v1/enroll", {"enrollSecret": SECRET, "collectorUid": "nope"})
    assert response.status_code == 404
    first = enroll(client, fleet["mac"]).json()["nodeKey"]
    second = enroll(client, fleet["mac"]).json()["nodeKey"]
    assert first != second
    assert post(client, "/api/collector/v1/actions/poll", {"nodeKey": first}).status_code == 401
    assert post(client, "/api/collector/v1/actions/poll", {"nodeKey": second}).json() == {"executions": []}
