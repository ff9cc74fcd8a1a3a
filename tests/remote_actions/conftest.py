"""Fixtures of the remote-action tests: a small fleet and the demo-like actions."""

from __future__ import annotations

import pytest

from engine.models import Engine
from portal.models import PlatformSettings
from remote_actions import services
from remote_actions.models import RemoteAction, RemoteActionInput, RemoteActionOutput
from tests.factories import make_device, make_engine

SECRET = "enroll-secret-for-tests"


def make_action(nql_id="#get_device_info", *, windows="Write-Output 1", macos="echo 1", inputs=(), outputs=(),
                **fields) -> RemoteAction:
    defaults = {"name": nql_id.lstrip("#"), "api_enabled": True, "manual_enabled": True,
                "purpose": ["DATA_COLLECTION"], "timeout_seconds": 120,
                "manual_allow_multiple_devices": True}
    defaults.update(fields)
    action = RemoteAction.objects.create(nql_id=nql_id, windows_script=windows, macos_script=macos, **defaults)
    for name, options, custom, default in inputs:
        RemoteActionInput.objects.create(remote_action=action, name=name, options=list(options),
                                         allow_custom_value=custom, default_value=default)
    for name, kind in outputs:
        RemoteActionOutput.objects.create(remote_action=action, name=name, type=kind)
    return action


@pytest.fixture
def fleet(db):
    engine = make_engine("engine-1")
    offline = make_engine("engine-3", status=Engine.Status.DISCONNECTED)
    devices = {
        "win": make_device(1, engine=engine, platform="windows"),
        "mac": make_device(2, engine=engine, platform="mac_os", device_type="laptop"),
        "phone": make_device(3, engine=engine, platform="mobile", device_type="smartphone"),
        "win2": make_device(4, engine=engine, platform="windows"),
        "offline": make_device(5, engine=offline, platform="windows"),
    }
    settings_row = PlatformSettings.load()
    settings_row.enroll_secret = SECRET
    settings_row.save()
    return devices


@pytest.fixture
def info_action(db):
    return make_action(outputs=(("Uptime", "int"), ("FreeDisk", "bytes")))


@pytest.fixture
def restart_action(db):
    service = ("ServiceName", ("Spooler", "wuauserv"), True, "Spooler")
    return make_action("#restart_service", macos="", inputs=(service,), purpose=["REMEDIATION"])


@pytest.fixture
def power_action(db):
    return make_action("#set_power_plan", inputs=(("Plan", ("balanced", "high_performance"), False, None),))


@pytest.fixture
def enrolled(fleet):
    """Node keys of every device of the fleet, enrolled through the service."""
    return {name: services.enroll_device(device) for name, device in fleet.items()}
