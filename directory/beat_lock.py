"""One beat, enforced: the beat process takes a lock when it starts (Celery's `beat_init` signal,
connected in config/celery.py) and holds it for as long as it lives. A second beat finds it held,
logs at ERROR "Another beat holds the schedule lock; this one exits: run exactly one beat." and
exits with status 1 — two beats would send every scheduled task twice.

- PostgreSQL: `pg_try_advisory_lock(BEAT_LOCK_KEY)` on a connection of its own (psycopg, opened
  from the database settings, never Django's connection, which Django closes and reopens). The
  lock goes when the connection does: a beat that dies, however, frees it at once.
- SQLite (development): an exclusive `flock` on var/beat.lock, freed when the process ends.

`worker -B` (development: the beat embedded in the worker) takes the same lock in its beat
process; the worker itself goes on when it is refused.
"""

import fcntl
import logging
import os
import sys

from django.conf import settings

logger = logging.getLogger(__name__)

# The advisory lock's key: any constant that nothing else in the database uses ("EXDKBEAT").
BEAT_LOCK_KEY = 0x4558444B42454154
REFUSED = "Another beat holds the schedule lock; this one exits: run exactly one beat."

# What holds the lock: the psycopg connection or the open lock file, kept for the process's life.
_held = None


def _postgresql_connection():
    import psycopg

    database = settings.DATABASES["default"]
    options = database.get("OPTIONS") or {}
    # libpq's own connection parameters among Django's OPTIONS (the others are Django's).
    passed = {
        name: value
        for name, value in options.items()
        if name
        in {
            "sslmode",
            "sslrootcert",
            "sslcert",
            "sslkey",
            "sslpassword",
            "connect_timeout",
            "options",
            "passfile",
            "service",
            "target_session_attrs",
        }
    }
    return psycopg.connect(
        dbname=database.get("NAME") or None,
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        host=database.get("HOST") or None,
        port=database.get("PORT") or None,
        autocommit=True,
        application_name="exitdesk-beat-lock",
        # A beat whose machine vanishes frees the lock once the server notices.
        keepalives=1,
        keepalives_idle=30,
        keepalives_interval=10,
        keepalives_count=3,
        **passed,
    )


def _vendor() -> str:
    from django.db import connections

    return connections["default"].vendor


def take() -> bool:
    """Take the beat lock for the life of this process. Whether it was free (True also when this
    process holds it already)."""
    global _held
    if _held is not None:
        return True
    if _vendor() == "postgresql":
        connection = _postgresql_connection()
        (taken,) = connection.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY]).fetchone()
        if not taken:
            connection.close()
            return False
        _held = connection
        return True
    path = settings.VAR_DIR / "beat.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = path.open("a")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        return False
    _held = lock_file
    return True


def release() -> None:
    """Let the lock go (tests; a process that ends lets it go by itself)."""
    global _held
    held, _held = _held, None
    if held is not None:
        held.close()


def on_beat_init(sender=None, **kwargs) -> None:
    """Celery's `beat_init`: take the lock, or log why not and exit with status 1."""
    if take():
        logger.info("beat holds the schedule lock")
        return
    logger.error(REFUSED)
    for handler in logging.getLogger().handlers + logger.handlers:
        handler.flush()
    sys.stderr.flush()
    # Not SystemExit: Celery's beat service takes that for a clean stop, and the embedded beat of
    # `worker -B` would end its thread quietly.
    os._exit(1)
