"""Throttling of failed authentications (platform.md, "Throttling of failed authentication").

Shared by the Basic endpoints (``portal.authentication``) and the OAuth token endpoints.

Rules:

- A *failure* is a wrong password or an unknown account or client; an inactive account counts like a
  wrong password. Requests without credentials, malformed credentials and refusals for missing
  rights do not count, and successful authentications never count.
- With ``AUTH_THROTTLE_MAX_FAILURES_PER_ACCOUNT`` failures for one account name within the last
  ``AUTH_THROTTLE_WINDOW_SECONDS``, every request naming that account is refused (429), the right
  password included; with ``AUTH_THROTTLE_MAX_FAILURES_PER_ADDRESS`` failures from one client address,
  every authentication attempt from that address is refused likewise. Other accounts and addresses
  are unaffected. Refused (throttled) attempts are not checked and so never count themselves: the
  throttle ends when enough failures have aged out of the (sliding) window.
- ``Retry-After`` is the whole number of seconds (rounded up) until the count drops below the limit.

Callers do, in this order::

    throttling.check(name, address)          # raises AuthenticationThrottled
    ... verify the password or secret ...
    throttling.record_failure(name, address)  # on a wrong password or an unknown name only

Notes:

- Failures live in the ``AuthenticationFailure`` table so that every web process sees them. Rows
  older than the window are pruned opportunistically by ``record_failure`` (at most once per
  ``PRUNE_INTERVAL`` per process; one indexed ``DELETE``).
- Account names are compared exactly, like Django user names (``Alice`` and ``alice`` are two
  accounts; guessing with other capitalisations only ever names unknown accounts). Names longer
  than the key column, or containing characters PostgreSQL cannot store (NUL), are stored as
  ``sha256:<hex>`` of the name. Basic user names never contain ``:``, so this cannot collide with a
  real name. OAuth client ids share the account-name space: a caller that wants them apart passes a
  prefixed name (e.g. ``client:<id>``).
- The client address is ``REMOTE_ADDR``. ``X-Forwarded-For`` is trusted only when the setting
  ``AUTH_THROTTLE_TRUST_X_FORWARDED_FOR`` is true (only behind a reverse proxy that sets it); then
  the right-most address of the header (the one the nearest proxy saw) is used.
- Check and record are not one atomic step: a burst of concurrent wrong attempts may pass a few
  more than the limit before the throttle holds. Records are written on the request's database
  connection: a view running inside ``ATOMIC_REQUESTS`` must not roll them back.
- Time comes from the module-level ``now`` callable, which tests replace to move the clock.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions

from portal.models import AuthenticationFailure

# The clock; tests replace it (``monkeypatch.setattr(throttling, "now", ...)``).
now = timezone.now

PRUNE_INTERVAL = timedelta(seconds=60)
_KEY_MAX_LENGTH = AuthenticationFailure._meta.get_field("key").max_length
_next_prune_at: datetime | None = None


class AuthenticationThrottled(exceptions.Throttled):
    """Too many failed authentications for an account name or a client address (answer 429).

    A DRF ``Throttled``: DRF answers it with 429 and ``Retry-After: <wait>``. Views outside DRF read
    ``retry_after`` (whole seconds, at least 1) and ``scope`` (``"account"`` or ``"address"``).
    """

    default_detail = "Too many failed authentications."
    default_code = "authentication_throttled"

    def __init__(self, retry_after: int, scope: str) -> None:
        super().__init__(wait=retry_after)
        self.retry_after: int = self.wait
        self.scope = scope


def window() -> timedelta:
    return timedelta(seconds=settings.AUTH_THROTTLE_WINDOW_SECONDS)


def storage_key(value: str | None) -> str:
    """The value as stored in ``AuthenticationFailure.key`` (see the module notes)."""
    value = value or ""
    if len(value) > _KEY_MAX_LENGTH or "\x00" in value:
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return value


def client_address(request) -> str:
    """The client address of a Django ``HttpRequest`` or DRF ``Request`` (see the module notes)."""
    meta = request.META
    if getattr(settings, "AUTH_THROTTLE_TRUST_X_FORWARDED_FOR", False):
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            return forwarded[-1]
    return meta.get("REMOTE_ADDR") or ""


def _retry_after(kind: str, key: str, limit: int, current: datetime) -> int | None:
    """Seconds until the failures for (kind, key) drop below ``limit``, or None when already below."""
    if limit <= 0:
        return None
    span = window()
    # Newest first, the limit-th newest failure is the one whose ageing out ends the throttle.
    pivot = (
        AuthenticationFailure.objects.filter(kind=kind, key=key, at__gt=current - span)
        .order_by("-at")
        .values_list("at", flat=True)[limit - 1 : limit]
    )
    pivot = list(pivot)
    if not pivot:
        return None
    return max(1, math.ceil((pivot[0] + span - current).total_seconds()))


def check(account_name: str | None, address: str | None) -> None:
    """Raise ``AuthenticationThrottled`` when the account name or the address is throttled."""
    current = now()
    waits = []
    account_wait = _retry_after(
        AuthenticationFailure.Kind.ACCOUNT, storage_key(account_name),
        settings.AUTH_THROTTLE_MAX_FAILURES_PER_ACCOUNT, current,
    )
    if account_wait is not None:
        waits.append((account_wait, "account"))
    address_wait = _retry_after(
        AuthenticationFailure.Kind.ADDRESS, storage_key(address),
        settings.AUTH_THROTTLE_MAX_FAILURES_PER_ADDRESS, current,
    )
    if address_wait is not None:
        waits.append((address_wait, "address"))
    if waits:
        retry_after, scope = max(waits)
        raise AuthenticationThrottled(retry_after, scope)


def record_failure(account_name: str | None, address: str | None) -> None:
    """Count one failed authentication for the account name and for the address."""
    current = now()
    kind = AuthenticationFailure.Kind
    AuthenticationFailure.objects.bulk_create([
        AuthenticationFailure(kind=kind.ACCOUNT, key=storage_key(account_name), at=current),
        AuthenticationFailure(kind=kind.ADDRESS, key=storage_key(address), at=current),
    ])
    _maybe_prune(current)


def _maybe_prune(current: datetime) -> None:
    global _next_prune_at
    if _next_prune_at is not None and current < _next_prune_at:
        return
    _next_prune_at = current + PRUNE_INTERVAL
    prune(current)


def prune(current: datetime | None = None) -> int:
    """Delete the failures older than the window; returns how many went."""
    current = current or now()
    deleted, _ = AuthenticationFailure.objects.filter(at__lte=current - window()).delete()
    return deleted
