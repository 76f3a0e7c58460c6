"""The nightly close of undo windows (J-2), the schedules of every nightly job, and their tasks.

Times: the enterprise is in Shanghai (UTC+8) with the default 24-hour undo window. The member's
exit completes at 10:00 on 9 March, so its window ends at 10:00 on 10 March; the job runs at
02:05 on 11 March, the enterprise's night.
"""

import importlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.apps import apps as django_apps
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from compliance import crypto
from compliance import tasks as compliance_tasks
from compliance.models import WorkRecord
from config.celery import app
from directory import tasks as directory_tasks
from directory.choices import JobStatus
from directory.jobs import JobFailed, job_run
from directory.models import JobRun, NightlyMark
from offboarding import jobs, tasks, workflow
from offboarding.choices import ExitState
from offboarding.exceptions import ExitRefused
from offboarding.models import Exit
from tests import factories
from tests.compliance.conftest import records_of
from tests.offboarding.conftest import refreshed

pytestmark = pytest.mark.django_db

COMPLETED = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NIGHT = datetime(2026, 3, 10, 18, 5, tzinfo=UTC)  # 02:05 on 11 March in Shanghai
DAY = datetime(2026, 3, 11, 4, 5, tzinfo=UTC)  # 12:05 on 11 March in Shanghai


@pytest.fixture
def complete_at(exit_in_handover, ready_to_complete, hr_user):
    """Complete a member's exit at a given moment (through the doors)."""

    def complete_at(member, moment) -> Exit:
        exit_case = ready_to_complete(exit_in_handover(member))
        with time_machine.travel(moment, tick=False):
            return workflow.complete(exit_case, actor=hr_user)

    return complete_at


@pytest.fixture
def colleague(enterprise, department, manager):
    return factories.MemberFactory(
        enterprise=enterprise, department=department, manager=manager, name="王五"
    )


def close_at(moment, **kwargs):
    with time_machine.travel(moment, tick=False):
        if kwargs:
            return jobs.close_undo_windows(**kwargs)
        return tasks.close_undo_windows()


def test_exits_past_their_undo_deadline_are_closed_and_sealed_at_the_enterprises_night(
    enterprise, member, colleague, complete_at
):
    # given the member's exit past its window, with chat records, and a colleague's still in it
    records_of(member, 3)
    past = complete_at(member, COMPLETED)
    within = complete_at(colleague, NIGHT - timedelta(hours=2))
    # when the job runs at the enterprise's night
    assert close_at(NIGHT) == 1
    # then the exit past its window is closed by the system, and its member's records sealed
    past = refreshed(past)
    assert past.state == ExitState.CLOSED
    assert past.history.order_by("-history_id").first().history_user is None
    assert not WorkRecord.objects.filter(owner=member, sealed_content__isnull=True).exists()
    assert set(WorkRecord.objects.filter(owner=member).values_list("content", flat=True)) == {""}
    # and the exit still in its window is untouched
    assert refreshed(within).state == ExitState.COMPLETED
    # and the run says what it did in the enterprise
    run = JobRun.objects.get(job="offboarding.close_undo_windows")
    assert run.status == JobStatus.SUCCEEDED
    assert run.counts == {str(enterprise.pk): {"closed": 1, "skipped": 0}}
    assert run.errors == []


def test_nothing_is_closed_outside_the_enterprises_night(enterprise, member, complete_at):
    past = complete_at(member, COMPLETED)
    assert close_at(DAY) == 0
    assert refreshed(past).state == ExitState.COMPLETED
    assert not NightlyMark.objects.filter(enterprise=enterprise).exists()
    # its night comes: the exit is closed then
    assert close_at(NIGHT + timedelta(days=1)) == 1
    assert refreshed(past).state == ExitState.CLOSED


def test_a_second_run_the_same_night_does_nothing(enterprise, member, complete_at):
    past = complete_at(member, COMPLETED)
    assert close_at(NIGHT) == 1
    closed_history = past.history.count()
    assert close_at(NIGHT + timedelta(hours=1)) == 0
    assert past.history.count() == closed_history
    second = JobRun.objects.filter(job=jobs.JOB).order_by("-pk").first()
    assert second.counts == {}
    assert second.status == JobStatus.SUCCEEDED


def test_a_run_the_next_night_finds_nothing_more_to_close(enterprise, member, complete_at):
    complete_at(member, COMPLETED)
    close_at(NIGHT)
    assert close_at(NIGHT + timedelta(days=1)) == 0
    run = JobRun.objects.filter(job=jobs.JOB).order_by("-pk").first()
    assert run.counts == {str(enterprise.pk): {"closed": 0, "skipped": 0}}


def test_exits_are_closed_in_bounded_batches(enterprise, member, colleague, complete_at):
    first = complete_at(member, COMPLETED)
    second = complete_at(colleague, COMPLETED + timedelta(minutes=5))
    assert close_at(NIGHT, batch_size=1) == 2
    assert {refreshed(first).state, refreshed(second).state} == {ExitState.CLOSED}


def test_an_exit_that_fails_to_close_is_recorded_and_the_others_go_on(
    enterprise, member, colleague, complete_at, monkeypatch
):
    broken = complete_at(member, COMPLETED)
    fine = complete_at(colleague, COMPLETED)
    real_close = workflow.close

    def close(exit_case, *, actor):
        if exit_case.pk == broken.pk:
            raise RuntimeError("the sealing key store is down")
        return real_close(exit_case, actor=actor)

    monkeypatch.setattr(workflow, "close", close)
    # the task fails too (Celery's log agrees with the admin), once the run is written
    with pytest.raises(JobFailed, match="the sealing key store is down"):
        close_at(NIGHT)
    assert refreshed(broken).state == ExitState.COMPLETED
    assert refreshed(fine).state == ExitState.CLOSED
    run = JobRun.objects.get(job=jobs.JOB)
    assert run.status == JobStatus.FAILED
    assert run.errors == [
        {
            "enterprise": enterprise.pk,
            "error": f"exit {broken.pk}: RuntimeError: the sealing key store is down",
        }
    ]
    assert run.counts == {str(enterprise.pk): {"closed": 1, "skipped": 0}}


def test_an_exit_undone_since_it_was_read_is_skipped_not_an_error(
    enterprise, member, colleague, complete_at, hr_user, monkeypatch
):
    # given an exit that someone undoes just before the job closes it
    undone = complete_at(member, COMPLETED)
    other = complete_at(colleague, COMPLETED)
    real_close = workflow.close

    def close(exit_case, *, actor):
        if exit_case.pk == undone.pk:
            Exit.objects.filter(pk=undone.pk).update(state=ExitState.REVERTED)
            raise ExitRefused("This exit is reverted: it cannot be closed now.")
        return real_close(exit_case, actor=actor)

    monkeypatch.setattr(workflow, "close", close)
    assert close_at(NIGHT) == 1
    run = JobRun.objects.get(job=jobs.JOB)
    assert run.status == JobStatus.SUCCEEDED
    assert run.counts == {str(enterprise.pk): {"closed": 1, "skipped": 1}}
    assert refreshed(other).state == ExitState.CLOSED


def test_a_second_concurrent_run_is_skipped(enterprise, member, complete_at):
    past = complete_at(member, COMPLETED)
    with job_run(jobs.JOB) as first:
        assert first is not None
        assert close_at(NIGHT) is None
    assert refreshed(past).state == ExitState.COMPLETED
    assert JobRun.objects.filter(job=jobs.JOB, status=JobStatus.SKIPPED).count() == 1


# ---------------------------------------------------------------------------------------------
# The tasks and their schedules

NIGHTLY = (
    "offboarding.close_undo_windows",
    "compliance.enforce_retention",
    "directory.mark_pending_dissolution",
)


def _run_schedule_migration():
    """The data migration's own function, run against the current models (a transactional test
    elsewhere in the run may have flushed the rows `migrate` wrote)."""
    migration = importlib.import_module("offboarding.migrations.0008_nightly_schedules")
    migration.create_schedules(django_apps, None)


def test_every_nightly_job_is_scheduled_hourly_and_the_hr_sync_every_ten_minutes():
    # given no schedule
    PeriodicTask.objects.filter(name__in=(*NIGHTLY, "offboarding.sync_hr_terminations")).delete()
    # when the data migration runs, twice
    _run_schedule_migration()
    _run_schedule_migration()
    # then each nightly job runs at minute 5 of every hour, once
    for name in NIGHTLY:
        task = PeriodicTask.objects.get(name=name)
        assert task.task == name
        assert task.enabled
        assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == (
            "5",
            "*",
            "UTC",
        )
        assert name in app.tasks
    assert CrontabSchedule.objects.filter(minute="5", hour="*").count() == 1
    sync = PeriodicTask.objects.get(name="offboarding.sync_hr_terminations")
    assert (sync.interval.every, sync.interval.period) == (10, "minutes")
    assert "offboarding.sync_hr_terminations" in app.tasks


def test_a_nightly_schedule_edited_in_the_admin_is_not_overwritten_by_the_migration():
    PeriodicTask.objects.filter(name="offboarding.close_undo_windows").delete()
    _run_schedule_migration()
    task = PeriodicTask.objects.get(name="offboarding.close_undo_windows")
    task.crontab = None
    task.interval = IntervalSchedule.objects.create(every=30, period="minutes")
    task.enabled = False
    task.save()
    _run_schedule_migration()
    task = PeriodicTask.objects.get(name="offboarding.close_undo_windows")
    assert (task.interval.every, task.interval.period, task.enabled) == (30, "minutes", False)
    assert task.crontab is None


def test_the_retention_and_hr_sync_tasks_call_their_job(monkeypatch):
    from compliance import jobs as compliance_jobs
    from offboarding import hr_sync

    monkeypatch.setattr(compliance_jobs, "run_retention", lambda: "retention ran")
    monkeypatch.setattr(hr_sync, "sync_pending", lambda: "synced")
    assert compliance_tasks.enforce_retention() == "retention ran"
    assert tasks.sync_hr_terminations() == "synced"


def test_the_dissolution_task_runs_its_job():
    with time_machine.travel(NIGHT, tick=False):
        assert directory_tasks.mark_pending_dissolution() == {"marked": 0, "unmarked": 0}


def test_an_exit_that_cannot_be_sealed_for_lack_of_the_master_key_leaves_the_night_not_done(
    enterprise, member, colleague, complete_at, settings
):
    # given two exits past their window, the member's with records, their data keys wrapped by
    # the development key
    records_of(member, 2)
    first = complete_at(member, COMPLETED)
    second = complete_at(colleague, COMPLETED)
    development_key = settings.EXITDESK_MASTER_KEYS[0]
    new_key = Fernet.generate_key().decode()
    # when the job runs in a process that has only a new key (rotated too early)
    settings.EXITDESK_MASTER_KEYS = [new_key]
    crypto.forget_master()
    try:
        with pytest.raises(JobFailed):  # the task fails as its run does
            close_at(NIGHT)
    finally:
        crypto.forget_master()
    # then nothing is closed, nothing sealed, the run failed naming both exits, and the
    # enterprise's night is not marked done
    assert {refreshed(first).state, refreshed(second).state} == {ExitState.COMPLETED}
    assert not WorkRecord.objects.filter(owner=member, sealed_content__isnull=False).exists()
    run = JobRun.objects.get(job=jobs.JOB)
    assert run.status == JobStatus.FAILED
    assert [error["error"].split(":")[:2] for error in run.errors] == [
        [f"exit {first.pk}", " MasterKeyMissing"],
        [f"exit {second.pk}", " MasterKeyMissing"],
    ]
    assert not NightlyMark.objects.filter(job=jobs.JOB, enterprise=enterprise).exists()
    # when the next hourly run comes with the whole list (new, old) in every process
    settings.EXITDESK_MASTER_KEYS = [new_key, development_key]
    crypto.forget_master()
    try:
        assert close_at(NIGHT + timedelta(hours=1)) == 2
    finally:
        crypto.forget_master()
    # then both are closed, the records sealed, and the night done
    assert {refreshed(first).state, refreshed(second).state} == {ExitState.CLOSED}
    assert not WorkRecord.objects.filter(owner=member, sealed_content__isnull=True).exists()
    assert NightlyMark.objects.filter(job=jobs.JOB, enterprise=enterprise).exists()
