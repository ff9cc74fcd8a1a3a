"""The remote-action pages of the portal: list with copy button, "Run on devices…", cancel."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import Account
from remote_actions import services
from remote_actions.models import Execution, RemoteAction, Request


@pytest.fixture
def root(make_account) -> Client:
    account = make_account("root", administration=True)
    Account.objects.filter(pk=account.pk).update(is_superuser=True, is_staff=True)
    account.refresh_from_db()
    client = Client()
    client.force_login(account)
    return client


def test_pages_answer(root, fleet, enrolled, info_action, restart_action):
    services.create_request(info_action, [fleet["win"], fleet["phone"]])
    listing = root.get(reverse("admin:remote_actions_remoteaction_changelist"))
    assert listing.status_code == 200
    assert b"#get_device_info" in listing.content and b"navigator.clipboard.writeText" in listing.content
    for name, queries in (("remoteaction", ("?enabled__exact=1",)),
                          ("request", ("?trigger_method__exact=api", f"?remote_action__id__exact={info_action.pk}")),
                          ("execution", ("?status__exact=failure", "?trigger_method__exact=api", "?q=DEV")),
                          ("deviceenrollment", ("?revoked__exact=0", "?q=DEV"))):
        url = reverse(f"admin:remote_actions_{name}_changelist")
        assert root.get(url).status_code == 200
        for query in queries:
            assert root.get(url + query).status_code == 200, (name, query)
    executions = root.get(reverse("admin:remote_actions_execution_changelist") + "?status__exact=failure")
    assert b"unsupported_platform" in executions.content
    change = root.get(reverse("admin:remote_actions_remoteaction_change", args=[restart_action.pk]))
    assert change.status_code == 200
    for text in (b"Targeting", b"Script", b"ServiceName", b"DATA_COLLECTION"):
        assert text in change.content
    assert root.get(reverse("admin:remote_actions_remoteaction_add")).status_code == 200


def test_run_on_devices_creates_a_manual_request(root, fleet, restart_action):
    url = reverse("admin:remote_actions_remoteaction_changelist")
    form = root.post(url, {"action": "run_on_devices", "_selected_action": [restart_action.pk]})
    assert form.status_code == 200 and b"ServiceName" in form.content
    response = root.post(url, {
        "action": "run_on_devices", "_selected_action": [restart_action.pk], "apply": "Run",
        "devices": f"DEV-00001\n{fleet['win2'].collector_uid}", "params": "ServiceName=wuauserv",
        "expires_in_minutes": 90, "reason": "slow printing",
    })
    assert response.status_code == 302
    request = Request.objects.get()
    assert (request.trigger_method, request.params, request.reason, request.requested_by) == (
        "manual", {"ServiceName": "wuauserv"}, "slow printing", "root")
    assert request.executions.count() == 2
    # invalid input and unknown devices are shown on the form
    response = root.post(url, {
        "action": "run_on_devices", "_selected_action": [restart_action.pk], "apply": "Run",
        "devices": "NOPE", "params": "", "expires_in_minutes": 60,
    })
    assert response.status_code == 200 and b"Unknown devices: NOPE" in response.content
    assert Request.objects.count() == 1


def test_run_is_refused_for_actions_not_enabled_for_manual_runs(root, fleet):
    from tests.remote_actions.conftest import make_action

    action = make_action("#api_only", manual_enabled=False)
    url = reverse("admin:remote_actions_remoteaction_changelist")
    response = root.post(url, {"action": "run_on_devices", "_selected_action": [action.pk]}, follow=True)
    assert b"not enabled for manual runs" in response.content


def test_cancel_pending_executions(root, fleet, info_action):
    request = services.create_request(info_action, [fleet["win"], fleet["phone"]])
    url = reverse("admin:remote_actions_execution_changelist")
    ids = list(request.executions.values_list("pk", flat=True))
    response = root.post(url, {"action": "cancel_pending", "_selected_action": ids})
    assert response.status_code == 302
    assert sorted(request.executions.values_list("status", flat=True)) == ["cancelled", "failure"]
    assert RemoteAction.objects.count() == 1 and Execution.objects.count() == 2


def test_saving_an_action_in_the_admin(root, db):
    response = root.post(reverse("admin:remote_actions_remoteaction_add"), {
        "name": "Ping", "nql_id": "#ping", "description": "", "origin": "custom", "built_in_content_version": "",
        "purpose": ["DATA_COLLECTION", "REMEDIATION"], "enabled": "on", "api_enabled": "on",
        "run_as": "LOCAL_SYSTEM", "execution_service_delegate": "", "timeout_seconds": 60,
        "windows_script": "ping 1.1.1.1", "macos_script": "",
        "inputs-TOTAL_FORMS": 0, "inputs-INITIAL_FORMS": 0, "outputs-TOTAL_FORMS": 0, "outputs-INITIAL_FORMS": 0,
    })
    assert response.status_code == 302, response.content[:3000]
    action = RemoteAction.objects.get(nql_id="#ping")
    assert action.purpose == ["DATA_COLLECTION", "REMEDIATION"]
    assert action.purpose_text == "DATA_COLLECTION, REMEDIATION"
    bad = root.post(reverse("admin:remote_actions_remoteaction_add"), {"name": "x", "nql_id": "#Bad-Id"})
    assert bad.status_code == 200
