"""The schedules of the nightly jobs (J-2 … J-5), in django-celery-beat.

The nightly jobs run every hour, at minute 5: each run takes the enterprises whose local night
(01:00–05:59 in their own time zone) has come and that it has not done on their local date
(directory/jobs.py), so each enterprise is done once a night, at its night. The HR sync runs every
10 minutes. config/schedule.py says what each job does.

Each task is created only if no periodic task of its name exists, so a schedule edited in the
admin is never overwritten by this migration (nor by a later deploy); unapplying it removes them.
"""

from django.db import migrations

HOURLY = {"minute": "5", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}

# name (= task) → (schedule: "hourly" or minutes between runs, description)
SCHEDULES = {
    "offboarding.close_undo_windows": (
        "hourly",
        "Completed exits whose undo window has ended are closed and their records sealed, "
        "each enterprise once a night at its local night (J-2).",
    ),
    "compliance.enforce_retention": (
        "hourly",
        "Retention policies applied past their age, holds honoured, restricted erasures finished "
        "when allowed (工作聊天记录保存≥180天), each enterprise once a night (J-3).",
    ),
    "directory.mark_pending_dissolution": (
        "hourly",
        "Departments without active members marked pending dissolution (待解散), those with "
        "members again made active, each enterprise once a night (J-4).",
    ),
    "offboarding.sync_hr_terminations": (
        10,
        "The HR system's pending terminations become exits (支持HR系统自动同步, J-5).",
    ),
}


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    existing = set(PeriodicTask.objects.filter(name__in=SCHEDULES).values_list("name", flat=True))
    for name, (schedule, description) in SCHEDULES.items():
        if name in existing:
            continue
        if schedule == "hourly":
            crontab = CrontabSchedule.objects.filter(**HOURLY, timezone="UTC").first()
            if crontab is None:
                crontab = CrontabSchedule.objects.create(**HOURLY, timezone="UTC")
            PeriodicTask.objects.create(
                name=name, task=name, crontab=crontab, description=description
            )
        else:
            interval, _ = IntervalSchedule.objects.get_or_create(every=schedule, period="minutes")
            PeriodicTask.objects.create(
                name=name, task=name, interval=interval, description=description
            )


def remove_schedules(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0007_expire_grace_windows_schedule"),
        ("directory", "0007_jobs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
