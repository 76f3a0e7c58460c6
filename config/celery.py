"""The Celery app. Broker and schedule come from settings (CELERY_* names).

Logging: the worker and beat log through Django's LOGGING (config/logging.py), which Celery is
kept from replacing (`setup_logging` answered here, CELERY_WORKER_HIJACK_ROOT_LOGGER off); the
level is `--loglevel`'s when given, else LOG_LEVEL's. In the worker, django-structlog's boot step
binds each task's `task_id` (and the request id of the request that sent it) to its lines, and
`task` its name; directory.jobs.job_run adds `job_run_id` inside a job run.
"""

import os

import structlog
from celery import Celery
from celery.signals import beat_init, setup_logging, task_postrun
from django_structlog.celery.signals import bind_extra_task_metadata
from django_structlog.celery.steps import DjangoStructLogInitStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("exitdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(loglevel=None, **kwargs):
    """Celery configures no handler of its own: Django's LOGGING does (applied again here, as the
    worker may set its logging up before Django's), at the level of `--loglevel` if given."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


def bind_task_name(sender=None, task=None, **kwargs):
    structlog.contextvars.bind_contextvars(task=task.name)


def forget_task(sender=None, **kwargs):
    """A worker's lines between tasks carry no task's ids."""
    structlog.contextvars.clear_contextvars()


class TaskLogContextStep(DjangoStructLogInitStep):
    """django-structlog's worker step (task_id, the sender's request id), plus the task's name on
    every line of the task, and nothing of it after."""

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        bind_extra_task_metadata.connect(bind_task_name, dispatch_uid="exitdesk.bind_task_name")
        task_postrun.connect(forget_task, dispatch_uid="exitdesk.forget_task", weak=False)


app.steps["worker"].add(TaskLogContextStep)


@beat_init.connect(weak=False)
def one_beat(sender=None, **kwargs):
    """Exactly one beat: a second one is refused and exits (directory/beat_lock.py)."""
    from directory.beat_lock import on_beat_init

    on_beat_init(sender=sender, **kwargs)
