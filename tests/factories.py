"""Small ORM builders for tests that need a few rows (the demo seeder makes big data sets)."""

from engine.models import Device, Engine
from portal.models import Entity


def make_engine(name: str = "engine-1", **fields) -> Engine:
    number = abs(hash(name)) % 10**8
    defaults = {
        "database_uid": f"{number:032x}",
        "machine_id": f"{number + 1:032x}",
        "address": f"{name}.localhost",
        "status": Engine.Status.CONNECTED,
    }
    defaults.update(fields)
    engine, _ = Engine.objects.get_or_create(name=name, defaults=defaults)
    return engine


def make_device(number: int, *, engine: Engine | None = None, entity: str = "Lausanne", **fields) -> Device:
    values = {
        "name": f"DEV-{number:05d}",
        "device_uid": f"{number:032x}",
        "collector_uid": f"00000000-0000-4000-8000-{number:012x}",
        "engine": engine or make_engine(),
        "entity": Entity.objects.get_or_create(name=entity)[0],
        "platform": "windows",
        "device_type": "laptop",
    }
    values.update(fields)
    return Device.objects.create(**values)
