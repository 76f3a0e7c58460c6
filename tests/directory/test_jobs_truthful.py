"""Jobs that tell the truth (directory/jobs.py): a run whose worker died is marked lost and warned
about; a skipped run does not finish before it starts; a failed run fails its Celery task; a task
that fails outside a run is recorded where staff see it, once; a night's totals are never counted
twice; every scheduled task writes a run; a job that has not succeeded within its schedule is
warned about on the admin home and by the readiness check; the broker settings retry for ever.
"""

import fcntl
import importlib
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from health_check.exceptions import ServiceWarning

import compliance.tasks  # noqa: F401  (the tasks registered by name)
import directory.tasks  # noqa: F401
from config.celery import app
from directory import beat_lock, jobs
from directory.choices import JobStatus
from directory.health_jobs import OverdueJobsCheck
from directory.models import JobRun, NightlyMark
from offboarding import jobs as offboarding_jobs
from offboarding import notifications
from offboarding import tasks as offboarding_tasks

# The schedules as migrated, written again if a transactional test flushed them.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("migrated_schedules")]

# 02:05 in Shanghai (UTC+8) on 11 March 2026: the night of an enterprise there.
SHANGHAI_NIGHT = datetime(2026, 3, 10, 18, 5, tzinfo=UTC)
# 12:05 in Shanghai: its day.
SHANGHAI_DAY = datetime(2026, 3, 10, 4, 5, tzinfo=UTC)


def dead_run(job: str, at: datetime) -> JobRun:
    """A run that took the job's lease at `at` and was never heard of again (worker killed)."""
    with time_machine.travel(at, tick=False):
        return jobs._start(job, jobs.LEASE).row


# ---------------------------------------------------------------------------------------------
# Lost runs


def test_a_run_whose_lease_expired_while_running_is_marked_lost_by_the_overdue_check():
    dead = dead_run("test.job", SHANGHAI_DAY)
    # before the lease expires it is still running
    assert jobs.mark_lost_runs(SHANGHAI_DAY + jobs.LEASE - timedelta(seconds=1)) == 0
    assert JobRun.objects.get(pk=dead.pk).status == JobStatus.RUNNING
    # after, the overdue check marks it lost, finished when its lease expired
    jobs.overdue_jobs(SHANGHAI_DAY + jobs.LEASE + timedelta(minutes=5))
    lost = JobRun.objects.get(pk=dead.pk)
    assert lost.status == JobStatus.LOST
    assert lost.finished_at == SHANGHAI_DAY + jobs.LEASE


def test_a_run_that_ended_is_never_taken_for_lost():
    with time_machine.travel(SHANGHAI_DAY, tick=False), jobs.job_run("test.job") as run:
        assert run is not None
    assert jobs.mark_lost_runs(SHANGHAI_DAY + timedelta(days=1)) == 0
    assert JobRun.objects.get(pk=run.pk).status == JobStatus.SUCCEEDED


def test_the_admin_home_warns_about_a_run_lost_within_the_last_day(hr_client):
    now = timezone.now()
    dead = dead_run("offboarding.close_undo_windows", now - jobs.LEASE - timedelta(minutes=1))
    older = dead_run("directory.mark_pending_dissolution", now - timedelta(days=2))
    page = hr_client.get(reverse("admin:index")).content.decode()
    assert 'id="lost-job-runs"' in page
    warnings = page.split('id="lost-job-runs"')[1].split("</ul>")[0]
    assert "Close exits past their undo window" in warnings
    assert "was lost: its worker stopped before the run ended" in warnings
    assert reverse("admin:directory_jobrun_change", args=[dead.pk]) in warnings
    # a run lost two days ago is history: listed as lost, no warning
    assert JobRun.objects.get(pk=older.pk).status == JobStatus.LOST
    assert reverse("admin:directory_jobrun_change", args=[older.pk]) not in warnings
    assert 'class="job-run-status job-run-lost">Lost<' in page


def test_the_lost_status_reads_in_chinese():
    from django.utils import translation

    with translation.override("zh-hans"):
        assert str(JobStatus.LOST.label) != "Lost"
        assert str(JobStatus.PARTIAL.label) != "Waiting for chunks"


def test_a_skipped_run_finishes_when_it_starts():
    with time_machine.travel(SHANGHAI_DAY, tick=False), jobs.job_run("test.job"):
        with time_machine.travel(SHANGHAI_DAY + timedelta(seconds=3), tick=True):
            with jobs.job_run("test.job") as second:
                assert second is None
    skipped = JobRun.objects.get(status=JobStatus.SKIPPED)
    assert skipped.started_at == skipped.finished_at
    assert skipped.started_at >= SHANGHAI_DAY + timedelta(seconds=3)


# ---------------------------------------------------------------------------------------------
# Never counted twice


def test_a_night_finished_once_is_not_counted_again(enterprise):
    with time_machine.travel(SHANGHAI_NIGHT, tick=False), jobs.job_run("test.job") as run:
        assert jobs.finish_enterprise(run, "test.job", enterprise, totals={"closed": 2})
        totals = mock.Mock(return_value={"closed": 2})
        assert not jobs.finish_enterprise(run, "test.job", enterprise, totals=totals)
        totals.assert_not_called()
    assert JobRun.objects.get(pk=run.pk).counts == {str(enterprise.pk): {"closed": 2}}
    assert NightlyMark.objects.filter(enterprise=enterprise).count() == 1


def test_a_run_killed_while_recording_the_night_leaves_neither_its_totals_nor_its_mark(enterprise):
    def killed():
        raise SystemExit("worker killed")  # not an Exception: as a SIGKILL, nothing catches it

    with time_machine.travel(SHANGHAI_NIGHT, tick=False):
        dead = jobs._start("test.job", jobs.LEASE)
        with pytest.raises(SystemExit):
            jobs.finish_enterprise(dead, "test.job", enterprise, totals=killed)
    assert not NightlyMark.objects.exists()
    # the run that takes over records the night once
    with time_machine.travel(SHANGHAI_NIGHT + jobs.LEASE + timedelta(minutes=1), tick=False):
        with jobs.job_run("test.job") as run:
            assert jobs.finish_enterprise(run, "test.job", enterprise, totals={"closed": 2})
    assert JobRun.objects.get(pk=dead.pk).status == JobStatus.LOST
    assert JobRun.objects.get(pk=run.pk).counts == {str(enterprise.pk): {"closed": 2}}


# ---------------------------------------------------------------------------------------------
# Celery agrees with the admin


def test_a_run_that_failed_fails_its_task_and_is_recorded_once(enterprise, monkeypatch):
    def close_undo_windows():
        with jobs.job_run(offboarding_jobs.JOB) as run:
            run.count(enterprise.pk, closed=1)
            run.error(enterprise.pk, "exit 7: refused")
            return 1

    monkeypatch.setattr(offboarding_jobs, "close_undo_windows", close_undo_windows)
    result = offboarding_tasks.close_undo_windows.apply()
    # the task fails, once its run is written as failed, and is not retried
    assert result.state == "FAILURE"
    assert isinstance(result.result, jobs.JobFailed)
    assert "exit 7: refused" in str(result.result)
    # one failed run: the failure handler adds none
    run = JobRun.objects.get()
    assert run.status == JobStatus.FAILED
    assert run.counts == {str(enterprise.pk): {"closed": 1}}


def test_a_run_that_succeeded_leaves_its_task_succeeded():
    result = offboarding_tasks.expire_grace_windows.apply()
    assert result.state == "SUCCESS" and result.result == 0
    assert JobRun.objects.get().status == JobStatus.SUCCEEDED


def test_an_exception_out_of_a_run_is_recorded_by_the_run_alone(monkeypatch):
    monkeypatch.setattr(
        offboarding_tasks.handover,
        "close_grace_windows",
        mock.Mock(side_effect=RuntimeError("database gone")),
    )
    result = offboarding_tasks.expire_grace_windows.apply()
    assert result.state == "FAILURE"
    run = JobRun.objects.get()
    assert run.status == JobStatus.FAILED
    assert run.errors == [{"enterprise": None, "error": "RuntimeError: database gone"}]


def test_a_task_failing_outside_a_run_is_recorded_as_a_failed_run_of_its_name(
    hr_client, monkeypatch
):
    monkeypatch.setattr(
        notifications, "deliver", mock.Mock(side_effect=RuntimeError("mail queue table missing"))
    )
    result = offboarding_tasks.send_notification.apply(args=[12345])
    assert result.state == "FAILURE"
    run = JobRun.objects.get()
    assert run.job == "offboarding.send_notification"
    assert run.status == JobStatus.FAILED
    assert run.started_at == run.finished_at
    assert "RuntimeError: mail queue table missing" in run.errors[0]["error"]
    # and staff see it on the admin home like any failed run, by its name
    page = hr_client.get(reverse("admin:index")).content.decode()
    warnings = page.split('id="failed-job-runs"')[1].split("</ul>")[0]
    assert reverse("admin:directory_jobrun_change", args=[run.pk]) in warnings
    assert "The latest run of the job Send a notification" in warnings


def test_every_scheduled_task_writes_a_run(enterprise):
    scheduled = set(PeriodicTask.objects.values_list("task", flat=True))
    assert scheduled >= {
        "offboarding.settle_inheritance",
        "offboarding.expire_grace_windows",
        "offboarding.close_undo_windows",
        "offboarding.sync_hr_terminations",
        "offboarding.send_reminders",
        "compliance.enforce_retention",
        "directory.mark_pending_dissolution",
    }
    with time_machine.travel(SHANGHAI_NIGHT, tick=False):
        for name in sorted(scheduled):
            result = app.tasks[name].apply()
            assert result.state == "SUCCESS", (name, result.result)
    assert set(JobRun.objects.values_list("job", flat=True)) == scheduled
    assert set(JobRun.objects.values_list("status", flat=True)) == {JobStatus.SUCCEEDED}


# ---------------------------------------------------------------------------------------------
# Overdue jobs


def succeeded(job: str, at: datetime) -> JobRun:
    return JobRun.objects.create(
        job=job, status=JobStatus.SUCCEEDED, started_at=at, finished_at=at + timedelta(seconds=2)
    )


def overdue_names(now: datetime) -> set[str]:
    return {overdue.job for overdue in jobs.overdue_jobs(now)}


def test_the_expected_interval_comes_from_each_schedule():
    by_task = {
        task.task: jobs.expected_interval(task)
        for task in PeriodicTask.objects.select_related("interval", "crontab")
    }
    assert by_task["offboarding.expire_grace_windows"] == timedelta(minutes=5)
    assert by_task["offboarding.settle_inheritance"] == timedelta(minutes=10)
    assert by_task["offboarding.send_reminders"] == timedelta(minutes=15)
    # the nightly jobs owe each enterprise a night: once a day
    assert by_task["compliance.enforce_retention"] == timedelta(days=1)
    assert by_task["directory.mark_pending_dissolution"] == timedelta(days=1)


@pytest.mark.parametrize(
    ("minute", "hour", "day_of_week", "expected"),
    [
        ("*/15", "*", "*", timedelta(minutes=15)),
        ("5", "*", "*", timedelta(hours=1)),
        ("0", "2", "*", timedelta(days=1)),
        ("0", "2,3", "*", timedelta(hours=23)),
        ("0", "2", "1", timedelta(days=7)),
    ],
)
def test_a_crontab_is_expected_at_its_longest_gap(minute, hour, day_of_week, expected):
    crontab = CrontabSchedule.objects.create(
        minute=minute, hour=hour, day_of_week=day_of_week, timezone="UTC"
    )
    task = PeriodicTask.objects.create(name="custom", task="custom.job", crontab=crontab)
    assert jobs.expected_interval(task) == expected


def test_a_job_that_has_not_succeeded_within_its_interval_is_overdue():
    start = SHANGHAI_DAY
    succeeded("offboarding.expire_grace_windows", start)  # every 5 minutes
    succeeded("compliance.enforce_retention", start)  # nightly
    # a failed run since is no success
    JobRun.objects.create(
        job="offboarding.expire_grace_windows",
        status=JobStatus.FAILED,
        started_at=start + timedelta(minutes=5),
    )
    # within its interval and the grace (as long again, at most an hour): not overdue
    assert overdue_names(start + timedelta(minutes=9)) == set()
    # past it: the 5-minute job is
    late = jobs.overdue_jobs(start + timedelta(minutes=11))
    assert [(job.job, job.expected) for job in late] == [
        ("offboarding.expire_grace_windows", timedelta(minutes=5))
    ]
    assert late[0].last_succeeded == start + timedelta(seconds=2)
    # the nightly job after a day and an hour
    assert "compliance.enforce_retention" not in overdue_names(start + timedelta(hours=24))
    assert "compliance.enforce_retention" in overdue_names(start + timedelta(hours=25, minutes=1))


def test_a_job_that_ran_but_never_succeeded_is_overdue_and_one_never_run_is_not():
    JobRun.objects.create(
        job="offboarding.settle_inheritance", status=JobStatus.FAILED, started_at=SHANGHAI_DAY
    )
    late = jobs.overdue_jobs(SHANGHAI_DAY + timedelta(minutes=21))
    assert [(job.job, job.last_succeeded) for job in late] == [
        ("offboarding.settle_inheritance", None)
    ]


def test_a_disabled_schedule_is_not_expected():
    succeeded("offboarding.expire_grace_windows", SHANGHAI_DAY)
    PeriodicTask.objects.filter(task="offboarding.expire_grace_windows").update(enabled=False)
    assert overdue_names(SHANGHAI_DAY + timedelta(days=3)) == set()


def test_an_interval_edited_in_the_admin_is_what_is_expected():
    succeeded("offboarding.expire_grace_windows", SHANGHAI_DAY)
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.filter(task="offboarding.expire_grace_windows").update(interval=hourly)
    assert overdue_names(SHANGHAI_DAY + timedelta(minutes=30)) == set()
    assert overdue_names(SHANGHAI_DAY + timedelta(hours=2, minutes=1)) == {
        "offboarding.expire_grace_windows"
    }


def test_the_admin_home_says_which_job_is_overdue(hr_client):
    long_ago = timezone.now() - timedelta(hours=3)
    succeeded("offboarding.expire_grace_windows", long_ago)
    page = hr_client.get(reverse("admin:index")).content.decode()
    assert 'id="overdue-jobs"' in page
    assert "Close ended emergency windows has not succeeded since" in page
    assert "expected every 5 minutes." in page


def test_the_readiness_check_warns_about_an_overdue_job_and_passes_otherwise():
    check = OverdueJobsCheck()
    run = async_to_sync(check.run)
    run()  # nothing ran yet: nothing overdue
    succeeded("offboarding.settle_inheritance", timezone.now() - timedelta(hours=1))
    with pytest.raises(ServiceWarning, match="offboarding.settle_inheritance has not succeeded"):
        run()
    succeeded("offboarding.settle_inheritance", timezone.now())
    run()


# ---------------------------------------------------------------------------------------------
# The broker


def test_a_worker_retries_the_broker_for_ever_and_redelivers_a_lost_task_within_minutes():
    assert app.conf.broker_connection_retry_on_startup is True
    assert app.conf.broker_connection_max_retries is None
    options = app.conf.broker_transport_options
    if not str(app.conf.broker_url).startswith("filesystem://"):
        assert options["visibility_timeout"] == 15 * 60


# ---------------------------------------------------------------------------------------------
# One beat (SQLite: a file lock; PostgreSQL: tests/integration/test_beat_lock.py)


@pytest.fixture
def sqlite_beat_lock(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(beat_lock, "_vendor", lambda: "sqlite")
    beat_lock.release()
    yield tmp_path / "beat.lock"
    beat_lock.release()


def test_a_beat_takes_the_lock_and_a_second_one_is_refused_and_exits(
    sqlite_beat_lock, monkeypatch, caplog
):
    exits = []
    monkeypatch.setattr(beat_lock.os, "_exit", exits.append)
    # given another beat process holding the lock (its own open file)
    sqlite_beat_lock.parent.mkdir(parents=True, exist_ok=True)
    with sqlite_beat_lock.open("a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # when this beat starts, then it says why at ERROR and exits with status 1
        beat_lock.on_beat_init()
        assert exits == [1]
        assert [r.levelname for r in caplog.records if r.getMessage() == beat_lock.REFUSED] == [
            "ERROR"
        ]
    # once the other is gone, this one takes the lock and keeps it
    exits.clear()
    beat_lock.on_beat_init()
    assert exits == []
    assert beat_lock.take()
    with sqlite_beat_lock.open("a") as third, pytest.raises(BlockingIOError):
        fcntl.flock(third, fcntl.LOCK_EX | fcntl.LOCK_NB)


# ---------------------------------------------------------------------------------------------
# The coordinator's schedule


def test_the_coordinator_runs_every_quarter_hour_unless_its_schedule_was_edited():
    from django.apps import apps

    migration = importlib.import_module("offboarding.migrations.0016_retention_every_quarter_hour")
    task = PeriodicTask.objects.get(name="compliance.enforce_retention")
    assert task.crontab.minute == "5,20,35,50" and task.crontab.hour == "*"
    quarter_hourly = task.crontab
    # unapplied: hourly again
    migration.hourly(apps, None)
    assert PeriodicTask.objects.get(pk=task.pk).crontab.minute == "5"
    migration.every_quarter_hour(apps, None)
    assert PeriodicTask.objects.get(pk=task.pk).crontab_id == quarter_hourly.pk
    # a schedule edited in the admin is kept
    edited = CrontabSchedule.objects.create(minute="7", hour="*", timezone="UTC")
    PeriodicTask.objects.filter(pk=task.pk).update(crontab=edited)
    migration.hourly(apps, None)
    migration.every_quarter_hour(apps, None)
    assert PeriodicTask.objects.get(pk=task.pk).crontab_id == edited.pk
