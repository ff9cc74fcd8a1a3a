"""OpenAPI path items of the exporters Configuration API (``exporters.md``, "Configuration API"; the
rules are ``exporters.api.views`` and ``exporters.api.serializers``); merged into ``/api/schema/`` by
``portal.openapi``. Examples follow the contract."""

from __future__ import annotations

from portal.openapi import (
    example,
    example_refs,
    header,
    json_content,
    path_parameter,
    query_parameter,
    ref,
    response,
    schema,
)

CONFIG = "Configuration API"

TAGS = [{"name": CONFIG, "description": (
    "Connector credentials and HTTP API exporters as JSON, for automation (`exporters.md`). HTTP Basic or the "
    "portal session (unsafe methods then need `X-CSRFToken`); the account's profile must hold the administration "
    "right. Every error body is `{\"errors\": {\"<field>\": [\"message\", ...]}}`; any other path under "
    "`/api/config/v1/` answers 404 with the key `path`. Bodies are at most 1 MiB (413 above)."
)}]

SECURITY = [{"basicAuth": []}, {"sessionAuth": []}]
UID = path_parameter("uid", "The object's UID (a UUID; anything else is a 404).", {"type": "string"},
                     example_value="5f0c7a52-3d1e-4b8a-9c6f-2e4d6b8a0c1e")


def _errors(description: str, *examples: str, headers: dict | None = None) -> dict:
    return response(description, json_content(schema("ConfigErrors"), example_refs(*examples)), headers)


COMMON = {
    "401": _errors("`authentication`: missing or wrong credentials.", "ConfigUnauthorized",
                   headers={"WWW-Authenticate": header("WWW-Authenticate-Basic")}),
    "403": _errors("`permission` (no administration right) or `csrf` (a session without a valid CSRF token).",
                   "ConfigForbidden"),
    "429": _errors("`authentication`: throttled after repeated failures.", "ConfigThrottled",
                   headers={"Retry-After": header("Retry-After")}),
    "500": _errors("`server`: unexpected failure, logged with the request id the message names.", "ConfigServerError"),
}
BAD_PARAMETER = _errors("An unknown query parameter, at its name.", "ConfigUnknownParameter")
NOT_FOUND = _errors("`uid`: no object with that UID.", "ConfigNotFound")
TOO_LARGE = _errors("`body`: larger than 1 MiB.", "ConfigTooLarge")


def _validation(description: str, *examples: str) -> dict:
    return _errors(description, *examples)


def _operation(operation_id: str, summary: str, responses: dict, *, description: str | None = None,
               body: dict | None = None, parameters: list | None = None) -> dict:
    operation = {
        "operationId": operation_id, "summary": summary, "tags": [CONFIG], "security": SECURITY,
        "responses": {**responses, **COMMON},
    }
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = body
    return operation


def _body(body_schema: str, *examples: str, required: bool = True, description: str | None = None) -> dict:
    body = {"required": required, "content": json_content(schema(body_schema), example_refs(*examples))}
    if description:
        body["description"] = description
    return body


def _ok(description: str, body_schema: dict, *examples: str) -> dict:
    return response(description, json_content(body_schema, example_refs(*examples) if examples else None))


CREDENTIAL_400 = _validation("Validation errors keyed by field (also `body` for a body that is empty, not UTF-8, not "
                             "JSON or not an object; `Unknown field.` at an unknown field).",
                             "CredentialErrors", "ConfigBadBody", "ConfigUnknownParameter")
EXPORTER_400 = _validation("Validation errors keyed by field: `name`, `credential`, `recurrence`, "
                           "`queries[i].nql` (NQL that does not compile, a time frame that does not match the "
                           "recurrence), `queries[i].payload`... (also `body`).",
                           "ExporterErrors", "ConfigBadBody", "ConfigUnknownParameter")
TEST_LOAD = _ok("Per query: records sent, the destination's HTTP status and the start of its answer, or the "
                "validation errors.", schema("TestLoadResult"), "TestLoadResult")
NO_BODY = {"required": False, "description": "No body, or `{}`.",
           "content": json_content({"type": "object", "additionalProperties": False, "maxProperties": 0})}

PATHS = {
    "/api/config/v1/connector-credentials": {
        "get": _operation("listConnectorCredentials", "List connector credentials", {
            "200": _ok("Every credential, by name (secrets masked).",
                       {"type": "array", "items": schema("ConnectorCredential")}, "Credentials"),
            "400": BAD_PARAMETER,
        }),
        "post": _operation("createConnectorCredential", "Create a connector credential", {
            "201": _ok("The credential, as stored.", schema("ConnectorCredential"), "Credential"),
            "400": CREDENTIAL_400,
            "409": _errors("`name`: another request saved a credential with this name at the same time.",
                           "ConfigNameConflict"),
            "413": TOO_LARGE,
        }, body=_body("ConnectorCredentialInput", "CreateBasicCredential", "CreateOAuthCredential")),
    },
    "/api/config/v1/connector-credentials/{uid}": {
        "get": _operation("getConnectorCredential", "Get a connector credential", {
            "200": _ok("The credential (secrets masked).", schema("ConnectorCredential"), "Credential"),
            "400": BAD_PARAMETER, "404": NOT_FOUND,
        }, parameters=[UID]),
        "put": _operation("replaceConnectorCredential", "Replace a connector credential", {
            "200": _ok("The credential.", schema("ConnectorCredential"), "Credential"),
            "400": CREDENTIAL_400, "404": NOT_FOUND,
            "409": _errors("`name`: a concurrent save.", "ConfigNameConflict"), "413": TOO_LARGE,
        }, parameters=[UID], description="Omitted fields take their defaults, except the secrets: an omitted "
                                         "secret (or `\"********\"`) keeps the stored one; `null` or `\"\"` clears "
                                         "it.", body=_body("ConnectorCredentialInput", "CreateBasicCredential")),
        "patch": _operation("updateConnectorCredential", "Change fields of a connector credential", {
            "200": _ok("The credential.", schema("ConnectorCredential"), "Credential"),
            "400": CREDENTIAL_400, "404": NOT_FOUND,
            "409": _errors("`name`: a concurrent save.", "ConfigNameConflict"), "413": TOO_LARGE,
        }, parameters=[UID], body=_body("ConnectorCredentialInput", "PatchCredential")),
        "delete": _operation("deleteConnectorCredential", "Delete a connector credential", {
            "204": response("Deleted."),
            "400": BAD_PARAMETER, "404": NOT_FOUND,
            "409": _errors("`credential`: exporters use it (they are named).", "CredentialInUse"),
        }, parameters=[UID]),
    },
    "/api/config/v1/connector-credentials/{uid}/test": {
        "post": _operation("testConnectorCredential", "Test a connection", {
            "200": _ok("Whether the base URL answers (and, for OAuth2, whether a token was obtained).",
                       schema("ConnectionTest"), "ConnectionTestOk", "ConnectionTestFailed"),
            "400": _validation("`body` or an unknown field: this action takes no input.", "ConfigUnknownField"),
            "404": NOT_FOUND, "413": TOO_LARGE,
        }, parameters=[UID], body=NO_BODY),
    },
    "/api/config/v1/exporters": {
        "get": _operation("listExporters", "List exporters", {
            "200": _ok("Every exporter, by name, with its last and next run.",
                       {"type": "array", "items": schema("Exporter")}, "Exporters"),
            "400": BAD_PARAMETER,
        }),
        "post": _operation("createExporter", "Create an exporter", {
            "201": _ok("The exporter, as stored.", schema("Exporter"), "Exporter"),
            "400": EXPORTER_400,
            "409": _errors("`name`: another request saved an exporter with this name at the same time.",
                           "ConfigNameConflict"),
            "413": TOO_LARGE,
        }, body=_body("ExporterInput", "CreateExporter")),
    },
    "/api/config/v1/exporters/test-load": {
        "post": _operation("testLoadUnsavedExporter", "Test load an unsaved exporter", {
            "200": TEST_LOAD, "400": EXPORTER_400, "413": TOO_LARGE,
        }, description="Validates the exporter in the body (as for a create; its name may be taken), runs each "
                       "query and really sends at most the first 20 records. Nothing is saved but the run record, "
                       "marked as a test.", body=_body("ExporterInput", "CreateExporter")),
    },
    "/api/config/v1/exporters/{uid}": {
        "get": _operation("getExporter", "Get an exporter", {
            "200": _ok("The exporter.", schema("Exporter"), "Exporter"), "400": BAD_PARAMETER, "404": NOT_FOUND,
        }, parameters=[UID]),
        "put": _operation("replaceExporter", "Replace an exporter", {
            "200": _ok("The exporter.", schema("Exporter"), "Exporter"),
            "400": EXPORTER_400, "404": NOT_FOUND,
            "409": _errors("`name`: a concurrent save.", "ConfigNameConflict"), "413": TOO_LARGE,
        }, parameters=[UID], description="Omitted fields take their defaults (`batch_size` 200...); read-only "
                                         "fields are ignored, so a GET body can be PUT back.",
            body=_body("ExporterInput", "CreateExporter")),
        "patch": _operation("updateExporter", "Change fields of an exporter", {
            "200": _ok("The exporter.", schema("Exporter"), "Exporter"),
            "400": EXPORTER_400, "404": NOT_FOUND,
            "409": _errors("`name`: a concurrent save.", "ConfigNameConflict"), "413": TOO_LARGE,
        }, parameters=[UID], description="A given `queries` list replaces all the queries.",
            body=_body("ExporterInput", "PatchExporter")),
        "delete": _operation("deleteExporter", "Delete an exporter", {
            "204": response("Deleted (its runs are kept)."), "400": BAD_PARAMETER, "404": NOT_FOUND,
        }, parameters=[UID]),
    },
    "/api/config/v1/exporters/{uid}/test-load": {
        "post": _operation("testLoadExporter", "Test load a saved exporter", {
            "200": TEST_LOAD, "400": EXPORTER_400, "404": NOT_FOUND, "413": TOO_LARGE,
        }, parameters=[UID], description="The saved exporter, or — with a PATCH-shaped body — the saved exporter "
                                         "with those changes, without saving them.",
            body=_body("ExporterInput", "PatchExporter", required=False)),
    },
    "/api/config/v1/exporters/{uid}/run": {
        "post": _operation("runExporter", "Run an exporter now", {
            "202": _ok("The manual run is queued.", schema("RunQueued"), "RunQueued"),
            "400": _validation("The saved exporter is invalid (its errors), or a body was given.", "ExporterErrors"),
            "404": NOT_FOUND, "413": TOO_LARGE,
            "503": _errors("`run`: the task queue is unavailable (the message names the request id).",
                           "RunNotQueued"),
        }, parameters=[UID], body=NO_BODY),
    },
    "/api/config/v1/exporters/{uid}/runs": {
        "get": _operation("listExporterRuns", "Run history of an exporter", {
            "200": _ok("The runs, newest first.", {"type": "array", "items": schema("ExporterRun")}, "Runs"),
            "400": _validation("`limit` out of 1...1000, or an unknown query parameter.", "ConfigBadLimit"),
            "404": NOT_FOUND,
        }, parameters=[UID, query_parameter("limit", "At most this many runs (default 200).",
                                            {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200})]),
    },
}

# -- components ------------------------------------------------------------------------------------------

TEXT = {"type": "string"}
NULLABLE_TEXT = {"type": "string", "nullable": True, "description": "`null` is read as an empty text."}
SECRET_OUT = {"type": "string", "nullable": True, "enum": ["********", None],
              "description": "Write-only: `\"********\"` when one is set, `null` when not."}
SECRET_IN = {"type": "string", "nullable": True,
             "description": "Omitted or `\"********\"`: keep the stored secret; `null` or `\"\"`: clear it."}
TIME = {"type": "string", "format": "date-time", "nullable": True}
CREDENTIAL_UID = "5f0c7a52-3d1e-4b8a-9c6f-2e4d6b8a0c1e"
EXPORTER_UID = "c3a1e9d4-7b2f-4c6a-8e0d-1f3b5d7a9c2e"
RUN_UID = "a8d6c4b2-0e1f-4a3b-9c5d-7e9f1a3b5c7d"
DEVICES_PAYLOAD = '{"name": "{{device.name}}", "os": "{{device.operating_system.name}}", ' \
                  '"ram_bytes": "{{device.hardware.memory}}"}'
CMDB_QUERY = "devices during past 1d | list name, operating_system.name, hardware.memory"

CREDENTIAL = {
    "uid": CREDENTIAL_UID, "name": "ServiceNow", "base_url": "https://tool.example.com/api",
    "allow_plain_http": False, "auth_type": "basic", "username": "opendex.integration", "password": "********",
    "token": None, "token_url": "", "client_id": "", "client_secret": None, "scope": "", "audience": "",
    "client_auth": "basic", "headers": {"X-Source": "opendex"}, "verify_tls": True, "ca_bundle": "",
}
RUN = {
    "uid": RUN_UID, "trigger": "schedule", "status": "success", "window_start": "2026-11-21T00:00:00Z",
    "window_end": "2026-11-22T00:00:00Z", "records_sent": 1000, "batches_sent": 5, "bytes_sent": 183210,
    "attempts": 5, "started_at": "2026-11-22T00:10:00.412Z", "finished_at": "2026-11-22T00:10:02.118Z",
    "duration_ms": 1706, "last_error": None,
}
EXPORTER = {
    "uid": EXPORTER_UID, "name": "CMDB devices", "description": "Daily device inventory for the CMDB.",
    "credential": CREDENTIAL_UID, "method": "POST", "resource": "api/now/import/u_devices/insertMultiple",
    "recurrence": {"kind": "daily"}, "enabled": True, "batch_size": 200, "max_request_bytes": 5242880,
    "max_attempts": 8,
    "queries": [{"nql": CMDB_QUERY, "payload_structure": "object_with_array",
                 "payload": '{"source": "opendex", "records": [' + DEVICES_PAYLOAD + "]}",
                 "helpers": ["device.name", "device.operating_system.name", "device.hardware.memory"]}],
    "last_run": RUN, "next_run": "2026-11-23T00:10:00Z",
}

COMPONENTS = {
    "schemas": {
        "ConfigErrors": {
            "type": "object", "additionalProperties": False, "required": ["errors"],
            "properties": {"errors": {
                "type": "object", "additionalProperties": {"type": "array", "items": TEXT},
                "description": "Field (`name`, `recurrence`, `queries[0].payload`...) or topic (`body`, "
                               "`authentication`, `permission`, `csrf`, `uid`, `path`, `method`, `server`, `run`) "
                               "-> messages, in words a user understands.",
            }},
        },
        "ConnectorCredential": {
            "type": "object", "additionalProperties": False,
            "required": ["uid", "name", "base_url", "allow_plain_http", "auth_type", "username", "password", "token",
                         "token_url", "client_id", "client_secret", "scope", "audience", "client_auth", "headers",
                         "verify_tls", "ca_bundle"],
            "properties": {
                "uid": {"type": "string", "format": "uuid"}, "name": TEXT, "base_url": TEXT,
                "allow_plain_http": {"type": "boolean"},
                "auth_type": {"type": "string", "enum": ["basic", "bearer", "oauth2_client_credentials"]},
                "username": TEXT, "password": SECRET_OUT, "token": SECRET_OUT, "token_url": TEXT, "client_id": TEXT,
                "client_secret": SECRET_OUT, "scope": TEXT, "audience": TEXT,
                "client_auth": {"type": "string", "enum": ["basic", "body"]},
                "headers": {"type": "object", "additionalProperties": True}, "verify_tls": {"type": "boolean"},
                "ca_bundle": TEXT,
            },
        },
        "ConnectorCredentialInput": {
            "type": "object", "additionalProperties": False,
            "description": "`uid` is read-only (ignored). A create needs `name`, `base_url` (`https://`, or "
                           "`http://` with `allow_plain_http`) and what `auth_type` needs.",
            "properties": {
                "uid": {"type": "string", "readOnly": True},
                "name": {**NULLABLE_TEXT, "maxLength": 200}, "base_url": {**NULLABLE_TEXT, "maxLength": 2000},
                "allow_plain_http": {"type": "boolean", "default": False},
                "auth_type": {"type": "string", "nullable": True,
                              "enum": ["basic", "bearer", "oauth2_client_credentials", None]},
                "username": NULLABLE_TEXT, "password": SECRET_IN, "token": SECRET_IN, "token_url": NULLABLE_TEXT,
                "client_id": NULLABLE_TEXT, "client_secret": SECRET_IN, "scope": NULLABLE_TEXT,
                "audience": NULLABLE_TEXT,
                "client_auth": {"type": "string", "nullable": True, "enum": ["basic", "body", None],
                                "description": "OAuth2 client authentication: Basic header (default) or body fields."},
                "headers": {"type": "object", "nullable": True, "additionalProperties": {"type": "string"},
                            "description": "Extra (non-secret) HTTP headers."},
                "verify_tls": {"type": "boolean", "default": True},
                "ca_bundle": {**NULLABLE_TEXT, "description": "A CA bundle (PEM) to verify the tool's certificate."},
            },
        },
        "ConnectionTest": {
            "type": "object", "additionalProperties": False, "required": ["ok", "status", "message"],
            "properties": {"ok": {"type": "boolean"}, "status": {"type": "integer", "nullable": True},
                           "message": TEXT},
        },
        "Recurrence": {
            "type": "object",
            "description": '`{"kind": "hourly", "every_hours": N}` (N in 1, 2, 3, 4, 6, 8, 12, 24), '
                           '`{"kind": "daily"}` (00:00 UTC) or `{"kind": "weekly", "day": "monday"}`.',
            "required": ["kind"],
            "properties": {
                "kind": {"type": "string", "enum": ["hourly", "daily", "weekly"]},
                "every_hours": {"type": "integer", "enum": [1, 2, 3, 4, 6, 8, 12, 24]},
                "day": {"type": "string", "enum": ["monday", "tuesday", "wednesday", "thursday", "friday",
                                                   "saturday", "sunday"]},
            },
        },
        "ExporterQuery": {
            "type": "object", "additionalProperties": False,
            "required": ["nql", "payload_structure", "payload", "helpers"],
            "properties": {
                "nql": TEXT,
                "payload_structure": {"type": "string", "enum": ["collection", "array", "object_with_array"]},
                "payload": {"type": "string", "description": "JSON text: the template of one record, with "
                                                             "`{{column}}` placeholders."},
                "helpers": {"type": "array", "items": TEXT, "description": "The columns the query outputs."},
            },
        },
        "ExporterQueryInput": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "nql": NULLABLE_TEXT,
                "payload_structure": {"type": "string", "nullable": True,
                                      "enum": ["collection", "array", "object_with_array", None]},
                "payload": NULLABLE_TEXT,
                "helpers": {"type": "array", "items": TEXT, "readOnly": True},
            },
        },
        "Exporter": {
            "type": "object", "additionalProperties": False,
            "required": ["uid", "name", "description", "credential", "method", "resource", "recurrence", "enabled",
                         "batch_size", "max_request_bytes", "max_attempts", "queries", "last_run", "next_run"],
            "properties": {
                "uid": {"type": "string", "format": "uuid"}, "name": TEXT, "description": TEXT,
                "credential": {"type": "string", "format": "uuid", "description": "The credential's UID."},
                "method": {"type": "string", "enum": ["POST", "PUT", "PATCH"]}, "resource": TEXT,
                "recurrence": {"allOf": [ref("schemas", "Recurrence")], "nullable": True},
                "enabled": {"type": "boolean"}, "batch_size": {"type": "integer"},
                "max_request_bytes": {"type": "integer"}, "max_attempts": {"type": "integer"},
                "queries": {"type": "array", "items": ref("schemas", "ExporterQuery")},
                "last_run": {"allOf": [ref("schemas", "ExporterRun")], "nullable": True},
                "next_run": TIME,
            },
        },
        "ExporterInput": {
            "type": "object", "additionalProperties": False,
            "description": "`uid`, `last_run`, `next_run` and the queries' `helpers` are read-only (ignored).",
            "properties": {
                "uid": {"type": "string", "readOnly": True},
                "name": {**NULLABLE_TEXT, "maxLength": 200}, "description": NULLABLE_TEXT,
                "credential": {**NULLABLE_TEXT, "description": "The credential's UID or name."},
                "method": {"type": "string", "nullable": True, "enum": ["POST", "PUT", "PATCH", None]},
                "resource": {**NULLABLE_TEXT, "description": "Path and query after the credential's base URL "
                                                             "(no scheme, host or placeholder)."},
                "recurrence": {"allOf": [ref("schemas", "Recurrence")], "nullable": True},
                "enabled": {"type": "boolean", "default": True},
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 200},
                "max_request_bytes": {"type": "integer", "minimum": 1, "default": 5242880},
                "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100, "default": 8},
                "queries": {"type": "array", "minItems": 1, "maxItems": 10,
                            "items": ref("schemas", "ExporterQueryInput")},
                "last_run": {"readOnly": True}, "next_run": {"readOnly": True},
            },
        },
        "ExporterRun": {
            "type": "object", "additionalProperties": False,
            "required": ["uid", "trigger", "status", "window_start", "window_end", "records_sent", "batches_sent",
                         "bytes_sent", "attempts", "started_at", "finished_at", "duration_ms", "last_error"],
            "properties": {
                "uid": {"type": "string", "format": "uuid"},
                "trigger": {"type": "string", "enum": ["schedule", "manual", "test"]},
                "status": {"type": "string", "enum": ["running", "success", "failed", "skipped"]},
                "window_start": TIME, "window_end": TIME,
                "records_sent": {"type": "integer"}, "batches_sent": {"type": "integer"},
                "bytes_sent": {"type": "integer"}, "attempts": {"type": "integer"},
                "started_at": {"type": "string", "format": "date-time"}, "finished_at": TIME,
                "duration_ms": {"type": "integer", "nullable": True},
                "last_error": {"type": "string", "nullable": True,
                               "description": "HTTP status and the first 2 KB of the answer, or the failure."},
            },
        },
        "TestLoadResult": {
            "type": "object", "additionalProperties": False, "required": ["queries"],
            "properties": {"queries": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "required": ["records", "status", "response_start", "errors"],
                "properties": {"records": {"type": "integer"}, "status": {"type": "integer", "nullable": True},
                               "response_start": TEXT, "errors": {"type": "array", "items": TEXT}},
            }}},
        },
        "RunQueued": {
            "type": "object", "additionalProperties": False, "required": ["exporter", "trigger", "status", "task_id"],
            "properties": {"exporter": {"type": "string", "format": "uuid"},
                           "trigger": {"type": "string", "enum": ["manual"]},
                           "status": {"type": "string", "enum": ["queued"]}, "task_id": TEXT},
        },
    },
    "examples": {
        "Credential": example(CREDENTIAL),
        "Credentials": example([CREDENTIAL]),
        "CreateBasicCredential": example({
            "name": "ServiceNow", "base_url": "https://tool.example.com/api", "auth_type": "basic",
            "username": "opendex.integration", "password": "s3cret", "headers": {"X-Source": "opendex"},
        }, "Basic authentication"),
        "CreateOAuthCredential": example({
            "name": "SIEM collector", "base_url": "https://siem.example.com/services/collector",
            "auth_type": "oauth2_client_credentials", "token_url": "https://login.example.com/oauth2/token",
            "client_id": "opendex", "client_secret": "s3cret", "scope": "ingest", "client_auth": "basic",
        }, "OAuth2 client credentials"),
        "PatchCredential": example({"password": "n3w-s3cret"}, "Replace the password only"),
        "ConnectionTestOk": example({"ok": True, "status": 200, "message": "ServiceNow: HTTP 200"}),
        "ConnectionTestFailed": example({"ok": False, "status": None,
                                         "message": "ServiceNow: connection failed (timed out)"}),
        "Exporter": example(EXPORTER),
        "Exporters": example([EXPORTER]),
        "CreateExporter": example({
            "name": "CMDB devices", "credential": "ServiceNow", "method": "POST",
            "resource": "api/now/import/u_devices/insertMultiple", "recurrence": {"kind": "daily"},
            "queries": [{"nql": CMDB_QUERY, "payload_structure": "object_with_array",
                         "payload": '{"source": "opendex", "records": [' + DEVICES_PAYLOAD + "]}"}],
        }, "A daily device inventory"),
        "PatchExporter": example({"enabled": False}, "Disable the exporter"),
        "Runs": example([RUN]),
        "RunQueued": example({"exporter": EXPORTER_UID, "trigger": "manual", "status": "queued",
                              "task_id": "b7e3f1a9-2c4d-4e6f-8a0b-1c3d5e7f9a2b"}),
        "TestLoadResult": example({"queries": [{"records": 20, "status": 201, "response_start": '{"result": "ok"}',
                                                "errors": []}]}),
        "CredentialErrors": example({"errors": {"base_url": [
            "Plain http:// is refused: use https://, or tick “allow plain HTTP” to accept it."]}}),
        "ExporterErrors": example({"errors": {
            "recurrence": ["Unknown kind 'yearly': use “hourly”, “daily” or “weekly”."],
            "queries[0].nql": ["The time frame “during past 7d” does not match the daily recurrence: use "
                               "“during past 1d” or “during past 24h”."],
        }}),
        "ConfigBadBody": example({"errors": {"body": ["The request body is not valid JSON: Expecting value at line "
                                                      "1, column 1."]}}),
        "ConfigUnknownField": example({"errors": {"base_url": ["Unknown field."]}}),
        "ConfigUnknownParameter": example({"errors": {"page": ["Unknown parameter."]}}),
        "ConfigBadLimit": example({"errors": {"limit": ["Enter one whole number from 1 to 1000."]}}),
        "ConfigNotFound": example({"errors": {"uid": ["No exporter has the UID “42”."]}}),
        "ConfigTooLarge": example({"errors": {"body": ["The request body is larger than 1048576 bytes."]}}),
        "ConfigNameConflict": example({"errors": {"name": [
            "Another request saved an exporter with this name at the same time."]}}),
        "CredentialInUse": example({"errors": {"credential": [
            "used by exporter “CMDB devices”: delete them or give them another credential first."]}}),
        "RunNotQueued": example({"errors": {"run": [
            "The run could not be queued: the task queue is unavailable (request id "
            "4f7c0c1b9d2a4e58a1f1d2c3b4a59687)."]}}),
        "ConfigUnauthorized": example({"errors": {"authentication": [
            "Authentication credentials were not provided."]}}),
        "ConfigForbidden": example({"errors": {"permission": [
            "You do not have permission to perform this action."]}}),
        "ConfigThrottled": example({"errors": {"authentication": ["Request was throttled."]}}),
        "ConfigServerError": example({"errors": {"server": [
            "Internal error (request id 4f7c0c1b9d2a4e58a1f1d2c3b4a59687)."]}}),
    },
}
