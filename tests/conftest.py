"""Shared fixtures: rights-bearing accounts, API clients, a real Celery worker."""

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.db import connection

from portal.database import database_url
from portal.models import Account, Profile


@pytest.fixture
def make_account(db):
    """Creates an account with a fresh profile holding the given rights."""

    def make(username: str = "someone", password: str = "correct horse battery", **rights) -> Account:
        profile = Profile.objects.create(name=f"profile of {username}", **rights)
        account = Account(username=username, profile=profile)
        account.set_password(password)
        account.save()
        return account

    return make


@pytest.fixture(autouse=True)
def _forget_verified_credentials():
    """Each test starts with an empty cache of verified Basic credentials."""
    from portal.authentication import verified_credentials

    verified_credentials.clear()
    yield
    verified_credentials.clear()


class CeleryWorkers:
    """Real Celery worker processes (solo pool) on one queue of their own, using the test database (a
    test using them needs ``django_db(transaction=True)`` for the workers to see its rows)."""

    def __init__(self, directory):
        self.queue = f"test-{uuid.uuid4().hex[:12]}"
        self.directory = directory
        self.env = dict(
            os.environ,
            DATABASE_URL=database_url(connection.settings_dict),
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
            OPENDEX_DATA_DIR=str(directory),
            SECRET_KEY=settings.SECRET_KEY,
            OPENDEX_SECRETS_KEY=settings.OPENDEX_SECRETS_KEY,
        )
        self.started: list[tuple[subprocess.Popen, object]] = []

    def start(self, **env: str) -> subprocess.Popen:
        """Starts one more worker (``env``: extra environment variables); its process."""
        number = len(self.started)
        log = open(self.directory / f"worker-{number}.log", "wb")  # noqa: SIM115 - closed in stop_all
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--queues", self.queue,
             "--hostname", f"{self.queue}-{number}@%h", "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING"],
            cwd=settings.BASE_DIR, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        self.started.append((process, log))
        return process

    def stop_all(self) -> None:
        for process, log in self.started:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            log.close()


@pytest.fixture
def celery_workers(tmp_path):
    """A ``CeleryWorkers``: start as many real workers as the test needs; all are stopped after it."""
    workers = CeleryWorkers(tmp_path)
    yield workers
    workers.stop_all()


@pytest.fixture
def celery_worker_queue(celery_workers):
    """One real Celery worker on a queue of its own; yields the queue name."""
    celery_workers.start()
    return celery_workers.queue


def pytest_terminal_summary(terminalreporter):
    """The fuzz tests' case counts per endpoint (``tests/fuzz``), from their ``fuzz_cases`` property
    (recorded on xdist workers too)."""
    rows = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name == "fuzz_cases":
                    rows.append((value["operation"], value["cases"], value["statuses"], outcome))
    if not rows:
        return
    terminalreporter.section("fuzz cases per endpoint")
    width = max(len(row[0]) for row in rows)
    for operation, cases, statuses, outcome in sorted(rows):
        seen = " ".join(f"{status}:{count}" for status, count in statuses.items())
        terminalreporter.write_line(f"{operation:<{width}}  {cases:>5} cases  {seen}"
                                    + ("  FAILED" if outcome == "failed" else ""))
    terminalreporter.write_line(f"{'total':<{width}}  {sum(row[1] for row in rows):>5} cases")
