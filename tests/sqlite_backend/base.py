"""SQLite for the test suite: Django's backend, with a `flush` that lifts the audit triggers.

On SQLite, triggers refuse UPDATE and DELETE of audit events and DELETE of a chain's head
(compliance migration 0004); SQLite has no TRUNCATE that would pass them. Transactional tests flush
the database after each test by DELETE: here the flush drops those triggers first and creates them
again after, in the flush's own transaction. Everything else is Django's backend.
"""

import importlib

from django.db.backends.sqlite3 import base, operations


def audit_triggers() -> dict[str, str]:
    """The SQLite triggers of compliance migration 0004 (read once the apps are loaded)."""
    return importlib.import_module(
        "compliance.migrations.0004_audit_head_protected_and_sqlite_triggers"
    ).SQLITE_TRIGGERS


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(
            style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if not statements or not {"compliance_auditevent", "compliance_auditchainhead"} & set(
            tables
        ):
            return statements
        triggers = audit_triggers()
        lift = [f"DROP TRIGGER IF EXISTS {name};" for name in triggers]
        restore = [create.strip() + ";" for create in triggers.values()]
        return lift + statements + restore


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
