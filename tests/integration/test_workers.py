"""The nightly jobs through real `celery worker` processes, Redis as the broker, PostgreSQL as the
database (J-1 … J-5): each named task runs through the broker; a chunked retention job over two
workers handles every chunk exactly once; a worker killed with SIGKILL in the middle of the job,
then the job run again, leaves the data exactly as one clean run would.

The workers run the tasks at the real time of day, so the enterprises here live in a time zone
whose local time is 03:00-ish now: their night has come (directory/jobs.py).
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
from celery.exceptions import TimeoutError as CeleryTimeout
from django.utils import timezone

from compliance import jobs
from compliance.choices import RecordCategory, RetentionAction
from compliance.models import AuditEvent, RetentionPolicy, WorkRecord
from compliance.retention import save_policy
from directory.choices import DepartmentStatus, JobStatus, StaffRole
from directory.models import Department, JobChunk, JobRun, NightlyMark
from offboarding import hr_sync, inheritance
from offboarding.choices import ExitKind, ExitState, InheritanceStatus, TerminationSource
from offboarding.models import Exit, InheritanceItem
from tests import factories
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CHAT = RecordCategory.CHAT
TASK_TIMEOUT = 30


def night_zone() -> str:
    """A fixed-offset zone where it is 03:xx now (two hours from either edge of the night)."""
    offset = (3 - datetime.now(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    if offset == 0:
        return "Etc/GMT"
    # Etc/GMT's signs are POSIX's: Etc/GMT-8 is UTC+8.
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


@pytest.fixture
def enterprise(db):
    return factories.EnterpriseFactory(name="示例科技", time_zone=night_zone())


def night_enterprise(name: str, compliance_user=None):
    enterprise = factories.EnterpriseFactory(name=name, time_zone=night_zone())
    compliance_user = compliance_user or factories.StaffFactory(
        username=f"compliance-{name}", enterprise=enterprise, role=StaffRole.COMPLIANCE
    )
    save_policy(
        RetentionPolicy(
            enterprise=enterprise, category=CHAT, keep_days=180, action=RetentionAction.PURGE
        ),
        actor=compliance_user,
    )
    return enterprise


def chats(enterprise, n: int, *, days_old: int) -> tuple[int, int]:
    """`n` chats of a member of `enterprise`, `days_old` days old (one insert): their id range."""
    owner = factories.MemberFactory(enterprise=enterprise)
    created_at = timezone.now() - timedelta(days=days_old)
    rows = WorkRecord.objects.bulk_create(
        (
            WorkRecord(
                enterprise=enterprise,
                owner=owner,
                category=CHAT,
                content=f"聊天记录 {i}",
                created_at=created_at,
                data_region=owner.data_region,
            )
            for i in range(n)
        ),
        batch_size=5000,
    )
    return rows[0].pk, rows[-1].pk


def records_in(enterprise, ids: tuple[int, int]) -> int:
    return WorkRecord.objects.filter(enterprise=enterprise, pk__gte=ids[0], pk__lte=ids[1]).count()


def chunks_of(enterprise):
    return JobChunk.objects.filter(job=jobs.JOB, enterprise=enterprise)


def retention_events(enterprise) -> list[dict]:
    return list(
        AuditEvent.objects.filter(enterprise=enterprise, action="retention_enforced").values_list(
            "data", flat=True
        )
    )


def answer(sender, name: str, *workers, args=None):
    """Send the task `name` through the broker and wait for its answer (failing with the workers'
    logs when none comes)."""
    try:
        return sender.send_task(name, args=args).get(timeout=TASK_TIMEOUT)
    except CeleryTimeout:
        logs = "\n".join(f"--- {w.name}:\n{w.output()[-3000:]}" for w in workers)
        pytest.fail(f"no answer from {name} within {TASK_TIMEOUT}s\n{logs}")


def run_job(sender, *workers):
    """Run the coordinator (as the hourly beat would) through the broker; its answer."""
    return answer(sender, jobs.JOB, *workers)


def night_finished_by(enterprise) -> dict:
    """The counts of the coordinator's run that finished the enterprise's night."""
    key = str(enterprise.pk)
    for counts in (
        JobRun.objects.filter(job=jobs.JOB).order_by("-pk").values_list("counts", flat=True)
    ):
        if "purged" in counts.get(key, {}):
            return counts
    pytest.fail(f"no run of {jobs.JOB} finished the night of {enterprise}")


def finished_nights(enterprises) -> int:
    return NightlyMark.objects.filter(job=jobs.JOB, enterprise__in=enterprises).count()


# ---------------------------------------------------------------------------------------------
# Each named task runs through the broker


def test_each_named_task_runs_through_the_broker(
    start_worker, sender, enterprise, hr_user, exit_in_handover, completed_exit
):
    # given work for every task, in an enterprise whose night has come
    department = factories.DepartmentFactory(enterprise=enterprise, name="销售部")
    manager = factories.MemberFactory(enterprise=enterprise, department=department, name="李经理")
    empty = factories.DepartmentFactory(enterprise=enterprise, name="已撤销项目组")
    # settle_inheritance: customers handed over, their acceptance period over
    giver = factories.MemberFactory(enterprise=enterprise, department=department, manager=manager)
    factories.ExternalContactFactory.create_batch(2, enterprise=enterprise, owner=giver)
    inheritance.inherit(exit_in_handover(giver), actor=hr_user, successor=manager)
    waiting = InheritanceItem.objects.filter(batch__from_member=giver)
    waiting.update(settles_at=timezone.now() - timedelta(minutes=1))
    # close_undo_windows: a completed exit past its undo window
    leaver = factories.MemberFactory(enterprise=enterprise, department=department, manager=manager)
    completed = completed_exit(leaver)
    Exit.objects.filter(pk=completed.pk).update(undo_deadline=timezone.now() - timedelta(hours=1))
    # sync_hr_terminations: a termination the HR system sent
    terminated = factories.MemberFactory(
        enterprise=enterprise, department=department, manager=manager, employee_number="E900001"
    )
    hr_sync.receive(
        enterprise,
        [
            {
                "employee_number": "E900001",
                "last_working_day": (timezone.now() + timedelta(days=30)).date().isoformat(),
                "reason": "合同到期",
                "external_id": "HR-INTEGRATION-1",
            }
        ],
        source=TerminationSource.API,
    )
    # enforce_retention and its chunk: chats past the policy, in two ranges of ids
    retention_enterprise = night_enterprise("留存科技")
    by_job = chats(retention_enterprise, 3, days_old=400)
    by_chunk = chats(retention_enterprise, 3, days_old=400)
    lo, hi = by_chunk
    worker = start_worker("all-tasks")

    effects = {
        "offboarding.settle_inheritance": lambda: (
            not waiting.exclude(status=InheritanceStatus.DONE).exists()
        ),
        "offboarding.expire_grace_windows": None,  # its answer (no window open: 0) is the effect
        "offboarding.close_undo_windows": lambda: (
            Exit.objects.get(pk=completed.pk).state == ExitState.CLOSED
        ),
        "offboarding.sync_hr_terminations": lambda: Exit.objects.filter(
            member=terminated, kind=ExitKind.HR_SYNC
        ).exists(),
        "directory.mark_pending_dissolution": lambda: (
            Department.objects.get(pk=empty.pk).status == DepartmentStatus.PENDING_DISSOLUTION
        ),
        jobs.CHUNK_JOB: lambda: records_in(retention_enterprise, by_chunk) == 0,
        jobs.JOB: lambda: records_in(retention_enterprise, by_job) == 0,
    }
    tonight = timezone.localdate(timezone=retention_enterprise.time_zone).isoformat()
    chunk_args = [retention_enterprise.pk, lo, hi, tonight]

    # when each is sent by name, then each runs and does its work
    for name, effect in effects.items():
        got = answer(sender, name, worker, args=chunk_args if name == jobs.CHUNK_JOB else None)
        if name == "offboarding.expire_grace_windows":
            assert got == 0
        if effect is not None:
            wait_for(effect, timeout=TASK_TIMEOUT, what=f"the effect of {name}", logs=[worker.log])
    assert not JobRun.objects.filter(status=JobStatus.FAILED).exists(), list(
        JobRun.objects.filter(status=JobStatus.FAILED).values("job", "errors")
    )


# ---------------------------------------------------------------------------------------------
# Chunks over two workers, and a worker killed half way

OLD, RECENT = 12_000, 300  # per enterprise: chats past the policy, chats the floor keeps


def chunk_receipts(*workers) -> int:
    """How many chunk tasks the workers received (the worker logs one line per receipt)."""
    return sum(
        1
        for worker in workers
        for line in worker.output().splitlines()
        if f"Task {jobs.CHUNK_JOB}[" in line and line.rstrip().endswith("received")
    )


def test_a_chunked_retention_job_over_two_workers_handles_every_chunk_exactly_once(
    start_worker, sender
):
    # given two enterprises, each with chats past its policy over several ranges of ids
    enterprises = [night_enterprise("甲公司"), night_enterprise("乙公司")]
    old = {e: chats(e, OLD, days_old=400) for e in enterprises}
    recent = {e: chats(e, RECENT, days_old=30) for e in enterprises}
    workers = [start_worker("one"), start_worker("two")]
    logs = [worker.log for worker in workers]

    # when the job runs, then its chunks are shared by both workers until every one is done
    run_job(sender, *workers)
    total = JobChunk.objects.filter(job=jobs.JOB).count()
    assert total >= 2 * (OLD // jobs.CHUNK_SIZE)
    wait_for(
        lambda: not JobChunk.objects.filter(job=jobs.JOB, done_at__isnull=True).exists(),
        timeout=TASK_TIMEOUT,
        what="every chunk to be done",
        logs=logs,
    )
    # and the next hourly run finishes the night of each enterprise
    counts = run_job(sender, *workers)
    assert finished_nights(enterprises) == 2

    for enterprise in enterprises:
        chunks = chunks_of(enterprise)
        # every chunk done once: one audit event each, its counts adding up to the records
        assert len(retention_events(enterprise)) == chunks.count()
        assert sum(chunk.counts["purged"] for chunk in chunks) == OLD
        assert records_in(enterprise, old[enterprise]) == 0
        assert records_in(enterprise, recent[enterprise]) == RECENT
        mine = counts[str(enterprise.pk)]
        assert mine["purged"] == OLD and mine["chunks"] == chunks.count()
        assert mine["chats_within_floor"] == RECENT
        assert mine["chats_within_floor_touched"] == 0
    # each chunk task was delivered once, and both workers took some
    receipts = [chunk_receipts(worker) for worker in workers]
    assert sum(receipts) == total, receipts
    assert all(receipts), receipts
    assert not JobRun.objects.filter(status=JobStatus.FAILED).exists()


def test_a_worker_killed_in_the_middle_of_the_job_then_the_job_run_again_ends_as_one_clean_run(
    start_worker, sender, worker_env
):
    # the coordinator sends again a chunk not done a second after its send (15 minutes by default)
    worker_env["EXITDESK_CHUNK_RESEND_SECONDS"] = "1"
    # given an enterprise whose chats past the policy fill several ranges, and one worker
    enterprise = night_enterprise("丙公司")
    old = chats(enterprise, 4 * jobs.CHUNK_SIZE, days_old=400)
    recent = chats(enterprise, RECENT, days_old=30)
    first = start_worker("killed")

    # when the worker is killed (SIGKILL) as soon as the first chunk is done
    run_job(sender, first)
    total = chunks_of(enterprise).count()
    done = chunks_of(enterprise).filter(done_at__isnull=False)
    wait_for(
        done.exists, timeout=TASK_TIMEOUT, what="the first chunk", interval=0.02, logs=[first.log]
    )
    first.kill()
    assert done.count() < total, "the worker finished the job before it could be killed"

    # then what the killed chunk did is gone with it: every event is of a chunk done
    assert len(retention_events(enterprise)) == done.count()

    # when a worker is started again and the job runs again (the next beat of the coordinator),
    # once the chunks the killed worker held are due to be sent again
    second = start_worker("again")
    time.sleep(1.5)
    run_job(sender, second)
    wait_for(
        lambda: not chunks_of(enterprise).filter(done_at__isnull=True).exists(),
        timeout=TASK_TIMEOUT,
        what="every chunk to be done",
        logs=[first.log, second.log],
    )
    run_job(sender, second)
    # The night was finished by whichever run first found every chunk done: this last one, or
    # the one before it when the second worker had emptied the queue before that run came.
    counts = night_finished_by(enterprise)

    # then the data is as one clean run leaves it: each chunk done once, nothing twice
    assert records_in(enterprise, old) == 0
    assert records_in(enterprise, recent) == RECENT
    chunks = chunks_of(enterprise)
    assert chunks.count() == total
    assert len(retention_events(enterprise)) == total
    assert sum(chunk.counts["purged"] for chunk in chunks) == 4 * jobs.CHUNK_SIZE
    mine = counts[str(enterprise.pk)]
    assert mine["purged"] == 4 * jobs.CHUNK_SIZE and mine["chats_within_floor_touched"] == 0
    assert finished_nights([enterprise]) == 1
