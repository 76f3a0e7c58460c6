"""The planner's statistics after bulk work: `analyze(*models)`.

PostgreSQL chooses each query's plan from the statistics ANALYZE keeps of a table. A table just
filled in bulk (a seeded enterprise, an imported directory, a large sync) has none, or those of
when it was small, until autovacuum gets to it (a minute or more later): meanwhile a list or the
retention run may sort a whole table where an index would have stopped at the first rows. So the
bulk writers ANALYZE what they filled, right after their transaction commits:

- `manage.py seed_demo` (directory/demo/seeder.py, compliance/demo.py `seed_records`);
- the directory import (directory/importing.py `apply`, the admin's and `import_directory`);
- the directory sync (offboarding/directory_sync.py) when a call writes `BULK_ROWS` or more.

On PostgreSQL, ANALYZE is allowed to the tables' owner (and, from PostgreSQL 17, to a role granted
MAINTAIN). Where the application connects as a role that owns nothing (deploy/
postgresql-roles.sql), PostgreSQL answers with a warning and skips the table: autovacuum's own
ANALYZE follows. SQLite's ANALYZE fills sqlite_stat1; other databases: nothing.
"""

from django.db import DEFAULT_DB_ALIAS, connections, transaction

# A sync call that writes this many rows or more is bulk work; a few rows are autovacuum's.
BULK_ROWS = 1000


def tables_of(*models) -> list[str]:
    """The tables of `models`, each with its history table (django-simple-history) if it has
    one: the bulk writers write both. In the order given, once each."""
    tables = []
    for model in models:
        tables.append(model._meta.db_table)
        history = getattr(model, "history", None)
        history_model = getattr(history, "model", None)
        if history_model is not None and history_model is not model:
            tables.append(history_model._meta.db_table)
    return list(dict.fromkeys(tables))


def analyze_now(*models, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """ANALYZE the tables of `models` now, in the current transaction (whose own rows it counts).
    Returns the tables analyzed (none on a database without ANALYZE)."""
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return []
    tables = tables_of(*models)
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return tables


def analyze(*models, using: str = DEFAULT_DB_ALIAS) -> None:
    """ANALYZE the tables of `models` once the current transaction commits (at once outside of
    one): not inside a door's transaction, whose locks it would hold longer. A transaction
    rolled back analyzes nothing."""
    transaction.on_commit(lambda: analyze_now(*models, using=using), using=using)
