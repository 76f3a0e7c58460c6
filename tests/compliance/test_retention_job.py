"""The nightly retention job (J-3): the coordinator splits each enterprise due tonight into id
ranges and sends one chunk task per range; each chunk runs the retention on its range at most
once, whole or not at all; the night is finished (erasures, totals, the chat floor's proof, the
nightly mark) once every chunk is done; holds still win.

The tests call the task bodies directly, the chunk tasks' sending captured, at 01:05 in Shanghai
(the enterprises' time zone) on 10 March 2026 unless a test says otherwise.
"""

from datetime import date, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine

from compliance import jobs, retention
from compliance.choices import DocumentType, RecordCategory, RetentionAction
from compliance.holds import place_hold
from compliance.models import AuditEvent, RetentionPolicy, WorkRecord
from compliance.retention import save_policy
from config.celery import app
from directory.choices import JobStatus
from directory.models import JobChunk, JobRun, NightlyMark
from tests import factories
from tests.compliance.conftest import records_of

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
TONIGHT = datetime(2026, 3, 10, 1, 5, tzinfo=SHANGHAI)
TODAY = date(2026, 3, 10)
OLD = datetime(2025, 3, 1, 12, tzinfo=SHANGHAI)  # past every policy below and the chat floor
RECENT = datetime(2026, 2, 1, 12, tzinfo=SHANGHAI)  # a chat the floor keeps
CHAT, EXPENSE = RecordCategory.CHAT, RecordCategory.EXPENSE
SIZE = 10  # ids per chunk in these tests


@pytest.fixture
def policies(enterprise, compliance_user):
    """Chats purged after 180 days, expenses anonymized after 30."""
    for category, keep_days, action in (
        (CHAT, 180, RetentionAction.PURGE),
        (EXPENSE, 30, RetentionAction.ANONYMIZE),
    ):
        save_policy(
            RetentionPolicy(
                enterprise=enterprise, category=category, keep_days=keep_days, action=action
            ),
            actor=compliance_user,
        )


@pytest.fixture
def colleague(enterprise):
    return factories.MemberFactory(enterprise=enterprise, name="李娜", employee_number="E100002")


@pytest.fixture
def sent():
    """The chunk tasks the coordinator sends, captured (args of each `delay`)."""
    calls = []
    with mock.patch.object(
        jobs.enforce_retention_chunk, "delay", side_effect=lambda *args: calls.append(args)
    ):
        yield calls


def coordinate(at: datetime = TONIGHT, **kwargs):
    with time_machine.travel(at, tick=False):
        return jobs.run_retention(**kwargs)


def run_chunk(*args):
    with time_machine.travel(TONIGHT + timedelta(minutes=1), tick=False):
        return jobs.retention_chunk(*args)


def ranges_of(records) -> list[tuple[int, int]]:
    blocks = sorted({(record.pk - 1) // SIZE for record in records})
    return [(block * SIZE + 1, (block + 1) * SIZE) for block in blocks]


def alive(records) -> set[int]:
    return set(
        WorkRecord.objects.filter(pk__in=[r.pk for r in records]).values_list("pk", flat=True)
    )


def anonymized(records) -> set[int]:
    return set(
        WorkRecord.objects.filter(
            pk__in=[r.pk for r in records], anonymized_at__isnull=False
        ).values_list("pk", flat=True)
    )


def retention_events(enterprise) -> list[dict]:
    return list(
        AuditEvent.objects.filter(enterprise=enterprise, action="retention_enforced")
        .order_by("seq")
        .values_list("data", flat=True)
    )


@pytest.fixture
def world(policies, member, colleague):
    """Old chats and expenses (past their policies), then recent chats (kept by the floor), in
    that order of ids: the old ones fill the first ranges; the expenses lie between chats, so each
    range holding an expense holds a chat too; ten recent chats fill a range of their own."""
    member_chats = records_of(member, 14, created_at=OLD)
    old_expenses = records_of(member, 6, category=EXPENSE, created_at=OLD)
    colleague_chats = records_of(colleague, 7, created_at=OLD)
    recent_chats = records_of(member, 10, created_at=RECENT)
    return {
        "old_chats": member_chats + colleague_chats,
        "old_expenses": old_expenses,
        "recent_chats": recent_chats,
    }


def within(records, args) -> list:
    """The records in the range of a chunk task's arguments."""
    return [record for record in records if args[1] <= record.pk <= args[2]]


# ---------------------------------------------------------------------------------------------
# The coordinator


def test_the_coordinator_sends_one_chunk_per_id_range_holding_due_records(world, enterprise, sent):
    counts = coordinate(chunk_size=SIZE)

    due = world["old_chats"] + world["old_expenses"]
    expected = ranges_of(due)
    run = JobRun.objects.get(job=jobs.JOB)
    assert sorted((args[1], args[2]) for args in sent) == expected
    assert {args[0] for args in sent} == {enterprise.pk}
    assert {args[3:] for args in sent} == {("2026-03-10", run.pk)}
    # a range holding only chats the floor keeps is no chunk
    floor_only = set(ranges_of(world["recent_chats"])) - set(expected)
    assert floor_only, "the test's recent chats should fill a range of their own"
    # the chunks are rows of the night, not done yet; the enterprise is not done tonight yet
    assert sorted(JobChunk.objects.values_list("key", flat=True)) == sorted(
        jobs.chunk_key(TODAY, enterprise.pk, lo, hi) for lo, hi in expected
    )
    assert not JobChunk.objects.filter(done_at__isnull=False).exists()
    assert not NightlyMark.objects.exists()
    assert counts == {
        str(enterprise.pk): {
            "chunks_sent": len(expected),
            "chunks_done": 0,
            "chunks_left": len(expected),
        }
    }
    # the chunks are with the workers: the run is not done, it waits for them
    assert run.status == JobStatus.PARTIAL
    assert set(JobChunk.objects.values_list("attempts", flat=True)) == {1}
    # nothing was touched by the coordinator itself
    assert alive(due) == {record.pk for record in due}


def test_the_coordinator_takes_only_the_enterprises_whose_night_has_come(world, enterprise, sent):
    berlin = factories.EnterpriseFactory(name="Berlin GmbH", time_zone="Europe/Berlin")

    coordinate(chunk_size=SIZE)  # 01:05 in Shanghai is 18:05 in Berlin

    assert {args[0] for args in sent} == {enterprise.pk}
    assert not JobChunk.objects.filter(enterprise=berlin).exists()


def test_an_enterprise_without_a_policy_that_acts_is_done_at_once(enterprise, member, sent):
    records_of(member, 3, created_at=OLD)

    counts = coordinate(chunk_size=SIZE)

    assert sent == []
    assert counts[str(enterprise.pk)]["chunks"] == 0
    assert NightlyMark.objects.filter(job=jobs.JOB, enterprise=enterprise, local_date=TODAY)
    assert WorkRecord.objects.count() == 3


def test_a_run_while_another_holds_the_lease_does_nothing(world, sent):
    from directory.jobs import job_run

    with time_machine.travel(TONIGHT, tick=False), job_run(jobs.JOB):
        assert jobs.run_retention(chunk_size=SIZE) is None
    assert sent == []
    assert JobRun.objects.filter(job=jobs.JOB, status=JobStatus.SKIPPED).count() == 1


# ---------------------------------------------------------------------------------------------
# The chunks


def test_each_chunk_does_the_retention_of_its_own_range_only(world, enterprise, sent):
    coordinate(chunk_size=SIZE)
    first = sorted(sent, key=lambda args: args[1])[0]
    lo, hi = first[1], first[2]

    counts = run_chunk(*first)

    in_range = within(world["old_chats"], first)
    elsewhere = [r for r in world["old_chats"] if r not in in_range]
    expenses = within(world["old_expenses"], first)
    assert in_range
    assert alive(in_range) == set()
    assert alive(elsewhere) == {r.pk for r in elsewhere}
    assert anonymized(world["old_expenses"]) == {r.pk for r in expenses}
    assert counts == {
        "purged": len(in_range),
        "anonymized": len(expenses),
        "whole_enterprise_held": 0,
        "chats_within_floor": 0,
        "chats_within_floor_touched": 0,
    }
    chunk = JobChunk.objects.get(key=jobs.chunk_key(TODAY, enterprise.pk, lo, hi))
    assert chunk.done_at is not None and chunk.counts == counts
    assert [event["id_range"] for event in retention_events(enterprise)] == [[lo, hi]]


def test_every_chunk_then_the_next_hourly_run_finish_the_night_as_one_run_would(
    world, enterprise, sent
):
    coordinate(chunk_size=SIZE)
    for args in list(sent):
        run_chunk(*args)
    sent.clear()

    with mock.patch.object(jobs, "finish_restricted", return_value=2) as finish:
        counts = coordinate(TONIGHT + timedelta(hours=1), chunk_size=SIZE)

    # every old chat purged, every old expense anonymized, the recent chats whole
    assert alive(world["old_chats"]) == set()
    assert anonymized(world["old_expenses"]) == {r.pk for r in world["old_expenses"]}
    assert alive(world["recent_chats"]) == {r.pk for r in world["recent_chats"]}
    assert anonymized(world["recent_chats"]) == set()
    # no chunk sent again; the erasures finished once; the totals and the floor's proof recorded
    assert sent == []
    finish.assert_called_once_with(enterprise, actor=None)
    assert counts == {
        str(enterprise.pk): {
            "chunks_sent": 0,
            "chunks_done": len(ranges_of(world["old_chats"] + world["old_expenses"])),
            "chunks_left": 0,
            "chunks": len(ranges_of(world["old_chats"] + world["old_expenses"])),
            "purged": 21,
            "anonymized": 6,
            "chats_within_floor_touched": 0,
            "erasures_finished": 2,
            "chats_within_floor": 10,
        }
    }
    assert NightlyMark.objects.filter(job=jobs.JOB, enterprise=enterprise, local_date=TODAY)
    # the next hour of the same night: nothing left to do
    assert coordinate(TONIGHT + timedelta(hours=2), chunk_size=SIZE) == {}


def test_with_chunks_run_at_once_one_run_does_the_whole_night(world, enterprise):
    eager = {"task_always_eager": True, "task_eager_propagates": True}
    previous = {name: app.conf[name] for name in eager}
    app.conf.update(eager)
    try:
        counts = coordinate(chunk_size=SIZE)
    finally:
        app.conf.update(previous)

    mine = counts[str(enterprise.pk)]
    assert mine["purged"] == 21 and mine["anonymized"] == 6
    assert mine["chats_within_floor"] == 10 and mine["chats_within_floor_touched"] == 0
    assert mine["chunks"] == mine["chunks_sent"]
    assert NightlyMark.objects.filter(job=jobs.JOB, enterprise=enterprise).count() == 1


def test_a_chunk_delivered_twice_does_its_work_once(world, enterprise, sent):
    coordinate(chunk_size=SIZE)
    args = sorted(sent, key=lambda args: args[1])[0]

    first = run_chunk(*args)
    second = run_chunk(*args)

    assert first["purged"] == len(within(world["old_chats"], args)) > 0
    assert second == {"already_done": True}
    assert len(retention_events(enterprise)) == 1
    assert JobChunk.objects.get(key=jobs.chunk_key(TODAY, *args[:3])).counts == first


def test_a_chunk_killed_half_way_is_rolled_back_and_its_rerun_is_one_clean_run(
    world, enterprise, sent
):
    coordinate(chunk_size=SIZE)
    # the range holding both old chats and old expenses: two batches (one per policy)
    mixed = [args for args in sent if within(world["old_expenses"], args)][0]
    lo, hi = mixed[1], mixed[2]
    real_batch = retention._run_batch
    calls = []

    def killed_after_the_first_batch(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise SystemExit("worker killed")  # not an Exception: nothing may catch it
        return real_batch(*args, **kwargs)

    # when the chunk dies after its first batch
    with mock.patch.object(retention, "_run_batch", killed_after_the_first_batch):
        with pytest.raises(SystemExit):
            run_chunk(*mixed)

    # then nothing of it stayed: its records whole, the chunk still to do, no audit event
    in_range = [r for r in world["old_chats"] + world["old_expenses"] if lo <= r.pk <= hi]
    assert alive(in_range) == {r.pk for r in in_range}
    assert anonymized(in_range) == set()
    assert not JobChunk.objects.filter(done_at__isnull=False).exists()
    assert retention_events(enterprise) == []

    # when it is delivered again, then it does what one clean run does
    counts = run_chunk(*mixed)
    chats = [r for r in in_range if r.category == CHAT]
    expenses = [r for r in in_range if r.category == EXPENSE]
    assert chats and expenses
    assert alive(chats) == set()
    assert anonymized(expenses) == {r.pk for r in expenses}
    assert counts["purged"] == len(chats) and counts["anonymized"] == len(expenses)
    assert len(retention_events(enterprise)) == 1


def test_a_chunk_that_fails_is_recorded_and_sent_again_by_the_next_run_of_the_night(
    world, enterprise, sent
):
    coordinate(chunk_size=SIZE)
    first, *others = sorted(sent, key=lambda args: args[1])
    with mock.patch.object(retention, "_run_batch", side_effect=RuntimeError("database gone")):
        with pytest.raises(RuntimeError):
            run_chunk(*first)
    for args in others:
        run_chunk(*args)
    sent.clear()

    failed = JobRun.objects.get(job=jobs.CHUNK_JOB)
    assert failed.status == JobStatus.FAILED
    assert failed.errors[0]["enterprise"] == enterprise.pk
    assert "database gone" in failed.errors[0]["error"]

    # the next hourly run sends that chunk only, and does not finish the night yet
    coordinate(TONIGHT + timedelta(hours=1), chunk_size=SIZE)
    assert [args[:4] for args in sent] == [first[:4]]
    assert not NightlyMark.objects.exists()

    run_chunk(*sent[0])
    coordinate(TONIGHT + timedelta(hours=2), chunk_size=SIZE)
    assert alive(world["old_chats"]) == set()
    assert NightlyMark.objects.filter(job=jobs.JOB, enterprise=enterprise).count() == 1


def test_a_chunk_that_would_touch_a_chat_the_floor_keeps_is_rolled_back(world, enterprise, sent):
    coordinate(chunk_size=SIZE)
    recent = world["recent_chats"][0]
    lo, hi = (recent.pk - 1) // SIZE * SIZE + 1, ((recent.pk - 1) // SIZE + 1) * SIZE
    real = retention.enforce_retention

    def careless(enterprise, **kwargs):
        WorkRecord.objects.filter(pk=recent.pk).delete()
        return real(enterprise, **kwargs)

    with mock.patch.object(jobs, "enforce_retention", careless):
        with pytest.raises(jobs.FloorTouched):
            run_chunk(enterprise.pk, lo, hi, TODAY.isoformat(), None)

    assert alive(world["recent_chats"]) == {r.pk for r in world["recent_chats"]}
    failed = JobRun.objects.get(job=jobs.CHUNK_JOB)
    assert "statutory floor" in failed.errors[0]["error"]


# ---------------------------------------------------------------------------------------------
# Holds still win


def test_a_hold_on_a_member_keeps_their_records_in_every_chunk(
    world, enterprise, member, colleague, compliance_user, sent
):
    with time_machine.travel(TONIGHT - timedelta(hours=3), tick=False):
        place_hold(enterprise, member=member, reason="劳动仲裁", actor=compliance_user)
    coordinate(chunk_size=SIZE)
    for args in list(sent):
        run_chunk(*args)

    theirs = [r for r in world["old_chats"] + world["old_expenses"] if r.owner_id == member.pk]
    colleagues = [r for r in world["old_chats"] if r.owner_id == colleague.pk]
    assert alive(theirs) == {r.pk for r in theirs}
    assert anonymized(theirs) == set()
    assert alive(colleagues) == set()


def test_a_hold_on_the_whole_enterprise_placed_between_chunks_stops_the_rest(
    world, enterprise, compliance_user, sent
):
    coordinate(chunk_size=SIZE)
    first, *others = sorted(sent, key=lambda args: args[1])
    done = run_chunk(*first)
    with time_machine.travel(TONIGHT, tick=False):
        place_hold(enterprise, reason="监管调查", actor=compliance_user)

    results = [run_chunk(*args) for args in others]

    assert all(result["whole_enterprise_held"] == 1 for result in results)
    assert all(result["purged"] == result["anonymized"] == 0 for result in results)
    assert done["purged"] > 0
    assert len(alive(world["old_chats"])) == len(world["old_chats"]) - done["purged"]
    later = [record for args in others for record in within(world["old_expenses"], args)]
    assert anonymized(later) == set()


def test_the_night_purges_contracts_only_two_years_after_the_last_working_day(
    enterprise, member, colleague, compliance_user, completed_exit, sent
):
    # given a file policy of 30 days, then purge, and three labour contracts made years ago: of a
    # member who left two years and a day before tonight, of one who left two years before
    # tonight (their last kept day), and of a colleague still employed
    save_policy(
        RetentionPolicy(
            enterprise=enterprise,
            category=RecordCategory.FILE,
            keep_days=30,
            action=RetentionAction.PURGE,
        ),
        actor=compliance_user,
    )
    last_day = factories.MemberFactory(enterprise=enterprise, name="王芳")
    contracts = {}
    for who, left_on in (
        (member, date(2024, 3, 9)),
        (last_day, date(2024, 3, 10)),
        (colleague, None),
    ):
        (contracts[who.pk],) = records_of(
            who,
            1,
            category=RecordCategory.FILE,
            document_type=DocumentType.LABOUR_CONTRACT,
            created_at=datetime(2019, 3, 1, 12, tzinfo=SHANGHAI),
        )
        if left_on is not None:
            with time_machine.travel(
                datetime.combine(left_on - timedelta(14), datetime.min.time(), SHANGHAI)
                + timedelta(hours=12),
                tick=False,
            ):
                completed_exit(who, last_working_day=left_on)

    # when the night comes, then only the first contract's range is planned, and its chunk
    # purges it alone
    coordinate(chunk_size=1)
    first = contracts[member.pk].pk
    assert [tuple(args[1:3]) for args in sent] == [(first, first)]
    run_chunk(*sent[0])
    assert alive(contracts.values()) == {contracts[last_day.pk].pk, contracts[colleague.pk].pk}


# ---------------------------------------------------------------------------------------------
# Chunks lost with their worker: sent again within the night; the run says what is left


def status_of_last_run() -> str:
    return JobRun.objects.filter(job=jobs.JOB).order_by("-pk").values_list("status", flat=True)[0]


def test_a_chunk_not_done_is_sent_again_once_the_resend_interval_has_passed(
    world, enterprise, sent, settings
):
    settings.EXITDESK_CHUNK_RESEND_SECONDS = 15 * 60
    coordinate(chunk_size=SIZE)
    first, *left = sorted(sent, key=lambda args: args[1])
    run_chunk(*first)
    sent.clear()

    # within the interval: the chunks left are with a worker still, not sent again
    counts = coordinate(TONIGHT + timedelta(minutes=10), chunk_size=SIZE)
    assert sent == []
    assert counts == {
        str(enterprise.pk): {"chunks_sent": 0, "chunks_done": 1, "chunks_left": len(left)}
    }
    assert status_of_last_run() == JobStatus.PARTIAL

    # past it (their worker was killed): sent again, the same night
    counts = coordinate(TONIGHT + timedelta(minutes=16), chunk_size=SIZE)
    assert sorted(args[1:3] for args in sent) == sorted(args[1:3] for args in left)
    assert counts[str(enterprise.pk)]["chunks_sent"] == len(left)
    assert sorted(JobChunk.objects.values_list("attempts", flat=True)) == [1] + [2] * len(left)
    assert status_of_last_run() == JobStatus.PARTIAL


def test_a_worker_killed_in_the_last_night_hour_does_not_slip_a_day(
    world, enterprise, member, sent
):
    last_hour = datetime(2026, 3, 10, 5, 50, tzinfo=SHANGHAI)
    coordinate(last_hour, chunk_size=SIZE)
    planned = set(JobChunk.objects.values_list("key", flat=True))
    chunks = len(ranges_of(world["old_chats"] + world["old_expenses"]))
    assert len(sent) == chunks
    sent.clear()
    # the worker dies with every chunk; the night hours end; more records come due meanwhile
    records_of(member, SIZE, created_at=OLD)

    # after the night hours: the night's chunks sent again, nothing planned anew
    counts = coordinate(last_hour + timedelta(minutes=20), chunk_size=SIZE)
    assert len(sent) == chunks
    assert set(JobChunk.objects.values_list("key", flat=True)) == planned
    assert counts == {
        str(enterprise.pk): {"chunks_sent": chunks, "chunks_done": 0, "chunks_left": chunks}
    }
    assert status_of_last_run() == JobStatus.PARTIAL

    # a restarted worker does them; the next run finishes the night, on the same local date
    for args in sent:
        run_chunk(*args)
    sent.clear()
    counts = coordinate(last_hour + timedelta(hours=1), chunk_size=SIZE)
    mine = counts[str(enterprise.pk)]
    assert mine["chunks_done"] == chunks and mine["chunks_left"] == 0
    assert mine["purged"] == 21 and mine["anonymized"] == 6
    assert status_of_last_run() == JobStatus.SUCCEEDED
    assert NightlyMark.objects.filter(job=jobs.JOB, local_date=TODAY).count() == 1
    assert alive(world["old_chats"]) == set()
    # and later runs of the day leave the finished night alone
    assert coordinate(last_hour + timedelta(hours=2), chunk_size=SIZE) == {}
    assert sent == []


def test_chunks_of_a_past_local_date_are_left_to_the_next_night(world, enterprise, sent):
    coordinate(chunk_size=SIZE)
    sent.clear()
    # after local midnight, before the next night: nothing sent, nothing finished
    assert coordinate(datetime(2026, 3, 11, 0, 30, tzinfo=SHANGHAI), chunk_size=SIZE) == {}
    assert sent == []
    assert not NightlyMark.objects.exists()


def test_a_chunk_task_that_fails_is_recorded_once(world, enterprise, sent):
    coordinate(chunk_size=SIZE)
    args = sorted(sent, key=lambda args: args[1])[0]
    with mock.patch.object(retention, "_run_batch", side_effect=RuntimeError("database gone")):
        with time_machine.travel(TONIGHT + timedelta(minutes=1), tick=False):
            result = jobs.enforce_retention_chunk.apply(args=args)
    assert result.state == "FAILURE"
    failed = JobRun.objects.filter(status=JobStatus.FAILED)
    assert [run.job for run in failed] == [jobs.CHUNK_JOB]


def test_a_night_left_unfinished_is_reported_by_the_next_night_and_done_again(
    world, enterprise, sent
):
    # given a night whose chunks no worker ever did, up to its local midnight
    coordinate(chunk_size=SIZE)
    chunks = len(sent)
    sent.clear()

    # when the next night comes
    counts = coordinate(TONIGHT + timedelta(days=1), chunk_size=SIZE)

    # then its run says the last night was not finished, and plans and sends the records again
    run = JobRun.objects.filter(job=jobs.JOB).order_by("-pk")[0]
    assert run.status == JobStatus.FAILED
    assert run.errors == [
        {
            "enterprise": enterprise.pk,
            "error": f"The retention run of the night of 2026-03-10 was not finished: {chunks} "
            "chunks were never done. Tonight's run does their records again.",
        }
    ]
    assert len(sent) == chunks
    assert counts[str(enterprise.pk)]["chunks_left"] == chunks
    assert not JobChunk.objects.filter(key__startswith="2026-03-10:").exists()
    # and the night after, nothing more is said of it
    for args in sent:
        with time_machine.travel(TONIGHT + timedelta(days=1, minutes=1), tick=False):
            jobs.retention_chunk(*args)
    coordinate(TONIGHT + timedelta(days=1, minutes=30), chunk_size=SIZE)
    assert JobRun.objects.filter(job=jobs.JOB).order_by("-pk")[0].status == JobStatus.SUCCEEDED
