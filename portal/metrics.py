"""Prometheus metrics (``prometheus_client``), exposed at ``/metrics``.

Counters and histograms live in the process that counts them. With ``PROMETHEUS_MULTIPROC_DIR`` set
(``manage.py runplatform`` sets it to ``<data dir>/prometheus`` for gunicorn, the Celery worker and beat,
and empties it at start), every process writes its values to files there and ``/metrics`` adds up the
files of all of them: gunicorn's workers, and the Celery worker's processes on the same machine. A
worker machine of its own exposes its figures with ``CELERY_METRICS_PORT`` (``portal.observability``).

Families (all prefixed ``opendex_``):

=======================================  =========  ==================================================
``http_requests_total``                  counter    endpoint (URL name), method, status
``http_request_duration_seconds``        histogram  endpoint, method (until the response is handed
                                                    over; a streamed body is measured by the query
                                                    metrics)
``query_duration_seconds``               histogram  language (``nxql``, ``nql``), format (``csv``,
                                                    ``json``, ``xml``, ``html``; ``export`` for NQL
                                                    exports): from the request to the last row
``query_rows_total``                     counter    language, format: rows streamed to clients/files
``exporter_runs_total``                  counter    trigger, status (``success``, ``failed``,
                                                    ``skipped``)
``exporter_records_total``               counter    trigger: records delivered
``exporter_failures_total``              counter    trigger, http_status (the destination's last
                                                    answer, ``none`` without one): failed runs
``exporter_run_duration_seconds``        histogram  trigger
``celery_tasks_total``                   counter    task, outcome (``success``, ``failure``,
                                                    ``retry``, ``revoked``)
``remote_action_executions``             gauge      status: executions in the database, read at each
                                                    scrape (one indexed ``GROUP BY``)
``database_up``                          gauge      1 when that read worked, else 0 (and no executions)
=======================================  =========  ==================================================

Who may read ``/metrics``: see ``metrics_view`` (never public by default).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_DIR_ENV):  # a missing directory would fail the first count of every process
    os.makedirs(os.environ[MULTIPROC_DIR_ENV], exist_ok=True)

QUERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
RUN_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600)

HTTP_REQUESTS = Counter("opendex_http_requests", "HTTP requests answered, by endpoint (URL name) and status.",
                        ["endpoint", "method", "status"])
HTTP_DURATION = Histogram("opendex_http_request_duration_seconds",
                          "Time until the response is handed to the server (streamed bodies excluded).",
                          ["endpoint", "method"])
QUERY_DURATION = Histogram("opendex_query_duration_seconds",
                           "Query time from the request to the last row, by language and format.",
                           ["language", "format"], buckets=QUERY_BUCKETS)
QUERY_ROWS = Counter("opendex_query_rows", "Result rows streamed, by language and format.", ["language", "format"])
EXPORTER_RUNS = Counter("opendex_exporter_runs", "Exporter runs finished, by trigger and status.",
                        ["trigger", "status"])
EXPORTER_RECORDS = Counter("opendex_exporter_records", "Records exporters delivered, by trigger.", ["trigger"])
EXPORTER_FAILURES = Counter("opendex_exporter_failures",
                            "Failed exporter runs, by trigger and the destination's last HTTP status.",
                            ["trigger", "http_status"])
EXPORTER_DURATION = Histogram("opendex_exporter_run_duration_seconds", "Exporter run duration, by trigger.",
                              ["trigger"], buckets=RUN_BUCKETS)
CELERY_TASKS = Counter("opendex_celery_tasks", "Celery task outcomes, by task name.", ["task", "outcome"])

FAMILIES = (
    "opendex_http_requests", "opendex_http_request_duration_seconds", "opendex_query_duration_seconds",
    "opendex_query_rows", "opendex_exporter_runs", "opendex_exporter_records", "opendex_exporter_failures",
    "opendex_exporter_run_duration_seconds", "opendex_celery_tasks", "opendex_remote_action_executions",
)


# -- recording helpers --------------------------------------------------------------------------------


def counted_rows(rows: Iterable, language: str, fmt: str, started: float) -> Iterator:
    """``rows``, counting them; once they are exhausted (or the consumer stops), records the row count
    and the time since ``started`` (``time.monotonic()``)."""
    count = 0
    try:
        for row in rows:
            count += 1
            yield row
    finally:
        observe_query(language, fmt, started, count)


def observe_query(language: str, fmt: str, started: float, rows: int) -> None:
    QUERY_ROWS.labels(language, fmt).inc(rows)
    QUERY_DURATION.labels(language, fmt).observe(time.monotonic() - started)


def exporter_run_finished(trigger: str, status: str, records: int, duration_ms: int | None,
                          http_status: int | None) -> None:
    EXPORTER_RUNS.labels(trigger, status).inc()
    if records:
        EXPORTER_RECORDS.labels(trigger).inc(records)
    if status == "failed":
        EXPORTER_FAILURES.labels(trigger, str(http_status) if http_status else "none").inc()
    if duration_ms is not None and status != "skipped":
        EXPORTER_DURATION.labels(trigger).observe(duration_ms / 1000)


def celery_task_outcome(task_name: str | None, outcome: str) -> None:
    CELERY_TASKS.labels(task_name or "unknown", outcome).inc()


# -- read from the database at scrape time -----------------------------------------------------------


class DatabaseCollector:
    """Figures whose truth is the database, shared by every process and machine. When the database
    cannot answer, the scrape still succeeds: ``opendex_database_up`` says 0 and the database families
    are left out (the process figures are what tells what happened)."""

    def describe(self):
        yield GaugeMetricFamily("opendex_database_up", "Whether the database answered this scrape.")
        yield GaugeMetricFamily("opendex_remote_action_executions", "Remote-action executions by status.",
                                labels=["status"])

    def collect(self):
        from django.db.models import Count

        from remote_actions.models import Execution

        try:
            counts = dict(Execution.objects.order_by().values_list("status").annotate(n=Count("pk")))
        except Exception:  # the database is down or not migrated: a scrape must not fail for it
            logging.getLogger(__name__).warning("metrics: the database did not answer", exc_info=True)
            yield GaugeMetricFamily("opendex_database_up", "Whether the database answered this scrape.", value=0)
            return
        yield GaugeMetricFamily("opendex_database_up", "Whether the database answered this scrape.", value=1)
        family = GaugeMetricFamily("opendex_remote_action_executions", "Remote-action executions by status.",
                                   labels=["status"])
        for status in Execution.Status.values:
            family.add_metric([status], counts.get(status, 0))
        yield family


class _Together:
    """One collector reading several (a registry and the database), so that one exposition holds them all."""

    def __init__(self, *sources):
        self.sources = sources

    def collect(self):
        for source in self.sources:
            yield from source.collect()


def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """The exposition of every family (all processes' in multiprocess mode), in the format ``accept``
    (an ``Accept`` header) prefers: Prometheus text or OpenMetrics; and its content type."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        from prometheus_client import multiprocess

        source = CollectorRegistry()
        multiprocess.MultiProcessCollector(source)
    else:
        source = REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Together(source, DatabaseCollector()))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


# -- /metrics -------------------------------------------------------------------------------------------

# Headers a reverse proxy adds: a request carrying one did not come from this machine, whatever
# REMOTE_ADDR says.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_HOST")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics_access(request) -> tuple[int, dict[str, str]] | None:
    """None when the request may read the metrics, else the refusal's (status, headers).

    - ``METRICS_TOKEN`` set: ``Authorization: Bearer <METRICS_TOKEN>`` is required, from anywhere.
    - unset: only a client on this machine (loopback ``REMOTE_ADDR``, no proxy forwarding header).
    """
    from django.conf import settings

    token = getattr(settings, "METRICS_TOKEN", "") or ""
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}
    if _is_loopback(request.META.get("REMOTE_ADDR", "")) and not any(h in request.META for h in PROXY_HEADERS):
        return None
    return 403, {}


def metrics_view(request):
    """``GET /metrics``: the Prometheus text exposition (see ``metrics_access`` for who may read it)."""
    from django.http import HttpResponse, HttpResponseNotAllowed

    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    refusal = metrics_access(request)
    if refusal is not None:
        status, headers = refusal
        message = ("a valid bearer token (METRICS_TOKEN) is required\n" if status == 401 else
                   "metrics are readable from this machine only (or set METRICS_TOKEN)\n")
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
        for name, value in headers.items():
            response[name] = value
        return response
    body, content_type = exposition(request.META.get("HTTP_ACCEPT"))
    return HttpResponse(body, content_type=content_type)
