"""Celery tasks of compliance. Thin: each calls one job function, which is idempotent and runs
under its job's lease (directory/jobs.py). Schedules: config/schedule.py."""

from celery import shared_task

from directory.jobs import JobTask

from . import jobs


@shared_task(base=JobTask, name="compliance.enforce_retention")
def enforce_retention():
    """Hourly: in each enterprise whose local night has come, the retention policies are applied
    to the records past their age, holds honoured, and restricted erasure requests whose blocker
    lifted are finished (C-2, C-5, J-3)."""
    return jobs.run_retention()
