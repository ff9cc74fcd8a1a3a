"""Services API: ``GET /api/beta/service/data/overview`` (``services.md``).

Checked in this order: the feature switch (404 when off, before anything else: the API does not
exist then), the method (GET and HEAD; 405 otherwise), Basic authentication of any active account
(401 with the Basic challenge, 429 with ``Retry-After`` when throttled), then the parameters (400,
or 403 for a node outside the view domain). Every error is ``{"error": "<message>"}`` in JSON,
whatever ``format`` asked; an unexpected failure is logged with a request id and answered 500 the
same way.
"""

from __future__ import annotations

import logging
import uuid

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from portal.authentication import basic_authenticate, error_status_and_headers
from portal.models import PlatformSettings
from service_health import services
from service_health.api.serializers import overview_csv, overview_html, overview_json

logger = logging.getLogger(__name__)

AUTHENTICATION_MESSAGES = {
    401: "authentication required: HTTP Basic credentials of an active account",
    429: "too many failed authentications; try again later",
}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@csrf_exempt
def overview(request) -> HttpResponse:
    if not PlatformSettings.load().services_api_active:
        return error_response(404, "not found")
    if request.method not in ("GET", "HEAD"):
        return error_response(405, f"method {request.method} is not allowed", {"Allow": "GET, HEAD"})
    try:
        account = basic_authenticate(request)
    except exceptions.APIException as error:
        status, headers = error_status_and_headers(error)
        return error_response(status, AUTHENTICATION_MESSAGES.get(status, str(error.detail)), headers)
    request_id = uuid.uuid4().hex
    try:
        query = services.OverviewRequest.parse(request.GET)
        answer = services.overview(account, query)
        if query.format == "json":
            return JsonResponse(overview_json(answer))
        if query.format == "csv":
            return HttpResponse(overview_csv(answer), content_type="text/csv; charset=utf-8")
        return HttpResponse(overview_html(answer), content_type="text/html; charset=utf-8")
    except services.OverviewError as error:
        return error_response(error.status, error.message)
    except Exception:
        logger.exception("Services API overview failed (request id %s)", request_id)
        return error_response(500, f"internal error (request id {request_id})")
