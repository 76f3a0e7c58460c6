"""The index the external contacts' admin list reads: an enterprise's contacts by name. Hundreds
of thousands of rows in a large enterprise: built concurrently, after a lock timeout."""

from django.db import migrations, models

from directory.migration_ops import AddIndexConcurrently, SetLockTimeout


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("directory", "0014_heartbeat"),
    ]

    operations = [
        SetLockTimeout(),
        AddIndexConcurrently(
            model_name="externalcontact",
            index=models.Index(fields=["enterprise", "name", "-id"], name="contact_list"),
        ),
    ]
