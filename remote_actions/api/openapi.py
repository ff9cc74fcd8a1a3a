"""OpenAPI path items of the remote-actions APIs (``remote-actions.md``): the current API (OAuth),
the classic Act API v2 (Basic) and the device channel; merged into ``/api/schema/`` by
``portal.openapi``. Examples are the contract's own."""

from __future__ import annotations

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

CURRENT = "Remote actions API"
CLASSIC = "Classic Act API v2"
CHANNEL = "Device channel"

TAGS = [
    {"name": CURRENT, "description": "Remote actions with an OAuth token holding `remote_actions` or "
                                     "`service:integration` (the `nexthink-api` client's API)."},
    {"name": CLASSIC, "description": "The classic Act API v2 over HTTP Basic: accounts with `finder_access` and "
                                     "`allow_remote_action_api`. Any method but POST answers 404."},
    {"name": CHANNEL, "description": "What a collector on a device calls: enroll, poll for executions, report "
                                     "results. No HTTP authentication: the enroll secret, then the node key, are in "
                                     "the body."},
]

# -- current API ----------------------------------------------------------------------------------------

CURRENT_CODES = ["FORBIDDEN", "INVALID_REQUEST", "TOO_MANY_DEVICES", "NOT_FOUND", "API_NOT_ENABLED", "UNKNOWN_DEVICES",
                 "INVALID_PARAMETER", "METHOD_NOT_ALLOWED", "TOO_MANY_REQUESTS", "INTERNAL_ERROR"]


def _current_error(description: str, *examples: str, headers: dict | None = None) -> dict:
    return response(description, json_content(schema("RemoteActionError"), example_refs(*examples)), headers)


CURRENT_COMMON = {
    "401": UNAUTHORIZED_BEARER,
    "403": _current_error("`FORBIDDEN`: the token lacks the `remote_actions` scope.", "RaForbidden"),
    "429": _current_error("`TOO_MANY_REQUESTS`: throttled.", "RaTooManyRequests"),
    "500": _current_error("`INTERNAL_ERROR`: unexpected; the message names the request id the log holds.",
                          "RaInternalError"),
}


def _flag(name: str, description: str) -> dict:
    return query_parameter(name, description, {"type": "string", "enum": ["true", "false"]})


# -- classic API ----------------------------------------------------------------------------------------

CLASSIC_CODES = ["NO_PERMISSION", "CONTENT_TYPE", "ENCODING", "INVALID_REQUEST_JSON", "INVALID_REQUEST_CONTENT",
                 "NO_REMOTE_ACTION_UID", "NO_DEVICES", "TOO_MANY_DEVICES", "INVALID_ACTION_UID", "INVALID_DEVICE_UID",
                 "UNKNOWN_OR_DISABLED_REMOTE_ACTION", "NO_MANUAL_EXECUTION", "NO_ENGINES_TO_TARGET", "INTERNAL_ERROR"]


def _classic_error(description: str, *examples: str) -> dict:
    return response(description, json_content(schema("ClassicError"), example_refs(*examples)))


# -- device channel -------------------------------------------------------------------------------------


def _channel_error(description: str, *examples: str, body_schema: str = "ChannelError") -> dict:
    return response(description, json_content(schema(body_schema), example_refs(*examples)))


CHANNEL_400 = _channel_error("`INVALID_REQUEST`: the body is not a JSON object, a required field is missing, a "
                             "field has the wrong type or is unknown (`errors` names them).", "ChannelInvalidRequest")
CHANNEL_500 = _channel_error("`INTERNAL_ERROR`: unexpected failure (logged).", "ChannelInternalError")
NODE_INVALID = _channel_error("The node key is unknown or revoked: the collector enrolls again.", "NodeInvalid",
                              body_schema="NodeInvalid")


def _channel_body(body_schema: str, *examples: str) -> dict:
    return {"required": True, "content": json_content(schema(body_schema), example_refs(*examples))}


PATHS = {
    "/api/v1/act/remote-action": {
        "get": {
            "operationId": "listRemoteActions",
            "summary": "List remote actions",
            "description": "Every enabled remote action (disabled ones are not listed; an action whose API box is "
                           "off is listed with `\"apiEnabled\": false`), filtered by the query parameters. An "
                           "unknown or repeated parameter, or a bad value, is a 400 `INVALID_REQUEST`.",
            "tags": [CURRENT],
            "security": oauth("remote_actions"),
            "parameters": [
                _flag("hasScriptWindows", "Only actions with (`true`) or without a Windows script."),
                _flag("hasScriptMacOs", "Only actions with (`true`) or without a macOS script."),
                _flag("apiEnabled", "Only actions whose API box is on (`true`) or off."),
                _flag("manualEnabled", "Only actions whose manual box is on (`true`) or off."),
                query_parameter("purpose", "Only actions with this purpose.", schema("RemoteActionPurpose")),
                query_parameter("origin", "Only actions of this origin.",
                                {"type": "string", "enum": ["custom", "built_in"]}),
            ],
            "responses": {
                "200": response("The actions.", json_content({"type": "array", "items": schema("RemoteAction")},
                                                             example_refs("RemoteActions"))),
                "400": _current_error("`INVALID_REQUEST`: an unknown, repeated or bad query parameter.",
                                      "RaInvalidFilter"),
                **CURRENT_COMMON,
            },
        },
    },
    "/api/v1/act/remote-action/details": {
        "get": {
            "operationId": "getRemoteActionDetails",
            "summary": "One remote action",
            "tags": [CURRENT],
            "security": oauth("remote_actions"),
            "parameters": [query_parameter("nql-id", "The action's NQL ID (`%23get_device_info`).",
                                           {"type": "string", "pattern": "^#[a-z0-9_]+$"}, required=True,
                                           example_value="#get_device_info")],
            "responses": {
                "200": response("The action.", json_content(schema("RemoteAction"), example_refs("RemoteAction"))),
                "400": _current_error("`INVALID_REQUEST`: `nql-id` missing, repeated, or another parameter given.",
                                      "RaMissingNqlId"),
                "404": _current_error("`NOT_FOUND`: no such action, or disabled.", "RaNotFound"),
                **CURRENT_COMMON,
            },
        },
    },
    "/api/v1/act/execute": {
        "post": {
            "operationId": "executeRemoteAction",
            "summary": "Execute a remote action on devices",
            "description": "Stores the request and one execution per device (one transaction). Errors are checked "
                           "in this order: 401, 403 `FORBIDDEN`, 400 `INVALID_REQUEST`, 400 `TOO_MANY_DEVICES`, 404 "
                           "`NOT_FOUND`, 403 `API_NOT_ENABLED`, 400 `UNKNOWN_DEVICES`, 400 `INVALID_PARAMETER`. "
                           "Follow the executions with NQL (`remote_action.executions` where `request_id` is the "
                           "answer's `requestId`).",
            "tags": [CURRENT],
            "security": oauth("remote_actions"),
            "requestBody": {"required": True, "content": json_content(
                schema("ExecuteRequest"), example_refs("Execute", "ExecuteMinimal"))},
            "responses": {
                "200": response("The request is stored.", json_content(schema("ExecuteResponse"),
                                                                        example_refs("ExecuteResponse"))),
                "400": _current_error(
                    "`INVALID_REQUEST` (not JSON, wrong types, missing fields, a device that is not a UUID string, "
                    "`expiresInMinutes` out of range, `reason` too long), `TOO_MANY_DEVICES`, `UNKNOWN_DEVICES` (up "
                    "to 20 listed) or `INVALID_PARAMETER` (unknown input, value outside the options, missing input "
                    "without default).",
                    "RaInvalidRequest", "RaTooManyDevices", "RaUnknownDevices", "RaInvalidParameter"),
                "401": UNAUTHORIZED_BEARER,
                "403": _current_error("`FORBIDDEN` (the token lacks the scope) or `API_NOT_ENABLED` (the action's "
                                      "API box is off).", "RaForbidden", "RaApiNotEnabled"),
                "404": _current_error("`NOT_FOUND`: no such action, or disabled.", "RaNotFound"),
                "429": CURRENT_COMMON["429"],
                "500": CURRENT_COMMON["500"],
            },
        },
    },
    "/api/remoteaction/v2/run": {
        "post": {
            "operationId": "classicRun",
            "summary": "Run a remote action (classic Act API v2)",
            "description": "Dispatched to every Engine (or the listed ones); returns when every targeted Engine "
                           "has answered or `timeoutSeconds` has passed. Allowed when the account has "
                           "`finder_access` and `allow_remote_action_api` and the action is enabled with manual "
                           "execution. Errors are checked in this order: authentication, `NO_PERMISSION`, "
                           "`CONTENT_TYPE`, `ENCODING`, `INVALID_REQUEST_JSON`, `INVALID_REQUEST_CONTENT`, "
                           "`NO_REMOTE_ACTION_UID`, `NO_DEVICES`, `TOO_MANY_DEVICES`, `INVALID_ACTION_UID`, "
                           "`INVALID_DEVICE_UID`, `UNKNOWN_OR_DISABLED_REMOTE_ACTION`, `NO_MANUAL_EXECUTION`, "
                           "`NO_ENGINES_TO_TARGET`.",
            "tags": [CLASSIC],
            "security": BASIC,
            "requestBody": {"required": True, "content": json_content(
                schema("ClassicRunRequest"), example_refs("ClassicRun", "ClassicRunOnEngines"))},
            "responses": {
                "200": response("One answer per targeted Engine.", json_content(
                    {"type": "array", "items": schema("ClassicEngineAnswer")}, example_refs("ClassicRunResponse"))),
                "400": _classic_error("A bad request; `code` says which check refused it.",
                                      "ClassicContentType", "ClassicInvalidJson", "ClassicNoDevices",
                                      "ClassicInvalidDeviceUid", "ClassicUnknownAction"),
                "401": UNAUTHORIZED_BASIC,
                "403": _classic_error("`NO_PERMISSION` (the account lacks the rights) or `NO_ENGINES_TO_TARGET`.",
                                      "ClassicNoPermission", "ClassicNoEngines"),
                "429": response("Too many failed authentications (no body).",
                                headers={"Retry-After": header("Retry-After")}),
                "500": _classic_error("`INTERNAL_ERROR`: unexpected; the message names the request id the log "
                                      "holds.", "ClassicInternalError"),
            },
        },
    },
    "/api/collector/v1/enroll": {
        "post": {
            "operationId": "collectorEnroll",
            "summary": "Enroll a device's collector",
            "description": "Checks the platform's enroll secret and finds the device by collector UID (or device "
                           "UID); answers a fresh node key (earlier ones are revoked).",
            "tags": [CHANNEL],
            "security": NO_AUTH,
            "requestBody": _channel_body("EnrollRequest", "Enroll"),
            "responses": {
                "200": response("The node key.", json_content(schema("EnrollResponse"), example_refs("NodeKey"))),
                "400": CHANNEL_400,
                "401": _channel_error("`INVALID_SECRET`: a wrong enroll secret.", "ChannelInvalidSecret"),
                "404": _channel_error("`NOT_FOUND`: no device with that collector or device UID.", "ChannelNotFound"),
                "500": CHANNEL_500,
            },
        },
    },
    "/api/collector/v1/actions/poll": {
        "post": {
            "operationId": "collectorPoll",
            "summary": "Fetch the executions waiting for the device",
            "description": "Scripts for the device's platform only; the executions are marked `in_progress`.",
            "tags": [CHANNEL],
            "security": NO_AUTH,
            "requestBody": _channel_body("PollRequest", "Poll"),
            "responses": {
                "200": response("The executions to run.", json_content(schema("PollResponse"),
                                                                       example_refs("PollResponse"))),
                "400": CHANNEL_400,
                "401": NODE_INVALID,
                "500": CHANNEL_500,
            },
        },
    },
    "/api/collector/v1/actions/{executionId}/result": {
        "post": {
            "operationId": "collectorResult",
            "summary": "Report an execution's result",
            "description": "Outputs are checked against the action's declared outputs and their types.",
            "tags": [CHANNEL],
            "security": NO_AUTH,
            "parameters": [path_parameter("executionId", "The `executionId` the poll answered.",
                                          {"type": "string"}, example_value="1042")],
            "requestBody": _channel_body("ResultRequest", "ResultSuccess", "ResultFailure"),
            "responses": {
                "200": response("The result is stored.", json_content(schema("ResultResponse"),
                                                                       example_refs("ResultResponse"))),
                "400": _channel_error("`INVALID_REQUEST`: a bad body, a status other than `success`/`failure`, an "
                                      "undeclared output or an output of the wrong type.",
                                      "ChannelInvalidRequest", "ChannelBadOutput"),
                "401": NODE_INVALID,
                "404": _channel_error("`NOT_FOUND`: no such execution for this device.", "ChannelNoExecution"),
                "409": _channel_error("`CONFLICT`: the execution already has a result.", "ChannelConflict"),
                "500": CHANNEL_500,
            },
        },
    },
}

# -- components ------------------------------------------------------------------------------------------

UUID = {"type": "string", "format": "uuid"}
ACTION_UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
COLLECTOR_1 = "6f1c2b8e-0d7a-4c55-9e0b-1a2b3c4d5e6f"
COLLECTOR_2 = "0b9e8d7c-6a5f-4e3d-2c1b-0a9f8e7d6c5b"
REQUEST_ID = "3a7e5b2c-8d1f-4e6a-9b0c-2d4f6a8c0e1b"
DEVICE_UID = "4f2a9c1e7b3d5f608a1c2e3b4d5f6a7b"
ENGINE_1 = "8c1f0e0a3b6d4d5e9f2a1b3c4d5e6f70"
ENGINE_3 = "5e2d7c9b1a0f4e3d8c6b5a4f3e2d1c0b"
BOOL = {"type": "boolean"}
TEXT = {"type": "string"}
NULLABLE_TEXT = {"type": "string", "nullable": True}

GET_DEVICE_INFO = {
    "id": "#get_device_info",
    "uuid": ACTION_UID,
    "name": "Get device info",
    "description": "Collects the uptime and the free disk space.",
    "origin": "custom",
    "builtInContentVersion": None,
    "purpose": ["DATA_COLLECTION"],
    "targeting": {"apiEnabled": True, "manualEnabled": True, "workflowEnabled": False,
                  "manualAllowMultipleDevices": True},
    "scriptInfo": {
        "runAs": "LOCAL_SYSTEM", "executionServiceDelegate": None, "timeoutSeconds": 120,
        "hasScriptWindows": True, "hasScriptMacOs": True, "inputs": [],
        "outputs": [
            {"id": "Uptime", "name": "Uptime", "type": "int", "description": "Seconds since boot.",
             "usedByWindows": True, "usedByMacOs": True},
            {"id": "FreeDisk", "name": "FreeDisk", "type": "bytes", "description": "Free space on the system drive.",
             "usedByWindows": True, "usedByMacOs": True},
        ],
    },
}
RESTART_SERVICE = {
    **GET_DEVICE_INFO,
    "id": "#restart_service", "uuid": "9c2d7e4a-1b3f-4a5c-8d6e-0f1a2b3c4d5e", "name": "Restart service",
    "description": "Restarts a Windows service.", "purpose": ["REMEDIATION"],
    "scriptInfo": {
        "runAs": "LOCAL_SYSTEM", "executionServiceDelegate": None, "timeoutSeconds": 120,
        "hasScriptWindows": True, "hasScriptMacOs": False,
        "inputs": [{"id": "ServiceName", "name": "ServiceName", "description": "The service to restart.",
                    "usedByWindows": True, "usedByMacOs": False, "options": ["Spooler", "wuauserv"],
                    "allowCustomValue": True, "defaultValue": "Spooler"}],
        "outputs": [],
    },
}

COMPONENTS = {
    "schemas": {
        "RemoteActionPurpose": {"type": "string", "enum": ["DATA_COLLECTION", "REMEDIATION"]},
        "RemoteAction": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "uuid", "name", "description", "origin", "builtInContentVersion", "purpose",
                         "targeting", "scriptInfo"],
            "properties": {
                "id": {"type": "string", "description": "The NQL ID."},
                "uuid": UUID,
                "name": TEXT,
                "description": TEXT,
                "origin": {"type": "string", "enum": ["custom", "built_in"]},
                "builtInContentVersion": NULLABLE_TEXT,
                "purpose": {"type": "array", "items": ref("schemas", "RemoteActionPurpose")},
                "targeting": {
                    "type": "object", "additionalProperties": False,
                    "required": ["apiEnabled", "manualEnabled", "workflowEnabled", "manualAllowMultipleDevices"],
                    "properties": {"apiEnabled": BOOL, "manualEnabled": BOOL, "workflowEnabled": BOOL,
                                   "manualAllowMultipleDevices": BOOL},
                },
                "scriptInfo": {
                    "type": "object", "additionalProperties": False,
                    "required": ["runAs", "executionServiceDelegate", "timeoutSeconds", "hasScriptWindows",
                                 "hasScriptMacOs", "inputs", "outputs"],
                    "properties": {
                        "runAs": {"type": "string", "enum": ["LOCAL_SYSTEM", "INTERACTIVE_USER",
                                                             "DELEGATE_TO_SERVICE"]},
                        "executionServiceDelegate": NULLABLE_TEXT,
                        "timeoutSeconds": {"type": "integer"},
                        "hasScriptWindows": BOOL,
                        "hasScriptMacOs": BOOL,
                        "inputs": {"type": "array", "items": ref("schemas", "RemoteActionInput")},
                        "outputs": {"type": "array", "items": ref("schemas", "RemoteActionOutput")},
                    },
                },
            },
        },
        "RemoteActionInput": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "name", "description", "usedByWindows", "usedByMacOs", "options", "allowCustomValue",
                         "defaultValue"],
            "properties": {"id": TEXT, "name": TEXT, "description": TEXT, "usedByWindows": BOOL, "usedByMacOs": BOOL,
                           "options": {"type": "array", "items": TEXT}, "allowCustomValue": BOOL,
                           "defaultValue": NULLABLE_TEXT},
        },
        "RemoteActionOutput": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "name", "type", "description", "usedByWindows", "usedByMacOs"],
            "properties": {"id": TEXT, "name": TEXT, "description": TEXT, "usedByWindows": BOOL, "usedByMacOs": BOOL,
                           "type": {"type": "string", "enum": ["string", "int", "float", "bool", "bytes", "duration",
                                                               "datetime", "string_list"]}},
        },
        "ExecuteRequest": {
            "type": "object", "additionalProperties": False, "required": ["remoteActionId", "devices"],
            "properties": {
                "remoteActionId": {"type": "string", "description": "The action's NQL ID."},
                "devices": {"type": "array", "minItems": 1, "items": UUID,
                            "description": "Collector UIDs, 1 to `act_max_devices` (duplicates ignored)."},
                "params": {"type": "object", "additionalProperties": TEXT},
                "expiresInMinutes": {"type": "integer", "minimum": 60, "maximum": 10080, "default": 60},
                "triggerInfo": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"externalSource": {"type": "string", "maxLength": 255},
                                   "reason": {"type": "string", "maxLength": 500},
                                   "externalReference": {"type": "string", "maxLength": 255}},
                },
            },
        },
        "ExecuteResponse": {
            "type": "object", "additionalProperties": False, "required": ["requestId", "expiresInMinutes"],
            "properties": {"requestId": UUID, "expiresInMinutes": {"type": "integer"}},
        },
        "RemoteActionError": {
            "type": "object", "additionalProperties": False, "required": ["code", "message"],
            "properties": {"code": {"type": "string", "enum": CURRENT_CODES}, "message": TEXT},
        },
        "ClassicRunRequest": {
            "type": "object", "required": ["remoteActionUid", "deviceUids"],
            "properties": {
                "requestUid": {"type": "string", "description": "Kept for logging (the request's external "
                                                                "reference)."},
                "remoteActionUid": UUID,
                "deviceUids": {"type": "array", "minItems": 1,
                               "items": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}},
                "engineDatabaseUids": {"type": "array", "items": {"type": "string"},
                                       "description": "Only these Engines (default: every Engine)."},
                "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 3600,
                                   "description": "Default: the platform's `act_default_timeout_seconds`."},
                "params": {"type": "object", "additionalProperties": TEXT,
                           "description": "Inputs of the action; unknown names are ignored."},
            },
        },
        "ClassicEngineAnswer": {
            "type": "object", "additionalProperties": False, "required": ["databaseUid", "code", "message"],
            "properties": {
                "databaseUid": TEXT,
                "code": {"type": "string", "enum": ["ok", "timeout", "engine_error", "not_connected", "excluded",
                                                    "no_permission"]},
                "message": TEXT,
            },
        },
        "ClassicError": {
            "type": "object", "additionalProperties": False, "required": ["code", "error"],
            "properties": {"code": {"type": "string", "enum": CLASSIC_CODES}, "error": TEXT},
        },
        "EnrollRequest": {
            "type": "object", "required": ["enrollSecret", "collectorUid"],
            "description": "More host facts may follow (ignored).",
            "properties": {"enrollSecret": TEXT, "collectorUid": TEXT, "deviceUid": TEXT, "name": TEXT,
                           "platform": TEXT},
        },
        "EnrollResponse": {"type": "object", "additionalProperties": False, "required": ["nodeKey"],
                           "properties": {"nodeKey": TEXT}},
        "PollRequest": {"type": "object", "additionalProperties": False, "required": ["nodeKey"],
                        "properties": {"nodeKey": TEXT}},
        "PollResponse": {
            "type": "object", "additionalProperties": False, "required": ["executions"],
            "properties": {"executions": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "required": ["executionId", "remoteActionId", "script", "language", "params", "timeoutSeconds"],
                "properties": {"executionId": {"type": "integer"}, "remoteActionId": TEXT, "script": TEXT,
                               "language": TEXT, "params": {"type": "object", "additionalProperties": TEXT},
                               "timeoutSeconds": {"type": "integer"}},
            }}},
        },
        "ResultRequest": {
            "type": "object", "additionalProperties": False, "required": ["nodeKey", "status"],
            "properties": {"nodeKey": TEXT, "status": {"type": "string", "enum": ["success", "failure"]},
                           "outputs": {"type": "object", "nullable": True, "additionalProperties": True},
                           "statusDetails": NULLABLE_TEXT},
        },
        "ResultResponse": {
            "type": "object", "additionalProperties": False, "required": ["executionId", "status"],
            "properties": {"executionId": {"type": "integer"}, "status": TEXT},
        },
        "ChannelError": {
            "type": "object", "additionalProperties": False, "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": ["INVALID_REQUEST", "INVALID_SECRET", "NOT_FOUND", "CONFLICT",
                                                    "INTERNAL_ERROR"]},
                "message": TEXT,
                "errors": {"type": "object", "additionalProperties": TEXT,
                           "description": "Field -> problem (`INVALID_REQUEST`); empty when the body is not a JSON "
                                          "object."},
            },
        },
        "NodeInvalid": {"type": "object", "additionalProperties": False, "required": ["node_invalid"],
                        "properties": {"node_invalid": {"type": "boolean", "enum": [True]}}},
    },
    "examples": {
        "RemoteActions": example([GET_DEVICE_INFO, RESTART_SERVICE]),
        "RemoteAction": example(GET_DEVICE_INFO),
        "Execute": example({
            "remoteActionId": "#restart_service", "devices": [COLLECTOR_1, COLLECTOR_2],
            "params": {"ServiceName": "Spooler"}, "expiresInMinutes": 60,
            "triggerInfo": {"externalSource": "ServiceNow", "reason": "INC001", "externalReference": "INC001"},
        }, "As remote-actions.md shows it"),
        "ExecuteMinimal": example({"remoteActionId": "#get_device_info", "devices": [COLLECTOR_1]}),
        "ExecuteResponse": example({"requestId": REQUEST_ID, "expiresInMinutes": 60}),
        "RaForbidden": example({"code": "FORBIDDEN", "message": "the token does not grant the remote_actions scope"}),
        "RaTooManyRequests": example({"code": "TOO_MANY_REQUESTS", "message": "too many requests; try again later"}),
        "RaInternalError": example({"code": "INTERNAL_ERROR",
                                    "message": "internal error (request id 4f7c0c1b9d2a4e58a1f1d2c3b4a59687)"}),
        "RaInvalidFilter": example({"code": "INVALID_REQUEST", "message": "query parameter 'apiEnabled' must be true "
                                                                          "or false"}),
        "RaMissingNqlId": example({"code": "INVALID_REQUEST", "message": "the nql-id query parameter is required"}),
        "RaNotFound": example({"code": "NOT_FOUND", "message": "no enabled remote action with ID #legacy_cleanup"}),
        "RaInvalidRequest": example({"code": "INVALID_REQUEST",
                                     "message": "expiresInMinutes must be between 60 and 10080"}),
        "RaTooManyDevices": example({"code": "TOO_MANY_DEVICES",
                                     "message": "10001 devices requested; at most 10000 are allowed"}),
        "RaUnknownDevices": example({"code": "UNKNOWN_DEVICES",
                                     "message": f"1 unknown device(s): {COLLECTOR_2}"}),
        "RaInvalidParameter": example({"code": "INVALID_PARAMETER",
                                       "message": "Plan: 'turbo' is not one of balanced, high_performance"}),
        "RaApiNotEnabled": example({"code": "API_NOT_ENABLED",
                                    "message": "remote action #clear_teams_cache is not enabled for the API"}),
        "ClassicRun": example({"requestUid": "INC001", "remoteActionUid": ACTION_UID, "deviceUids": [DEVICE_UID],
                               "params": {"ServiceName": "Spooler"}}),
        "ClassicRunOnEngines": example({"remoteActionUid": ACTION_UID, "deviceUids": [DEVICE_UID],
                                        "engineDatabaseUids": [ENGINE_1, ENGINE_3], "timeoutSeconds": 30}),
        "ClassicRunResponse": example([
            {"databaseUid": ENGINE_1, "code": "ok", "message": ""},
            {"databaseUid": ENGINE_3, "code": "not_connected", "message": "Engine is DISCONNECTED"},
        ]),
        "ClassicContentType": example({"code": "CONTENT_TYPE", "error": "Content-Type must be application/json"}),
        "ClassicInvalidJson": example({"code": "INVALID_REQUEST_JSON", "error": "The body is not valid JSON"}),
        "ClassicNoDevices": example({"code": "NO_DEVICES", "error": "No devices"}),
        "ClassicInvalidDeviceUid": example({"code": "INVALID_DEVICE_UID", "error": "Invalid device UID: 42"}),
        "ClassicUnknownAction": example({"code": "UNKNOWN_OR_DISABLED_REMOTE_ACTION",
                                         "error": "Unknown or disabled remote action"}),
        "ClassicNoPermission": example({"code": "NO_PERMISSION",
                                        "error": "The account may not use the remote action API"}),
        "ClassicNoEngines": example({"code": "NO_ENGINES_TO_TARGET", "error": "No Engines to target"}),
        "ClassicInternalError": example({"code": "INTERNAL_ERROR",
                                         "error": "Internal error (request id 4f7c0c1b9d2a4e58a1f1d2c3b4a59687)"}),
        "Enroll": example({"enrollSecret": "the platform's enroll secret", "collectorUid": COLLECTOR_1,
                           "deviceUid": DEVICE_UID, "name": "DEV-00001", "platform": "windows"}),
        "NodeKey": example({"nodeKey": "nk_5c3f0a9e1d7b4c2a8f6e0d1c9b7a5e3f"}),
        "Poll": example({"nodeKey": "nk_5c3f0a9e1d7b4c2a8f6e0d1c9b7a5e3f"}),
        "PollResponse": example({"executions": [{
            "executionId": 1042, "remoteActionId": "#restart_service", "script": "Restart-Service $ServiceName",
            "language": "powershell", "params": {"ServiceName": "Spooler"}, "timeoutSeconds": 120,
        }]}),
        "ResultSuccess": example({"nodeKey": "nk_5c3f0a9e1d7b4c2a8f6e0d1c9b7a5e3f", "status": "success",
                                  "outputs": {"Uptime": 86400, "FreeDisk": 53687091200}, "statusDetails": ""}),
        "ResultFailure": example({"nodeKey": "nk_5c3f0a9e1d7b4c2a8f6e0d1c9b7a5e3f", "status": "failure",
                                  "outputs": {}, "statusDetails": "service not found"}),
        "ResultResponse": example({"executionId": 1042, "status": "success"}),
        "NodeInvalid": example({"node_invalid": True}),
        "ChannelInvalidRequest": example({"code": "INVALID_REQUEST", "message": "invalid body",
                                          "errors": {"nodeKey": "this field is required"}}),
        "ChannelBadOutput": example({"code": "INVALID_REQUEST", "message": "undeclared output(s): Colour",
                                     "errors": {}}),
        "ChannelInvalidSecret": example({"code": "INVALID_SECRET", "message": "invalid enroll secret"}),
        "ChannelNotFound": example({"code": "NOT_FOUND", "message": "unknown device"}),
        "ChannelNoExecution": example({"code": "NOT_FOUND", "message": "no such execution for this device"}),
        "ChannelConflict": example({"code": "CONFLICT", "message": "the execution is already success"}),
        "ChannelInternalError": example({"code": "INTERNAL_ERROR", "message": "internal error"}),
    },
}
