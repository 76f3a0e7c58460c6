"""The audit chain's head is protected like its events, and SQLite refuses what PostgreSQL does.

PostgreSQL: a trigger on `compliance_auditchainhead` refuses DELETE, and any UPDATE but the
writer's: an advance of `seq`/`hash` to an event of the same chain (a higher or equal seq, the
event with that seq and hash present). The enterprise and `legacy_until` never change. So the head
cannot be deleted, set back, or pointed at an event that is not there; a missing or wrong head is
reported by `verify_audit`, and the doors of that enterprise refuse (compliance.audit.lock_chain).

SQLite: triggers refuse UPDATE and DELETE of events (migration 0002 did it for PostgreSQL) and
the same DELETE and UPDATE of the head. SQLite drops a table's triggers with the table: a later
migration that makes Django rebuild either table on SQLite (most field changes there) must create
them again (`create_sqlite_triggers`).

TRUNCATE (PostgreSQL) fires no row trigger: grant the application's database user no TRUNCATE and
no ownership of these tables (README "Production").
"""

from django.db import migrations

POSTGRESQL_CREATE = """
CREATE OR REPLACE FUNCTION compliance_auditchainhead_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'compliance_auditchainhead is kept for good: DELETE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.enterprise_id IS DISTINCT FROM OLD.enterprise_id
        OR NEW.legacy_until IS DISTINCT FROM OLD.legacy_until
        OR NEW.seq < OLD.seq
        OR ((NEW.seq, NEW.hash) IS DISTINCT FROM (OLD.seq, OLD.hash) AND NOT EXISTS (
            SELECT 1 FROM compliance_auditevent
            WHERE enterprise_id = NEW.enterprise_id AND seq = NEW.seq AND hash = NEW.hash))
    THEN
        RAISE EXCEPTION
            'compliance_auditchainhead only advances to an event of its chain: UPDATE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER compliance_auditchainhead_guard
    BEFORE UPDATE OR DELETE ON compliance_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION compliance_auditchainhead_guard();
"""

POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS compliance_auditchainhead_guard ON compliance_auditchainhead;
DROP FUNCTION IF EXISTS compliance_auditchainhead_guard();
"""

# One statement each (name → CREATE TRIGGER): the test suite's SQLite backend lifts and restores
# them around its flush (tests/sqlite_backend).
SQLITE_TRIGGERS = {
    "compliance_auditevent_no_update": """
CREATE TRIGGER compliance_auditevent_no_update BEFORE UPDATE ON compliance_auditevent
BEGIN
    SELECT RAISE(ABORT, 'compliance_auditevent is append-only: UPDATE refused');
END
""",
    "compliance_auditevent_no_delete": """
CREATE TRIGGER compliance_auditevent_no_delete BEFORE DELETE ON compliance_auditevent
BEGIN
    SELECT RAISE(ABORT, 'compliance_auditevent is append-only: DELETE refused');
END
""",
    "compliance_auditchainhead_no_delete": """
CREATE TRIGGER compliance_auditchainhead_no_delete BEFORE DELETE ON compliance_auditchainhead
BEGIN
    SELECT RAISE(ABORT, 'compliance_auditchainhead is kept for good: DELETE refused');
END
""",
    "compliance_auditchainhead_advance_only": """
CREATE TRIGGER compliance_auditchainhead_advance_only BEFORE UPDATE ON compliance_auditchainhead
WHEN NEW.enterprise_id IS NOT OLD.enterprise_id
    OR NEW.legacy_until IS NOT OLD.legacy_until
    OR NEW.seq < OLD.seq
    OR ((NEW.seq IS NOT OLD.seq OR NEW.hash IS NOT OLD.hash) AND NOT EXISTS (
        SELECT 1 FROM compliance_auditevent
        WHERE enterprise_id = NEW.enterprise_id AND seq = NEW.seq AND hash = NEW.hash))
BEGIN
    SELECT RAISE(ABORT,
        'compliance_auditchainhead only advances to an event of its chain: UPDATE refused');
END
""",
}


def create_sqlite_triggers(schema_editor):
    for name, create in SQLITE_TRIGGERS.items():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
        schema_editor.execute(create)


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_CREATE)
    elif vendor == "sqlite":
        create_sqlite_triggers(schema_editor)


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)
    elif vendor == "sqlite":
        for name in SQLITE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("compliance", "0003_audit_key_id_and_legacy_until")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
