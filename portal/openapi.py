"""The OpenAPI 3 document of every REST endpoint, served at ``/api/schema/`` (``?format=json`` for
JSON) and browsable at ``/api/docs/`` (Swagger UI from ``drf-spectacular-sidecar``: no CDN).

Most endpoints are plain Django views or DRF views that read their bodies by hand, so
drf-spectacular's discovery sees little of them. The document is therefore built in two parts:

1. **Discovery.** drf-spectacular walks the URL conf and describes the DRF views it can (the List
   Engines API, through its serializer).
2. **Hand-written path items.** Every installed app of the project may have an ``<app>.api.openapi``
   module (``engine``, ``remote_actions``, ``exporters``, ``portal``, and later ``service_health``:
   the loader finds any that exists). Such a module defines, all optional:

   - ``PATHS``: ``{path: {method: operation}}``, full OpenAPI operations. A path is written as
     documented, without the trailing slash every URL also accepts. A hand-written operation
     replaces whatever discovery would have produced for that path and method (discovery is not
     even run on it, so it emits no warnings).
   - ``EXTEND``: ``{path: {method: partial operation}}`` merged over a discovered operation
     (dictionaries merged recursively, the hand-written value winning elsewhere).
   - ``COMPONENTS``: ``{"schemas": {...}, "examples": {...}, "responses": {...}, ...}``; a name
     may be defined once across all modules.
   - ``TAGS``: ``[{"name", "description"}]``.

The helpers below (``json_content``, ``response``, ``error``...) keep those modules short.

Security schemes (``SECURITY_SCHEMES``): ``basicAuth`` (accounts: Web API V2, List Engines,
classic Act API, Services API, Configuration API), ``clientBasic`` (an API credential's client id
and secret, on the token endpoints), ``oauth2`` (client credentials, token URL
``/oauth2/default/v1/token``) and ``bearerToken`` (a token obtained there, pasted), and
``sessionAuth`` (the portal's session cookie, Configuration API only; unsafe methods also need the
``X-CSRFToken`` header).

The schema and docs pages are public (``docs/decisions.md``, "API documentation").
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator

# -- building blocks for the per-app modules --------------------------------------------------------


def ref(kind: str, name: str) -> dict:
    """``{"$ref": "#/components/<kind>/<name>"}``."""
    return {"$ref": f"#/components/{kind}/{name}"}


def schema(name: str) -> dict:
    return ref("schemas", name)


def example_refs(*names: str) -> dict:
    """A media type's ``examples`` pointing at component examples (keyed by their names)."""
    return {name: ref("examples", name) for name in names}


def json_content(body_schema: dict, examples: dict | None = None, media_type: str = "application/json") -> dict:
    """A ``content`` map with one media type. ``examples``: name -> example object or ``$ref``."""
    media: dict = {"schema": body_schema}
    if examples:
        media["examples"] = examples
    return {media_type: media}


def example(value, summary: str | None = None, description: str | None = None) -> dict:
    item: dict = {"value": value}
    if summary:
        item["summary"] = summary
    if description:
        item["description"] = description
    return item


def response(description: str, content: dict | None = None, headers: dict | None = None) -> dict:
    item: dict = {"description": description}
    if content:
        item["content"] = content
    if headers:
        item["headers"] = headers
    return item


def header(name: str) -> dict:
    """A shared response header (``WWW-Authenticate-Basic``, ``WWW-Authenticate-Bearer``, ``Retry-After``...)."""
    return ref("headers", name)


def query_parameter(name: str, description: str, param_schema: dict, *, required: bool = False,
                    example_value=None, **extra) -> dict:
    item = {"name": name, "in": "query", "required": required, "description": description, "schema": param_schema}
    if example_value is not None:
        item["example"] = example_value
    item.update(extra)
    return item


def path_parameter(name: str, description: str, param_schema: dict | None = None, example_value=None) -> dict:
    item = {"name": name, "in": "path", "required": True, "description": description,
            "schema": param_schema or {"type": "string"}}
    if example_value is not None:
        item["example"] = example_value
    return item


UNAUTHORIZED_BASIC = response(
    "No, wrong or not-allowed credentials (no body).", headers={"WWW-Authenticate": header("WWW-Authenticate-Basic")}
)
UNAUTHORIZED_BEARER = response(
    "Missing, wrong, expired or revoked token (no body).",
    headers={"WWW-Authenticate": header("WWW-Authenticate-Bearer")},
)

BASIC = [{"basicAuth": []}]
NO_AUTH: list = []


def oauth(scope: str) -> list[dict]:
    """Security of an OAuth endpoint: a token holding ``scope`` or ``service:integration``."""
    return [{"oauth2": [scope]}, {"oauth2": ["service:integration"]}, {"bearerToken": []}]


SECURITY_SCHEMES = {
    "basicAuth": {
        "type": "http", "scheme": "basic",
        "description": "An OpenDEX account (user name and password). Each endpoint says which profile rights it "
                       "needs; missing rights are answered as that endpoint documents (401 or 403). Repeated "
                       "failures are throttled: 429 with `Retry-After`.",
    },
    "clientBasic": {
        "type": "http", "scheme": "basic",
        "description": "An API credential: `client_id` as the user name, the client secret as the password "
                       "(token endpoints only).",
    },
    "oauth2": {
        "type": "oauth2",
        "description": "OAuth 2.0 client credentials. Tokens live 900 s. `service:integration` grants every public "
                       "API; `nql` and `remote_actions` narrow it.",
        "flows": {"clientCredentials": {
            "tokenUrl": "/oauth2/default/v1/token",
            "scopes": {
                "service:integration": "All public APIs",
                "nql": "NQL API",
                "remote_actions": "Remote actions API",
            },
        }},
    },
    "bearerToken": {
        "type": "http", "scheme": "bearer",
        "description": "An access token obtained from `POST /oauth2/default/v1/token` (or `/api/v1/token`).",
    },
    "sessionAuth": {
        "type": "apiKey", "in": "cookie", "name": "sessionid",
        "description": "The portal session (sign in at `/admin/`). Unsafe methods also need the CSRF token in the "
                       "`X-CSRFToken` header.",
    },
}

BASE_COMPONENTS = {
    "securitySchemes": SECURITY_SCHEMES,
    "headers": {
        "WWW-Authenticate-Basic": {
            "description": "The Basic challenge.", "required": True,
            "schema": {"type": "string", "enum": ['Basic realm="OpenDEX"']},
        },
        "WWW-Authenticate-Bearer": {
            "description": "The Bearer challenge.", "required": True,
            "schema": {"type": "string", "pattern": "^Bearer"},
        },
        "Retry-After": {
            "description": "Seconds to wait before trying again.", "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
        "Allow": {"description": "The methods the endpoint accepts.", "schema": {"type": "string"}},
    },
}

DESCRIPTION = """\
The public APIs of OpenDEX, compatible with the Nexthink APIs they mirror:

* **Web API V2** (`/2/query`, NXQL) and the **List Engines API**: HTTP Basic.
* **NQL API** (execute, export, status) and the **remote actions API**: OAuth 2.0 client-credentials
  tokens from `/oauth2/default/v1/token`.
* **Classic Act API v2** (`/api/remoteaction/v2/run`): HTTP Basic.
* **Configuration API** (`/api/config/v1/...`, exporters and connector credentials): HTTP Basic or the
  portal session, administration right.
* **Device channel** (`/api/collector/v1/...`): what a collector on a device calls.

Every documented path also answers with a trailing slash, never redirecting. Bad input is answered
with the documented status and error body; a stack trace never reaches a client (an unexpected
failure is logged with a request id and answered with the endpoint's own internal-error shape).
"""

# -- the per-app modules ------------------------------------------------------------------------------

MODULE_SUFFIX = "api.openapi"
PARAMETER = re.compile(r"\{[^}/]+\}")


def normalized(path: str) -> str:
    """A path template compared without its parameter names or a trailing slash."""
    path = PARAMETER.sub("{}", path)
    return path.rstrip("/") or "/"


def project_apps() -> list[str]:
    """Names of the installed apps that live in this checkout (not Django's or a library's)."""
    base = Path(settings.BASE_DIR).resolve()
    names = []
    for config in apps.get_app_configs():
        try:
            Path(config.path).resolve().relative_to(base)
        except ValueError:
            continue
        if ".venv" in Path(config.path).parts or "site-packages" in Path(config.path).parts:
            continue
        names.append(config.name)
    return names


def documentation_modules() -> list[ModuleType]:
    """The ``<app>.api.openapi`` modules that exist, in ``INSTALLED_APPS`` order."""
    modules = []
    for app_name in project_apps():
        name = f"{app_name}.{MODULE_SUFFIX}"
        try:
            found = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # no <app>.api package
            found = None
        if found is not None:
            modules.append(importlib.import_module(name))
    return modules


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class Documentation:
    """What the per-app modules hold, merged (names clashing across modules are refused)."""

    def __init__(self, modules: list[ModuleType]):
        self.paths: dict[str, dict[str, dict]] = {}
        self.extend: dict[str, dict[str, dict]] = {}
        self.components: dict[str, dict] = {}
        self.tags: list[dict] = []
        for module in modules:
            for path, item in getattr(module, "PATHS", {}).items():
                for method, operation in item.items():
                    if method in self.paths.get(path, {}):
                        raise ImproperlyConfigured(f"{module.__name__}: {method.upper()} {path} is documented twice")
                    self.paths.setdefault(path, {})[method] = copy.deepcopy(operation)
            for path, item in getattr(module, "EXTEND", {}).items():
                for method, operation in item.items():
                    self.extend.setdefault(path, {})[method] = copy.deepcopy(operation)
            for kind, entries in getattr(module, "COMPONENTS", {}).items():
                bucket = self.components.setdefault(kind, {})
                for name, value in entries.items():
                    if name in bucket:
                        raise ImproperlyConfigured(f"{module.__name__}: component {kind}/{name} is defined twice")
                    bucket[name] = copy.deepcopy(value)
            self.tags.extend(copy.deepcopy(getattr(module, "TAGS", [])))
        self.keys = {(normalized(path), method.lower()) for path, item in self.paths.items() for method in item}


# -- the generator ---------------------------------------------------------------------------------------


class OpenDexSchemaGenerator(SchemaGenerator):
    """drf-spectacular's generator, plus the hand-written path items of every ``<app>.api.openapi``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.documentation = Documentation(documentation_modules())

    def _get_paths_and_endpoints(self):
        # Leave out what is written by hand: discovery would only guess (and warn) there.
        return [
            (path, path_regex, method, view)
            for path, path_regex, method, view in super()._get_paths_and_endpoints()
            if (normalized(path), method.lower()) not in self.documentation.keys
        ]

    def parse(self, input_request, public):
        discovered = super().parse(input_request, public)
        # Documented paths are written without the trailing slash the URL conf makes optional.
        paths: dict[str, dict] = {}
        for path, item in discovered.items():
            paths.setdefault(path.rstrip("/") or "/", {}).update(item)
        for path, item in self.documentation.extend.items():
            for method, operation in item.items():
                if method in paths.get(path, {}):
                    paths[path][method] = _merge(paths[path][method], operation)
        for path, item in self.documentation.paths.items():
            paths.setdefault(path, {}).update(copy.deepcopy(item))
        return dict(sorted(paths.items()))

    def get_schema(self, request=None, public=False):
        result = super().get_schema(request=request, public=public)
        components = result.setdefault("components", {})
        for kind, entries in (*BASE_COMPONENTS.items(), *self.documentation.components.items()):
            components.setdefault(kind, {}).update(copy.deepcopy(entries))
        result["info"]["description"] = DESCRIPTION
        tags = {tag["name"]: tag for tag in self.documentation.tags}
        result["tags"] = list(tags.values())
        result["servers"] = [{"url": "/", "description": "This OpenDEX server"}]
        return result


def build_schema() -> dict:
    """The whole document (what ``GET /api/schema/?format=json`` answers)."""
    return OpenDexSchemaGenerator().get_schema(request=None, public=True)


# -- drf-spectacular extensions for OpenDEX's authentication classes ----------------------------------


class BasicAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "portal.authentication.BasicAuthentication"
    name = "basicAuth"
    match_subclasses = True

    def get_security_definition(self, auto_schema):
        return SECURITY_SCHEMES["basicAuth"]


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.oauth.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return SECURITY_SCHEMES["bearerToken"]


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "exporters.api.views.SessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema):
        return SECURITY_SCHEMES["sessionAuth"]
