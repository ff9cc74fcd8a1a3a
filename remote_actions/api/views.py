"""The device channel (``remote-actions.md``, "Device channel"): what a collector calls.

Answers are JSON. ``400 {"code": "INVALID_REQUEST", "message", "errors"}`` for a bad body (see
``serializers``); ``401 {"node_invalid": true}`` for an unknown or revoked node key;
``401 {"code": "INVALID_SECRET", ...}`` for a wrong enroll secret; ``404``/``409``
``{"code": "NOT_FOUND" | "CONFLICT", "message"}`` for results. Unexpected errors are logged and
answered ``500 {"code": "INTERNAL_ERROR"}`` as a last resort.
"""

from __future__ import annotations

import logging
from functools import wraps

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal import dberrors
from remote_actions import services
from remote_actions.api.serializers import ENROLL, POLL, RESULT, BodyError, parse

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, **extra) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, **extra}, status=status)


def channel_view(view):
    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except BodyError as error:
            return _error(400, "INVALID_REQUEST", error.message, errors=error.errors)
        except services.InvalidNode:
            return JsonResponse({"node_invalid": True}, status=401)
        except services.InvalidSecret as error:
            return _error(401, "INVALID_SECRET", error.message)
        except services.NotFound as error:
            return _error(404, "NOT_FOUND", error.message)
        except services.Conflict as error:
            return _error(409, "CONFLICT", error.message)
        except services.RemoteActionError as error:
            return _error(400, "INVALID_REQUEST", error.message, errors={})
        except Exception:  # never a bare 500 page: logged, answered as JSON
            dberrors.reraise_if_unavailable()  # 503 (portal.dberrors), not an internal error
            log.exception("device channel error")
            return _error(500, "INTERNAL_ERROR", "internal error")

    return wrapped


@channel_view
def enroll(request):
    data = parse(request.body, ENROLL)
    node_key = services.enroll(
        data["enrollSecret"], data["collectorUid"], data.get("deviceUid") or "", data.get("name") or "",
        data.get("platform") or "",
    )
    return JsonResponse({"nodeKey": node_key})


@channel_view
def poll(request):
    data = parse(request.body, POLL)
    return JsonResponse({"executions": services.poll(data["nodeKey"])})


@channel_view
def result(request, execution_id: str):
    data = parse(request.body, RESULT)
    device = services.device_for_node(data["nodeKey"])
    if not execution_id.isdigit() or len(execution_id) > 18:
        raise services.NotFound("no such execution for this device")
    execution = services.report_device_result(
        device, int(execution_id), data["status"], data.get("outputs") or {}, data.get("statusDetails") or "",
    )
    return JsonResponse({"executionId": execution.pk, "status": execution.status})
