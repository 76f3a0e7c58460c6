"""The work records' two single-column foreign-key indexes go: the composite indexes that start
with the same column (`record_list`, `record_retention`; `record_owner`) serve every query
they served, and each index costs every sealing and anonymizing UPDATE a new entry.

Only the indexes go: Django's own AlterField would also drop and re-add each foreign key, which
checks every row of this big table while it blocks writes. On PostgreSQL they are dropped
concurrently (no lock held on the table while running transactions finish), after a lock
timeout."""

import django.db.models.deletion
from django.db import migrations, models

from directory.migration_ops import SetLockTimeout


# The names Django gave the two indexes (`schema_editor._create_index_name(table, [column])`).
INDEXES = {
    "compliance_workrecord_enterprise_id_6b1a5091": "enterprise_id",
    "compliance_workrecord_owner_id_31c36a33": "owner_id",
}


def drop_indexes(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name in INDEXES:
        schema_editor.execute(
            f"DROP INDEX {concurrently}IF EXISTS {schema_editor.quote_name(name)}"
        )


def create_indexes(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {schema_editor.quote_name(name)} "
            f"ON compliance_workrecord ({schema_editor.quote_name(column)})"
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("compliance", "0008_audit_search_trigram_indexes"),
        ("directory", "0015_contact_list_index"),
    ]

    operations = [
        SetLockTimeout(),
        migrations.RunPython(drop_indexes, create_indexes, elidable=False),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="workrecord",
                    name="enterprise",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="work_records",
                        to="directory.enterprise",
                        verbose_name="enterprise",
                    ),
                ),
                migrations.AlterField(
                    model_name="workrecord",
                    name="owner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="work_records",
                        to="directory.member",
                        verbose_name="owner",
                    ),
                ),
            ]
        ),
    ]
