"""A real Celery worker process picks up a task from the PostgreSQL broker and answers it."""


import pytest

from engine.models import Device
from portal.tasks import ping
from tests.factories import make_device

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_a_real_worker(celery_worker_queue):
    for number in range(3):
        make_device(number)
    assert Device.objects.count() == 3

    result = ping.apply_async(args=["hello"], queue=celery_worker_queue)

    assert result.get(timeout=60) == {"echo": "hello", "devices": 3}
    assert result.successful()
