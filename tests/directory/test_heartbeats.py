"""Heartbeats (directory/heartbeats.py): each worker and the beat process record that they are
alive, one row each, updated in place; rows of processes gone for a day are deleted."""

import time
from datetime import timedelta

import pytest
import time_machine
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from config.beat import HeartbeatScheduler
from config.celery import app as exitdesk_app
from directory import heartbeats
from directory.models import Heartbeat


@pytest.fixture(autouse=True)
def _fresh_throttle(monkeypatch):
    monkeypatch.setattr(heartbeats, "_last_worker_beat", {})


@pytest.mark.django_db
def test_a_process_has_one_row_updated_in_place():
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        heartbeats.beat("worker", "celery@web1")
        heartbeats.beat("worker", "celery@web2")
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        heartbeats.beat("worker", "celery@web1")
    assert Heartbeat.objects.count() == 2
    assert Heartbeat.objects.get(name="celery@web1").seen_at == start + timedelta(seconds=30)
    assert heartbeats.latest("worker") == start + timedelta(seconds=30)
    assert heartbeats.latest("beat") is None


@pytest.mark.django_db
def test_processes_gone_for_a_day_are_deleted_when_a_new_one_starts():
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        heartbeats.beat("worker", "celery@old")
        heartbeats.beat("beat", "host:1")
    with time_machine.travel(start + timedelta(hours=23), tick=False):
        heartbeats.beat("beat", "host:1")
    with time_machine.travel(start + timedelta(days=1, minutes=1), tick=False):
        heartbeats.beat("worker", "celery@new")
    assert set(Heartbeat.objects.values_list("name", flat=True)) == {"host:1", "celery@new"}


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        heartbeats.beat("cron", "x")


@pytest.mark.django_db
def test_a_worker_records_at_most_every_thirty_seconds(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(heartbeats, "_clock", lambda: clock[0])
    start = timezone.now()

    class Heart:  # what Celery's heartbeat_sent passes as its sender
        class eventer:
            hostname = "celery@host"

    with time_machine.travel(start, tick=False):
        heartbeats.worker_heartbeat(sender=Heart())
    for seconds in (2, 4, 29):
        clock[0] = 1000.0 + seconds
        with time_machine.travel(start + timedelta(seconds=seconds), tick=False):
            heartbeats.worker_heartbeat(sender=Heart())
    assert Heartbeat.objects.get(name="celery@host").seen_at == start
    clock[0] = 1031.0
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        heartbeats.worker_heartbeat(sender=Heart())
    assert Heartbeat.objects.get(name="celery@host").seen_at == start + timedelta(seconds=31)


def _worker_beats(wait: float, **options) -> bool:
    app = Celery("heartbeat-test", broker="memory://", set_as_current=False)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, **options):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if Heartbeat.objects.filter(kind="worker").exists():
                return True
            time.sleep(0.1)
    return False


def test_a_running_worker_records_its_heartbeat(transactional_db):
    # a worker started as `celery worker` starts it: Celery's heartbeat is on by default
    assert _worker_beats(10, without_heartbeat=False)
    (row,) = Heartbeat.objects.all()
    assert row.kind == "worker" and row.name.startswith("gen")  # the test worker's node name
    assert timezone.now() - row.seen_at < timedelta(seconds=15)


def test_a_worker_without_celerys_heartbeat_records_none(transactional_db):
    assert not _worker_beats(3, without_heartbeat=True)


def test_beat_records_its_heartbeat_at_every_tick(transactional_db):
    # (outside a test transaction: the scheduler closes old connections as beat does)
    scheduler = HeartbeatScheduler(app=exitdesk_app)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        scheduler.tick()
    with time_machine.travel(start + timedelta(seconds=5), tick=False):
        scheduler.tick()
    (row,) = Heartbeat.objects.all()
    assert (row.kind, row.name) == ("beat", heartbeats.process_name())
    assert row.seen_at == start + timedelta(seconds=5)
