"""Each declared output of an execution is a field of its own: NXQL and NQL `outputs.<Name>`."""

import pytest

from engine import services
from engine.query import plan as p
from remote_actions.models import Execution
from tests.factories import make_device


@pytest.fixture
def executions(db, restart_action):
    from remote_actions import services as actions

    devices = [make_device(number) for number in range(2)]
    request = actions.create_request(restart_action, devices, {"ServiceName": "Spooler"}, "api", 60, {})
    first, second = Execution.objects.filter(request=request).order_by("device__name")
    first.outputs, first.outputs_text = {"Uptime": 42, "Note": "it's \"fine\""}, '{"Uptime": 42}'
    first.save()
    return request, first, second


def rows(result):
    return sorted(result.rows, key=lambda row: str(row))


def test_nxql_reads_an_output_by_name(executions):
    request, _first, _second = executions
    plan = services.compile_nxql_text(
        f'(select (outputs.Uptime outputs.Note) (from remote_action_execution (where remote_action_execution '
        f'(eq request_id (string "{request.id}")))))',
        visibility=p.Visibility(),
    )
    result = services.execute(plan)
    assert [c.name for c in result.columns] == ["outputs.Uptime", "outputs.Note"]
    assert rows(result) == sorted([("42", 'it\'s "fine"'), (None, None)], key=str)


def test_nql_filters_and_lists_an_output(executions):
    request, _first, _second = executions
    prepared = services.prepare_nql(
        f'remote_action.executions during past 1d | where request_id == "{request.id}" and outputs.Uptime == "42" '
        f"| list outputs.Uptime, device.name"
    )
    result = services.execute(prepared.plan)
    assert [c.name for c in result.columns] == ["remote_action.execution.outputs.Uptime", "device.name"]
    assert list(result.rows) == [("42", "DEV-00000")]
