"""Structured logs: a request id (or a Celery task id) on every line, JSON lines or plain text.

No Django import here: ``portal.settings`` and the gunicorn configuration (``portal.gunicorn_conf``)
build their logging configuration with ``logging_config`` before Django is set up.

- ``request_id_var`` holds the id of the HTTP request being handled (set by
  ``portal.observability.RequestIdMiddleware``); ``task_var`` the id and name of the Celery task
  being run (set by the task signals in ``portal.observability``).
- ``ContextFilter`` (on every handler) and ``install_record_factory`` (for handlers added later, such
  as pytest's log capture) put ``request_id``, ``task_id`` and ``task_name`` on every record.
- ``JsonFormatter``: one JSON object per line, ``time`` (UTC, ISO 8601), ``level``, ``logger``,
  ``message``, ``request_id`` (null outside requests), ``task_id``/``task`` inside Celery tasks,
  ``exception`` (the traceback text) and ``stack`` when the record has them.
- ``PlainFormatter``: ``time level logger [request id] message`` for a terminal.

``LOG_FORMAT=json|plain`` chooses (json unless ``DEBUG``), ``LOG_LEVEL`` the root level (INFO).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("opendex_request_id", default=None)
task_var: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("opendex_task", default=None)

# An incoming X-Request-ID is kept only when it is short and made of these characters (no spaces, quotes
# or control characters that could forge a log line); anything else gets a generated id.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
FORMATS = ("json", "plain")
# gunicorn's access log passes its atoms as the record's arguments; the request id is the response's.
_GUNICORN_REQUEST_ID_ATOM = "{x-request-id}o"


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """``value`` when it may serve as a request id as it is, else None."""
    if value and SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def current_request_id() -> str:
    """The id to name in an error body and its log line: the HTTP request's, else the Celery task's,
    else a new one (code running outside both, e.g. a management command)."""
    request_id = request_id_var.get()
    if request_id:
        return request_id
    task = task_var.get()
    if task:
        return task[0]
    return new_request_id()


def _annotate(record: logging.LogRecord) -> None:
    if getattr(record, "request_id", None) is None:
        request_id = request_id_var.get()
        if request_id is None and record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            atom = record.args.get(_GUNICORN_REQUEST_ID_ATOM)
            request_id = sane_request_id(atom) if isinstance(atom, str) else None
        record.request_id = request_id
    if getattr(record, "task_id", None) is None:
        task = task_var.get()
        record.task_id, record.task_name = task if task else (None, None)


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``task_id`` and ``task_name`` to the record (None when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _annotate(record)
        return True


_factory_installed = False


def install_record_factory() -> None:
    """Annotates every record when it is created, whatever handler it reaches (idempotent)."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        _annotate(record)
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        _annotate(record)
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": record.request_id,
        }
        if record.task_id:
            entry["task_id"] = record.task_id
            entry["task"] = record.task_name
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class PlainFormatter(logging.Formatter):
    """``time level logger [request id] message`` (``[task id]`` inside a task, ``[-]`` outside both)."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(context_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        _annotate(record)
        record.context_id = record.request_id or record.task_id or "-"
        return super().format(record)


def log_format(value: str | None, debug: bool) -> str:
    value = (value or "").strip().lower()
    if value in FORMATS:
        return value
    return "plain" if debug else "json"


def logging_config(fmt: str = "json", level: str = "INFO", *, gunicorn: bool = False) -> dict:
    """The ``logging.config.dictConfig`` dictionary: everything to stderr in ``fmt``. With ``gunicorn``,
    gunicorn's error and access logs too (they do not propagate to the root logger; only the gunicorn
    configuration, ``portal.gunicorn_conf``, takes them over)."""
    formatter = "portal.logs.JsonFormatter" if fmt == "json" else "portal.logs.PlainFormatter"
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "portal.logs.ContextFilter"}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["context"],
                       "stream": "ext://sys.stderr"},
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }
    if gunicorn:
        config["loggers"] = {
            "gunicorn.error": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        }
    return config
