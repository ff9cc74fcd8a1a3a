"""The NQL API (``nql.md``): execute v1/v2, export, status, results links; every status and error body."""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
import uuid
from urllib.parse import urlsplit

import pytest
import zstandard
from django.core import signing
from django.test import Client

from engine import exports, services
from engine.models import NqlExport, SavedQuery
from engine.query.errors import QueryError, QueryTimeout
from tests.engine.nql_support import (
    FAST_HASHERS,
    make_credential,
    make_fleet,
    make_saved_queries,
    token_for,
)

EXECUTE_V1 = "/api/v1/nql/execute"
EXECUTE_V2 = "/api/v2/nql/execute"
EXPORT = "/api/v1/nql/export"
STATUS = "/api/v1/nql/status/"
WINDOWS = ["DEV-00001", "DEV-00002", 'Odd, "quoted" name']


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    settings.DATA_DIR = tmp_path


@pytest.fixture
def queued(monkeypatch) -> list[str]:
    """Exports handed to Celery (none is sent to a broker: the tests run them with ``run_export``)."""
    ids: list[str] = []
    monkeypatch.setattr(exports, "enqueue_export", ids.append)
    return ids


@pytest.fixture
def data(db, queued):
    make_fleet()
    return make_saved_queries()


@pytest.fixture
def client(data) -> Client:
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def token(client) -> str:
    make_credential("nql-test", "service:integration")
    return token_for(client, "nql-test")


class Api:
    def __init__(self, client: Client, token: str):
        self.client, self.token = client, token

    def headers(self, accept: str | None, token: str | None) -> dict:
        headers = {}
        token = self.token if token is None else token
        if token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        if accept is not None:
            headers["HTTP_ACCEPT"] = accept
        return headers

    def post(self, path, body, *, accept=None, token=None, raw=False):
        data = body if raw else json.dumps(body)
        return self.client.post(path, data, content_type="application/json", **self.headers(accept, token))

    def get(self, path, *, accept=None, token=None, **params):
        return self.client.get(path, params, **self.headers(accept, token))

    def execute(self, query_id, parameters=None, *, version=1, **kwargs):
        body = {"queryId": query_id}
        if parameters is not None:
            body["parameters"] = parameters
        return self.post(EXECUTE_V1 if version == 1 else EXECUTE_V2, body, **kwargs)

    def export(self, query_id, parameters=None, compression=None, **kwargs) -> str:
        body = {"queryId": query_id, "parameters": parameters or {}}
        if compression:
            body["compression"] = compression
        response = self.post(EXPORT, body, **kwargs)
        assert response.status_code == 200, response.content
        return response.json()["exportId"]

    def status(self, export_id, **kwargs):
        return self.get(STATUS + str(export_id), **kwargs)


@pytest.fixture
def api(client, token) -> Api:
    return Api(client, token)


def assert_error(response, status: int, source: str | None = None, contains: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) <= {"message", "code", "source"}
    assert body["code"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in body["message"]
    if source is not None:
        assert body.get("source") == source, body
    if contains is not None:
        assert contains in body["message"], body
    return body


def download(client: Client, url: str):
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "localhost", url
    return client.get(parts.path + (f"?{parts.query}" if parts.query else ""))


def content_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# -- execute: 200 -------------------------------------------------------------------------------


def test_v1_execute_answers_headers_data_and_the_execution_time(api):
    before = int(time.time())
    response = api.execute("#devices_on_platform", {"platform": "windows"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"queryId", "executedQuery", "rows", "executionDateTime", "headers", "data"}
    assert body["queryId"] == "#devices_on_platform"
    assert body["executedQuery"] == ("devices | where operating_system.platform == windows"
                                     " | list name, collector.uid | sort name asc")
    assert body["headers"] == ["device.name", "device.collector.uid"]
    assert body["rows"] == 3
    assert [row[0] for row in body["data"]] == WINDOWS
    assert body["data"][0][1] == "00000000-0000-4000-8000-000000000001"
    moment = body["executionDateTime"]
    assert list(moment) == ["year", "month", "day", "hour", "minute", "second"]
    assert all(type(value) is int for value in moment.values())
    from datetime import UTC, datetime

    stamp = datetime(moment["year"], moment["month"], moment["day"], moment["hour"], moment["minute"],
                     moment["second"], tzinfo=UTC).timestamp()
    assert before - 1 <= stamp <= time.time() + 1


def test_v2_execute_answers_objects_and_an_iso_execution_time(api):
    response = api.execute("#devices_with_cpus", {"cpus": "8"}, version=2)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"queryId", "executedQuery", "rows", "executionDateTime", "data"}
    assert body["executedQuery"] == ("devices | where hardware.number_of_cpus >= 8"
                                     " | list name, hardware.number_of_cpus | sort name asc")
    assert body["data"] == [{"device.name": "DEV-00002", "device.hardware.number_of_cpus": 8},
                            {"device.name": "MAC-00004", "device.hardware.number_of_cpus": 8}]
    assert body["rows"] == 2
    stamp = body["executionDateTime"]
    assert len(stamp) == 20 and stamp.endswith("Z") and stamp[10] == "T"


def test_json_values_follow_the_data_model(api):
    body = api.execute("#typed_values", version=2).json()
    assert body["data"] == [{
        "device.name": "DEV-00001",
        "device.last_seen": "2024-03-01T10:15:02Z",
        "device.hardware.memory": 8 * 1024**3,
        "device.boot.last_boot_duration": 12345,
        "device.hardware.system_drive_usage": 0.5,
        "device.last_ip_address": "10.0.0.1",
        "device.hardware.model": None,  # blank text is absent (null), as in the Web API
    }]


def test_a_query_without_parameters_accepts_no_parameters_field_or_an_empty_one(api):
    assert api.execute("#all_devices").json()["rows"] == 5
    assert api.execute("#all_devices", {}).json()["rows"] == 5
    assert api.post(EXECUTE_V1, {"queryId": "#all_devices", "parameters": None}).status_code == 200


def test_paths_answer_with_a_trailing_slash_without_redirecting(api):
    response = api.post(EXECUTE_V2 + "/", {"queryId": "#all_devices"})
    assert response.status_code == 200
    assert api.get(EXPORT + "/", queryId="#all_devices").status_code == 200


def test_a_credential_with_only_the_nql_scope_may_call_it(client, data):
    make_credential("nql-only", "nql")
    api = Api(client, token_for(client, "nql-only"))
    assert api.execute("#all_devices").status_code == 200


# -- execute: Accept ----------------------------------------------------------------------------


def test_accept_text_csv_answers_comma_separated_csv_with_a_header_line(api):
    response = api.execute("#devices_on_platform", {"platform": "windows"}, accept="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text.splitlines()[0] == "device.name,device.collector.uid"
    assert '"Odd, ""quoted"" name",00000000-0000-4000-8000-000000000003' in text.splitlines()
    assert csv_rows(text)[1:] == [[name, f"00000000-0000-4000-8000-{n:012x}"]
                                  for n, name in enumerate(WINDOWS, start=1)]


def test_accept_csv_on_v2_too(api):
    response = api.execute("#typed_values", version=2, accept="text/csv")
    assert csv_rows(response.content.decode()) == [
        ["device.name", "device.last_seen", "device.hardware.memory", "device.boot.last_boot_duration",
         "device.hardware.system_drive_usage", "device.last_ip_address", "device.hardware.model"],
        ["DEV-00001", "2024-03-01T10:15:02Z", str(8 * 1024**3), "12345", "0.5", "10.0.0.1", ""],
    ]


@pytest.mark.parametrize(("accept", "expected"), [
    ("application/json", "application/json"),
    ("*/*", "application/json"),
    ("application/json, text/csv", "application/json"),
    ("application/*", "application/json"),
    ("text/*", "text/csv; charset=utf-8"),
    ("text/csv;q=0.9, application/json;q=0.5", "text/csv; charset=utf-8"),
    ("text/csv;q=0.5, application/json;q=0.9", "application/json"),
])
def test_accept_negotiation(api, accept, expected):
    response = api.execute("#all_devices", accept=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == expected


def test_406_when_accept_allows_neither_json_nor_csv(api):
    assert_error(api.execute("#all_devices", accept="application/xml"), 406, "Accept")
    assert_error(api.execute("#all_devices", accept="application/json;q=0, text/html"), 406)


def test_406_on_status_when_accept_excludes_json(api):
    export_id = api.export("#all_devices")
    assert_error(api.status(export_id, accept="text/csv"), 406)


# -- row limits ---------------------------------------------------------------------------------


def test_execute_answers_at_most_nql_execute_max_rows(api, settings):
    settings.NQL_EXECUTE_MAX_ROWS = 3
    body = api.execute("#all_devices").json()
    assert body["rows"] == 3 and len(body["data"]) == 3
    assert [row[0] for row in body["data"]] == ["DEV-00001", "DEV-00002", "MAC-00004"]
    assert len(csv_rows(api.execute("#all_devices", accept="text/csv").content.decode())) == 4


def test_export_holds_at_most_nql_export_max_rows(api, settings, queued):
    settings.NQL_EXPORT_MAX_ROWS = 3
    export_id = api.export("#all_devices")
    assert exports.run_export(export_id) == "COMPLETED"
    response = download(api.client, api.status(export_id).json()["resultsFileUrl"])
    assert len(csv_rows(content_of(response).decode())) == 4
    assert NqlExport.objects.get(pk=export_id).row_count == 3


# -- 400 ----------------------------------------------------------------------------------------


def test_400_for_a_body_that_is_not_json(api):
    assert_error(api.post(EXECUTE_V1, "queryId=#all_devices", raw=True), 400, "body")


def test_400_for_a_json_body_that_is_not_an_object(api):
    assert_error(api.post(EXECUTE_V1, ["#all_devices"]), 400, "body")


def test_400_for_an_empty_body(api):
    assert_error(api.post(EXECUTE_V2, "", raw=True), 400, "body")


def test_400_for_an_unknown_field(api):
    assert_error(api.post(EXECUTE_V1, {"queryId": "#all_devices", "limit": 3}), 400, "limit", "unknown field")
    # compression belongs to export only
    assert_error(api.post(EXECUTE_V1, {"queryId": "#all_devices", "compression": "GZIP"}), 400, "compression")


def test_400_for_a_missing_query_id(api):
    assert_error(api.post(EXECUTE_V1, {"parameters": {}}), 400, "queryId")


def test_400_for_a_query_id_that_is_not_a_string(api):
    assert_error(api.post(EXECUTE_V1, {"queryId": 12}), 400, "queryId")


def test_400_for_a_malformed_query_id(api):
    assert_error(api.post(EXECUTE_V1, {"queryId": "all_devices"}), 400, "queryId")
    assert_error(api.post(EXECUTE_V1, {"queryId": "#All_Devices"}), 400, "queryId")


def test_400_for_parameters_that_are_not_an_object(api):
    assert_error(api.post(EXECUTE_V1, {"queryId": "#all_devices", "parameters": ["windows"]}), 400, "parameters")


def test_400_for_a_parameter_value_that_is_not_a_string(api):
    response = api.post(EXECUTE_V1, {"queryId": "#devices_with_cpus", "parameters": {"cpus": 8}})
    assert_error(response, 400, "parameters.cpus")


def test_400_for_a_missing_parameter(api):
    assert_error(api.execute("#devices_on_platform", {}), 400, "parameters", "$platform")


def test_400_for_a_parameter_the_query_does_not_use(api):
    assert_error(api.execute("#devices_on_platform", {"platform": "windows", "other": "x"}), 400, "parameters",
                 "$other")
    assert_error(api.execute("#all_devices", {"platform": "windows"}), 400, "parameters")


def test_400_for_an_enum_parameter_value_that_does_not_convert(api):
    assert_error(api.execute("#devices_on_platform", {"platform": "linux"}), 400, "parameters.platform", "linux")


def test_400_for_an_integer_parameter_value_that_does_not_convert(api):
    assert_error(api.execute("#devices_with_cpus", {"cpus": "eight"}), 400, "parameters.cpus", "eight")


def test_400_for_a_saved_query_whose_text_no_longer_compiles(api):
    SavedQuery.objects.filter(nql_id="#all_devices").update(text="devices | list no_such_field")
    assert_error(api.execute("#all_devices"), 400, "query", "no_such_field")


def test_400_for_an_unknown_compression(api):
    response = api.post(EXPORT, {"queryId": "#all_devices", "compression": "ZIP"})
    assert_error(response, 400, "compression")


def test_400_for_a_repeated_query_string_parameter_on_get_export(api):
    response = api.client.get(EXPORT + "?queryId=%23devices_on_platform&platform=windows&platform=mac_os",
                              HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert_error(response, 400, "parameters.platform")


# -- 401, 403, 404, 405, 429, 500, 503 ----------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic bnFsLXRlc3Q6eA==", "Bearer"])
def test_401_has_no_body_and_a_bearer_challenge(client, token, authorization):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    for response in (
        client.post(EXECUTE_V1, json.dumps({"queryId": "#all_devices"}), content_type="application/json", **extra),
        client.get(EXPORT, {"queryId": "#all_devices"}, **extra),
        client.get(STATUS + str(uuid.uuid4()), **extra),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"
        assert response.content == b""


def test_403_when_the_token_lacks_the_nql_scope(client, data):
    make_credential("actions-only", "remote_actions")
    api = Api(client, token_for(client, "actions-only"))
    assert_error(api.execute("#all_devices"), 403)
    assert_error(api.get(EXPORT, queryId="#all_devices"), 403)
    assert_error(api.status(uuid.uuid4()), 403)


def test_404_for_an_unknown_query_id(api):
    assert_error(api.execute("#no_such_query"), 404, "queryId", "#no_such_query")
    assert_error(api.post(EXPORT, {"queryId": "#no_such_query"}), 404, "queryId")


def test_404_for_an_unknown_export_id(api):
    assert_error(api.status(uuid.uuid4()), 404, "exportId")
    assert_error(api.status("not-a-uuid"), 404, "exportId")


def test_404_for_the_export_of_another_credential(api, client):
    export_id = api.export("#all_devices")
    make_credential("someone-else", "nql")
    other = Api(client, token_for(client, "someone-else"))
    assert_error(other.status(export_id), 404)
    assert api.status(export_id).status_code == 200


def test_405_in_the_error_shape(api):
    assert_error(api.get(EXECUTE_V1), 405)


def test_429_with_retry_after_when_too_many_exports_wait(api, settings):
    settings.NQL_MAX_PENDING_EXPORTS = 2
    api.export("#all_devices")
    api.export("#all_devices")
    response = api.post(EXPORT, {"queryId": "#all_devices"})
    assert_error(response, 429, contains="too many exports")
    assert int(response["Retry-After"]) > 0
    for export in NqlExport.objects.all():
        exports.run_export(str(export.pk))
    assert api.post(EXPORT, {"queryId": "#all_devices"}).status_code == 200


def test_500_is_logged_with_a_request_id_and_answered_without_a_trace(api, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("database exploded: secret detail")

    monkeypatch.setattr(services, "execute", broken)
    body = assert_error(api.execute("#all_devices"), 500, contains="request id")
    assert "secret detail" not in body["message"]
    request_id = body["message"].rsplit(" ", 1)[-1].rstrip(")")
    assert any(request_id in record.getMessage() for record in caplog.records)


def test_503_when_the_query_times_out(api, monkeypatch):
    def slow(*args, **kwargs):
        raise QueryTimeout("the query ran longer than 60000ms and was cancelled")

    monkeypatch.setattr(services, "execute", slow)
    assert_error(api.execute("#all_devices", version=2), 503, contains="cancelled")


# -- export life cycle --------------------------------------------------------------------------


def test_export_life_cycle_without_compression(api, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        export_id = api.export("#devices_on_platform", {"platform": "windows"})
    assert uuid.UUID(export_id)
    assert queued == [export_id]
    assert api.status(export_id).json() == {"status": "SUBMITTED"}

    assert exports.run_export(export_id) == "COMPLETED"
    status = api.status(export_id).json()
    assert set(status) == {"status", "resultsFileUrl"}
    assert status["status"] == "COMPLETED"
    assert status["resultsFileUrl"].startswith("http://localhost/api/v1/nql/results/")

    response = download(Client(), status["resultsFileUrl"])  # no token needed
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert csv_rows(content_of(response).decode()) == [
        ["device.name", "device.collector.uid"],
        *([name, f"00000000-0000-4000-8000-{n:012x}"] for n, name in enumerate(WINDOWS, start=1)),
    ]
    export = NqlExport.objects.get(pk=export_id)
    assert export.executed_query == ("devices | where operating_system.platform == windows"
                                     " | list name, collector.uid | sort name asc")
    assert export.row_count == 3 and export.parameters == {"platform": "windows"}
    assert export.requested_by.client_id == "nql-test"
    assert export.started and export.finished and export.attempts == 1


def test_gzip_export_file_holds_the_compressed_csv(api):
    export_id = api.export("#all_devices", compression="GZIP")
    exports.run_export(export_id)
    export = NqlExport.objects.get(pk=export_id)
    assert export.file_path.endswith(".csv.gz")
    on_disk = (exports.exports_dir() / export.file_path).read_bytes()
    response = download(api.client, api.status(export_id).json()["resultsFileUrl"])
    assert response["Content-Type"] == "application/gzip"
    assert content_of(response) == on_disk
    rows = csv_rows(gzip.decompress(on_disk).decode("utf-8"))
    assert rows[0] == ["device.name", "device.collector.uid", "device.operating_system.platform", "device.entity"]
    assert rows[1] == ["DEV-00001", "00000000-0000-4000-8000-000000000001", "windows", "Lausanne"]
    assert len(rows) == 6


def test_zstd_export_file_holds_the_compressed_csv(api):
    export_id = api.export("#all_devices", compression="ZSTD")
    exports.run_export(export_id)
    response = download(api.client, api.status(export_id).json()["resultsFileUrl"])
    assert response["Content-Type"] == "application/zstd"
    text = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(content_of(response))).read().decode()
    assert len(csv_rows(text)) == 6


def test_get_export_reads_query_id_and_compression_and_takes_the_rest_as_parameters(api):
    response = api.client.get(EXPORT + "?queryId=%23devices_on_platform&compression=GZIP&platform=mac_os",
                              HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert response.status_code == 200, response.content
    export = NqlExport.objects.get(pk=response.json()["exportId"])
    assert export.compression == "GZIP" and export.parameters == {"platform": "mac_os"}
    exports.run_export(str(export.pk))
    content = gzip.decompress(content_of(download(api.client, api.status(export.pk).json()["resultsFileUrl"])))
    assert csv_rows(content.decode())[1:] == [["MAC-00004", "00000000-0000-4000-8000-000000000004"]]


def test_export_validates_parameters_before_accepting(api, queued):
    assert_error(api.post(EXPORT, {"queryId": "#devices_on_platform", "parameters": {"platform": "linux"}}), 400,
                 "parameters.platform")
    assert_error(api.post(EXPORT, {"queryId": "#devices_on_platform"}), 400, "parameters")
    assert queued == [] and not NqlExport.objects.exists()


def test_an_export_that_fails_reports_error_with_a_description(api, monkeypatch):
    export_id = api.export("#all_devices")

    def refuse(*args, **kwargs):
        raise QueryError("a value of the query is out of range: integer out of range")

    monkeypatch.setattr(services, "execute", refuse)
    assert exports.run_export(export_id) == "ERROR"
    assert api.status(export_id).json() == {
        "status": "ERROR", "errorDescription": "a value of the query is out of range: integer out of range",
    }
    assert list(exports.exports_dir().glob("*")) == []  # no partial file left


def test_an_unexpected_export_failure_is_an_error_with_a_request_id(api, monkeypatch):
    export_id = api.export("#all_devices")
    monkeypatch.setattr(exports, "write_export_file", lambda *a, **k: 1 / 0)
    assert exports.run_export(export_id) == "ERROR"
    assert "internal error (request id" in api.status(export_id).json()["errorDescription"]


def test_a_redelivered_completed_export_does_nothing(api, monkeypatch):
    export_id = api.export("#all_devices")
    assert exports.run_export(export_id) == "COMPLETED"
    finished = NqlExport.objects.get(pk=export_id).finished

    monkeypatch.setattr(services, "execute", lambda *a, **k: pytest.fail("ran the query again"))
    assert exports.run_export(export_id) == "COMPLETED"
    export = NqlExport.objects.get(pk=export_id)
    assert export.attempts == 1 and export.finished == finished


def test_an_export_left_in_progress_by_a_dead_worker_is_redone(api):
    export_id = api.export("#all_devices", compression="GZIP")
    NqlExport.objects.filter(pk=export_id).update(status="IN_PROGRESS", attempts=1)
    # what the dead worker left behind
    exports.exports_dir().mkdir(parents=True)
    (exports.exports_dir() / f"{export_id}.csv.gz.1.deadbeef.part").write_bytes(b"half a fi")
    assert exports.run_export(export_id) == "COMPLETED"
    export = NqlExport.objects.get(pk=export_id)
    assert export.attempts == 2 and export.row_count == 5
    assert len(csv_rows(gzip.decompress((exports.exports_dir() / export.file_path).read_bytes()).decode())) == 6


def test_a_stale_attempt_does_not_overwrite_the_one_that_took_over(api):
    export_id = api.export("#all_devices")
    export = NqlExport.objects.get(pk=export_id)
    NqlExport.objects.filter(pk=export_id).update(status="IN_PROGRESS", attempts=2)
    assert exports._finish(export, 1, "ERROR", error_description="old attempt") == "IN_PROGRESS"
    assert NqlExport.objects.get(pk=export_id).error_description == ""


# -- signed results links -----------------------------------------------------------------------


def test_results_link_is_valid_15_minutes(api, monkeypatch):
    export_id = api.export("#all_devices")
    exports.run_export(export_id)
    url = api.status(export_id).json()["resultsFileUrl"]
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 14 * 60 + 50)
    assert download(Client(), url).status_code == 200
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 15 * 60 + 2)
    assert_error(download(Client(), url), 403, contains="expired")
    # a fresh status gives a fresh link
    fresh = api.status(export_id).json()["resultsFileUrl"]
    assert download(Client(), fresh).status_code == 200


def test_a_forged_results_link_is_refused(api):
    export_id = api.export("#all_devices")
    exports.run_export(export_id)
    url = api.status(export_id).json()["resultsFileUrl"]
    forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert_error(download(Client(), forged), 403, contains="not valid")
    other = signing.TimestampSigner(salt="another-salt").sign(export_id)
    assert_error(Client().get(f"/api/v1/nql/results/{other}"), 403)


def test_404_when_the_results_file_is_gone(api):
    export_id = api.export("#all_devices")
    exports.run_export(export_id)
    url = api.status(export_id).json()["resultsFileUrl"]
    (exports.exports_dir() / NqlExport.objects.get(pk=export_id).file_path).unlink()
    assert_error(download(Client(), url), 404)


def test_results_url_is_on_the_host_the_request_came_to(api, settings):
    settings.ALLOWED_HOSTS = ["*"]
    export_id = api.export("#all_devices")
    exports.run_export(export_id)
    response = api.client.get(STATUS + export_id, HTTP_HOST="engine-9.example.org:8443",
                              HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert response.json()["resultsFileUrl"].startswith("http://engine-9.example.org:8443/api/v1/nql/results/")


# -- a real Celery worker -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_export_runs_end_to_end_on_a_real_worker(celery_worker_queue, monkeypatch, settings, tmp_path):
    from engine.tasks import run_nql_export

    settings.DATA_DIR = tmp_path  # the worker's OPENDEX_DATA_DIR
    monkeypatch.setattr(exports, "enqueue_export",
                        lambda export_id: run_nql_export.apply_async(args=[export_id], queue=celery_worker_queue))
    make_fleet()
    make_saved_queries()
    make_credential("nql-worker", "nql")
    client = Client(HTTP_HOST="localhost")
    api = Api(client, token_for(client, "nql-worker"))

    export_id = api.export("#devices_on_platform", {"platform": "windows"}, compression="GZIP")
    deadline = time.monotonic() + 60
    status = api.status(export_id).json()
    while status["status"] in ("SUBMITTED", "IN_PROGRESS") and time.monotonic() < deadline:
        time.sleep(0.2)
        status = api.status(export_id).json()
    assert status["status"] == "COMPLETED", (status, (tmp_path / "worker.log").read_text(errors="replace"))
    content = gzip.decompress(content_of(download(client, status["resultsFileUrl"]))).decode()
    assert [row[0] for row in csv_rows(content)] == ["device.name", *WINDOWS]
    # delivered again (as after a lost acknowledgement): nothing is redone
    run_nql_export.apply_async(args=[export_id], queue=celery_worker_queue).get(timeout=30)
    assert NqlExport.objects.get(pk=export_id).attempts == 1


# -- JSON values --------------------------------------------------------------------------------


def test_json_value_conventions():
    from datetime import UTC, datetime
    from decimal import Decimal
    from ipaddress import ip_interface

    from engine.schema import FieldType

    assert exports.json_value(None, FieldType.INT) is None
    assert exports.json_value(Decimal("42"), FieldType.BYTES) == 42
    assert type(exports.json_value(Decimal("42"), FieldType.BYTES)) is int
    assert exports.json_value(Decimal("2.5"), FieldType.DURATION) == 2.5
    assert exports.json_value(3, FieldType.PERCENT) == 3.0
    assert exports.json_value(float("nan"), FieldType.REAL) is None
    assert exports.json_value(Decimal("Infinity"), FieldType.REAL) is None
    assert exports.json_value(datetime(2024, 3, 1, 10, 15, 2, 999999, tzinfo=UTC), FieldType.DATETIME) \
        == "2024-03-01T10:15:02Z"
    assert exports.json_value(datetime(2024, 3, 1, 10, 15, 2), FieldType.DATETIME) == "2024-03-01T10:15:02Z"
    assert exports.json_value(ip_interface("10.1.2.3/32"), FieldType.IP) == "10.1.2.3"
    assert exports.json_value(ip_interface("10.1.0.0/16"), FieldType.IP) == "10.1.0.0/16"
    assert exports.json_value(["a", None], FieldType.LIST) == ["a", None]
    assert exports.json_value({"Uptime": Decimal("5")}, FieldType.STRING) == {"Uptime": 5}
    assert exports.json_value(True, FieldType.BOOL) is True
