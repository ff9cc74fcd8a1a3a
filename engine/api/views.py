"""Web API V2 (``/2/query``) and the List Engines API (``nxql.md``)."""

from __future__ import annotations

import logging
import time

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from engine import services
from engine.api.serializers import EngineSerializer
from engine.models import Engine
from engine.query import plan as p
from engine.query.errors import QueryError
from engine.query.render import CONTENT_TYPES, FORMATS, ResultColumn, error_page, render
from engine.schema import FieldType
from engine.schema.completion import completion_data
from portal import dberrors, metrics
from portal.authentication import BasicEndpointMixin, basic_authenticate, error_status_and_headers
from portal.logs import current_request_id
from portal.models import PlatformSettings
from portal.permissions import DataPrivacyNone, HasFinderAccess

logger = logging.getLogger(__name__)

TEMPLATE_PARAMETERS = tuple(f"p{n}" for n in range(1, 10))


def error_response(status: int, message: str, options=(), headers=None) -> HttpResponse:
    response = HttpResponse(error_page(message, options), status=status, content_type=CONTENT_TYPES["html"])
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _authentication_failure(error: Exception) -> HttpResponse:
    """Web API V2 rejects the credentials of accounts without the rights: 401, like wrong ones."""
    status, headers = error_status_and_headers(error)
    if status == 403:
        status, headers = error_status_and_headers(exceptions.NotAuthenticated())
    if status == 401:
        response = HttpResponse(b"", status=401)
        response["WWW-Authenticate"] = headers["WWW-Authenticate"]
        return response
    return error_response(status, "too many failed authentications; try again later", headers=headers)


def _read_boolean(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise QueryError(f"parameter {name} must be true or false, not '{value}'", options=["true", "false"])


@csrf_exempt
@require_http_methods(["GET", "POST"])
def query(request) -> HttpResponse:
    """``GET|POST /2/query``: runs NXQL, answers in csv (default), json, xml or html."""
    try:
        account = basic_authenticate(request, [HasFinderAccess, DataPrivacyNone])
    except exceptions.APIException as error:
        return _authentication_failure(error)
    request_id = current_request_id()
    started = time.monotonic()
    try:
        if not PlatformSettings.load().web_api_licensed:
            return error_response(403, "the Web API is not licensed")
        parameters = request.GET.copy()
        if request.method == "POST":
            try:
                parameters.update(request.POST)
            except RequestDataTooBig:
                raise QueryError("the request body is too large") from None
        text = parameters.get("query")
        if text is None or not text.strip():
            raise QueryError("parameter query is required")
        output_format = (parameters.get("format") or "csv").strip().lower()
        if output_format not in FORMATS:
            raise QueryError(f"unknown format '{parameters.get('format')}'", options=FORMATS)
        human_readable = _read_boolean(parameters.get("hr"), "hr")
        platforms = services.parse_platforms(parameters.getlist("platform"))
        templates = {name: parameters[name] for name in TEMPLATE_PARAMETERS if name in parameters}
        visibility = services.visibility_for(account, platforms, request.get_host())
        compiled = services.compile_nxql_text(
            text, visibility=visibility, template_values=templates,
            can_edit_categories=account.profile.can_edit_categories,
        )
        if isinstance(compiled, p.UpdatePlan):
            updated = services.apply_update(compiled)
            columns, rows = [ResultColumn("updated", FieldType.INT)], iter([(updated,)])
        else:
            result = services.execute(compiled)
            columns, rows = result.columns, result.rows
    except QueryError as error:
        return error_response(error.status, error.full_message, error.options)
    except Exception:
        dberrors.reraise_if_unavailable()  # 503 (portal.dberrors), not an internal error
        logger.exception("Web API query failed (request id %s)", request_id)
        return error_response(500, f"internal error (request id {request_id})")
    rows = metrics.counted_rows(rows, "nxql", output_format, started)  # /metrics
    body = render(output_format, columns, rows, hr=human_readable and output_format != "json")
    return StreamingHttpResponse(body, content_type=CONTENT_TYPES[output_format])


class EngineList(BasicEndpointMixin, APIView):
    """``GET /api/configuration/v1/engines``: every Engine (any active account with finder access)."""

    permission_classes = [HasFinderAccess]

    def get(self, request):
        return Response(EngineSerializer(Engine.objects.order_by("name"), many=True).data)

    def permission_denied(self, request, message=None, code=None):
        # Accounts without finder access are rejected like wrong credentials (as for /2/query).
        raise exceptions.NotAuthenticated()


@require_safe
def nxql_editor(request) -> HttpResponse:
    """``GET /2/editor/nxql_editor.html``: the NXQL editor page (no authentication to load it).

    The page calls ``/2/query`` from the browser with the credentials typed into it; the schema
    registry is embedded for completion of table, field and aggregate names."""
    return TemplateResponse(request, "engine/nxql_editor.html", {"completion": completion_data()})
