"""The ``nexthink-api`` PyPI client (0.1.x) against the live test server: remote actions.

The client's remote-actions methods are ``client.remote_actions.list()`` (``GET
/api/v1/act/remote-action``), ``.get(nql_id)`` (``GET /api/v1/act/remote-action/details?nql-id=``)
and ``.execute(NxtRemoteActionExecutionRequest)`` (``POST /api/v1/act/execute``); it parses the
answers into ``NxtRemoteAction`` / ``NxtRemoteActionExecutionResponse`` /
``NxtRemoteActionErrorResponse``. See ``tests/engine/test_nexthink_api_client.py`` for pointing it
at the live server.
"""

from __future__ import annotations

import pytest

from remote_actions.models import Execution, Request
from tests.engine.nql_support import SECRET, make_credential
from tests.remote_actions.conftest import make_action
from tests.remote_actions.test_queries import nxql

nexthink_api = pytest.importorskip("nexthink_api")

from nexthink_api import NexthinkClient, NxtRegionName, NxtSettings  # noqa: E402
from nexthink_api.RemoteActions import (  # noqa: E402
    NxtRemoteAction,
    NxtRemoteActionErrorResponse,
    NxtRemoteActionExecutionRequest,
    NxtRemoteActionExecutionResponse,
    NxtRemoteActionTriggerInfoRequest,
)


@pytest.fixture
def nexthink(live_server, monkeypatch, settings, fleet) -> NexthinkClient:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setattr(NxtSettings, "base_url", live_server.url)
    monkeypatch.setattr(NxtSettings, "login_base_url", live_server.url)
    service = ("ServiceName", ("Spooler", "wuauserv"), True, "Spooler")
    make_action(outputs=(("Uptime", "int"),), description="Collects device facts")
    make_action("#restart_service", macos="", inputs=(service,), purpose=["REMEDIATION"])
    make_action("#disabled_action", enabled=False)
    make_credential("nexthink-client", "service:integration")
    return NexthinkClient(instance="opendex", region=NxtRegionName.eu, client_id="nexthink-client",
                          client_secret=SECRET, proxies=False)


@pytest.mark.django_db(transaction=True)
def test_list_details_and_execute_through_the_client(nexthink, fleet):
    listed = nexthink.remote_actions.list()
    assert isinstance(listed, list) and all(isinstance(item, NxtRemoteAction) for item in listed), listed
    assert [item.id for item in listed] == ["#get_device_info", "#restart_service"]
    restart = listed[1]
    assert restart.targeting.apiEnabled is True
    assert restart.scriptInfo.hasScriptWindows is True and restart.scriptInfo.hasScriptMacOs is False
    assert [item.id for item in restart.scriptInfo.inputs] == ["ServiceName"]
    assert restart.scriptInfo.inputs[0].options == ["Spooler", "wuauserv"]

    details = nexthink.remote_actions.get("#get_device_info")
    assert isinstance(details, NxtRemoteAction), details
    assert details.description == "Collects device facts"
    assert [(item.id, item.type) for item in details.scriptInfo.outputs] == [("Uptime", "int")]

    missing = nexthink.remote_actions.get("#disabled_action")
    assert isinstance(missing, NxtRemoteActionErrorResponse) and missing.code == "NOT_FOUND", missing

    request = NxtRemoteActionExecutionRequest(
        remoteActionId="#restart_service",
        devices=[fleet["win"].collector_uid, fleet["win2"].collector_uid],
        params={"ServiceName": "wuauserv"}, expiresInMinutes=90,
        triggerInfo=NxtRemoteActionTriggerInfoRequest(externalSource="ServiceNow", reason="INC001",
                                                      externalReference="INC001"),
    )
    started = nexthink.remote_actions.execute(request)
    assert isinstance(started, NxtRemoteActionExecutionResponse), started
    assert started.expiresInMinutes == 90
    stored = Request.objects.get(pk=started.requestId)
    assert stored.params == {"ServiceName": "wuauserv"} and stored.external_source == "ServiceNow"
    assert Execution.objects.filter(request=stored).count() == 2
    _, rows = nxql('(select (status) (from remote_action_execution (where remote_action_execution '
                   f'(eq request_id (string "{started.requestId}")))))')
    assert [row[0] for row in rows] == ["waiting_for_device", "waiting_for_device"]

    refused = nexthink.remote_actions.execute(NxtRemoteActionExecutionRequest(
        remoteActionId="#restart_service", devices=["00000000-0000-4000-9000-000000000099"]))
    assert isinstance(refused, NxtRemoteActionErrorResponse) and refused.code == "UNKNOWN_DEVICES", refused
