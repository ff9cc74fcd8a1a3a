"""Services API: ``GET /api/beta/service/data/overview`` and the discovery page ``GET /api/beta/services``
(``services.md``).

Both are ``services_endpoint`` views, checked in this order: the feature switch (404 when off, before
anything else: the API does not exist then), the method (GET and HEAD; 405 otherwise), Basic
authentication of any active account (401 with the Basic challenge, 429 with ``Retry-After`` when
throttled), then the parameters (400, or 403 for a node outside the view domain). Every error is
``{"error": "<message>"}`` in JSON, whatever ``format`` asked; an unexpected failure is logged with a
request id and answered 500 the same way (a database out of reach goes on to the 503 of
``portal.dberrors``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from portal.authentication import basic_authenticate, error_status_and_headers
from portal.dberrors import reraise_if_unavailable
from portal.logs import current_request_id
from portal.models import PlatformSettings
from service_health import discovery, services
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


def services_endpoint(handler: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A Services API view: ``handler(request, account)`` runs once the switch, the method and the Basic
    credentials are checked; its ``OverviewError`` and unexpected failures become JSON errors."""

    @csrf_exempt
    @functools.wraps(handler)
    def view(request) -> HttpResponse:
        if not PlatformSettings.load().services_api_active:
            return error_response(404, "not found")
        if request.method not in ("GET", "HEAD"):
            return error_response(405, f"method {request.method} is not allowed", {"Allow": "GET, HEAD"})
        try:
            account = basic_authenticate(request)
        except exceptions.APIException as error:
            status, headers = error_status_and_headers(error)
            return error_response(status, AUTHENTICATION_MESSAGES.get(status, str(error.detail)), headers)
        try:
            return handler(request, account)
        except services.OverviewError as error:
            return error_response(error.status, error.message)
        except Exception:
            reraise_if_unavailable()
            request_id = current_request_id()  # the one on the request's log lines and X-Request-ID
            logger.exception("Services API %s failed (request id %s)", handler.__name__, request_id)
            return error_response(500, f"internal error (request id {request_id})")

    return view


@services_endpoint
def overview(request, account) -> HttpResponse:
    query = services.OverviewRequest.parse(request.GET)
    answer = services.overview(account, query)
    if query.format == "json":
        return JsonResponse(overview_json(answer))
    if query.format == "csv":
        return HttpResponse(overview_csv(answer), content_type="text/csv; charset=utf-8")
    return HttpResponse(overview_html(answer), content_type="text/html; charset=utf-8")


@services_endpoint
def services_page(request, account) -> HttpResponse:
    """The discovery page: what the account can ask the overview about, with links and statuses."""
    return HttpResponse(discovery.render(account), content_type="text/html; charset=utf-8")
