"""The notifications' admin search reads a trigram index on the subject on PostgreSQL
(directory/trigram.py; pg_trgm comes with directory 0016). Notifications are a big table: built
concurrently, after a lock timeout. Nothing on SQLite."""

from django.db import migrations

from directory.migration_ops import AddPostgreSQLIndexConcurrently, SetLockTimeout
from directory.trigram import trigram_index


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("directory", "0016_search_trigram_indexes"),
        ("offboarding", "0016_retention_every_quarter_hour"),
    ]

    operations = [
        SetLockTimeout(),
        AddPostgreSQLIndexConcurrently(
            "notification", trigram_index("subject", name="notification_subject_trgm")
        ),
    ]
