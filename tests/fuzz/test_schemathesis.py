"""Schemathesis against ``/api/schema/``: every operation of the document, in process (the Django WSGI
application, through schemathesis' WSGI transport), authenticated as each demo account, each demo OAuth
client, the portal session, wrong and missing credentials (the identity with every right half of the
time, so that cases reach past 401/403).

Each answer passes ``tests.fuzz.harness.assert_answer``: no 5xx, a documented status, the documented
content type, a JSON body matching the documented schema of that status (error bodies included:
"every error in its documented shape"), documented required headers, no stack trace. Cases are
schemathesis' positive and negative data plus the document's examples; three quarters of them get real
identifiers planted (export IDs, node keys, UIDs, saved-query IDs...) so that they reach past "not
found".

Bounded: ``FUZZ_EXAMPLES`` cases per operation (env ``OPENDEX_FUZZ_EXAMPLES``, default 50), no deadline,
no example database, derandomized (env ``OPENDEX_FUZZ_SEED`` picks another stream). The cases per
operation and the statuses seen are printed at the end of the run (``tests/conftest.py``).
"""

from __future__ import annotations

import copy
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from tests.fuzz.harness import API, DOCUMENT, OPERATIONS, call, identity_strategy, label

pytestmark = pytest.mark.django_db

FUZZ_EXAMPLES = int(os.environ.get("OPENDEX_FUZZ_EXAMPLES", "50"))
FUZZ_SEED = os.environ.get("OPENDEX_FUZZ_SEED")
PLANT_DEPTH = 3


def plant(value, data, real: dict[str, list], depth: int = 0):
    """Sometimes replaces the values of known names (in a dict, recursively) by real ones."""
    if depth > PLANT_DEPTH:
        return value
    if isinstance(value, dict):
        for name in list(value):
            if name in real and data.draw(st.integers(0, 3), label=f"plant {name}?"):
                value[name] = copy.deepcopy(data.draw(st.sampled_from(real[name]), label=name))
            else:
                value[name] = plant(value[name], data, real, depth + 1)
    elif isinstance(value, list):
        return [plant(item, data, real, depth + 1) for item in value]
    return value


def real_values(operation, world) -> dict[str, list]:
    values = dict(world.values)
    values["uid"] = world.values["exporter uid" if "/exporters/" in operation.path else "credential uid"]
    return values


def strategy_for(operation):
    """The document's examples (half of the cases when there are some: they are the valid requests),
    schemathesis' positive and negative data."""
    generated = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    examples = API.get_strategies_from_examples(operation)
    if not examples:
        return st.one_of(generated)
    return st.one_of(st.one_of(examples), st.one_of(examples), *generated)


def run_operation(operation, world, wsgi_app, max_examples: int = FUZZ_EXAMPLES) -> Counter:
    statuses: Counter = Counter()
    real = real_values(operation, world)

    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=FUZZ_SEED is None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(case=strategy_for(operation), way=identity_strategy(operation, world), data=st.data())
    def fuzz(case, way, data):
        _name, headers, cookies = way
        if data.draw(st.integers(0, 3), label="plant?"):
            plant(case.path_parameters, data, real)
            plant(case.query, data, real)
            if isinstance(case.body, dict):
                plant(case.body, data, real)
        response = call(case, wsgi_app, headers, cookies)
        statuses[response.status_code] += 1

    if FUZZ_SEED is not None:
        fuzz = seed(int(FUZZ_SEED))(fuzz)
    fuzz()
    return statuses


@pytest.mark.parametrize("operation", OPERATIONS, ids=label)
def test_operation(operation, world, wsgi_app, no_tasks, record_property):
    statuses = run_operation(operation, world, wsgi_app)
    record_property("fuzz_cases", {"operation": label(operation), "cases": sum(statuses.values()),
                                   "statuses": dict(sorted(statuses.items()))})
    assert sum(statuses.values()) >= min(FUZZ_EXAMPLES, 10)
    assert any(200 <= status < 300 for status in statuses), f"no case of {label(operation)} succeeded: {dict(statuses)}"


def test_every_documented_operation_is_fuzzed():
    documented = {(method, path) for path, item in DOCUMENT["paths"].items() for method in item
                  if method in ("get", "put", "post", "delete", "patch")}
    assert {(op.method.lower(), op.path) for op in OPERATIONS} == documented


# -- the harness catches what it must ----------------------------------------------------------------


def engines(monkeypatch, answer):
    from engine.api import views

    monkeypatch.setattr(views.EngineList, "get", lambda self, request: answer())
    return API["/api/configuration/v1/engines"]["GET"]


def test_a_500_fails_the_fuzz_run(world, wsgi_app, no_tasks, monkeypatch):
    def boom():
        raise RuntimeError("bug")

    with pytest.raises((AssertionError, FailureGroup), match="500"):
        run_operation(engines(monkeypatch, boom), world, wsgi_app, max_examples=20)


def test_an_undocumented_body_fails_the_fuzz_run(world, wsgi_app, no_tasks, monkeypatch):
    from django.http import JsonResponse

    with pytest.raises(FailureGroup):
        run_operation(engines(monkeypatch, lambda: JsonResponse({"oops": 1})), world, wsgi_app, max_examples=20)


def test_a_missing_challenge_fails_the_fuzz_run(world, wsgi_app, no_tasks, monkeypatch):
    from django.http import HttpResponse

    from engine.api import nql_views

    monkeypatch.setattr(nql_views, "unauthorized_response", lambda: HttpResponse(status=401))
    with pytest.raises(FailureGroup, match="WWW-Authenticate"):
        run_operation(API["/api/v1/nql/execute"]["POST"], world, wsgi_app, max_examples=30)


def test_a_stack_trace_fails_the_fuzz_run(world, wsgi_app, no_tasks, monkeypatch):
    from django.http import HttpResponse

    trace = b'Traceback (most recent call last):\n  File "/srv/engine/api/views.py", line 12, in get\n'
    with pytest.raises(AssertionError, match="stack trace"):
        run_operation(engines(monkeypatch, lambda: HttpResponse(trace, status=400)), world, wsgi_app,
                      max_examples=20)
