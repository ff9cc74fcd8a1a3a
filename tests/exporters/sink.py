"""A real local HTTP destination for exporter tests: records every request, answers from a script.

    with Sink() as sink:
        sink.script(503, 503, 200)            # the next answers, then 200 for ever
        sink.script((429, {"Retry-After": "1"}, b"slow down"))
        ... sink.url ... sink.requests[0].json() ...
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"result": "ok"}'
    delay: float = 0.0  # seconds to wait before answering (a slow destination)


class Sink:
    def __init__(self):
        self.requests: list[Received] = []
        self._script: deque[Answer] = deque()
        self.default = Answer()
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with sink._lock:
                    sink.requests.append(Received(self.command, self.path, dict(self.headers.items()), body))
                    answer = sink._script.popleft() if sink._script else sink.default
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

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

    def __enter__(self) -> Sink:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
