"""JSON of the exporters configuration API (``exporters.md``, "Configuration API"): reading request
bodies strictly and rendering objects.

Reading never raises for bad input: every problem is collected in an ``Errors`` mapping keyed with
the API's field names (``name``, ``recurrence``, ``queries[0].payload``…), so that one answer
reports them all. Structural problems (unknown field, wrong JSON type, text PostgreSQL cannot store)
are found here; the domain rules are the models' ``clean`` methods and
``exporters.services.validation_errors`` — the messages the portal shows. A field with a structural
problem is left out of the object that is validated, and the model's message for that field (e.g.
"This field is required.") is dropped in favour of the structural one (``merge``).

Secrets (``password``, ``token``, ``client_secret``) are write-only: rendered ``"********"`` when
set and ``null`` when not; on input, omitting a secret or sending ``"********"`` keeps the stored
value, ``null`` or ``""`` clears it, any other string replaces it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db.models import NOT_PROVIDED

from engine.query.errors import QueryError
from exporters import schedule
from exporters.models import HOURLY_EVERY, ConnectorCredential, Exporter, ExporterQuery, ExporterRun

MASK = "********"
MAX_BODY_BYTES = 1_048_576  # 1 MiB: far above any real configuration
UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

UNKNOWN_FIELD = "Unknown field."
MUST_BE_STRING = "Must be a string."
MUST_BE_BOOLEAN = "Must be true or false."
MUST_BE_INTEGER = "Must be an integer."
MUST_BE_OBJECT = "Must be a JSON object."
MUST_BE_LIST = "Must be a JSON array."
NULL_CHARACTER = "Null characters are not allowed."
BAD_UNICODE = "Must be valid Unicode text: unpaired surrogates (\\ud800 to \\udfff) cannot be stored."

Errors = dict[str, list[str]]
_ABSENT = object()


class BodyError(Exception):
    """A request body that is not a JSON object at all (answered with ``status``, errors at ``body``)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


# -- request bodies ------------------------------------------------------------------------------------


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_body(raw: bytes, *, allow_empty: bool = False) -> dict | None:
    """The JSON object of a request body; None for an empty body when ``allow_empty``.
    Raises ``BodyError`` (too large, not UTF-8, not JSON, not an object)."""
    if len(raw) > MAX_BODY_BYTES:
        raise BodyError(f"The request body is larger than {MAX_BODY_BYTES} bytes.", 413)
    if not raw.strip():
        if allow_empty:
            return None
        raise BodyError("The request body is empty: send a JSON object.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BodyError(f"The request body is not UTF-8 text (invalid byte at position {error.start}).") from None
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise BodyError(f"The request body is not valid JSON: {error.msg} at line {error.lineno}, "
                        f"column {error.colno}.") from None
    except ValueError as error:  # NaN / Infinity, or an integer with too many digits
        raise BodyError(f"The request body is not valid JSON: {error}.") from None
    except RecursionError:
        raise BodyError("The request body is not valid JSON: it is nested too deeply.") from None
    if not isinstance(body, dict):
        raise BodyError("The request body must be a JSON object.")
    return body


def text_problem(value) -> str | None:
    """What PostgreSQL could not store in ``value`` (any JSON value, walked), or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return NULL_CHARACTER
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return BAD_UNICODE
        return None
    if isinstance(value, dict):
        items: Iterable = (part for pair in value.items() for part in pair)
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        if (problem := text_problem(item)) is not None:
            return problem
    return None


class Reader:
    """Reads the fields of one JSON object, recording structural problems at ``prefix + name``."""

    def __init__(self, body: dict, errors: Errors, *, prefix: str = "", fields: Iterable[str],
                 read_only: Iterable[str] = ()):
        self.body, self.errors, self.prefix = body, errors, prefix
        allowed = set(fields) | set(read_only)
        for name in body:
            if name not in allowed:
                self.error(name, UNKNOWN_FIELD)

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(self.prefix + name, []).append(message)

    def has(self, name: str) -> bool:
        return name in self.body

    def value(self, name: str):
        """The raw value; ``_ABSENT`` when missing or holding text PostgreSQL cannot store."""
        if name not in self.body:
            return _ABSENT
        value = self.body[name]
        if (problem := text_problem(value)) is not None:
            self.error(name, problem)
            return _ABSENT
        return value

    def string(self, name: str, *, null_as: str | None = "") -> str | None:
        """The text, ``null_as`` for null; ``_ABSENT`` when missing or wrong."""
        value = self.value(name)
        if value is _ABSENT:
            return _ABSENT
        if value is None:
            return null_as
        if not isinstance(value, str):
            self.error(name, MUST_BE_STRING)
            return _ABSENT
        return value

    def boolean(self, name: str):
        value = self.value(name)
        if value is _ABSENT:
            return _ABSENT
        if not isinstance(value, bool):
            self.error(name, MUST_BE_BOOLEAN)
            return _ABSENT
        return value

    def integer(self, name: str):
        value = self.value(name)
        if value is _ABSENT:
            return _ABSENT
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(name, MUST_BE_INTEGER)
            return _ABSENT
        return value

    def object(self, name: str, *, null_as=None):
        value = self.value(name)
        if value is _ABSENT:
            return _ABSENT
        if value is None and null_as is not None:
            return null_as()
        if not isinstance(value, dict):
            self.error(name, MUST_BE_OBJECT)
            return _ABSENT
        return value


def merge(structural: Errors, model: Errors) -> Errors:
    """The structural problems, then the model's messages for fields without a structural problem
    (neither at the key itself nor at a parent such as ``queries[1]`` or ``queries``)."""
    merged = {key: list(messages) for key, messages in structural.items()}

    def covered(key: str) -> bool:
        return any(key == bad or key.startswith(bad + ".") or key.startswith(bad + "[") for bad in structural)

    for key, messages in model.items():
        if not covered(key):
            merged.setdefault(key, []).extend(message for message in messages if message not in merged.get(key, []))
    return merged


def model_errors(error: ValidationError, names: dict[str, str] | None = None) -> Errors:
    found: Errors = {}
    for name, messages in error.message_dict.items():
        key = (names or {}).get(name, name)
        for message in messages:
            if message not in found.setdefault(key, []):
                found[key].append(message)
    return found


def reset_fields(instance, names: Iterable[str]) -> None:
    """Sets the model fields ``names`` of ``instance`` back to their defaults (a PUT replaces)."""
    for name in names:
        field = instance._meta.get_field(name)
        if field.default is not NOT_PROVIDED:
            value = field.get_default()
        elif field.null:
            value = None
        else:
            value = ""
        setattr(instance, field.attname, value)


# -- times ----------------------------------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with ``Z`` (fractions of a second only when there are some)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- connector credentials -------------------------------------------------------------------------------

CLIENT_AUTH_TO_MODEL = {"basic": ConnectorCredential.CLIENT_AUTH_BASIC_HEADER,
                        "body": ConnectorCredential.CLIENT_AUTH_BODY}
CLIENT_AUTH_FROM_MODEL = {model: api for api, model in CLIENT_AUTH_TO_MODEL.items()}
# API name -> model field, for the fields that differ.
CREDENTIAL_MODEL_NAMES = {"headers": "extra_headers", "ca_bundle": "ca_bundle_pem"}
CREDENTIAL_API_NAMES = {model: api for api, model in CREDENTIAL_MODEL_NAMES.items()}
CREDENTIAL_TEXT = ("name", "base_url", "auth_type", "username", "token_url", "client_id", "scope", "audience",
                   "ca_bundle")
CREDENTIAL_BOOLEANS = ("allow_plain_http", "verify_tls")
CREDENTIAL_SECRETS = ConnectorCredential.SECRET_FIELDS
CREDENTIAL_FIELDS = (*CREDENTIAL_TEXT, *CREDENTIAL_BOOLEANS, *CREDENTIAL_SECRETS, "client_auth", "headers")
CREDENTIAL_READ_ONLY = ("uid",)


def credential_json(credential: ConnectorCredential) -> dict:
    return {
        "uid": str(credential.uid),
        "name": credential.name,
        "base_url": credential.base_url,
        "allow_plain_http": credential.allow_plain_http,
        "auth_type": credential.auth_type,
        "username": credential.username,
        "password": MASK if credential.password else None,
        "token": MASK if credential.token else None,
        "token_url": credential.token_url,
        "client_id": credential.client_id,
        "client_secret": MASK if credential.client_secret else None,
        "scope": credential.scope,
        "audience": credential.audience,
        "client_auth": CLIENT_AUTH_FROM_MODEL.get(credential.client_auth, credential.client_auth),
        "headers": credential.extra_headers or {},
        "verify_tls": credential.verify_tls,
        "ca_bundle": credential.ca_bundle_pem,
    }


def apply_credential(credential: ConnectorCredential, body: dict, *, partial: bool) -> Errors:
    """Applies a create / PUT (``partial=False``) or PATCH body to ``credential`` (not saved) and
    validates it; the problems keyed with the API's names, empty when it can be saved."""
    errors: Errors = {}
    reader = Reader(body, errors, fields=CREDENTIAL_FIELDS, read_only=CREDENTIAL_READ_ONLY)
    if not partial:  # a PUT replaces everything but the secrets (omitted secrets are kept)
        reset_fields(credential, [CREDENTIAL_MODEL_NAMES.get(name, name)
                                  for name in (*CREDENTIAL_TEXT, *CREDENTIAL_BOOLEANS, "client_auth", "headers")])
    for name in CREDENTIAL_TEXT:
        if (value := reader.string(name)) is not _ABSENT:
            setattr(credential, CREDENTIAL_MODEL_NAMES.get(name, name), value)
    for name in CREDENTIAL_BOOLEANS:
        if (value := reader.boolean(name)) is not _ABSENT:
            setattr(credential, name, value)
    for name in CREDENTIAL_SECRETS:
        value = reader.string(name)
        if value is not _ABSENT and value != MASK:
            setattr(credential, name, value)
        elif value == MASK and credential.pk is None:
            setattr(credential, name, "")  # nothing is stored to keep; the mask itself is never a secret
    if (value := reader.string("client_auth")) is not _ABSENT:
        if value in CLIENT_AUTH_TO_MODEL:
            credential.client_auth = CLIENT_AUTH_TO_MODEL[value]
        else:
            reader.error("client_auth", f"Value {value!r} is not a valid choice: use “basic” (Basic "
                         "authorization header) or “body” (client_id and client_secret in the request body).")
    if (value := reader.object("headers", null_as=dict)) is not _ABSENT:
        credential.extra_headers = value
    found: Errors = {}
    try:
        credential.full_clean()
    except ValidationError as error:
        found = model_errors(error, CREDENTIAL_API_NAMES)
    return merge(errors, found)


# -- exporters --------------------------------------------------------------------------------------------

EXPORTER_TEXT = ("name", "description", "method", "resource")
EXPORTER_INTEGERS = ("batch_size", "max_request_bytes", "max_attempts")
EXPORTER_FIELDS = (*EXPORTER_TEXT, *EXPORTER_INTEGERS, "credential", "recurrence", "enabled", "queries")
EXPORTER_READ_ONLY = ("uid", "last_run", "next_run")
EXPORTER_MODEL_FIELDS = (*EXPORTER_TEXT, *EXPORTER_INTEGERS, "recurrence", "every_hours", "weekday", "enabled")
QUERY_FIELDS = ("nql", "payload_structure", "payload")
QUERY_READ_ONLY = ("helpers",)
RECURRENCE_KINDS = (Exporter.HOURLY, Exporter.DAILY, Exporter.WEEKLY)
RECURRENCE_KEYS = {Exporter.HOURLY: {"kind", "every_hours"}, Exporter.DAILY: {"kind"},
                   Exporter.WEEKLY: {"kind", "day"}}
RECURRENCE_EXAMPLE = ('{"kind": "hourly", "every_hours": 1}, {"kind": "daily"} or '
                      '{"kind": "weekly", "day": "monday"}')


def recurrence_json(exporter: Exporter) -> dict | None:
    if exporter.recurrence == Exporter.HOURLY:
        return {"kind": Exporter.HOURLY, "every_hours": exporter.every_hours}
    if exporter.recurrence == Exporter.DAILY:
        return {"kind": Exporter.DAILY}
    if exporter.recurrence == Exporter.WEEKLY:
        day = schedule.WEEKDAY_NAMES[exporter.weekday] if exporter.weekday is not None else None
        return {"kind": Exporter.WEEKLY, "day": day}
    return None


def read_recurrence(value) -> tuple[tuple[str, int | None, int | None] | None, list[str]]:
    """(recurrence, every_hours, weekday) of the API's recurrence object, or the problems."""
    if value is None:
        return ("", None, None), []  # the model reports the missing recurrence
    if not isinstance(value, dict):
        return None, [f"Enter an object: {RECURRENCE_EXAMPLE}."]
    kind = value.get("kind")
    if "kind" not in value:
        return None, [f"The recurrence needs a “kind”: {RECURRENCE_EXAMPLE}."]
    if kind not in RECURRENCE_KINDS:
        return None, [f"Unknown kind {kind!r}: use “hourly”, “daily” or “weekly”."]
    problems = [f"Unknown property “{name}” for a {kind} recurrence." for name in value
                if name not in RECURRENCE_KEYS[kind]]
    every_hours = weekday = None
    if kind == Exporter.HOURLY:
        every_hours = value.get("every_hours")
        if "every_hours" not in value:
            problems.append("An hourly recurrence needs “every_hours”: one of "
                            + ", ".join(map(str, HOURLY_EVERY)) + ".")
        elif type(every_hours) is not int or every_hours not in HOURLY_EVERY:
            problems.append("“every_hours” must be one of " + ", ".join(map(str, HOURLY_EVERY)) + ".")
    elif kind == Exporter.WEEKLY:
        day = value.get("day")
        if "day" not in value:
            problems.append("A weekly recurrence needs a “day”: monday … sunday.")
        elif not isinstance(day, str) or day.lower() not in schedule.WEEKDAY_NAMES:
            problems.append("“day” must be one of " + ", ".join(schedule.WEEKDAY_NAMES) + ".")
        else:
            weekday = schedule.WEEKDAY_NAMES.index(day.lower())
    if problems:
        return None, problems
    return (kind, every_hours, weekday), []


def find_credential(reference: str) -> ConnectorCredential | None:
    """The credential with this UID or, failing that, this name."""
    if UUID_TEXT.match(reference):
        credential = ConnectorCredential.objects.filter(uid=uuid.UUID(reference)).first()
        if credential is not None:
            return credential
    return ConnectorCredential.objects.filter(name=reference).first()


def read_queries(value, errors: Errors) -> list[ExporterQuery] | None:
    """Unsaved queries in list order (one per item, so indexes match; an item that is not an object
    gives a blank query whose model errors ``merge`` drops)."""
    if not isinstance(value, list):
        errors.setdefault("queries", []).append(MUST_BE_LIST)
        return None
    queries = []
    for index, item in enumerate(value):
        query = ExporterQuery(position=index)
        queries.append(query)
        prefix = f"queries[{index}]"
        if not isinstance(item, dict):
            errors.setdefault(prefix, []).append(MUST_BE_OBJECT)
            continue
        reader = Reader(item, errors, prefix=prefix + ".", fields=QUERY_FIELDS, read_only=QUERY_READ_ONLY)
        if (text := reader.string("nql")) is not _ABSENT:
            query.nql = text
        if (text := reader.string("payload_structure")) is not _ABSENT:
            query.structure = text
        if (text := reader.string("payload")) is not _ABSENT:
            query.payload = text
    return queries


def apply_exporter(exporter: Exporter, body: dict, *, partial: bool) -> tuple[list[ExporterQuery] | None, Errors]:
    """Applies a create / PUT (``partial=False``) or PATCH body to ``exporter`` (not saved).

    Returns the new queries (None: the body has none — a PATCH keeps the saved ones) and the
    structural problems. Validate the result with ``exporters.services.validation_errors``."""
    errors: Errors = {}
    reader = Reader(body, errors, fields=EXPORTER_FIELDS, read_only=EXPORTER_READ_ONLY)
    if not partial:
        reset_fields(exporter, EXPORTER_MODEL_FIELDS)
        exporter.credential = None
    for name in EXPORTER_TEXT:
        if (value := reader.string(name)) is not _ABSENT:
            setattr(exporter, name, value.upper() if name == "method" else value)
    for name in EXPORTER_INTEGERS:
        if (value := reader.integer(name)) is not _ABSENT:
            setattr(exporter, name, value)
    if (value := reader.boolean("enabled")) is not _ABSENT:
        exporter.enabled = value
    if reader.has("credential"):
        reference = reader.string("credential")
        exporter.credential = None
        if reference is _ABSENT:
            pass
        elif reference:
            credential = find_credential(reference)
            if credential is None:
                reader.error("credential", f"No connector credential has the UID or name “{reference}”.")
            exporter.credential = credential
    if reader.has("recurrence"):
        value = reader.value("recurrence")
        if value is not _ABSENT:
            parsed, problems = read_recurrence(value)
            for problem in problems:
                reader.error("recurrence", problem)
            exporter.recurrence, exporter.every_hours, exporter.weekday = parsed or ("", None, None)
    queries = None
    if reader.has("queries"):
        queries = read_queries(reader.body["queries"], errors)
        if queries is None:
            queries = []
    elif not partial:
        queries = []
    return queries, errors


def query_helpers(query: ExporterQuery) -> list[str]:
    if not query.nql or not query.nql.strip():
        return []
    try:
        return query.output_columns()
    except QueryError:
        return []


def query_json(query: ExporterQuery) -> dict:
    return {"nql": query.nql, "payload_structure": query.structure, "payload": query.payload,
            "helpers": query_helpers(query)}


def exporter_json(exporter: Exporter, queries: list[ExporterQuery], last_run: ExporterRun | None,
                  now: datetime) -> dict:
    next_run = None
    if exporter.enabled and exporter.recurrence:
        next_run = iso(schedule.next_run_at(exporter, now))
    return {
        "uid": str(exporter.uid),
        "name": exporter.name,
        "description": exporter.description,
        "credential": str(exporter.credential.uid),
        "method": exporter.method,
        "resource": exporter.resource,
        "recurrence": recurrence_json(exporter),
        "enabled": exporter.enabled,
        "batch_size": exporter.batch_size,
        "max_request_bytes": exporter.max_request_bytes,
        "max_attempts": exporter.max_attempts,
        "queries": [query_json(query) for query in queries],
        "last_run": run_json(last_run) if last_run is not None else None,
        "next_run": next_run,
    }


# -- runs ---------------------------------------------------------------------------------------------------


def run_json(run: ExporterRun) -> dict:
    return {
        "uid": str(run.uid),
        "trigger": run.trigger,
        "status": run.status,
        "window_start": iso(run.window_start),
        "window_end": iso(run.window_end),
        "records_sent": run.records_sent,
        "batches_sent": run.batches_sent,
        "bytes_sent": run.bytes_sent,
        "attempts": run.attempts,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration_ms": run.duration_ms,
        "last_error": run.last_error or None,
    }
