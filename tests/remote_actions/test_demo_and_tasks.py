"""The demo seeder (six actions, enrolled fleet), the simulated fleet and the Celery schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.test import Client
from django_celery_beat.models import PeriodicTask

from engine.models import Device, Engine
from portal import demo
from remote_actions import demo as ra_demo
from remote_actions import services, simulator, tasks
from remote_actions.models import DeviceEnrollment, Execution, RemoteAction

END = datetime(2024, 5, 15, 12, tzinfo=UTC)
S = Execution.Status


@pytest.fixture
def demo_ctx(db):
    ctx = demo.DemoContext(seed=5, devices=30, days=1, end=END, password="pw-12345678")
    with transaction.atomic():
        demo.run(ctx)
    return ctx


def test_the_six_demo_actions(demo_ctx):
    assert "remote_actions.demo.seed" in demo.SEEDERS
    actions = {a.nql_id: a for a in RemoteAction.objects.prefetch_related("inputs", "outputs")}
    assert sorted(actions) == sorted(["#get_device_info", "#restart_service", "#set_power_plan",
                                      "#clear_teams_cache", "#collect_logs", "#legacy_cleanup"])
    flags = {k: (a.enabled, a.api_enabled, a.manual_enabled, a.has_script_windows, a.has_script_macos)
             for k, a in actions.items()}
    assert flags["#get_device_info"] == (True, True, True, True, True)
    assert flags["#restart_service"] == (True, True, True, True, False)
    assert flags["#set_power_plan"] == (True, True, True, True, True)
    assert flags["#clear_teams_cache"][:3] == (True, False, True)
    assert flags["#collect_logs"][:3] == (True, True, False)
    assert flags["#legacy_cleanup"][0] is False
    assert [(o.name, o.type) for o in actions["#get_device_info"].outputs.all()] == [
        ("Uptime", "int"), ("FreeDisk", "bytes")]
    [service] = actions["#restart_service"].inputs.all()
    assert (service.name, service.options, service.allow_custom_value, service.default_value) == (
        "ServiceName", ["Spooler", "wuauserv"], True, "Spooler")
    [plan] = actions["#set_power_plan"].inputs.all()
    assert (plan.name, plan.options, plan.allow_custom_value, plan.default_value) == (
        "Plan", ["balanced", "high_performance"], False, None)


def test_devices_on_connected_engines_are_enrolled_with_hashed_deterministic_keys(demo_ctx):
    connected = Device.objects.filter(engine__status=Engine.Status.CONNECTED)
    assert DeviceEnrollment.objects.count() == connected.count() == Device.objects.count()
    device = connected.first()
    key = ra_demo.node_key(demo_ctx, device.pk)
    assert services.device_for_node(key) == device
    assert not DeviceEnrollment.objects.filter(node_key_hash=key).exists()
    # the enroll secret of the demo works on the channel
    response = Client().post("/api/collector/v1/enroll", {
        "enrollSecret": ra_demo.enroll_secret(demo_ctx), "collectorUid": device.collector_uid,
    }, content_type="application/json")
    assert response.status_code == 200


def test_the_simulated_fleet_answers_every_execution_within_30_seconds(demo_ctx):
    action = RemoteAction.objects.get(nql_id="#get_device_info")
    devices = list(Device.objects.all())
    now = datetime.now(UTC)
    request = services.create_request(action, devices, now=now)
    supported = request.executions.exclude(status=S.FAILURE).count()
    assert simulator.run_once(now + timedelta(seconds=10))["polled"] == supported
    for tick in range(2, 5):  # ticks every 10 s: everything answered by 30 s after the poll
        simulator.run_once(now + timedelta(seconds=10 * tick))
    assert not request.executions.filter(status__in=Execution.PENDING).exists()
    answered = request.executions.filter(status=S.SUCCESS)
    assert answered.exists()
    for execution in answered:
        assert set(execution.outputs) == {"Uptime", "FreeDisk"}
        assert execution.time - execution.fetched_at <= timedelta(seconds=30)


def test_devices_of_disconnected_engines_are_not_simulated(demo_ctx):
    action = RemoteAction.objects.get(nql_id="#get_device_info")
    device = Device.objects.filter(platform="windows").first()
    Engine.objects.filter(pk=device.engine_id).update(status=Engine.Status.DISCONNECTED)
    request = services.create_request(action, [device])
    assert simulator.run_once()["polled"] == 0
    assert request.executions.get().status == S.WAITING_FOR_DEVICE


def test_periodic_tasks_are_scheduled_and_run(fleet, info_action):
    tasks_by_name = {t.task: t for t in PeriodicTask.objects.select_related("interval")}
    expiry = tasks_by_name["remote_actions.expire_overdue"].interval
    fleet_task = tasks_by_name["remote_actions.simulate_fleet"].interval
    assert (expiry.every, expiry.period) == (1, "minutes")
    assert (fleet_task.every, fleet_task.period) == (10, "seconds")
    services.create_request(info_action, [fleet["win"]], now=datetime.now(UTC) - timedelta(hours=2))
    assert tasks.expire_overdue.apply().get() == {"expired": 1, "timed_out": 0}
    assert tasks.simulate_fleet.apply().get() == {"polled": 0, "answered": 0}
