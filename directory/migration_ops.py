"""Migrations that do not lock the application out of its big tables (README "Upgrades").

A migration that alters a table takes a lock on it; while the lock waits for the transactions
already reading the table, every new request that reads it queues behind. On a big table the
alteration itself may take long too (building an index reads every row). So every migration added
from now on that touches one of `BIG_TABLES`:

- starts with `SetLockTimeout()`: the lock is given up after a few seconds, the migration fails
  and is run again later, instead of holding every request;
- builds an index on one of them with `AddIndexConcurrently` (below), in a migration with
  `atomic = False`: PostgreSQL builds it without blocking writes. An index only PostgreSQL has
  (pg_trgm's trigram indexes, for `%term%` searches) is built with
  `AddPostgreSQLIndexConcurrently`: nothing on SQLite. An index goes with
  `RemoveIndexConcurrently`.

tests/test_migration_safety.py walks every migration and refuses one that does not.
"""

from django.contrib.postgres import operations as postgres_operations
from django.db import migrations, models

# The tables that grow with the enterprise's size and its history, (app label, model name), each
# with why it is big.
BIG_TABLES = {
    ("compliance", "workrecord"): "every member's work records, tens to hundreds per member",
    ("compliance", "auditevent"): "an event for every act, append-only, never deleted",
    ("directory", "member"): "every employee of every enterprise, read by nearly every request",
    ("directory", "jobrun"): "a run per job, enterprise and night, kept as the jobs' record",
    ("directory", "jobchunk"): "the chunks of every nightly run, several per enterprise and night",
    ("offboarding", "notification"): "every message sent about every exit, kept as sent",
}
# Every history table (django-simple-history) is big too: a row for every change of every row of
# its model, never pruned. Model names start with this.
HISTORY_PREFIX = "historical"


def is_big(app_label: str, model_name: str) -> bool:
    model_name = model_name.lower()
    return (app_label, model_name) in BIG_TABLES or model_name.startswith(HISTORY_PREFIX)


class SetLockTimeout(migrations.operations.base.Operation):
    """`SET lock_timeout` on PostgreSQL (for the migration's transaction when it is atomic, for
    the connection otherwise); nothing on other databases. Put it first in the migration."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, seconds: int = 5):
        self.seconds = seconds

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        scope = "LOCAL " if schema_editor.atomic_migration else ""
        schema_editor.execute(f"SET {scope}lock_timeout = '{int(self.seconds)}s'")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self.database_forwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"Give up a lock not obtained within {self.seconds} seconds"

    def deconstruct(self):
        return (self.__class__.__qualname__, [], {"seconds": self.seconds})


class AddIndexConcurrently(postgres_operations.AddIndexConcurrently):
    """Django's `AddIndexConcurrently` on PostgreSQL (in a migration with `atomic = False`); a
    plain index elsewhere (SQLite has no concurrent build, and no concurrent writers to spare)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(
            self, app_label, schema_editor, from_state, to_state
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(
            self, app_label, schema_editor, from_state, to_state
        )


class AddPostgreSQLIndexConcurrently(AddIndexConcurrently):
    """An index only PostgreSQL can build (a GIN index with pg_trgm's `gin_trgm_ops`), built
    concurrently there; nothing on other databases (SQLite's LIKE reads the table, as before)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrently(postgres_operations.RemoveIndexConcurrently):
    """Django's `RemoveIndexConcurrently` on PostgreSQL (in a migration with `atomic = False`):
    dropping the index waits for no reader; a plain `RemoveIndex` elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_forwards(
            self, app_label, schema_editor, from_state, to_state
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_backwards(
            self, app_label, schema_editor, from_state, to_state
        )


class RunSQLOnPostgreSQL(migrations.RunSQL):
    """SQL only PostgreSQL runs (an index on a table of another app, `auth_user`, whose model is
    not ours to give `Meta.indexes`); nothing on other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


# --- The rule, as tests/test_migration_safety.py applies it -------------------------------------

# Operations that change nothing in the database: no lock taken.
_STATE_ONLY = (migrations.AlterModelOptions, migrations.AlterModelManagers)


def _model_of(operation) -> str | None:
    if isinstance(operation, migrations.RenameModel):
        return operation.old_name_lower
    name = getattr(operation, "model_name", None) or getattr(operation, "name", None)
    return name.lower() if isinstance(name, str) else None


def _indexed(field) -> bool:
    return bool(field.db_index or field.unique or field.primary_key)


def _changes_the_database(operation, state, app_label: str, model: str) -> bool:
    """False for an AlterField that changes only what the database does not hold (help text,
    choices, validators…): Django runs no SQL for it."""
    if not isinstance(operation, migrations.AlterField):
        return True
    before = state.models[app_label, model].fields.get(operation.name)
    if before is None:
        return True
    old, new = before.deconstruct()[1:], operation.field.deconstruct()[1:]
    for attr in operation.field.non_db_attrs:
        old[2].pop(attr, None)
        new[2].pop(attr, None)
    return old != new


def _builds_an_index_under_lock(operation, state, app_label: str, model: str) -> bool:
    """Whether `operation` builds an index on the table while holding its lock."""
    if isinstance(operation, migrations.AddIndex):
        return not isinstance(operation, postgres_operations.AddIndexConcurrently)
    if isinstance(operation, migrations.AddConstraint):
        return isinstance(operation.constraint, models.UniqueConstraint) or hasattr(
            operation.constraint,
            "expressions",  # ExclusionConstraint
        )
    if isinstance(operation, migrations.AlterUniqueTogether | migrations.AlterIndexTogether):
        return bool(operation.option_value)
    if isinstance(operation, migrations.AddField):
        return _indexed(operation.field)
    if isinstance(operation, migrations.AlterField):
        before = state.models[app_label, model].fields.get(operation.name)
        return _indexed(operation.field) and not (before is not None and _indexed(before))
    return False


def problems(migration, state) -> list[str]:
    """What `migration` does to a big table without the care above; `state` is the project's state
    before it (MigrationLoader.project_state)."""
    found = []
    created_here = set()
    timeout_set = False
    concurrent = False
    for position, operation in enumerate(migration.operations, start=1):
        where = f"operation {position} ({operation.__class__.__name__})"
        if isinstance(operation, SetLockTimeout):
            timeout_set = True
        if isinstance(operation, migrations.CreateModel):
            created_here.add(operation.name_lower)
        if isinstance(operation, postgres_operations.AddIndexConcurrently):
            concurrent = True
        model = _model_of(operation)
        touches = (
            model is not None
            and not isinstance(operation, (*_STATE_ONLY, migrations.CreateModel))
            and model not in created_here
            and is_big(migration.app_label, model)
            and _changes_the_database(operation, state, migration.app_label, model)
        )
        if touches:
            if not timeout_set:
                found.append(
                    f"{where} alters the big table {migration.app_label}.{model} before "
                    "SetLockTimeout(): put SetLockTimeout() first"
                )
                timeout_set = True  # said once
            if _builds_an_index_under_lock(operation, state, migration.app_label, model):
                found.append(
                    f"{where} builds an index on the big table {migration.app_label}.{model} "
                    "under lock: use directory.migration_ops.AddIndexConcurrently "
                    "(in a migration with atomic = False)"
                )
        operation.state_forwards(migration.app_label, state)
    if concurrent and migration.atomic:
        found.append("AddIndexConcurrently needs the migration's atomic = False")
    return found
