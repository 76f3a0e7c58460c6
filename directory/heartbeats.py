"""Heartbeats: each worker and the beat process say they are alive, so that `/readyz` can tell
when one has died (directory/health.py).

- `beat(kind, name)` records that the process `name` of `kind` ("web", "worker", "beat") is alive
  now: one row per name (`Heartbeat`), updated in place. A new name's first beat also deletes the
  rows of processes not seen for `PRUNE_AFTER`, so the table keeps only what runs.
- `latest(kind)` is when the newest process of that kind was last seen, or None.
- A worker beats when Celery's own worker heartbeat fires (`heartbeat_sent`, every 2 seconds unless
  the worker runs with `--without-heartbeat`), at most once per `WORKER_INTERVAL`: one UPDATE every
  30 seconds per worker. The beat process beats at every tick of its scheduler
  (`config.beat.HeartbeatScheduler`, at most 5 seconds apart).

A heartbeat that cannot be written (the database is away) is logged and dropped: the process goes
on, and `/readyz` says what is wrong.
"""

import logging
import os
import socket
import time
from datetime import datetime, timedelta

from celery.signals import heartbeat_sent
from django.db import DatabaseError
from django.db.models import Max
from django.utils import timezone

from .models import Heartbeat

logger = logging.getLogger(__name__)

KINDS = ("web", "worker", "beat")
PRUNE_AFTER = timedelta(days=1)
WORKER_INTERVAL = 30.0  # seconds between two heartbeats of one worker

_last_worker_beat: dict[str, float] = {}
_clock = time.monotonic  # the worker throttle's clock (replaced in tests)


def process_name() -> str:
    """This process's name: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(kind: str, name: str) -> None:
    """Record that the process `name` of `kind` is alive now."""
    if kind not in KINDS:
        raise ValueError(f"unknown heartbeat kind {kind!r}")
    now = timezone.now()
    name = name[:200]
    if Heartbeat.objects.filter(name=name).update(kind=kind, seen_at=now):
        return
    # A process seen for the first time: drop those gone for a day, then add it.
    Heartbeat.objects.filter(seen_at__lt=now - PRUNE_AFTER).delete()
    Heartbeat.objects.bulk_create(
        [Heartbeat(name=name, kind=kind, seen_at=now)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["kind", "seen_at"],
    )


def latest(kind: str) -> datetime | None:
    """When the most recently seen process of `kind` was seen, or None if none ever was."""
    return Heartbeat.objects.filter(kind=kind).aggregate(seen=Max("seen_at"))["seen"]


def beat_quietly(kind: str, name: str) -> bool:
    """`beat`, logging instead of raising when the database cannot be written."""
    try:
        beat(kind, name)
    except DatabaseError as error:
        logger.warning("Heartbeat of %s %s not recorded: %s", kind, name, error)
        return False
    return True


@heartbeat_sent.connect(dispatch_uid="directory.heartbeats.worker")
def worker_heartbeat(sender=None, **kwargs) -> None:
    """Celery's worker heartbeat (every 2 seconds): recorded at most every WORKER_INTERVAL."""
    name = getattr(getattr(sender, "eventer", None), "hostname", None) or process_name()
    now = _clock()
    last = _last_worker_beat.get(name)
    if last is not None and now - last < WORKER_INTERVAL:
        return
    if beat_quietly("worker", name):
        _last_worker_beat[name] = now
