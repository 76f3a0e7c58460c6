"""Running the periodic jobs safely (directory/jobs.py) and their runs in the admin.

The lease: one run of a job at a time, a second one skipped, an expired lease taken over. The
night: each enterprise once a local night, in its own time zone. Chunks: done at most once. The
admin: every staff user reads the runs, each sees the counts and errors of their own enterprises
only; a failed run is highlighted, and the admin home warns when a job's latest run failed.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from directory import jobs
from directory.choices import JobStatus, StaffRole
from directory.models import JobLease, JobRun, NightlyMark
from tests import factories

pytestmark = pytest.mark.django_db

# 02:05 in Shanghai (UTC+8) on 11 March 2026: the night of an enterprise there.
SHANGHAI_NIGHT = datetime(2026, 3, 10, 18, 5, tzinfo=UTC)
# 12:05 in Shanghai: its day.
SHANGHAI_DAY = datetime(2026, 3, 10, 4, 5, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# The lease


def test_a_second_run_of_a_job_while_the_first_holds_its_lease_is_skipped():
    # given a run of the job going on
    with jobs.job_run("test.job") as first:
        assert first is not None
        # when a second beat or worker starts the same job
        with jobs.job_run("test.job") as second:
            # then it gets nothing to run with, and its run says so
            assert second is None
    runs = list(JobRun.objects.filter(job="test.job").order_by("pk"))
    assert [run.status for run in runs] == [JobStatus.SUCCEEDED, JobStatus.SKIPPED]


def test_a_run_killed_half_way_leaves_its_lease_to_expire_and_the_next_run_takes_over():
    # given a run that took the lease and was never heard of again (its worker killed)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        dead = jobs._start("test.job", jobs.LEASE)
    # when the next run starts before the lease expires, it is skipped
    with time_machine.travel(start + jobs.LEASE - timedelta(seconds=1), tick=False):
        with jobs.job_run("test.job") as run:
            assert run is None
    # and after it expires, the next run takes the job over
    with time_machine.travel(start + jobs.LEASE + timedelta(seconds=1), tick=False):
        with jobs.job_run("test.job") as run:
            assert run is not None
            assert JobLease.objects.get(job="test.job").run_id == run.pk
    # the dead run is marked lost, finished when its lease expired
    lost = JobRun.objects.get(pk=dead.pk)
    assert lost.status == JobStatus.LOST
    assert lost.finished_at == start + jobs.LEASE


def test_a_finished_run_releases_its_lease_at_once():
    with jobs.job_run("test.job") as run:
        assert run is not None
    with jobs.job_run("test.job") as run:
        assert run is not None


def test_a_run_records_counts_per_enterprise_and_errors_and_ends_failed(enterprise):
    # when a run counts work in an enterprise and records an error of another
    with jobs.job_run("test.job") as run:
        run.count(enterprise.pk, closed=2)
        run.count(enterprise.pk, closed=1, skipped=1)
        run.error(enterprise.pk + 1, ValueError("bad row"))
    # then its row says what it did, and that it failed
    row = JobRun.objects.get(pk=run.pk)
    assert row.counts == {str(enterprise.pk): {"closed": 3, "skipped": 1}}
    assert row.errors == [{"enterprise": enterprise.pk + 1, "error": "ValueError: bad row"}]
    assert row.status == JobStatus.FAILED
    assert row.finished_at is not None


def test_an_exception_out_of_a_run_fails_it_and_is_raised_again():
    with pytest.raises(RuntimeError), jobs.job_run("test.job") as run:
        raise RuntimeError("database gone")
    row = JobRun.objects.get(pk=run.pk)
    assert row.status == JobStatus.FAILED
    assert row.errors == [{"enterprise": None, "error": "RuntimeError: database gone"}]


# ---------------------------------------------------------------------------------------------
# Each enterprise once a night, at its own night


def test_an_enterprise_is_due_at_its_own_local_night_only(enterprise):
    berlin = factories.EnterpriseFactory(name="柏林分公司", time_zone="Europe/Berlin")
    # 02:05 in Shanghai is 19:05 in Berlin: Shanghai's night only
    assert jobs.due_tonight("test.job", now=SHANGHAI_NIGHT) == [enterprise]
    # 12:05 in Shanghai is 05:05 in Berlin: Berlin's night only
    assert jobs.due_tonight("test.job", now=SHANGHAI_DAY) == [berlin]


def test_an_enterprise_done_tonight_is_not_due_again_until_its_next_night(enterprise):
    jobs.mark_done("test.job", enterprise, now=SHANGHAI_NIGHT)
    jobs.mark_done("test.job", enterprise, now=SHANGHAI_NIGHT)  # twice is harmless
    assert NightlyMark.objects.filter(enterprise=enterprise).count() == 1
    assert jobs.due_tonight("test.job", now=SHANGHAI_NIGHT + timedelta(hours=1)) == []
    assert jobs.due_tonight("other.job", now=SHANGHAI_NIGHT) == [enterprise]
    assert jobs.due_tonight("test.job", now=SHANGHAI_NIGHT + timedelta(days=1)) == [enterprise]


def test_a_chunk_is_done_at_most_once(enterprise):
    with transaction.atomic():
        assert jobs.claim_chunk("test.job", "2026-03-11:1-100", enterprise_id=enterprise.pk)
        jobs.finish_chunk("test.job", "2026-03-11:1-100", purged=7)
    # a second delivery of the same chunk finds it done
    with transaction.atomic():
        assert not jobs.claim_chunk("test.job", "2026-03-11:1-100", enterprise_id=enterprise.pk)


# ---------------------------------------------------------------------------------------------
# Job runs in the admin


@pytest.fixture
def other_enterprise(db):
    return factories.EnterpriseFactory(name="别家公司")


@pytest.fixture
def failed_run(enterprise, other_enterprise):
    """A run of the undo-window job that closed exits in both enterprises and failed in both."""
    return JobRun.objects.create(
        job="offboarding.close_undo_windows",
        status=JobStatus.FAILED,
        finished_at=timezone.now(),
        counts={
            str(enterprise.pk): {"closed": 3, "skipped": 0},
            str(other_enterprise.pk): {"closed": 5, "skipped": 0},
        },
        errors=[
            {"enterprise": enterprise.pk, "error": "exit 41: 本企业的错误"},
            {"enterprise": other_enterprise.pk, "error": "exit 99: 别家的错误"},
        ],
    )


def test_hr_reads_the_job_runs_with_a_failed_run_highlighted(hr_client, failed_run, enterprise):
    JobRun.objects.create(
        job="directory.mark_pending_dissolution",
        status=JobStatus.SUCCEEDED,
        counts={str(enterprise.pk): {"marked": 2, "unmarked": 0}},
    )
    response = hr_client.get(reverse("admin:directory_jobrun_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    # jobs by their names, counts in words, not task names and keys
    assert "Close exits past their undo window" in page
    assert "Mark departments pending dissolution" in page
    assert "offboarding.close_undo_windows</" not in page
    assert 'class="job-run-status job-run-failed"' in page
    assert "directory/jobs.css" in page
    assert "示例科技: exits closed 3, exits left for later 0" in page
    assert "本企业的错误" in page


def test_every_scheduled_job_is_listed_by_name_even_before_its_first_run(hr_client):
    page = hr_client.get(reverse("admin:directory_jobrun_changelist")).content.decode()
    for name in (
        "Close ended emergency windows",
        "Settle handed-over customers",
        "Sync terminations from the HR system",
        "Apply retention policies",
    ):
        assert name in page


def test_the_two_frequent_jobs_record_their_runs(enterprise):
    from offboarding import tasks

    assert tasks.settle_inheritance() == 0
    assert tasks.expire_grace_windows() == 0
    runs = {run.job: run for run in JobRun.objects.all()}
    assert runs["offboarding.settle_inheritance"].status == JobStatus.SUCCEEDED
    assert runs["offboarding.settle_inheritance"].counts == {"all": {"settled": 0}}
    assert runs["offboarding.expire_grace_windows"].counts == {"all": {"windows_closed": 0}}


def test_a_run_reads_in_the_enterprise_time_zone(hr_client, failed_run):
    # started at 00:30 UTC: HR of a Shanghai enterprise reads 08:30, in the title too
    JobRun.objects.filter(pk=failed_run.pk).update(
        started_at=failed_run.started_at.replace(hour=0, minute=30)
    )
    page = hr_client.get(reverse("admin:directory_jobrun_change", args=[failed_run.pk]))
    assert " 08:30 | " in page.content.decode()


def test_hr_sees_no_counts_nor_errors_of_another_enterprise(
    hr_client, failed_run, other_enterprise
):
    for url in (
        reverse("admin:directory_jobrun_changelist"),
        reverse("admin:directory_jobrun_change", args=[failed_run.pk]),
    ):
        page = hr_client.get(url).content.decode()
        assert "别家的错误" not in page
        assert "closed 5" not in page
        assert other_enterprise.name not in page


def test_the_superuser_sees_every_enterprise_of_a_run(client, failed_run):
    client.force_login(factories.UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:directory_jobrun_change", args=[failed_run.pk]))
    assert "别家的错误" in page.content.decode()
    assert "本企业的错误" in page.content.decode()


@pytest.mark.parametrize("role", [StaffRole.IT, StaffRole.COMPLIANCE])
def test_it_and_compliance_read_the_runs_too(client, enterprise, failed_run, role):
    client.force_login(factories.StaffFactory(enterprise=enterprise, role=role))
    assert client.get(reverse("admin:directory_jobrun_changelist")).status_code == 200
    page = client.get(reverse("admin:directory_jobrun_change", args=[failed_run.pk]))
    assert page.status_code == 200
    assert "本企业的错误" in page.content.decode()


def test_nobody_adds_changes_or_deletes_a_run(hr_client, failed_run):
    assert hr_client.get(reverse("admin:directory_jobrun_add")).status_code == 403
    change = reverse("admin:directory_jobrun_change", args=[failed_run.pk])
    assert hr_client.post(change, {"job": "x"}).status_code == 403
    delete = reverse("admin:directory_jobrun_delete", args=[failed_run.pk])
    assert hr_client.post(delete, {"post": "yes"}).status_code == 403
    assert JobRun.objects.get(pk=failed_run.pk).job == "offboarding.close_undo_windows"


def test_the_admin_home_warns_when_the_latest_run_of_a_job_failed(hr_client, failed_run):
    page = hr_client.get(reverse("admin:index")).content.decode()
    assert 'id="failed-job-runs"' in page
    assert "Close exits past their undo window" in page
    assert reverse("admin:directory_jobrun_change", args=[failed_run.pk]) in page


def test_the_warning_goes_once_a_later_run_of_the_job_succeeded(hr_client, failed_run):
    JobRun.objects.create(
        job=failed_run.job,
        status=JobStatus.SUCCEEDED,
        started_at=failed_run.started_at + timedelta(hours=1),
    )
    # a run skipped because another held the lease changes nothing either way
    JobRun.objects.create(
        job=failed_run.job,
        status=JobStatus.SKIPPED,
        started_at=failed_run.started_at + timedelta(hours=2),
    )
    page = hr_client.get(reverse("admin:index")).content.decode()
    assert 'id="failed-job-runs"' not in page


def test_a_run_that_failed_only_in_another_enterprise_is_no_warning_here(
    hr_client, enterprise, other_enterprise
):
    JobRun.objects.create(
        job="directory.mark_pending_dissolution",
        status=JobStatus.FAILED,
        errors=[{"enterprise": other_enterprise.pk, "error": "别家的错误"}],
    )
    page = hr_client.get(reverse("admin:index")).content.decode()
    assert 'id="failed-job-runs"' not in page
    assert "别家的错误" not in page


def test_an_error_of_the_run_as_a_whole_is_shown_to_staff_without_its_text(hr_client):
    run = JobRun.objects.create(
        job="compliance.enforce_retention",
        status=JobStatus.FAILED,
        errors=[{"enterprise": None, "error": "OperationalError: secret detail"}],
    )
    home = hr_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:directory_jobrun_change", args=[run.pk]) in home
    page = hr_client.get(reverse("admin:directory_jobrun_change", args=[run.pk])).content
    assert "The run failed as a whole." in page.decode()
    assert "secret detail" not in page.decode()


def test_every_staff_user_reads_a_run_page_and_an_empty_post_changes_nothing(
    client, failed_run, other_enterprise
):
    # HR of another enterprise: runs are not an enterprise's rows, only their counts are
    client.force_login(factories.StaffFactory(enterprise=other_enterprise, role=StaffRole.HR))
    changelist = reverse("admin:directory_jobrun_changelist")
    assert client.get(changelist).status_code == 200
    assert client.post(changelist, {}).status_code == 200
    page = client.get(reverse("admin:directory_jobrun_change", args=[failed_run.pk]))
    assert page.status_code == 200
    assert "别家的错误" in page.content.decode()
    assert "本企业的错误" not in page.content.decode()
    history = reverse("admin:directory_jobrun_history", args=[failed_run.pk])
    assert client.get(history).status_code == 200
    assert JobRun.objects.get(pk=failed_run.pk).errors == failed_run.errors


def test_a_malformed_run_id_is_no_such_run(hr_client):
    response = hr_client.get(reverse("admin:directory_jobrun_change", args=["abc"]))
    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_the_run_list_asks_the_database_as_often_for_fifty_runs_as_for_one(hr_client, enterprise):
    def run(n):
        return JobRun(
            job="directory.mark_pending_dissolution",
            status=JobStatus.FAILED,
            counts={str(enterprise.pk): {"marked": n}},
            errors=[{"enterprise": enterprise.pk, "error": f"error {n}"}],
        )

    url = reverse("admin:directory_jobrun_changelist")

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert hr_client.get(url).status_code == 200
        return len(queries)

    JobRun.objects.bulk_create([run(0)])
    with_one = count_queries()
    JobRun.objects.bulk_create([run(n) for n in range(1, 50)])
    assert count_queries() == with_one
