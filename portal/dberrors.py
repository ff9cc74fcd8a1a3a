"""The database out of reach: ``503`` with ``Retry-After`` in the endpoint's own error shape, never a 500.

While PostgreSQL restarts, fails over or refuses connections, every query fails with a connection
error: psycopg's ``OperationalError`` (server gone, connection refused, "terminating connection due
to administrator command", "the database system is starting up", too many connections) or an
``InterfaceError`` (connection already closed), wrapped by Django, SQLAlchemy (the broker) or kombu.
That is not a bug of the request: the client should try again shortly. ``is_unavailable`` tells
such an error apart from every other database error (a statement time-out, a constraint, bad SQL
stay what they are).

``DatabaseUnavailableMiddleware`` (last in ``MIDDLEWARE``) answers them:

- an exception out of a view (or re-raised by a view's own catch-all with ``reraise_if_unavailable``,
  so that it does not become that endpoint's 500): 503 in the error shape of the endpoint family
  the path belongs to (``SHAPES``), with ``Retry-After: 5``, logged as one warning line without a
  stack trace;
- a 500 that some other layer made of such an error (another middleware, a view that swallows
  every exception): turned into the same 503 when Django's ``got_request_exception`` saw an
  unavailable-database error during the request, or when the database cannot be reached right
  after the 500 (a short probe, only on 500s).

Recovery needs nothing more: ``CONN_HEALTH_CHECKS`` makes each request's first query check its
persistent connection and reconnect, so the web processes serve again as soon as PostgreSQL is
back, without a restart. A response already streaming (a large ``/2/query`` answer) cannot change
its status: when the server goes away in the middle, the connection is cut without the final
chunk, so that the client sees a truncated transfer, never a complete-looking one.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Callable

from django.core.signals import got_request_exception
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
MESSAGE = "the database is unavailable; try again shortly"
# Connection-level SQLSTATEs: class 08 (connection exception), plus shutdown, start-up and the
# connection limit. A query cancelled by a time-out (57014) is not one of them.
UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}


def is_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` (or an error it wraps) says the database cannot be reached or used right now."""
    import psycopg
    from django.db import utils as django_db

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, django_db.InterfaceError | psycopg.InterfaceError):
            return True
        if isinstance(exc, psycopg.OperationalError):
            sqlstate = getattr(exc, "sqlstate", None)
            return sqlstate is None or sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES
        if _is_broker_connection_error(exc):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__  # SQLAlchemy keeps it in orig
    return False


def _is_broker_connection_error(exc: BaseException) -> bool:
    try:
        from kombu.exceptions import OperationalError as BrokerOperationalError
    except ImportError:  # pragma: no cover - kombu comes with Celery
        return False
    return isinstance(exc, BrokerOperationalError)


def reraise_if_unavailable(exc: BaseException | None = None) -> None:
    """For a view's own catch-all (``except Exception``): lets a database-unavailable error through to
    ``DatabaseUnavailableMiddleware`` (503) instead of becoming the endpoint's 500."""
    exc = exc if exc is not None else sys.exc_info()[1]
    if exc is not None and is_unavailable(exc):
        raise exc


# -- Each endpoint family's error shape -----------------------------------------------------------


def _web_api(message: str) -> HttpResponse:
    from engine.api.views import error_response

    return error_response(503, message)  # the HTML error page of nxql.md


def _nql(message: str) -> HttpResponse:
    from engine.api.nql_views import error_response

    return error_response(503, message)  # {"message", "code": 503}


def _code_message(message: str) -> HttpResponse:
    return JsonResponse({"code": "SERVICE_UNAVAILABLE", "message": message}, status=503)


def _classic(message: str) -> HttpResponse:
    return JsonResponse({"code": "SERVICE_UNAVAILABLE", "error": message}, status=503)


def _token(message: str) -> HttpResponse:
    response = JsonResponse({"error": "temporarily_unavailable", "error_description": message}, status=503)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _config_api(message: str) -> HttpResponse:
    return JsonResponse({"errors": {"server": [message]}}, status=503)


def _drf(message: str) -> HttpResponse:
    return JsonResponse({"detail": message}, status=503)


def _error_field(message: str) -> HttpResponse:
    return JsonResponse({"error": message}, status=503)


def _other_api(message: str) -> HttpResponse:
    return JsonResponse({"message": message, "code": 503}, status=503)


def _page(message: str) -> HttpResponse:
    body = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Service unavailable</title></head>'
            f"<body><h1>Service unavailable</h1><p>The {message}.</p></body></html>")
    return HttpResponse(body, status=503, content_type="text/html; charset=utf-8")


# First match wins: (path pattern, builder of the 503 body).
SHAPES: list[tuple[re.Pattern, Callable[[str], HttpResponse]]] = [
    (re.compile(r"^/2/"), _web_api),
    (re.compile(r"^/api/v[12]/nql/"), _nql),
    (re.compile(r"^/api/v1/act/"), _code_message),
    (re.compile(r"^/api/collector/"), _code_message),
    (re.compile(r"^/api/remoteaction/"), _classic),
    (re.compile(r"^/(oauth2/|api/v1/token/?$)"), _token),
    (re.compile(r"^/api/config/v1(/|$)"), _config_api),
    (re.compile(r"^/api/configuration/"), _drf),
    (re.compile(r"^/api/beta/services?(/|$)"), _error_field),
    (re.compile(r"^/api/"), _other_api),
    (re.compile(r""), _page),
]


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """The 503 for ``request``'s endpoint family, with ``Retry-After``."""
    builder = next(build for pattern, build in SHAPES if pattern.search(request.path_info or request.path))
    response = builder(MESSAGE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


# -- The middleware -------------------------------------------------------------------------------

_seen = threading.local()  # the request whose handling raised an unavailable-database error


def _note_exception(sender, request=None, **kwargs) -> None:
    if request is not None and is_unavailable(sys.exc_info()[1]):
        _seen.request = request


got_request_exception.connect(_note_exception, dispatch_uid="portal.dberrors")


def database_reachable(timeout: int = 2) -> bool:
    """A quick probe of the default database (a fresh connection: the request's may be broken)."""
    import psycopg

    db = connections["default"].settings_dict
    params = {"dbname": db["NAME"], "user": db.get("USER"), "password": db.get("PASSWORD"),
              "host": db.get("HOST"), "port": db.get("PORT")}
    django_only = {"pool", "server_side_binding", "isolation_level", "assume_role", "cursor_factory"}
    params = {key: value for key, value in params.items() if value} | {
        key: value for key, value in (db.get("OPTIONS") or {}).items() if key not in django_only}
    params.pop("connect_timeout", None)
    try:
        with psycopg.connect(**params, connect_timeout=timeout) as probe:
            probe.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


class DatabaseUnavailableMiddleware:
    """503 + ``Retry-After`` in the endpoint's error shape when the database is out of reach."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        _seen.request = None
        response = self.get_response(request)
        if response.status_code == 500 and not getattr(response, "streaming", False):
            noted = getattr(_seen, "request", None) is request
            if noted or not database_reachable():
                self._log(request, "a 500 made of it")
                response = unavailable_response(request)
        _seen.request = None
        return response

    def process_exception(self, request, exception):
        if not is_unavailable(exception):
            return None
        self._log(request, f"{type(exception).__name__}: {str(exception).strip().splitlines()[0][:200]}"
                  if str(exception).strip() else type(exception).__name__)
        return unavailable_response(request)

    @staticmethod
    def _log(request, cause: str) -> None:
        logger.warning("database unavailable: %s %s answered 503 (%s)", request.method, request.path, cause)
