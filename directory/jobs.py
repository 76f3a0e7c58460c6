"""Running the periodic jobs (J-1 … J-5) safely, however many beats and workers there are.

- `job_run(name)`: a context manager around one run of a job. It takes the job's lease
  (`JobLease`: one row per job, held until it expires, renewed with `run.renew()`), so that two
  beats or two workers never run the same job at once — the second writes a `skipped` JobRun and
  gets None. A run killed half way leaves its lease to expire, and the next run takes over; the
  jobs themselves are idempotent, so it finishes the work without doing any of it twice. The run
  is a `JobRun` row: counts per enterprise (`run.count(...)`), errors (`run.error(...)`), how it
  ended. An error in one enterprise is recorded and the others go on; an exception out of the block
  fails the run and is raised again.
- `due_tonight(job)`: the enterprises whose local night has come (01:00–05:59 in their own time
  zone) and that the job has not done on this local date; `mark_done(job, enterprise)` records it
  (`NightlyMark`). The schedules run hourly: each enterprise is taken once a night, at its night.
- `claim_chunk(job, key, ...)` / `finish_chunk(...)`: a chunk of a chunked job is done at most once
  (`JobChunk`), so a chunk task delivered twice does its work once.
"""

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from django.db import transaction
from django.utils import timezone

from .choices import JobStatus
from .models import Enterprise, JobChunk, JobLease, JobRun, NightlyMark

LEASE = timedelta(minutes=30)
NIGHT_HOURS = range(1, 6)  # 01:00 to 05:59, local time


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Run:
    """The run being recorded: what `job_run` yields."""

    def __init__(self, row: JobRun, lease: timedelta):
        self.row = row
        self.lease = lease

    @property
    def pk(self) -> int:
        return self.row.pk

    def count(self, enterprise_id: int | None, **counts: int) -> None:
        """Add `counts` to the enterprise's counts of this run (saved at once)."""
        key = str(enterprise_id) if enterprise_id is not None else "all"
        mine = self.row.counts.setdefault(key, {})
        for what, how_many in counts.items():
            mine[what] = mine.get(what, 0) + how_many
        JobRun.objects.filter(pk=self.row.pk).update(counts=self.row.counts)

    def error(self, enterprise_id: int | None, error: BaseException | str) -> None:
        """Record an error of one enterprise; the run goes on and ends `failed`."""
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.row.errors.append({"enterprise": enterprise_id, "error": text[:2000]})
        JobRun.objects.filter(pk=self.row.pk).update(errors=self.row.errors)

    def renew(self) -> None:
        """Keep the lease while a long run goes on."""
        JobLease.objects.filter(job=self.row.job, run=self.row).update(
            expires_at=timezone.now() + self.lease
        )

    def _end(self, status: str) -> None:
        self.row.status = status
        self.row.finished_at = timezone.now()
        JobRun.objects.filter(pk=self.row.pk).update(
            status=status, finished_at=self.row.finished_at
        )
        JobLease.objects.filter(job=self.row.job, run=self.row).update(
            expires_at=self.row.finished_at
        )


@contextmanager
def job_run(job: str, *, lease: timedelta = LEASE) -> Iterator[Run | None]:
    """One run of `job`, or None when another run holds its lease (see the module docstring)."""
    run = _start(job, lease)
    if run is None:
        yield None
        return
    # Every log line of the run names it (config/logging.py), until it ends.
    with structlog.contextvars.bound_contextvars(job_run_id=run.pk):
        try:
            yield run
        except BaseException as error:
            run.error(None, error)
            run._end(JobStatus.FAILED)
            raise
        run._end(JobStatus.FAILED if run.row.errors else JobStatus.SUCCEEDED)


def _start(job: str, lease: timedelta) -> Run | None:
    now = timezone.now()
    with transaction.atomic():
        # The job's lease row exists from its first run on; two first runs insert it once.
        JobLease.objects.bulk_create(
            [JobLease(job=job, expires_at=now - timedelta(seconds=1))], ignore_conflicts=True
        )
        held = JobLease.objects.select_for_update().get(job=job)
        if held.expires_at > now:
            JobRun.objects.create(
                job=job, status=JobStatus.SKIPPED, finished_at=now, worker=_worker_name()
            )
            return None
        row = JobRun.objects.create(job=job, worker=_worker_name())
        held.run = row
        held.expires_at = now + lease
        held.save(update_fields=["run", "expires_at"])
    return Run(row, lease)


def due_tonight(job: str, *, now: datetime | None = None, hours=NIGHT_HOURS) -> list[Enterprise]:
    """The enterprises whose local night has come and that `job` has not done on their local date
    (one query per time zone in use)."""
    now = now or timezone.now()
    due = []
    zones = Enterprise.objects.order_by().values_list("time_zone", flat=True).distinct()
    for zone in sorted({str(zone) for zone in zones}):
        local = timezone.localtime(now, timezone=_zone(zone))
        if local.hour not in hours:
            continue
        done = NightlyMark.objects.filter(job=job, local_date=local.date())
        due += list(
            Enterprise.objects.filter(time_zone=zone)
            .exclude(pk__in=done.values("enterprise_id"))
            .order_by("pk")
        )
    return due


def mark_done(job: str, enterprise: Enterprise, *, now: datetime | None = None) -> None:
    """Record that `job` did `enterprise` on its local date (safe to call twice)."""
    now = now or timezone.now()
    local_date = timezone.localtime(now, timezone=_zone(str(enterprise.time_zone))).date()
    NightlyMark.objects.get_or_create(job=job, enterprise=enterprise, local_date=local_date)


def claim_chunk(job: str, key: str, *, enterprise_id: int, run_id: int | None = None) -> bool:
    """Whether the chunk `key` of `job` still has to be done (creating its row on first sight).
    Call inside the transaction that does the chunk's work and `finish_chunk`s it: the row is
    locked, so a second delivery of the same chunk waits, then finds it done."""
    JobChunk.objects.bulk_create(
        [JobChunk(job=job, key=key, enterprise_id=enterprise_id, run_id=run_id)],
        ignore_conflicts=True,
    )
    chunk = JobChunk.objects.select_for_update().get(job=job, key=key)
    return chunk.done_at is None


def finish_chunk(job: str, key: str, **counts: int) -> None:
    JobChunk.objects.filter(job=job, key=key, done_at__isnull=True).update(
        done_at=timezone.now(), counts=counts
    )


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
