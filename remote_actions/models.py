"""Remote actions: their configuration, requests, executions and the device channel's enrollments.

See ``remote-actions.md``. A **request** (API call or the admin's "Run on devices…") stores one
**execution** per device; devices fetch and answer their executions through the device channel
(``remote_actions.api``). Domain logic lives in ``remote_actions.services``.

Two denormalized text columns exist for the query engine, which reads plain columns only:
``RemoteAction.purpose_text`` (the purposes joined with ``", "``) and ``Execution.outputs_text``
(the outputs as a JSON object text). Both are kept in step by ``save()`` and the services.
"""

from __future__ import annotations

import json
import uuid

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from engine.models import Device, Engine

remote_action_id_validator = RegexValidator(
    r"^#[a-z0-9_]{1,255}$", "# followed by 1 to 255 lowercase letters, digits or underscores."
)


def new_uid() -> str:
    return str(uuid.uuid4())


class Purpose(models.TextChoices):
    DATA_COLLECTION = "DATA_COLLECTION", "Data collection"
    REMEDIATION = "REMEDIATION", "Remediation"


class RemoteAction(models.Model):
    class Origin(models.TextChoices):
        CUSTOM = "custom", "Custom"
        BUILT_IN = "built_in", "Built-in"

    class RunAs(models.TextChoices):
        LOCAL_SYSTEM = "LOCAL_SYSTEM", "Local system"
        INTERACTIVE_USER = "INTERACTIVE_USER", "Interactive user"
        DELEGATE_TO_SERVICE = "DELEGATE_TO_SERVICE", "Delegate to service"

    # Text (canonical lowercase UUID) so the query engine compares it like every other uid field.
    uid = models.CharField("UID", max_length=36, default=new_uid, unique=True, editable=False)
    nql_id = models.CharField(
        "NQL ID", max_length=256, unique=True, validators=[remote_action_id_validator],
        help_text="# followed by lowercase letters, digits or underscores, e.g. #restart_service.",
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.CUSTOM)
    built_in_content_version = models.CharField(max_length=32, blank=True)
    purpose = ArrayField(
        models.CharField(max_length=20, choices=Purpose.choices), default=list, blank=True,
        help_text="DATA_COLLECTION and/or REMEDIATION.",
    )
    purpose_text = models.CharField(max_length=64, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    # Targeting
    api_enabled = models.BooleanField("API", default=False, help_text="May be triggered through the API.")
    manual_enabled = models.BooleanField("manual", default=False)
    workflow_enabled = models.BooleanField("workflow", default=False)
    manual_allow_multiple_devices = models.BooleanField(default=False)
    # Script
    run_as = models.CharField(max_length=20, choices=RunAs.choices, default=RunAs.LOCAL_SYSTEM)
    execution_service_delegate = models.CharField(max_length=255, blank=True)
    timeout_seconds = models.PositiveIntegerField(
        default=120, validators=[MinValueValidator(1), MaxValueValidator(86400)]
    )
    windows_script = models.TextField("Windows script (PowerShell)", blank=True)
    macos_script = models.TextField("macOS script (bash/zsh)", blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["nql_id"]

    def __str__(self) -> str:
        return self.nql_id

    def save(self, *args, **kwargs) -> None:
        self.purpose_text = ", ".join(self.purpose or [])
        super().save(*args, **kwargs)

    @property
    def has_script_windows(self) -> bool:
        return bool(self.windows_script.strip())

    @property
    def has_script_macos(self) -> bool:
        return bool(self.macos_script.strip())

    def script_for(self, platform: str) -> tuple[str, str] | None:
        """(script, language) for a device platform, or None when the action has none for it."""
        if platform == "windows" and self.has_script_windows:
            return self.windows_script, "powershell"
        if platform == "mac_os" and self.has_script_macos:
            return self.macos_script, "bash"
        return None


class RemoteActionInput(models.Model):
    """A parameter of the scripts (``scriptInfo.inputs``)."""

    remote_action = models.ForeignKey(RemoteAction, on_delete=models.CASCADE, related_name="inputs")
    name = models.CharField(max_length=255, help_text="Also the input's id in the API.")
    description = models.TextField(blank=True)
    used_by_windows = models.BooleanField(default=True)
    used_by_macos = models.BooleanField(default=True)
    options = ArrayField(models.CharField(max_length=1000), default=list, blank=True)
    allow_custom_value = models.BooleanField(default=False)
    default_value = models.CharField(max_length=1000, null=True, blank=True)

    class Meta:
        ordering = ["remote_action", "id"]
        constraints = [models.UniqueConstraint(fields=["remote_action", "name"], name="ra_input_unique_name")]

    def __str__(self) -> str:
        return self.name


class RemoteActionOutput(models.Model):
    class Type(models.TextChoices):
        STRING = "string"
        INT = "int"
        FLOAT = "float"
        BOOL = "bool"
        BYTES = "bytes"
        DURATION = "duration"
        DATETIME = "datetime"
        STRING_LIST = "string_list"

    remote_action = models.ForeignKey(RemoteAction, on_delete=models.CASCADE, related_name="outputs")
    name = models.CharField(max_length=255, help_text="Also the output's id in the API.")
    type = models.CharField(max_length=12, choices=Type.choices, default=Type.STRING)
    description = models.TextField(blank=True)
    used_by_windows = models.BooleanField(default=True)
    used_by_macos = models.BooleanField(default=True)

    class Meta:
        ordering = ["remote_action", "id"]
        constraints = [models.UniqueConstraint(fields=["remote_action", "name"], name="ra_output_unique_name")]

    def __str__(self) -> str:
        return self.name


class TriggerMethod(models.TextChoices):
    API = "api", "API"
    MANUAL = "manual", "Manual"
    WORKFLOW = "workflow", "Workflow"
    SCHEDULED = "scheduled", "Scheduled"


class Request(models.Model):
    """One call that targeted devices; its id is the API's ``requestId``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    remote_action = models.ForeignKey(RemoteAction, on_delete=models.PROTECT, related_name="requests")
    trigger_method = models.CharField(max_length=10, choices=TriggerMethod.choices)
    params = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField()
    external_source = models.CharField(max_length=255, blank=True)
    external_reference = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    requested_by = models.CharField(max_length=255, blank=True, help_text="Account or API credential.")
    created = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.remote_action} {self.id}"


class Execution(models.Model):
    """The remote action on one device of a request."""

    class Status(models.TextChoices):
        WAITING_FOR_DEVICE = "waiting_for_device", "Waiting for device"
        IN_PROGRESS = "in_progress", "In progress"
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    PENDING = (Status.WAITING_FOR_DEVICE, Status.IN_PROGRESS)

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="executions")
    # Denormalized from the request: the query engine links executions to actions directly.
    remote_action = models.ForeignKey(RemoteAction, on_delete=models.PROTECT, related_name="executions")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="remote_action_executions")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.WAITING_FOR_DEVICE)
    status_details = models.TextField(blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    outputs_text = models.TextField(blank=True, editable=False)
    fetched_at = models.DateTimeField(null=True, blank=True)
    time = models.DateTimeField(help_text="Last status change.")
    # Denormalized from the request for the query engine (NXQL/NQL fields of the execution).
    request_uid = models.CharField("request ID", max_length=36, editable=False)
    trigger_method = models.CharField(max_length=10, choices=TriggerMethod.choices)
    external_source = models.CharField(max_length=255, blank=True)
    external_reference = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [
            models.Index(fields=["device", "time"], name="ra_exec_device_time"),
            models.Index(fields=["time"], name="ra_exec_time"),
            models.Index(fields=["request"], name="ra_exec_request"),
            models.Index(fields=["request_uid"], name="ra_exec_request_uid"),
            models.Index(fields=["status", "device"], name="ra_exec_status_device"),
        ]

    def __str__(self) -> str:
        return f"{self.remote_action} on {self.device_id}: {self.status}"

    def set_outputs(self, outputs: dict) -> None:
        self.outputs = outputs
        self.outputs_text = json.dumps(outputs, sort_keys=True) if outputs else ""


class DeviceEnrollment(models.Model):
    """A device's collector enrolled in the device channel; only the node key's SHA-256 is kept."""

    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="enrollment")
    node_key_hash = models.CharField(max_length=64, unique=True, editable=False)
    revoked = models.BooleanField(default=False)
    simulated = models.BooleanField(
        default=False, help_text="Answered by the demo fleet simulator (a Celery task), not by a real collector."
    )
    enrolled_at = models.DateTimeField()

    class Meta:
        ordering = ["-enrolled_at"]

    def __str__(self) -> str:
        return f"enrollment of {self.device_id}"


class ClassicDispatch(models.Model):
    """One Engine's part of a classic Act API v2 call (``remote_actions.classic``), kept from the send
    until the Engine's task has answered, so that a part whose task was lost — its worker killed:
    kombu's SQLAlchemy transport never redelivers a message it handed out — is sent again by the
    sweep (``classic.redo_lost_dispatches``, beat, every minute). The task is idempotent, so a part
    sent twice (a slow task, Redis redelivering too) stores its executions once."""

    request_id = models.UUIDField(help_text="The call's request (created by the first Engine to answer).")
    engine = models.ForeignKey(Engine, on_delete=models.CASCADE, related_name="+")
    task_kwargs = models.JSONField(help_text="The task's arguments, to send it again.")
    created = models.DateTimeField(default=timezone.now)
    sent = models.DateTimeField(default=timezone.now, help_text="Last sent.")
    attempts = models.PositiveSmallIntegerField(default=1)
    answered = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, blank=True, help_text="The Engine's answer code, or abandoned.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request_id", "engine"], name="ra_classic_dispatch_once")]
        indexes = [models.Index(fields=["sent"], name="ra_classic_unanswered", condition=models.Q(answered=None))]

    def __str__(self) -> str:
        return f"classic call {self.request_id} on Engine {self.engine_id}"
