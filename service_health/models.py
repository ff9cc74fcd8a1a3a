"""Services (``services.md``): what a service is made of and the thresholds of its status.

A **service** is either ``connection`` based (network connections to its destinations on its ports)
or ``web`` based (web requests to its domains, optionally under URL path prefixes). Either may be
limited to some executables (binaries, by name) and to the devices of some entities (its consumers).
The definition rows are normalised when validated (host names in lowercase, IP networks in their
canonical form) so that the metrics SQL (``service_health.services``) compares them as they are.
"""

from __future__ import annotations

import ipaddress
import re
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from portal.models import Entity

# A DNS host name (labels of letters, digits and hyphens), optionally "*." for every subdomain.
HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
HOST_NAME = re.compile(rf"^(\*\.)?{HOST_LABEL}(\.{HOST_LABEL})*$")


def normalize_host(value: str) -> str:
    """``value`` as a lowercase host name (``*.`` allowed in front); raises ``ValidationError``."""
    host = (value or "").strip().lower().rstrip(".")
    if len(host) > 253 or not HOST_NAME.match(host):
        raise ValidationError(
            "Enter a host name such as outlook.office365.com, or *.example.com for every subdomain."
        )
    return host


def normalize_destination(value: str) -> str:
    """A host name (see ``normalize_host``), an IP address or an IP network in CIDR notation."""
    text = (value or "").strip()
    if not text:
        raise ValidationError("Enter a host name, an IP address or a network in CIDR notation.")
    if "/" in text or text.replace(".", "").isdigit() or ":" in text:
        try:
            if "/" not in text:
                return str(ipaddress.ip_address(text))
            return str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValidationError(
                "Enter a valid IP address (10.1.2.10) or network in CIDR notation (10.1.0.0/16)."
            ) from None
    try:
        return normalize_host(text)
    except ValidationError:
        raise ValidationError(
            "Enter a host name (outlook.office365.com, *.example.com), an IP address (10.1.2.10) or a "
            "network in CIDR notation (10.1.0.0/16)."
        ) from None


def destination_kind(value: str) -> str:
    """``network`` (an IP address or CIDR network), ``suffix`` (``*.domain``) or ``host``."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "suffix" if value.startswith("*.") else "host"
    return "network"


class Service(models.Model):
    """A monitored IT service and the thresholds that give its status per node."""

    class Type(models.TextChoices):
        CONNECTION = "connection", "Connection (network connections)"
        WEB = "web", "Web (HTTP and TLS web requests)"

    uid = models.UUIDField("UID", unique=True, default=uuid.uuid4, editable=False,
                           help_text="What Services API clients pass as metric=…; never changes.")
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.CONNECTION)
    warning_threshold = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1)],
        help_text="Number of devices with issues from which a node's status is yellow.",
    )
    error_threshold = models.PositiveIntegerField(
        default=20, validators=[MinValueValidator(1)],
        help_text="Number of devices with issues from which a node's status is red.",
    )
    slow_response_threshold = models.PositiveIntegerField(
        "slow-response threshold (ms)", null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(86_400_000)],
        help_text="Web services only: a web request slower than this many milliseconds is an issue.",
    )
    all_devices = models.BooleanField(
        "consumed by all devices", default=True,
        help_text="Untick to limit the service to the devices of the entities below.",
    )
    consumer_entities = models.ManyToManyField(
        Entity, blank=True, related_name="services",
        help_text="When not consumed by all devices: the entities whose devices use the service.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if (self.warning_threshold is not None and self.error_threshold is not None
                and self.error_threshold < self.warning_threshold):
            errors["error_threshold"] = (
                f"The error threshold cannot be below the warning threshold ({self.warning_threshold})."
            )
        if self.type == self.Type.WEB and self.slow_response_threshold is None:
            errors["slow_response_threshold"] = "A web service needs a slow-response threshold (milliseconds)."
        if self.type == self.Type.CONNECTION and self.slow_response_threshold is not None:
            errors["slow_response_threshold"] = (
                "Only web services have a slow-response threshold: leave it empty for a connection service."
            )
        if errors:
            raise ValidationError(errors)

    def status_for(self, devices_with_issues: int) -> str:
        """``green``, ``yellow`` (≥ warning threshold) or ``red`` (≥ error threshold)."""
        if devices_with_issues >= self.error_threshold:
            return "red"
        if devices_with_issues >= self.warning_threshold:
            return "yellow"
        return "green"


class ServiceDestination(models.Model):
    """Connection services: a host name (``*.`` for subdomains), an IP address or a CIDR network.

    ``kind`` is derived from the value on save; the metrics SQL reads a value as an IP network
    only when its kind says so.
    """

    class Kind(models.TextChoices):
        HOST = "host"
        SUFFIX = "suffix", "subdomains"
        NETWORK = "network", "IP address or network"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="destinations")
    value = models.CharField(
        "destination", max_length=253,
        help_text="outlook.office365.com, *.example.com, 10.1.2.10 or 10.1.0.0/16.",
    )
    kind = models.CharField(max_length=7, choices=Kind.choices, editable=False)

    class Meta:
        ordering = ["service", "value"]
        constraints = [models.UniqueConstraint(fields=["service", "value"], name="service_destination_unique")]

    def __str__(self) -> str:
        return self.value

    def save(self, *args, **kwargs) -> None:
        self.value = normalize_destination(self.value)  # raises ValidationError for a bad value
        self.kind = destination_kind(self.value)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        try:
            self.value = normalize_destination(self.value)
        except ValidationError as error:
            raise ValidationError({"value": error.messages}) from None


class ServicePort(models.Model):
    """Connection services: a port number and protocol."""

    class Protocol(models.TextChoices):
        TCP = "tcp"
        UDP = "udp"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="ports")
    port_number = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    protocol = models.CharField(max_length=3, choices=Protocol.choices, default=Protocol.TCP)

    class Meta:
        ordering = ["service", "port_number", "protocol"]
        constraints = [
            models.UniqueConstraint(fields=["service", "port_number", "protocol"], name="service_port_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.port_number}/{self.protocol}"


class ServiceDomain(models.Model):
    """Web services: a domain (``*.`` for subdomains) and optionally a URL path prefix."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, help_text="intranet.example.com, or *.example.com.")
    path_prefix = models.CharField(
        "URL path prefix", max_length=2000, blank=True,
        help_text="Optional: only requests whose URL path starts with this, e.g. /hr/. Empty: every path.",
    )

    class Meta:
        ordering = ["service", "domain", "path_prefix"]
        constraints = [
            models.UniqueConstraint(fields=["service", "domain", "path_prefix"], name="service_domain_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.domain}{self.path_prefix}"

    def save(self, *args, **kwargs) -> None:
        self.domain = normalize_host(self.domain)  # raises ValidationError for a bad value
        self.path_prefix = (self.path_prefix or "").strip()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors = {}
        try:
            self.domain = normalize_host(self.domain)
        except ValidationError as error:
            errors["domain"] = error.messages
        prefix = (self.path_prefix or "").strip()
        if prefix and (not prefix.startswith("/") or any(ch.isspace() for ch in prefix)):
            errors["path_prefix"] = "A URL path prefix starts with / and has no spaces, e.g. /hr/."
        self.path_prefix = prefix
        if errors:
            raise ValidationError(errors)


class ServiceExecutable(models.Model):
    """Optional: only the activity of these binaries (matched by name, any version, case-insensitively)."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="executables")
    name = models.CharField(
        "executable", max_length=255,
        help_text="A binary's name as the Engine reports it, e.g. outlook.exe or Microsoft Outlook.",
    )

    class Meta:
        ordering = ["service", "name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "service", name="service_executable_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.name = (self.name or "").strip()
        if not self.name:
            raise ValidationError({"name": "Enter the binary's name, e.g. outlook.exe."})
