"""OpenAPI path items of the OAuth 2.0 token endpoints (``remote-actions.md``, "Tokens"; the rules are
``portal.api.views``); merged into ``/api/schema/`` by ``portal.openapi``."""

from __future__ import annotations

from portal.openapi import example, example_refs, header, json_content, response, schema

TOKENS = "OAuth 2.0 tokens"

TAGS = [{"name": TOKENS, "description": "Client-credentials tokens for the NQL API and the remote actions API. "
                                        "Tokens live 900 s; the scope granted is the credential's scopes, or the "
                                        "asked subset."}]

NO_STORE = {"Cache-Control": {"description": "`no-store` (RFC 6749, 5.1).", "schema": {"type": "string"}}}


def _error(description: str, *codes: str, headers: dict | None = None) -> dict:
    content = json_content(schema("TokenError"), example_refs(*codes))
    return response(description, content, {**NO_STORE, **(headers or {})})


def _token(legacy: bool) -> dict:
    body_description = (
        "Optional: an empty body means `grant_type=client_credentials` with the credential's scopes. A non-empty "
        "body must be a form." if legacy else
        "`grant_type=client_credentials` (required); `scope` optional (space-separated)."
    )
    form = {
        "type": "object",
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "scope": {"type": "string", "description": "`service:integration`, `nql`, `remote_actions` "
                                                       "(space-separated); at most the credential's scopes.",
                      "example": "service:integration"},
        },
    }
    if not legacy:
        form["required"] = ["grant_type"]
    return {
        "post": {
            "operationId": "legacyToken" if legacy else "oauth2Token",
            "summary": "Get an access token (older form)" if legacy else "Get an access token",
            "description": (
                "Client credentials: `Authorization: Basic base64(client_id:client_secret)`; a `client_id` or "
                "`client_secret` in the body is ignored. The client is authenticated before the body is read. Any "
                "method but POST answers 405 `invalid_request` with `Allow: POST`."
            ),
            "tags": [TOKENS],
            "security": [{"clientBasic": []}],
            "requestBody": {
                "required": not legacy,
                "description": body_description,
                "content": {"application/x-www-form-urlencoded": {
                    "schema": form,
                    "examples": {
                        "all": example({"grant_type": "client_credentials", "scope": "service:integration"},
                                       "Every public API"),
                        "nql": example({"grant_type": "client_credentials", "scope": "nql"}, "The NQL API only"),
                    },
                }},
            },
            "responses": {
                "200": response("The token.", json_content(schema("Token"), example_refs("Token")), NO_STORE),
                "400": _error("`invalid_request` (a body that is not a form, a bad charset, a parameter given twice, "
                              "`grant_type` missing), `unsupported_grant_type`, `unauthorized_client` (a credential "
                              "not of the client-credentials type) or `invalid_scope`.",
                              "TokenInvalidRequest", "TokenUnsupportedGrantType", "TokenInvalidScope"),
                "401": _error("`invalid_client`: no or malformed Basic header, unknown client, wrong secret.",
                              "TokenInvalidClient",
                              headers={"WWW-Authenticate": header("WWW-Authenticate-Basic")}),
                "413": _error("`invalid_request`: a body over 16 KiB.", "TokenInvalidRequest"),
                "429": _error("`too_many_requests`: the client id or the address is throttled after repeated "
                              "failures.", "TokenTooManyRequests", headers={"Retry-After": header("Retry-After")}),
                "500": _error("`server_error`: unexpected failure, logged with the request id of the "
                              "`X-Request-Id` header.", "TokenServerError"),
            },
        },
    }


PATHS = {
    "/oauth2/default/v1/token": _token(legacy=False),
    "/api/v1/token": _token(legacy=True),
}

COMPONENTS = {
    "schemas": {
        "Token": {
            "type": "object", "additionalProperties": False,
            "required": ["token_type", "expires_in", "access_token", "scope"],
            "properties": {
                "token_type": {"type": "string", "enum": ["Bearer"]},
                "expires_in": {"type": "integer", "example": 900},
                "access_token": {"type": "string"},
                "scope": {"type": "string", "description": "The scopes granted, space-separated."},
            },
        },
        "TokenError": {
            "type": "object", "additionalProperties": False, "required": ["error"],
            "properties": {"error": {"type": "string", "enum": [
                "invalid_request", "invalid_client", "unsupported_grant_type", "unauthorized_client",
                "invalid_scope", "too_many_requests", "server_error",
            ]}},
        },
    },
    "examples": {
        "Token": example({"token_type": "Bearer", "expires_in": 900, "access_token": "eyJraWQiOiJkZW1vIn0.c2lnbmVk",
                          "scope": "service:integration"}),
        "TokenInvalidRequest": example({"error": "invalid_request"}),
        "TokenUnsupportedGrantType": example({"error": "unsupported_grant_type"}, "grant_type=password"),
        "TokenInvalidScope": example({"error": "invalid_scope"}, "`remote_actions` asked by an `nql`-only credential"),
        "TokenInvalidClient": example({"error": "invalid_client"}),
        "TokenTooManyRequests": example({"error": "too_many_requests"}),
        "TokenServerError": example({"error": "server_error"}),
    },
}
