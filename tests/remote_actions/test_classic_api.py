"""The classic Act API v2: ``POST /api/remoteaction/v2/run`` (Basic auth, per-Engine fan-out)."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid

import pytest

from engine.models import Engine
from portal.models import Entity, Hierarchy, HierarchyLevel, HierarchyNode, PlatformSettings
from remote_actions import classic
from remote_actions.models import Execution, Request
from tests.factories import make_device, make_engine
from tests.remote_actions.conftest import make_action

URL = "/api/remoteaction/v2/run"
PASSWORD = "correct horse battery"
RIGHTS = {"finder_access": True, "allow_remote_action_api": True}


def basic(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def world(db):
    """Two CONNECTED Engines and a DISCONNECTED one; entities Lausanne (Europe) and Boston."""
    geography = Hierarchy.objects.create(name="Geography")
    continent = HierarchyLevel.objects.create(hierarchy=geography, name="Continent", depth=0)
    entity_level = HierarchyLevel.objects.create(hierarchy=geography, name="Entity", depth=1)
    europe = HierarchyNode.objects.create(hierarchy=geography, level=continent, name="Europe")
    lausanne = Entity.objects.get_or_create(name="Lausanne")[0]
    HierarchyNode.objects.create(hierarchy=geography, level=entity_level, parent=europe, name="Lausanne",
                                 entity=lausanne)
    e1 = make_engine("engine-a", database_uid="a" * 32)
    e2 = make_engine("engine-b", database_uid="b" * 32)
    e3 = make_engine("engine-c", database_uid="c" * 32, status=Engine.Status.DISCONNECTED)
    devices = {
        "win": make_device(1, engine=e1, platform="windows"),
        "mac": make_device(2, engine=e1, platform="mac_os"),
        "boston": make_device(3, engine=e2, platform="windows", entity="Boston"),
        "offline": make_device(4, engine=e3, platform="windows"),
    }
    return {"engines": (e1, e2, e3), "devices": devices, "europe": europe,
            "action": make_action(inputs=(("Mode", ("fast", "full"), False, "fast"),))}


@pytest.fixture
def actor(make_account):
    return make_account("actor", **RIGHTS)


def call(client, body, username="actor", content_type="application/json", raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, content_type=content_type, HTTP_AUTHORIZATION=basic(username))


def body_for(world, **extra):
    devices = world["devices"]
    payload = {"remoteActionUid": world["action"].uid,
               "deviceUids": [devices["win"].device_uid, devices["mac"].device_uid]}
    payload.update(extra)
    return payload


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]


# -- Method and authentication -----------------------------------------------------------------


def test_get_answers_404(client, world, actor):
    assert client.get(URL, HTTP_AUTHORIZATION=basic("actor")).status_code == 404


@pytest.mark.parametrize("authorization", [None, "wrong"])
def test_authentication_failures_answer_401_without_body(client, world, actor, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": basic("actor", authorization)}
    response = client.post(URL, data=json.dumps(body_for(world)), content_type="application/json", **headers)
    assert response.status_code == 401
    assert response.content == b""
    assert response["WWW-Authenticate"] == 'Basic realm="OpenDEX"'


@pytest.mark.parametrize("rights", [{}, {"finder_access": True}, {"allow_remote_action_api": True}])
def test_accounts_without_both_rights_get_no_permission(client, world, make_account, rights):
    make_account("weak", **rights)
    assert_error(call(client, body_for(world), username="weak"), 403, "NO_PERMISSION")


def test_no_permission_comes_before_the_content_type(client, world, make_account):
    make_account("weak", finder_access=True)
    assert_error(call(client, None, username="weak", content_type="text/plain", raw=b"{"), 403, "NO_PERMISSION")


# -- Body errors, one per code, and their order -----------------------------------------------


def test_content_type(client, world, actor):
    assert_error(call(client, body_for(world), content_type="text/plain"), 400, "CONTENT_TYPE")


def test_content_type_comes_before_bad_json(client, world, actor):
    assert_error(call(client, None, content_type="text/plain", raw=b"not json"), 400, "CONTENT_TYPE")


@pytest.mark.parametrize("content_type, raw", [
    ("application/json; charset=latin-1", json.dumps({"a": 1}).encode()),
    ("application/json", b"{\"requestUid\": \"\xff\xfe\"}"),
    ("application/json", b"\xff not json"),  # ENCODING comes before INVALID_REQUEST_JSON
])
def test_encoding(client, world, actor, content_type, raw):
    assert_error(call(client, None, content_type=content_type, raw=raw), 400, "ENCODING")


def test_utf8_charset_is_accepted(client, world, actor):
    response = call(client, None, content_type="application/json; charset=UTF-8", raw=b"{")
    assert_error(response, 400, "INVALID_REQUEST_JSON")


def test_invalid_request_json(client, world, actor):
    assert_error(call(client, None, raw=b"{\"remoteActionUid\": "), 400, "INVALID_REQUEST_JSON")


@pytest.mark.parametrize("change", [
    None,  # replaced by a JSON array below
    {"deviceUids": "a" * 32},
    {"deviceUids": [1, 2]},
    {"remoteActionUid": 12},
    {"requestUid": 123},
    {"engineDatabaseUids": "a" * 32},
    {"timeoutSeconds": "5"},
    {"timeoutSeconds": 0},
    {"timeoutSeconds": True},
    {"params": ["Mode"]},
    {"params": {"Mode": 1}},
    {"params": {"Mode": "not-an-option"}},
])
def test_invalid_request_content(client, world, actor, change):
    body = [body_for(world)] if change is None else body_for(world, **change)
    assert_error(call(client, body), 400, "INVALID_REQUEST_CONTENT")


def test_invalid_content_comes_before_missing_fields(client, world, actor):
    assert_error(call(client, {"deviceUids": "x"}), 400, "INVALID_REQUEST_CONTENT")


@pytest.mark.parametrize("value", [None, ""])
def test_no_remote_action_uid(client, world, actor, value):
    body = body_for(world, remoteActionUid=value)
    if value is None:
        del body["remoteActionUid"]
    assert_error(call(client, body), 400, "NO_REMOTE_ACTION_UID")


def test_no_remote_action_uid_comes_before_no_devices(client, world, actor):
    assert_error(call(client, {}), 400, "NO_REMOTE_ACTION_UID")


@pytest.mark.parametrize("value", [None, []])
def test_no_devices(client, world, actor, value):
    body = body_for(world, deviceUids=value)
    if value is None:
        del body["deviceUids"]
    assert_error(call(client, body), 400, "NO_DEVICES")


def test_no_devices_comes_before_invalid_action_uid(client, world, actor):
    assert_error(call(client, {"remoteActionUid": "nope", "deviceUids": []}), 400, "NO_DEVICES")


def test_too_many_devices(client, world, actor):
    settings_row = PlatformSettings.load()
    settings_row.act_max_devices = 2
    settings_row.save()
    # Before INVALID_ACTION_UID and INVALID_DEVICE_UID.
    body = {"remoteActionUid": "nope", "deviceUids": ["x", "y", "z"]}
    assert_error(call(client, body), 400, "TOO_MANY_DEVICES")


def test_invalid_action_uid_comes_before_invalid_device_uid(client, world, actor):
    assert_error(call(client, {"remoteActionUid": "nope", "deviceUids": ["x"]}), 400, "INVALID_ACTION_UID")


@pytest.mark.parametrize("uid", ["x", "a" * 31, "g" * 32, "a" * 33])
def test_invalid_device_uid(client, world, actor, uid):
    # Before UNKNOWN_OR_DISABLED_REMOTE_ACTION.
    body = body_for(world, remoteActionUid=str(uuid.uuid4()), deviceUids=["1" * 32, uid])
    assert_error(call(client, body), 400, "INVALID_DEVICE_UID")


def test_unknown_remote_action(client, world, actor):
    assert_error(call(client, body_for(world, remoteActionUid=str(uuid.uuid4()))), 400,
                 "UNKNOWN_OR_DISABLED_REMOTE_ACTION")


def test_disabled_remote_action(client, world, actor):
    world["action"].enabled = False
    world["action"].save()
    assert_error(call(client, body_for(world)), 400, "UNKNOWN_OR_DISABLED_REMOTE_ACTION")


def test_no_manual_execution(client, world, actor):
    world["action"].manual_enabled = False
    world["action"].save()
    response = call(client, body_for(world))
    assert_error(response, 400, "NO_MANUAL_EXECUTION")
    assert response.json()["error"] == "Remote action not configured for manual execution"


def test_no_engines_to_target_when_every_listed_engine_is_unknown(client, world, actor):
    body = body_for(world, engineDatabaseUids=["d" * 32, "e" * 32])
    assert_error(call(client, body), 403, "NO_ENGINES_TO_TARGET")


def test_no_engines_to_target_when_no_engine_exists(client, db, actor):
    action = make_action()
    assert_error(call(client, {"remoteActionUid": action.uid, "deviceUids": ["1" * 32]}), 403,
                 "NO_ENGINES_TO_TARGET")


def test_internal_error_is_logged_with_a_request_id(client, world, actor, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(classic, "plan", boom)
    with caplog.at_level(logging.ERROR):
        response = call(client, body_for(world))
    assert_error(response, 500, "INTERNAL_ERROR")
    request_id = response.json()["error"].split("request id ")[1].rstrip(")")
    assert any(request_id in record.getMessage() for record in caplog.records)


# -- Per-Engine answers decided without a task --------------------------------------------------


def _no_dispatch(monkeypatch):
    from remote_actions import tasks

    def refuse(*args, **kwargs):
        raise AssertionError("no task may be dispatched")

    monkeypatch.setattr(tasks.classic_run_on_engine, "apply_async", refuse)


def test_unknown_listed_engines_are_excluded_and_disconnected_ones_not_connected(client, world, actor, monkeypatch):
    _no_dispatch(monkeypatch)
    body = body_for(world, engineDatabaseUids=["D" * 32, "C" * 32], timeoutSeconds=30)
    started = time.monotonic()
    response = call(client, body)
    assert time.monotonic() - started < 15  # nothing waits for the 30 s timeout
    assert response.status_code == 200
    assert response.json() == [
        {"databaseUid": "d" * 32, "code": "excluded", "message": "Unknown Engine database UID"},
        {"databaseUid": "c" * 32, "code": "not_connected", "message": "Engine is DISCONNECTED"},
    ]
    assert not Request.objects.exists()


def test_view_domain_without_the_engines_devices_is_no_permission(client, world, make_account, monkeypatch):
    _no_dispatch(monkeypatch)
    make_account("actor_eu", view_domain=world["europe"], **RIGHTS)
    offline_us = make_engine("engine-d", database_uid="f" * 32, status=Engine.Status.DISCONNECTED)
    make_device(9, engine=offline_us, entity="Boston")
    body = body_for(world, engineDatabaseUids=["b" * 32, "f" * 32])
    response = call(client, body, username="actor_eu")
    assert response.status_code == 200
    # engine-b holds Boston devices only; engine-d too, but not_connected comes first.
    assert [(e["databaseUid"], e["code"]) for e in response.json()] == [
        ("b" * 32, "no_permission"), ("f" * 32, "not_connected"),
    ]


# -- Dispatch: the timeout path, a real worker, idempotency ------------------------------------


def _purge(queue: str) -> None:
    from portal.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)
    except Exception:  # best effort: leftover messages of a queue nobody consumes
        pass


def test_engines_that_do_not_answer_time_out(client, world, actor, monkeypatch):
    queue = f"nobody-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(classic, "QUEUE", queue)
    try:
        started = time.monotonic()
        response = call(client, body_for(world, timeoutSeconds=1))
        elapsed = time.monotonic() - started
    finally:
        _purge(queue)
    assert response.status_code == 200
    assert [(e["databaseUid"], e["code"]) for e in response.json()] == [
        ("a" * 32, "timeout"), ("b" * 32, "timeout"), ("c" * 32, "not_connected"),
    ]
    assert 1.0 <= elapsed < 6.0  # the 1 s timeout, plus dispatch on a busy machine; far from the default 60 s
    assert not Request.objects.exists()  # nothing answered: nothing stored yet


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_answers_for_each_connected_engine(client, world, actor, celery_worker_queue, monkeypatch):
    monkeypatch.setattr(classic, "QUEUE", celery_worker_queue)
    devices = world["devices"]
    uids = [devices[name].device_uid for name in ("win", "mac", "boston", "offline")] + ["9" * 32]
    body = {"requestUid": "123", "remoteActionUid": world["action"].uid, "deviceUids": uids,
            "timeoutSeconds": 60, "params": {"Mode": "full", "Unknown": "ignored"}}
    started = time.monotonic()
    response = call(client, body)
    assert time.monotonic() - started < 60
    assert response.status_code == 200, response.content
    assert response.json() == [
        {"databaseUid": "a" * 32, "code": "ok", "message": ""},
        {"databaseUid": "b" * 32, "code": "ok", "message": ""},
        {"databaseUid": "c" * 32, "code": "not_connected", "message": "Engine is DISCONNECTED"},
    ]
    request = Request.objects.get()
    assert request.external_reference == "123"
    assert request.external_source == "act_v2"
    assert request.trigger_method == "api"
    assert request.requested_by == "actor"
    assert request.params == {"Mode": "full"}
    executions = Execution.objects.filter(request=request)
    assert sorted(executions.values_list("device__device_uid", flat=True)) == sorted(uids[:3])
    assert set(executions.values_list("external_reference", flat=True)) == {"123"}


def _run(world, request_id, engine, **extra):
    devices = world["devices"]
    kwargs = {"request_id": request_id, "engine_id": engine.pk, "action_id": world["action"].pk,
              "device_uids": [d.device_uid for d in devices.values()], "params": {"Mode": "full"},
              "entity_ids": None, "request_uid": "INC42", "requested_by": "actor"}
    kwargs.update(extra)
    return classic.run_on_engine(**kwargs)


def test_the_engine_task_is_idempotent_and_engines_share_the_request(world):
    e1, e2, e3 = world["engines"]
    request_id = str(uuid.uuid4())
    assert _run(world, request_id, e1) == {"code": "ok", "message": ""}
    assert _run(world, request_id, e1) == {"code": "ok", "message": ""}  # redelivered
    assert _run(world, request_id, e2) == {"code": "ok", "message": ""}
    assert _run(world, request_id, e2) == {"code": "ok", "message": ""}
    assert _run(world, request_id, e3)["code"] == "not_connected"
    request = Request.objects.get()
    assert str(request.pk) == request_id
    assert (request.external_reference, request.external_source) == ("INC42", "act_v2")
    assert Execution.objects.filter(request=request).count() == 3
    assert sorted(Execution.objects.values_list("device__name", flat=True)) == ["DEV-00001", "DEV-00002",
                                                                                "DEV-00003"]


def test_the_engine_task_keeps_to_the_view_domain(world):
    e1, e2, _ = world["engines"]
    lausanne = Entity.objects.get(name="Lausanne").pk
    request_id = str(uuid.uuid4())
    assert _run(world, request_id, e1, entity_ids=[lausanne])["code"] == "ok"
    assert _run(world, request_id, e2, entity_ids=[lausanne])["code"] == "ok"  # nothing to store
    assert Execution.objects.count() == 2


def test_the_celery_task_answers_engine_error_on_failure(world, monkeypatch):
    from remote_actions import tasks

    def boom(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(classic, "run_on_engine", boom)
    assert tasks.classic_run_on_engine.run(request_id=str(uuid.uuid4())) == {
        "code": "engine_error", "message": "Engine failed: RuntimeError",
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_engine_store_its_executions_once(world):
    import threading

    from django.db import connection

    e1, e2, _ = world["engines"]
    request_id = str(uuid.uuid4())
    answers, barrier = [], threading.Barrier(4)

    def deliver(engine):
        try:
            barrier.wait()
            answers.append(_run(world, request_id, engine))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(engine,)) for engine in (e1, e1, e2, e2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [{"code": "ok", "message": ""}] * 4
    assert Request.objects.count() == 1
    assert Execution.objects.filter(request_id=request_id).count() == 3
