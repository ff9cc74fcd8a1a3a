"""The schema registry describes the real tables and every field the data model names."""

import pytest
from django.db import connection

from engine.schema import SCHEMA, FieldType, Privacy, TableKind, UnknownName

# data-model.md, "Object tables" and "Event tables": NXQL name -> (NQL table, {NXQL field: NQL name}).
SPEC_TABLES = {
    "device": ("devices", {
        "name": "name", "device_uid": "uid", "collector_uid": "collector.uid",
        "platform": "operating_system.platform", "os_version_and_architecture": "operating_system.name",
        "os_build": "operating_system.build", "device_type": "hardware.type",
        "device_manufacturer": "hardware.manufacturer", "device_model": "hardware.model",
        "device_serial_number": "hardware.serial_number", "total_ram": "hardware.memory",
        "last_ip_address": "last_ip_address", "entity": "entity", "engine": "engine",
        "number_of_cpus": None, "cpu_model": None, "system_drive_capacity": None,
        "system_drive_free_space": None, "system_drive_usage": None, "first_seen": None, "last_seen": None,
        "last_system_boot": None, "last_boot_duration": None, "last_logged_on_user": None,
    }),
    "user": ("users", {"name": "name", "user_uid": "uid", "sid": None, "full_name": None, "department": None,
                       "job_title": None, "user_type": None, "first_seen": None, "last_seen": None}),
    "binary": ("binaries", {"name": "name", "executable_name": None, "version": None, "application_name": None,
                            "company": None, "description": None, "threat_level": None, "size": None,
                            "sha256": None, "platform": None, "first_seen": None, "last_seen": None}),
    "application": ("applications", {"name": None, "company": None, "description": None, "category": None}),
    "package": ("packages", {"name": None, "version": None, "publisher": None, "platform": None,
                             "first_seen": None}),
    "destination": ("destinations", {"name": None, "ip_address": None}),
    "domain": ("domains", {"name": None, "category": None, "hosting_country": None}),
    "port": ("ports", {"port_number": None, "protocol": None}),
    "execution": ("execution.events", {"duration": None, "cpu_time": None, "memory": None,
                                       "number_of_crashes": None, "binary_path": None}),
    "crash": ("execution.crashes", {"start_time": "time", "exception_code": None}),
    "connection": ("connection.events", {"status": None, "incoming_traffic": None, "outgoing_traffic": None,
                                         "network_response_time": None, "number_of_connections": None}),
    "web_request": ("web.events", {"url_path": None, "protocol": None, "http_status": None,
                                   "response_time": None, "incoming_traffic": None, "outgoing_traffic": None,
                                   "number_of_requests": None}),
    "event": ("device_performance.events", {"type": None, "duration": None, "details": None}),
    "installation": ("package.installations", {"type": None}),
}
SPEC_LINKS = {
    "execution": {"device", "user", "binary"},
    "crash": {"device", "user", "binary"},
    "connection": {"device", "user", "binary", "destination", "port"},
    "web_request": {"device", "user", "binary", "domain"},
    "event": {"device", "user"},
    "installation": {"device", "package"},
    "binary": {"application"},
}
SPEC_AGGREGATES = {
    "number_of_executions", "number_of_crashes", "number_of_connections", "number_of_failed_connections",
    "number_of_web_requests", "number_of_http_errors", "number_of_devices", "number_of_users",
    "number_of_binaries", "incoming_traffic", "outgoing_traffic", "execution_duration",
    "average_network_response_time", "average_response_time",
}


def test_every_table_and_field_of_the_data_model_is_registered_with_its_names():
    for nxql_name, (nql_name, fields) in SPEC_TABLES.items():
        table = SCHEMA.nxql_table(nxql_name)
        assert SCHEMA.nql_table(nql_name) is table
        for field_name, nql in fields.items():
            field = table.fields_by_name[field_name]
            if nql is not None:
                assert field.nql == nql, (nxql_name, field_name)
        assert "id" in table.fields_by_name
        if table.is_event:
            assert "start_time" in table.fields_by_name
            assert "device" in table.links_by_name


def test_links_match_the_data_model():
    for table_name, links in SPEC_LINKS.items():
        assert links <= set(SCHEMA.nxql_table(table_name).links_by_name), table_name


def test_aggregates_of_the_data_model_exist_and_apply_to_their_tables():
    assert {a.name for a in SCHEMA.aggregates} == SPEC_AGGREGATES
    assert SCHEMA.aggregate("number_of_executions").form_for("execution").function == "count"
    assert SCHEMA.aggregate("number_of_devices").form_for("connection").function == "count_distinct"
    failed = SCHEMA.aggregate("number_of_failed_connections").form_for("connection")
    assert set(failed.condition.value) == {"rejected", "no_host", "no_service", "timeout"}
    assert SCHEMA.aggregate("number_of_http_errors").form_for("web_request").condition.value == 400
    assert SCHEMA.aggregate("number_of_executions").form_for("connection") is None


def test_unknown_names_carry_candidates():
    with pytest.raises(UnknownName) as error:
        SCHEMA.nxql_table("devce")
    assert "device" in error.value.candidates


def test_types_units_and_privacy():
    device = SCHEMA.nxql_table("device")
    assert device.fields_by_name["total_ram"].type is FieldType.BYTES
    assert device.fields_by_name["total_ram"].unit == "B"
    assert device.fields_by_name["last_boot_duration"].unit == "ms"
    assert device.fields_by_name["platform"].enum_values == ("windows", "mac_os", "mobile")
    hidden_partial = {f.name for f in SCHEMA.hidden_fields("device", "partial")}
    hidden_full = {f.name for f in SCHEMA.hidden_fields("device", "full")}
    assert hidden_partial == {"last_logged_on_user"}
    assert {"name", "last_ip_address", "mac_addresses", "device_serial_number"} <= hidden_full
    assert {f.name for f in SCHEMA.hidden_fields("user", "partial")} == {"name", "full_name", "sid"}
    assert Privacy.NONE.hidden_at("full") is False


def test_nql_output_prefixes():
    assert SCHEMA.nql_table("devices").nql_singular == "device"
    assert SCHEMA.nql_table("execution.events").nql_singular == "execution.event"
    assert SCHEMA.nql_table("binaries").nql_singular == "binary"
    assert SCHEMA.nql_table("package.installations").nql_singular == "package.installation"


@pytest.mark.django_db
def test_every_registered_column_exists_in_the_database():
    with connection.cursor() as cursor:
        def columns(sql_table):
            return {c.name for c in connection.introspection.get_table_description(cursor, sql_table)}

        for table in SCHEMA.tables:
            own = columns(table.sql_table)
            for link in table.links:
                assert link.column in own, (table.key, link.name)
                assert SCHEMA.table(link.target)
            for field in table.fields:
                if field.via:
                    target = SCHEMA.table(table.links_by_name[field.via].target)
                    assert field.column in columns(target.sql_table), (table.key, field.name)
                else:
                    assert field.column in own, (table.key, field.name)
            if table.kind is TableKind.EVENT:
                assert table.time_column in own
        for aggregate in SCHEMA.aggregates:
            for form in aggregate.forms:
                sql_columns = columns(SCHEMA.table(form.table).sql_table)
                if form.column:
                    assert form.column in sql_columns, aggregate.name
                if form.condition:
                    assert form.condition.column in sql_columns, aggregate.name


@pytest.mark.django_db
def test_event_tables_have_the_indexes_the_data_model_asks_for():
    with connection.cursor() as cursor:
        for table in SCHEMA.tables:
            if table.kind is not TableKind.EVENT:
                continue
            constraints = connection.introspection.get_constraints(cursor, table.sql_table)
            indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}
            assert ("device_id", table.time_column) in indexed, table.key
            assert (table.time_column,) in indexed, table.key
