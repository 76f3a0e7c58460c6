"""A chain's head is only ever inserted at the chain's beginning: seq 0, the genesis hash, and
no unkeyed events before it (`legacy_until` 0).

Migration 0004 guards the head's UPDATE and DELETE; an INSERT was still open. Whoever could insert
rows could then start the head of an enterprise without a chain yet at a high `legacy_until`, and
events with a plain SHA-256 hash — which anyone can compute — would verify as written before the
chain was keyed. The writer (`compliance.audit.lock_chain`) inserts the head at the beginning
only; the marks of the chains written before the keys were set once by migration 0003, by UPDATE.

A trigger on PostgreSQL and on SQLite refuses any other INSERT.
"""

from django.db import migrations

GENESIS = "0" * 64

POSTGRESQL_CREATE = f"""
CREATE OR REPLACE FUNCTION compliance_auditchainhead_insert_guard() RETURNS trigger AS $$
BEGIN
    IF NEW.seq <> 0 OR NEW.legacy_until <> 0 OR NEW.hash <> '{GENESIS}' THEN
        RAISE EXCEPTION
            'compliance_auditchainhead starts at the beginning of its chain: INSERT refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER compliance_auditchainhead_insert_guard
    BEFORE INSERT ON compliance_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION compliance_auditchainhead_insert_guard();
"""

POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS compliance_auditchainhead_insert_guard ON compliance_auditchainhead;
DROP FUNCTION IF EXISTS compliance_auditchainhead_insert_guard();
"""

SQLITE_NAME = "compliance_auditchainhead_starts_at_the_beginning"
SQLITE_CREATE = f"""
CREATE TRIGGER {SQLITE_NAME} BEFORE INSERT ON compliance_auditchainhead
WHEN NEW.seq != 0 OR NEW.legacy_until != 0 OR NEW.hash != '{GENESIS}'
BEGIN
    SELECT RAISE(ABORT,
        'compliance_auditchainhead starts at the beginning of its chain: INSERT refused');
END
"""


def create_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_CREATE)
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {SQLITE_NAME}")
        schema_editor.execute(SQLITE_CREATE)


def drop_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {SQLITE_NAME}")


class Migration(migrations.Migration):
    dependencies = [("compliance", "0009_work_record_foreign_key_indexes_dropped")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
