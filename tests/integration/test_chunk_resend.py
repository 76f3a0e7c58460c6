"""A worker killed with SIGKILL in the middle of a retention chunk, with real `celery worker`
processes on Redis and PostgreSQL: its chunk's message stays unacknowledged in Redis (until the
visibility timeout), the coordinator's run says the night waits for chunks, a restarted worker and
the coordinator's next runs finish the night's chunks within the same night, and the run that
finishes it says so truly — every chunk done once, the totals counted once.

The chunk is held in the middle of its work by a row lock the test takes on one of its records (a
plain `SELECT … FOR UPDATE` on another connection): the worker is killed while it waits for it.
The resend interval is two seconds here (EXITDESK_CHUNK_RESEND_SECONDS) instead of 15 minutes.
"""

import time

import psycopg
import pytest
from django.utils import timezone

from compliance import jobs
from directory.choices import JobStatus
from directory.models import JobRun, NightlyMark
from tests.integration.conftest import wait_for
from tests.integration.test_workers import (
    RECENT,
    TASK_TIMEOUT,
    chats,
    chunks_of,
    night_enterprise,
    records_in,
    retention_events,
    run_job,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RESEND_SECONDS = 2


def waiting_for_a_lock(database) -> bool:
    (waiting,) = database.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    return waiting > 0


def coordinator_runs() -> list[JobRun]:
    return list(
        JobRun.objects.filter(job=jobs.JOB).exclude(status=JobStatus.SKIPPED).order_by("pk")
    )


def test_a_worker_killed_mid_chunk_and_restarted_finishes_the_night_the_same_night(
    start_worker, sender, worker_env
):
    worker_env["EXITDESK_CHUNK_RESEND_SECONDS"] = str(RESEND_SECONDS)
    # given an enterprise whose night has come, its old chats over two chunks, and one worker
    enterprise = night_enterprise("丁公司")
    old = chats(enterprise, 2 * jobs.CHUNK_SIZE, days_old=400)
    recent = chats(enterprise, RECENT, days_old=30)
    tonight = timezone.localdate(timezone=enterprise.time_zone)
    first = start_worker("killed")

    # and one of the old chats locked by another transaction: the chunk holding it waits
    with psycopg.connect(worker_env["DATABASE_URL"], autocommit=True) as observer:
        with psycopg.connect(worker_env["DATABASE_URL"]) as holder:
            holder.execute(
                "SELECT id FROM compliance_workrecord WHERE id = %s FOR UPDATE", [old[0]]
            )
            # when the coordinator sends the night's chunks and the worker is in the middle of one
            counts = run_job(sender, first)
            wait_for(
                lambda: waiting_for_a_lock(observer),
                timeout=TASK_TIMEOUT,
                what="the chunk to be in the middle of its work",
                logs=[first.log],
            )
            # then it is killed (SIGKILL: nothing acknowledged, nothing rolled forward)
            first.kill()
            holder.rollback()

    # then the coordinator's run says the night waits for its chunks, not that it succeeded
    total = chunks_of(enterprise).count()
    assert total >= 2
    mine = counts[str(enterprise.pk)]
    assert mine == {"chunks_sent": total, "chunks_done": 0, "chunks_left": total}
    assert coordinator_runs()[0].status == JobStatus.PARTIAL
    left = chunks_of(enterprise).filter(done_at__isnull=True)
    assert left.exists()
    assert not NightlyMark.objects.filter(enterprise=enterprise).exists()

    # when a worker is started again and the coordinator runs again past the resend interval
    second = start_worker("again")
    time.sleep(RESEND_SECONDS + 0.5)
    run_job(sender, second)
    # then the killed chunk is sent again and done, well before Redis would redeliver it
    wait_for(
        lambda: not left.exists(),
        timeout=TASK_TIMEOUT,
        what="every chunk of the night to be done",
        logs=[first.log, second.log],
    )
    assert max(chunks_of(enterprise).values_list("attempts", flat=True)) == 2

    # and the coordinator's next run finishes the night, the same night, and says so truly
    finished = run_job(sender, second)[str(enterprise.pk)]
    assert finished["chunks_done"] == total and finished["chunks_left"] == 0
    assert finished["purged"] == 2 * jobs.CHUNK_SIZE
    assert finished["chats_within_floor"] == RECENT
    runs = coordinator_runs()
    assert runs[-1].status == JobStatus.SUCCEEDED
    assert [run.status for run in runs[:-1]] == [JobStatus.PARTIAL] * (len(runs) - 1)
    mark = NightlyMark.objects.get(job=jobs.JOB, enterprise=enterprise)
    assert mark.local_date == tonight
    # every chunk done once; the night's totals counted once, by one run
    assert records_in(enterprise, old) == 0
    assert records_in(enterprise, recent) == RECENT
    assert len(retention_events(enterprise)) == total
    assert [run for run in runs if "purged" in run.counts.get(str(enterprise.pk), {})] == [runs[-1]]
    assert not JobRun.objects.filter(status=JobStatus.FAILED).exists()
