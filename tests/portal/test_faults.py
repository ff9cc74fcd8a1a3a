"""Faults (issue 8, "Load and faults"): the database out of reach and Celery workers killed mid-task.

1. PostgreSQL unreachable: every endpoint family answers 503 with ``Retry-After`` in its own error
   shape (``portal.dberrors``), never a 500 or a stack trace, and serves again once the database is
   back, in the same process (in process here; ``test_a_real_restart_under_load`` restarts a real
   server under a live gunicorn, and ``bench/faults_bench.py`` does it under wrk load).
2. A worker killed during a classic Act fan-out: the lost Engine task is redone by the sweep and the
   executions are stored exactly once. A worker killed during an NQL export: the sweep finds the
   export's lock gone and sends it again. (A worker killed during an exporter run:
   ``tests/exporters/test_worker.py``.)
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time

import psycopg
import pytest
import requests
from django.db import connection
from django.test import Client

from bench import live
from engine.models import SavedQuery
from portal import dberrors
from portal.models import ApiCredential
from tests.factories import make_device, make_engine

PASSWORD = "correct horse battery"
SECRET = "faults-test-secret-0123456789"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def basic(name: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode("ascii")


# -- Telling an unreachable database from other database errors ---------------------------------


def test_connection_errors_are_unavailable_and_other_database_errors_are_not(tmp_path):
    from django.db import utils as django_db

    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(host=str(tmp_path), port=1, dbname="nowhere", connect_timeout=2)
    assert dberrors.is_unavailable(refused.value)
    wrapped = django_db.OperationalError("connection failed")
    wrapped.__cause__ = refused.value
    assert dberrors.is_unavailable(wrapped)
    assert dberrors.is_unavailable(django_db.InterfaceError("connection already closed"))

    info = connection.settings_dict
    with psycopg.connect(host=info["HOST"], port=info["PORT"], user=info["USER"], dbname=info["NAME"],
                         autocommit=True) as conn:
        with pytest.raises(psycopg.errors.QueryCanceled) as cancelled:
            conn.execute("SET statement_timeout = '10ms'")
            conn.execute("SELECT pg_sleep(1)")
        with pytest.raises(psycopg.errors.UndefinedTable) as bad_sql:
            conn.execute("SELECT * FROM no_such_table")
    assert not dberrors.is_unavailable(cancelled.value)  # a query time-out is not an outage
    assert not dberrors.is_unavailable(bad_sql.value)
    assert not dberrors.is_unavailable(ValueError("nothing to do with the database"))


# -- Every endpoint family while the database is out of reach, then back -------------------------


@pytest.fixture
def world(db, settings, make_account):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    engine = make_engine("engine-1")
    make_device(1, engine=engine)
    make_account("analyst", PASSWORD, finder_access=True, allow_remote_action_api=True, administration=True)
    ApiCredential.objects.create(
        name="faults", client_id="faults", client_secret=SECRET, hash_client_secret=True,
        client_type=ApiCredential.CLIENT_CONFIDENTIAL,
        authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS, allowed_scopes="service:integration",
    )
    SavedQuery.objects.create(nql_id="#all_devices", name="all devices", text="devices | list name")


def calls(token: str) -> dict:
    """One request per endpoint family: (method, path, body, headers, the 503 body's check)."""
    account = {"HTTP_AUTHORIZATION": basic("analyst", PASSWORD)}
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    return {
        "web api v2": ("get", "/2/query", {"query": "(select (name) (from device))", "format": "json"}, account,
                       lambda r: b'id="error_message"' in r.content),
        "nql execute": ("post", "/api/v1/nql/execute", json.dumps({"queryId": "#all_devices"}), bearer,
                        lambda r: r.json() == {"message": dberrors.MESSAGE, "code": 503}),
        "ra list": ("get", "/api/v1/act/remote-action", None, bearer,
                    lambda r: r.json() == {"code": "SERVICE_UNAVAILABLE", "message": dberrors.MESSAGE}),
        "classic act": ("post", "/api/remoteaction/v2/run", json.dumps({"deviceUids": []}), account,
                        lambda r: r.json() == {"code": "SERVICE_UNAVAILABLE", "error": dberrors.MESSAGE}),
        "token": ("post", "/oauth2/default/v1/token", "grant_type=client_credentials",
                  {"HTTP_AUTHORIZATION": basic("faults", SECRET)},
                  lambda r: r.json()["error"] == "temporarily_unavailable" and r["Cache-Control"] == "no-store"),
        "list engines": ("get", "/api/configuration/v1/engines", None, account,
                         lambda r: r.json() == {"detail": dberrors.MESSAGE}),
        "config api": ("get", "/api/config/v1/exporters", None, account,
                       lambda r: r.json() == {"errors": {"server": [dberrors.MESSAGE]}}),
        "device channel": ("post", "/api/collector/v1/actions/poll", json.dumps({"nodeKey": "x" * 40}), {},
                           lambda r: r.json()["code"] == "SERVICE_UNAVAILABLE"),
        "admin sign-in": ("post", "/admin/login/", {"username": "analyst", "password": PASSWORD}, {},
                          lambda r: b"Service unavailable" in r.content),
    }


def send(client: Client, method: str, path: str, body, headers: dict):
    if method == "get":
        response = client.get(path, body or {}, **headers)
    elif isinstance(body, dict):  # a form
        response = client.post(path, body, **headers)
    else:
        content_type = "application/x-www-form-urlencoded" if path.startswith("/oauth2") else "application/json"
        response = client.post(path, body, content_type=content_type, **headers)
    if response.streaming:
        # Read to the end, as a WSGI server does: that closes the result's read transaction now. Left to the
        # garbage collector, it would close during a later request's query on the same connection.
        response.body = b"".join(response.streaming_content)
    return response


@pytest.mark.django_db(transaction=True)
def test_every_endpoint_answers_503_while_the_database_is_unreachable_and_recovers(world, tmp_path, caplog):
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)
    issued = client.post("/oauth2/default/v1/token", "grant_type=client_credentials",
                         content_type="application/x-www-form-urlencoded",
                         HTTP_AUTHORIZATION=basic("faults", SECRET))
    token = issued.json()["access_token"]
    before = {name: send(client, *call[:4]).status_code for name, call in calls(token).items()}
    assert all(status < 500 for status in before.values()), before

    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST=str(tmp_path), PORT="1")  # a socket nobody listens on
    try:
        for name, (method, path, body, headers, check) in calls(token).items():
            response = send(client, method, path, body, headers)
            assert response.status_code == 503, (name, response.status_code, response.content[:300])
            assert response["Retry-After"] == str(dberrors.RETRY_AFTER_SECONDS), name
            assert check(response), (name, response.content[:300])
            assert b"Traceback" not in response.content
    finally:
        connection.close()
        connection.settings_dict.update(HOST=saved["HOST"], PORT=saved["PORT"])
    assert "database unavailable" in caplog.text
    assert "Traceback" not in caplog.text  # one warning line per request, no stack trace

    after = {name: send(client, *call[:4]).status_code for name, call in calls(token).items()}
    assert after == before  # the same process serves again as soon as the database is back


# -- A real PostgreSQL restart under a live gunicorn ------------------------------------------------


def _load(base: str, bearer: str, done: threading.Event, records: list, lock: threading.Lock) -> None:
    """One client thread: the three load endpoints in turn until ``done``; each answer recorded as
    (time, endpoint, status, Retry-After, body in the endpoint's 503 shape?, client-side error)."""
    account = {"Authorization": live.basic()}
    token = {"Authorization": f"Bearer {bearer}"}
    session = requests.Session()
    calls = [
        ("/2/query", lambda: session.get(f"{base}/2/query", params={"query": live.NXQL, "format": "json"},
                                         headers=account, timeout=30),
         lambda r: b'id="error_message"' in r.content),
        ("nql", lambda: session.post(f"{base}/api/v1/nql/execute", json=live.NQL_BODY, headers=token, timeout=30),
         lambda r: r.json() == {"message": dberrors.MESSAGE, "code": 503}),
        ("ra list", lambda: session.get(f"{base}/api/v1/act/remote-action", headers=token, timeout=30),
         lambda r: r.json() == {"code": "SERVICE_UNAVAILABLE", "message": dberrors.MESSAGE}),
    ]
    index = 0
    while not done.is_set():
        name, call, shaped = calls[index % len(calls)]
        index += 1
        started = time.monotonic()
        try:
            response = call()
            record = (started, name, response.status_code, response.headers.get("Retry-After"),
                      response.status_code != 503 or shaped(response), None)
        except requests.RequestException as error:  # a cut connection (never expected here)
            record = (started, name, None, None, False, type(error).__name__)
            session = requests.Session()
        with lock:
            records.append(record)


@pytest.mark.slow
def test_a_real_restart_under_load_answers_503_and_recovers_in_the_same_processes(tmp_path):
    """A throwaway cluster (never the shared one), migrated; gunicorn on it; four client threads on
    /2/query, the NQL API and the RA list; PostgreSQL stopped for 3 s and started again."""
    with live.ThrowawayCluster() as cluster:
        url = cluster.migrated_database()
        port = live.free_port()
        web = live.start_web(url, port, workers=2, threads=4, log_path=tmp_path / "web.log",
                             env={"OPENDEX_DATA_DIR": str(tmp_path)})
        try:
            base = f"http://{live.HOST}:{port}"
            bearer = live.token(base)
            workers_before = live.worker_pids(web)
            records: list = []
            lock, done = threading.Lock(), threading.Event()
            threads = [threading.Thread(target=_load, args=(base, bearer, done, records, lock)) for _ in range(4)]
            for thread in threads:
                thread.start()
            try:
                time.sleep(2)
                down = time.monotonic()
                cluster.restart(down_seconds=3)
                up = time.monotonic()
                time.sleep(4)
            finally:
                done.set()
                for thread in threads:
                    thread.join(timeout=40)
            assert live.worker_pids(web) == workers_before  # the same web processes throughout
            assert web.poll() is None
        finally:
            live.stop(web)

    statuses = {}
    for _, name, status, *_ in records:
        statuses[(name, status)] = statuses.get((name, status), 0) + 1
    print(f"answers by endpoint and status: {statuses}; down {up - down:.1f} s")
    assert {status for _, status in statuses} <= {200, 503}, statuses  # never a 500, never a cut connection
    assert sum(count for (_, status), count in statuses.items() if status == 503) > 0, statuses  # it bit
    for _, name, status, retry_after, shaped, _ in records:
        if status == 503:
            assert (retry_after, shaped) == (str(dberrors.RETRY_AFTER_SECONDS), True), name
    before = [record for record in records if record[0] < down - 0.5]
    after = [record for record in records if record[0] > up + 1]
    assert before and all(record[2] == 200 for record in before)
    assert after and all(record[2] == 200 for record in after), statuses  # recovered, no restart


# -- A worker killed during a classic Act fan-out ----------------------------------------------------


def blocked_on_executions(info: dict) -> bool:
    """True once some session waits for a lock on the executions table."""
    with psycopg.connect(host=info["HOST"], port=info["PORT"], user=info["USER"], dbname=info["NAME"],
                         autocommit=True) as conn:
        return bool(conn.execute(
            "SELECT 1 FROM pg_locks WHERE NOT granted AND relation = 'remote_actions_execution'::regclass"
        ).fetchone())


def session_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] > 0


def wait_for(condition, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(interval)
    return value


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_during_a_classic_fan_out_loses_nothing_and_stores_once(
        settings, make_account, celery_workers, monkeypatch):
    """Kombu's SQLAlchemy transport hides a message when it hands it out and never shows it again: the
    part of a killed worker would be lost. The sweep sends it again; the executions are stored once."""
    from remote_actions import classic
    from remote_actions.models import ClassicDispatch, Execution, Request
    from tests.remote_actions.conftest import make_action

    settings.PASSWORD_HASHERS = FAST_HASHERS
    monkeypatch.setattr(classic, "QUEUE", celery_workers.queue)
    engines = [make_engine("engine-a", database_uid="a" * 32), make_engine("engine-b", database_uid="b" * 32)]
    devices = [make_device(1, engine=engines[0]), make_device(2, engine=engines[0], platform="mac_os"),
               make_device(3, engine=engines[1])]
    action = make_action()
    make_account("actor", PASSWORD, finder_access=True, allow_remote_action_api=True)
    body = {"remoteActionUid": action.uid, "deviceUids": [device.device_uid for device in devices],
            "timeoutSeconds": 2}
    client = Client(HTTP_HOST="localhost")
    info = connection.settings_dict

    first = celery_workers.start()
    # The executions table locked: the worker's task stops inside its transaction, after its Engine's
    # advisory lock, where a worker dying leaves nothing behind but a half-done part.
    blocker = psycopg.connect(host=info["HOST"], port=info["PORT"], user=info["USER"], dbname=info["NAME"])
    try:
        blocker.execute("LOCK TABLE remote_actions_execution IN ACCESS EXCLUSIVE MODE")
        response = client.post("/api/remoteaction/v2/run", json.dumps(body), content_type="application/json",
                               HTTP_AUTHORIZATION=basic("actor", PASSWORD))
        assert response.status_code == 200, response.content
        assert [answer["code"] for answer in response.json()] == ["timeout", "timeout"]
        wait_for(lambda: blocked_on_executions(info), timeout=40)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        blocker.rollback()
        blocker.close()

    parts = ClassicDispatch.objects.all()
    assert parts.count() == 2 and {part.attempts for part in parts} == {1}
    celery_workers.start()  # takes the other Engine's part, still queued
    wait_for(lambda: ClassicDispatch.objects.filter(answered__isnull=False).count() == 1, timeout=40)
    time.sleep(2)  # the lost part stays lost: the broker never hands it out again
    lost = ClassicDispatch.objects.get(answered=None)
    assert not Execution.objects.filter(device__engine_id=lost.engine_id).exists()

    assert classic.redo_lost_dispatches(redo_after=0) == {"sent": 1, "abandoned": 0, "deleted": 0}
    wait_for(lambda: not ClassicDispatch.objects.filter(answered=None).exists(), timeout=40)
    assert set(ClassicDispatch.objects.values_list("outcome", "attempts")) == {("ok", 1), ("ok", 2)}
    request = Request.objects.get()
    assert str(request.pk) == str(lost.request_id)
    stored = sorted(Execution.objects.filter(request=request).values_list("device__device_uid", flat=True))
    assert stored == sorted(device.device_uid for device in devices)  # each device once: nothing lost

    # Nothing done twice: another sweep has nothing to send, a redelivered part stores nothing.
    assert classic.redo_lost_dispatches(redo_after=0)["sent"] == 0
    assert classic.run_on_engine(**lost.task_kwargs) == {"code": "ok", "message": ""}
    assert Execution.objects.count() == len(devices)


# -- A worker killed during an NQL export -------------------------------------------------------------


def blocked_on(info: dict, table: str) -> bool:
    with psycopg.connect(host=info["HOST"], port=info["PORT"], user=info["USER"], dbname=info["NAME"],
                         autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                                 [table]).fetchone())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_during_an_nql_export_has_it_redone(celery_workers, monkeypatch):
    """The export's task is lost with the worker (SQLAlchemy broker); the export stays IN_PROGRESS
    with its advisory lock gone, so the sweep sends it again and another worker completes it."""
    from engine import exports
    from engine.models import NqlExport
    from engine.tasks import run_nql_export

    monkeypatch.setattr(exports, "enqueue_export",
                        lambda export_id: run_nql_export.apply_async(args=[export_id], queue=celery_workers.queue))
    engine = make_engine()
    for number in range(1, 6):
        make_device(number, engine=engine)
    query = SavedQuery.objects.create(nql_id="#names", name="names", text="devices | list name | sort name asc")
    info = connection.settings_dict

    first = celery_workers.start()
    blocker = psycopg.connect(host=info["HOST"], port=info["PORT"], user=info["USER"], dbname=info["NAME"])
    try:
        blocker.execute("LOCK TABLE engine_device IN ACCESS EXCLUSIVE MODE")  # the export's query waits
        export = exports.submit_export(query, {}, "NONE")
        wait_for(lambda: blocked_on(info, "engine_device"), timeout=40)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        blocker.rollback()
        blocker.close()
    export.refresh_from_db()
    assert (export.status, export.attempts) == (NqlExport.Status.IN_PROGRESS, 1)

    celery_workers.start()
    wait_for(lambda: exports.redo_lost_exports() == 1, timeout=30, interval=0.5)  # once the session is gone
    wait_for(lambda: NqlExport.objects.get(pk=export.pk).status == NqlExport.Status.COMPLETED, timeout=40)
    export.refresh_from_db()
    assert (export.attempts, export.row_count) == (2, 5)
    text = (celery_workers.directory / "exports" / export.file_path).read_text()
    assert text.splitlines() == ["device.name", *(f"DEV-{n:05d}" for n in range(1, 6))]
    assert exports.redo_lost_exports() == 0


@pytest.mark.django_db(transaction=True)
def test_an_export_running_elsewhere_is_left_alone_by_a_second_delivery(monkeypatch, settings, tmp_path):
    from engine import exports
    from engine.models import NqlExport

    settings.DATA_DIR = tmp_path  # the export file of the last call
    monkeypatch.setattr(exports, "enqueue_export", lambda export_id: None)
    make_device(1)
    query = SavedQuery.objects.create(nql_id="#names", name="names", text="devices | list name")
    export = exports.submit_export(query, {}, "NONE")
    NqlExport.objects.filter(pk=export.pk).update(status=NqlExport.Status.IN_PROGRESS, attempts=1)
    info = connection.settings_dict
    with psycopg.connect(host=info["HOST"], port=info["PORT"], user=info["USER"], dbname=info["NAME"],
                         autocommit=True) as running:  # the first delivery, still at work
        running.execute("SELECT pg_advisory_lock(%s)", [exports._lock_key(export.pk)])
        assert exports.run_export(str(export.pk)) == NqlExport.Status.IN_PROGRESS
        assert exports.redo_lost_exports() == 0
        assert NqlExport.objects.get(pk=export.pk).attempts == 1  # untouched
        running_pid = running.info.backend_pid
    # The server ends a closed session (and frees its lock) a moment after the client closes it.
    wait_for(lambda: not session_alive(running_pid), timeout=20)
    assert exports.run_export(str(export.pk)) == NqlExport.Status.COMPLETED  # its session gone: redone
    assert NqlExport.objects.get(pk=export.pk).attempts == 2
