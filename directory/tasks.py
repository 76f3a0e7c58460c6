"""Celery tasks of the directory. Thin: each calls one service function, which is idempotent and
runs under its job's lease (directory/jobs.py). Schedules: config/schedule.py."""

from celery import shared_task

from . import dissolution
from .jobs import JobTask


@shared_task(base=JobTask, name="directory.mark_pending_dissolution")
def mark_pending_dissolution() -> dict | None:
    """Hourly: in each enterprise whose local night has come, departments left without active
    members become pending dissolution, and those that gained one become active again (D-2, J-4).
    Returns the counts, or None when another run was going on."""
    return dissolution.mark_pending_dissolution()
