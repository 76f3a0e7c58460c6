"""Trigram indexes for the admin's `%word%` searches (PostgreSQL's pg_trgm).

Django's `icontains` (the admin's search) and `iexact` (its `=field`) compare on PostgreSQL
`UPPER(col::text)` with `LIKE UPPER('%word%')` or `= UPPER('word')`: an index on the bare column
is never read for them. `trigram_index` indexes that very expression with `gin_trgm_ops`, so both
lookups are answered from the index (a `%` or `_` the user types is escaped by Django, and stays a
literal character). A word of fewer than three characters has no trigram to look up: the index
cannot narrow it, and PostgreSQL reads the table as before.

The indexes exist only on PostgreSQL (directory.migration_ops.AddPostgreSQLIndexConcurrently);
SQLite reads the table.
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db.models.functions import Upper


def trigram_index(field: str, *, name: str) -> GinIndex:
    """A GIN trigram index on `UPPER(field)`: what `field__icontains` and `field__iexact` read."""
    return GinIndex(OpClass(Upper(field), name="gin_trgm_ops"), name=name)
