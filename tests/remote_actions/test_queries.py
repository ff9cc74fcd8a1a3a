"""Executions are queryable: NXQL ``remote_action_execution``, NQL ``remote_action.executions``."""

from __future__ import annotations

from engine import services as engine_services
from engine.query import plan as p
from remote_actions import services
from remote_actions.models import Execution


def nxql(text: str) -> tuple[list[str], list[tuple]]:
    plan = engine_services.compile_nxql_text(text, visibility=p.Visibility())
    result = engine_services.execute(plan)
    return [c.name for c in result.columns], list(result.rows)


def nql(text: str) -> tuple[list[str], list[tuple]]:
    prepared = engine_services.prepare_nql(text, visibility=p.Visibility())
    result = engine_services.execute(prepared.plan)
    return [c.name for c in result.columns], list(result.rows)


def make_requests(fleet, enrolled, info_action, restart_action):
    first = services.create_request(info_action, [fleet["win"], fleet["phone"]],
                                    trigger_info=services.TriggerInfo(external_source="ServiceNow",
                                                                      external_reference="INC42"))
    [item] = services.poll(enrolled["win"])
    services.report_result(enrolled["win"], item["executionId"], "success", {"Uptime": 5, "FreeDisk": 7})
    second = services.create_request(restart_action, [fleet["win2"]], trigger_method="manual")
    return first, second


def test_nxql_select_status_and_request_id(fleet, enrolled, info_action, restart_action):
    first, second = make_requests(fleet, enrolled, info_action, restart_action)
    names, rows = nxql("(select (status request_id) (from remote_action_execution))")
    assert names == ["status", "request_id"]
    assert sorted(rows) == sorted([
        ("success", str(first.pk)), ("failure", str(first.pk)), ("waiting_for_device", str(second.pk)),
    ])
    _, rows = nxql(f'(select (status trigger_method) (from remote_action_execution '
                   f'(where remote_action_execution (eq request_id (string "{second.pk}")))))')
    assert rows == [("waiting_for_device", "manual")]


def test_nql_list_status_with_request_id_filter(fleet, enrolled, info_action, restart_action):
    first, _second = make_requests(fleet, enrolled, info_action, restart_action)
    names, rows = nql("remote_action.executions | list status")
    assert names == ["remote_action.execution.status"]
    assert sorted(r[0] for r in rows) == ["failure", "success", "waiting_for_device"]
    _, rows = nql(f'remote_action.executions | where request_id == "{first.pk}" '
                  "| list device.name, status, status_details, outputs, remote_action.nql_id, external_reference "
                  "| sort device.name asc")
    assert rows == [
        ("DEV-00001", "success", None, '{"FreeDisk": 7, "Uptime": 5}', "#get_device_info", "INC42"),
        ("DEV-00003", "failure", "unsupported_platform", None, "#get_device_info", "INC42"),
    ]


def test_remote_actions_object_table(fleet, info_action, restart_action):
    _names, rows = nql("remote_actions | list nql_id, name, purpose | sort nql_id asc")
    assert rows == [("#get_device_info", "get_device_info", "DATA_COLLECTION"),
                    ("#restart_service", "restart_service", "REMEDIATION")]
    _, rows = nxql("(select (nql_id uid) (from remote_action))")
    assert {r[1] for r in rows} == {info_action.uid, restart_action.uid}
    assert Execution.objects.count() == 0
