"""gunicorn settings of ``manage.py runplatform`` (``--config python:portal.gunicorn_conf``).

- Logs: gunicorn's error and access logs go to stderr in the project's format (``LOG_FORMAT``: JSON
  lines or plain, ``portal.logs``); an access line carries the request id the response named in
  ``X-Request-ID``.
- Metrics: with ``PROMETHEUS_MULTIPROC_DIR`` (Prometheus multiprocess mode, ``portal.metrics``), a
  worker that exits has its live gauges' files marked dead.

No Django here: the master process never sets Django up.
"""

import os

from portal.logs import log_format, logging_config

_debug = os.environ.get("DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
logconfig_dict = logging_config(log_format(os.environ.get("LOG_FORMAT"), _debug),
                                os.environ.get("LOG_LEVEL", "INFO"), gunicorn=True)
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
