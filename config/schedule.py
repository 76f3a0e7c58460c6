"""Every periodic job in one place: what runs when, and why.

The schedules themselves are rows of django-celery-beat (its DatabaseScheduler reads them), created
by data migrations so that every database has them after `migrate`, and editable in the admin
under "Periodic tasks": a schedule edited there is kept, never overwritten by a later migration.

- `offboarding.settle_inheritance`, every 10 minutes (offboarding/migrations/0004): handed-over
  customers whose acceptance period (24 hours by default) has ended become final (X-5).
- `offboarding.expire_grace_windows`, every 5 minutes (offboarding/migrations/0007): old super
  admins' emergency windows (grace policy, H-2) whose deadline has passed are closed and their
  sessions ended. The middleware already refuses a session past its deadline at its next request;
  the job records the close and logs them out everywhere.

The nightly jobs (J-1 … J-5) join this list as the issues that build them land.
"""
