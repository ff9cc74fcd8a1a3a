"""OpenAPI path items of the Services API (``services.md``): ``GET /api/beta/service/data/overview`` and
the discovery page ``GET /api/beta/services``; merged into ``/api/schema/`` by ``portal.openapi``. The
example follows the contract's."""

from __future__ import annotations

from portal.openapi import BASIC, example, example_refs, header, json_content, query_parameter, response, schema

TAG = "Services API"

TAGS = [
    {"name": TAG, "description": "Health of the monitored services per hierarchy node over the last hour or day, "
                                 "limited to the account's view domain (HTTP Basic, any active account). Answers 404 "
                                 "unless the feature is on (platform settings, or `OPENDEX_SERVICES_API=true`)."},
]

COUNT = {"type": "integer", "minimum": 0}
BYTES = {"type": "integer", "minimum": 0, "description": "Bytes."}
RATIO = {"type": "number", "minimum": 0, "maximum": 1, "nullable": True,
         "description": "0..1 (the data model's percent); null without activity."}
DURATION = {"type": "integer", "minimum": 0, "nullable": True,
            "description": "Milliseconds, rounded; null without activity."}

METRICS_SCHEMA = {
    "type": "object",
    "description": "Common metrics, then those of the service's type (connection or web), in this order.",
    "required": ["number_of_devices", "number_of_users", "number_of_devices_with_issues", "status",
                 "incoming_traffic", "outgoing_traffic"],
    "properties": {
        "number_of_devices": {**COUNT, "description": "Devices using the service."},
        "number_of_users": COUNT,
        "number_of_devices_with_issues": COUNT,
        "status": {"type": "string", "enum": ["green", "yellow", "red"],
                   "description": "yellow from the warning threshold of devices with issues, red from the error one."},
        "incoming_traffic": BYTES,
        "outgoing_traffic": BYTES,
        "number_of_connections": COUNT,
        "number_of_failed_connections": COUNT,
        "failed_connections_ratio": RATIO,
        "average_network_response_time": DURATION,
        "number_of_web_requests": COUNT,
        "number_of_http_errors": {**COUNT, "description": "HTTP 4xx and 5xx."},
        "number_of_http_server_errors": {**COUNT, "description": "HTTP 5xx."},
        "http_errors_ratio": RATIO,
        "average_response_time": DURATION,
    },
    "additionalProperties": False,
}

COMPONENTS = {
    "schemas": {
        "ServiceOverview": {
            "type": "object",
            "required": ["service", "scope", "from", "to", "hierarchy", "level", "nodes"],
            "properties": {
                "service": {
                    "type": "object", "required": ["uid", "name", "type"],
                    "properties": {"uid": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
                                   "type": {"type": "string", "enum": ["connection", "web"]}},
                },
                "scope": {"type": "string", "enum": ["hour", "day"]},
                "from": {"type": "string", "format": "date-time"},
                "to": {"type": "string", "format": "date-time"},
                "hierarchy": {"type": "string"},
                "level": {"type": "string", "nullable": True,
                          "description": "The level asked for; for a path query the children's level (the "
                                         "entity's own for an entity); null for a hierarchy without levels."},
                "nodes": {"type": "array", "items": schema("ServiceOverviewNode")},
            },
        },
        "ServiceOverviewNode": {
            "type": "object",
            "required": ["name", "path", "level", "metrics"],
            "properties": {
                "name": {"type": "string", "description": "The node's name, or `all` for an aggregate."},
                "path": {"type": "array", "items": {"type": "string"},
                         "description": "Node names from the top; `[]` for the root."},
                "level": {"type": "string", "nullable": True, "description": "null for the root."},
                "metrics": schema("ServiceMetrics"),
            },
        },
        "ServiceMetrics": METRICS_SCHEMA,
        "ServiceApiError": {
            "type": "object", "required": ["error"], "additionalProperties": False,
            "properties": {"error": {"type": "string"}},
        },
    },
    "examples": {
        "ServiceOverview": example({
            "service": {"uid": "3f1c2b9e-8d7a-4c6b-9e5f-0a1b2c3d4e5f", "name": "Outlook", "type": "connection"},
            "scope": "hour", "from": "2026-11-22T09:00:00Z", "to": "2026-11-22T10:00:00Z",
            "hierarchy": "Geography", "level": "Country",
            "nodes": [
                {"name": "all", "path": ["Europe"], "level": "Continent", "metrics": {
                    "number_of_devices": 12, "number_of_users": 11, "number_of_devices_with_issues": 2,
                    "status": "yellow", "incoming_traffic": 3_822_311, "outgoing_traffic": 412_877,
                    "number_of_connections": 57, "number_of_failed_connections": 3,
                    "failed_connections_ratio": 0.05263157894736842, "average_network_response_time": 29}},
                {"name": "Switzerland", "path": ["Europe", "Switzerland"], "level": "Country", "metrics": {
                    "number_of_devices": 12, "number_of_users": 11, "number_of_devices_with_issues": 2,
                    "status": "yellow", "incoming_traffic": 3_822_311, "outgoing_traffic": 412_877,
                    "number_of_connections": 57, "number_of_failed_connections": 3,
                    "failed_connections_ratio": 0.05263157894736842, "average_network_response_time": 29}},
            ],
        }, "Path query Europe (the europe demo account's default)"),
        "ServiceUnknown": example({"error": "unknown service 'outlook'"}, "Not a service UID"),
        "ServiceBothQueries": example({"error": "give either 'hierarchy-level' or 'path', not both"}),
        "ServiceUnknownNode": example({"error": "unknown node 'Atlantis' under 'Europe' in hierarchy 'Geography'"}),
        "ServiceOutsideViewDomain": example(
            {"error": "the node 'America' has no entity in the account's view domain"}),
        "ServiceUnauthorized": example(
            {"error": "authentication required: HTTP Basic credentials of an active account"}),
        "ServiceNotFound": example({"error": "not found"}),
    },
}


def _error(description: str, *examples: str, headers: dict | None = None) -> dict:
    return response(description, json_content(schema("ServiceApiError"), example_refs(*examples) or None), headers)


CSV_EXAMPLE = (
    "service,hierarchy,level,path,node,number_of_devices,number_of_users,number_of_devices_with_issues,status,"
    "incoming_traffic,outgoing_traffic,number_of_connections,number_of_failed_connections,failed_connections_ratio,"
    "average_network_response_time\n"
    "Outlook,Geography,Continent,Europe,all,12,11,2,yellow,3822311,412877,57,3,0.05263157894736842,29\n"
    "Outlook,Geography,Country,Europe/Switzerland,Switzerland,12,11,2,yellow,3822311,412877,57,3,"
    "0.05263157894736842,29\n"
)

PATHS = {
    "/api/beta/service/data/overview": {
        "get": {
            "operationId": "serviceOverview",
            "summary": "Health metrics of a service per hierarchy node",
            "description": (
                "Either a **path query** (the node itself as the entry `all`, then its immediate children; the "
                "default, on the top node of the account's view domain) or a **hierarchy-level query** (every "
                "node of the level, after each parent's aggregate `all`; the top level's parent is the root, "
                "`{\"name\": \"all\", \"path\": [], \"level\": null}`). Only devices of the account's visible "
                "entities count; nodes without a visible entity are left out. A device has an issue with a "
                "connection service on a failed connection or a crash of a binary of the service, with a web "
                "service on an HTTP 5xx, a crash, or a response slower than the service's threshold.\n\n"
                "Unknown parameters are ignored; giving `metric`, `scope`, `hierarchy`, `hierarchy-level` or "
                "`format` twice is a 400. Errors are JSON whatever `format` asked."
            ),
            "tags": [TAG],
            "security": BASIC,
            "parameters": [
                query_parameter("metric", "UID of the service.", {"type": "string", "format": "uuid"},
                                required=True, example_value="3f1c2b9e-8d7a-4c6b-9e5f-0a1b2c3d4e5f"),
                query_parameter("scope", "`hour` (the last 60 minutes) or `day` (the last 24 hours), ending now.",
                                {"type": "string", "enum": ["hour", "day"], "default": "hour"}),
                query_parameter("hierarchy", "Hierarchy name (exact). Default: the first hierarchy by position.",
                                {"type": "string"}, example_value="Geography"),
                query_parameter("hierarchy-level", "A level name of the hierarchy: a hierarchy-level query. Not with "
                                "`path`.", {"type": "string"}, example_value="Country"),
                query_parameter("path", "Node names from the top, `/`-separated (`Europe/Switzerland`), or the "
                                "parameter repeated with one name each; `/` is the root. Not with `hierarchy-level`. "
                                "Default: the top node of the account's view domain (the root without one, or in "
                                "another hierarchy).", {"type": "array", "items": {"type": "string"}},
                                style="form", explode=True, example_value=["Europe/Switzerland"]),
                query_parameter("format", "`table` (an HTML page), `json` or `csv`.",
                                {"type": "string", "enum": ["table", "json", "csv"], "default": "table"}),
            ],
            "responses": {
                "200": response("The entries, in the format asked.", {
                    "application/json": {"schema": schema("ServiceOverview"),
                                         "examples": example_refs("ServiceOverview")},
                    "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
                    "text/html": {"schema": {"type": "string"},
                                  "example": "<!DOCTYPE html><html>…<table>…</table>…</html>"},
                }),
                "400": _error("A missing or bad parameter, named in the message: no `metric`, unknown service, "
                              "hierarchy, level or node, bad `scope` or `format`, both `hierarchy-level` and "
                              "`path`, a parameter given twice.", "ServiceUnknown", "ServiceBothQueries",
                              "ServiceUnknownNode"),
                "401": _error("No, wrong or inactive credentials.", "ServiceUnauthorized",
                              headers={"WWW-Authenticate": header("WWW-Authenticate-Basic")}),
                "403": _error("The node has no entity in the account's view domain.", "ServiceOutsideViewDomain"),
                "404": _error("The Services API is off.", "ServiceNotFound"),
                "405": _error("Another method than GET or HEAD.", headers={"Allow": header("Allow")}),
                "429": _error("Too many failed authentications for the account or address.",
                              headers={"Retry-After": header("Retry-After")}),
                "500": _error("Unexpected failure; the message names the request id the log holds."),
            },
        },
    },
}

PATHS["/api/beta/services"] = {
    "get": {
        "operationId": "serviceDiscovery",
        "summary": "Discovery page of the Services API (HTML)",
        "description": (
            "A browsable HTML page for the account: the services (name, type, UID), the hierarchies with their "
            "levels, and per service and hierarchy the nodes of the account's view domain as a tree from the root, "
            "each with its status over the last hour (green, yellow or red) and links to the matching overview "
            "URLs in each format (`table`, `json`, `csv`): a path query per node, a hierarchy-level query per "
            "level, and the service's default query. Query parameters are ignored. Errors are JSON."
        ),
        "tags": [TAG],
        "security": BASIC,
        "responses": {
            "200": response("The page.", {
                "text/html": {"schema": {"type": "string"},
                              "example": "<!DOCTYPE html><html>…<ul class=\"tree\">…</ul>…</html>"},
            }),
            "401": _error("No, wrong or inactive credentials.", "ServiceUnauthorized",
                          headers={"WWW-Authenticate": header("WWW-Authenticate-Basic")}),
            "404": _error("The Services API is off.", "ServiceNotFound"),
            "405": _error("Another method than GET or HEAD.", headers={"Allow": header("Allow")}),
            "429": _error("Too many failed authentications for the account or address.",
                          headers={"Retry-After": header("Retry-After")}),
            "500": _error("Unexpected failure; the message names the request id the log holds."),
        },
    },
}
