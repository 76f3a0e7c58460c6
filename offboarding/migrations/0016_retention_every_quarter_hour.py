"""The retention coordinator (`compliance.enforce_retention`) runs every 15 minutes instead of
hourly: it sends again, within the same night, the chunks a killed worker left undone, and
finishes an enterprise's night as soon as its chunks are done (compliance/jobs.py).

Changed only if its schedule is still the one offboarding/migrations/0008 created (hourly at
minute 5, UTC): a schedule edited in the admin is kept. Unapplying it puts the hourly one back on
the same condition.
"""

from django.db import migrations

TASK = "compliance.enforce_retention"
FIELDS = {"hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
HOURLY = {"minute": "5", **FIELDS}
QUARTER_HOURLY = {"minute": "5,20,35,50", **FIELDS}


def _swap(apps, old: dict, new: dict) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    task = PeriodicTask.objects.filter(name=TASK, task=TASK).select_related("crontab").first()
    if task is None or task.crontab is None or task.interval_id or task.solar_id:
        return
    crontab = task.crontab
    if str(crontab.timezone) != "UTC" or any(
        getattr(crontab, field) != value for field, value in old.items()
    ):
        return
    replacement = CrontabSchedule.objects.filter(**new, timezone="UTC").first()
    if replacement is None:
        replacement = CrontabSchedule.objects.create(**new, timezone="UTC")
    task.crontab = replacement
    task.save(update_fields=["crontab"])
    # django-celery-beat's scheduler reloads when this changes (its save() would do it too).
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def every_quarter_hour(apps, schema_editor):
    _swap(apps, HOURLY, QUARTER_HOURLY)


def hourly(apps, schema_editor):
    _swap(apps, QUARTER_HOURLY, HOURLY)


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0015_send_reminders_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(every_quarter_hour, hourly)]
