import django.core.validators
from django.db import migrations, models

import directory.models


def give_each_enterprise_a_code(apps, schema_editor):
    """Existing enterprises get "e<id>" (unique, valid), and so do their past versions; the
    operator may rename it."""
    for model in ("Enterprise", "HistoricalEnterprise"):
        rows = apps.get_model("directory", model).objects
        for pk in rows.filter(code__isnull=True).values_list("id", flat=True).distinct():
            rows.filter(id=pk, code__isnull=True).update(code=f"e{pk}")


def code_field(**options):
    return models.CharField(
        "code",
        max_length=32,
        validators=[
            django.core.validators.RegexValidator(
                "^[a-z][a-z0-9-]{1,31}\\Z",
                "2 to 32 lower-case letters, digits or hyphens, starting with a letter (it is "
                "typed in every member's login).",
            )
        ],
        help_text=(
            "Short code typed in the members' logins (name@code), e.g. acme. Lower-case "
            "letters, digits and hyphens."
        ),
        **options,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0008_enterprise_durations_bounded"),
    ]

    operations = [
        migrations.AddField(model_name="enterprise", name="code", field=code_field(null=True)),
        migrations.AddField(
            model_name="historicalenterprise", name="code", field=code_field(null=True)
        ),
        migrations.RunPython(give_each_enterprise_a_code, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="enterprise",
            name="code",
            field=code_field(default=directory.models.new_enterprise_code, unique=True),
        ),
        migrations.AlterField(
            model_name="historicalenterprise",
            name="code",
            field=code_field(db_index=True, default=directory.models.new_enterprise_code),
        ),
    ]
