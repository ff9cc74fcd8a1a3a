"""Fixtures of the NXQL / Web API V2 tests (``nxql_fixture``). None is autouse: other test modules of
this package are unaffected."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.engine.nxql_fixture import FAST_HASHERS, basic, build_dataset, destroy_dataset


@pytest.fixture(scope="module")
def nxql_data(django_db_setup, django_db_blocker):
    """The hand-made data set, built once per test module and removed afterwards."""
    with django_db_blocker.unblock():
        data = build_dataset()
    try:
        yield data
    finally:
        with django_db_blocker.unblock():
            destroy_dataset(data)


class WebApi:
    """Calls ``/2/query`` (and List Engines) the way the documented clients do: Basic credentials,
    parameters in the query string (GET) or a form body (POST)."""

    def __init__(self, client: Client):
        self.client = client

    def get(self, query=None, *, user="analyst", path="/2/query", **params):
        if query is not None:
            params["query"] = query
        extra = {}
        for key in [k for k in params if k.startswith("HTTP_") or k == "REMOTE_ADDR"]:
            extra[key] = params.pop(key)
        if user is not None:
            extra.setdefault("HTTP_AUTHORIZATION", basic(user))
        return consumed(self.client.get(path, params, **extra))

    def post(self, query=None, *, user="analyst", path="/2/query", **params):
        if query is not None:
            params["query"] = query
        extra = {}
        for key in [k for k in params if k.startswith("HTTP_")]:
            extra[key] = params.pop(key)
        if user is not None:
            extra.setdefault("HTTP_AUTHORIZATION", basic(user))
        return consumed(self.client.post(path, params, **extra))

    def raw_get(self, url, *, user="analyst", **extra):
        """A GET of an exact URL (query string written by hand, as a client would send it)."""
        if user is not None:
            extra.setdefault("HTTP_AUTHORIZATION", basic(user))
        return consumed(self.client.get(url, **extra))

    def raw_post(self, url, body, content_type, *, user="analyst", **extra):
        """A POST of an exact body."""
        if user is not None:
            extra.setdefault("HTTP_AUTHORIZATION", basic(user))
        return consumed(self.client.post(url, body, content_type=content_type, **extra))

    def text(self, query, **params) -> str:
        response = self.get(query, **params)
        body = body_of(response)
        assert response.status_code == 200, body
        return body.decode("utf-8")

    def rows(self, query, **params) -> list[dict]:
        """The JSON rows of a successful query."""
        params.setdefault("format", "json")
        return json.loads(self.text(query, **params))

    def column(self, query, name=None, **params) -> list:
        rows = self.rows(query, **params)
        if not rows:
            return []
        key = name or next(iter(rows[0]))
        return [row[key] for row in rows]

    def error(self, query, status=400, **params) -> str:
        """The error message of a query that must fail with ``status``."""
        response = self.get(query, **params)
        body = body_of(response).decode("utf-8")
        assert response.status_code == status, body
        return error_message(body)


def consumed(response):
    """Reads a streamed body at once (the result's database cursor stays open until it is read) and
    keeps it on the response for ``body_of``."""
    if getattr(response, "streaming", False) and not hasattr(response, "read_body"):
        # The test client closes the response (request_finished) once the content is exhausted.
        response.read_body = b"".join(response.streaming_content)
    return response


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return consumed(response).read_body
    return response.content


def error_message(page: str) -> str:
    """The text of the element ``id="error_message"`` of an error page (unescaped)."""
    from html.parser import HTMLParser

    class Finder(HTMLParser):
        def __init__(self):
            super().__init__()
            self.inside = False
            self.depth = 0
            self.parts: list[str] = []
            self.found = False

        def handle_starttag(self, tag, attrs):
            if self.inside:
                self.depth += 1
            elif dict(attrs).get("id") == "error_message":
                self.inside, self.found, self.depth = True, True, 0

        def handle_endtag(self, tag):
            if self.inside:
                if self.depth == 0:
                    self.inside = False
                else:
                    self.depth -= 1

        def handle_data(self, data):
            if self.inside:
                self.parts.append(data)

    finder = Finder()
    finder.feed(page)
    assert finder.found, f"no element with id=error_message in {page[:500]!r}"
    return "".join(finder.parts)


def error_options(page: str) -> list[str]:
    """The ``<li>`` texts of ``<ul id="error_options">`` (empty when there is no such list)."""
    from html.parser import HTMLParser

    class Finder(HTMLParser):
        def __init__(self):
            super().__init__()
            self.in_list = False
            self.in_item = False
            self.items: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag == "ul" and dict(attrs).get("id") == "error_options":
                self.in_list = True
            elif tag == "li" and self.in_list:
                self.in_item = True
                self.items.append("")

        def handle_endtag(self, tag):
            if tag == "ul" and self.in_list:
                self.in_list = False
            elif tag == "li":
                self.in_item = False

        def handle_data(self, data):
            if self.in_item:
                self.items[-1] += data

    finder = Finder()
    finder.feed(page)
    return finder.items


@pytest.fixture
def api(nxql_data, db, settings) -> WebApi:
    """A Web API client on host ``localhost`` (an allowed host that is no Engine's address)."""
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return WebApi(Client(HTTP_HOST="localhost"))
