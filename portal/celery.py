"""The Celery application: broker and schedules come from Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("opendex")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Task ids on log lines, task outcomes counted, the worker logging like the web (portal.observability).
from portal.observability import connect_celery  # noqa: E402

connect_celery()
