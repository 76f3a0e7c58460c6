"""The schedule of `offboarding.send_reminders`: every 15 minutes.

Created only if no periodic task of that name exists, so a schedule edited in the admin is never
overwritten by this migration (nor by a later deploy); unapplying it removes the task.
"""

from django.db import migrations

TASK = "offboarding.send_reminders"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=TASK).exists():
        return
    every_quarter_hour, _ = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    PeriodicTask.objects.create(
        name=TASK,
        task=TASK,
        interval=every_quarter_hour,
        description=(
            "Old super admins warned a day before their emergency window closes; compliance "
            "reminded of erasure requests due within 3 days; lost notifications queued again."
        ),
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0014_notifications"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
