"""Sending rendered records to a destination: batching by records and bytes, retries, OAuth2 refresh.

Retried: connection errors, timeouts, 408, 429 and 5xx, with exponential backoff (base doubling,
capped, full jitter) or the destination's ``Retry-After``, up to ``max_attempts`` per request. Any
other 4xx (and a redirect, which is not followed) fails the request at once. A 401 with OAuth2
fetches a new token and repeats the request once, outside the attempt budget.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC

import requests
from django.conf import settings

from .connectors import TokenError, request_headers, scrub, tls_verify
from .models import ConnectorCredential, Exporter
from .rendering import Envelope, RecordRenderer

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429})  # and every 5xx
ERROR_BODY_BYTES = 2048  # of a refused request's answer kept on the run row
USER_AGENT = "OpenDEX-exporter/1"


@dataclass
class Batch:
    body: bytes
    records: int


def batches(renderer: RecordRenderer, envelope: Envelope, rows: Iterable[Sequence], *, max_records: int,
            max_bytes: int) -> Iterator[Batch]:
    """Request bodies of at most ``max_records`` records and ``max_bytes`` bytes (a single record larger
    than ``max_bytes`` goes alone: records are never split)."""
    pending: list[bytes] = []
    pending_bytes = 0
    for row in rows:
        record = renderer.render(row).encode()
        if pending and envelope.size(pending_bytes + len(record), len(pending) + 1) > max_bytes:
            yield Batch(envelope.body(pending), len(pending))
            pending, pending_bytes = [], 0
        pending.append(record)
        pending_bytes += len(record)
        if len(pending) >= max_records:
            yield Batch(envelope.body(pending), len(pending))
            pending, pending_bytes = [], 0
    if pending:
        yield Batch(envelope.body(pending), len(pending))


class DeliveryFailed(Exception):
    """A request that could not be delivered; ``status`` is the last HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None, answer: str = ""):
        super().__init__(message)
        self.status = status
        self.answer = answer

    @property
    def detail(self) -> str:
        """The error as the run row keeps it: the message, then the start of the destination's answer."""
        return f"{self}\n{self.answer}" if self.answer else str(self)


@dataclass
class Sent:
    status: int
    answer_start: str
    attempts: int


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, moment.timestamp() - current)


def backoff_seconds(attempt: int) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1)))."""
    ceiling = min(settings.EXPORT_RETRY_MAX_SECONDS, settings.EXPORT_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)


def _answer_start(response: requests.Response, limit: int = ERROR_BODY_BYTES) -> str:
    """The first ``limit`` bytes of an answer as text (the rest is not read)."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(chunk_size=limit):
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except requests.RequestException:
        pass
    finally:
        response.close()
    return b"".join(chunks)[:limit].decode("utf-8", errors="replace")


class Destination:
    """An exporter's destination: the credential's base URL, then ``/``, then the resource. One HTTP
    session (keep-alive) for all the requests of a run. Use as a context manager."""

    def __init__(self, exporter: Exporter, *, max_attempts: int | None = None,
                 on_attempt: Callable[[], None] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.credential: ConnectorCredential = exporter.credential
        self.method = exporter.method
        self.url = self.credential.base_url.rstrip("/") + "/" + exporter.resource.lstrip("/")
        self.max_attempts = max_attempts if max_attempts is not None else exporter.max_attempts
        self.on_attempt = on_attempt or (lambda: None)
        self.sleep = sleep
        self.session = requests.Session()
        self._verify_context = tls_verify(self.credential)

    def __enter__(self) -> Destination:
        self.session.verify = self._verify_context.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self.session.close()
        self._verify_context.__exit__(*exc_info)

    def _request(self, body: bytes, content_type: str) -> requests.Response:
        headers = request_headers(self.credential)
        headers.update({"Content-Type": content_type, "User-Agent": USER_AGENT})
        return self.session.request(
            self.method, self.url, data=body, headers=headers, allow_redirects=False, stream=True,
            timeout=(settings.EXPORT_CONNECT_TIMEOUT, settings.EXPORT_READ_TIMEOUT),
        )

    def send(self, body: bytes, content_type: str) -> Sent:
        """Sends one request body, retrying as the module says; ``DeliveryFailed`` when it gives up."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            self.on_attempt()
            wait: float | None = None
            try:
                response = self._request(body, content_type)
            except TokenError as error:
                failure = DeliveryFailed(f"No OAuth2 token: {error}")
                if not error.retryable:
                    raise failure from None
            except requests.RequestException as error:
                kind = "timed out" if isinstance(error, requests.Timeout) else "connection failed"
                failure = DeliveryFailed(scrub(f"{self.method} {self.url} {kind} ({type(error).__name__}: {error})",
                                               self.credential))
            else:
                status = response.status_code
                if 200 <= status < 300:
                    answer = _answer_start(response, 200)
                    return Sent(status, answer, attempt)
                if (status == 401 and not refreshed
                        and self.credential.auth_type == ConnectorCredential.AUTH_OAUTH2):
                    response.close()
                    refreshed = True
                    attempt -= 1  # the repeat with a new token is not counted against max_attempts
                    try:
                        request_headers(self.credential, refresh=True)  # replaces the cached token
                    except TokenError as error:
                        raise DeliveryFailed(f"No OAuth2 token: {error}", 401) from None
                    continue
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                failure = DeliveryFailed(f"{self.method} {self.url} answered HTTP {status}", status,
                                         scrub(_answer_start(response), self.credential))
                if not (status in RETRYABLE_STATUSES or status >= 500):
                    raise failure
            if attempt >= self.max_attempts:
                raise DeliveryFailed(f"{failure} (gave up after {attempt} attempts)", failure.status,
                                     failure.answer)
            delay = min(wait, settings.EXPORT_RETRY_AFTER_MAX_SECONDS) if wait is not None else backoff_seconds(attempt)
            logger.warning("Exporter request failed (%s); attempt %d of %d, retrying in %.1f s.",
                           failure, attempt, self.max_attempts, delay)
            self.sleep(delay)
