"""The retention run's batches read an enterprise's records of a category in their own order,
(created_at, id), from one index: the batch stops at its size whatever the statistics say (a
freshly loaded table has none, and its plan sorted every due record for each batch). The new
index replaces (enterprise, category, created_at), which it contains. Work records are a big
table: built and dropped concurrently, after a lock timeout; the new one first, so the run always
has one."""

from django.db import migrations, models

from directory.migration_ops import (
    AddIndexConcurrently,
    RemoveIndexConcurrently,
    SetLockTimeout,
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("compliance", "0006_admin_list_indexes"),
    ]

    operations = [
        SetLockTimeout(),
        AddIndexConcurrently(
            model_name="workrecord",
            index=models.Index(
                fields=["enterprise", "category", "created_at", "id"], name="record_retention"
            ),
        ),
        RemoveIndexConcurrently(model_name="workrecord", name="record_retention_scan"),
    ]
