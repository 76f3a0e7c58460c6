"""Celery tasks of the exit workflow. Thin: each calls one service function, which is idempotent
(a second run, or a run after one killed half way, does nothing twice). Their schedules are rows of
django-celery-beat, created by data migrations and editable in the admin (config/schedule.py lists
them)."""

from celery import shared_task

from directory.jobs import JobTask, job_run

from . import handover, hr_sync, inheritance, jobs, notifications

SETTLE_JOB = "offboarding.settle_inheritance"
GRACE_JOB = "offboarding.expire_grace_windows"


@shared_task(base=JobTask, name="offboarding.settle_inheritance")
def settle_inheritance() -> int:
    """Every 10 minutes: handed-over customers whose acceptance period has ended are final
    (`waiting` → `done`). Returns how many items settled, or None when another run was going on.
    Each run is recorded (a JobRun), so that staff see the job run like the nightly ones."""
    with job_run(SETTLE_JOB) as run:
        if run is None:
            return None
        settled = inheritance.settle_waiting()
        run.count(None, settled=settled)
        return settled


@shared_task(base=JobTask, name="offboarding.expire_grace_windows")
def expire_grace_windows() -> int:
    """Every 5 minutes: old super admins' emergency windows whose deadline has passed are closed
    and the sessions they allowed ended. Returns how many windows closed, or None when another
    run was going on. Each run is recorded (a JobRun)."""
    with job_run(GRACE_JOB) as run:
        if run is None:
            return None
        closed = handover.close_grace_windows()
        run.count(None, windows_closed=closed)
        return closed


@shared_task(base=JobTask, name="offboarding.close_undo_windows")
def close_undo_windows() -> int | None:
    """Hourly: in each enterprise whose local night has come, completed exits whose undo window
    has ended are closed, as the system, and their members' records sealed (X-8, C-3, J-2).
    Returns how many closed, or None when another run was going on."""
    return jobs.close_undo_windows()


@shared_task(base=JobTask, name="offboarding.sync_hr_terminations")
def sync_hr_terminations():
    """Every 10 minutes: the HR system's pending terminations become `hr_sync` exits (J-5)."""
    return hr_sync.sync_pending()


@shared_task(bind=True, name="offboarding.send_notification", max_retries=None)
def send_notification(self, notification_id: int) -> None:
    """Queued on commit by the door that wrote the notification: send it. A failed send is tried
    again after a growing wait (notifications.BACKOFF), up to MAX_ATTEMPTS tries; the last
    failure leaves it `failed`, with its error, in the log (offboarding/notifications.py)."""
    tries = self.request.retries
    again = notifications.deliver(notification_id, final=tries + 1 >= notifications.MAX_ATTEMPTS)
    if again:
        wait = notifications.BACKOFF[min(tries, len(notifications.BACKOFF) - 1)]
        raise self.retry(countdown=wait)


@shared_task(base=JobTask, name="offboarding.send_reminders")
def send_reminders() -> int | None:
    """Every 15 minutes: old super admins warned a day before their emergency window closes,
    compliance reminded of erasure requests due soon, lost notifications queued again."""
    return notifications.send_reminders()
