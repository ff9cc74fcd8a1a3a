"""The current remote-actions API (``remote-actions.md``, "Current API (Bearer token)").

``GET /api/v1/act/remote-action``, ``GET /api/v1/act/remote-action/details?nql-id=...`` and
``POST /api/v1/act/execute``; each path also answers with a trailing slash. OAuth Bearer token with
the ``remote_actions`` scope (or ``service:integration``), ``portal.oauth``.

Errors are ``{"code": str, "message": str}``, checked in this order:

=====  =====================  ==============================================================
401    (no body)              missing, wrong, expired or revoked token (``WWW-Authenticate: Bearer``)
403    ``FORBIDDEN``          the token lacks the scope
400    ``INVALID_REQUEST``    body not UTF-8 / not JSON / not an object, too large, unknown field,
                              wrong type, missing field, device not a UUID string,
                              ``expiresInMinutes`` outside 60…10080, ``reason`` > 500 characters
                              (``externalSource`` / ``externalReference`` > 255); list: unknown,
                              repeated or bad query parameter; details: missing ``nql-id``
400    ``TOO_MANY_DEVICES``   more distinct devices than ``act_max_devices``
404    ``NOT_FOUND``          no such action, or disabled
403    ``API_NOT_ENABLED``    the action's API box is off (execute only)
400    ``UNKNOWN_DEVICES``    collector UIDs no device has (the message names up to 20)
400    ``INVALID_PARAMETER``  ``services.resolve_params`` refused the params
405    ``METHOD_NOT_ALLOWED``
500    ``INTERNAL_ERROR``     unexpected; logged with a request id that the message names
=====  =====================  ==============================================================
"""

from __future__ import annotations

import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpResponse
from rest_framework import exceptions
from rest_framework.views import APIView

from engine.models import Device
from portal import dberrors
from portal.logs import current_request_id
from portal.models import PlatformSettings
from portal.oauth import BearerEndpointMixin, HasScope, is_unauthorized, unauthorized_response
from remote_actions import services
from remote_actions.api.current_serializers import (
    NQL_ID_RE,
    RequestInvalid,
    action_json,
    list_filters,
    parse_execute,
)
from remote_actions.models import RemoteAction, TriggerMethod

logger = logging.getLogger(__name__)

JSON = "application/json"
MAX_LISTED_UNKNOWN = 20


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> HttpResponse:
    return json_response({"code": code, "message": message}, status)


def json_response(payload, status: int = 200) -> HttpResponse:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return HttpResponse(text.encode("utf-8", "backslashreplace"), status=status, content_type=JSON)


def enabled_actions():
    return RemoteAction.objects.filter(enabled=True).prefetch_related("inputs", "outputs")


def find_action(nql_id) -> RemoteAction:
    """The enabled action with this NQL ID, or ``NOT_FOUND`` (malformed IDs are never looked up)."""
    action = None
    if isinstance(nql_id, str) and NQL_ID_RE.fullmatch(nql_id):
        action = enabled_actions().filter(nql_id=nql_id).first()
    if action is None:
        raise ApiError(404, "NOT_FOUND", f"no enabled remote action with ID {nql_id}")
    return action


def devices_by_collector_uid(collector_uids: list[str]) -> dict[str, tuple[int, str]]:
    """collector UID → (device id, platform), in one query."""
    table = Device._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT collector_uid, id, platform FROM {table} WHERE collector_uid = ANY(%s)", [collector_uids]
        )
        return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


class RemoteActionApiView(BearerEndpointMixin, APIView):
    """Bearer token with the ``remote_actions`` scope; every error as ``{"code", "message"}``."""

    parser_classes: list = []
    permission_classes = [HasScope("remote_actions")]

    def handle_exception(self, exc):
        if isinstance(exc, ApiError):
            return error_response(exc.status, exc.code, exc.message)
        if isinstance(exc, RequestInvalid):
            return error_response(400, "INVALID_REQUEST", exc.message)
        if is_unauthorized(exc):
            return unauthorized_response()
        if isinstance(exc, exceptions.PermissionDenied):
            return error_response(403, "FORBIDDEN", "the token does not grant the remote_actions scope")
        if isinstance(exc, exceptions.MethodNotAllowed):
            return error_response(405, "METHOD_NOT_ALLOWED", str(exc.detail))
        if isinstance(exc, exceptions.Throttled):
            return error_response(429, "TOO_MANY_REQUESTS", "too many requests; try again later")
        if isinstance(exc, exceptions.APIException):
            return error_response(exc.status_code, "INVALID_REQUEST", str(exc.detail))
        dberrors.reraise_if_unavailable(exc)  # 503 (portal.dberrors), not an internal error
        request_id = current_request_id()
        logger.error("remote-actions API request failed (request id %s)", request_id, exc_info=exc)
        return error_response(500, "INTERNAL_ERROR", f"internal error (request id {request_id})")


class RemoteActionList(RemoteActionApiView):
    """``GET /api/v1/act/remote-action``: every enabled action, filtered by the query parameters."""

    def get(self, request):
        predicates = list_filters(request.query_params)
        actions = [action for action in enabled_actions() if all(test(action) for test in predicates)]
        return json_response([action_json(action) for action in actions])


class RemoteActionDetails(RemoteActionApiView):
    """``GET /api/v1/act/remote-action/details?nql-id=%23...``."""

    def get(self, request):
        query = request.query_params
        unknown = [name for name in query if name != "nql-id"]
        if unknown:
            raise RequestInvalid(f"unknown query parameter '{unknown[0]}'; expected nql-id")
        values = query.getlist("nql-id")
        if not values or not values[0]:
            raise RequestInvalid("the nql-id query parameter is required")
        if len(values) > 1:
            raise RequestInvalid("query parameter 'nql-id' is given more than once")
        return json_response(action_json(find_action(values[0])))


class Execute(RemoteActionApiView):
    """``POST /api/v1/act/execute``: one request, one execution per device."""

    def post(self, request):
        try:
            raw = request.body
        except RequestDataTooBig:
            raise RequestInvalid("the request body is too large") from None
        body = parse_execute(raw)
        max_devices = PlatformSettings.load().act_max_devices
        if len(body.devices) > max_devices:
            raise ApiError(400, "TOO_MANY_DEVICES",
                           f"{len(body.devices)} devices requested; at most {max_devices} are allowed")
        action = find_action(body.remote_action_id)
        if not action.api_enabled:
            raise ApiError(403, "API_NOT_ENABLED", f"remote action {action.nql_id} is not enabled for the API")
        known = devices_by_collector_uid(body.devices)
        unknown = [uid for uid in body.devices if uid not in known]
        if unknown:
            listed = ", ".join(unknown[:MAX_LISTED_UNKNOWN])
            more = f" (and {len(unknown) - MAX_LISTED_UNKNOWN} more)" if len(unknown) > MAX_LISTED_UNKNOWN else ""
            raise ApiError(400, "UNKNOWN_DEVICES", f"{len(unknown)} unknown device(s): {listed}{more}")
        credential = getattr(request.auth, "credential", None)
        info = services.TriggerInfo(
            external_source=body.external_source, external_reference=body.external_reference, reason=body.reason,
            requested_by=getattr(credential, "client_id", "") or "",
        )
        try:
            created = services.create_request(
                action, [known[uid] for uid in body.devices], body.params, TriggerMethod.API,
                body.expires_in_minutes, info,
            )
        except services.InvalidParameter as error:
            raise ApiError(400, "INVALID_PARAMETER", error.message) from None
        except services.RemoteActionError as error:
            raise ApiError(400, "INVALID_REQUEST", error.message) from None
        return json_response({"requestId": str(created.pk), "expiresInMinutes": body.expires_in_minutes})
