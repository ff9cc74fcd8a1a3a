"""Services: model validation (messages at the fields) and the admin pages for administrators."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from portal.models import Entity
from service_health.models import Service, ServiceDestination, ServiceDomain, ServiceExecutable, ServicePort
from tests.service_health.world import make_profile_account


def errors_of(instance) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


# -- Models -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_service_validation_messages_are_at_the_fields():
    assert "error_threshold" in errors_of(Service(name="S", warning_threshold=10, error_threshold=5))
    assert "warning_threshold" in errors_of(Service(name="S", warning_threshold=0, error_threshold=5))
    web = errors_of(Service(name="W", type="web"))
    assert web == {"slow_response_threshold": ["A web service needs a slow-response threshold (milliseconds)."]}
    assert "slow_response_threshold" in errors_of(Service(name="C", type="connection", slow_response_threshold=500))
    Service(name="OK", type="web", slow_response_threshold=500).full_clean()
    service = Service.objects.create(name="Unique")
    assert "name" in errors_of(Service(name="Unique"))
    assert isinstance(service.uid, uuid.UUID) and service.uid.version == 4


@pytest.mark.django_db
def test_status_follows_the_thresholds():
    service = Service(name="S", warning_threshold=2, error_threshold=5)
    assert [service.status_for(n) for n in (0, 1, 2, 4, 5, 50)] == ["green", "green", "yellow", "yellow", "red",
                                                                     "red"]


@pytest.mark.parametrize(("value", "normalized", "kind"), [
    ("Outlook.Office365.com", "outlook.office365.com", "host"),
    ("outlook.office365.com.", "outlook.office365.com", "host"),
    ("*.Example.com", "*.example.com", "suffix"),
    ("10.1.2.10", "10.1.2.10", "network"),
    ("10.1.2.3/16", "10.1.0.0/16", "network"),
    ("2001:db8::1", "2001:db8::1", "network"),
    ("2001:DB8::/32", "2001:db8::/32", "network"),
])
@pytest.mark.django_db
def test_destinations_are_normalized(value, normalized, kind):
    service = Service.objects.create(name="S")
    destination = ServiceDestination(service=service, value=value)
    destination.full_clean()
    destination.save()
    destination.refresh_from_db()
    assert (destination.value, destination.kind) == (normalized, kind)


@pytest.mark.parametrize("value", ["", "not a host", "10.1.2", "10.1.2.300", "10.0.0.0/33", "-bad.com", "a..b",
                                   "*.", "http://outlook.com", "x" * 64 + ".com"])
@pytest.mark.django_db
def test_bad_destinations_are_refused_at_the_field(value):
    service = Service.objects.create(name="S")
    assert list(errors_of(ServiceDestination(service=service, value=value))) == ["value"]
    with pytest.raises(ValidationError):
        ServiceDestination(service=service, value=value).save()  # never stored unnormalized


@pytest.mark.django_db
def test_ports_domains_and_executables_validate():
    service = Service.objects.create(name="S")
    assert "port_number" in errors_of(ServicePort(service=service, port_number=0))
    assert "port_number" in errors_of(ServicePort(service=service, port_number=70000))
    assert "protocol" in errors_of(ServicePort(service=service, port_number=443, protocol="icmp"))
    ServicePort(service=service, port_number=443, protocol="udp").full_clean()
    assert "domain" in errors_of(ServiceDomain(service=service, domain="intranet example"))
    assert "path_prefix" in errors_of(ServiceDomain(service=service, domain="intranet.example.com",
                                                    path_prefix="hr/"))
    assert "path_prefix" in errors_of(ServiceDomain(service=service, domain="intranet.example.com",
                                                    path_prefix="/h r"))
    domain = ServiceDomain(service=service, domain="Intranet.Example.com", path_prefix=" /hr/ ")
    domain.full_clean()
    assert (domain.domain, domain.path_prefix) == ("intranet.example.com", "/hr/")
    assert "name" in errors_of(ServiceExecutable(service=service, name="  "))
    ServiceExecutable.objects.create(service=service, name="outlook.exe")
    with pytest.raises(ValidationError):
        ServiceExecutable(service=service, name="OUTLOOK.EXE").full_clean()  # unique, whatever the case


# -- Admin ------------------------------------------------------------------------------------------


def management(prefix: str, total: int = 1) -> dict:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000"}


def service_post(**fields) -> dict:
    data = {"name": "Mail", "description": "", "type": "connection", "warning_threshold": "2",
            "error_threshold": "5", "slow_response_threshold": "", "all_devices": "on"}
    for prefix in ("destinations", "ports", "domains", "executables"):
        data.update(management(prefix))
    data.update({"destinations-0-value": "", "ports-0-port_number": "", "ports-0-protocol": "tcp",
                 "domains-0-domain": "", "domains-0-path_prefix": "", "executables-0-name": ""})
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def administrator(db) -> Client:
    account = make_profile_account("service-admin", administration=True)
    assert account.is_staff and not account.is_superuser
    client = Client()
    client.force_login(account)
    return client


@pytest.mark.django_db
def test_an_administrator_creates_a_connection_service(administrator):
    url = reverse("admin:service_health_service_add")
    assert administrator.get(url).status_code == 200
    response = administrator.post(url, service_post(**{
        "destinations-0-value": "Mail.Example.com", "ports-0-port_number": "443",
        "executables-0-name": "outlook.exe"}))
    assert response.status_code == 302, response.context["errors"] if response.context else response
    service = Service.objects.get(name="Mail")
    assert [d.value for d in service.destinations.all()] == ["mail.example.com"]
    assert [str(p) for p in service.ports.all()] == ["443/tcp"]
    assert [e.name for e in service.executables.all()] == ["outlook.exe"]
    listing = administrator.get(reverse("admin:service_health_service_changelist"))
    assert str(service.uid) in listing.content.decode()
    assert f"/api/beta/service/data/overview?metric={service.uid}" in listing.content.decode()
    change = administrator.get(reverse("admin:service_health_service_change", args=[service.pk]))
    assert change.status_code == 200 and str(service.uid) in change.content.decode()


def inline_errors(response) -> list[str]:
    return [str(error) for inline in response.context["inline_admin_formsets"]
            for error in inline.formset.non_form_errors()]


@pytest.mark.django_db
def test_the_definition_must_fit_the_type(administrator):
    url = reverse("admin:service_health_service_add")
    missing = administrator.post(url, service_post())
    assert missing.status_code == 200
    assert set(inline_errors(missing)) == {
        "A connection service needs at least one destination (host name, IP address or network).",
        "A connection service needs at least one port."}
    web = administrator.post(url, service_post(**{
        "type": "web", "slow_response_threshold": "1500", "destinations-0-value": "10.0.0.0/8",
        "ports-0-port_number": "80"}))
    assert set(inline_errors(web)) == {"A web service needs at least one domain.",
                                       "Web services are defined by domains: remove the destinations.",
                                       "Web services are defined by domains: remove the ports."}
    connection_with_domain = administrator.post(url, service_post(**{
        "destinations-0-value": "mail.example.com", "ports-0-port_number": "25",
        "domains-0-domain": "intranet.example.com"}))
    assert inline_errors(connection_with_domain) == [
        "Connection services are defined by destinations and ports: remove the domains."]
    bad_value = administrator.post(url, service_post(**{"destinations-0-value": "10.0.0.0/99",
                                                        "ports-0-port_number": "25"}))
    destination_form = bad_value.context["inline_admin_formsets"][0].formset.forms[0]
    assert "value" in destination_form.errors
    assert not Service.objects.exists()
    created = administrator.post(url, service_post(**{
        "name": "Intranet", "type": "web", "slow_response_threshold": "1500",
        "domains-0-domain": "intranet.example.com", "domains-0-path_prefix": "/hr"}))
    assert created.status_code == 302
    assert [str(d) for d in Service.objects.get(name="Intranet").domains.all()] == ["intranet.example.com/hr"]


@pytest.mark.django_db
def test_consumers_limited_to_entities_need_one(administrator):
    url = reverse("admin:service_health_service_add")
    fields = {"destinations-0-value": "mail.example.com", "ports-0-port_number": "25", "all_devices": None}
    response = administrator.post(url, service_post(**fields))
    assert "consumer_entities" in response.context["adminform"].form.errors
    thresholds = administrator.post(url, service_post(**fields, warning_threshold="9", error_threshold="3"))
    assert "error_threshold" in thresholds.context["adminform"].form.errors
    entity = Entity.objects.create(name="Paris")
    created = administrator.post(url, service_post(**fields, consumer_entities=[str(entity.pk)]))
    assert created.status_code == 302
    service = Service.objects.get()
    assert not service.all_devices and list(service.consumer_entities.all()) == [entity]


@pytest.mark.django_db
def test_accounts_without_the_administration_right_are_kept_out(db):
    account = make_profile_account("someone", finder_access=True)
    client = Client()
    client.force_login(account)
    response = client.get(reverse("admin:service_health_service_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
