"""The OAuth 2.0 token endpoints (remote-actions.md, "Tokens"); the rules live in ``portal.oauth``.

``POST /oauth2/default/v1/token`` and ``POST /api/v1/token`` (the older form). Checked in this order:

====  =============================  ===========================================================
405   ``invalid_request``            any method but POST (``Allow: POST``)
413   ``invalid_request``            a body over ``MAX_BODY_BYTES`` (by ``Content-Length``; not read)
400   ``invalid_request``            a ``Content-Length`` that is not a number of bytes
401   ``invalid_client``             no or malformed Basic header, unknown client, wrong secret
                                     (``WWW-Authenticate: Basic realm="OpenDEX"``)
429   ``too_many_requests``          the client id or the address is throttled (``Retry-After``)
400   ``invalid_request``            a body that is not ``application/x-www-form-urlencoded``
                                     (JSON included), a charset other than UTF-8, ASCII or
                                     Latin-1, bytes or percent-escapes that do not decode, more
                                     than ``MAX_FIELDS`` fields, ``grant_type`` or ``scope``
                                     given twice, ``grant_type`` missing (``/oauth2/...`` only)
400   ``unsupported_grant_type``     ``grant_type`` other than ``client_credentials``
400   ``unauthorized_client``        a credential whose grant type is not client-credentials
400   ``invalid_scope``              a scope the credential does not cover, or nothing to grant
200   the token                      ``{"token_type", "expires_in", "access_token", "scope"}``
====  =============================  ===========================================================

Every body is JSON (``{"error": "<code>"}`` for errors, RFC 6749 5.2 codes plus
``too_many_requests``) with ``Cache-Control: no-store`` and ``Pragma: no-cache`` (RFC 6749 5.1).
The client is authenticated before the body is read: a request with a wrong secret is a counted 401
whatever its body. Parameters other than ``grant_type`` and ``scope`` are ignored (``client_id`` and
``client_secret`` in the body included: only Basic authenticates). ``/api/v1/token`` takes the same
form body but may have none (an empty body, whatever its content type): ``grant_type`` then defaults
to ``client_credentials``; a non-empty body that is not a form is refused there too rather than
ignored, so that a scope asked in JSON is never silently widened. An unexpected failure is logged
with a request id and answered 500 ``{"error": "server_error"}``.
"""

from __future__ import annotations

import codecs
import logging
from urllib.parse import parse_qsl

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from portal import dberrors, oauth
from portal.logs import current_request_id

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 50
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
CHARSETS = frozenset({"utf-8", "ascii", "iso8859-1"})


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _content_length(request: HttpRequest) -> int:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        raise oauth.InvalidRequest() from None
    if length < 0:
        raise oauth.InvalidRequest()
    return length


def _read_form(request: HttpRequest) -> dict[str, str] | None:
    """The form parameters of the body (the last of repeated unknown ones); None for an empty body."""
    try:
        body = request.body
    except RequestDataTooBig:
        raise oauth.BodyTooLarge() from None
    if not body:
        return None
    if request.content_type != FORM_CONTENT_TYPE:
        raise oauth.InvalidRequest()
    try:
        charset = codecs.lookup(request.content_params.get("charset") or "utf-8").name
    except LookupError:
        raise oauth.InvalidRequest() from None
    if charset not in CHARSETS:
        raise oauth.InvalidRequest()
    try:
        text = body.decode(charset)
        pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict",
                          max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise oauth.InvalidRequest() from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params and name in ("grant_type", "scope"):
            raise oauth.InvalidRequest()  # RFC 6749, 3.2: no parameter more than once
        params[name] = value
    return params


def _token(request: HttpRequest, *, legacy: bool) -> JsonResponse:
    if request.method != "POST":
        raise oauth.MethodNotAllowed({"Allow": "POST"})
    if _content_length(request) > MAX_BODY_BYTES:
        raise oauth.BodyTooLarge()
    credential = oauth.authenticate_client(request)
    params = _read_form(request)
    if params is None:
        if not legacy:
            raise oauth.InvalidRequest()
        params = {}
    grant_type = params.get("grant_type")
    if not grant_type:
        if not legacy:
            raise oauth.InvalidRequest()
        grant_type = oauth.CLIENT_CREDENTIALS
    if grant_type != oauth.CLIENT_CREDENTIALS:
        raise oauth.UnsupportedGrantType()
    oauth.check_grant_type(credential)
    scopes = oauth.grant_scopes(credential, params.get("scope"))
    issued = oauth.issue_token(credential, scopes)
    return _json(200, issued.as_response())


def _answer(request: HttpRequest, *, legacy: bool) -> JsonResponse:
    try:
        return _token(request, legacy=legacy)
    except oauth.TokenError as error:
        return _json(error.status, error.body(), error.headers)
    except Exception:
        dberrors.reraise_if_unavailable()  # 503 (portal.dberrors), not an internal error
        request_id = current_request_id()
        logger.exception("Token request failed (request id %s)", request_id)
        return _json(500, {"error": "server_error"}, {"X-Request-Id": request_id})


@csrf_exempt
def oauth2_token(request: HttpRequest) -> JsonResponse:
    """``POST /oauth2/default/v1/token``: form body with ``grant_type=client_credentials``."""
    return _answer(request, legacy=False)


@csrf_exempt
def legacy_token(request: HttpRequest) -> JsonResponse:
    """``POST /api/v1/token``: the older form; the body is optional."""
    return _answer(request, legacy=True)
