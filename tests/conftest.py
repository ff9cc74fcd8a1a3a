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


@pytest.fixture
def celery_worker_queue(tmp_path):
    """A real Celery worker process on a queue of its own, using the test database (so a test using
    it needs ``django_db(transaction=True)`` for the worker to see its rows); yields the queue name."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = dict(
        os.environ,
        DATABASE_URL=database_url(connection.settings_dict),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
        OPENDEX_DATA_DIR=str(tmp_path),
        SECRET_KEY=settings.SECRET_KEY,
        OPENDEX_SECRETS_KEY=settings.OPENDEX_SECRETS_KEY,
    )
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed after the worker stops
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--queues", queue,
         "--hostname", f"{queue}@%h", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    yield queue
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


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
