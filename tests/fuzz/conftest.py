"""The world the fuzz tests call: the demo data (``seed_demo``, small), the demo accounts and OAuth
clients with their credentials, and real identifiers (exports, a results link, node keys, executions)
that fuzzed requests sometimes use so that they reach past the "not found" answers.

The data is seeded once per module and committed (each test still runs in a transaction that is
rolled back); the module's teardown empties the seeded tables and restores the platform settings.
Passwords use a fast hasher, and nothing leaves the machine: outgoing HTTP (exporters' test
connection and test load) fails at once, Celery tasks are never sent.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection
from django.test import Client, override_settings

from engine import exports
from engine.models import Device, NqlExport, SavedQuery
from exporters.models import ConnectorCredential, Exporter
from portal import demo
from portal.models import Account, ApiCredential, PlatformSettings
from remote_actions import services as ra_services
from remote_actions.models import RemoteAction
from service_health.models import Service

PASSWORD = "fuzz-demo-password-42"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def basic(user: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@dataclass
class World:
    """What the fuzzed requests may use: credentials per kind of authentication, real values."""

    basic: dict[str, str] = field(default_factory=dict)  # identity -> Authorization header ("" = none)
    bearer: dict[str, str] = field(default_factory=dict)
    client_basic: dict[str, str] = field(default_factory=dict)
    session_cookie: str = ""
    values: dict[str, list] = field(default_factory=dict)  # field or parameter name -> real values


def _token(client: Client, client_id: str, scope: str | None = None) -> str:
    body = "grant_type=client_credentials" + (f"&scope={scope}" if scope else "")
    response = client.post("/oauth2/default/v1/token", body, content_type="application/x-www-form-urlencoded",
                           HTTP_AUTHORIZATION=basic(client_id))
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def build_world(tmp_dir) -> World:
    call_command("seed_demo", devices=24, days=1, seed=5, password=PASSWORD, end=END.isoformat(),
                 stdout=_Null(), stderr=_Null())
    world = World()
    accounts = [username for username, _profile, _rights in demo.ACCOUNTS]
    world.basic = {name: basic(name) for name in accounts}
    world.basic["wrong password"] = basic("fuzz-nobody", "wrong")
    world.basic["none"] = ""
    clients = [client_id for client_id, _name, _scopes in demo.API_CREDENTIALS]
    world.client_basic = {name: basic(name) for name in clients}
    world.client_basic["wrong secret"] = basic("fuzz-no-client", "wrong")
    world.client_basic["none"] = ""
    client = Client(HTTP_HOST="localhost")
    world.bearer = {
        "demo-client": "Bearer " + _token(client, "demo-client"),
        "demo-nql-only": "Bearer " + _token(client, "demo-nql-only"),
        "demo-client narrowed to remote_actions": "Bearer " + _token(client, "demo-client", "remote_actions"),
        "unknown token": "Bearer not-a-token",
        "none": "",
    }
    client.force_login(Account.objects.get(username="admin"))
    world.session_cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

    # Real identifiers.
    demo_client = ApiCredential.objects.get(client_id="demo-client")
    query = SavedQuery.objects.get(nql_id="#all_devices")
    pending = exports.submit_export(query, {}, NqlExport.Compression.NONE, demo_client)
    done = exports.submit_export(query, {}, NqlExport.Compression.GZIP, demo_client)
    exports.run_export(str(done.pk))
    link = exports.results_path(NqlExport.objects.get(pk=done.pk))
    devices = list(Device.objects.filter(engine__status="CONNECTED").order_by("pk")[:6])
    action = RemoteAction.objects.get(nql_id="#get_device_info")
    request = ra_services.create_request(action, devices[:3], {})
    node_keys = [ra_services.enroll_device(device) for device in devices[:3]]
    executions = [str(pk) for pk in request.executions.order_by("pk").values_list("pk", flat=True)]
    spare = ConnectorCredential.objects.create(name="Fuzz spare credential", base_url="https://spare.example.com",
                                               auth_type=ConnectorCredential.AUTH_BEARER, token="spare-token")
    credentials = list(ConnectorCredential.objects.order_by("name"))
    world.values = {
        # path parameters
        "exportId": [str(pending.pk), str(done.pk)],
        "token": [urlsplit(link).path.rstrip("/").rsplit("/", 1)[1]],
        "executionId": executions,
        # the unused credential twice: a DELETE may succeed (the demo ones are in use: 409)
        "credential uid": [str(spare.uid)] + [str(item.uid) for item in credentials],
        "exporter uid": [str(item.uid) for item in Exporter.objects.all()],
        # query parameters and body fields
        "queryId": list(SavedQuery.objects.values_list("nql_id", flat=True)),
        "nql-id": list(RemoteAction.objects.values_list("nql_id", flat=True)),
        "remoteActionId": list(RemoteAction.objects.values_list("nql_id", flat=True)),
        "remoteActionUid": [str(uid) for uid in RemoteAction.objects.values_list("uid", flat=True)],
        "devices": [[str(device.collector_uid) for device in devices[:2]], [str(devices[3].collector_uid)]],
        "deviceUids": [[device.device_uid for device in devices[:2]]],
        "engineDatabaseUids": [list(Device.objects.values_list("engine__database_uid", flat=True).distinct())],
        "nodeKey": node_keys,
        "enrollSecret": [PlatformSettings.load().enroll_secret],
        "collectorUid": [str(device.collector_uid) for device in devices[:2]],
        "credential": [item.name for item in credentials] + [str(item.uid) for item in credentials],
        "parameters": [{}, {"platform": "windows"}],
        "platform": ["windows", "mac_os"],
        # Services API
        "metric": [str(uid) for uid in Service.objects.values_list("uid", flat=True)],
        "hierarchy": ["Geography", "Organization"],
        "hierarchy-level": ["Continent", "Country", "Entity", "Division"],
        "path": [["Europe"], ["Europe/Switzerland"], ["America", "USA"], ["Corporate"]],
        "query": ["(select (name platform) (from device) (limit 3))",
                  "(select (name number_of_executions) (from device (with execution (compute number_of_executions) "
                  "(between now-1d now))) (limit 5))"],
    }
    return world


class _Null:
    def write(self, text):
        return len(text)

    def flush(self):
        pass


def destroy_world(settings_before: dict | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_session")
    demo.truncate(demo.DemoContext(), demo.reset_tables())
    PlatformSettings.objects.all().delete()
    if settings_before is not None:
        PlatformSettings.objects.create(**settings_before)


def _refuse_network(self, request, *args, **kwargs):
    raise requests.ConnectionError(f"outgoing HTTP is disabled in the fuzz tests ({request.url})")


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fuzz-data")
    overrides = override_settings(PASSWORD_HASHERS=FAST_HASHERS, DATA_DIR=data_dir)
    overrides.enable()
    original_send, original_enqueue = requests.adapters.HTTPAdapter.send, exports.enqueue_export
    requests.adapters.HTTPAdapter.send = _refuse_network
    exports.enqueue_export = lambda export_id: None  # the world's exports commit: never reach the broker
    try:
        with django_db_blocker.unblock():
            row = PlatformSettings.objects.filter(pk=1).values().first()
            assert not Device.objects.exists(), "the fuzz tests need an empty database"
            try:
                yield build_world(data_dir)
            finally:
                destroy_world(row)
    finally:
        requests.adapters.HTTPAdapter.send, exports.enqueue_export = original_send, original_enqueue
        overrides.disable()


@pytest.fixture
def no_tasks(monkeypatch):
    """Celery is never reached: exports stay submitted, manual runs are 'queued' by a stub, classic Act
    calls run each Engine's task inline."""
    from exporters import services as exporter_services
    from remote_actions import classic

    monkeypatch.setattr(exports, "enqueue_export", lambda export_id: None)
    monkeypatch.setattr(exporter_services, "queue_run", lambda exporter, **kwargs: "fuzz-task-id")

    def inline_dispatch(call, the_plan, account):
        entity_ids = classic.view_domain_entities(account)
        for answer in the_plan.to_dispatch:
            outcome = classic.run_on_engine(
                str(the_plan.request_id), answer.engine_id, call.action.pk, call.device_uids, call.params,
                entity_ids, call.request_uid, account.get_username(),
            )
            answer.code, answer.message = outcome["code"], outcome["message"]

    monkeypatch.setattr(classic, "dispatch", inline_dispatch)



@pytest.fixture(scope="module")
def wsgi_app():
    """The project's WSGI application, run inside the test's transaction: Django's handlers would close
    the test's connection at the end of each request, so they are kept off while the module runs (as
    Django's test client does per request)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
