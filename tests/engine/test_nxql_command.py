"""`manage.py nxql` prints exactly what /2/query answers; errors go to standard error."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from portal.database import database_url
from tests.engine.conftest import body_of

QUERY = "(select (name platform total_ram) (from device) (order_by name))"


def expected_body(api, output_format="csv", **params):
    response = api.get(QUERY, format=output_format, **params)
    assert response.status_code == 200
    return body_of(response)


def run_nxql_command(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=database_url(connection.settings_dict))
    return subprocess.run([sys.executable, "manage.py", "nxql", *args], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, timeout=120)


@pytest.mark.parametrize("output_format", ["csv", "json", "xml", "html"])
def test_manage_nxql_prints_what_the_web_api_answers(nxql_data, api, output_format):
    result = run_nxql_command(QUERY, "--format", output_format)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_body(api, output_format)


def test_manage_nxql_takes_platforms_and_template_values(nxql_data, api):
    templated = "(select (name %1) (from device) (order_by name))"
    result = run_nxql_command(templated, "--platform", "mobile", "--p1", "platform")
    response = api.get(templated, platform="mobile", p1="platform")
    assert result.returncode == 0, result.stderr
    assert result.stdout == body_of(response)


def test_manage_nxql_errors_go_to_stderr_with_a_non_zero_status(nxql_data):
    result = run_nxql_command("(select (nme) (from device))")
    assert result.returncode != 0
    assert result.stdout == b""
    assert b"unknown field 'nme' in table device at line 1, column 10" in result.stderr
