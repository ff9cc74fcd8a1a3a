"""The ``nexthink-api`` PyPI client (0.1.x) against the live test server: token, execute v1 and v2, export,
wait, download.

The client builds its URLs from ``NxtSettings.base_url`` and ``login_base_url`` (class attributes,
``https://{instance}.api.{region}.nexthink.cloud``); pointing both at the live server (plain http)
is all it takes: it asks for tokens at ``login_base_url + /oauth2/default/v1/token`` with the
``service:integration`` scope and calls ``/api/v1/nql/execute``, ``/api/v2/nql/execute``,
``/api/v1/nql/export`` and ``/api/v1/nql/status/{exportId}``, then GETs ``resultsFileUrl``.
"""

from __future__ import annotations

import gzip

import pytest

from engine import exports
from tests.engine.nql_support import SECRET, make_credential, make_fleet, make_saved_queries

nexthink_api = pytest.importorskip("nexthink_api")

from nexthink_api import (  # noqa: E402
    NexthinkClient,
    NxtErrorResponse,
    NxtNqlApiExecuteRequest,
    NxtNqlApiExecuteResponse,
    NxtNqlApiExecuteV2Response,
    NxtNqlApiExportResponse,
    NxtNqlApiStatusResponse,
    NxtNqlStatus,
    NxtRegionName,
    NxtSettings,
)

WINDOWS = ["DEV-00001", "DEV-00002", 'Odd, "quoted" name']


@pytest.fixture
def nexthink(live_server, monkeypatch, settings, tmp_path) -> NexthinkClient:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.DATA_DIR = tmp_path
    # No proxy for the live server, whatever the environment says.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setattr(NxtSettings, "base_url", live_server.url)
    monkeypatch.setattr(NxtSettings, "login_base_url", live_server.url)
    # Exports run at once in the server's thread (no broker in these tests).
    monkeypatch.setattr(exports, "enqueue_export", exports.run_export)
    make_fleet()
    make_saved_queries()
    make_credential("nexthink-client", "service:integration")
    return NexthinkClient(instance="opendex", region=NxtRegionName.eu, client_id="nexthink-client",
                          client_secret=SECRET, proxies=False)


@pytest.mark.django_db(transaction=True)
def test_the_client_gets_a_token_and_executes_v1_and_v2(nexthink):
    assert nexthink.token is not None and nexthink.token.expires_in == 900
    request = NxtNqlApiExecuteRequest(queryId="#devices_on_platform", parameters={"platform": "windows"})

    v1 = nexthink.nql.execute(request, version="v1")
    assert isinstance(v1, NxtNqlApiExecuteResponse), v1
    assert v1.headers == ["device.name", "device.collector.uid"]
    assert [row[0] for row in v1.data] == WINDOWS and v1.rows == 3
    assert v1.executedQuery.startswith("devices | where operating_system.platform == windows")

    v2 = nexthink.nql.execute(request, version="v2")
    assert isinstance(v2, NxtNqlApiExecuteV2Response), v2
    assert [row["device.name"] for row in v2.data] == WINDOWS
    assert v2.executionDateTime.endswith("Z")


@pytest.mark.django_db(transaction=True)
def test_the_client_exports_waits_and_downloads(nexthink):
    request = NxtNqlApiExecuteRequest(queryId="#all_devices")
    started = nexthink.nql.export(request)
    assert isinstance(started, NxtNqlApiExportResponse), started

    status = nexthink.nql.wait(started, timeout=30)
    assert isinstance(status, NxtNqlApiStatusResponse), status
    assert status.status == NxtNqlStatus.COMPLETED
    assert str(status.resultsFileUrl).startswith(str(nexthink.settings.infinity_base_uri).rstrip("/"))

    response = nexthink.nql.download(status)
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert lines[0] == "device.name,device.collector.uid,device.operating_system.platform,device.entity"
    assert len(lines) == 6

    frame = nexthink.nql.download_dataframe(status)
    assert list(frame.columns) == ["device.name", "device.collector.uid", "device.operating_system.platform",
                                   "device.entity"]
    assert frame["device.name"].tolist()[:3] == ["DEV-00001", "DEV-00002", "MAC-00004"]


@pytest.mark.django_db(transaction=True)
def test_the_client_downloads_a_gzip_export_by_get(nexthink):
    # The client's GET export passes the request model as query parameters.
    from nexthink_api import NxtEndpoint

    started = nexthink.nql.run_nql(NxtEndpoint.NqlExport,
                                   {"queryId": "#devices_on_platform", "platform": "mac_os", "compression": "GZIP"},
                                   method="GET")
    assert isinstance(started, NxtNqlApiExportResponse), started
    status = nexthink.nql.wait(started, timeout=30)
    content = gzip.decompress(nexthink.nql.download(status).content).decode()
    assert content.splitlines() == ["device.name,device.collector.uid",
                                    "MAC-00004,00000000-0000-4000-8000-000000000004"]


@pytest.mark.django_db(transaction=True)
def test_the_client_reads_our_404s(nexthink):
    missing = nexthink.nql.execute(NxtNqlApiExecuteRequest(queryId="#no_such_query"), version="v2")
    assert isinstance(missing, NxtErrorResponse) and missing.code == 404
    unknown = nexthink.nql.get_status_export(NxtNqlApiExportResponse(exportId="0" * 8 + "-0000-4000-8000-" + "0" * 12))
    assert isinstance(unknown, NxtErrorResponse) and unknown.code == 404
