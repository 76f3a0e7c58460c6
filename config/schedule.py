"""Every periodic job in one place.

django-celery-beat's DatabaseScheduler reads these on start (they become rows HR can edit in the
admin under "Periodic tasks"); an edit made in the admin is kept, the entry here is only
the default.
The nightly jobs (J-1 … J-5) are added here by the issues that build them.
"""

from celery.schedules import crontab  # noqa: F401  (used as jobs are added)

BEAT_SCHEDULE: dict = {}
