"""What the fuzz tests share: the OpenAPI document loaded into schemathesis, the checks every answer
must pass, the ways to authenticate per operation, and calls through the WSGI application.

Checks on every answer: ``not_a_server_error`` (no 5xx at all, although some are documented: a 500
is a bug, and nothing here runs long enough for a 503), ``status_code_conformance`` (a
documented status), ``content_type_conformance``, ``response_schema_conformance`` (JSON bodies,
error bodies included, match the documented schema of their status), ``response_headers_conformance``
(documented required headers such as ``WWW-Authenticate`` on 401), and no stack trace in any body.
"""

from __future__ import annotations

import copy
import re

import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client as WsgiClient

from portal.openapi import build_schema

DOCUMENT = build_schema()
API = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT))
OPERATIONS = sorted((result.ok() for result in API.get_all_operations()), key=lambda op: (op.path, op.method))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
STACK_TRACE = re.compile(rb"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+|"
                         rb"django\.[a-z_.]+(?:Error|Exception)\b|psycopg\.[a-z_.]*Error")
# The identity tried half of the time: the one with every right, so that cases reach past 401/403.
PREFERRED = {"basicAuth": "basic admin", "clientBasic": "client demo-client", "oauth2": "bearer demo-client",
             "bearerToken": "bearer demo-client", "sessionAuth": "session admin"}


def label(operation) -> str:
    return f"{operation.method.upper()} {operation.path}"


def operation(method: str, path: str):
    return API[path][method.upper()]


def schemes_of(op) -> set[str]:
    return {name for requirement in op.definition.raw.get("security", []) for name in requirement}


def identities(op, world) -> list[tuple[str, dict, dict]]:
    """(name, headers, cookies) of every way to call ``op`` worth trying; the preferred one first."""
    schemes = schemes_of(op)
    found = []
    if "basicAuth" in schemes:
        found += [(f"basic {name}", {"Authorization": value} if value else {}, {})
                  for name, value in world.basic.items()]
    if "clientBasic" in schemes:
        found += [(f"client {name}", {"Authorization": value} if value else {}, {})
                  for name, value in world.client_basic.items()]
    if schemes & {"oauth2", "bearerToken"}:
        found += [(f"bearer {name}", {"Authorization": value} if value else {}, {})
                  for name, value in world.bearer.items()]
    if "sessionAuth" in schemes:
        found.append(("session admin", {}, {"sessionid": world.session_cookie}))
    preferred = [PREFERRED[scheme] for scheme in PREFERRED if scheme in schemes]
    found.sort(key=lambda way: way[0] not in preferred)
    return found or [("none", {}, {})]


def identity_strategy(op, world):
    ways = identities(op, world)
    return st.one_of(st.just(ways[0]), st.sampled_from(ways))


def preferred_identity(op, world) -> tuple[dict, dict]:
    _name, headers, cookies = identities(op, world)[0]
    return headers, cookies


def assert_answer(case, response) -> None:
    """Every check on one answer (raises with a report when one fails)."""
    body = response.content if hasattr(response, "content") else response.get_data()
    assert response.status_code != 500, f"500 for {label(case.operation)}: {body[:2000]!r}"
    assert not STACK_TRACE.search(body or b""), f"a stack trace in the body: {body[:2000]!r}"
    case.validate_response(response, checks=CHECKS)


def call(case, wsgi_app, headers: dict, cookies: dict):
    """Sends a schemathesis case (generated or made) with an identity; checks and returns the answer."""
    case.headers = {**(case.headers or {}), **headers}
    case.cookies = {**(case.cookies or {}), **cookies}
    response = case.call(app=wsgi_app)
    assert_answer(case, response)
    return response


def raw_call(op, wsgi_app, *, body: bytes, content_type: str | None, headers: dict, cookies: dict,
             path_parameters: dict | None = None, query: dict | None = None):
    """Sends exact bytes to an operation (what schemathesis would never serialise); checks the answer."""
    case = op.Case(path_parameters=path_parameters or {}, query=query or {}, headers=headers)
    path = op.path
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    client = WsgiClient(wsgi_app)
    for name, value in cookies.items():
        client.set_cookie(name, value, domain="localhost")
    request_headers = dict(headers)
    if content_type is not None:
        request_headers["Content-Type"] = content_type
    response = client.open(path, method=op.method.upper(), data=body, query_string=query or {},
                           headers=request_headers, base_url="http://localhost")
    assert_answer(case, response)
    return response
