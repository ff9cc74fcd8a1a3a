"""The classic Act API v2: ``POST /api/remoteaction/v2/run`` (Basic auth).

Errors answer ``{"code", "error"}``, checked in the documented order: authentication (401, no
body, ``WWW-Authenticate``; 429 when throttled), ``NO_PERMISSION`` (403), ``CONTENT_TYPE``,
``ENCODING``, ``INVALID_REQUEST_JSON``, then the body (``remote_actions.classic.parse_call``) and
``NO_ENGINES_TO_TARGET``. Anything unexpected is logged with a request id and answered
``500 INTERNAL_ERROR``. Any method but POST answers 404. Success: a JSON array of the targeted
Engines' answers (``remote_actions.classic``).
"""

from __future__ import annotations

import json
import logging
import time

from django.http import HttpResponse, HttpResponseNotFound, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from portal import dberrors
from portal.authentication import basic_authenticate, error_status_and_headers
from portal.logs import current_request_id
from portal.models import PlatformSettings
from portal.permissions import AllowsRemoteActionApi, HasFinderAccess
from remote_actions import classic
from remote_actions.classic import ClassicError

log = logging.getLogger(__name__)


def _error(status: int, code: str, error: str) -> JsonResponse:
    return JsonResponse({"code": code, "error": error}, status=status)


def _body(request):
    if (request.content_type or "").lower() != "application/json":
        raise ClassicError("CONTENT_TYPE", "Content-Type must be application/json")
    charset = (request.content_params or {}).get("charset")
    if charset is not None and charset.strip().lower() not in ("utf-8", "utf8"):
        raise ClassicError("ENCODING", "The body must be encoded in UTF-8")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise ClassicError("ENCODING", "The body is not valid UTF-8") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise ClassicError("INVALID_REQUEST_JSON", "The body is not valid JSON") from None


@csrf_exempt
def run(request) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotFound()
    started = time.monotonic()
    try:
        account = basic_authenticate(request, [HasFinderAccess, AllowsRemoteActionApi])
    except exceptions.PermissionDenied:
        return _error(403, "NO_PERMISSION", "The account may not use the remote action API")
    except exceptions.APIException as error:
        status, headers = error_status_and_headers(error)
        response = HttpResponse(status=status)
        for name, value in headers.items():
            response[name] = value
        return response
    request_id = current_request_id()
    try:
        data = _body(request)
        settings_row = PlatformSettings.load()
        call = classic.parse_call(data, settings_row.act_default_timeout_seconds, settings_row.act_max_devices)
        the_plan = classic.plan(call, account)
        classic.dispatch(call, the_plan, account)
        classic.wait(the_plan, call.timeout_seconds, started=started)
    except ClassicError as error:
        return _error(error.status, error.code, error.error)
    except Exception:
        dberrors.reraise_if_unavailable()  # 503 (portal.dberrors), not an internal error
        log.exception("classic Act API failed (request id %s)", request_id)
        return _error(500, "INTERNAL_ERROR", f"Internal error (request id {request_id})")
    log.info("classic Act API call %s (requestUid %r): request %s", request_id, call.request_uid,
             the_plan.request_id)
    return JsonResponse([answer.as_json() for answer in the_plan.answers], safe=False)
