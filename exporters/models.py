"""Connector credentials: how OpenDEX reaches and authenticates to an outbound tool.

Secrets (password, token, client secret) are encrypted at rest with Fernet. Exporters (and later
other connectors) refer to a credential with a foreign key using ``on_delete=models.PROTECT``; the
admin then refuses to delete a credential in use and names the objects using it.
"""

import json
import re
import uuid
from urllib.parse import urlsplit

from cryptography import x509
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from .fields import EncryptedTextField

# An HTTP header name (RFC 9110 token).
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Headers that carry secrets or are set by the connection itself: never allowed as extra headers.
RESERVED_HEADERS = {"authorization", "proxy-authorization", "cookie", "host", "content-length",
                    "transfer-encoding", "connection"}


def url_problem(value: str, allow_plain_http: bool) -> str | None:
    """What is wrong with ``value`` as ``https://host[:port][/base]``, or None."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "Enter a URL such as https://tool.example.com or https://tool.example.com:8443/api."
    if parts.scheme == "http":
        if not allow_plain_http:
            return "Plain http:// is refused: use https://, or tick “allow plain HTTP” to accept it."
    elif parts.scheme != "https":
        return "Enter a URL starting with https:// (for example https://tool.example.com/api)."
    if not parts.hostname:
        return "The URL needs a host name, for example https://tool.example.com."
    if parts.username is not None or parts.password is not None:
        return "Do not put a user name or password in the URL; use the authentication fields."
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return "The URL cannot have a query (?…) or a fragment (#…)."
    if any(ch.isspace() for ch in value):
        return "The URL cannot contain spaces."
    return None


class ConnectorCredential(models.Model):
    AUTH_BASIC = "basic"
    AUTH_BEARER = "bearer"
    AUTH_OAUTH2 = "oauth2_client_credentials"
    AUTH_CHOICES = [
        (AUTH_BASIC, "Basic (user name and password)"),
        (AUTH_BEARER, "Bearer token"),
        (AUTH_OAUTH2, "OAuth2 client credentials"),
    ]
    CLIENT_AUTH_BASIC_HEADER = "basic_header"
    CLIENT_AUTH_BODY = "body_fields"
    CLIENT_AUTH_CHOICES = [
        (CLIENT_AUTH_BASIC_HEADER, "Basic authorization header"),
        (CLIENT_AUTH_BODY, "client_id and client_secret in the request body"),
    ]
    SECRET_FIELDS = ("password", "token", "client_secret")

    uid = models.UUIDField("UID", default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    base_url = models.CharField(
        "base URL", max_length=2000,
        help_text="The tool's instance root, https://host[:port][/base]. Requests go to this URL, then /, "
        "then the exporter's resource.",
    )
    auth_type = models.CharField("authentication", max_length=32, choices=AUTH_CHOICES, default=AUTH_BASIC)
    username = models.CharField("user name", max_length=400, blank=True)
    password = EncryptedTextField(blank=True)
    token = EncryptedTextField(blank=True)
    token_url = models.CharField("token URL", max_length=2000, blank=True)
    client_id = models.CharField("client ID", max_length=400, blank=True)
    client_secret = EncryptedTextField(blank=True)
    scope = models.CharField(max_length=1000, blank=True)
    audience = models.CharField(max_length=1000, blank=True)
    client_auth = models.CharField(
        "client authentication", max_length=16, choices=CLIENT_AUTH_CHOICES, default=CLIENT_AUTH_BASIC_HEADER
    )
    extra_headers = models.JSONField(
        default=dict, blank=True,
        help_text='Non-secret HTTP headers sent with every request, as a JSON object: {"X-Source": "opendex"}.',
    )
    verify_tls = models.BooleanField("verify TLS certificates", default=True)
    ca_bundle_pem = models.TextField(
        "CA bundle (PEM)", blank=True,
        help_text="Optional certificates (PEM) to trust, instead of the system ones, when verifying the tool.",
    )
    allow_plain_http = models.BooleanField(
        "allow plain HTTP", default=False,
        help_text="Accept http:// base and token URLs. Credentials then travel unencrypted.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = "connector credential"

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors: dict[str, list[str]] = {}

        def problem(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        if self.base_url and (message := url_problem(self.base_url, self.allow_plain_http)) is not None:
            problem("base_url", message)
        if self.auth_type == self.AUTH_BASIC:
            if not self.username:
                problem("username", "Basic authentication needs a user name.")
            if not self.password:
                problem("password", "Basic authentication needs a password.")
        elif self.auth_type == self.AUTH_BEARER:
            if not self.token:
                problem("token", "Bearer authentication needs a token.")
        elif self.auth_type == self.AUTH_OAUTH2:
            if not self.token_url:
                problem("token_url", "OAuth2 client credentials need a token URL.")
            elif (message := url_problem(self.token_url, self.allow_plain_http)) is not None:
                problem("token_url", message)
            if not self.client_id:
                problem("client_id", "OAuth2 client credentials need a client ID.")
            if not self.client_secret:
                problem("client_secret", "OAuth2 client credentials need a client secret.")
        for message in header_problems(self.extra_headers):
            problem("extra_headers", message)
        if self.ca_bundle_pem.strip() and (message := pem_problem(self.ca_bundle_pem)) is not None:
            problem("ca_bundle_pem", message)
        if errors:
            raise ValidationError(errors)

    def secret_values(self) -> list[str]:
        """The stored secrets, to scrub them from any text shown or logged."""
        return [value for value in (self.password, self.token, self.client_secret) if value]


def header_problems(headers) -> list[str]:
    if headers in (None, ""):
        return []
    if isinstance(headers, str):
        try:
            headers = json.loads(headers)
        except ValueError:
            return ["Enter a JSON object of header names to values."]
    if not isinstance(headers, dict):
        return ['Enter a JSON object of header names to values, for example {"X-Source": "opendex"}.']
    found = []
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            found.append(f"“{name}” is not a valid header name.")
        elif name.lower() in RESERVED_HEADERS:
            found.append(f"“{name}” cannot be an extra header: authentication and connection headers are set "
                         "by the credential.")
        if not isinstance(value, str):
            found.append(f"The value of “{name}” must be text.")
        elif "\r" in value or "\n" in value:
            found.append(f"The value of “{name}” cannot contain line breaks.")
    return found


def pem_problem(text: str) -> str | None:
    if "-----BEGIN CERTIFICATE-----" not in text:
        return "Paste one or more certificates in PEM form (-----BEGIN CERTIFICATE----- …)."
    try:
        x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        return "These are not valid PEM certificates."
    return None


# -- Exporters ---------------------------------------------------------------------------------------

MAX_QUERIES = 10
HOURLY_EVERY = (1, 2, 3, 4, 6, 8, 12, 24)
PLACEHOLDER_IN_TEXT = re.compile(r"\{\{|\}\}|\{[^{}]*\}")


def resource_problem(value: str) -> str | None:
    """What is wrong with ``value`` as the path (and query) after the credential's base URL, or None."""
    if "://" in value or re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", value) or value.startswith("//"):
        return ("Enter only the path after the credential's base URL, without scheme and host, for example "
                "api/now/import/u_devices/insertMultiple.")
    if PLACEHOLDER_IN_TEXT.search(value):
        return "The resource cannot contain placeholders."
    if any(ch.isspace() for ch in value):
        return "The resource cannot contain spaces."
    return None


class Exporter(models.Model):
    METHOD_CHOICES = [("POST", "POST"), ("PUT", "PUT"), ("PATCH", "PATCH")]
    HOURLY, DAILY, WEEKLY = "hourly", "daily", "weekly"
    RECURRENCE_CHOICES = [(HOURLY, "Hourly, every N hours"), (DAILY, "Daily at 00:00 UTC"),
                          (WEEKLY, "Weekly on one day at 00:00 UTC")]
    WEEKDAY_CHOICES = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"),
                       (5, "Saturday"), (6, "Sunday")]

    uid = models.UUIDField("UID", default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    credential = models.ForeignKey(ConnectorCredential, on_delete=models.PROTECT, related_name="exporters")
    method = models.CharField(max_length=5, choices=METHOD_CHOICES, default="POST")
    resource = models.CharField(
        max_length=2000,
        help_text="The path (and query) after the credential's base URL, without scheme and host, e.g. "
        "api/now/import/u_devices/insertMultiple.",
    )
    recurrence = models.CharField(max_length=8, choices=RECURRENCE_CHOICES)
    every_hours = models.PositiveSmallIntegerField(
        "every (hours)", choices=[(n, str(n)) for n in HOURLY_EVERY], null=True, blank=True,
        help_text="For an hourly recurrence: run every N hours.",
    )
    weekday = models.PositiveSmallIntegerField(
        choices=WEEKDAY_CHOICES, null=True, blank=True, help_text="For a weekly recurrence: the day it runs."
    )
    enabled = models.BooleanField(default=True)
    batch_size = models.PositiveIntegerField(
        "records per request", default=200, validators=[MinValueValidator(1), MaxValueValidator(10_000)]
    )
    max_request_bytes = models.PositiveIntegerField(
        "maximum request size (bytes)", default=5_242_880, validators=[MinValueValidator(1)]
    )
    max_attempts = models.PositiveSmallIntegerField(
        "attempts per request", default=8, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    watermark = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="The end of the last time window delivered completely; the next run starts there.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            # Runs own the watermark and move it with a queryset update: saving the configuration must
            # never write back the copy read before a run moved it (that would export windows twice).
            kwargs["update_fields"] = [field.attname for field in self._meta.concrete_fields
                                       if not field.primary_key and field.name != "watermark"]
        super().save(*args, **kwargs)

    def clean(self):
        errors: dict[str, list[str]] = {}
        if self.resource and (message := resource_problem(self.resource)) is not None:
            errors.setdefault("resource", []).append(message)
        if self.recurrence == self.HOURLY and self.every_hours is None:
            errors.setdefault("every_hours", []).append("An hourly recurrence needs the number of hours.")
        if self.recurrence == self.WEEKLY and self.weekday is None:
            errors.setdefault("weekday", []).append("A weekly recurrence needs the day of the week.")
        if errors:
            raise ValidationError(errors)

    def recurrence_text(self) -> str:
        if self.recurrence == self.HOURLY:
            return f"every {self.every_hours} hours" if self.every_hours != 1 else "hourly"
        return self.recurrence

    def expected_timeframes(self) -> tuple[str, ...]:
        """The ``during past`` durations that cover exactly one period of the recurrence."""
        if self.recurrence == self.HOURLY and self.every_hours:
            return (f"{self.every_hours}h",) + (("1d",) if self.every_hours == 24 else ())
        if self.recurrence == self.DAILY:
            return ("1d", "24h")
        if self.recurrence == self.WEEKLY:
            return ("7d",)
        return ()


def query_timeframes(query) -> list:
    """Every time frame of a parsed NQL query (its source and its activity stages)."""
    found = [query.timeframe] if query.timeframe is not None else []
    for stage in query.stages:
        if getattr(stage, "timeframe", None) is not None:
            found.append(stage.timeframe)
    return found


class ExporterQuery(models.Model):
    STRUCTURE_CHOICES = [
        ("collection", "Collection: one JSON object per line"),
        ("array", "Array of objects"),
        ("object_with_array", "Object with an array of objects"),
    ]

    exporter = models.ForeignKey(Exporter, on_delete=models.CASCADE, related_name="queries")
    position = models.PositiveSmallIntegerField(default=0)
    nql = models.TextField("NQL query")
    structure = models.CharField("payload structure", max_length=20, choices=STRUCTURE_CHOICES,
                                 default="array")
    payload = models.TextField("payload JSON", help_text="The JSON template for one record, with {{column}} "
                               "placeholders in string values.")

    class Meta:
        ordering = ("exporter", "position", "id")
        verbose_name = "exporter query"
        verbose_name_plural = "exporter queries"

    def __str__(self) -> str:
        return f"{self.exporter_id} #{self.position}"

    def output_columns(self) -> list[str]:
        """The query's output column names (the payload content helpers); ``QueryError`` if it is invalid."""
        from engine.services import prepare_nql

        return [column.name for column in prepare_nql(self.nql).plan.columns]

    def clean(self):
        from .rendering import TemplateError, braces, parse_template

        errors: dict[str, list[str]] = {}
        columns: list[str] | None = None
        if self.nql and self.nql.strip():
            columns, problems = nql_problems(self.nql, self._exporter())
            if problems:
                errors["nql"] = problems
        if self.payload and self.payload.strip() and self.structure:
            try:
                template = parse_template(self.structure, self.payload)
            except TemplateError as error:
                errors.setdefault("payload", []).append(str(error))
            else:
                unknown = [name for name in template.placeholders if columns is not None and name not in columns]
                if unknown:
                    errors.setdefault("payload", []).append(
                        "Unknown placeholder" + ("s " if len(unknown) > 1 else " ")
                        + braces(unknown)
                        + ": use one of the query's columns: " + ", ".join(columns) + ".")
        exporter = self._exporter()
        if exporter is not None and exporter.pk is not None:
            others = ExporterQuery.objects.filter(exporter=exporter).exclude(pk=self.pk).count()
            if others >= MAX_QUERIES:
                errors.setdefault(NON_FIELD_ERRORS, []).append(
                    f"An exporter can have at most {MAX_QUERIES} queries.")
        if errors:
            raise ValidationError(errors)

    def _exporter(self) -> Exporter | None:
        try:
            return self.exporter
        except Exporter.DoesNotExist:
            return None


def nql_problems(nql: str, exporter: Exporter | None) -> tuple[list[str] | None, list[str]]:
    """The output columns of an exporter's query (None when it does not compile) and what is wrong with
    it: its syntax or names, or its time frames for the exporter's recurrence."""
    from engine.nql.parser import parse
    from engine.query.errors import QueryError
    from engine.services import prepare_nql

    try:
        tree = parse(nql)
        plan = prepare_nql(nql).plan
    except QueryError as error:
        return None, [f"The query is not valid: {error.full_message}."]
    columns = [column.name for column in plan.columns]
    if exporter is None or not exporter.recurrence:
        return columns, []
    return columns, timeframe_problems(tree, plan, exporter)


def timeframe_problems(tree, plan, exporter: Exporter) -> list[str]:
    """What is wrong with the time frames of a parsed and compiled query for the exporter's recurrence:
    every time frame must cover exactly one period, and events (the source, or ``with``/``include``
    stages) need one: without it they would cover a default day ending whenever the run starts."""
    from engine.nql import ast

    expected = exporter.expected_timeframes()
    if not expected:
        return []
    wanted = " or ".join(f"“during past {value}”" for value in expected)
    found = []
    untimed = []
    if plan.window is not None and tree.timeframe is None:
        untimed.append(tree.source)
    untimed.extend(stage for stage in tree.stages if isinstance(stage, ast.Activity) and stage.timeframe is None)
    for node in untimed:
        found.append(f"A query on events needs a time frame covering one period of the "
                     f"{exporter.recurrence_text()} recurrence: add {wanted} (line {node.line}, column {node.column}).")
    for frame in query_timeframes(tree):
        where = f" (line {frame.line}, column {frame.column})"
        if frame.kind != "past":
            found.append(f"An exporter's query must use a time frame “during past …” covering one period of "
                         f"its recurrence: {wanted}{where}.")
        elif frame.past not in expected:
            found.append(f"The time frame “during past {frame.past}” does not match the "
                         f"{exporter.recurrence_text()} recurrence: use {wanted}{where}.")
    return found


# -- Runs ----------------------------------------------------------------------------------------------


class ExporterRun(models.Model):
    """One run of an exporter (scheduled, manual or a test load), kept after the exporter is deleted."""

    SCHEDULE, MANUAL, TEST = "schedule", "manual", "test"
    TRIGGER_CHOICES = [(SCHEDULE, "schedule"), (MANUAL, "manual"), (TEST, "test")]
    RUNNING, SUCCESS, FAILED, SKIPPED = "running", "success", "failed", "skipped"
    STATUS_CHOICES = [(RUNNING, "running"), (SUCCESS, "success"), (FAILED, "failed"), (SKIPPED, "skipped")]

    uid = models.UUIDField("UID", default=uuid.uuid4, unique=True, editable=False)
    exporter = models.ForeignKey(Exporter, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    exporter_name = models.CharField(max_length=200)
    trigger = models.CharField(max_length=8, choices=TRIGGER_CHOICES)
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default=RUNNING)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    records_sent = models.BigIntegerField(default=0)
    batches_sent = models.BigIntegerField(default=0)
    bytes_sent = models.BigIntegerField(default=0)
    attempts = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_status = models.PositiveSmallIntegerField("last HTTP status", null=True, blank=True)
    results = models.JSONField(
        default=list, blank=True,
        help_text="Per query (test loads) or per window: what was sent and what the destination answered.",
    )
    redo_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="redone_by",
                                help_text="The stale run (its worker stopped) this run redoes.")

    class Meta:
        ordering = ("-started_at", "-id")
        indexes = [models.Index(fields=["exporter", "-started_at"]), models.Index(fields=["status"])]
        verbose_name = "exporter run"

    def __str__(self) -> str:
        return f"{self.exporter_name} {self.trigger} run {self.started_at:%Y-%m-%d %H:%M:%S}"
