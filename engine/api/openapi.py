"""OpenAPI path items of the Web API V2 (``/2/query``), the List Engines API and the NQL API
(``nxql.md``, ``nql.md``); merged into ``/api/schema/`` by ``portal.openapi``. Examples are the
contracts' own."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import extend_schema

from engine.api.serializers import EngineSerializer
from portal.openapi import (
    BASIC,
    NO_AUTH,
    UNAUTHORIZED_BASIC,
    UNAUTHORIZED_BEARER,
    example,
    example_refs,
    header,
    json_content,
    oauth,
    path_parameter,
    query_parameter,
    ref,
    response,
    schema,
)

WEB_API = "Web API V2 (NXQL)"
NQL_API = "NQL API"

TAGS = [
    {"name": WEB_API, "description": "NXQL queries over HTTP Basic, the List Engines API (`nxql.md`). The NXQL "
                                     "editor page that calls them is at `/2/editor/nxql_editor.html`."},
    {"name": NQL_API, "description": "Saved NQL queries executed or exported with an OAuth token holding `nql` "
                                     "or `service:integration` (`nql.md`)."},
]

# -- Web API V2 ----------------------------------------------------------------------------------------

EXAMPLE_QUERY = "(select (name platform total_ram) (from device (where device (eq platform (enum windows)))) (limit 2))"
ERROR_PAGE = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Error</title></head><body><h1>Error</h1>'
    '<p id="error_message" style="white-space: pre-wrap">unknown field \'nme\' in table device at line 1, '
    'column 10</p><ul id="error_options"><li>name</li><li>entity</li></ul></body></html>'
)


def _error_page(description: str, headers: dict | None = None) -> dict:
    return response(description, {"text/html": {"schema": schema("NxqlErrorPage"),
                                                 "examples": example_refs("NxqlErrorPage")}}, headers)


QUERY_FIELDS = {
    "query": {"type": "string", "minLength": 1, "description": "The NXQL text (URL-encoded)."},
    "platform": {
        "type": "array", "items": {"type": "string", "enum": ["windows", "mac_os", "mobile"]},
        "description": "Repeatable (also accepted comma-separated). Default: `windows` and `mac_os`.",
    },
    "format": {"type": "string", "enum": ["csv", "html", "xml", "json"], "default": "csv"},
    "hr": {"type": "string", "enum": ["true", "false"], "default": "false",
           "description": "Human-readable units (ignored for JSON)."},
    **{f"p{n}": {"type": "string", "description": f"Value of the template placeholder `%{n}`."} for n in range(1, 10)},
}

QUERY_PARAMETERS = [
    query_parameter("query", QUERY_FIELDS["query"]["description"], {"type": "string", "minLength": 1},
                    required=True, example_value=EXAMPLE_QUERY),
    query_parameter("platform", QUERY_FIELDS["platform"]["description"], QUERY_FIELDS["platform"],
                    style="form", explode=True),
    query_parameter("format", "Result format.", QUERY_FIELDS["format"]),
    query_parameter("hr", QUERY_FIELDS["hr"]["description"], QUERY_FIELDS["hr"]),
    *[query_parameter(f"p{n}", f"Value of the template placeholder `%{n}`.", {"type": "string"})
      for n in range(1, 10)],
]

QUERY_RESPONSES = {
    "200": response(
        "The result in the requested format: rows in the query's order, columns in the selection's order. CSV is "
        "**tab-separated** with a header line; JSON is an array of objects keyed by column name.",
        {
            "text/csv": {"schema": {"type": "string"}, "examples": example_refs("NxqlCsv")},
            "application/json": {"schema": schema("NxqlJsonResult"), "examples": example_refs("NxqlJson")},
            "application/xml": {"schema": {"type": "string"}, "examples": example_refs("NxqlXml")},
            "text/html": {"schema": {"type": "string"}},
        },
    ),
    "400": _error_page("Missing or invalid parameter, NXQL syntax or type error, missing template value."),
    "401": UNAUTHORIZED_BASIC,
    "403": _error_page("The Web API is not licensed, or an `update` without the `can_edit_categories` right."),
    "429": _error_page("Too many failed authentications for this account or address.",
                       {"Retry-After": header("Retry-After")}),
    "500": _error_page("Unexpected failure (the message names the request id that the log holds)."),
    "503": _error_page("The query ran past `NXQL_TIMEOUT_SECONDS` and was cancelled."),
}

QUERY_DESCRIPTION = (
    "Runs NXQL. HTTP Basic: the account must be active, have `finder_access` and `data_privacy = none`, "
    "otherwise 401 (as the documented product rejects the credentials). `%N` placeholders are replaced by `pN` "
    "before parsing. An `update` sets category keywords (right `can_edit_categories`) and answers one row with "
    "the column `updated`. When the request's host name equals an Engine's `address`, only that Engine's "
    "devices are queried."
)

# -- NQL API ------------------------------------------------------------------------------------------------

NQL_ERROR_STATUSES = {
    "400": "Bad body (not JSON, not an object, unknown field, wrong type, malformed `queryId`, unknown "
           "compression) or bad parameter (missing, not used by the query, not convertible), or a query that "
           "does not compile.",
    "403": "The token lacks the `nql` scope.",
    "404": "No saved query with that ID.",
    "406": "`Accept` allows none of the answer's media types.",
    "429": "Too many exports waiting or running for the credential, or throttled authentication "
           "(`Retry-After`).",
    "500": "Unexpected failure; the message names the request id the log holds.",
    "503": "The query ran longer than `NXQL_TIMEOUT_SECONDS`.",
}


def _nql_error(status: str, description: str | None = None) -> dict:
    headers = {"Retry-After": header("Retry-After")} if status == "429" else None
    return response(description or NQL_ERROR_STATUSES[status],
                    json_content(schema("NqlError"), example_refs(f"NqlError{status}")), headers)


def _nql_errors(*statuses: str) -> dict:
    return {status: _nql_error(status) for status in statuses}


ACCEPT = {
    "name": "Accept", "in": "header", "required": False,
    "description": "`application/json` (default) or `text/csv` (comma-separated with a header line). Anything "
                   "that allows neither is a 406.",
    "schema": {"type": "string", "enum": ["application/json", "text/csv", "*/*"]},
}
ACCEPT_JSON = {**ACCEPT, "description": "Must allow `application/json` (406 otherwise).",
               "schema": {"type": "string", "enum": ["application/json", "*/*"]}}

EXECUTE_BODY = {
    "required": True,
    "content": json_content(schema("NqlExecuteRequest"), example_refs("NqlExecute", "NqlExecuteWithParameters")),
}


def _execute(version: int) -> dict:
    answer = "NqlExecuteV1Response" if version == 1 else "NqlExecuteV2Response"
    return {
        "post": {
            "operationId": f"nqlExecuteV{version}",
            "summary": f"Execute a saved NQL query (v{version})",
            "description": "Runs the saved query with the given parameters and answers at most "
                           "`NQL_EXECUTE_MAX_ROWS` rows (default 1000). `executedQuery` is the text with the "
                           "parameters substituted as literals of the compared field's type.",
            "tags": [NQL_API],
            "security": oauth("nql"),
            "parameters": [ACCEPT],
            "requestBody": EXECUTE_BODY,
            "responses": {
                "200": response("The rows.", {
                    "application/json": {"schema": schema(answer), "examples": example_refs(answer)},
                    "text/csv": {"schema": {"type": "string"}, "examples": example_refs("NqlCsv")},
                }),
                "400": _nql_error("400"),
                "401": UNAUTHORIZED_BEARER,
                **_nql_errors("403", "404", "406", "429", "500", "503"),
            },
        },
    }


EXPORT_RESPONSES = {
    "200": response("The export is submitted; follow it with `GET /api/v1/nql/status/{exportId}`.",
                    json_content(schema("NqlExportResponse"), example_refs("NqlExportResponse"))),
    "400": _nql_error("400"),
    "401": UNAUTHORIZED_BEARER,
    **_nql_errors("403", "404", "406", "429", "500", "503"),
}

PATHS = {
    "/2/query": {
        "get": {
            "operationId": "webApiQuery",
            "summary": "Run an NXQL query (parameters in the query string)",
            "description": QUERY_DESCRIPTION,
            "tags": [WEB_API],
            "security": BASIC,
            "parameters": QUERY_PARAMETERS,
            "responses": QUERY_RESPONSES,
        },
        "post": {
            "operationId": "webApiQueryPost",
            "summary": "Run an NXQL query (parameters in a form body)",
            "description": QUERY_DESCRIPTION + " Parameters may also stand in the query string.",
            "tags": [WEB_API],
            "security": BASIC,
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "required": ["query"], "properties": QUERY_FIELDS},
                    "encoding": {"platform": {"style": "form", "explode": True}},
                    "examples": {"json": example({"query": EXAMPLE_QUERY, "format": "json"},
                                                 "Windows devices as JSON")},
                }},
            },
            "responses": QUERY_RESPONSES,
        },
    },
    "/api/v1/nql/execute": _execute(1),
    "/api/v2/nql/execute": _execute(2),
    "/api/v1/nql/export": {
        "post": {
            "operationId": "nqlExport",
            "summary": "Export a saved NQL query's result to a file",
            "description": "Submits an export that a Celery worker writes to a CSV file (compressed as asked), up to "
                           "`NQL_EXPORT_MAX_ROWS` rows. Follow it with the status endpoint.",
            "tags": [NQL_API],
            "security": oauth("nql"),
            "parameters": [ACCEPT_JSON],
            "requestBody": {"required": True, "content": json_content(
                schema("NqlExportRequest"), example_refs("NqlExport", "NqlExportGzip"))},
            "responses": EXPORT_RESPONSES,
        },
        "get": {
            "operationId": "nqlExportGet",
            "summary": "Export a saved NQL query's result (query-string form)",
            "description": "`queryId` and `compression` are read as such; every other query parameter is a "
                           "parameter of the query (`?queryId=%23devices_on_platform&compression=GZIP&"
                           "platform=windows`). A parameter given twice is a 400.",
            "tags": [NQL_API],
            "security": oauth("nql"),
            "parameters": [
                query_parameter("queryId", "NQL ID of the saved query.", schema("NqlId"), required=True,
                                example_value="#devices_on_platform"),
                query_parameter("compression", "Compression of the file.", schema("NqlCompression")),
                query_parameter("parameters", "The query's parameters, one query parameter each.",
                                {"type": "object", "additionalProperties": {"type": "string"}},
                                style="form", explode=True, example_value={"platform": "windows"}),
                ACCEPT_JSON,
            ],
            "responses": EXPORT_RESPONSES,
        },
    },
    "/api/v1/nql/status/{exportId}": {
        "get": {
            "operationId": "nqlExportStatus",
            "summary": "Status of an export",
            "description": "`resultsFileUrl` (once `COMPLETED`) is a signed URL on this server, valid 15 minutes. "
                           "An export is visible to the credential that submitted it only.",
            "tags": [NQL_API],
            "security": oauth("nql"),
            "parameters": [path_parameter("exportId", "The `exportId` the export answered.",
                                          example_value="0d9a3e34-6f6e-4e53-9d1c-3f7d2b8e6c11"), ACCEPT_JSON],
            "responses": {
                "200": response("The export's status.", json_content(
                    schema("NqlExportStatus"),
                    example_refs("NqlStatusSubmitted", "NqlStatusCompleted", "NqlStatusError"))),
                "401": UNAUTHORIZED_BEARER,
                "403": _nql_error("403"),
                "404": _nql_error("404", "No export with that ID (for this credential)."),
                **_nql_errors("406", "429", "500"),
            },
        },
    },
    "/api/v1/nql/results/{token}": {
        "get": {
            "operationId": "nqlExportResults",
            "summary": "Download an export's file (the `resultsFileUrl`)",
            "description": "The signature in the URL is the credential: no authentication header. CSV, "
                           "comma-separated with a header line, compressed as the export asked.",
            "tags": [NQL_API],
            "security": NO_AUTH,
            "parameters": [path_parameter("token", "The signed token of the `resultsFileUrl`.")],
            "responses": {
                "200": response("The file (an attachment).", {
                    "text/csv": {"schema": {"type": "string"}, "examples": example_refs("NqlCsv")},
                    "application/gzip": {"schema": {"type": "string", "format": "binary"}},
                    "application/zstd": {"schema": {"type": "string", "format": "binary"}},
                }),
                "403": _nql_error("403", "An expired or forged link."),
                "404": _nql_error("404", "The results of this export are no longer available."),
                "500": _nql_error("500"),
            },
        },
    },
}


class EngineListSchema(OpenApiViewExtension):
    """Tells drf-spectacular the serializer ``EngineList`` answers with (the view builds it inline), so that
    discovery describes the List Engines API and its ``Engine`` component; ``EXTEND`` adds the rest."""

    target_class = "engine.api.views.EngineList"

    def view_replacement(self):
        @extend_schema(responses=EngineSerializer(many=True))
        class Fixed(self.target_class):
            pass

        return Fixed


# Discovered by drf-spectacular (through ``EngineListSchema``); documented further here.
EXTEND = {
    "/api/configuration/v1/engines": {
        "get": {
            "operationId": "listEngines",
            "summary": "List Engines",
            "description": "Every Engine. HTTP Basic: any active account with `finder_access` (others get 401, as "
                           "on `/2/query`). Multi-engine clients then call `/2/query` on each Engine's `address`.",
            "tags": [WEB_API],
            "security": BASIC,
            "responses": {
                "200": {"description": "Every Engine, by name.",
                        "content": {"application/json": {"examples": example_refs("Engines")}}},
                "401": response("No, wrong or not-allowed credentials (DRF's `detail` body).",
                                json_content(schema("DrfDetail")),
                                {"WWW-Authenticate": header("WWW-Authenticate-Basic")}),
                "429": response("Too many failed authentications (`Retry-After`).",
                                json_content(schema("DrfDetail")), {"Retry-After": header("Retry-After")}),
            },
        },
    },
}

# -- components ------------------------------------------------------------------------------------------

NOW = "2026-11-22T10:15:02Z"
EXPORT_ID = "0d9a3e34-6f6e-4e53-9d1c-3f7d2b8e6c11"

COMPONENTS = {
    "schemas": {
        "NxqlErrorPage": {
            "type": "string",
            "description": "An HTML document (`text/html; charset=utf-8`) whose element `id=\"error_message\"` "
                           "holds the message and, when alternatives exist, `<ul id=\"error_options\">` lists "
                           "them, one `<li>` each.",
        },
        "NxqlJsonResult": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": True},
            "description": "One object per row keyed by column name (`device/name` for per-table selections); "
                           "numbers are numbers, lists are arrays; `[]` when empty.",
        },
        "NqlId": {"type": "string", "pattern": "^#[a-z0-9_]{1,255}$", "example": "#all_devices"},
        "NqlCompression": {"type": "string", "enum": ["NONE", "GZIP", "ZSTD"], "default": "NONE"},
        "NqlParameters": {
            "type": "object", "additionalProperties": {"type": "string"},
            "description": "Values of the query's `$name` parameters, always strings (converted to the compared "
                           "field's type).",
        },
        "NqlExecuteRequest": {
            "type": "object", "additionalProperties": False, "required": ["queryId"],
            "properties": {"queryId": ref("schemas", "NqlId"), "parameters": ref("schemas", "NqlParameters")},
        },
        "NqlExportRequest": {
            "type": "object", "additionalProperties": False, "required": ["queryId"],
            "properties": {"queryId": ref("schemas", "NqlId"), "parameters": ref("schemas", "NqlParameters"),
                           "compression": ref("schemas", "NqlCompression")},
        },
        "NqlExecuteV1Response": {
            "type": "object", "additionalProperties": False,
            "required": ["queryId", "executedQuery", "rows", "executionDateTime", "headers", "data"],
            "properties": {
                "queryId": {"type": "string"},
                "executedQuery": {"type": "string"},
                "rows": {"type": "integer", "minimum": 0},
                "executionDateTime": {
                    "type": "object", "additionalProperties": False,
                    "required": ["year", "month", "day", "hour", "minute", "second"],
                    "properties": {name: {"type": "integer"} for name in
                                   ("year", "month", "day", "hour", "minute", "second")},
                },
                "headers": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array", "items": {}}},
            },
        },
        "NqlExecuteV2Response": {
            "type": "object", "additionalProperties": False,
            "required": ["queryId", "executedQuery", "rows", "executionDateTime", "data"],
            "properties": {
                "queryId": {"type": "string"},
                "executedQuery": {"type": "string"},
                "rows": {"type": "integer", "minimum": 0},
                "executionDateTime": {"type": "string", "format": "date-time"},
                "data": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
            },
        },
        "NqlExportResponse": {
            "type": "object", "additionalProperties": False, "required": ["exportId"],
            "properties": {"exportId": {"type": "string"}},
        },
        "NqlExportStatus": {
            "type": "object", "additionalProperties": False, "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["SUBMITTED", "IN_PROGRESS", "COMPLETED", "ERROR"]},
                "resultsFileUrl": {"type": "string", "format": "uri",
                                   "description": "Signed URL of the file (`COMPLETED`), valid 15 minutes."},
                "errorDescription": {"type": "string", "description": "Why the export failed (`ERROR`)."},
            },
        },
        "NqlError": {
            "type": "object", "additionalProperties": False, "required": ["message", "code"],
            "properties": {
                "message": {"type": "string"},
                "code": {"type": "integer", "description": "The HTTP status."},
                "source": {"type": "string", "description": "The part of the request at fault: `body`, `queryId`, "
                                                            "`parameters`, `parameters.<name>`, `compression`, "
                                                            "`Accept`, `exportId`, `query`..."},
            },
        },
        "DrfDetail": {
            "type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}},
        },
    },
    "examples": {
        "NxqlErrorPage": example(ERROR_PAGE, "A misspelt field, with the valid alternatives"),
        "NxqlCsv": example("name\tplatform\ttotal_ram\nDEV-00001\twindows\t8589934592\n"
                           "DEV-00002\twindows\t17179869184\n", "Tab-separated with a header line"),
        "NxqlJson": example([{"name": "DEV-00001", "platform": "windows", "total_ram": 8589934592},
                             {"name": "DEV-00002", "platform": "windows", "total_ram": 17179869184}]),
        "NxqlXml": example('<?xml version="1.0" encoding="UTF-8"?><table><header><c>name</c><c>platform</c>'
                           '<c>total_ram</c></header><body><r><c>DEV-00001</c><c>windows</c><c>8589934592</c></r>'
                           '</body></table>'),
        "Engines": example([
            {"name": "engine-1", "description": "Europe", "version": "2026.11", "timezone": "Europe/Zurich",
             "databaseUID": "8c1f0e0a3b6d4d5e9f2a1b3c4d5e6f70", "machineID": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
             "status": "CONNECTED", "address": "engine-1.localhost", "port": 443},
            {"name": "engine-3", "description": "Decommissioned site", "version": "2026.11", "timezone": "UTC",
             "databaseUID": "5e2d7c9b1a0f4e3d8c6b5a4f3e2d1c0b", "machineID": "f0e1d2c3b4a5968778695a4b3c2d1e0f",
             "status": "DISCONNECTED", "address": "engine-3.localhost", "port": 443},
        ]),
        "NqlExecute": example({"queryId": "#all_devices"}, "A query without parameters"),
        "NqlExecuteWithParameters": example({"queryId": "#devices_on_platform", "parameters": {"platform": "windows"}},
                                            "A query with a `$platform` parameter"),
        "NqlExport": example({"queryId": "#all_devices"}),
        "NqlExportGzip": example({"queryId": "#devices_on_platform", "parameters": {"platform": "mac_os"},
                                  "compression": "GZIP"}),
        "NqlExecuteV1Response": example({
            "queryId": "#devices_on_platform",
            "executedQuery": "devices | where operating_system.platform == windows | list name, collector.uid",
            "rows": 2,
            "executionDateTime": {"year": 2026, "month": 11, "day": 22, "hour": 10, "minute": 15, "second": 2},
            "headers": ["device.name", "device.collector.uid"],
            "data": [["DEV-00001", "6f1c2b8e-0d7a-4c55-9e0b-1a2b3c4d5e6f"],
                     ["DEV-00002", "0b9e8d7c-6a5f-4e3d-2c1b-0a9f8e7d6c5b"]],
        }),
        "NqlExecuteV2Response": example({
            "queryId": "#devices_on_platform",
            "executedQuery": "devices | where operating_system.platform == windows | list name, collector.uid",
            "rows": 2,
            "executionDateTime": NOW,
            "data": [{"device.name": "DEV-00001", "device.collector.uid": "6f1c2b8e-0d7a-4c55-9e0b-1a2b3c4d5e6f"},
                     {"device.name": "DEV-00002", "device.collector.uid": "0b9e8d7c-6a5f-4e3d-2c1b-0a9f8e7d6c5b"}],
        }),
        "NqlCsv": example("device.name,device.collector.uid\nDEV-00001,6f1c2b8e-0d7a-4c55-9e0b-1a2b3c4d5e6f\n",
                          "Comma-separated with a header line"),
        "NqlExportResponse": example({"exportId": EXPORT_ID}),
        "NqlStatusSubmitted": example({"status": "SUBMITTED"}),
        "NqlStatusCompleted": example({
            "status": "COMPLETED",
            "resultsFileUrl": f"https://opendex.example.com/api/v1/nql/results/{EXPORT_ID}:1tNq2x:signature",
        }),
        "NqlStatusError": example({"status": "ERROR", "errorDescription": "the query ran past the time limit"}),
        "NqlError400": example({"message": "parameter 'platform' is missing", "code": 400, "source": "parameters"}),
        "NqlError403": example({"message": "the credential may not call the NQL API (The token does not grant the "
                                           "nql scope.)", "code": 403}),
        "NqlError404": example({"message": "no saved query with ID #nope", "code": 404, "source": "queryId"}),
        "NqlError406": example({"message": "this endpoint answers application/json or text/csv; the Accept header "
                                           "allows neither", "code": 406, "source": "Accept"}),
        "NqlError429": example({"message": "too many exports waiting or running", "code": 429}),
        "NqlError500": example({"message": "internal error (request id 4f7c0c1b9d2a4e58a1f1d2c3b4a59687)",
                                "code": 500}),
        "NqlError503": example({"message": "the query ran past the time limit (60 s) and was cancelled",
                                "code": 503}),
    },
}
