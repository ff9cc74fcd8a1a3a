"""A real local HTTP destination for exporter tests: records every request, answers from a script.

    with Sink() as sink:
        sink.script(503, 503, 200)            # the next answers, then 200 for ever
        sink.script((429, {"Retry-After": "1"}, b"slow down"))
        ... sink.url ... sink.requests[0].json() ...

``Sink(responder=...)`` answers with a function of each request first (None: the script, then the
default answer); ``TokenServer`` is a sink that issues OAuth2 client-credentials tokens. The builders
at the end make the credential, exporter and queries of a test that sends to a sink.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self):
        return json.loads(self.body)

    def lines(self) -> list:
        return [json.loads(line) for line in self.body.decode().splitlines()]

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"result": "ok"}'
    delay: float = 0.0  # seconds to wait before answering (a slow destination)


class Sink:
    def __init__(self, responder: Callable[[Received], Answer | None] | None = None):
        self.requests: list[Received] = []
        self._script: deque[Answer] = deque()
        self.default = Answer()
        self.responder = responder
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits for the client's delayed ACK (40 ms)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(self.command, self.path, dict(self.headers.items()), body)
                with sink._lock:
                    sink.requests.append(received)
                    answer = sink.responder(received) if sink.responder is not None else None
                    if answer is None:
                        answer = sink._script.popleft() if sink._script else sink.default
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up waiting (a read timeout)

            do_POST = do_PUT = do_PATCH = do_GET = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, *answers) -> None:
        """Queues answers: a status, a (status, headers, body) tuple, or an ``Answer``."""
        with self._lock:
            for answer in answers:
                if isinstance(answer, int):
                    answer = Answer(answer, body=b'{"error": "scripted"}' if answer >= 400 else b"{}")
                elif isinstance(answer, tuple):
                    answer = Answer(*answer)
                self._script.append(answer)

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def __enter__(self) -> Sink:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


class TokenServer(Sink):
    """An OAuth2 token endpoint (client credentials): each request gets a new token ``token-1``,
    ``token-2``… with ``expires_in`` seconds of life; ``valid`` says whether a token is still good."""

    def __init__(self, expires_in: int | None = 3600):
        super().__init__(responder=self._issue)
        self.expires_in = expires_in
        self.issued: dict[str, float] = {}  # token -> time.monotonic() it expires at (inf: never)
        self.revoked: set[str] = set()

    def _issue(self, received: Received) -> Answer:
        token = f"token-{len(self.issued) + 1}"
        life = self.expires_in if self.expires_in is not None else float("inf")
        self.issued[token] = time.monotonic() + life
        body = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return Answer(200, {}, json.dumps(body).encode())

    def valid(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ")
        return token in self.issued and token not in self.revoked and time.monotonic() < self.issued[token]


def free_port() -> int:
    """A local TCP port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02):
    """Polls ``condition`` until it is truthy (its value) or fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {condition}")
        time.sleep(interval)


# -- building exporters that send to a sink (need the database) -------------------------------------


def make_credential(url: str, **fields):
    from exporters.models import ConnectorCredential

    values = dict(name="Sink", base_url=url, auth_type="bearer", token="sink-token", allow_plain_http=True)
    values.update(fields)
    credential = ConnectorCredential(**values)
    credential.full_clean()
    credential.save()
    return credential


def make_exporter(credential, queries: list[tuple[str, str, str]], **fields):
    """A saved, valid exporter with ``queries`` as (NQL, structure, payload JSON) in order."""
    from exporters.models import Exporter, ExporterQuery

    values = dict(name="To the sink", credential=credential, method="POST", resource="api/records",
                  recurrence="hourly", every_hours=1)
    values.update(fields)
    exporter = Exporter(**values)
    exporter.full_clean()
    exporter.save()
    for position, (nql, structure, payload) in enumerate(queries):
        query = ExporterQuery(exporter=exporter, position=position, nql=nql, structure=structure, payload=payload)
        query.full_clean()
        query.save()
    return exporter
