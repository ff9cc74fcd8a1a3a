"""``manage.py nql "QUERY" [--format table|csv|json]`` (platform.md, *Commands*)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from portal.database import database_url
from tests.engine.nql_support import make_fleet

QUERY = "devices | where operating_system.platform != mobile | list name, hardware.number_of_cpus, last_seen" \
        " | sort name asc"
NAMES = ["DEV-00001", "DEV-00002", "MAC-00004", 'Odd, "quoted" name']


@pytest.fixture
def fleet(db):
    make_fleet()


def run(capsys, *args) -> str:
    call_command("nql", *args)
    return capsys.readouterr().out


def test_csv_is_comma_separated_with_a_header_line(fleet, capsys):
    text = run(capsys, QUERY, "--format", "csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["device.name", "device.hardware.number_of_cpus", "device.last_seen"]
    assert rows[1] == ["DEV-00001", "4", "2024-03-01T10:15:02Z"]
    assert [row[0] for row in rows[1:]] == NAMES
    assert '"Odd, ""quoted"" name",2,' in text.splitlines()


def test_json_is_an_array_of_objects(fleet, capsys):
    rows = json.loads(run(capsys, QUERY, "--format", "json"))
    assert rows[0] == {"device.name": "DEV-00001", "device.hardware.number_of_cpus": 4,
                       "device.last_seen": "2024-03-01T10:15:02Z"}
    assert [row["device.name"] for row in rows] == NAMES
    assert json.loads(run(capsys, "devices | where name == \"nobody\" | list name", "--format", "json")) == []


def test_table_aligns_the_columns(fleet, capsys):
    lines = run(capsys, QUERY).splitlines()
    assert lines[0].split() == ["device.name", "device.hardware.number_of_cpus", "device.last_seen"]
    assert set(lines[1]) == {"-", " "}
    widths = [len(part) for part in lines[1].split("  ")]
    assert widths[0] == len('Odd, "quoted" name')
    column_two = lines[0].index("device.hardware.number_of_cpus")
    assert all(line[column_two - 2:column_two] == "  " for line in lines)
    assert lines[2].startswith("DEV-00001") and lines[2][column_two:].split()[0] == "4"
    assert len(lines) == 2 + len(NAMES)


def test_parameters_come_from_param_options(fleet, capsys):
    text = run(capsys, "devices | where operating_system.platform == $platform | list name", "--format", "csv",
               "--param", "platform=mac_os")
    assert text == "device.name\nMAC-00004\n"


def test_an_invalid_query_is_a_command_error_with_the_compilers_message(fleet):
    with pytest.raises(CommandError, match="no_such_field"):
        call_command("nql", "devices | list no_such_field")
    with pytest.raises(CommandError, match="platform"):
        call_command("nql", "devices | where operating_system.platform == $platform | list name")


@pytest.mark.django_db(transaction=True)
def test_the_command_prints_only_the_result_and_errors_go_to_stderr():
    make_fleet()
    env = dict(os.environ, DATABASE_URL=database_url(connection.settings_dict))

    def manage(*args):
        return subprocess.run([sys.executable, "manage.py", "nql", *args], cwd=settings.BASE_DIR, env=env,
                              capture_output=True, timeout=120)

    ok = manage("devices | where operating_system.platform == mobile | list name, collector.uid", "--format", "csv")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == b"device.name,device.collector.uid\nPHONE-00005,00000000-0000-4000-8000-000000000005\n"

    failed = manage("devices | list nme")
    assert failed.returncode != 0
    assert failed.stdout == b""
    assert b"nme" in failed.stderr
