"""Every periodic job in one place: what runs when, and why.

The schedules themselves are rows of django-celery-beat (its DatabaseScheduler reads them), created
by data migrations so that every database has them after `migrate`, and editable in the admin
under "Periodic tasks": a schedule edited there is kept, never overwritten by a later migration.

- `offboarding.settle_inheritance`, every 10 minutes (offboarding/migrations/0004): handed-over
  customers whose acceptance period (24 hours by default) has ended become final (X-5).

The nightly jobs (J-1 … J-5) join this list as the issues that build them land.
"""
