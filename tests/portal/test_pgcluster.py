"""The private PostgreSQL cluster: created on first use, reused, stopped cleanly."""

import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from django.conf import settings

from portal.pgcluster import Cluster

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster_root():
    # Under the project's private data dir: the `postgres` user can reach it (a pytest tmp dir under
    # /tmp/pytest-of-root is 0700 and would not be).
    root = settings.DATA_DIR / "test-clusters" / uuid.uuid4().hex[:8]
    yield root
    Cluster(root).destroy()


def server_processes(data_dir) -> list[str]:
    found = subprocess.run(["pgrep", "-f", f"postgres.*{data_dir}"], capture_output=True, text=True)
    return found.stdout.split()


def test_cluster_starts_on_a_unix_socket_with_a_free_port_and_stops_cleanly(cluster_root):
    cluster = Cluster(cluster_root)
    assert not cluster.is_running()

    assert cluster.ensure_running() is True
    info = cluster.connection_info()
    assert info.host == str(cluster.socket_dir)
    assert os.path.exists(os.path.join(info.host, f".s.PGSQL.{info.port}"))
    assert info.port != settings.DATABASES["default"]["PORT"]
    with psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname) as conn:
        assert conn.execute("SELECT current_database(), inet_server_addr()").fetchone() == ("opendex", None)
    if os.geteuid() == 0:
        assert cluster.data_dir.stat().st_uid != 0  # initdb ran as the postgres user

    assert cluster.ensure_running() is False  # already running: reused, not restarted

    cluster.stop()
    assert not cluster.is_running()
    assert server_processes(cluster.data_dir) == []
    assert not os.path.exists(os.path.join(info.host, f".s.PGSQL.{info.port}"))


def test_data_survives_a_restart(cluster_root):
    cluster = Cluster(cluster_root)
    cluster.ensure_running()
    info = cluster.connection_info()
    with psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname,
                         autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    cluster.stop()

    cluster.ensure_running()
    info = cluster.connection_info()
    with psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname) as conn:
        assert conn.execute("SELECT value FROM kept").fetchone() == ("still here",)


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


WRAPPER = """
import sys
from pathlib import Path
from portal.pgcluster import Cluster, run_with_cluster
cluster = Cluster(Path(sys.argv[1]))
code = run_with_cluster([sys.executable, "-c", sys.argv[2], sys.argv[1]], cluster)
print("after:", cluster.is_running())
sys.exit(code)
"""
REPORT_RUNNING = """
import sys
from pathlib import Path
from portal.pgcluster import Cluster
print("during:", Cluster(Path(sys.argv[1])).is_running())
"""


def test_run_wrapper_starts_the_cluster_for_a_command_and_stops_it_afterwards(cluster_root):
    result = run_python(WRAPPER, str(cluster_root), REPORT_RUNNING)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["during: True", "after: False"]
    assert server_processes(Cluster(cluster_root).data_dir) == []


def test_the_wrapper_passes_the_exit_status_through_and_leaves_a_running_cluster_alone(cluster_root):
    cluster = Cluster(cluster_root)
    cluster.ensure_running()

    result = run_python(WRAPPER, str(cluster_root), "raise SystemExit(7)")

    assert result.returncode == 7
    assert result.stdout.splitlines() == ["after: True"]  # it was running before: not ours to stop
