"""A real `celery worker` records its heartbeat (directory/heartbeats.py), which /readyz reads: with
Celery's own worker heartbeat on, as `celery worker` starts by default, and none without it. In a
process of its own: a worker started inside the test process would leave Celery's Django fixup
connected to every later task there, closing the test's database connection mid-test."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from directory.models import Heartbeat

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def worker_seen_within(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if Heartbeat.objects.filter(kind="worker").exists():
            return True
        time.sleep(0.2)
    return False


def test_a_running_worker_records_its_heartbeat(start_worker):
    worker = start_worker("beating", heartbeat=True)
    assert worker_seen_within(10), worker.output()[-3000:]
    (row,) = Heartbeat.objects.all()
    assert row.kind == "worker" and row.name == f"beating@{row.name.split('@', 1)[1]}"
    assert timezone.now() - row.seen_at < timedelta(seconds=15)


def test_a_worker_without_celerys_heartbeat_records_none(start_worker):
    start_worker("silent")  # --without-heartbeat
    assert not worker_seen_within(3)
