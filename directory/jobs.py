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
  (`NightlyMark`). The schedules run hourly (the retention coordinator every 15 minutes): each
  enterprise is taken once a night, at its night.
- `claim_chunk(job, key, ...)` / `finish_chunk(...)`: a chunk of a chunked job is done at most once
  (`JobChunk`), so a chunk task delivered twice does its work once.
- `finish_enterprise(run, job, enterprise, ...)`: record an enterprise's totals of the night and
  mark it done, in one transaction guarded by its `NightlyMark`: a run that takes over from a lost
  one never counts the night a second time.

Telling the truth about runs:
- A run whose lease expired while it still said `running` (its worker was killed) is marked `lost`,
  finished at the lease's expiry, by the next run that takes the lease (`_start`) and by the
  overdue-jobs check (`mark_lost_runs`); the admin home warns about it.
- A run that ends `failed` makes its Celery task fail too: `JobTask` (the periodic tasks' base)
  raises `JobFailed` once the run is written, so the worker's log and the admin agree. Nothing
  retries it; the next scheduled run comes as usual.
- A task that fails outside a job run is written as a failed JobRun of that task's name (the
  `task_failure` signal, `record_task_failure`); a failure that a run already recorded is not
  written twice (`recorded`).
- `overdue_jobs(now)`: the scheduled jobs whose last succeeded run is older than their schedule
  says it should be (the admin home and /readyz warn).
"""

import contextvars
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from celery import Task
from django.db import transaction
from django.utils import timezone

from .choices import JobStatus
from .models import Enterprise, JobChunk, JobLease, JobRun, NightlyMark

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=30)
NIGHT_HOURS = range(1, 6)  # 01:00 to 05:59, local time


class JobFailed(Exception):
    """A job's run ended `failed` (its errors are on the JobRun row): the Celery task fails too."""

    @classmethod
    def of(cls, run: JobRun) -> "JobFailed":
        errors = "; ".join(str(error.get("error", "")) for error in run.errors[:3])
        return mark_recorded(cls(f"run {run.pk} of {run.job} failed: {errors}"[:2000]))


def mark_recorded(error: BaseException) -> BaseException:
    """Note on `error` that a JobRun already says it: the task_failure handler leaves it."""
    try:
        error._exitdesk_job_recorded = True  # noqa: SLF001
    except (AttributeError, TypeError):  # an exception type that takes no attributes
        pass
    return error


def recorded(error: BaseException | None) -> bool:
    return bool(getattr(error, "_exitdesk_job_recorded", False))


# The runs that ended `failed` within the Celery task being executed (set by JobTask).
_failed_runs: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "exitdesk_failed_runs", default=None
)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Run:
    """The run being recorded: what `job_run` yields."""

    def __init__(self, row: JobRun, lease: timedelta):
        self.row = row
        self.lease = lease
        # How the run ends when no error was recorded (default `succeeded`): a coordinator whose
        # chunks are still with the workers sets `partial`.
        self.ending: str | None = None

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
        # A run taken for lost (its lease expired) that ends after all says how it ended.
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
            mark_recorded(error)
            raise
        if run.row.errors:
            run._end(JobStatus.FAILED)
            failed = _failed_runs.get()
            if failed is not None:
                failed.append(run.row)
        else:
            run._end(run.ending or JobStatus.SUCCEEDED)


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
                job=job,
                status=JobStatus.SKIPPED,
                started_at=now,
                finished_at=now,
                worker=_worker_name(),
            )
            return None
        if held.run_id is not None:
            _mark_lost(JobRun.objects.filter(pk=held.run_id), expired_at=held.expires_at)
        row = JobRun.objects.create(job=job, started_at=now, worker=_worker_name())
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


def mark_done(job: str, enterprise: Enterprise, *, now: datetime | None = None) -> bool:
    """Record that `job` did `enterprise` on its local date (safe to call twice). Whether this
    call recorded it (False: it was already)."""
    now = now or timezone.now()
    local_date = timezone.localtime(now, timezone=_zone(str(enterprise.time_zone))).date()
    _, created = NightlyMark.objects.get_or_create(
        job=job, enterprise=enterprise, local_date=local_date
    )
    return created


def finish_enterprise(
    run: Run, job: str, enterprise: Enterprise, *, now: datetime | None = None, totals=None
) -> bool:
    """Mark `enterprise` done for the night and add its totals to `run`, as one step: in one
    transaction, the NightlyMark first; the totals only when this call created it. `totals` is a
    dict of counts, or a function returning one (called only then, inside the transaction: the
    night's sums are read once the mark is held). Whether this call finished the night."""
    with transaction.atomic():
        if not mark_done(job, enterprise, now=now):
            return False
        counts = totals() if callable(totals) else totals
        if counts:
            run.count(enterprise.pk, **counts)
    return True


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


def _mark_lost(runs, *, expired_at: datetime) -> int:
    """Mark the `running` ones of `runs` lost, finished when their lease expired."""
    lost = runs.filter(status=JobStatus.RUNNING).update(
        status=JobStatus.LOST, finished_at=expired_at
    )
    if lost:
        logger.warning("marked %d run(s) lost: their lease expired while running", lost)
    return lost


def mark_lost_runs(now: datetime | None = None) -> int:
    """Every run still `running` whose lease has expired is lost (its worker died): marked so,
    finished at the lease's expiry. Returns how many."""
    now = now or timezone.now()
    lost = 0
    for lease in JobLease.objects.filter(expires_at__lte=now, run__status=JobStatus.RUNNING):
        with transaction.atomic():
            held = JobLease.objects.select_for_update().get(pk=lease.pk)
            if held.expires_at <= now and held.run_id is not None:
                held_run = JobRun.objects.filter(pk=held.run_id)
                lost += _mark_lost(held_run, expired_at=held.expires_at)
    return lost


# Ids of tasks whose failure a job run already recorded (JobTask → on_task_failure, same process).
_recorded_task_ids: set[str] = set()


class JobTask(Task):
    """The base of the periodic tasks: a run of the task that ended `failed` (errors recorded,
    the others went on) makes the task fail too, with `JobFailed`, once the run is written."""

    def __call__(self, *args, **kwargs):
        token = _failed_runs.set([])
        try:
            result = super().__call__(*args, **kwargs)
            failed = _failed_runs.get()
            if failed:
                raise JobFailed.of(failed[0])
        except BaseException as error:
            # Celery may hand the failure handler a copy of the error (one it can pickle),
            # without the mark: the task's id says it too.
            if recorded(error) and self.request.id:
                _recorded_task_ids.add(self.request.id)
            raise
        finally:
            _failed_runs.reset(token)
        return result


def on_task_failure(sender=None, task_id=None, exception=None, **kwargs) -> None:
    """Celery's `task_failure` signal (connected in directory/apps.py)."""
    if task_id and task_id in _recorded_task_ids:
        _recorded_task_ids.discard(task_id)
        return
    record_task_failure(getattr(sender, "name", None) or "unknown task", exception, task_id=task_id)


def record_task_failure(task_name: str, error: BaseException | None, *, task_id=None) -> None:
    """A task failed outside a job run (or before its run could record it): write a failed JobRun
    of the task's name with the error, which the admin home warns about. A failure a run already
    recorded (`recorded`) is left alone."""
    if recorded(error):
        return
    text = f"{type(error).__name__}: {error}" if error is not None else "failed"
    if task_id:
        text = f"task {task_id}: {text}"
    now = timezone.now()
    try:
        JobRun.objects.create(
            job=task_name[:64],
            status=JobStatus.FAILED,
            started_at=now,
            finished_at=now,
            worker=_worker_name(),
            errors=[{"enterprise": None, "error": text[:2000]}],
        )
    except Exception:
        logger.exception("could not record the failure of task %s: %s", task_name, text)


# ---------------------------------------------------------------------------------------------
# Overdue jobs: not succeeded within what their schedule says

# The nightly jobs run often (every hour or quarter) but owe each enterprise one night's work:
# they are expected to succeed at least once a day.
NIGHTLY_JOBS = frozenset(
    {
        "offboarding.close_undo_windows",
        "compliance.enforce_retention",
        "directory.mark_pending_dissolution",
    }
)
NIGHTLY_EXPECTED = timedelta(days=1)
# A job is overdue once its expected interval and this much more have passed (at most an hour:
# one missed run of a job every few minutes, an hour late for the daily ones).
MAX_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class OverdueJob:
    """A scheduled job that has not succeeded within its expected interval."""

    job: str
    last_succeeded: datetime | None  # None: it ran, but never succeeded
    expected: timedelta

    @property
    def job_label(self) -> str:
        from .choices import job_label

        return job_label(self.job)

    @property
    def expected_label(self) -> str:
        """The expected interval in words, in the active language ("1 day", "10 minutes")."""
        from .durations import human_duration

        return human_duration(self.expected)


def expected_interval(task) -> timedelta | None:
    """How often a django-celery-beat PeriodicTask is expected to succeed: a nightly job once a
    day; else the longest gap its interval or crontab leaves between two runs. None for other
    kinds of schedule (solar, clocked, one-off), which are not checked."""
    if task.task in NIGHTLY_JOBS:
        return NIGHTLY_EXPECTED
    if task.one_off:
        return None
    if task.interval_id is not None:
        return timedelta(**{task.interval.period: task.interval.every})
    if task.crontab_id is not None:
        return _crontab_gap(task.crontab.schedule)
    return None


def _crontab_gap(cron) -> timedelta:
    if len(cron.month_of_year) < 12:
        return timedelta(days=366)
    if len(cron.day_of_month) < 31:
        return timedelta(days=31)
    if len(cron.day_of_week) < 7:
        return timedelta(days=7)
    times = sorted(hour * 60 + minute for hour in cron.hour for minute in cron.minute)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    gaps.append(times[0] + 24 * 60 - times[-1])  # from the last of a day to the first of the next
    return timedelta(minutes=max(gaps))


def overdue_jobs(now: datetime | None = None) -> list[OverdueJob]:
    """The enabled scheduled jobs whose last succeeded run is older than their expected interval
    and its grace, by job name (runs lost by a dead worker are marked `lost` first). A job that
    has never run is not listed (the beat and worker heartbeats tell when nothing runs); one that
    ran but never succeeded is, once its first run is that old."""
    from django.db.models import Max, Min
    from django_celery_beat.models import PeriodicTask

    now = now or timezone.now()
    mark_lost_runs(now)
    expected = {}
    for task in PeriodicTask.objects.filter(enabled=True).select_related("interval", "crontab"):
        interval = expected_interval(task)
        if interval is not None:
            expected[task.task] = min(interval, expected.get(task.task, interval))
    if not expected:
        return []
    runs = JobRun.objects.filter(job__in=expected).order_by().values("job")
    first = dict(runs.annotate(first=Min("started_at")).values_list("job", "first"))
    succeeded = dict(
        runs.filter(status=JobStatus.SUCCEEDED)
        .annotate(last=Max("finished_at"))
        .values_list("job", "last")
    )
    overdue = []
    for job, interval in sorted(expected.items()):
        since = succeeded.get(job) or first.get(job)
        if since is None:
            continue
        if since < now - interval - min(interval, MAX_GRACE):
            overdue.append(OverdueJob(job, succeeded.get(job), interval))
    return overdue
