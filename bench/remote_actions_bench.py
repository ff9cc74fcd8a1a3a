"""Remote-actions benchmarks on the benchmark database (``seed_demo_bench.py --keep``: 10,000 devices).

1. Current API ``POST /api/v1/act/execute`` for 10,000 devices (Django's whole request path in
   process, Bearer token): median of 3 runs, target under 1 s; against a bare ``COPY`` of the same
   10,000 execution rows as the baseline.
2. Classic Act API v2 ``POST /api/remoteaction/v2/run`` across two Engines, answered by a real Celery
   worker process (5,000 devices on each Engine).
3. Device channel: polls and results per second through ``/api/collector/v1/...`` for 500
   enrolled devices each with one execution waiting (enroll, then poll + result per device).

    .venv/bin/python bench/remote_actions_bench.py [--database opendex_bench]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
import uuid

from common import median_ms, setup_django

PASSWORD = "bench-password"  # what seed_demo_bench.py seeds the accounts and credentials with
BENCH_ACTION = "#bench_action"


def bench_action():
    from remote_actions.models import RemoteAction

    action, _ = RemoteAction.objects.get_or_create(
        nql_id=BENCH_ACTION,
        defaults={"name": "Benchmark action", "api_enabled": True, "manual_enabled": True,
                  "manual_allow_multiple_devices": True, "windows_script": "Write-Output 1",
                  "macos_script": "echo 1", "timeout_seconds": 120},
    )
    return action


def bench_execute(client, runs: int) -> None:
    from django.db import connection

    from engine.models import Device

    issued = client.post("/oauth2/default/v1/token", "grant_type=client_credentials",
                         content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=basic("demo-client"))
    token = json.loads(issued.content)["access_token"]
    devices = list(Device.objects.order_by("id").values_list("collector_uid", flat=True)[:10_000])
    body = json.dumps({"remoteActionId": BENCH_ACTION, "devices": devices})

    def execute():
        response = client.post("/api/v1/act/execute", body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200, response.content[:300]

    def bare_copy():
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE bench_execution AS SELECT * FROM remote_actions_execution WITH NO DATA")
            with cursor.cursor.copy("COPY bench_execution (device_id, status, time) FROM STDIN") as copy:
                for device_id in range(len(devices)):
                    copy.write_row((device_id, "waiting_for_device", "2026-01-01T00:00:00Z"))
            cursor.execute("DROP TABLE bench_execution")

    execute_ms = median_ms(execute, runs)
    copy_ms = median_ms(bare_copy, runs)
    print(f"\n1. execute for {len(devices):,} devices: {execute_ms:.0f} ms (target < 1000 ms); "
          f"bare COPY of as many rows: {copy_ms:.0f} ms; ratio {execute_ms / copy_ms:.1f}x")


def bench_classic(client, runs: int) -> None:
    from django.conf import settings

    from engine.models import Device, Engine
    from portal.database import database_url
    from remote_actions import classic
    from remote_actions.models import RemoteAction

    engines = list(Engine.objects.filter(status=Engine.Status.CONNECTED).order_by("name")[:2])
    uids = []
    for engine in engines:
        uids += list(Device.objects.filter(engine=engine).order_by("id").values_list("device_uid", flat=True)[:5000])
    action_uid = RemoteAction.objects.get(nql_id=BENCH_ACTION).uid
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    from django.db import connection

    env = dict(os.environ, DATABASE_URL=database_url(connection.settings_dict),
               CELERY_BROKER_URL=settings.CELERY_BROKER_URL, CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--queues", queue,
         "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    classic.QUEUE = queue
    body = json.dumps({"remoteActionUid": action_uid, "deviceUids": uids, "timeoutSeconds": 60,
                       "engineDatabaseUids": [engine.database_uid for engine in engines]})
    answers = []

    def run():
        response = client.post("/api/remoteaction/v2/run", body, content_type="application/json",
                               HTTP_AUTHORIZATION=basic("actor"))
        assert response.status_code == 200, response.content[:300]
        answers.append([entry["code"] for entry in json.loads(response.content)])

    try:
        run()  # the worker's first task loads Django: not counted
        classic_ms = median_ms(run, runs)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    print(f"\n2. classic run across {len(engines)} Engines, {len(uids):,} devices: {classic_ms:.0f} ms "
          f"(answers {answers[-1]})")


def bench_channel(client, devices_count: int) -> None:
    from engine.models import Device
    from portal.models import PlatformSettings
    from remote_actions import services
    from remote_actions.models import RemoteAction

    secret = PlatformSettings.load().enroll_secret or "bench-enroll-secret"
    settings_row = PlatformSettings.load()
    settings_row.enroll_secret = secret
    settings_row.save()
    devices = list(Device.objects.filter(platform="windows").order_by("-id")[:devices_count])
    keys = {}
    for device in devices:
        response = client.post("/api/collector/v1/enroll", json.dumps({
            "enrollSecret": secret, "collectorUid": device.collector_uid, "deviceUid": device.device_uid,
            "name": device.name, "platform": device.platform}), content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        keys[device.pk] = json.loads(response.content)["nodeKey"]
    services.create_request(RemoteAction.objects.get(nql_id=BENCH_ACTION), devices, {}, "api", 60, None)
    started = time.perf_counter()
    operations = 0
    for device in devices:
        polled = client.post("/api/collector/v1/actions/poll", json.dumps({"nodeKey": keys[device.pk]}),
                             content_type="application/json")
        operations += 1
        for execution in json.loads(polled.content)["executions"]:
            answered = client.post(f"/api/collector/v1/actions/{execution['executionId']}/result",
                                   json.dumps({"nodeKey": keys[device.pk], "status": "success", "outputs": {}}),
                                   content_type="application/json")
            assert answered.status_code == 200, answered.content[:300]
            operations += 1
    elapsed = time.perf_counter() - started
    print(f"\n3. device channel: {operations:,} polls and results for {len(devices)} devices in {elapsed:.2f} s "
          f"= {operations / elapsed:,.0f} operations/s (one process, in-process requests)")


def basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="opendex_bench")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--channel-devices", type=int, default=500)
    args = parser.parse_args(argv)
    setup_django(args.database)
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    bench_action()
    client = Client()
    bench_execute(client, args.runs)
    bench_classic(client, args.runs)
    bench_channel(client, args.channel_devices)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
