"""A small, hand-made, deterministic data set for the NXQL / Web API V2 tests.

Everything is built with the ORM. Relative timestamps are taken from the real clock once, when the
data set is built (``Dataset.now``); the Web API reads ``datetime.now(UTC)`` at each request, a few
seconds later, so windows such as ``now-1d`` see the same events as long as no event sits near a
window boundary (none does: the nearest ones are an hour inside). Absolute events (March 2024) test
the half-open window exactly.

Devices (6)                                    engine    entity    platform
  alpha    windows laptop  16 GiB 8 cpus 10.1.2.3    engine-1  Lausanne  #Location Lausanne, #Criticality high
  Bravo    mac_os  laptop   8 GiB 4 cpus 10.1.9.9    engine-1  Zurich    #Location Zurich, #"Business Unit" IT
  charlie  windows desktop 32 GiB 16 cpus 192.168.1.10 engine-2 Boston   #Location Boston, #Criticality medium
  delta    mobile  smartphone (no ram/cpus/ip)       engine-2  Boston    #Location Boston
  echo     windows server  (no ram) 2 cpus 10.2.0.5  engine-2  Lausanne  #Location Lausanne, #Criticality low
  Foxtrot  mac_os  desktop 1.5 GiB 8 cpus 172.16.0.1 engine-2  Boston    (no category)

``delta`` (mobile) is invisible under the default platforms (windows, mac_os), and so is its activity.
Accounts (password ``PASSWORD``): analyst, partial, full, viewer, editor, europe (view domain
Geography/Europe: Lausanne and Zurich, so alpha, Bravo, echo), inactive.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.test import override_settings

from engine.models import (
    Application,
    Binary,
    Category,
    CategoryAssignment,
    Connection,
    Crash,
    Destination,
    Device,
    DeviceEvent,
    Domain,
    EndUser,
    Engine,
    Execution,
    Installation,
    Keyword,
    Package,
    Port,
    WebRequest,
)
from portal.models import Account, Entity, Hierarchy, HierarchyLevel, HierarchyNode, Profile

PASSWORD = "s3cret-pw"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PREFIX = "nxqlt-"  # profiles of this data set, so that they are told apart from other tests' profiles

GIB = 1024**3
T0 = datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)  # an execution exactly here (alpha, outlook.exe)
T1 = datetime(2024, 3, 1, 11, 0, 0, tzinfo=UTC)  # and one exactly here (Foxtrot, chrome.exe)

ACCOUNTS = {
    # name: profile rights (and account flags)
    "analyst": {"finder_access": True},
    "partial": {"finder_access": True, "data_privacy": "partial"},
    "full": {"finder_access": True, "data_privacy": "full"},
    "viewer": {"finder_access": False},
    "editor": {"finder_access": True, "can_edit_categories": True},
    "europe": {"finder_access": True, "view_domain": "Europe"},
    "inactive": {"finder_access": True, "is_active": False},
}


def basic(username: str, password: str = PASSWORD) -> str:
    """The ``Authorization`` header value as every documented client sends it."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


@dataclass
class Dataset:
    now: datetime
    midnight: datetime
    engines: dict[str, Engine] = field(default_factory=dict)
    entities: dict[str, Entity] = field(default_factory=dict)
    nodes: dict[str, HierarchyNode] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    users: dict[str, EndUser] = field(default_factory=dict)
    applications: dict[str, Application] = field(default_factory=dict)
    binaries: dict[str, Binary] = field(default_factory=dict)
    packages: dict[str, Package] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    ports: dict[str, Port] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    keywords: dict[tuple[str, str], Keyword] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    hierarchy: Hierarchy | None = None

    def ago(self, **delta) -> datetime:
        return self.now - timedelta(**delta)


def build_dataset() -> Dataset:
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        return _build()


def _build() -> Dataset:
    now = datetime.now(UTC).replace(microsecond=0)
    midnight = now.replace(hour=0, minute=0, second=0)
    data = Dataset(now=now, midnight=midnight)
    h1, h2, h3, h5 = (data.ago(hours=n) for n in (1, 2, 3, 5))
    d2, d3 = data.ago(days=2), data.ago(days=3)
    last_second_of_yesterday = midnight - timedelta(seconds=1)

    # -- engines, entities, the Geography hierarchy --------------------------------------------
    for number, status in ((1, "CONNECTED"), (2, "CONNECTED"), (3, "DISCONNECTED")):
        data.engines[f"engine-{number}"] = Engine.objects.create(
            name=f"engine-{number}", description=f"Engine number {number}",
            database_uid=f"{0xE0 + number:032x}", machine_id=f"{0xF0 + number:032x}",
            address=f"engine-{number}.localhost", port=443, status=status, timezone="Europe/Zurich",
            version="6.30.0",
        )
    for name in ("Lausanne", "Zurich", "Boston"):
        data.entities[name] = Entity.objects.get_or_create(name=name)[0]
    hierarchy = Hierarchy.objects.create(name=f"{PREFIX}Geography")
    data.hierarchy = hierarchy
    continent = HierarchyLevel.objects.create(hierarchy=hierarchy, name="Continent", depth=0)
    country = HierarchyLevel.objects.create(hierarchy=hierarchy, name="Country", depth=1)
    entity_level = HierarchyLevel.objects.create(hierarchy=hierarchy, name="Entity", depth=2)
    nodes = data.nodes
    nodes["Europe"] = HierarchyNode.objects.create(hierarchy=hierarchy, level=continent, name="Europe")
    nodes["America"] = HierarchyNode.objects.create(hierarchy=hierarchy, level=continent, name="America")
    nodes["Switzerland"] = HierarchyNode.objects.create(hierarchy=hierarchy, level=country, name="Switzerland",
                                                        parent=nodes["Europe"])
    nodes["USA"] = HierarchyNode.objects.create(hierarchy=hierarchy, level=country, name="USA",
                                                parent=nodes["America"])
    for city, parent in (("Lausanne", "Switzerland"), ("Zurich", "Switzerland"), ("Boston", "USA")):
        nodes[city] = HierarchyNode.objects.create(hierarchy=hierarchy, level=entity_level, name=city,
                                                   parent=nodes[parent], entity=data.entities[city])

    # -- devices --------------------------------------------------------------------------------
    e1, e2 = data.engines["engine-1"], data.engines["engine-2"]
    device_rows = [
        dict(name="alpha", platform="windows", engine=e1, entity="Lausanne", device_type="laptop",
             os_version_and_architecture="Windows 11 Pro x64", os_build="22631", device_manufacturer="Dell Inc.",
             device_model="Latitude 7440", device_serial_number="SN-ALPHA", total_ram=16 * GIB, number_of_cpus=8,
             cpu_model="Intel Core i7", system_drive_capacity=500 * GIB, system_drive_free_space=250 * GIB,
             system_drive_usage=0.5, last_ip_address="10.1.2.3", mac_addresses="aa:bb:cc:dd:ee:01",
             first_seen=datetime(2024, 1, 15, 8, 0, tzinfo=UTC), last_seen=h1, last_system_boot=h5,
             last_boot_duration=850, last_logged_on_user="ann"),
        dict(name="Bravo", platform="mac_os", engine=e1, entity="Zurich", device_type="laptop",
             os_version_and_architecture="macOS 14.4 arm64", os_build="23E214", device_manufacturer="Apple",
             device_model="MacBook Pro", device_serial_number="SN-BRAVO", total_ram=8 * GIB, number_of_cpus=4,
             cpu_model="Apple M3", system_drive_capacity=250 * GIB, system_drive_free_space=37 * GIB,
             system_drive_usage=0.851, last_ip_address="10.1.9.9",
             first_seen=datetime(2024, 2, 1, 0, 0, tzinfo=UTC), last_seen=h2, last_boot_duration=12_400,
             last_logged_on_user="bob"),
        dict(name="charlie", platform="windows", engine=e2, entity="Boston", device_type="desktop",
             os_version_and_architecture="Windows 10 Enterprise x64", os_build="19045", device_manufacturer="",
             device_model="", device_serial_number="SN-CHARLIE", total_ram=32 * GIB, number_of_cpus=16,
             cpu_model="AMD Ryzen 9", last_ip_address="192.168.1.10",
             first_seen=datetime(2023, 12, 1, 0, 0, 5, tzinfo=UTC), last_seen=h3, last_boot_duration=200_000,
             last_logged_on_user="carol"),
        dict(name="delta", platform="mobile", engine=e2, entity="Boston", device_type="smartphone",
             os_version_and_architecture="iOS 17.4", device_manufacturer="Apple", device_model="iPhone 15",
             first_seen=datetime(2024, 2, 10, 0, 0, tzinfo=UTC), last_seen=h2),
        dict(name="echo", platform="windows", engine=e2, entity="Lausanne", device_type="server",
             os_version_and_architecture="Windows Server 2022", os_build="20348", device_manufacturer="HP",
             device_model="ProLiant", number_of_cpus=2, last_ip_address="10.2.0.5", last_seen=d2),
        dict(name="Foxtrot", platform="mac_os", engine=e2, entity="Boston", device_type="desktop",
             os_version_and_architecture="macOS 13.6 x64", os_build="22G120", device_manufacturer="Apple",
             device_model="iMac", total_ram=1536 * 1024**2, number_of_cpus=8, last_ip_address="172.16.0.1",
             first_seen=datetime(2024, 3, 1, 9, 0, tzinfo=UTC), last_seen=h5, last_boot_duration=7_500_000),
    ]
    for number, row in enumerate(device_rows, start=1):
        row = dict(row)
        row["entity"] = data.entities[row["entity"]]
        data.devices[row["name"]] = Device.objects.create(
            device_uid=f"{0xA000 + number:032x}", collector_uid=f"00000000-0000-4000-8000-{0xA000 + number:012x}",
            **row,
        )
    dev = data.devices

    # -- users, applications, binaries, packages, destinations, domains, ports -----------------
    for number, (name, full_name, department, user_type) in enumerate((
        ("ann", "Ann Smith", "Finance", "domain"),
        ("bob", "Bob Jones", "IT", "local"),
        ("carol", "Carol White", "", "domain"),
        ("svc", "", "", "system"),
    ), start=1):
        data.users[name] = EndUser.objects.create(
            name=name, user_uid=f"00000000-0000-4000-9000-{number:012x}", sid=f"S-1-5-21-{number}",
            full_name=full_name, department=department, job_title="", user_type=user_type,
            first_seen=datetime(2024, 1, 1, tzinfo=UTC), last_seen=h1,
        )
    usr = data.users
    for name, company, category in (("Microsoft Outlook", "Microsoft", "Email"),
                                    ("Microsoft Teams", "Microsoft", "Collaboration"),
                                    ("Google Chrome", "Google", "Browser")):
        data.applications[name] = Application.objects.create(name=name, company=company, category=category,
                                                             description=f"{name} application")
    app = data.applications
    for name, application, platform, threat, size, description in (
        ("outlook.exe", "Microsoft Outlook", "windows", "none", 30 * 1024**2, "Outlook"),
        ("teams.exe", "Microsoft Teams", "windows", "low", 120 * 1024**2, 'Microsoft "Teams"\tclient'),
        ("chrome.exe", "Google Chrome", "windows", "none", 200 * 1024**2, "Chrome"),
        ("Safari", None, "mac_os", "low", 10 * 1024**2, "Safari"),
        ("updater.exe", None, "windows", "high", 1024, ""),
    ):
        data.binaries[name] = Binary.objects.create(
            name=name, executable_name=name, version="1.0", application=app.get(application), company="",
            description=description, threat_level=threat, size=size, sha256="", platform=platform,
            first_seen=datetime(2024, 1, 1, tzinfo=UTC), last_seen=h1,
        )
    binr = data.binaries
    for name, publisher, platform in (("Office 365", "Microsoft", "windows"), ("Zoom", "Zoom Video", "mac_os"),
                                      ("7-Zip", "Igor Pavlov", "windows")):
        data.packages[name] = Package.objects.create(name=name, version="1.0", publisher=publisher,
                                                     platform=platform, first_seen=datetime(2024, 1, 1, tzinfo=UTC))
    pkg = data.packages
    for name, ip in (("outlook.office365.com", "52.96.1.1"), ("intranet", "10.5.0.1"),
                     ("teams.microsoft.com", "52.112.0.1")):
        data.destinations[name] = Destination.objects.create(name=name, ip_address=ip)
    dst = data.destinations
    for name, category, country in (("intranet.example.com", "Business", "CH"), ("www.google.com", "Search", "US")):
        data.domains[name] = Domain.objects.create(name=name, category=category, hosting_country=country)
    dom = data.domains
    for number, protocol in ((443, "tcp"), (80, "tcp"), (53, "udp")):
        data.ports[f"{number}/{protocol}"] = Port.objects.get_or_create(port_number=number, protocol=protocol)[0]
    prt = data.ports

    # -- executions -------------------------------------------------------------------------------
    def execution(device, user, binary, start, duration, crashes=0):
        Execution.objects.create(
            device=dev[device], user=usr[user] if user else None, binary=binr[binary], start_time=start,
            end_time=start + timedelta(milliseconds=duration), duration=duration, cpu_time=duration // 10,
            memory=100 * 1024**2, number_of_crashes=crashes, binary_path=f"C:\\Apps\\{binary}",
        )

    execution("alpha", "ann", "outlook.exe", h2, 60_000)
    execution("alpha", "ann", "teams.exe", h3, 120_000, crashes=1)
    execution("Bravo", "bob", "Safari", h2, 30_000)
    execution("charlie", "carol", "outlook.exe", d3, 90_000, crashes=2)
    execution("delta", "carol", "chrome.exe", h2, 1_000)
    execution("echo", None, "outlook.exe", last_second_of_yesterday, 45_000)
    execution("alpha", "ann", "outlook.exe", T0, 10_000)
    execution("Foxtrot", "bob", "chrome.exe", T1, 20_000)
    execution("charlie", "carol", "chrome.exe", h2, 5_000)

    # -- crashes ----------------------------------------------------------------------------------
    Crash.objects.create(device=dev["alpha"], user=usr["ann"], binary=binr["teams.exe"], time=h3,
                         exception_code="0xc0000005")
    Crash.objects.create(device=dev["charlie"], user=usr["carol"], binary=binr["outlook.exe"], time=d3,
                         exception_code="0xe0434352")
    Crash.objects.create(device=dev["charlie"], user=usr["carol"], binary=binr["outlook.exe"],
                         time=d3 + timedelta(minutes=1), exception_code="0xe0434352")

    # -- connections ------------------------------------------------------------------------------
    def connection(device, user, binary, destination, port, status, incoming, outgoing, response, start):
        Connection.objects.create(
            device=dev[device], user=usr[user] if user else None, binary=binr[binary], destination=dst[destination],
            port=prt[port], status=status, incoming_traffic=incoming, outgoing_traffic=outgoing,
            network_response_time=response, number_of_connections=1, start_time=start,
            end_time=start + timedelta(seconds=30),
        )

    connection("alpha", "ann", "outlook.exe", "outlook.office365.com", "443/tcp", "established", 1000, 500, 40, h2)
    connection("alpha", "ann", "outlook.exe", "outlook.office365.com", "443/tcp", "timeout", 0, 100, None, h2)
    connection("Bravo", "bob", "Safari", "intranet", "80/tcp", "rejected", 0, 50, None, h1)
    connection("charlie", "carol", "outlook.exe", "outlook.office365.com", "443/tcp", "closed", 2000, 700, 60, d3)
    connection("charlie", "carol", "teams.exe", "teams.microsoft.com", "443/tcp", "no_host", 0, 0, None, h2)
    connection("echo", None, "outlook.exe", "intranet", "53/udp", "no_service", 0, 10, None, h2)
    connection("Foxtrot", "bob", "chrome.exe", "teams.microsoft.com", "443/tcp", "established", 300, 200, 20, h2)
    connection("delta", "carol", "chrome.exe", "intranet", "443/tcp", "established", 100, 100, 10, h2)

    # -- web requests -----------------------------------------------------------------------------
    def web(device, user, binary, domain, path, protocol, status, response, incoming, outgoing, start):
        WebRequest.objects.create(
            device=dev[device], user=usr[user] if user else None, binary=binr[binary], domain=dom[domain],
            url_path=path, protocol=protocol, http_status=status, response_time=response,
            incoming_traffic=incoming, outgoing_traffic=outgoing, number_of_requests=1, start_time=start,
            end_time=start + timedelta(seconds=1),
        )

    web("alpha", "ann", "chrome.exe", "intranet.example.com", "/home", "https", 200, 100, 5000, 300, h2)
    web("alpha", "ann", "chrome.exe", "intranet.example.com", "/missing", "https", 404, 50, 100, 100, h2)
    web("Bravo", "bob", "Safari", "www.google.com", "/search", "https", 500, 300, 2000, 200, h1)
    web("charlie", "carol", "chrome.exe", "intranet.example.com", "/api", "http", 200, 200, 1000, 100, d3)
    web("charlie", "carol", "chrome.exe", "www.google.com", "/", "https", 403, 150, 10, 10, h2)
    web("delta", "carol", "chrome.exe", "intranet.example.com", "/m", "https", 500, 100, 50, 50, h2)
    web("Foxtrot", "bob", "chrome.exe", "intranet.example.com", "/x", "https", 399, 90, 70, 30, h2)

    # -- device events ----------------------------------------------------------------------------
    for device, user, kind, duration, details, start in (
        ("alpha", "ann", "system_boot", 30_000, "", h5),
        ("alpha", "ann", "user_logon", 12_000, "", h5 + timedelta(minutes=1)),
        ("Bravo", None, "low_disk", None, "C: 95% full", h1),
        ("charlie", "carol", "system_crash", None, "BSOD", d3),
        ("echo", None, "high_cpu", None, "", h2),
        ("delta", "carol", "system_boot", 40_000, "", h2),
    ):
        DeviceEvent.objects.create(device=dev[device], user=usr[user] if user else None, type=kind,
                                   duration=duration, details=details, start_time=start,
                                   end_time=start + timedelta(milliseconds=duration or 0))

    # -- installations ----------------------------------------------------------------------------
    for device, package, kind, start in (
        ("alpha", "Office 365", "installation", d3),
        ("alpha", "7-Zip", "installation", d2),
        ("alpha", "7-Zip", "uninstallation", d2 + timedelta(hours=1)),
        ("Bravo", "Zoom", "installation", d3),
        ("charlie", "Office 365", "installation", d2),
        ("charlie", "Office 365", "installation", d2 + timedelta(hours=2)),  # reinstalled: still one pair
        ("delta", "Zoom", "installation", d2),
    ):
        Installation.objects.create(device=dev[device], package=pkg[package], type=kind, start_time=start,
                                    end_time=start + timedelta(minutes=5))

    # -- categories -------------------------------------------------------------------------------
    for name, table, keywords in (
        ("Location", "device", ("Lausanne", "Zurich", "Boston")),
        ("Criticality", "device", ("high", "medium", "low")),
        ("Business Unit", "device", ("Sales", "IT")),
        ("Approved", "binary", ("yes", "no")),
    ):
        category = Category.objects.create(name=name, object_table=table)
        data.categories[name] = category
        for keyword in keywords:
            data.keywords[(name, keyword)] = Keyword.objects.create(category=category, name=keyword)
    for category, keyword, obj in (
        ("Location", "Lausanne", dev["alpha"]), ("Location", "Zurich", dev["Bravo"]),
        ("Location", "Boston", dev["charlie"]), ("Location", "Boston", dev["delta"]),
        ("Location", "Lausanne", dev["echo"]),
        ("Criticality", "high", dev["alpha"]), ("Criticality", "medium", dev["charlie"]),
        ("Criticality", "low", dev["echo"]),
        ("Business Unit", "IT", dev["Bravo"]),
        ("Approved", "yes", binr["outlook.exe"]),
    ):
        CategoryAssignment.objects.create(category=data.categories[category],
                                          keyword=data.keywords[(category, keyword)], object_id=obj.pk)

    # -- accounts ---------------------------------------------------------------------------------
    for username, rights in ACCOUNTS.items():
        rights = dict(rights)
        is_active = rights.pop("is_active", True)
        if "view_domain" in rights:
            rights["view_domain"] = nodes[rights["view_domain"]]
        profile = Profile.objects.create(name=f"{PREFIX}{username}", **rights)
        account = Account(username=username, profile=profile, is_active=is_active)
        account.set_password(PASSWORD)
        account.save()
        data.accounts[username] = account
    return data


def destroy_dataset(data: Dataset) -> None:
    """Removes every row ``build_dataset`` made (the data set is committed outside test transactions)."""
    device_ids = [d.pk for d in data.devices.values()]
    for model in (Execution, Crash, Connection, WebRequest, DeviceEvent, Installation):
        model.objects.filter(device_id__in=device_ids).delete()
    CategoryAssignment.objects.filter(category__in=data.categories.values()).delete()
    Category.objects.filter(pk__in=[c.pk for c in data.categories.values()]).delete()
    Device.objects.filter(pk__in=device_ids).delete()
    Binary.objects.filter(pk__in=[b.pk for b in data.binaries.values()]).delete()
    Application.objects.filter(pk__in=[a.pk for a in data.applications.values()]).delete()
    Package.objects.filter(pk__in=[p.pk for p in data.packages.values()]).delete()
    Destination.objects.filter(pk__in=[d.pk for d in data.destinations.values()]).delete()
    Domain.objects.filter(pk__in=[d.pk for d in data.domains.values()]).delete()
    Port.objects.filter(pk__in=[p.pk for p in data.ports.values()]).delete()
    EndUser.objects.filter(pk__in=[u.pk for u in data.users.values()]).delete()
    Account.objects.filter(pk__in=[a.pk for a in data.accounts.values()]).delete()
    Profile.objects.filter(name__startswith=PREFIX).delete()
    if data.hierarchy is not None:
        HierarchyNode.objects.filter(hierarchy=data.hierarchy, parent__isnull=False,
                                     entity__isnull=False).delete()
        data.hierarchy.delete()
    Entity.objects.filter(pk__in=[e.pk for e in data.entities.values()], devices__isnull=True).delete()
    Engine.objects.filter(pk__in=[e.pk for e in data.engines.values()]).delete()
