"""The beat process's scheduler: django_celery_beat's (the schedule lives in the database, editable
in the admin), recording a heartbeat at every tick (directory/heartbeats.py) so that `/readyz`
notices a beat that died or hangs. Ticks are at most 5 seconds apart."""

from django_celery_beat.schedulers import DatabaseScheduler


class HeartbeatScheduler(DatabaseScheduler):
    def tick(self, *args, **kwargs):
        from directory import heartbeats

        heartbeats.beat_quietly("beat", heartbeats.process_name())
        return super().tick(*args, **kwargs)
