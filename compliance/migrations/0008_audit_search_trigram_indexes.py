"""The audit trail's admin search by words reads trigram indexes on the action and the object type
on PostgreSQL (directory/trigram.py; pg_trgm comes with directory 0016). The trail is a big table:
built concurrently, after a lock timeout. Nothing on SQLite."""

from django.db import migrations

from directory.migration_ops import AddPostgreSQLIndexConcurrently, SetLockTimeout
from directory.trigram import trigram_index


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("compliance", "0007_record_retention_index"),
        ("directory", "0016_search_trigram_indexes"),
    ]

    operations = [
        SetLockTimeout(),
        AddPostgreSQLIndexConcurrently(
            "auditevent", trigram_index("action", name="audit_action_trgm")
        ),
        AddPostgreSQLIndexConcurrently(
            "auditevent", trigram_index("object_type", name="audit_object_type_trgm")
        ),
    ]
