"""The benchmark's own database, and the machine it runs on.

Concurrency needs committed data that other processes see, so the benchmark cannot run inside one
transaction rolled back at the end. It makes a database of its own instead: on PostgreSQL
`<configured name>_bench` next to the configured one (dropped first if it exists, dropped at the
end unless kept), on SQLite a new file under var/. Both are migrated before seeding.
`--current-database` skips all of this and measures in the database Django is configured with,
migrated already (the test suite: its test database)."""

import os
import platform
from pathlib import Path

import django
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections


def use_own_database(scale: str) -> str:
    """Create (afresh) and migrate the benchmark's database; point the default connection at it.
    Returns its name."""
    connections.close_all()
    if connection.vendor == "postgresql":
        name = f"{connection.settings_dict['NAME']}_bench"
        quoted = connection.ops.quote_name(name)
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quoted}")
            cursor.execute(f"CREATE DATABASE {quoted}")
    else:
        path = Path(settings.BASE_DIR) / "var" / f"bench-{scale.lower()}.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
        name = str(path)
    _point_at(name)
    call_command("migrate", interactive=False, verbosity=0)
    return name


def drop_own_database(name: str, original: str) -> None:
    connections.close_all()
    _point_at(original)
    if connection.vendor == "postgresql":
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)}")
    else:
        for path in (Path(name), Path(f"{name}-wal"), Path(f"{name}-shm")):
            path.unlink(missing_ok=True)


def _point_at(name: str) -> None:
    # The connection's settings are the very dict of settings.DATABASES; processes forked later
    # inherit it.
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name
    connections["default"].close()


def machine() -> dict:
    """The machine's description for the table's header and the JSON file."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            database = f"PostgreSQL {cursor.fetchone()[0]}"
        else:
            cursor.execute("SELECT sqlite_version()")
            database = f"SQLite {cursor.fetchone()[0]}"
    try:
        load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        load = ""
    return {
        "cpu": model or "unknown",
        "cpus": os.cpu_count(),
        "memory": memory,
        "database": database,
        "python": platform.python_version(),
        "django": django.get_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average_at_start": load,
    }
