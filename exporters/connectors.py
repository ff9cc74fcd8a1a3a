"""Authentication headers and connection tests for connector credentials.

OAuth2 tokens are cached in this process per credential (and per its OAuth2 settings) until 60 s
before ``expires_in``; a token response without ``expires_in`` is kept until a 401 refreshes it.
No secret ever appears in a log line, an exception message or a result shown to a user.
"""

import base64
import hashlib
import logging
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

import requests

from .models import ConnectorCredential

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10
EXPIRY_MARGIN = 60  # seconds before expires_in when a cached token is no longer used
RETRYABLE_STATUSES = frozenset({408, 429})  # and every 5xx


class TokenError(Exception):
    """The token endpoint did not issue a token (the message holds no secret). ``retryable`` when it
    was unreachable or failed on its side (5xx, 408, 429), not when it refused the client."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


@dataclass
class CachedToken:
    access_token: str
    expires_at: float | None  # time.monotonic() deadline, None for "until refused"

    def __repr__(self) -> str:
        return f"CachedToken(expires_at={self.expires_at!r})"


_tokens: dict[tuple, CachedToken] = {}
_tokens_lock = threading.Lock()


def _cache_key(credential: ConnectorCredential) -> tuple:
    fingerprint = hashlib.sha256(
        "\x00".join((credential.token_url, credential.client_id, credential.client_secret, credential.scope,
                     credential.audience, credential.client_auth)).encode()
    ).hexdigest()
    return (credential.pk, fingerprint)


def clear_token_cache() -> None:
    with _tokens_lock:
        _tokens.clear()


def secret_forms(credential: ConnectorCredential) -> list[str]:
    """Every form in which the credential's secrets travel, longest first: the stored values, their
    URL-encoded forms (token request bodies), the Basic header values built from them (a destination
    that echoes the request headers in its error answer), and the OAuth2 token obtained with them."""
    forms = set()
    for secret in credential.secret_values():
        forms.update({secret, quote_plus(secret), quote(secret, safe="")})
    pairs = [(credential.username, credential.password), (credential.client_id, credential.client_secret)]
    for name, secret in pairs:
        if not secret:
            continue
        for encoding in ("utf-8", "latin-1"):  # ours (auth_headers) and requests' (token requests)
            try:
                forms.add(base64.b64encode(f"{name}:{secret}".encode(encoding)).decode("ascii"))
            except UnicodeEncodeError:
                continue
    with _tokens_lock:
        cached = _tokens.get(_cache_key(credential)) if credential.auth_type == credential.AUTH_OAUTH2 else None
    if cached is not None:
        forms.add(cached.access_token)
    return sorted((form for form in forms if form), key=len, reverse=True)


def scrub(text: str, credential: ConnectorCredential) -> str:
    for secret in secret_forms(credential):
        text = text.replace(secret, "••••")
    return text


@contextmanager
def tls_verify(credential: ConnectorCredential):
    """The ``verify`` argument for requests: False, True, or a temporary CA bundle file."""
    if not credential.verify_tls:
        yield False
    elif not credential.ca_bundle_pem.strip():
        yield True
    else:
        fd, path = tempfile.mkstemp(suffix=".pem")
        try:
            with os.fdopen(fd, "w") as bundle:
                bundle.write(credential.ca_bundle_pem)
            yield path
        finally:
            os.unlink(path)


def fetch_token(credential: ConnectorCredential) -> CachedToken:
    """Asks the token endpoint for a new token (client credentials grant)."""
    data = {"grant_type": "client_credentials"}
    if credential.scope:
        data["scope"] = credential.scope
    if credential.audience:
        data["audience"] = credential.audience
    auth = None
    if credential.client_auth == ConnectorCredential.CLIENT_AUTH_BODY:
        data.update(client_id=credential.client_id, client_secret=credential.client_secret)
    else:
        auth = (credential.client_id, credential.client_secret)
    try:
        with tls_verify(credential) as verify:
            response = requests.post(credential.token_url, data=data, auth=auth, verify=verify,
                                     headers={"Accept": "application/json"},
                                     timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False)
    except requests.RequestException as error:
        raise TokenError(scrub(f"The token URL is unreachable ({type(error).__name__}: {error}).", credential),
                         retryable=True) from None
    if response.status_code != 200:
        detail = ""
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                detail = f" ({body['error'][:100]})"
        except ValueError:
            pass
        raise TokenError(scrub(f"The token URL answered HTTP {response.status_code}{detail}.", credential),
                         retryable=response.status_code in RETRYABLE_STATUSES or response.status_code >= 500)
    try:
        body = response.json()
        access_token = body["access_token"]
        if not isinstance(access_token, str) or not access_token:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise TokenError("The token URL answered without an access_token.") from None
    expires_in = body.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        expires_at = time.monotonic() + expires_in - EXPIRY_MARGIN
    elif isinstance(expires_in, str) and expires_in.isdigit():
        expires_at = time.monotonic() + int(expires_in) - EXPIRY_MARGIN
    logger.info("Obtained an OAuth2 token for connector credential %s.", credential.name)
    return CachedToken(access_token, expires_at)


def oauth2_token(credential: ConnectorCredential, refresh: bool = False) -> str:
    key = _cache_key(credential)
    with _tokens_lock:
        cached = _tokens.get(key)
    if (not refresh and cached is not None
            and (cached.expires_at is None or time.monotonic() < cached.expires_at)):
        return cached.access_token
    token = fetch_token(credential)
    with _tokens_lock:
        _tokens[key] = token
    return token.access_token


def refresh_token(credential: ConnectorCredential) -> str:
    """Fetches a new OAuth2 token, replacing the cached one (for example after a 401)."""
    return oauth2_token(credential, refresh=True)


def auth_headers(credential: ConnectorCredential, refresh: bool = False) -> dict[str, str]:
    """The ``Authorization`` header for ``credential`` (OAuth2: a cached or new token)."""
    if credential.auth_type == ConnectorCredential.AUTH_BASIC:
        pair = f"{credential.username}:{credential.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if credential.auth_type == ConnectorCredential.AUTH_BEARER:
        return {"Authorization": f"Bearer {credential.token}"}
    return {"Authorization": f"Bearer {oauth2_token(credential, refresh=refresh)}"}


def request_headers(credential: ConnectorCredential, refresh: bool = False) -> dict[str, str]:
    """Extra headers, then authentication (which extra headers can never override)."""
    headers = {str(name): str(value) for name, value in (credential.extra_headers or {}).items()}
    headers.update(auth_headers(credential, refresh=refresh))
    return headers


@dataclass
class ConnectionResult:
    ok: bool
    message: str
    status: int | None = None


def test_connection(credential: ConnectorCredential) -> ConnectionResult:
    """GETs the base URL with the credential's authentication; for OAuth2, obtains a token first.
    A 401 with OAuth2 refreshes the token once."""
    url = credential.base_url
    try:
        headers = request_headers(credential)
    except TokenError as error:
        return ConnectionResult(False, f"{credential.name}: no OAuth2 token. {error}")
    try:
        with tls_verify(credential) as verify:
            response = requests.get(url, headers=headers, verify=verify, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                                    allow_redirects=False)
            if response.status_code == 401 and credential.auth_type == ConnectorCredential.AUTH_OAUTH2:
                headers = request_headers(credential, refresh=True)
                response = requests.get(url, headers=headers, verify=verify,
                                        timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False)
    except TokenError as error:
        return ConnectionResult(False, f"{credential.name}: no OAuth2 token. {error}")
    except requests.RequestException as error:
        message = scrub(f"{credential.name}: {url} is unreachable ({type(error).__name__}: {error}).", credential)
        logger.warning("%s", message)
        return ConnectionResult(False, message)
    status = response.status_code
    ok = status < 400
    token_note = " with an OAuth2 token" if credential.auth_type == ConnectorCredential.AUTH_OAUTH2 else ""
    verdict = "" if ok else " — check the credentials and the base URL"
    message = f"{credential.name}: {url} is reachable{token_note}; it answered HTTP {status}{verdict}."
    return ConnectionResult(ok, scrub(message, credential), status)


test_connection.__test__ = False  # not a pytest test when imported into a test module
