"""Request ids, HTTP metrics, Celery task ids and outcomes (docs/decisions.md, "Observability").

- ``RequestIdMiddleware`` (first in ``MIDDLEWARE``): every request gets an id, the incoming
  ``X-Request-ID`` when it is sane (``portal.logs.SANE_REQUEST_ID``) or a new one (32 hex digits). It is
  set in ``portal.logs.request_id_var`` from the middleware until the response is closed (streamed
  body included), so that every log line carries it; the response names it in ``X-Request-ID``; the 500
  handlers of the APIs name it in their bodies (``portal.logs.current_request_id``). The middleware
  also counts the request for ``/metrics`` (``portal.metrics``).
- ``server_error``: the 500 page of everything without an error shape of its own (the portal),
  naming the request id.
- ``connect_celery``: the worker logs with the project's configuration (``LOGGING``: JSON or plain),
  each task's log lines carry its id and name, and task outcomes are counted.
"""

from __future__ import annotations

import logging
import time

from django.http import HttpResponseServerError

from portal import metrics
from portal.logs import current_request_id, new_request_id, request_id_var, sane_request_id, task_var

REQUEST_ID_HEADER = "X-Request-ID"
_META_KEY = "HTTP_X_REQUEST_ID"


def forget_request_id(**_kwargs) -> None:
    """``request_started`` and ``request_finished``: no id outside a request. The middleware leaves the id
    set when it returns, so that what follows in the same request still carries it: Django's own log line
    of an error response (``django.request``, written after the middleware chain), the streamed body, and
    gunicorn's access line (written before the response is closed)."""
    request_id_var.set(None)


def connect_request_signals() -> None:
    from django.core.signals import request_finished, request_started

    request_started.connect(forget_request_id, dispatch_uid="opendex-forget-request-id-started")
    request_finished.connect(forget_request_id, dispatch_uid="opendex-forget-request-id-finished")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = sane_request_id(request.META.get(_META_KEY)) or new_request_id()
        request.request_id = request_id
        request_id_var.set(request_id)  # until the response is closed (``forget_request_id``)
        started = time.monotonic()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        self._count(request, response, started)
        return response

    @staticmethod
    def _count(request, response, started: float) -> None:
        match = getattr(request, "resolver_match", None)
        endpoint = (match.view_name or match.route or "unnamed") if match is not None else "unmatched"
        method = request.method if request.method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                                      "OPTIONS") else "other"
        metrics.HTTP_REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        metrics.HTTP_DURATION.labels(endpoint, method).observe(time.monotonic() - started)


def server_error(request, *args, **kwargs):
    """``handler500``: a plain page naming the request id that the log line of the failure carries."""
    return HttpResponseServerError(
        f"<!doctype html><title>Server error</title><h1>Server error (500)</h1>"
        f"<p>Something went wrong on our side (request id {current_request_id()}).</p>",
        content_type="text/html; charset=utf-8",
    )


# -- Celery ----------------------------------------------------------------------------------------------


def _task_name(sender=None, task=None, request=None) -> str | None:
    for candidate in (task, sender):
        name = getattr(candidate, "name", None)
        if isinstance(name, str):
            return name
    if request is not None:
        return getattr(request, "task", None) or getattr(request, "name", None)
    return sender if isinstance(sender, str) else None


def _setup_logging(loglevel=None, **_kwargs):
    """Celery's own logging set-up, replaced: the worker and beat log like the web (``LOGGING``)."""
    import logging.config
    import os

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel and not os.environ.get("LOG_LEVEL"):
        logging.getLogger().setLevel(loglevel)


def _task_prerun(task_id=None, task=None, sender=None, **_kwargs):
    task_var.set((task_id, _task_name(sender, task)))


def _task_postrun(**_kwargs):
    task_var.set(None)


def _task_success(sender=None, **_kwargs):
    metrics.celery_task_outcome(_task_name(sender), "success")


def _task_failure(sender=None, **_kwargs):
    metrics.celery_task_outcome(_task_name(sender), "failure")


def _task_retry(sender=None, request=None, **_kwargs):
    metrics.celery_task_outcome(_task_name(sender, request=request), "retry")


def _task_revoked(sender=None, request=None, **_kwargs):
    metrics.celery_task_outcome(_task_name(sender, request=request), "revoked")


def _worker_init(**_kwargs):
    """``CELERY_METRICS_PORT``: a worker on a machine without the web serves its own metrics there
    (``CELERY_METRICS_ADDR``, loopback unless set), for a Prometheus on that machine or a tunnel."""
    import os

    port = os.environ.get("CELERY_METRICS_PORT")
    if not port:
        return
    from prometheus_client import CollectorRegistry, start_http_server

    registry = None
    if os.environ.get(metrics.MULTIPROC_DIR_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    address = os.environ.get("CELERY_METRICS_ADDR", "127.0.0.1")
    if registry is None:
        start_http_server(int(port), addr=address)
    else:
        start_http_server(int(port), addr=address, registry=registry)
    logging.getLogger(__name__).info("Worker metrics served on %s:%s", address, port)


def connect_celery() -> None:
    from celery import signals

    signals.setup_logging.connect(_setup_logging, weak=False)
    signals.task_prerun.connect(_task_prerun, weak=False)
    signals.task_postrun.connect(_task_postrun, weak=False)
    signals.task_success.connect(_task_success, weak=False)
    signals.task_failure.connect(_task_failure, weak=False)
    signals.task_retry.connect(_task_retry, weak=False)
    signals.task_revoked.connect(_task_revoked, weak=False)
    signals.worker_init.connect(_worker_init, weak=False)
