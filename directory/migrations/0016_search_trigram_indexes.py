"""The admin's `%word%` searches read trigram indexes on PostgreSQL (directory/trigram.py): pg_trgm,
then a GIN index on `UPPER(col)` for each field searched in members, external contacts, customer
groups, job runs and logins. Members and job runs are big tables (contacts and logins nearly as
big): every index is built concurrently, after a lock timeout. Nothing on SQLite.

pg_trgm is a trusted extension (PostgreSQL 13+): the owner role that runs `migrate` creates it,
being the database's owner (deploy/postgresql-roles.sql); no superuser needed."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from directory.migration_ops import (
    AddPostgreSQLIndexConcurrently,
    RunSQLOnPostgreSQL,
    SetLockTimeout,
)
from directory.trigram import trigram_index


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("directory", "0015_contact_list_index"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        SetLockTimeout(),
        TrigramExtension(),
        AddPostgreSQLIndexConcurrently("member", trigram_index("name", name="member_name_trgm")),
        AddPostgreSQLIndexConcurrently(
            "member", trigram_index("employee_number", name="member_number_trgm")
        ),
        AddPostgreSQLIndexConcurrently("member", trigram_index("title", name="member_title_trgm")),
        AddPostgreSQLIndexConcurrently(
            "externalcontact", trigram_index("name", name="contact_name_trgm")
        ),
        AddPostgreSQLIndexConcurrently(
            "externalcontact", trigram_index("company", name="contact_company_trgm")
        ),
        AddPostgreSQLIndexConcurrently(
            "customergroup", trigram_index("name", name="customer_group_name_trgm")
        ),
        AddPostgreSQLIndexConcurrently("jobrun", trigram_index("job", name="job_run_job_trgm")),
        # The logins (searched by the members' and the notifications' admin, and by the user
        # admin): Django's user model takes no index of ours in its Meta, so the same in SQL.
        *[
            RunSQLOnPostgreSQL(
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "user_{column}_trgm" ON "auth_user" '
                f'USING gin ((UPPER("{column}")) gin_trgm_ops)',
                reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "user_{column}_trgm"',
            )
            for column in ("username", "email", "first_name", "last_name")
        ],
    ]
