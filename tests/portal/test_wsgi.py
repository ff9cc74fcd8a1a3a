"""Requests Django cannot even build are answered 400 by the WSGI application, not 500."""

import io

import pytest

from portal.wsgi import application


def call(environ_extra: dict) -> tuple[str, bytes]:
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/oauth2/default/v1/token", "SERVER_NAME": "localhost",
        "SERVER_PORT": "80", "wsgi.input": io.BytesIO(b"grant_type=client_credentials"),
        "wsgi.url_scheme": "http", "CONTENT_LENGTH": "29", "HTTP_HOST": "localhost",
    }
    environ.update(environ_extra)
    status = []
    body = b"".join(application(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0], body


@pytest.mark.django_db
def test_a_broken_content_type_charset_is_a_400():
    status, body = call({"CONTENT_TYPE": "application/x-www-form-urlencoded; charset*=bogus''x"})
    assert status.startswith("400")
    assert b"Traceback" not in body


@pytest.mark.django_db
def test_ordinary_requests_pass_through():
    status, _body = call({"CONTENT_TYPE": "application/x-www-form-urlencoded", "PATH_INFO": "/no/such/page"})
    assert status.startswith("404")
