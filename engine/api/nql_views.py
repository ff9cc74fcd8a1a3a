"""The NQL API (``nql.md``): execute (v1, v2), export, export status, and the signed results link.

Every endpoint but the results link takes an OAuth Bearer token with the ``nql`` scope (or
``service:integration``): ``portal.oauth``. Answers:

=====  ===================================================================================
200    the documented bodies; ``Accept: text/csv`` on execute answers CSV (comma, header line)
400    bad body (not JSON, not an object, unknown field, wrong type, malformed ``queryId``,
       unknown compression), bad parameter (missing, not used by the query, not convertible),
       a query that does not compile
401    no body, ``WWW-Authenticate: Bearer`` (missing, wrong, expired or revoked token)
403    the token lacks the scope; an expired or forged results link
404    no saved query with that ID; no export with that ID (for this credential); no results
406    ``Accept`` allows neither JSON nor (on execute) CSV
429    too many exports waiting or running for the credential (``Retry-After``); throttled
       authentication
500    unexpected failure, logged with a request id that the message names
503    the query ran longer than ``NXQL_TIMEOUT_SECONDS``
=====  ===================================================================================

Every error body is ``{"message": str, "code": int (the status), "source": str (optional)}``;
``source`` names the part of the request at fault (``body``, ``queryId``, ``parameters``,
``parameters.<name>``, ``compression``, ``Accept``, ``exportId``) when there is one.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import FileResponse, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from rest_framework import exceptions
from rest_framework.views import APIView

from engine import exports, services
from engine.models import NqlExport, SavedQuery
from engine.query import plan as p
from engine.query.errors import QueryError
from portal import dberrors, metrics
from portal.logs import current_request_id
from portal.oauth import BearerEndpointMixin, HasScope, is_unauthorized, unauthorized_response

logger = logging.getLogger(__name__)

JSON = "application/json"
CSV = "text/csv"
QUERY_ID = re.compile(r"#[a-z0-9_]{1,255}")
COMPRESSIONS = tuple(NqlExport.Compression.values)


class ApiError(Exception):
    """An answer with an error body (``{"message", "code", "source"?}``)."""

    def __init__(self, status: int, message: str, source: str | None = None, headers: dict | None = None):
        self.status, self.message, self.source, self.headers = status, message, source, headers or {}
        super().__init__(message)


def error_response(status: int, message: str, source: str | None = None, headers: dict | None = None) -> HttpResponse:
    body: dict = {"message": message, "code": status}
    if source:
        body["source"] = source
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def json_response(payload) -> HttpResponse:
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return HttpResponse(text.encode("utf-8"), content_type=JSON)


# -- Accept ---------------------------------------------------------------------------------------


def _media_ranges(header: str) -> list[tuple[str, str, float]]:
    ranges = []
    for item in header.split(","):
        parts = [part.strip() for part in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        kind, _, subtype = media.partition("/")
        quality = 1.0
        for parameter in parts[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        ranges.append((kind, subtype or "*", quality))
    return ranges


def negotiate(header: str | None, offers: tuple[str, ...]) -> str | None:
    """The offered media type the ``Accept`` header prefers (the first offer on ties); None: none
    is acceptable. No header, or an empty one, accepts anything."""
    if header is None or not header.strip():
        return offers[0]
    ranges = _media_ranges(header)
    best, best_quality = None, 0.0
    for offer in offers:
        kind, _, subtype = offer.partition("/")
        quality, specificity = 0.0, -1
        for range_kind, range_subtype, range_quality in ranges:
            if range_kind == kind and range_subtype == subtype:
                rank = 2
            elif range_kind == kind and range_subtype == "*":
                rank = 1
            elif range_kind == "*" and range_subtype == "*":
                rank = 0
            else:
                continue
            if rank > specificity:
                quality, specificity = range_quality, rank
        if quality > best_quality:
            best, best_quality = offer, quality
    return best


def require_acceptable(request, offers: tuple[str, ...]) -> str:
    chosen = negotiate(request.META.get("HTTP_ACCEPT"), offers)
    if chosen is None:
        raise ApiError(406, f"this endpoint answers {' or '.join(offers)}; the Accept header allows neither"
                       if len(offers) > 1 else f"this endpoint answers {offers[0]} only", "Accept")
    return chosen


# -- request bodies -------------------------------------------------------------------------------


def read_json_object(request, allowed: tuple[str, ...]) -> dict:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError(400, "the request body is too large", "body") from None
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deeply
        raise ApiError(400, "the request body must be a JSON object", "body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", "body")
    unknown = [key for key in body if key not in allowed]
    if unknown:
        raise ApiError(400, f"unknown field '{unknown[0]}'; expected {', '.join(allowed)}", unknown[0])
    return body


def read_query_id(value) -> str:
    if value is None:
        raise ApiError(400, "queryId is required", "queryId")
    if not isinstance(value, str):
        raise ApiError(400, "queryId must be a string", "queryId")
    if not QUERY_ID.fullmatch(value):
        raise ApiError(400, "queryId must be # followed by 1 to 255 lowercase letters, digits or underscores",
                       "queryId")
    return value


def read_parameters(value) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, "parameters must be an object of strings", "parameters")
    for name, item in value.items():
        if not isinstance(item, str):
            raise ApiError(400, f"the value of parameter '{name}' must be a string", f"parameters.{name}")
    return dict(value)


def read_compression(value) -> str:
    if value is None:
        return NqlExport.Compression.NONE
    if not isinstance(value, str) or value.upper() not in COMPRESSIONS:
        raise ApiError(400, f"compression must be one of {', '.join(COMPRESSIONS)}", "compression")
    return value.upper()


def saved_query(query_id: str) -> SavedQuery:
    query = SavedQuery.objects.filter(nql_id=query_id).first()
    if query is None:
        raise ApiError(404, f"no saved query with ID {query_id}", "queryId")
    return query


def check_parameters(query: SavedQuery, parameters: dict[str, str]) -> None:
    try:
        exports.check_parameters(query.text, parameters)
    except exports.ParameterMismatch as error:
        raise ApiError(400, error.full_message, "parameters") from None


def query_error(error: QueryError, parameters: dict[str, str]) -> Exception:
    """A compiler's 400 as an ``ApiError`` whose source is the parameter at fault when the message
    names one (``parameter platform: ...``), else ``query``; other statuses (503) as they are."""
    if error.status != 400:
        return error
    source = "query"
    if error.message.startswith("parameter "):
        named = error.message.removeprefix("parameter ").lstrip("$")
        source = next((f"parameters.{name}" for name in parameters if re.match(rf"{re.escape(name)}\b", named)),
                      "query")
    return ApiError(400, error.full_message, source)


def prepare(query: SavedQuery, parameters: dict[str, str], now: datetime) -> services.PreparedNql:
    try:
        return services.prepare_nql(query.text, parameters=parameters, visibility=p.Visibility(), now=now)
    except QueryError as error:
        raise query_error(error, parameters) from None


def credential_of(request):
    """The API credential of the request's token (``portal.oauth.TokenGrant.credential``)."""
    return getattr(getattr(request, "auth", None), "credential", None)


# -- views ----------------------------------------------------------------------------------------


class NqlApiView(BearerEndpointMixin, APIView):
    """Bearer token with the ``nql`` scope; bodies read by hand; every error in the NQL API's shape."""

    parser_classes: list = []
    permission_classes = [HasScope("nql")]

    def handle_exception(self, exc):
        if isinstance(exc, ApiError):
            return error_response(exc.status, exc.message, exc.source, exc.headers)
        if isinstance(exc, QueryError):
            return error_response(exc.status, exc.full_message, "query" if exc.status == 400 else None)
        if isinstance(exc, exports.TooManyExports):
            return error_response(429, str(exc), headers={"Retry-After": str(exc.retry_after)})
        if is_unauthorized(exc):
            return unauthorized_response()
        if isinstance(exc, exceptions.Throttled):
            headers = {"Retry-After": str(int(exc.wait))} if exc.wait is not None else {}
            return error_response(429, "too many requests; try again later", headers=headers)
        if isinstance(exc, exceptions.PermissionDenied):
            return error_response(403, f"the credential may not call the NQL API ({exc.detail})")
        if isinstance(exc, exceptions.APIException):
            return error_response(exc.status_code, str(exc.detail))
        dberrors.reraise_if_unavailable(exc)  # 503 (portal.dberrors), not an internal error
        request_id = current_request_id()
        logger.error("NQL API request failed (request id %s)", request_id, exc_info=exc)
        return error_response(500, f"internal error (request id {request_id})")


class Execute(NqlApiView):
    """``POST /api/v1/nql/execute`` and ``POST /api/v2/nql/execute``."""

    version = 1

    def post(self, request):
        body = read_json_object(request, ("queryId", "parameters"))
        query_id = read_query_id(body.get("queryId"))
        parameters = read_parameters(body.get("parameters"))
        answer = require_acceptable(request, (JSON, CSV))
        query = saved_query(query_id)
        check_parameters(query, parameters)
        now = datetime.now(UTC).replace(microsecond=0)
        started = time.monotonic()
        prepared = prepare(query, parameters, now)
        max_rows = int(settings.NQL_EXECUTE_MAX_ROWS)
        result = services.execute(exports.limited(prepared.plan, max_rows))
        rows = list(result.rows)[:max_rows]  # read to the end: the cursor's transaction closes
        metrics.observe_query("nql", "csv" if answer == CSV else "json", started, len(rows))
        if answer == CSV:
            text = exports.csv_text(result.columns, rows)
            return HttpResponse(text.encode("utf-8"), content_type=exports.CSV_CONTENT_TYPE)
        names = [column.name for column in result.columns]
        data = list(exports.json_rows(result.columns, rows))
        payload: dict = {"queryId": query_id, "executedQuery": prepared.executed_query, "rows": len(data)}
        if self.version == 1:
            payload["executionDateTime"] = {
                "year": now.year, "month": now.month, "day": now.day,
                "hour": now.hour, "minute": now.minute, "second": now.second,
            }
            payload["headers"] = names
            payload["data"] = data
        else:
            payload["executionDateTime"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
            payload["data"] = [dict(zip(names, row, strict=True)) for row in data]
        return json_response(payload)


class ExecuteV2(Execute):
    version = 2


class Export(NqlApiView):
    """``POST /api/v1/nql/export`` (JSON body) and ``GET /api/v1/nql/export?queryId=...``."""

    def post(self, request):
        body = read_json_object(request, ("queryId", "parameters", "compression"))
        return self.submit(request, read_query_id(body.get("queryId")), read_parameters(body.get("parameters")),
                           read_compression(body.get("compression")))

    def get(self, request):
        query = request.query_params
        for name in query:
            if len(query.getlist(name)) > 1:
                raise ApiError(400, f"query parameter '{name}' is given more than once",
                               name if name in ("queryId", "compression") else f"parameters.{name}")
        parameters = {name: query[name] for name in query if name not in ("queryId", "compression")}
        return self.submit(request, read_query_id(query.get("queryId")), parameters,
                           read_compression(query.get("compression")))

    def submit(self, request, query_id: str, parameters: dict[str, str], compression: str):
        require_acceptable(request, (JSON,))
        query = saved_query(query_id)
        check_parameters(query, parameters)
        try:
            export = exports.submit_export(query, parameters, compression, credential_of(request))
        except QueryError as error:
            raise query_error(error, parameters) from None
        return json_response({"exportId": str(export.pk)})


class Status(NqlApiView):
    """``GET /api/v1/nql/status/{exportId}``."""

    def get(self, request, export_id: str):
        require_acceptable(request, (JSON,))
        try:
            key = uuid.UUID(export_id)
        except ValueError:
            raise ApiError(404, f"no export with ID {export_id}", "exportId") from None
        exports_of = NqlExport.objects.filter(pk=key)
        credential = credential_of(request)
        if credential is not None:
            exports_of = exports_of.filter(requested_by=credential)
        export = exports_of.first()
        if export is None:
            raise ApiError(404, f"no export with ID {export_id}", "exportId")
        payload: dict = {"status": export.status}
        if export.status == NqlExport.Status.COMPLETED:
            payload["resultsFileUrl"] = request.build_absolute_uri(exports.results_path(export))
        elif export.status == NqlExport.Status.ERROR:
            payload["errorDescription"] = export.error_description
        return json_response(payload)


@require_safe
def results(request, token: str) -> HttpResponse:
    """``GET`` of a ``resultsFileUrl``: the export's file; the signature is the credential."""
    try:
        export = exports.export_for_link(token)
    except exports.ResultsLinkInvalid as error:
        return error_response(403, error.message)
    try:
        path = exports.results_file(export) if export is not None else None
        if path is None:
            return error_response(404, "the results of this export are no longer available")
        suffix = exports.FILE_SUFFIXES[export.compression]
        return FileResponse(
            open(path, "rb"),  # FileResponse closes it
            as_attachment=True,
            filename=f"nql-export-{export.pk}{suffix}",
            content_type=exports.CONTENT_TYPES[export.compression],
        )
    except Exception:
        dberrors.reraise_if_unavailable()
        request_id = current_request_id()
        logger.exception("NQL results download failed (request id %s)", request_id)
        return error_response(500, f"internal error (request id {request_id})")
