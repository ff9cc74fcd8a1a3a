"""A private PostgreSQL cluster for development, demos and tests.

When ``DATABASE_URL`` is unset the project runs on its own cluster: the data directory lives under
the project's private data dir (``.data/``), the server listens only on a Unix socket in a private
directory, and the port number (which names the socket file) is picked free at first start.

``initdb`` refuses to run as root, so when this process is root every PostgreSQL program runs as the
``postgres`` system user (``runuser``) and the cluster's files belong to that user.

Command line (used by the Makefile)::

    python -m portal.pgcluster start|stop|status
    python -m portal.pgcluster run -- COMMAND...   # start if needed, run, stop if we started it
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The private data dir (OPENDEX_DATA_DIR overrides it, e.g. for a second platform on one checkout).
DEFAULT_ROOT = Path(os.environ.get("OPENDEX_DATA_DIR") or PROJECT_DIR / ".data")
DB_USER = "opendex"
DB_NAME = "opendex"
# A Unix socket path may not exceed 107 bytes; ".s.PGSQL.NNNNN" takes 14 of them.
MAX_SOCKET_DIR_LENGTH = 90

# Sized for the 2-core / 24 GiB machines the project runs on; bulk loads (COPY) and analytic
# queries dominate, so memory for sorts, hashes and index builds is generous.
SERVER_OPTIONS = {
    "listen_addresses": "",
    "max_connections": "200",
    "shared_buffers": "512MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "wal_level": "minimal",
    "max_wal_senders": "0",
}


class ClusterError(RuntimeError):
    pass


def _pg_bin(name: str) -> str:
    """Finds a PostgreSQL server program (Debian keeps them outside PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if candidates:
        return str(candidates[0])
    raise ClusterError(f"PostgreSQL program {name!r} not found: install the postgresql package")


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if _running_as_root() else argv


def _server_user_can_reach(path: Path) -> bool:
    if not _running_as_root():
        return True
    probe = subprocess.run(_as_server_user(["test", "-x", str(path)]), capture_output=True)
    return probe.returncode == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class ConnectionInfo:
    host: str  # the socket directory
    port: int
    user: str = DB_USER
    dbname: str = DB_NAME

    def as_django(self) -> dict:
        return {"HOST": self.host, "PORT": str(self.port), "USER": self.user, "NAME": self.dbname}


class Cluster:
    """One private cluster rooted at ``root`` (``root/pg`` holds the data directory)."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root or DEFAULT_ROOT).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock_path = self.root / "pg.lock"
        home = self.root
        if not _server_user_can_reach(home):
            # The server user cannot traverse the checkout (e.g. under a 0700 home): keep the cluster
            # in a directory of its own, named after the checkout so clones do not collide.
            digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
            home = Path("/var/tmp") / f"opendex-{digest}"
        self.data_dir = home / "pg"
        socket_dir = home / "pg-socket"
        if len(str(socket_dir)) > MAX_SOCKET_DIR_LENGTH:
            digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
            socket_dir = Path("/tmp") / f"opendex-sock-{digest}"
        self.socket_dir = socket_dir
        self.log_file = self.root / "postgresql.log"

    # -- state -------------------------------------------------------------------------------

    def _pid_file_lines(self) -> list[str] | None:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None

    def is_running(self) -> bool:
        lines = self._pid_file_lines()
        if not lines:
            return False
        try:
            os.kill(int(lines[0]), 0)
        except (ValueError, ProcessLookupError):
            return False
        except PermissionError:
            return True
        return True

    def connection_info(self) -> ConnectionInfo:
        lines = self._pid_file_lines()
        if not lines or len(lines) < 5:
            raise ClusterError(f"the private PostgreSQL cluster in {self.data_dir} is not running")
        # postmaster.pid: pid, data dir, start time, port, socket dir, ...
        return ConnectionInfo(host=lines[4], port=int(lines[3]))

    # -- life cycle --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):
        with open(self.lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _prepare_dir(self, path: Path, mode: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            shutil.chown(path, "postgres", "postgres")
        os.chmod(path, mode)

    def _initdb(self) -> None:
        self._prepare_dir(self.data_dir, 0o700)
        result = subprocess.run(
            _as_server_user([
                _pg_bin("initdb"), "-D", str(self.data_dir), "--username", DB_USER,
                "--auth", "trust", "--encoding", "UTF8", "--locale", "C.UTF-8", "--no-instructions",
            ]),
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise ClusterError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")

    def ensure_running(self) -> bool:
        """Starts the cluster if needed (creating it on first use); returns True if it started it."""
        with self._locked():
            if self.is_running():
                return False
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            self._prepare_dir(self.socket_dir, 0o700)
            if not self.log_file.exists():
                self.log_file.touch()
            if _running_as_root():
                shutil.chown(self.log_file, "postgres", "postgres")
            self._start(_free_port())
            self._ensure_database()
            return True

    def _start(self, port: int) -> None:
        options = dict(SERVER_OPTIONS, port=str(port), unix_socket_directories=str(self.socket_dir))
        server_options = " ".join(f"-c {key}='{value}'" for key, value in options.items())
        result = subprocess.run(
            _as_server_user([
                _pg_bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                "-o", server_options, "-w", "-t", "60", "start",
            ]),
            capture_output=True, text=True,
            # Its own session: Ctrl-C in the terminal must not reach the server directly; the
            # process that started it stops it in order, after the clients.
            start_new_session=True,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"pg_ctl start failed: {result.stderr.strip()}; see {self.log_file}"
            )

    def restart(self, down_seconds: float = 0) -> None:
        """Stops the running cluster (fast: sessions are cut) and starts it again after
        ``down_seconds`` on the same port and socket, so that clients' settings stay valid (what an
        operator's restart of a server does; used by the fault benchmarks and tests)."""
        with self._locked():
            port = self.connection_info().port
            self._stop()
            time.sleep(down_seconds)
            self._start(port)

    def _ensure_database(self) -> None:
        info = self.connection_info()
        import psycopg

        with psycopg.connect(host=info.host, port=info.port, user=DB_USER, dbname="postgres",
                             autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DB_NAME}"')

    def stop(self) -> None:
        with self._locked():
            if self.is_running():
                self._stop()

    def _stop(self) -> None:
        result = subprocess.run(
            _as_server_user([_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w",
                             "-t", "60", "stop"]),
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise ClusterError(f"pg_ctl stop failed: {result.stderr.strip()}")

    def destroy(self) -> None:
        """Stops the cluster and removes its files (used by tests of this module)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def run_with_cluster(command: list[str], cluster: Cluster | None = None) -> int:
    """Runs ``command`` with the cluster up; stops the cluster afterwards if this call started it."""
    cluster = cluster or Cluster()
    started = False
    if not os.environ.get("DATABASE_URL"):
        started = cluster.ensure_running()
    # Ctrl-C reaches the child through the terminal's process group; this process only waits for
    # the child to finish, then stops the cluster.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = subprocess.Popen(command)
        forward = lambda signum, _frame: child.send_signal(signum)  # noqa: E731
        signal.signal(signal.SIGTERM, forward)
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        if started:
            cluster.stop()
            print("Private PostgreSQL stopped.", file=sys.stderr)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cluster = Cluster()
    action, rest = argv[0], argv[1:]
    if action == "start":
        cluster.ensure_running()
        print(json.dumps(cluster.connection_info().as_django()))
        return 0
    if action == "stop":
        cluster.stop()
        return 0
    if action == "status":
        running = cluster.is_running()
        print("running" if running else "stopped")
        return 0 if running else 3
    if action == "run":
        if rest[:1] == ["--"]:
            rest = rest[1:]
        if not rest:
            print("run: a command is required", file=sys.stderr)
            return 2
        return run_with_cluster(rest, cluster)
    print(f"unknown action {action!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
