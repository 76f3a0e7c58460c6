"""Celery tasks of the exit workflow. Thin: each calls one service function, which is idempotent
(a second run, or a run after one killed half way, does nothing twice). Their schedules are rows of
django-celery-beat, created by data migrations and editable in the admin (config/schedule.py lists
them)."""

from celery import shared_task

from . import inheritance


@shared_task(name="offboarding.settle_inheritance")
def settle_inheritance() -> int:
    """Every 10 minutes: handed-over customers whose acceptance period has ended are final
    (`waiting` → `done`). Returns how many items settled."""
    return inheritance.settle_waiting()
