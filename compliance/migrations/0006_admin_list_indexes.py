"""The indexes the admin's lists read: an enterprise's audit trail newest first, and its work
records newest first. Both tables are big: built concurrently, after a lock timeout."""

from django.db import migrations, models

from directory.migration_ops import AddIndexConcurrently, SetLockTimeout


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("compliance", "0005_retention_keep_days_bounded"),
        ("directory", "0014_heartbeat"),
    ]

    operations = [
        SetLockTimeout(),
        AddIndexConcurrently(
            model_name="auditevent",
            index=models.Index(fields=["enterprise", "-seq"], name="audit_event_list"),
        ),
        AddIndexConcurrently(
            model_name="workrecord",
            index=models.Index(fields=["enterprise", "-created_at", "-id"], name="record_list"),
        ),
    ]
