"""PostgreSQL for the test suite, with a `flush` that deletes rows instead of truncating tables.

Transactional tests (the browser tests, the row-lock races) flush the database after each test.
TRUNCATE gives each of the ~50 tables a new file, about 0.4 s a flush on PostgreSQL; DELETE of the
few rows a test wrote takes milliseconds. Django's foreign keys on PostgreSQL are DEFERRABLE
INITIALLY DEFERRED and `flush` runs in one transaction, so the order of the deletes does not
matter. Everything else is Django's backend as production uses it.
"""

from django.db.backends.postgresql import base, operations

APPEND_ONLY_TABLES = {"compliance_auditevent", "compliance_auditchainhead"}


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if not tables or reset_sequences or allow_cascade:
            return super().sql_flush(
                style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        return [
            # The audit tables refuse DELETE (triggers, compliance migrations 0002 and 0004):
            # truncate them.
            f"{style.SQL_KEYWORD('TRUNCATE')} {style.SQL_FIELD(self.quote_name(table))};"
            if table in APPEND_ONLY_TABLES
            else f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};"
            for table in tables
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
