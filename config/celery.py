"""The Celery app. Broker and schedule come from settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("exitdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect(weak=False)
def one_beat(sender=None, **kwargs):
    """Exactly one beat: a second one is refused and exits (directory/beat_lock.py)."""
    from directory.beat_lock import on_beat_init

    on_beat_init(sender=sender, **kwargs)
