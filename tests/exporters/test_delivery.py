"""Exporter delivery against real local HTTP servers: exact bodies of each payload structure, typed
placeholders, batching by records and bytes, retries (5xx, 408, 429, timeouts, refused connections),
``Retry-After``, 4xx failing at once, run figures, and each authentication type including OAuth2
with a token server that expires and revokes tokens."""

import base64
import email.utils
import json
import time
from datetime import UTC, datetime

import pytest

from exporters.delivery import DeliveryFailed, Destination, backoff_seconds, retry_after_seconds
from exporters.models import Exporter, ExporterRun
from exporters.services import run_exporter
from tests.factories import make_device

from .sink import Answer, Sink, TokenServer, free_port, make_credential, make_exporter

NOW = datetime(2026, 1, 5, 1, 10, tzinfo=UTC)
SEEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DEVICES = "devices | list name, hardware.memory | sort name asc"
JSON_TYPE = "application/json; charset=utf-8"

# A run writes its progress on a second database connection: runs need committed rows.
run_db = pytest.mark.django_db(transaction=True)


def devices(count: int, **fields) -> None:
    for number in range(1, count + 1):
        make_device(number, total_ram=number * 1024, **fields)


def run(exporter: Exporter, trigger: str = ExporterRun.MANUAL) -> ExporterRun:
    return run_exporter(exporter.pk, trigger, now=NOW)


# -- payload structures and placeholders -------------------------------------------------------------


@run_db
@pytest.mark.parametrize(("structure", "payload", "body", "content_type"), [
    ("collection", '{"name": "{{device.name}}", "ram": "{{device.hardware.memory}}"}',
     b'{"name":"DEV-00001","ram":1024}\n{"name":"DEV-00002","ram":2048}\n{"name":"DEV-00003","ram":3072}\n',
     "application/x-ndjson"),
    ("array", '{"name": "{{device.name}}", "ram": "{{device.hardware.memory}}"}',
     b'[{"name":"DEV-00001","ram":1024},{"name":"DEV-00002","ram":2048},{"name":"DEV-00003","ram":3072}]',
     JSON_TYPE),
    ("object_with_array", '{"source": "opendex", "records": [{"n": "{{device.name}}"}], "version": 2}',
     b'{"source":"opendex","records":[{"n":"DEV-00001"},{"n":"DEV-00002"},{"n":"DEV-00003"}],"version":2}',
     JSON_TYPE),
])
def test_each_payload_structure_sends_its_exact_body(sink, structure, payload, body, content_type):
    devices(3)
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, structure, payload)])
    result = run(exporter)
    assert result.status == ExporterRun.SUCCESS, result.last_error
    [request] = sink.requests
    assert request.body == body
    assert request.headers["Content-Type"] == content_type
    assert (request.method, request.path) == ("POST", "/api/records")
    assert (result.records_sent, result.batches_sent, result.bytes_sent) == (3, 1, len(body))


@run_db
def test_typed_placeholders_and_escaping_end_to_end(sink):
    make_device(1, name='pc "one"\n"},{"injected": true}', total_ram=8_589_934_592, system_drive_usage=0.25,
                last_seen=SEEN, number_of_cpus=8, last_ip_address="10.1.2.3")
    make_device(2, name="pc-two")  # no memory, usage, time, CPUs or address: nulls
    nql = ("devices | list name, hardware.memory, hardware.system_drive_usage, last_seen, "
           "hardware.number_of_cpus, last_ip_address | sort hardware.number_of_cpus desc")
    payload = json.dumps({
        "name": "{{device.name}}", "ram": "{{device.hardware.memory}}",
        "usage": "{{device.hardware.system_drive_usage}}", "seen": "{{device.last_seen}}",
        "cpus": "{{device.hardware.number_of_cpus}}", "ip": "{{device.last_ip_address}}",
        "text": "{{device.name}} has {{device.hardware.memory}} B, seen {{ device.last_seen }}",
        "constant": {"kind": "device", "list": [1, "{{device.hardware.number_of_cpus}}"]},
    })
    exporter = make_exporter(make_credential(sink.url), [(nql, "array", payload)])
    assert run(exporter).status == ExporterRun.SUCCESS
    records = sink.requests[0].json()  # the body is valid JSON whatever the names hold
    first = {"name": 'pc "one"\n"},{"injected": true}', "ram": 8_589_934_592, "usage": 0.25,
             "seen": "2026-01-02T03:04:05Z", "cpus": 8, "ip": "10.1.2.3",
             "text": 'pc "one"\n"},{"injected": true} has 8589934592 B, seen 2026-01-02T03:04:05Z',
             "constant": {"kind": "device", "list": [1, 8]}}
    second = {"name": "pc-two", "ram": None, "usage": None, "seen": None, "cpus": None, "ip": None,
              "text": "pc-two has  B, seen ", "constant": {"kind": "device", "list": [1, None]}}
    assert sorted(records, key=lambda record: record["name"]) == sorted([first, second], key=lambda r: r["name"])
    assert b'"ram":8589934592' in sink.requests[0].body and b'"usage":0.25' in sink.requests[0].body


@run_db
def test_a_template_without_placeholders_sends_the_same_constant_record(sink):
    devices(2)
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "collection", '{"ping": true, "n": [1]}')])
    assert run(exporter).status == ExporterRun.SUCCESS
    assert sink.requests[0].body == b'{"ping":true,"n":[1]}\n{"ping":true,"n":[1]}\n'


# -- batching --------------------------------------------------------------------------------------


@run_db
def test_batches_close_at_batch_size_records(sink):
    devices(7)
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", '{"n": "{{device.name}}"}')],
                             batch_size=3)
    result = run(exporter)
    bodies = [request.json() for request in sink.requests]
    assert [len(body) for body in bodies] == [3, 3, 1]
    assert [record["n"] for body in bodies for record in body] == [f"DEV-{n:05d}" for n in range(1, 8)]
    assert (result.records_sent, result.batches_sent, result.attempts) == (7, 3, 3)
    assert result.bytes_sent == sum(len(request.body) for request in sink.requests)


@run_db
def test_batches_close_at_max_request_bytes_and_an_oversized_record_goes_alone(sink):
    devices(5)
    make_device(3000, name="DEV-00003-" + "x" * 200)  # sorts third; larger than a request may be
    record = len(b'{"n":"DEV-00001"}')
    # "[" + two records + "," + "]" fits, three do not
    limit = 2 + 2 * record + 1
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", '{"n": "{{device.name}}"}')],
                             max_request_bytes=limit)
    result = run(exporter)
    assert result.status == ExporterRun.SUCCESS
    sizes = [len(request.json()) for request in sink.requests]
    assert sizes == [2, 1, 1, 2]  # 1-2, 3, the big one alone, 4-5
    assert sink.requests[2].json()[0]["n"].startswith("DEV-00003-xxx")
    assert all(len(request.body) <= limit for position, request in enumerate(sink.requests) if position != 2)
    assert result.records_sent == 6 and result.batches_sent == 4


# -- retries ---------------------------------------------------------------------------------------


@run_db
def test_503_is_retried_then_succeeds_quickly_with_backoff(sink, fast_retries):
    devices(2)
    sink.script(503, 503)
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", '{"n": "{{device.name}}"}')])
    result = run(exporter)
    assert sink.requests[-1].at - sink.requests[0].at < 0.5  # backoff from a 10 ms base, no Retry-After
    assert result.status == ExporterRun.SUCCESS
    assert len(sink.requests) == 3 and len({request.body for request in sink.requests}) == 1
    assert (result.records_sent, result.batches_sent, result.attempts) == (2, 1, 3)
    assert result.last_status == 200 and result.last_error == ""


@run_db
def test_retry_after_is_honoured(sink, fast_retries):
    devices(1)
    sink.script((503, {"Retry-After": "1"}, b"busy"))
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", '{"n": "{{device.name}}"}')])
    assert run(exporter).status == ExporterRun.SUCCESS
    first, second = sink.requests
    assert second.at - first.at >= 1.0


@pytest.mark.django_db
def test_retry_after_is_capped_and_429_is_retried(sink, fast_retries, settings):
    settings.EXPORT_RETRY_AFTER_MAX_SECONDS = 0.1
    sink.script((429, {"Retry-After": "3600"}, b"slow down"))
    with Destination(Exporter(credential=make_credential(sink.url), resource="x", max_attempts=3)) as destination:
        sent = destination.send(b"[]", JSON_TYPE)
    assert (sent.status, sent.attempts) == (200, 2)
    first, second = sink.requests
    assert 0.1 <= second.at - first.at < 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(sink, fast_retries, status):
    sink.script(status)
    with Destination(Exporter(credential=make_credential(sink.url), resource="x", max_attempts=3)) as destination:
        sent = destination.send(b"[]", JSON_TYPE)
    assert (sent.status, sent.attempts, len(sink.requests)) == (200, 2, 2)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 302])
def test_other_statuses_fail_at_once(sink, fast_retries, status):
    sink.script(Answer(status, {"Location": "/elsewhere"} if status == 302 else {}, b'{"error": "refused"}'))
    exporter = Exporter(credential=make_credential(sink.url), resource="x", max_attempts=5)
    with Destination(exporter) as destination, pytest.raises(DeliveryFailed) as caught:
        destination.send(b"[]", JSON_TYPE)
    assert len(sink.requests) == 1
    assert caught.value.status == status and caught.value.answer == '{"error": "refused"}'


@pytest.mark.django_db
def test_gives_up_after_max_attempts(sink, fast_retries):
    sink.default = Answer(503, body=b"down")
    exporter = Exporter(credential=make_credential(sink.url), resource="x", max_attempts=4)
    with Destination(exporter) as destination, pytest.raises(DeliveryFailed) as caught:
        destination.send(b"[]", JSON_TYPE)
    assert len(sink.requests) == 4
    assert caught.value.status == 503 and "gave up after 4 attempts" in str(caught.value)


@run_db
def test_400_is_not_retried_and_the_run_keeps_the_status_and_2_kb_of_the_answer(sink, fast_retries):
    devices(3)
    answer = b'{"error": "bad field"}' + b"e" * 3000
    sink.script((400, {}, answer))
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", '{"n": "{{device.name}}"}')],
                             batch_size=1)
    result = run(exporter)
    assert len(sink.requests) == 1
    assert result.status == ExporterRun.FAILED and result.last_status == 400
    assert (result.records_sent, result.batches_sent, result.attempts) == (0, 0, 1)
    message, _, kept = result.last_error.partition("\n")
    assert message == f"POST {sink.url}/api/records answered HTTP 400"
    assert kept == answer[:2048].decode()
    assert result.finished_at is not None and result.duration_ms >= 0


@run_db
def test_a_refused_connection_is_retried_then_the_run_fails_with_the_error(fast_retries):
    devices(1)
    url = f"http://127.0.0.1:{free_port()}"
    exporter = make_exporter(make_credential(url), [(DEVICES, "array", '{"n": "{{device.name}}"}')],
                             max_attempts=3)
    result = run(exporter)
    assert result.status == ExporterRun.FAILED
    assert result.attempts == 3 and result.records_sent == 0 and result.last_status is None
    assert f"POST {url}/api/records connection failed" in result.last_error
    assert "gave up after 3 attempts" in result.last_error


@run_db
def test_a_read_timeout_is_retried(sink, fast_retries, settings):
    settings.EXPORT_READ_TIMEOUT = 0.3
    devices(2)
    sink.script(Answer(200, delay=1.0))
    exporter = make_exporter(make_credential(sink.url), [(DEVICES, "array", '{"n": "{{device.name}}"}')])
    result = run(exporter)
    assert result.status == ExporterRun.SUCCESS and result.attempts == 2
    # at-least-once: the destination saw the batch twice, the run counts it once
    assert len(sink.requests) == 2 and sink.requests[0].body == sink.requests[1].body
    assert result.records_sent == 2 and result.batches_sent == 1


def test_backoff_is_capped_exponential_with_full_jitter(settings):
    settings.EXPORT_RETRY_BASE_SECONDS = 1
    settings.EXPORT_RETRY_MAX_SECONDS = 60
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (20, 60)]:
        waits = [backoff_seconds(attempt) for _ in range(300)]
        assert all(0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling * 0.7 and min(waits) < ceiling * 0.3  # spread over the whole range


def test_retry_after_forms():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= retry_after_seconds(date, now=now) <= 31
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


# -- authentication ----------------------------------------------------------------------------------


@run_db
def test_basic_auth_extra_headers_and_url_join(sink):
    devices(1)
    credential = make_credential(sink.url + "/base/", auth_type="basic", username="opendex", password="pa55",
                                 token="", extra_headers={"X-Source": "opendex"})
    exporter = make_exporter(credential, [(DEVICES, "array", '{"n": "{{device.name}}"}')], method="PUT",
                             resource="/api/now/import/u_devices/insertMultiple?sysparm_x=1")
    assert run(exporter).status == ExporterRun.SUCCESS
    [request] = sink.requests
    assert request.method == "PUT"
    assert request.path == "/base/api/now/import/u_devices/insertMultiple?sysparm_x=1"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"opendex:pa55").decode()
    assert request.headers["X-Source"] == "opendex"


@run_db
def test_bearer_auth(sink):
    devices(1)
    exporter = make_exporter(make_credential(sink.url, token="t0ken"), [(DEVICES, "array", '{"n": "x"}')],
                             method="PATCH")
    assert run(exporter).status == ExporterRun.SUCCESS
    assert sink.requests[0].headers["Authorization"] == "Bearer t0ken"
    assert sink.requests[0].method == "PATCH"


@pytest.fixture
def tokens():
    with TokenServer() as server:
        yield server


@pytest.fixture
def protected(tokens):
    """A destination that accepts only the token server's valid tokens (401 otherwise)."""

    def answer(received):
        return None if tokens.valid(received.headers.get("Authorization")) else Answer(401, body=b'{"error": "token"}')

    with Sink(responder=answer) as server:
        yield server


def oauth_exporter(tokens, destination, **fields):
    credential = make_credential(destination.url, auth_type="oauth2_client_credentials", token="",
                                 token_url=tokens.url + "/oauth/token", client_id="opendex-client",
                                 client_secret="s3cret", scope="export", audience="https://tool",
                                 **fields)
    return make_exporter(credential, [(DEVICES, "array", '{"n": "{{device.name}}"}')], batch_size=1)


@run_db
def test_oauth2_token_is_fetched_once_and_cached_across_batches(tokens, protected):
    devices(3)
    result = run(oauth_exporter(tokens, protected))
    assert result.status == ExporterRun.SUCCESS and result.batches_sent == 3
    [token_request] = tokens.requests
    assert token_request.path == "/oauth/token"
    assert token_request.form() == {"grant_type": "client_credentials", "scope": "export",
                                    "audience": "https://tool"}
    assert token_request.headers["Authorization"] == "Basic " + base64.b64encode(b"opendex-client:s3cret").decode()
    assert [request.headers["Authorization"] for request in protected.requests] == ["Bearer token-1"] * 3


@run_db
def test_oauth2_client_authentication_by_body_fields(tokens, protected):
    devices(1)
    assert run(oauth_exporter(tokens, protected, client_auth="body_fields")).status == ExporterRun.SUCCESS
    [token_request] = tokens.requests
    assert "Authorization" not in token_request.headers
    assert token_request.form()["client_id"] == "opendex-client"
    assert token_request.form()["client_secret"] == "s3cret"


@run_db
def test_oauth2_a_401_refreshes_the_token_exactly_once_and_repeats_the_request(tokens, protected):
    devices(3)
    exporter = oauth_exporter(tokens, protected)
    # the destination revokes the first token after it accepted one batch
    check = protected.responder

    def revoke_after_first(received):
        if len(protected.requests) == 2:
            tokens.revoked.add("token-1")
        return check(received)

    protected.responder = revoke_after_first
    result = run(exporter)
    assert result.status == ExporterRun.SUCCESS, result.last_error
    assert len(tokens.requests) == 2
    assert [(request.headers["Authorization"], request.body) for request in protected.requests] == [
        ("Bearer token-1", b'[{"n":"DEV-00001"}]'),
        ("Bearer token-1", b'[{"n":"DEV-00002"}]'),  # 401
        ("Bearer token-2", b'[{"n":"DEV-00002"}]'),  # repeated with the new token
        ("Bearer token-2", b'[{"n":"DEV-00003"}]'),
    ]
    assert result.records_sent == 3 and result.attempts == 4


@run_db
def test_oauth2_a_destination_that_keeps_answering_401_fails_after_one_refresh(tokens, fast_retries):
    devices(2)
    with Sink() as refusing:
        refusing.default = Answer(401, body=b'{"error": "invalid_token"}')
        result = run(oauth_exporter(tokens, refusing))
        assert len(refusing.requests) == 2
    assert len(tokens.requests) == 2
    assert result.status == ExporterRun.FAILED and result.last_status == 401
    assert "invalid_token" in result.last_error and result.records_sent == 0


@run_db
def test_oauth2_a_token_is_refetched_when_it_expires(tokens, protected):
    tokens.expires_in = 61  # cached until 60 s before: for 1 s
    devices(2)
    exporter = oauth_exporter(tokens, protected)
    protected.script(Answer(200, delay=1.2))  # the first batch takes longer than the token lives
    result = run(exporter)
    assert result.status == ExporterRun.SUCCESS
    assert len(tokens.requests) == 2
    assert [request.headers["Authorization"] for request in protected.requests] == ["Bearer token-1",
                                                                                     "Bearer token-2"]


@run_db
def test_oauth2_a_token_endpoint_failing_on_its_side_is_retried(tokens, protected, fast_retries):
    devices(1)
    issue = tokens.responder
    tokens.responder = lambda received: Answer(503) if len(tokens.requests) == 1 else issue(received)
    result = run(oauth_exporter(tokens, protected))
    assert result.status == ExporterRun.SUCCESS, result.last_error
    assert len(tokens.requests) == 2 and result.attempts == 2
    assert [request.headers["Authorization"] for request in protected.requests] == ["Bearer token-1"]


@run_db
def test_oauth2_token_endpoint_refusal_fails_the_run_without_secrets(tokens, protected, fast_retries):
    devices(1)
    tokens.responder = lambda received: Answer(401, body=b'{"error": "invalid_client"}')
    result = run(oauth_exporter(tokens, protected))
    assert result.status == ExporterRun.FAILED
    assert "No OAuth2 token" in result.last_error and "invalid_client" in result.last_error
    assert "s3cret" not in result.last_error
    assert len(tokens.requests) == 1 and protected.requests == []
