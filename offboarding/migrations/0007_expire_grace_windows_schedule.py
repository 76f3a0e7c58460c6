"""The schedule of `offboarding.expire_grace_windows`: every 5 minutes.

Created only if no periodic task of that name exists, so a schedule edited in the admin is never
overwritten by this migration (nor by a later deploy); unapplying it removes the task.
"""

from django.db import migrations

TASK = "offboarding.expire_grace_windows"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=TASK).exists():
        return
    every_five_minutes, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.create(
        name=TASK,
        task=TASK,
        interval=every_five_minutes,
        description=(
            "Old super admins' emergency windows (超级管理员移交, WeCom policy) close at their "
            "deadline; their sessions end."
        ),
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0006_super_admin_handover"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
