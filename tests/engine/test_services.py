"""Query execution services: the read transaction of a result ends when it is closed."""

import gc

import pytest

from engine import services
from engine.models import Device
from tests.factories import make_device


@pytest.mark.django_db(transaction=True)
def test_writes_after_closing_a_half_read_result_are_kept():
    for number in range(3):
        make_device(number)
    result = services.execute(services.prepare_nql("devices | list name").plan)
    assert next(result.rows)  # read one row of three, then stop
    result.close()

    make_device(99)
    del result
    gc.collect()

    assert Device.objects.filter(name="DEV-00099").exists()


@pytest.mark.django_db(transaction=True)
def test_reading_a_result_to_the_end_ends_its_transaction():
    make_device(1)
    result = services.execute(services.prepare_nql("devices | list name").plan)
    assert [row for row in result.rows] == [("DEV-00001",)]
    make_device(2)
    assert Device.objects.count() == 2
