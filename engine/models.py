"""The Engine's data: Engines, endpoint objects, their activity, and categories.

Field names follow the NXQL names of ``data-model.md`` so that the schema registry
(``engine.schema``) maps most fields one to one. Durations are stored as milliseconds, byte
quantities as bytes, percentages as reals in 0..1; enums as lowercase words.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F

from portal.models import Entity

hex32 = RegexValidator(r"^[0-9a-f]{32}$", "32 lowercase hexadecimal characters.")


class Platform(models.TextChoices):
    WINDOWS = "windows", "Windows"
    MAC_OS = "mac_os", "macOS"
    MOBILE = "mobile", "Mobile"


class Engine(models.Model):
    """A named partition of devices (one per site or per 10k devices in the documented product)."""

    class Status(models.TextChoices):
        CONNECTED = "CONNECTED", "Connected"
        DISCONNECTED = "DISCONNECTED", "Disconnected"
        CONNECTING = "CONNECTING", "Connecting"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    database_uid = models.CharField("database UID", max_length=32, unique=True, validators=[hex32])
    machine_id = models.CharField("machine ID", max_length=32, validators=[hex32])
    address = models.CharField(max_length=253, unique=True, help_text="DNS name clients call this Engine by.")
    port = models.PositiveIntegerField(default=443)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CONNECTED)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone name.")
    version = models.CharField(max_length=32, default="6.30.0")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# -- Objects ------------------------------------------------------------------------------------


class Device(models.Model):
    class DeviceType(models.TextChoices):
        LAPTOP = "laptop"
        DESKTOP = "desktop"
        SERVER = "server"
        VIRTUAL = "virtual"
        SMARTPHONE = "smartphone"

    name = models.CharField(max_length=255, db_index=True)
    device_uid = models.CharField("device UID", max_length=32, unique=True, validators=[hex32])
    collector_uid = models.CharField("collector UID", max_length=36, unique=True)
    engine = models.ForeignKey(Engine, on_delete=models.PROTECT, related_name="devices")
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="devices")
    platform = models.CharField(max_length=10, choices=Platform.choices)
    os_version_and_architecture = models.CharField(max_length=200, blank=True)
    os_build = models.CharField(max_length=64, blank=True)
    device_type = models.CharField(max_length=12, choices=DeviceType.choices)
    device_manufacturer = models.CharField(max_length=200, blank=True)
    device_model = models.CharField(max_length=200, blank=True)
    device_serial_number = models.CharField(max_length=100, blank=True)
    total_ram = models.BigIntegerField(null=True, blank=True)
    number_of_cpus = models.IntegerField(null=True, blank=True)
    cpu_model = models.CharField(max_length=200, blank=True)
    system_drive_capacity = models.BigIntegerField(null=True, blank=True)
    system_drive_free_space = models.BigIntegerField(null=True, blank=True)
    system_drive_usage = models.FloatField(null=True, blank=True)
    last_ip_address = models.GenericIPAddressField(null=True, blank=True)
    mac_addresses = models.CharField("MAC addresses", max_length=200, blank=True)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    last_system_boot = models.DateTimeField(null=True, blank=True)
    last_boot_duration = models.BigIntegerField(null=True, blank=True, help_text="Milliseconds.")
    last_logged_on_user = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EndUser(models.Model):
    """A user of the endpoints (not an account of the portal)."""

    class UserType(models.TextChoices):
        LOCAL = "local"
        DOMAIN = "domain"
        SYSTEM = "system"

    name = models.CharField(max_length=255, db_index=True)
    user_uid = models.CharField("user UID", max_length=36, unique=True)
    sid = models.CharField("SID", max_length=100, blank=True)
    full_name = models.CharField(max_length=255, blank=True)
    department = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    user_type = models.CharField(max_length=8, choices=UserType.choices, default=UserType.DOMAIN)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "engine_user"
        ordering = ["name"]
        verbose_name = "user"

    def __str__(self) -> str:
        return self.name


class Application(models.Model):
    name = models.CharField(max_length=255, unique=True)
    company = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Binary(models.Model):
    class ThreatLevel(models.TextChoices):
        NONE = "none"
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"

    name = models.CharField(max_length=255, db_index=True)
    executable_name = models.CharField(max_length=255, db_index=True)
    version = models.CharField(max_length=64, blank=True)
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.SET_NULL, related_name="binaries"
    )
    company = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    threat_level = models.CharField(max_length=6, choices=ThreatLevel.choices, default=ThreatLevel.NONE)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    platform = models.CharField(max_length=10, choices=Platform.choices)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "version"]
        verbose_name_plural = "binaries"

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()


class Package(models.Model):
    name = models.CharField(max_length=255, db_index=True)
    version = models.CharField(max_length=64, blank=True)
    publisher = models.CharField(max_length=255, blank=True)
    platform = models.CharField(max_length=10, choices=Platform.choices)
    first_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "version"]

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()


class Destination(models.Model):
    name = models.CharField(max_length=255, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Domain(models.Model):
    name = models.CharField(max_length=255, unique=True)
    category = models.CharField(max_length=100, blank=True)
    hosting_country = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Port(models.Model):
    class Protocol(models.TextChoices):
        TCP = "tcp"
        UDP = "udp"

    port_number = models.IntegerField()
    protocol = models.CharField(max_length=3, choices=Protocol.choices)

    class Meta:
        ordering = ["port_number", "protocol"]
        constraints = [models.UniqueConstraint(fields=["port_number", "protocol"], name="port_unique")]

    def __str__(self) -> str:
        return f"{self.port_number}/{self.protocol}"


# -- Activity -----------------------------------------------------------------------------------


class UtcTime(models.Func):
    """``time AT TIME ZONE 'UTC'``: a timestamptz as the naive UTC time (immutable, so indexable).

    The services' metrics (``service_health.services``) read one destination's or domain's rows of a
    window through an index on ``(destination_id, UtcTime(start_time))``: written on this expression,
    the window can only use that index (and its own statistics), not the plain time index.
    """

    template = "(%(expressions)s AT TIME ZONE 'UTC')"
    output_field = models.DateTimeField()


class Event(models.Model):
    """Common shape of activity rows: a device, a time span, and the indexes the data model asks for.

    Foreign keys to the device are not indexed alone: ``(device, start_time)`` serves those lookups.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+", db_index=False)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()

    class Meta:
        abstract = True
        ordering = ["-start_time"]

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} {self.pk} on device {self.device_id} at {self.start_time:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def time_indexes(cls, table: str) -> list[models.Index]:
        return [
            models.Index(fields=["device", "start_time"], name=f"{table}_device_time"),
            models.Index(fields=["start_time"], name=f"{table}_time"),
        ]


class Execution(Event):
    user = models.ForeignKey(EndUser, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    binary = models.ForeignKey(Binary, on_delete=models.CASCADE, related_name="+")
    duration = models.BigIntegerField(help_text="Milliseconds.")
    cpu_time = models.BigIntegerField(help_text="Milliseconds.")
    memory = models.BigIntegerField(help_text="Average working set, bytes.")
    number_of_crashes = models.IntegerField(default=0)
    binary_path = models.CharField(max_length=500, blank=True)

    class Meta(Event.Meta):
        indexes = Event.time_indexes("execution")


class Crash(models.Model):
    """An execution crash; its single time is ``time`` (NXQL ``start_time``)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(EndUser, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    binary = models.ForeignKey(Binary, on_delete=models.CASCADE, related_name="+")
    time = models.DateTimeField()
    exception_code = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-time"]
        verbose_name_plural = "crashes"
        indexes = [
            models.Index(fields=["device", "time"], name="crash_device_time"),
            models.Index(fields=["time"], name="crash_time"),
        ]

    def __str__(self) -> str:
        return f"crash {self.pk} on device {self.device_id} at {self.time:%Y-%m-%d %H:%M:%S}"


class Connection(Event):
    class Status(models.TextChoices):
        ESTABLISHED = "established"
        CLOSED = "closed"
        REJECTED = "rejected"
        NO_HOST = "no_host"
        NO_SERVICE = "no_service"
        TIMEOUT = "timeout"

    FAILED_STATUSES = ("rejected", "no_host", "no_service", "timeout")

    user = models.ForeignKey(EndUser, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    binary = models.ForeignKey(Binary, on_delete=models.CASCADE, related_name="+")
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="+")
    port = models.ForeignKey(Port, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices)
    incoming_traffic = models.BigIntegerField(default=0)
    outgoing_traffic = models.BigIntegerField(default=0)
    network_response_time = models.BigIntegerField(null=True, blank=True, help_text="Milliseconds.")
    number_of_connections = models.IntegerField(default=1)

    class Meta(Event.Meta):
        indexes = [
            *Event.time_indexes("connection"),
            models.Index(F("destination"), UtcTime("start_time"), name="connection_destination_utc"),
        ]


class WebRequest(Event):
    class Protocol(models.TextChoices):
        HTTP = "http"
        HTTPS = "https"

    user = models.ForeignKey(EndUser, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    binary = models.ForeignKey(Binary, on_delete=models.CASCADE, related_name="+")
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="+")
    url_path = models.CharField(max_length=2000, blank=True)
    protocol = models.CharField(max_length=5, choices=Protocol.choices)
    http_status = models.IntegerField()
    response_time = models.BigIntegerField(help_text="Milliseconds.")
    incoming_traffic = models.BigIntegerField(default=0)
    outgoing_traffic = models.BigIntegerField(default=0)
    number_of_requests = models.IntegerField(default=1)

    class Meta(Event.Meta):
        indexes = [
            *Event.time_indexes("web_request"),
            models.Index(F("domain"), UtcTime("start_time"), name="web_request_domain_utc"),
        ]


class DeviceEvent(Event):
    """A device performance event (NXQL ``event``)."""

    class Type(models.TextChoices):
        SYSTEM_BOOT = "system_boot"
        USER_LOGON = "user_logon"
        SYSTEM_CRASH = "system_crash"
        HARD_RESET = "hard_reset"
        LOW_DISK = "low_disk"
        HIGH_CPU = "high_cpu"

    user = models.ForeignKey(EndUser, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=12, choices=Type.choices)
    duration = models.BigIntegerField(null=True, blank=True, help_text="Milliseconds.")
    details = models.CharField(max_length=500, blank=True)

    class Meta(Event.Meta):
        db_table = "engine_event"
        verbose_name = "device event"
        indexes = Event.time_indexes("event")


class Installation(Event):
    class Type(models.TextChoices):
        INSTALLATION = "installation"
        UNINSTALLATION = "uninstallation"

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=14, choices=Type.choices)

    class Meta(Event.Meta):
        indexes = Event.time_indexes("installation")


# -- Categories ---------------------------------------------------------------------------------


class Category(models.Model):
    """A closed set of keywords tagging the rows of one object table (NXQL ``#Name``)."""

    class ObjectTable(models.TextChoices):
        DEVICE = "device"
        USER = "user"
        BINARY = "binary"
        APPLICATION = "application"
        PACKAGE = "package"
        DESTINATION = "destination"
        DOMAIN = "domain"
        PORT = "port"

    name = models.CharField(max_length=100)
    object_table = models.CharField(max_length=12, choices=ObjectTable.choices)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["object_table", "name"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["object_table", "name"], name="category_name_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.name} ({self.object_table})"


class Keyword(models.Model):
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="keywords")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["category", "name"]
        constraints = [models.UniqueConstraint(fields=["category", "name"], name="keyword_name_unique")]

    def __str__(self) -> str:
        return self.name


class CategoryAssignment(models.Model):
    """The keyword one object row holds in one category (at most one per category and row)."""

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="assignments")
    keyword = models.ForeignKey(Keyword, on_delete=models.CASCADE, related_name="assignments")
    object_id = models.BigIntegerField(help_text="Primary key of the row in the category's object table.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["category", "object_id"], name="category_assignment_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.category.name}[{self.object_id}] = {self.keyword.name}"


# -- Saved NQL queries and their exports (nql.md) ------------------------------------------------

NQL_ID_PATTERN = r"^#[a-z0-9_]{1,255}\Z"
nql_id_validator = RegexValidator(
    NQL_ID_PATTERN, "An NQL ID is # followed by 1 to 255 lowercase letters, digits or underscores."
)


class SavedQuery(models.Model):
    """An NQL query saved by an administrator, run through the NQL API by its NQL ID.

    ``nql_id`` never changes once saved (clients call the query by it). The text is validated on
    ``clean()`` with the NQL compiler; its ``$name`` placeholders are the query's parameters.
    """

    nql_id = models.CharField(
        "NQL ID", max_length=256, unique=True, validators=[nql_id_validator],
        help_text="# followed by lowercase letters, digits or underscores, e.g. #devices_on_platform. "
        "Fixed once saved.",
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    text = models.TextField(
        "NQL query", help_text="NQL text; $name placeholders in where stages are parameters of the query."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["nql_id"]
        verbose_name = "saved NQL query"
        verbose_name_plural = "saved NQL queries"

    def __str__(self) -> str:
        return self.nql_id

    def save(self, *args, **kwargs) -> None:
        saved = getattr(self, "_saved_nql_id", None)
        if self.pk is not None and saved is not None and self.nql_id != saved:
            raise ValueError(f"the NQL ID of a saved query cannot change ({saved} -> {self.nql_id})")
        super().save(*args, **kwargs)
        self._saved_nql_id = self.nql_id

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._saved_nql_id = instance.__dict__.get("nql_id")
        return instance

    def parameter_names(self) -> list[str]:
        """The names of the query's parameters (without ``$``), in order of appearance.

        Raises ``engine.query.errors.QueryError`` when the text is not valid NQL."""
        from engine.services import nql_parameter_names

        return [name.lstrip("$") for name in nql_parameter_names(self.text)]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from engine.query.errors import QueryError

        errors = {}
        saved = getattr(self, "_saved_nql_id", None)
        if self.pk is not None and saved is not None and self.nql_id != saved:
            errors["nql_id"] = "The NQL ID cannot be changed once saved."
        if self.text and self.text.strip():
            try:
                self.parameter_names()
            except QueryError as error:
                errors["text"] = error.full_message
        if errors:
            raise ValidationError(errors)


class NqlExport(models.Model):
    """One export of a saved query (``POST|GET /api/v1/nql/export``), run by a Celery worker.

    The row is durable: the worker reads everything it needs from it (the query text as it was
    when the export was asked for, the parameters, the compression), so a task delivered again
    after a worker died redoes the export, and one delivered again after it completed does nothing.
    """

    class Compression(models.TextChoices):
        NONE = "NONE"
        GZIP = "GZIP"
        ZSTD = "ZSTD"

    class Status(models.TextChoices):
        SUBMITTED = "SUBMITTED"
        IN_PROGRESS = "IN_PROGRESS"
        COMPLETED = "COMPLETED"
        ERROR = "ERROR"

    id = models.UUIDField("export ID", primary_key=True, default=uuid.uuid4, editable=False)
    saved_query = models.ForeignKey(
        SavedQuery, null=True, blank=True, on_delete=models.SET_NULL, related_name="exports"
    )
    query_id = models.CharField("query ID", max_length=256, help_text="The NQL ID the export was asked for.")
    query_text = models.TextField(help_text="The saved query's text when the export was asked for.")
    parameters = models.JSONField(default=dict, blank=True)
    executed_query = models.TextField(blank=True, help_text="The text with the parameters substituted.")
    compression = models.CharField(max_length=4, choices=Compression.choices, default=Compression.NONE)
    status = models.CharField(max_length=11, choices=Status.choices, default=Status.SUBMITTED, db_index=True)
    error_description = models.TextField(blank=True)
    file_path = models.CharField(
        max_length=255, blank=True, help_text="The result file, relative to the private data dir's exports/."
    )
    row_count = models.BigIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker started this export.")
    requested_by = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="The API credential that asked for the export.",
    )

    class Meta:
        ordering = ["-created"]
        verbose_name = "NQL export"

    def __str__(self) -> str:
        return f"export {self.id} of {self.query_id} ({self.status})"
