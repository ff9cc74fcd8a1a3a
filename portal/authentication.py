"""HTTP Basic authentication for the documented Basic endpoints.

Web API V2 ``/2/query``, the NXQL editor, the classic Act API v2 and the Services API accept Basic
credentials (and nothing else: no session, no Bearer token). The building blocks:

- ``BasicAuthentication``: a DRF authentication class. Answers (through DRF):

  ============================================  ======  ==========================================
  request                                       status  counted as a failure (``portal.throttling``)
  ============================================  ======  ==========================================
  no ``Authorization`` header, or another        401     no
  scheme (e.g. ``Bearer``)
  malformed Basic header (no credentials, not    401     no
  base64, no ``:``, not encodable)
  account name or address throttled              429     no (``Retry-After`` header)
  unknown account, wrong password, inactive      401     yes
  account
  right password, active account                 --      never
  ============================================  ======  ==========================================

  Every 401 carries ``WWW-Authenticate: Basic realm="OpenDEX"`` (DRF takes it from the first
  authentication class of the view: list ``BasicAuthentication`` first, or use
  ``BasicEndpointMixin``). The password is checked with Django's ``authenticate`` (the model
  backend: Argon2, and a dummy hash for unknown accounts so that timing does not tell them apart).
  Bytes that are not UTF-8 are read as Latin-1, like DRF does.
- ``portal.permissions``: one DRF permission class per right (403, never counted).
- ``basic_authenticate``: the same checks for a view outside DRF (raises the same exceptions).
- ``error_status_and_headers``: the status and headers to answer an exception of authentication,
  throttling or permission with, so that each endpoint renders its own documented error body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from rest_framework import HTTP_HEADER_ENCODING, exceptions
from rest_framework import authentication as drf_authentication

from portal import throttling
from portal.permissions import ProfileRight

REALM = "OpenDEX"
BASIC_CHALLENGE = f'Basic realm="{REALM}"'


class MalformedCredentials(exceptions.AuthenticationFailed):
    """A Basic header that names no account (answered 401, not counted as a failure)."""

    default_detail = "Invalid basic authorization header."
    default_code = "malformed_credentials"


class InvalidCredentials(exceptions.AuthenticationFailed):
    """Unknown account, wrong password or inactive account (answered 401, counted as a failure)."""

    default_detail = "Invalid user name or password."
    default_code = "invalid_credentials"


def parse_basic_header(request) -> tuple[str, str] | None:
    """The (user name, password) of the request's Basic header; None without Basic credentials.

    Raises ``MalformedCredentials`` for a Basic header that cannot be read.
    """
    header = request.META.get("HTTP_AUTHORIZATION", b"")
    if isinstance(header, str):
        try:
            header = header.encode(HTTP_HEADER_ENCODING)
        except UnicodeEncodeError:
            # Only a test client or a non-WSGI caller can hand over characters outside Latin-1.
            raise MalformedCredentials() from None
    parts = header.split()
    if not parts or parts[0].lower() != b"basic":
        return None
    if len(parts) != 2:
        raise MalformedCredentials()
    try:
        decoded = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise MalformedCredentials() from None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")
    username, colon, password = text.partition(":")
    if not colon:
        raise MalformedCredentials()
    return username, password


class VerifiedCredentials:
    """Remembers, for a short while and in this process only, credentials Argon2 has accepted.

    Clients of the Basic endpoints send the password with every request; an Argon2 check costs tens of
    milliseconds, more than a typical query. An entry is keyed by an HMAC of the name and password
    (the password itself is never kept) and holds the account id and its password hash at the time:
    a changed password, a deactivated account or an expired entry means a full check again.
    """

    def __init__(self, ttl_seconds: float = 60.0, max_entries: int = 10_000):
        self.ttl_seconds, self.max_entries = ttl_seconds, max_entries
        self._entries: dict[bytes, tuple[float, int, str]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(username: str, password: str) -> bytes:
        message = f"{username}\x00{password}".encode("utf-8", "surrogatepass")
        return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()

    def account(self, username: str, password: str):
        key = self._key(username, password)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        _expires, account_id, password_hash = entry
        account = get_user_model().objects.select_related("profile").filter(pk=account_id).first()
        if (account is None or not account.is_active or account.password != password_hash
                or account.get_username() != username):
            return None
        return account

    def remember(self, username: str, password: str, account) -> None:
        key = self._key(username, password)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl_seconds, account.pk, account.password)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


verified_credentials = VerifiedCredentials()


def check_credentials(request, username: str, password: str):
    """The active account with these credentials, after the throttling check.

    Raises ``AuthenticationThrottled`` (429) before looking at the password when the account name
    or the client address is throttled, and ``InvalidCredentials`` (401, counted) otherwise on
    failure. ``request`` is a Django ``HttpRequest`` or a DRF ``Request``.
    """
    address = throttling.client_address(request)
    throttling.check(username, address)
    account = verified_credentials.account(username, password)
    if account is not None:
        return account
    if "\x00" not in username:  # PostgreSQL cannot even look such a name up: no account has it.
        # The model backend rejects inactive accounts after checking the password (same timing).
        account = authenticate(request=request, username=username, password=password)
    if account is None or not account.is_active:
        throttling.record_failure(username, address)
        raise InvalidCredentials()
    verified_credentials.remember(username, password, account)
    return account


class BasicAuthentication(drf_authentication.BasicAuthentication):
    """DRF Basic authentication with the realm, throttling and failure rules of OpenDEX."""

    www_authenticate_realm = REALM

    def authenticate(self, request):
        credentials = parse_basic_header(request)
        if credentials is None:
            return None
        return check_credentials(request, *credentials), None

    def authenticate_header(self, request) -> str:
        return BASIC_CHALLENGE


class BasicEndpointMixin:
    """For the DRF views of a Basic endpoint: Basic credentials only, and 401 always challenges."""

    authentication_classes = [BasicAuthentication]

    def get_authenticate_header(self, request) -> str:
        return BASIC_CHALLENGE


def basic_authenticate(request, permission_classes: Iterable[type[ProfileRight]] = ()):
    """Authenticate a plain Django request with Basic credentials and check the rights.

    Returns the account; raises ``NotAuthenticated`` (no credentials), ``AuthenticationFailed``,
    ``AuthenticationThrottled`` or ``PermissionDenied`` (with the refusing class's ``code``). Turn
    the exception into a response with ``error_status_and_headers``. The session user is ignored.
    ``permission_classes`` are ``portal.permissions`` classes (they check an account, not a request).
    """
    credentials = parse_basic_header(request)
    if credentials is None:
        raise exceptions.NotAuthenticated()
    account = check_credentials(request, *credentials)
    for permission_class in permission_classes:
        permission = permission_class()
        if not permission.allows(account):
            raise exceptions.PermissionDenied(
                detail=getattr(permission, "message", None), code=getattr(permission, "code", None)
            )
    return account


def error_status_and_headers(exc: Exception, challenge: str = BASIC_CHALLENGE) -> tuple[int, dict[str, str]]:
    """The HTTP status and headers for an exception of authentication, throttling or permission.

    401 always carries ``WWW-Authenticate`` (``challenge``), 429 carries ``Retry-After``. Any other
    DRF ``APIException`` keeps its status; other exceptions are 500.
    """
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return 401, {"WWW-Authenticate": challenge}
    if isinstance(exc, exceptions.Throttled):
        headers = {"Retry-After": f"{exc.wait:d}"} if exc.wait is not None else {}
        return 429, headers
    if isinstance(exc, exceptions.APIException):
        return exc.status_code, {}
    return 500, {}
