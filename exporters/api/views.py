"""The exporters configuration API (``exporters.md``, "Configuration API"): connector credentials and
exporters as JSON, for automation.

Routes (each also answers with a trailing slash, never redirecting):

==========================================================  ==========================  =====================
path under ``/api/config/v1/``                               methods                     success
==========================================================  ==========================  =====================
``connector-credentials``                                    GET (array by name), POST   200, 201 + object
``connector-credentials/{uid}``                              GET, PUT, PATCH, DELETE     200, 200, 200, 204
``connector-credentials/{uid}/test``                         POST                        200 ``{"ok", "status",
                                                                                         "message"}``
``exporters``                                                GET (array by name), POST   200, 201 + object
``exporters/test-load`` (an unsaved exporter in the body)    POST                        200 ``{"queries": […]}``
``exporters/{uid}``                                          GET, PUT, PATCH, DELETE     200, 200, 200, 204
``exporters/{uid}/test-load``                                POST                        200 ``{"queries": […]}``
``exporters/{uid}/run``                                      POST                        202 (queued)
``exporters/{uid}/runs?limit=N``                             GET (newest first)          200 array of runs
==========================================================  ==========================  =====================

Authentication: HTTP Basic or the portal session (DRF ``SessionAuthentication``: unsafe methods need
the CSRF token, as for any session-authenticated DRF view); the account's profile must hold the
administration right. Objects and their fields are described in ``exporters.api.serializers``.

Every error body is ``{"errors": {"<key>": ["message", …], …}}``:

=====  ===================================================================================================
400    validation, keyed by field (``name``, ``recurrence``, ``queries[0].payload``…, the messages of the
       portal); ``"Unknown field."`` at an unknown field; a wrong JSON type at its field; ``body`` for a
       body that is empty (where one is needed), not UTF-8, not JSON or not an object; an unknown query
       parameter at its name; ``limit`` out of 1…1000 (runs); an invalid saved exporter on ``run`` or
       ``test-load``
401    ``authentication``: missing or wrong credentials, with ``WWW-Authenticate: Basic realm="OpenDEX"``
403    ``permission`` (no administration right) or ``csrf`` (session without a valid CSRF token)
404    ``uid``: no object with that UID (or not a UUID); ``path``: no such endpoint under /api/config/v1/
405    ``method``, with ``Allow``
409    ``credential``: ``["used by exporters “A”, “B”…"]`` when deleting a credential in use; ``name``
       when a concurrent request saved the same name first
413    ``body``: larger than 1 MiB (1,048,576 bytes)
429    ``authentication``: throttled after repeated failures, with ``Retry-After``
500    ``server``: unexpected failure, logged with the request id the message names
503    ``run``: the manual run could not be queued (the message names the request id)
=====  ===================================================================================================

Decisions: ``uid``, ``last_run``, ``next_run`` and the queries' ``helpers`` are read-only and ignored
on input (so that a GET body can be PUT back). PUT replaces the whole object: omitted fields take
their defaults (``batch_size`` 200…), except that omitted secrets are kept; PATCH changes the given
fields, and a given ``queries`` list replaces all the queries. ``POST exporters/test-load`` tests an
unsaved exporter: its name need not be unique. ``POST exporters/{uid}/test-load`` tests the saved
exporter, or — with a PATCH-shaped body — the saved exporter with those changes, without saving them.
``POST exporters/{uid}/run`` and ``…/test`` take no body (or ``{}``); ``run`` answers
``202 {"exporter": uid, "trigger": "manual", "status": "queued", "task_id": …}``. ``last_run`` is the
exporter's latest run that delivered (test loads left out, as on the portal's list).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, ProtectedError, Subquery
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import authentication as drf_authentication
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from exporters import connectors, services
from exporters.api import serializers as s
from exporters.models import ConnectorCredential, Exporter, ExporterQuery, ExporterRun
from portal import dberrors
from portal.authentication import BasicAuthentication, BasicEndpointMixin, error_status_and_headers
from portal.logs import current_request_id
from portal.permissions import IsAdministrator

logger = logging.getLogger(__name__)

JSON = "application/json"
RUNS_DEFAULT_LIMIT = 200
RUNS_MAX_LIMIT = 1000


class ApiError(Exception):
    def __init__(self, status: int, errors: s.Errors, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.errors, self.headers = status, errors, headers or {}


def json_response(payload, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    response = HttpResponse(text.encode("utf-8"), status=status, content_type=JSON)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def errors_response(status: int, errors: s.Errors, headers: dict[str, str] | None = None) -> HttpResponse:
    return json_response({"errors": errors}, status, headers)


def read_body(request, *, allow_empty: bool = False) -> dict | None:
    """The request's JSON object (None: an empty body, when ``allow_empty``); ``ApiError`` otherwise."""
    too_big = ApiError(413, {"body": [f"The request body is larger than {s.MAX_BODY_BYTES} bytes."]})
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > s.MAX_BODY_BYTES:
        raise too_big
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_big from None
    try:
        return s.parse_body(raw, allow_empty=allow_empty)
    except s.BodyError as error:
        raise ApiError(error.status, {"body": [error.message]}) from None


def read_no_body(request) -> None:
    """For actions that take no input: an empty body or ``{}``."""
    body = read_body(request, allow_empty=True)
    if body:
        raise ApiError(400, {name: [s.UNKNOWN_FIELD] for name in body})


def not_found(kind: str, uid: str) -> ApiError:
    return ApiError(404, {"uid": [f"No {kind} has the UID “{uid}”."]})


def parse_uid(value: str) -> uuid.UUID | None:
    return uuid.UUID(value) if s.UUID_TEXT.match(value) else None


class SessionAuthentication(drf_authentication.SessionAuthentication):
    """The portal session, CSRF enforced for unsafe methods. The check reads the Django request (a form
    field ``csrfmiddlewaretoken`` or the ``X-CSRFToken`` header): DRF's request would parse the body."""

    def enforce_csrf(self, request):
        super().enforce_csrf(request._request)


class ConfigApiView(BasicEndpointMixin, APIView):
    """Basic or session authentication, the administration right, JSON answers and error bodies."""

    authentication_classes = [BasicAuthentication, SessionAuthentication]  # Basic first: its 401 challenge
    permission_classes = [IsAdministrator]
    parser_classes: list = []
    renderer_classes = [JSONRenderer]
    query_parameters: tuple[str, ...] = ()

    def perform_content_negotiation(self, request, force=False):
        renderer = JSONRenderer()
        return renderer, renderer.media_type  # answers are JSON whatever the Accept header says

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        unknown = [name for name in request.query_params if name not in self.query_parameters]
        if unknown:
            raise ApiError(400, {name: ["Unknown parameter."] for name in unknown})

    def handle_exception(self, exc):
        if isinstance(exc, ApiError):
            return errors_response(exc.status, exc.errors, exc.headers)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed | exceptions.Throttled):
            status, headers = error_status_and_headers(exc)
            return errors_response(status, {"authentication": [str(exc.detail)]}, headers)
        if isinstance(exc, exceptions.PermissionDenied):
            detail = str(exc.detail)
            return errors_response(403, {"csrf" if detail.startswith("CSRF Failed") else "permission": [detail]})
        if isinstance(exc, exceptions.MethodNotAllowed):
            return errors_response(405, {"method": [f"Method “{self.request.method}” is not allowed here; use "
                                                    f"{', '.join(self.allowed_methods)}."]})
        if isinstance(exc, RequestDataTooBig):
            return errors_response(413, {"body": [f"The request body is larger than {s.MAX_BODY_BYTES} bytes."]})
        if isinstance(exc, exceptions.APIException):
            return errors_response(exc.status_code, {"request": [str(exc.detail)]})
        dberrors.reraise_if_unavailable(exc)  # 503 (portal.dberrors), not an internal error
        request_id = current_request_id()
        logger.error("Configuration API request %s %s failed (request id %s)", self.request.method,
                     self.request.path, request_id, exc_info=exc)
        return errors_response(500, {"server": [f"Internal error (request id {request_id})."]})


# -- connector credentials -------------------------------------------------------------------------------


def find_credential(uid: str) -> ConnectorCredential:
    parsed = parse_uid(uid)
    credential = ConnectorCredential.objects.filter(uid=parsed).first() if parsed else None
    if credential is None:
        raise not_found("connector credential", uid)
    return credential


def save_credential(credential: ConnectorCredential) -> None:
    try:
        with transaction.atomic():
            credential.save()
    except IntegrityError:
        raise ApiError(409, {"name": ["Another request saved a connector credential with this name at the same "
                                      "time."]}) from None


class CredentialList(ConfigApiView):
    http_method_names = ["get", "post"]

    def get(self, request):
        return json_response([s.credential_json(item) for item in ConnectorCredential.objects.order_by("name")])

    def post(self, request):
        credential = ConnectorCredential()
        errors = s.apply_credential(credential, read_body(request), partial=False)
        if errors:
            raise ApiError(400, errors)
        save_credential(credential)
        return json_response(s.credential_json(credential), 201)


class CredentialDetail(ConfigApiView):
    http_method_names = ["get", "put", "patch", "delete"]

    def get(self, request, uid):
        return json_response(s.credential_json(find_credential(uid)))

    def update(self, request, uid, *, partial: bool):
        credential = find_credential(uid)
        errors = s.apply_credential(credential, read_body(request), partial=partial)
        if errors:
            raise ApiError(400, errors)
        save_credential(credential)
        return json_response(s.credential_json(credential))

    def put(self, request, uid):
        return self.update(request, uid, partial=False)

    def patch(self, request, uid):
        return self.update(request, uid, partial=True)

    def delete(self, request, uid):
        credential = find_credential(uid)
        try:
            with transaction.atomic():
                if not credential.exporters.exists():
                    credential.delete()
                    return HttpResponse(status=204)
        except ProtectedError:
            pass  # an exporter started using it meanwhile
        names = list(credential.exporters.order_by("name").values_list("name", flat=True))
        listed = ", ".join(f"“{name}”" for name in names)
        raise ApiError(409, {"credential": [
            f"used by {'exporter' if len(names) == 1 else 'exporters'} {listed}: delete them or give them another "
            "credential first."]})


class CredentialTest(ConfigApiView):
    http_method_names = ["post"]

    def post(self, request, uid):
        credential = find_credential(uid)
        read_no_body(request)
        result = connectors.test_connection(credential)
        return json_response({"ok": result.ok, "status": result.status, "message": result.message})


# -- exporters -------------------------------------------------------------------------------------------


def find_exporter(uid: str) -> Exporter:
    parsed = parse_uid(uid)
    exporter = Exporter.objects.select_related("credential").filter(uid=parsed).first() if parsed else None
    if exporter is None:
        raise not_found("exporter", uid)
    return exporter


def latest_run(exporter: Exporter) -> ExporterRun | None:
    return services.delivery_runs().filter(exporter=exporter).first()


def exporter_answer(exporter: Exporter) -> dict:
    return s.exporter_json(exporter, services.saved_queries(exporter), latest_run(exporter), datetime.now(UTC))


def checked(exporter: Exporter, queries: list[ExporterQuery], structural: s.Errors, *,
            unsaved_test: bool = False) -> None:
    """Raises a 400 with every problem (structural ones first) unless the exporter is valid."""
    errors = services.validation_errors(exporter, queries)
    if unsaved_test and "name" in errors:  # an exporter under test is not saved: its name may be taken
        taken = exporter.unique_error_message(Exporter, ("name",)).messages
        errors["name"] = [message for message in errors["name"] if message not in taken]
        if not errors["name"]:
            del errors["name"]
    errors = s.merge(structural, errors)
    if errors:
        raise ApiError(400, errors)


def save_exporter(exporter: Exporter, queries: list[ExporterQuery] | None) -> None:
    """Saves the exporter and (when given) replaces its queries, in one transaction."""
    try:
        with transaction.atomic():
            exporter.save()
            if queries is not None:
                exporter.queries.all().delete()
                for position, query in enumerate(queries):
                    query.exporter, query.position = exporter, position
                ExporterQuery.objects.bulk_create(queries)
    except IntegrityError:
        raise ApiError(409, {"name": ["Another request saved an exporter with this name at the same time."]}) \
            from None


class ExporterList(ConfigApiView):
    http_method_names = ["get", "post"]

    def get(self, request):
        last_run = services.last_run_of_each()
        exporters = list(
            Exporter.objects.select_related("credential")
            .prefetch_related(Prefetch("queries", queryset=ExporterQuery.objects.order_by("position", "id")))
            .annotate(last_run_id=Subquery(last_run.values("id")[:1]))
            .order_by("name")
        )
        runs = ExporterRun.objects.in_bulk([item.last_run_id for item in exporters if item.last_run_id])
        now = datetime.now(UTC)
        return json_response([s.exporter_json(item, list(item.queries.all()), runs.get(item.last_run_id), now)
                              for item in exporters])

    def post(self, request):
        exporter = Exporter()
        queries, structural = s.apply_exporter(exporter, read_body(request), partial=False)
        checked(exporter, queries, structural)
        save_exporter(exporter, queries)
        return json_response(exporter_answer(exporter), 201)


class ExporterDetail(ConfigApiView):
    http_method_names = ["get", "put", "patch", "delete"]

    def get(self, request, uid):
        return json_response(exporter_answer(find_exporter(uid)))

    def update(self, request, uid, *, partial: bool):
        exporter = find_exporter(uid)
        queries, structural = s.apply_exporter(exporter, read_body(request), partial=partial)
        checked(exporter, queries if queries is not None else services.saved_queries(exporter), structural)
        save_exporter(exporter, queries)
        return json_response(exporter_answer(exporter))

    def put(self, request, uid):
        return self.update(request, uid, partial=False)

    def patch(self, request, uid):
        return self.update(request, uid, partial=True)

    def delete(self, request, uid):
        find_exporter(uid).delete()
        return HttpResponse(status=204)


def load_test_answer(exporter: Exporter, queries: list[ExporterQuery]) -> HttpResponse:
    outcome = services.test_load(exporter, queries)
    return json_response({"queries": [query.as_json() for query in outcome.queries]})


class UnsavedExporterTestLoad(ConfigApiView):
    """``POST exporters/test-load``: the body is an exporter, as for a create; nothing is saved."""

    http_method_names = ["post"]

    def post(self, request):
        exporter = Exporter()
        queries, structural = s.apply_exporter(exporter, read_body(request), partial=False)
        checked(exporter, queries, structural, unsaved_test=True)
        return load_test_answer(exporter, queries)


class ExporterTestLoad(ConfigApiView):
    """``POST exporters/{uid}/test-load``: the saved exporter, or with a PATCH-shaped body's changes
    (not saved)."""

    http_method_names = ["post"]

    def post(self, request, uid):
        exporter = find_exporter(uid)
        body = read_body(request, allow_empty=True) or {}
        queries, structural = s.apply_exporter(exporter, body, partial=True)
        if queries is None:
            queries = services.saved_queries(exporter)
        checked(exporter, queries, structural)
        return load_test_answer(exporter, queries)


class ExporterRunNow(ConfigApiView):
    http_method_names = ["post"]

    def post(self, request, uid):
        exporter = find_exporter(uid)
        read_no_body(request)
        checked(exporter, services.saved_queries(exporter), {})
        try:
            task_id = services.queue_run(exporter, trigger=ExporterRun.MANUAL)
        except Exception as error:
            request_id = current_request_id()
            logger.error("Configuration API: exporter %s: the manual run could not be queued (request id %s)",
                         exporter.uid, request_id, exc_info=error)
            raise ApiError(503, {"run": [f"The run could not be queued: the task queue is unavailable (request id "
                                         f"{request_id})."]}) from None
        return json_response({"exporter": str(exporter.uid), "trigger": ExporterRun.MANUAL, "status": "queued",
                              "task_id": task_id}, 202)


class ExporterRuns(ConfigApiView):
    http_method_names = ["get"]
    query_parameters = ("limit",)

    def get(self, request, uid):
        exporter = find_exporter(uid)
        limit = RUNS_DEFAULT_LIMIT
        values = request.query_params.getlist("limit")
        if values:
            text = values[0]
            if (len(values) > 1 or not text.isascii() or not text.isdigit() or len(text) > 4
                    or not 1 <= int(text) <= RUNS_MAX_LIMIT):
                raise ApiError(400, {"limit": [f"Enter one whole number from 1 to {RUNS_MAX_LIMIT}."]})
            limit = int(text)
        runs = exporter.runs.order_by("-started_at", "-id")[:limit]
        return json_response([s.run_json(run) for run in runs])


@csrf_exempt
def unknown_endpoint(request, *args, **kwargs) -> HttpResponse:
    return errors_response(404, {"path": [f"No endpoint {request.path} in the configuration API."]})
