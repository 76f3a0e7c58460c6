"""Two people acting on one exit at the same moment (S-3): exactly one wins, the other is told why,
and nothing is lost. PostgreSQL only: SQLite has no row locks to wait on.

To make the collision real rather than likely, the first thread takes the exit's row lock and
holds it (through a wrapper around `workflow._lock`) until the second thread is seen waiting for
that lock in pg_stat_activity; only then does the first one go on and commit. The second one then
reads the exit as the first one left it. One test lets two threads loose together on a Barrier,
with no help, to show the same holds whoever comes first.
"""

import threading
import time
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import connection

from directory.choices import MemberStatus, StaffRole
from directory.models import Member
from offboarding import services, workflow
from offboarding.choices import ApproverKind, Decision, ExitKind, ExitState
from offboarding.exceptions import ExitRefused
from offboarding.models import ApprovalChainStep, Exit, ExitApproval
from tests import factories
from tests.offboarding.conftest import history_reasons, refreshed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgresql")]

TIMEOUT = 10  # seconds; a deadlock fails the test instead of hanging it


class Outcome:
    """What one thread's call came to: done, refused (with the message), or an error."""

    def __init__(self):
        self.done = False
        self.refused: str | None = None
        self.error: BaseException | None = None

    def __repr__(self):
        return f"Outcome(done={self.done}, refused={self.refused!r}, error={self.error!r})"


def _thread(name: str, call, outcome: Outcome, start: threading.Barrier | None = None):
    def target():
        try:
            if start is not None:
                start.wait(timeout=TIMEOUT)
            call()
            outcome.done = True
        except ExitRefused as refused:
            outcome.refused = str(refused)
        except BaseException as error:  # reported by the test, never swallowed
            outcome.error = error
        finally:
            connection.close()  # each thread has its own connection: give it back

    return threading.Thread(target=target, name=name, daemon=True)


def _waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@contextmanager
def _first_holds_the_lock():
    """Patch workflow._lock so that the thread named "first" keeps the row lock it took until
    `release` is set, after telling `locked`."""
    real_lock = workflow._lock
    locked, release = threading.Event(), threading.Event()

    def lock_and_hold(exit_case, **options):
        exit_case = real_lock(exit_case, **options)
        if threading.current_thread().name == "first":
            locked.set()
            release.wait(timeout=TIMEOUT)
        return exit_case

    with mock.patch.object(workflow, "_lock", lock_and_hold):
        yield locked, release


def collide(first_call, second_call) -> tuple[Outcome, Outcome]:
    """Run `first_call` until it holds the exit's row lock, then `second_call`, which has to wait
    for that lock; then let the first one finish. Returns both outcomes."""
    first, second = Outcome(), Outcome()
    with _first_holds_the_lock() as (locked, release):
        first_thread = _thread("first", first_call, first)
        second_thread = _thread("second", second_call, second)
        first_thread.start()
        try:
            assert locked.wait(timeout=TIMEOUT), f"the first call never took the lock: {first}"
            second_thread.start()
            deadline = time.monotonic() + TIMEOUT
            while _waiting_for_a_lock() == 0:
                assert time.monotonic() < deadline, f"the second call never waited: {second}"
                assert second_thread.is_alive(), f"the second call did not wait: {second}"
                time.sleep(0.01)
        finally:
            release.set()
            first_thread.join(TIMEOUT)
            second_thread.join(TIMEOUT)
    assert not first_thread.is_alive() and not second_thread.is_alive(), "a thread hung"
    assert first.error is None and second.error is None, (first, second)
    return first, second


def all_at_once(*calls) -> list[Outcome]:
    """Start every call at the same moment (a Barrier), with no help; wait for all of them."""
    start = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]
    threads = [
        _thread(f"racer-{n}", call, outcome, start)
        for n, (call, outcome) in enumerate(zip(calls, outcomes, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    errors = [outcome.error for outcome in outcomes if outcome.error is not None]
    assert not errors, errors
    return outcomes


@pytest.fixture
def second_hr_user(enterprise):
    return factories.StaffFactory(username="hr-2", enterprise=enterprise, role=StaffRole.HR)


@pytest.fixture
def chain_of_hr_only(enterprise):
    ApprovalChainStep.objects.create(enterprise=enterprise, position=1, approver=ApproverKind.HR)


# --- approving --------------------------------------------------------------------------------


def test_two_hr_staff_approving_the_only_step_at_once_approve_it_once(
    chain_of_hr_only, open_exit_for, member, hr_user, second_hr_user
):
    # given an exit waiting for its only step, HR's
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    # when two HR staff press "approve" at the same moment
    first, second = collide(
        lambda: workflow.approve(exit_case, actor=hr_user, comment="first"),
        lambda: workflow.approve(exit_case, actor=second_hr_user, comment="second"),
    )
    # then one approves, the other is told the exit has moved on
    assert first.done
    assert second.refused == "This exit is Handover: it cannot be approved now."
    step = ExitApproval.objects.get(exit_case=exit_case)
    assert (step.decision, step.decided_by, step.comment) == (Decision.APPROVED, hr_user, "first")
    assert refreshed(exit_case).state == ExitState.HANDOVER
    assert history_reasons(exit_case).count("approve") == 1


def test_a_manager_approving_twice_at_once_decides_their_step_once(open_exit_for, member, manager):
    # given the default chain: the direct manager, then HR
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    # when the manager's approval is sent twice at the same moment (two tabs)
    first, second = collide(
        lambda: workflow.approve(exit_case, actor=manager.user),
        lambda: workflow.approve(exit_case, actor=manager.user),
    )
    # then their step is approved once, and HR's step still waits
    assert first.done
    assert second.refused  # the step is no longer theirs to decide
    decisions = list(exit_case.approvals.order_by("position").values_list("decision", "decided_by"))
    assert decisions == [(Decision.APPROVED, manager.user.pk), (Decision.PENDING, None)]
    assert refreshed(exit_case).state == ExitState.PENDING_APPROVAL


def test_two_hr_staff_approving_the_same_step_at_once_do_not_approve_the_next_one(
    open_exit_for, enterprise, hr_user, second_hr_user
):
    # given a member without a manager: HR decides both steps of the default chain
    leaver = factories.MemberFactory(enterprise=enterprise, name="孤立")
    exit_case = workflow.submit(open_exit_for(leaver), actor=leaver.user)
    # when two HR staff approve the first step at the same moment
    first, second = collide(
        lambda: workflow.approve(exit_case, actor=hr_user),
        lambda: workflow.approve(exit_case, actor=second_hr_user),
    )
    # then exactly one of them approves a step
    assert first.done
    assert second.refused
    assert list(exit_case.approvals.order_by("position").values_list("decision", flat=True)) == [
        Decision.APPROVED,
        Decision.PENDING,
    ]


# --- completing and undoing -------------------------------------------------------------------


def test_hr_and_it_completing_at_once_complete_once(
    exit_in_handover, ready_to_complete, member, hr_user, it_user
):
    # given
    exit_case = ready_to_complete(exit_in_handover(member))
    # when
    first, second = collide(
        lambda: workflow.complete(exit_case, actor=hr_user),
        lambda: workflow.complete(exit_case, actor=it_user),
    )
    # then
    assert first.done
    assert second.refused == "This exit is Completed: it cannot be completed now."
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.COMPLETED
    assert history_reasons(exit_case).count("complete") == 1
    assert exit_case.history.order_by("-history_id").first().history_user == hr_user
    # what completion recorded for undo is the member before completion, not after
    assert exit_case.before_completion["member"]["status"] == MemberStatus.ACTIVE
    member = Member.objects.select_related("user").get(pk=member.pk)
    assert member.status == MemberStatus.DEPARTED
    assert member.user.is_active is False


def test_two_completes_started_together_complete_once_whoever_comes_first(
    exit_in_handover, ready_to_complete, member, hr_user, it_user
):
    # given
    exit_case = ready_to_complete(exit_in_handover(member))
    # when both start at the same moment, with no help
    outcomes = all_at_once(
        lambda: workflow.complete(exit_case, actor=hr_user),
        lambda: workflow.complete(exit_case, actor=it_user),
    )
    # then
    assert sorted(outcome.done for outcome in outcomes) == [False, True]
    (refused,) = [outcome.refused for outcome in outcomes if not outcome.done]
    assert refused == "This exit is Completed: it cannot be completed now."
    assert history_reasons(exit_case).count("complete") == 1


def test_two_hr_staff_undoing_at_once_undo_once(completed_exit, member, hr_user, second_hr_user):
    # given
    exit_case = completed_exit(member)
    # when
    first, second = collide(
        lambda: workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD),
        lambda: workflow.undo(exit_case, actor=second_hr_user, password=factories.PASSWORD),
    )
    # then
    assert first.done
    assert second.refused == "This exit is Reverted: it cannot be undone now."
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.REVERTED
    assert history_reasons(exit_case).count("undo") == 1
    member = Member.objects.select_related("user").get(pk=member.pk)
    assert member.status == MemberStatus.ACTIVE
    assert member.user.is_active is True


# --- approving against cancelling -------------------------------------------------------------


@pytest.fixture
def waiting_for_hr(open_exit_for, member, manager):
    """The member's exit, approved by the manager, waiting for HR's (last) step."""
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    return workflow.approve(exit_case, actor=manager.user)


def test_a_cancel_that_gets_there_first_stops_the_approval(waiting_for_hr, member, hr_user):
    # when the member cancels while HR approves, and the member's cancel is first
    first, second = collide(
        lambda: workflow.cancel(waiting_for_hr, actor=member.user),
        lambda: workflow.approve(waiting_for_hr, actor=hr_user),
    )
    # then the exit is cancelled, and HR is told; HR's step records no decision
    assert first.done
    assert second.refused == "This exit is Cancelled: it cannot be approved now."
    assert refreshed(waiting_for_hr).state == ExitState.CANCELLED
    assert waiting_for_hr.approvals.get(position=2).decision == Decision.PENDING
    assert history_reasons(waiting_for_hr)[-1] == "cancel"


def test_an_approval_that_gets_there_first_is_followed_by_the_cancel(
    waiting_for_hr, member, hr_user
):
    # when HR approves while the member cancels, and HR's approval is first
    first, second = collide(
        lambda: workflow.approve(waiting_for_hr, actor=hr_user),
        lambda: workflow.cancel(waiting_for_hr, actor=member.user),
    )
    # then both happened, in that order: an exit in handover may still be cancelled
    assert first.done and second.done
    assert refreshed(waiting_for_hr).state == ExitState.CANCELLED
    assert waiting_for_hr.approvals.get(position=2).decision == Decision.APPROVED
    assert history_reasons(waiting_for_hr)[-2:] == ["approve", "cancel"]


# --- opening ----------------------------------------------------------------------------------


def test_two_exits_opened_at_once_for_one_member_open_one(open_exit_for, member, hr_user):
    # given
    last_day = services.local_today(member.enterprise)

    def open_passive_exit():
        open_exit_for(member, kind=ExitKind.PASSIVE, last_working_day=last_day, actor=hr_user)

    # when two requests to open an exit arrive at the same moment
    outcomes = all_at_once(open_passive_exit, open_passive_exit)
    # then
    assert sorted(outcome.done for outcome in outcomes) == [False, True]
    (refused,) = [outcome.refused for outcome in outcomes if not outcome.done]
    assert refused == "张三 already has an exit in progress."
    assert Exit.objects.filter(member=member).count() == 1
    assert Exit.objects.get(member=member).checklist.count() == 12
