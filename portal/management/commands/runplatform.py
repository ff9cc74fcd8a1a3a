"""``manage.py runplatform``: the whole platform in one terminal (what ``make run`` starts).

Migrates, seeds demo data when the database is empty, then runs the web server (gunicorn), a Celery
worker and Celery beat as child processes, prints where to go and how to sign in, and stops all of
them on Ctrl-C (or SIGTERM). If one child dies, the others are stopped too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from portal.models import Account

STOP_GRACE_SECONDS = 15


def demo_password() -> str:
    """``DEMO_PASSWORD``, else the one generated at first seeding (kept in the private data dir)."""
    if os.environ.get("DEMO_PASSWORD"):
        return os.environ["DEMO_PASSWORD"]
    path = settings.DATA_DIR / "demo_password"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(12))
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Runs the platform: migrations, demo data if empty, web server, Celery worker and beat."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--devices", type=int, default=1000, help="demo devices when seeding")
        parser.add_argument("--days", type=int, default=7, help="days of demo activity when seeding")

    def handle(self, *args, port: int, host: str, workers: int, devices: int, days: int, **options):
        self.stderr.write("Applying migrations...")
        call_command("migrate", interactive=False, verbosity=0)
        password = demo_password()
        if not Account.objects.exists():
            self.stderr.write("Empty database: seeding demo data...")
            call_command("seed_demo", password=password, devices=devices, days=days, stdout=sys.stderr)
        processes = self._start_children(host, port, workers)
        _wait_until_listening(host, port, processes["web"])
        self._print_banner(host, port, password)
        return self._supervise(processes)

    def _start_children(self, host: str, port: int, workers: int) -> dict[str, subprocess.Popen]:
        python = sys.executable
        commands = {
            # portal.gunicorn_conf: gunicorn's logs in the project's format (request ids on access lines),
            # and the Prometheus files of exited workers marked dead.
            "web": [python, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"{host}:{port}",
                    "--config", "python:portal.gunicorn_conf",
                    "--workers", str(workers), "--worker-class", "gthread", "--threads", "8",
                    "--timeout", "300", "--graceful-timeout", "10", "--log-level", "info"],
            "worker": [python, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO",
                       "--concurrency", "2", "--hostname", "worker@%h"],
            # Schedules live in the database (django-celery-beat's DatabaseScheduler, see settings).
            "beat": [python, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO"],
        }
        # Each child leads a process group of its own: Ctrl-C reaches only this supervisor, which
        # stops the children in order and can then sweep each group, so no grandchild outlives it.
        env = child_environment()
        return {name: subprocess.Popen(argv, cwd=settings.BASE_DIR, env=env, start_new_session=True)
                for name, argv in commands.items()}

    def _print_banner(self, host: str, port: int, password: str) -> None:
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        base = f"http://{shown_host}:{port}"
        accounts = "admin, analyst, partial, viewer, actor, editor, europe, actor_eu"
        lines = [
            "",
            "OpenDEX is running (web, Celery worker, Celery beat). Ctrl-C stops everything.",
            f"  Portal (admin):   {base}/admin/",
            f"  NXQL editor:      {base}/2/editor/nxql_editor.html",
            f"  Web API V2:       {base}/2/query",
            f"  List Engines:     {base}/api/configuration/v1/engines",
            f"  OAuth token:      {base}/oauth2/default/v1/token  (then NQL API: {base}/api/v2/nql/execute)",
            f"  Investigations:   {base}/admin/investigations/",
            f"  API docs:         {base}/api/docs/  (OpenAPI 3: {base}/api/schema/)",
            f"  Metrics:          {base}/metrics  (Prometheus; from this machine only)",
            f"  Engines:          http://engine-1.localhost:{port}/2/query  http://engine-2.localhost:{port}/2/query",
            f"  Accounts:         {accounts}",
            f"  Password:         {password}",
            f"  API credentials:  demo-client / {password}, demo-nql-only / {password}",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _supervise(self, processes: dict[str, subprocess.Popen]) -> None:
        stopping = False

        def request_stop(signum, _frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        failed = None
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    failed = name
                    stopping = True
                    break
            time.sleep(0.3)
        self._stop_children(processes)
        if failed:
            self.stderr.write(f"The {failed} process exited with status {processes[failed].returncode}.")
            sys.exit(1)
        self.stderr.write("Stopped web, worker and beat.")

    def _stop_children(self, processes: dict[str, subprocess.Popen]) -> None:
        for process in processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in processes.values():
            _signal_group(process, signal.SIGKILL)  # whatever is left of the group, workers included
            process.wait()


def child_environment() -> dict[str, str]:
    """The environment of web, worker and beat (docs/decisions.md, "Observability" and "Security").

    - ``PROMETHEUS_MULTIPROC_DIR``: ``<data dir>/prometheus``, emptied now: every process of the
      platform writes its metrics there and ``/metrics`` adds them up.
    - ``OPENDEX_PLAIN_HTTP=true`` unless set: the platform is served as ``http://``, so cookies cannot be
      ``Secure`` (behind a TLS proxy, set ``OPENDEX_PLAIN_HTTP=false``).
    - ``LOG_FORMAT=plain`` unless set: one terminal, read by a person.
    """
    env = dict(os.environ)
    directory = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or settings.DATA_DIR / "prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # the figures of a previous run's processes
        stale.unlink(missing_ok=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    env.setdefault("OPENDEX_PLAIN_HTTP", "true")
    env.setdefault("LOG_FORMAT", "plain")
    return env


def _wait_until_listening(host: str, port: int, web: subprocess.Popen, timeout: float = 60) -> None:
    """Returns once the web server accepts connections, so the printed URLs work when shown."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and web.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.2)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
