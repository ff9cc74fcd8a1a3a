"""The demo services (``platform.md``, "Demo data"): Outlook and Intranet with UIDs, thresholds and
activity that gives issues in some entities and not in others; the Services API is on."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from portal.demo import DemoContext
from portal.models import Account, PlatformSettings
from service_health import demo, services
from service_health.models import Service

END = datetime(2024, 5, 15, 15, tzinfo=UTC)  # a Wednesday afternoon in Europe, morning in America


@pytest.fixture
def seeded(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", devices=200, days=1, seed=3, password="demo-password", end=END.isoformat(),
                 stdout=io.StringIO(), stderr=io.StringIO())


def statuses(service: Service, at: datetime, scope: str = "hour") -> dict[str, tuple[int, str]]:
    admin = Account.objects.get(username="admin")
    answer = services.overview(admin, services.OverviewRequest(metric=str(service.uid), scope=scope, level="Entity"),
                               at=at)
    return {e.name: (e.metrics["number_of_devices_with_issues"], e.metrics["status"])
            for e in answer.entries if e.name != "all"}


@pytest.mark.django_db
def test_demo_services_and_their_incidents(seeded):
    ctx = DemoContext(seed=3, devices=200, days=1, end=END)
    outlook, intranet = Service.objects.get(name="Outlook"), Service.objects.get(name="Intranet")
    assert outlook.uid == demo.service_uid(ctx, "Outlook") and outlook.uid.version == 4
    assert intranet.uid == uuid.UUID(hex=ctx.hex("service", "Intranet"), version=4)
    assert (outlook.type, intranet.type) == ("connection", "web")
    assert [(d.value, d.kind) for d in outlook.destinations.all()] == [("outlook.office365.com", "host")]
    assert [str(p) for p in outlook.ports.all()] == ["443/tcp"]
    assert sorted(e.name for e in outlook.executables.all()) == ["Microsoft Outlook", "outlook.exe"]
    assert [str(d) for d in intranet.domains.all()] == ["intranet.example.com"]
    assert (outlook.warning_threshold, outlook.error_threshold) == demo.thresholds(ctx) == (4, 10)
    assert intranet.slow_response_threshold == 2000 and outlook.created == END
    assert PlatformSettings.load().services_api_active

    at = END + timedelta(minutes=10)
    by_outlook = statuses(outlook, at)
    assert by_outlook["Paris"][1] == "red", by_outlook
    assert [name for name, (_, status) in by_outlook.items() if status == "green"], by_outlook
    by_intranet = statuses(intranet, at)
    assert by_intranet["Boston"][1] == "red", by_intranet
    assert [name for name, (_, status) in by_intranet.items() if status == "green"], by_intranet
    for entity, (issues, _) in by_outlook.items():
        if entity != "Paris":
            assert issues < by_outlook["Paris"][0]
    # Over the day the everyday failures add up too.
    day = statuses(outlook, at, "day")
    assert sum(issues for issues, _ in day.values()) > sum(issues for issues, _ in by_outlook.values())


@pytest.mark.django_db
def test_the_europe_demo_account_sees_europe_only(seeded):
    europe = Account.objects.get(username="europe")
    outlook = Service.objects.get(name="Outlook")
    answer = services.overview(europe, services.OverviewRequest(metric=str(outlook.uid)), at=END)
    assert [(e.name, e.path) for e in answer.entries] == [
        ("all", ("Europe",)), ("France", ("Europe", "France")), ("Switzerland", ("Europe", "Switzerland"))]
    with pytest.raises(services.OverviewError) as refused:
        services.overview(europe, services.OverviewRequest(metric=str(outlook.uid), path=("America",)), at=END)
    assert refused.value.status == 403
