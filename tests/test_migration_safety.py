"""Migrations on big tables do not lock the application out (README "Upgrades"): each sets a
lock_timeout first and builds its indexes concurrently (directory/migration_ops.py). Every
migration of our apps is walked; the ones written before the rule are listed by name."""

import pytest
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ModelState, ProjectState

from directory import migration_ops
from directory.migration_ops import (
    AddIndexConcurrently,
    AddPostgreSQLIndexConcurrently,
    RemoveIndexConcurrently,
    RunSQLOnPostgreSQL,
    SetLockTimeout,
    problems,
)
from directory.trigram import trigram_index

OUR_APPS = ("directory", "offboarding", "compliance")

# Written before the rule, each of them alters a big table without it: every installation has
# applied them already. Nothing is added to this list.
GRANDFATHERED = {
    ("compliance", "0003_audit_key_id_and_legacy_until"),
    ("directory", "0003_department_root_unique_joined_at"),
    ("directory", "0004_enterprise_inheritance_policy"),
    ("directory", "0005_enterprise_handover_policy"),
    ("directory", "0006_enterprise_erasure_mode"),
    ("directory", "0009_enterprise_code"),
    ("directory", "0010_enterprise_language_invitation"),
    ("directory", "0011_department_code_member_mobile"),
    ("offboarding", "0002_exit_login_before_removal"),
    ("offboarding", "0012_approval_step_reassign_and_skip"),
    ("offboarding", "0013_exit_checks_at_end"),
}


def our_migrations():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for key in sorted(loader.disk_migrations):
        if key[0] in OUR_APPS:
            yield key, loader.disk_migrations[key], loader


def test_every_migration_on_a_big_table_sets_a_lock_timeout_and_builds_indexes_concurrently():
    found = {}
    for key, migration, loader in our_migrations():
        if key in GRANDFATHERED:
            continue
        said = problems(migration, loader.project_state(key, at_end=False))
        if said:
            found[".".join(key)] = said

    assert found == {}


def test_the_grandfathered_list_names_only_migrations_that_exist_and_need_it():
    walked = {
        key: problems(migration, loader.project_state(key, at_end=False))
        for key, migration, loader in our_migrations()
    }

    assert GRANDFATHERED <= set(walked)
    assert [key for key in sorted(GRANDFATHERED) if not walked[key]] == []


# --- The rule itself, on migrations written for the test -------------------------------------


def state_with_a_member_and_a_small_table() -> ProjectState:
    state = ProjectState()
    for name in ("Member", "Department"):
        state.add_model(
            ModelState(
                "directory",
                name,
                [
                    ("id", models.BigAutoField(primary_key=True)),
                    ("name", models.CharField(max_length=50)),
                ],
            )
        )
    return state


def migration(*operations, atomic=True):
    written = type(
        "Migration", (migrations.Migration,), {"operations": list(operations), "atomic": atomic}
    )
    return written("0099_written_for_the_test", "directory")


NAME_INDEX = models.Index(fields=["name"], name="member_name_idx")


@pytest.mark.parametrize(
    "operation",
    [
        migrations.AddIndex("member", NAME_INDEX),
        migrations.AddField("member", "code", models.CharField(max_length=9, db_index=True)),
        migrations.AlterField("member", "name", models.CharField(max_length=50, unique=True)),
        migrations.AddConstraint(
            "member", models.UniqueConstraint(fields=["name"], name="member_name_unique")
        ),
        migrations.AlterUniqueTogether("member", {("id", "name")}),
    ],
    ids=["AddIndex", "AddField db_index", "AlterField unique", "UniqueConstraint", "together"],
)
def test_an_index_built_under_lock_on_a_big_table_is_refused(operation):
    said = problems(migration(SetLockTimeout(), operation), state_with_a_member_and_a_small_table())

    assert len(said) == 1 and "builds an index on the big table directory.member" in said[0]


def test_a_big_table_altered_without_a_lock_timeout_is_refused():
    field = migrations.AddField("member", "nickname", models.CharField(max_length=9, default=""))

    said = problems(migration(field), state_with_a_member_and_a_small_table())

    assert said == [
        "operation 1 (AddField) alters the big table directory.member before SetLockTimeout(): "
        "put SetLockTimeout() first"
    ]


def test_a_change_the_database_does_not_hold_needs_no_lock_timeout():
    help_text = migrations.AlterField(
        "member", "name", models.CharField(max_length=50, help_text="As on the ID card.")
    )
    longer = migrations.AlterField("member", "name", models.CharField(max_length=80))

    assert problems(migration(help_text), state_with_a_member_and_a_small_table()) == []
    assert len(problems(migration(longer), state_with_a_member_and_a_small_table())) == 1


def test_a_history_table_is_big_and_a_small_one_is_not():
    assert migration_ops.is_big("directory", "HistoricalDepartment")
    assert not migration_ops.is_big("directory", "department")
    index = models.Index(fields=["name"], name="department_name_idx")

    said = problems(
        migration(migrations.AddIndex("department", index)),
        state_with_a_member_and_a_small_table(),
    )

    assert said == []


def test_a_concurrent_index_after_a_lock_timeout_in_a_non_atomic_migration_passes():
    safe = migration(SetLockTimeout(), AddIndexConcurrently("member", NAME_INDEX), atomic=False)
    atomic = migration(SetLockTimeout(), AddIndexConcurrently("member", NAME_INDEX))

    assert problems(safe, state_with_a_member_and_a_small_table()) == []
    assert problems(atomic, state_with_a_member_and_a_small_table()) == [
        "AddIndexConcurrently needs the migration's atomic = False"
    ]


def test_a_table_created_in_the_same_migration_is_not_yet_big():
    created = migrations.CreateModel(
        "HistoricalDepartment",
        [("id", models.BigAutoField(primary_key=True)), ("name", models.CharField(max_length=9))],
    )
    index = models.Index(fields=["name"], name="hist_department_name_idx")

    said = problems(
        migration(created, migrations.AddIndex("historicaldepartment", index)),
        state_with_a_member_and_a_small_table(),
    )

    assert said == []


# --- The operations on the database ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_lock_timeout_and_the_concurrent_index_run_on_this_database():
    """SetLockTimeout sets PostgreSQL's lock_timeout (nothing on SQLite); AddIndexConcurrently
    builds the index on either, and drops it going back."""
    state = ProjectState()
    state.add_model(
        ModelState(
            "directory",
            "Probe",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("name", models.CharField(max_length=9)),
            ],
            options={"db_table": "migration_safety_probe"},
        )
    )
    index = models.Index(fields=["name"], name="migration_safety_probe_idx")
    add_index = AddIndexConcurrently("probe", index)
    after = state.clone()
    add_index.state_forwards("directory", after)
    with connection.schema_editor(atomic=False) as editor:
        editor.create_model(state.apps.get_model("directory", "Probe"))
    try:
        with connection.schema_editor(atomic=False) as editor:
            SetLockTimeout(seconds=3).database_forwards("directory", editor, state, state)
            add_index.database_forwards("directory", editor, state, after)
        with connection.cursor() as cursor:
            indexes = connection.introspection.get_constraints(cursor, "migration_safety_probe")
            if connection.vendor == "postgresql":
                cursor.execute("SHOW lock_timeout")
                assert cursor.fetchone()[0] == "3s"
                cursor.execute("SET lock_timeout = 0")
        assert indexes["migration_safety_probe_idx"]["index"] is True
        with connection.schema_editor(atomic=False) as editor:
            add_index.database_backwards("directory", editor, after, state)
        with connection.cursor() as cursor:
            indexes = connection.introspection.get_constraints(cursor, "migration_safety_probe")
        assert "migration_safety_probe_idx" not in indexes
    finally:
        with connection.schema_editor(atomic=False) as editor:
            editor.delete_model(state.apps.get_model("directory", "Probe"))


@pytest.mark.django_db(transaction=True)
def test_a_trigram_index_is_built_on_postgresql_only_and_an_index_is_dropped_concurrently():
    """AddPostgreSQLIndexConcurrently builds pg_trgm's index on PostgreSQL and nothing on SQLite;
    RemoveIndexConcurrently drops an index on either; RunSQLOnPostgreSQL runs on PostgreSQL
    only."""
    state = ProjectState()
    state.add_model(
        ModelState(
            "directory",
            "Probe",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("name", models.CharField(max_length=9)),
            ],
            options={"db_table": "migration_safety_probe"},
        )
    )
    trigram = AddPostgreSQLIndexConcurrently("probe", trigram_index("name", name="probe_trgm"))
    plain = AddIndexConcurrently("probe", models.Index(fields=["name"], name="probe_name_idx"))
    with_trigram = state.clone()
    trigram.state_forwards("directory", with_trigram)
    with_both = with_trigram.clone()
    plain.state_forwards("directory", with_both)
    remove = RemoveIndexConcurrently("probe", "probe_name_idx")
    sql = RunSQLOnPostgreSQL(
        "CREATE INDEX CONCURRENTLY probe_sql_idx ON migration_safety_probe (id, name)",
        reverse_sql="DROP INDEX CONCURRENTLY probe_sql_idx",
    )

    def indexes():
        with connection.cursor() as cursor:
            return set(connection.introspection.get_constraints(cursor, "migration_safety_probe"))

    with connection.schema_editor(atomic=False) as editor:
        editor.create_model(state.apps.get_model("directory", "Probe"))
    try:
        with connection.schema_editor(atomic=False) as editor:
            trigram.database_forwards("directory", editor, state, with_trigram)
            plain.database_forwards("directory", editor, with_trigram, with_both)
            sql.database_forwards("directory", editor, with_both, with_both)
        on_postgresql = connection.vendor == "postgresql"
        assert ("probe_trgm" in indexes()) is on_postgresql
        assert ("probe_sql_idx" in indexes()) is on_postgresql
        assert "probe_name_idx" in indexes()

        after_removal = with_both.clone()
        remove.state_forwards("directory", after_removal)
        with connection.schema_editor(atomic=False) as editor:
            remove.database_forwards("directory", editor, with_both, after_removal)
            sql.database_backwards("directory", editor, with_both, with_both)
            trigram.database_backwards("directory", editor, with_trigram, state)
        assert not {"probe_trgm", "probe_sql_idx", "probe_name_idx"} & indexes()
    finally:
        with connection.schema_editor(atomic=False) as editor:
            editor.delete_model(state.apps.get_model("directory", "Probe"))
