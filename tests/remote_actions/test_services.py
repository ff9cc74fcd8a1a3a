"""Life-cycle services: request creation, parameters, polling, results, expiry, cancelling."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from engine.models import Device
from remote_actions import services
from remote_actions.models import DeviceEnrollment, Execution, Request, TriggerMethod
from tests.factories import make_engine

S = Execution.Status


def statuses(request: Request) -> dict[str, tuple[str, str]]:
    return {e.device.name: (e.status, e.status_details) for e in request.executions.select_related("device")}


def test_create_request_stores_one_execution_per_device_and_fails_unsupported_platforms(fleet, restart_action):
    info = services.TriggerInfo(external_source="ServiceNow", external_reference="INC001", reason="INC001")
    request = services.create_request(restart_action, [fleet["win"], fleet["mac"], fleet["win"]], {},
                                      TriggerMethod.API, 120, info)
    assert request.params == {"ServiceName": "Spooler"}
    assert request.expires_at - request.created == timedelta(minutes=120)
    assert statuses(request) == {
        "DEV-00001": (S.WAITING_FOR_DEVICE, ""),
        "DEV-00002": (S.FAILURE, "unsupported_platform"),
    }
    execution = request.executions.first()
    assert execution.request_uid == str(request.pk)
    assert (execution.trigger_method, execution.external_source, execution.external_reference) == (
        "api", "ServiceNow", "INC001")
    assert execution.remote_action_id == restart_action.pk


@pytest.mark.parametrize(("params", "message"), [
    ({"Other": "x"}, "unknown input"),
    ({"Plan": "turbo"}, "not one of"),
    ({}, "required"),
])
def test_invalid_parameters(fleet, power_action, params, message):
    with pytest.raises(services.InvalidParameter) as raised:
        services.create_request(power_action, [fleet["win"]], params)
    assert raised.value.code == "INVALID_PARAMETER"
    assert message in raised.value.message
    assert not Request.objects.exists()


def test_custom_values_are_accepted_when_allowed(fleet, restart_action):
    request = services.create_request(restart_action, [fleet["win"]], {"ServiceName": "BITS"})
    assert request.params == {"ServiceName": "BITS"}


@pytest.mark.parametrize("minutes", [59, 10081])
def test_expiry_out_of_range_is_refused(fleet, info_action, minutes):
    with pytest.raises(services.RemoteActionError) as raised:
        services.create_request(info_action, [fleet["win"]], expires_in_minutes=minutes)
    assert raised.value.code == "INVALID_REQUEST"


def test_poll_marks_in_progress_and_returns_the_platform_script(fleet, enrolled, info_action):
    request = services.create_request(info_action, [fleet["win"], fleet["mac"]], trigger_method="manual")
    [item] = services.poll(enrolled["mac"])
    assert item["script"] == "echo 1" and item["language"] == "bash"
    assert item["remoteActionId"] == "#get_device_info" and item["timeoutSeconds"] == 120
    execution = Execution.objects.get(pk=item["executionId"])
    assert execution.status == S.IN_PROGRESS and execution.fetched_at is not None
    assert services.poll(enrolled["mac"]) == []
    [item] = services.poll(enrolled["win"])
    assert item["language"] == "powershell"
    assert set(statuses(request).values()) == {(S.IN_PROGRESS, "")}


def test_report_result_checks_outputs_device_and_state(fleet, enrolled, info_action):
    services.create_request(info_action, [fleet["win"]])
    [item] = services.poll(enrolled["win"])
    with pytest.raises(services.NotFound):
        services.report_result(enrolled["win2"], item["executionId"], "success", {})
    with pytest.raises(services.RemoteActionError, match="undeclared"):
        services.report_result(enrolled["win"], item["executionId"], "success", {"Nope": 1})
    with pytest.raises(services.RemoteActionError, match="Uptime"):
        services.report_result(enrolled["win"], item["executionId"], "success", {"Uptime": "long"})
    execution = services.report_result(enrolled["win"], item["executionId"], "success",
                                       {"Uptime": 3600, "FreeDisk": 10 * 1024**3}, "ok")
    assert execution.status == S.SUCCESS and execution.outputs["Uptime"] == 3600
    assert execution.outputs_text == '{"FreeDisk": 10737418240, "Uptime": 3600}'
    with pytest.raises(services.Conflict):
        services.report_result(enrolled["win"], item["executionId"], "failure", {})


def test_unknown_and_revoked_node_keys(fleet, enrolled):
    with pytest.raises(services.InvalidNode):
        services.poll("nope")
    DeviceEnrollment.objects.filter(device=fleet["win"]).update(revoked=True)
    with pytest.raises(services.InvalidNode):
        services.poll(enrolled["win"])
    assert DeviceEnrollment.objects.get(device=fleet["mac"]).node_key_hash == services.hash_node_key(enrolled["mac"])


def test_expire_overdue_with_a_given_now(fleet, enrolled, info_action):
    now = timezone.now()
    request = services.create_request(info_action, [fleet["win"], fleet["mac"], fleet["win2"]], now=now)
    [fetched] = services.poll(enrolled["win"], now=now + timedelta(minutes=1))
    services.poll(enrolled["win2"], now=now + timedelta(minutes=1))
    services.report_result(enrolled["win2"], (services.poll(enrolled["win2"]) and 0) or
                           Execution.objects.get(device=fleet["win2"]).pk, "success", {})
    assert services.expire_overdue(now + timedelta(minutes=2)) == {"expired": 0, "timed_out": 0}
    # in progress since now+1 min, timeout 120 s
    assert services.expire_overdue(now + timedelta(minutes=3)) == {"expired": 0, "timed_out": 1}
    assert services.expire_overdue(now + timedelta(minutes=60)) == {"expired": 1, "timed_out": 0}
    assert statuses(request) == {
        "DEV-00001": (S.FAILURE, "timeout"), "DEV-00002": (S.EXPIRED, "expired"), "DEV-00004": (S.SUCCESS, ""),
    }
    assert fetched["executionId"] == Execution.objects.get(device=fleet["win"]).pk
    # an expired execution is not fetched any more and cannot be answered
    assert services.poll(enrolled["mac"]) == []


def test_cancel_only_touches_pending_executions(fleet, enrolled, info_action):
    request = services.create_request(info_action, [fleet["win"], fleet["mac"], fleet["phone"]])
    assert services.cancel(request.executions.all()) == 2
    assert sorted(s for s, _ in statuses(request).values()) == [S.CANCELLED, S.CANCELLED, S.FAILURE]
    assert services.poll(enrolled["win"]) == []


@pytest.mark.django_db
def test_ten_thousand_devices_in_one_request(info_action, capsys):
    engine = make_engine("engine-big")
    from portal.models import Entity

    entity = Entity.objects.get_or_create(name="Lausanne")[0]
    Device.objects.bulk_create(
        Device(name=f"BIG-{n}", device_uid=f"{n + 10**6:032x}", collector_uid=f"00000000-0000-4000-9000-{n:012x}",
               engine=engine, entity=entity, platform="windows" if n % 4 else "mac_os", device_type="laptop")
        for n in range(10_000)
    )
    pairs = list(Device.objects.filter(engine=engine).values_list("pk", "platform"))
    started = time.perf_counter()
    request = services.create_request(info_action, pairs)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n10,000-device request stored in {elapsed * 1000:.0f} ms")
    assert request.executions.count() == 10_000
