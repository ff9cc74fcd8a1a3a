"""The OpenAPI document (``portal/openapi.py``): served at ``/api/schema/`` and ``/api/docs/``, valid,
covering every API route of the root URL conf, every operation documented in full, every example
matching its schema."""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from portal.management.commands.runplatform import Command as RunPlatform
from portal.openapi import Documentation, build_schema, documentation_modules, normalized

# Routes of the root URL conf that are not REST endpoints, by name (namespace included).
NOT_API = {
    "api-schema": "the OpenAPI document itself",
    "api-docs": "the Swagger UI page",
    "engine-api:nxql-editor": "the NXQL editor, an HTML page",
    "exporters-api:unknown": "the Configuration API's 404 for paths it does not have",
    "metrics": "the Prometheus exposition for monitoring (portal/metrics.py), not a REST endpoint",
}
# Routes whose documentation is owed by their app's owner (``<app>/api/openapi.py``), tolerated while
# undocumented only: once documented, the entry must go (test_pending_documentation_is_still_pending).
PENDING: dict[str, str] = {}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@pytest.fixture(scope="module")
def schema() -> dict:
    return build_schema()


def api_routes(resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""):
    """(route regex, name) of every URL pattern of the root URL conf but ``admin/``."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        regex = prefix + str(entry.pattern.regex.pattern).lstrip("^")
        if isinstance(entry, URLResolver):
            if regex.startswith("admin/"):
                continue
            inner = entry.namespace or ""
            yield from api_routes(entry, regex.rstrip("$"), f"{namespace}{inner}:" if inner else namespace)
        elif isinstance(entry, URLPattern):
            yield regex, f"{namespace}{entry.name}" if entry.name else regex


def path_template(regex: str) -> str:
    """``api/v1/nql/status/(?P<export_id>[^/]+)/?$`` -> ``/api/v1/nql/status/{}``."""
    text = regex.lstrip("^").removesuffix("$").removesuffix("/?")
    text = re.sub(r"\(\?P<\w+>[^)]*\)", "{}", text)
    text = text.replace("\\.", ".")
    assert not re.search(r"[\\()\[\]*+?|]", text), f"cannot read a path out of {regex!r}"
    return "/" + text


def test_every_api_route_is_documented(schema):
    documented = {normalized(path) for path in schema["paths"]}
    routes = dict(api_routes())
    assert set(NOT_API) <= set(routes.values()), "a route listed as not an API is gone: update NOT_API"
    missing = sorted(f"{name}: {path_template(regex)}" for regex, name in routes.items()
                     if name not in NOT_API and name not in PENDING
                     and normalized(path_template(regex)) not in documented)
    assert not missing, "routes without OpenAPI documentation (add them to <app>/api/openapi.py): " + ", ".join(missing)


def test_pending_documentation_is_still_pending(schema):
    documented = {normalized(path) for path in schema["paths"]}
    routes = {name: regex for regex, name in api_routes()}
    done = [name for name in PENDING if name in routes and normalized(path_template(routes[name])) in documented]
    gone = [name for name in PENDING if name not in routes]
    assert not done, f"documented now: remove {done} from PENDING"
    assert not gone, f"no such route any more: remove {gone} from PENDING"


def test_the_documented_paths_exist(schema):
    """No stale documentation: every documented path is a route."""
    routes = {normalized(path_template(regex)) for regex, name in api_routes() if name not in NOT_API}
    assert {normalized(path) for path in schema["paths"]} <= routes


def test_the_document_is_valid_openapi(schema):
    validate(schema)
    assert schema["openapi"].startswith("3.")


def test_every_operation_is_documented_in_full(schema):
    schemes = set(schema["components"]["securitySchemes"])
    seen_ids = set()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("operationId") and operation["operationId"] not in seen_ids, where
            seen_ids.add(operation["operationId"])
            assert operation.get("summary"), where
            assert operation.get("tags"), where
            assert "security" in operation, f"{where}: say which authentication (or [] for none)"
            for requirement in operation["security"]:
                assert set(requirement) <= schemes, where
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), where
            assert any(code.startswith("4") for code in responses), where
            if operation["security"]:
                assert "401" in responses, f"{where}: an authenticated endpoint documents its 401"
            for code, answer in responses.items():
                assert answer.get("description"), f"{where} {code}"
                if code.startswith(("4", "5")) and code != "401":
                    assert answer.get("content") or code == "429", f"{where} {code}: document the error body"


def test_security_schemes(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["basicAuth"] == {**schemes["basicAuth"], "type": "http", "scheme": "basic"}
    flow = schemes["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth2/default/v1/token"
    assert set(flow["scopes"]) == {"service:integration", "nql", "remote_actions"}
    assert schemes["sessionAuth"]["in"] == "cookie"
    operations = schema["paths"]
    assert operations["/2/query"]["get"]["security"] == [{"basicAuth": []}]
    assert {"oauth2": ["nql"]} in operations["/api/v1/nql/execute"]["post"]["security"]
    assert {"oauth2": ["remote_actions"]} in operations["/api/v1/act/execute"]["post"]["security"]
    assert {"sessionAuth": []} in operations["/api/config/v1/exporters"]["post"]["security"]
    assert operations["/api/collector/v1/enroll"]["post"]["security"] == []


def _resolved(node, components: dict, depth: int = 0):
    """``node`` with every local ``$ref`` replaced by its target."""
    assert depth < 50, "recursive schema"
    if isinstance(node, dict):
        if "$ref" in node:
            _, _, kind, name = node["$ref"].split("/")
            return _resolved(components[kind][name], components, depth + 1)
        return {key: _resolved(value, components, depth + 1) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(value, components, depth + 1) for value in node]
    return node


def _for_requests(node):
    """A request schema as a client must send it: read-only properties left out."""
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            node = {**node, "properties": {name: value for name, value in properties.items()
                                           if not (isinstance(value, dict) and value.get("readOnly"))}}
        return {key: _for_requests(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_for_requests(value) for value in node]
    return node


def media_examples(schema):
    """(where, JSON schema, example value) of every example of a JSON body, request or response."""
    components = schema["components"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
            bodies += [(code, answer.get("content", {})) for code, answer in operation["responses"].items()]
            for where, content in bodies:
                for media_type, media in content.items():
                    if "json" not in media_type:
                        continue
                    body_schema = _resolved(media["schema"], components)
                    if where == "request":
                        body_schema = _for_requests(body_schema)
                    for name, value in media.get("examples", {}).items():
                        value = _resolved(value, components)
                        label = f"{method.upper()} {path} {where} {media_type} example {name}"
                        yield label, body_schema, value["value"]


def test_every_json_example_matches_its_schema(schema):
    checked = 0
    for where, body_schema, value in media_examples(schema):
        errors = [error.message for error in OAS30Validator(body_schema).iter_errors(value)]
        assert not errors, f"{where}: {errors}"
        checked += 1
    assert checked > 60


def test_examples_come_from_the_specs(schema):
    examples = schema["components"]["examples"]
    assert examples["Execute"]["value"] == {
        "remoteActionId": "#restart_service", "devices": examples["Execute"]["value"]["devices"],
        "params": {"ServiceName": "Spooler"}, "expiresInMinutes": 60,
        "triggerInfo": {"externalSource": "ServiceNow", "reason": "INC001", "externalReference": "INC001"},
    }
    assert examples["NqlExecuteV2Response"]["value"]["executionDateTime"] == "2026-11-22T10:15:02Z"
    assert examples["Token"]["value"]["expires_in"] == 900
    assert "unknown field 'nme' in table device at line 1, column 10" in examples["NxqlErrorPage"]["value"]


def test_the_engines_api_is_discovered_with_its_serializer(schema):
    operation = schema["paths"]["/api/configuration/v1/engines"]["get"]
    items = operation["responses"]["200"]["content"]["application/json"]["schema"]["items"]
    assert items == {"$ref": "#/components/schemas/Engine"}
    assert set(schema["components"]["schemas"]["Engine"]["properties"]) == {
        "name", "description", "version", "timezone", "databaseUID", "machineID", "status", "address", "port"}
    assert schema["components"]["schemas"]["EngineStatus"]["enum"] == ["CONNECTED", "DISCONNECTED", "CONNECTING"]


def test_documentation_modules_are_found_per_app():
    names = [module.__name__ for module in documentation_modules()]
    assert names[:4] == ["portal.api.openapi", "engine.api.openapi", "remote_actions.api.openapi",
                         "exporters.api.openapi"]


def test_a_component_or_operation_defined_twice_is_refused():
    module = documentation_modules()[0]
    twin = SimpleNamespace(__name__="twin", COMPONENTS=module.COMPONENTS)
    with pytest.raises(ImproperlyConfigured, match="defined twice"):
        Documentation([module, twin])
    twin = SimpleNamespace(__name__="twin", PATHS=module.PATHS)
    with pytest.raises(ImproperlyConfigured, match="documented twice"):
        Documentation([module, twin])


# -- served ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/schema/", "/api/schema"])
def test_the_schema_is_public_yaml_and_json(path):
    client = Client()
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    document = yaml.safe_load(io.BytesIO(response.content))
    assert document["paths"].keys() == build_schema()["paths"].keys()
    response = client.get(path, {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    validate(json.loads(response.content))


@pytest.mark.parametrize("path", ["/api/docs/", "/api/docs"])
def test_the_docs_page_serves_swagger_ui_from_this_server(path):
    client = Client()
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert '"/api/schema"' in page or "'/api/schema'" in page
    assets = re.findall(r'(?:src|href)="(/static/drf_spectacular_sidecar/[^"]+)"', page)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets), page
    assert "cdn." not in page and "unpkg" not in page  # no internet at runtime
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        body = b"".join(served.streaming_content) if served.streaming else served.content  # closes it
        assert body, asset


def test_the_admin_index_links_to_the_docs(db, make_account):
    account = make_account("docs-admin", administration=True)
    client = Client()
    client.force_login(account)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b'href="/api/docs"' in response.content


def test_make_run_prints_the_docs_url():
    output = io.StringIO()
    RunPlatform(stdout=output)._print_banner("127.0.0.1", 8123, "pw")
    banner = output.getvalue()
    assert "http://localhost:8123/api/docs/" in banner
