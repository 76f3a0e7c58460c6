"""The schedule of `offboarding.settle_inheritance`: every 10 minutes.

Created only if no periodic task of that name exists, so a schedule edited in the admin is never
overwritten by this migration (nor by a later deploy); unapplying it removes the task.
"""

from django.db import migrations

TASK = "offboarding.settle_inheritance"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=TASK).exists():
        return
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.create(
        name=TASK,
        task=TASK,
        interval=every_ten_minutes,
        description=(
            "Handed-over customers whose acceptance period has ended become final "
            "(离职继承: waiting → done)."
        ),
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0003_inheritance"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
