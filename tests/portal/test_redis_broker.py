"""Scale-out on Redis (issue 8): ``CELERY_BROKER_URL=redis://…`` with a real ``redis-server`` (Debian's
package; started here on a free loopback port without persistence, stopped after) and two real
workers; results stay in PostgreSQL (the database result backend, as in production).

1. NQL exports and an exporter run to a local HTTP sink, sent at once: both workers take work
   (their own statistics, through Celery's remote control over Redis) and every result is right.
2. acks_late on Redis: a worker killed (SIGKILL) in the middle of a task; after the visibility
   timeout (5 s here) the other worker is handed the message again and the work is done once.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from celery import Celery
from django.db import connection

from engine import exports
from engine.models import Binary, Crash, Device, NqlExport, SavedQuery
from exporters import schedule
from exporters.models import Exporter, ExporterRun
from portal.celery import app as platform_app
from tests.exporters.sink import Answer, Sink, make_credential, make_exporter
from tests.factories import make_device, make_engine

pytestmark = pytest.mark.slow  # starts redis-server and Celery workers

VISIBILITY_TIMEOUT = 5
CRASHES = "execution.crashes during past 1h | list time, exception_code | sort time asc"
RECORD = '{"id": "{{execution.crash.exception_code}}"}'


def wait_for(condition, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(interval)
    return value


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A private redis-server on 127.0.0.1 (no snapshot, no append-only file), stopped after the test."""
    import redis

    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is missing: `make install` installs it (scripts/system-deps.sh)")
    port = free_port()
    directory = tmp_path / "redis"
    directory.mkdir()
    log = open(directory / "redis.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        wait_for(lambda: _pings(client), timeout=20)
        yield url
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _pings(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def redis_workers(redis_url, celery_workers):
    """Two real workers on Redis; yields ``(app, workers)`` where ``app`` sends to that broker."""
    # Not the current app: shared tasks (``task.delay`` in the code under test) must keep sending through
    # the platform's app and its broker in the tests that run after this one.
    app = Celery("opendex-redis-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = redis_url
    app.conf.broker_transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT}
    env = {"CELERY_BROKER_URL": redis_url, "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
           "EXPORT_RETRY_BASE_SECONDS": "0.01"}
    processes = [celery_workers.start(**env) for _ in range(2)]
    # Both consuming before anything is sent (their answer to a ping comes through Redis too).
    wait_for(lambda: len(app.control.ping(timeout=1)) == 2, timeout=60, interval=0.5)
    yield app, celery_workers, processes
    app.close()
    platform_app.set_current()


def worker_totals(app) -> dict[str, dict[str, int]]:
    """Tasks each worker has run, by name (the workers' own statistics)."""
    stats = app.control.inspect(timeout=2).stats() or {}
    return {name: dict(entry.get("total") or {}) for name, entry in stats.items()}


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_redis_share_exports_and_an_exporter_run(redis_workers, monkeypatch):
    app, workers, _ = redis_workers
    monkeypatch.setattr(exports, "enqueue_export", lambda export_id: None)  # sent below, through Redis
    engine = make_engine()
    for number in range(1, 13):
        make_device(number, engine=engine, platform="windows" if number % 3 else "mac_os")
    query = SavedQuery.objects.create(
        nql_id="#platform_devices", name="platform devices",
        text="devices | where operating_system.platform == $platform | list name | sort name asc")

    with Sink() as sink:
        sink.default = Answer(200, delay=0.2)  # a slow destination: one worker is busy a while
        exporter = make_exporter(make_credential(sink.url), [(CRASHES, "collection", RECORD)], batch_size=2)
        end = schedule.latest_boundary(exporter, datetime.now(UTC))
        Exporter.objects.filter(pk=exporter.pk).update(watermark=end - timedelta(hours=1))
        binary = Binary.objects.create(name="app.exe", executable_name="app.exe", platform="windows")
        names = [f"r{index:02d}" for index in range(10)]
        crashed = make_device(100, engine=engine)
        Crash.objects.bulk_create(
            Crash(device=crashed, binary=binary,
                  time=end - timedelta(hours=1) + timedelta(minutes=5 * index), exception_code=name)
            for index, name in enumerate(names))

        app.send_task("exporters.run_exporter", kwargs={"exporter_id": exporter.pk, "trigger": "schedule"},
                      queue=workers.queue)
        platforms = ["windows", "mac_os"] * 4
        submitted = [exports.submit_export(query, {"platform": platform}, "NONE") for platform in platforms]
        for export in submitted:
            app.send_task("engine.run_nql_export", args=[str(export.pk)], queue=workers.queue)

        wait_for(lambda: NqlExport.objects.filter(status=NqlExport.Status.COMPLETED).count() == len(submitted),
                 timeout=60)
        run = wait_for(lambda: ExporterRun.objects.filter(exporter=exporter).exclude(status=ExporterRun.RUNNING)
                       .first(), timeout=60)
        delivered = sorted(record["id"] for request in sink.received() for record in request.lines())

    assert run.status == ExporterRun.SUCCESS, run.last_error
    assert delivered == names  # every record once
    expected = {platform: sorted(Device.objects.filter(platform=platform).values_list("name", flat=True))
                for platform in ("windows", "mac_os")}
    for export, platform in zip(submitted, platforms, strict=True):
        export.refresh_from_db()
        text = (workers.directory / "exports" / export.file_path).read_text()
        header, *rows = csv.reader(io.StringIO(text))
        assert (header, [row[0] for row in rows]) == (["device.name"], expected[platform])

    totals = worker_totals(app)
    print(f"tasks per worker: {totals}")
    assert len(totals) == 2 and all(sum(total.values()) >= 1 for total in totals.values()), totals
    assert sum(total.get("engine.run_nql_export", 0) for total in totals.values()) == len(submitted)
    assert sum(total.get("exporters.run_exporter", 0) for total in totals.values()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_task_of_a_killed_worker_is_redelivered_by_redis_and_done_once(redis_workers):
    """The classic Act part of one Engine, held in its transaction by a lock on the executions table;
    the worker holding it is killed; Redis hands the unacknowledged message to the other worker."""
    from remote_actions.models import Execution, Request
    from tests.remote_actions.conftest import make_action

    app, workers, processes = redis_workers
    engine = make_engine("engine-a", database_uid="a" * 32)
    devices = [make_device(number, engine=engine) for number in (1, 2, 3)]
    action = make_action()
    request_id = str(uuid.uuid4())
    kwargs = {"request_id": request_id, "engine_id": engine.pk, "action_id": action.pk,
              "device_uids": [device.device_uid for device in devices], "params": {}, "entity_ids": None,
              "request_uid": "INC-1", "requested_by": "actor"}
    info = connection.settings_dict
    blocker = psycopg.connect(host=info["HOST"], port=info["PORT"], user=info["USER"], dbname=info["NAME"])
    pids = {name: entry["pid"] for name, entry in (app.control.inspect(timeout=2).stats() or {}).items()}
    assert len(pids) == 2
    try:
        blocker.execute("LOCK TABLE remote_actions_execution IN ACCESS EXCLUSIVE MODE")
        sent = time.monotonic()
        task_id = app.send_task("remote_actions.classic_run_on_engine", kwargs=kwargs, queue=workers.queue).id
        wait_for(lambda: blocked_on_executions(info), timeout=30)
        # A solo worker busy with a task does not answer: the one that does is idle, the other holds it.
        (idle,) = wait_for(lambda: {name for reply in app.control.ping(timeout=1) for name in reply}, timeout=10)
        (holder,) = set(pids) - {idle}
        killed = next(process for process in processes if process.pid == pids[holder])
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
    finally:
        blocker.rollback()
        blocker.close()

    result = app.AsyncResult(task_id)
    wait_for(lambda: result.state == "SUCCESS", timeout=VISIBILITY_TIMEOUT + 40, interval=0.2)
    print(f"redelivered and done {time.monotonic() - sent:.1f} s after the send (visibility timeout "
          f"{VISIBILITY_TIMEOUT} s)")
    assert time.monotonic() - sent >= VISIBILITY_TIMEOUT  # handed out again only after the visibility timeout
    assert result.result == {"code": "ok", "message": ""}
    totals = worker_totals(app)
    assert totals == {idle: {"remote_actions.classic_run_on_engine": 1}}, totals  # the survivor did it, once
    request = Request.objects.get()
    assert str(request.pk) == request_id
    stored = sorted(Execution.objects.filter(request=request).values_list("device__device_uid", flat=True))
    assert stored == sorted(device.device_uid for device in devices)  # once each


def blocked_on_executions(info: dict) -> bool:
    """True once some session waits for a lock on the executions table."""
    with psycopg.connect(host=info["HOST"], port=info["PORT"], user=info["USER"], dbname=info["NAME"],
                         autocommit=True) as conn:
        return bool(conn.execute(
            "SELECT 1 FROM pg_locks WHERE NOT granted AND relation = 'remote_actions_execution'::regclass"
        ).fetchone())
