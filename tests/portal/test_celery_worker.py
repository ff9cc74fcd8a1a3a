"""A real Celery worker process picks up a task from the PostgreSQL broker and answers it."""

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.db import connection

from engine.models import Device
from portal.database import database_url
from portal.tasks import ping
from tests.factories import make_device

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_queue(tmp_path):
    """A worker on a queue of its own, its Django database being the test database."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = dict(
        os.environ,
        DATABASE_URL=database_url(connection.settings_dict),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
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


@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_a_real_worker(worker_queue):
    for number in range(3):
        make_device(number)
    assert Device.objects.count() == 3

    result = ping.apply_async(args=["hello"], queue=worker_queue)

    assert result.get(timeout=60) == {"echo": "hello", "devices": 3}
    assert result.successful()
