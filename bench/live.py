"""The live platform for the load and fault benchmarks (and ``tests/portal/test_faults.py``).

- ``ensure_fixtures(url)``: the load accounts in a database (idempotent): Basic account
  ``load-bench``, API credential ``load-bench-client`` (scopes ``nql remote_actions``), saved query
  ``#load_bench_devices``, an enabled remote action, and a small fleet when the database has none.
- ``ThrowawayCluster``: a PostgreSQL cluster of its own (``portal.pgcluster``) that a fault scenario
  may restart without disturbing anybody else's database; ``migrated_database()`` migrates it.
- ``start_web(url, port)``: gunicorn as ``manage.py runplatform`` starts it (gthread workers), on
  127.0.0.1 only; ``stop(process)``.
- ``token(base)``: a Bearer token for the load credential from the real token endpoint.

Everything listens on and talks to the loopback address only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
ACCOUNT = "load-bench"
CLIENT_ID = "load-bench-client"
PASSWORD = "load-bench-password"  # loopback-only benchmark credentials, made by ensure_fixtures
SAVED_QUERY = "#load_bench_devices"
NXQL = "(select (name device_uid platform) (from device (where device (eq platform (enum windows)))) (limit 100))"
NQL_BODY = {"queryId": SAVED_QUERY, "parameters": {"platform": "windows"}}

FIXTURES = f"""
from django.contrib.auth.hashers import make_password
from engine.models import Device, SavedQuery
from portal.models import Account, ApiCredential, Profile
from remote_actions.models import RemoteAction

profile, _ = Profile.objects.get_or_create(name="Load benchmark", defaults=dict(
    finder_access=True, allow_remote_action_api=True, description="bench/live.py"))
account = Account.objects.filter(username="{ACCOUNT}").first() or Account(username="{ACCOUNT}", profile=profile)
account.set_password("{PASSWORD}")
account.save()
credential = ApiCredential.objects.filter(client_id="{CLIENT_ID}").first() or ApiCredential(
    client_id="{CLIENT_ID}", name="Load benchmark", allowed_scopes="nql remote_actions",
    client_type=ApiCredential.CLIENT_CONFIDENTIAL, authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS)
credential.client_secret = "{PASSWORD}"
credential.hash_client_secret = True
credential.save()
SavedQuery.objects.get_or_create(nql_id="{SAVED_QUERY}", defaults=dict(
    name="Load benchmark devices",
    text="devices | where operating_system.platform == $platform | list name, collector.uid | limit 100"))
if not RemoteAction.objects.filter(enabled=True).exists():
    RemoteAction.objects.create(nql_id="#load_bench_action", name="Load benchmark action", api_enabled=True,
                                manual_enabled=True, windows_script="Write-Output 1", macos_script="echo 1")
if not Device.objects.exists():
    from tests.factories import make_device, make_engine
    engine = make_engine("engine-1")
    for number in range(1, 201):
        make_device(number, engine=engine, platform="windows" if number % 4 else "mac_os")
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def basic(name: str = ACCOUNT, secret: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode("ascii")


def manage(url: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DATABASE_URL": url, **(env or {})}
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment, text=True,
                            capture_output=True)
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def ensure_fixtures(url: str) -> None:
    manage(url, "shell", "-c", FIXTURES)


def database_url(host: str, port: int | str, name: str, user: str = "opendex") -> str:
    return f"postgresql://{quote(user, safe='')}@{quote(str(host), safe='')}:{port}/{quote(name, safe='')}"


class ThrowawayCluster:
    """A private PostgreSQL cluster under the project's data dir, destroyed at the end."""

    def __init__(self):
        from portal import pgcluster

        root = pgcluster.DEFAULT_ROOT / "fault-clusters" / uuid.uuid4().hex[:8]
        self.cluster = pgcluster.Cluster(root)

    def __enter__(self) -> ThrowawayCluster:
        self.cluster.ensure_running()
        return self

    def __exit__(self, *exc) -> None:
        self.cluster.destroy()
        with contextlib.suppress(OSError):
            for path in sorted(self.cluster.root.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            self.cluster.root.rmdir()

    def url(self) -> str:
        info = self.cluster.connection_info()
        return database_url(info.host, info.port, info.dbname)

    def migrated_database(self) -> str:
        """Migrates the cluster's database and adds the load fixtures; its URL."""
        url = self.url()
        manage(url, "migrate", "--verbosity", "0")
        ensure_fixtures(url)
        return url

    def restart(self, down_seconds: float) -> None:
        self.cluster.restart(down_seconds)


def start_web(url: str, port: int, *, workers: int = 2, threads: int = 8, log_path: Path | None = None,
              env: dict | None = None) -> subprocess.Popen:
    """gunicorn as ``runplatform`` starts it, on 127.0.0.1:``port``; returns once it answers."""
    environment = {**os.environ, "DATABASE_URL": url, "ALLOWED_HOSTS": "127.0.0.1,localhost", **(env or {})}
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"{HOST}:{port}",
         "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
         "--timeout", "300", "--graceful-timeout", "10", "--log-level", "warning"],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/api/schema/?format=json", timeout=5):
                return process
        except OSError:
            time.sleep(0.3)
    stop(process)
    raise RuntimeError("gunicorn did not answer within 60 s")


def stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def token(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/oauth2/default/v1/token", data=b"grant_type=client_credentials", method="POST",
        headers={"Authorization": basic(CLIENT_ID), "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


def worker_pids(web: subprocess.Popen) -> set[int]:
    """The gunicorn worker processes of ``web`` (children of the arbiter)."""
    found = subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True)
    return {int(pid) for pid in found.stdout.split()}
