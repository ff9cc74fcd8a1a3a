"""`make run`'s supervisor: the platform comes up with demo data, and Ctrl-C leaves nothing behind."""

import http.cookiejar
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

import pytest
from django.conf import settings

from portal.pgcluster import Cluster

pytestmark = pytest.mark.slow
PASSWORD = "demo-pass-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_until(process: subprocess.Popen, marker: str, timeout: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen, deadline = "", time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError(f"{marker!r} not printed; output so far:\n{seen}")
        if selector.select(timeout=1):
            line = process.stdout.readline()
            seen += line.decode()
    return seen


def processes_matching(pattern: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry))
    found, frontier = set(), [pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    remaining = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    remaining.add(pid)
        except OSError:
            continue
    return remaining


class Browser:
    """A cookie-keeping HTTP client, enough to sign in to the admin."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def login(self, username: str, password: str) -> str:
        page = self.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({
            "csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/",
        }).encode()
        request = urllib.request.Request(self.base + "/admin/login/?next=/admin/", data=body,
                                         headers={"Referer": self.base + "/admin/login/"})
        with self.opener.open(request, timeout=30) as response:
            return response.read().decode()


def test_the_platform_runs_with_demo_data_and_stops_on_ctrl_c():
    data_dir = settings.DATA_DIR / "test-platforms" / uuid.uuid4().hex[:8]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OPENDEX_TEST_DB")}
    env.update(OPENDEX_DATA_DIR=str(data_dir), DEMO_PASSWORD=PASSWORD, PORT=str(port))
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.pgcluster", "run", "--", sys.executable, "manage.py", "runplatform",
         "--devices", "30", "--days", "1"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, which Ctrl-C in a terminal signals as a whole
    )
    try:
        banner = read_until(process, "Password:", timeout=180)
        assert f"http://localhost:{port}/admin/" in banner
        assert PASSWORD in banner

        # The banner is printed once the web server answers: its URLs work at once.
        browser = Browser(f"http://127.0.0.1:{port}")
        index = browser.login("admin", PASSWORD)
        assert "Site administration" in index or "Configuration" in index
        devices = browser.get("/admin/engine/device/")
        assert "30 devices" in devices
        # Metrics of both gunicorn workers and the Celery processes add up (multiprocess mode), read from
        # this machine; the sign-in above worked over plain HTTP (OPENDEX_PLAIN_HTTP, set by runplatform).
        exposition = browser.get("/metrics")
        assert 'opendex_http_requests_total{endpoint="admin:login",method="POST",status="302"} 1.0' in exposition
        assert "opendex_remote_action_executions{" in exposition
        platform_processes = descendants(process.pid)
        assert len(platform_processes) >= 5  # supervisor, gunicorn master and workers, worker, beat

        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) is not None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        cluster = Cluster(data_dir)
        postgres_left = processes_matching(f"postgres.*{cluster.data_dir}")
        cluster.destroy()
        shutil.rmtree(data_dir, ignore_errors=True)

    assert processes_matching(f"gunicorn.*127.0.0.1:{port}") == []
    assert postgres_left == []
    # Nothing that the platform started is left: web, its workers, the Celery worker and beat.
    assert alive(platform_processes) == set()
