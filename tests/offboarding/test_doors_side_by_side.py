"""The doors of one enterprise run side by side (P-1, C-7): the frequent doors (sign-offs,
approvals, opening an exit) take the enterprise's door lock shared and hold the audit chain's head
only for their append; the other doors take it exclusive; neither waits behind a retention batch
or the sealing of a closing exit. PostgreSQL only: SQLite has one writer at a time.

Each test holds one call open at a chosen point (through a wrapper around the function where it
has taken its locks) and shows what another call does meanwhile: it finishes, or it waits (seen in
pg_stat_activity). The trail verifies afterwards.
"""

import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection, transaction
from django.utils.timezone import now

from compliance import audit, holds, retention, sealing
from compliance.choices import RecordCategory, RetentionAction
from compliance.models import AuditEvent, RetentionPolicy, WorkRecord
from directory.choices import StaffRole
from offboarding import services, workflow
from offboarding.choices import ExitState, Team
from offboarding.models import ChecklistItem
from tests import factories
from tests.compliance.conftest import records_of
from tests.conftest import refreshed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgresql")]

TIMEOUT = 10  # seconds; a deadlock fails the test instead of hanging it


class Call:
    """One call in a thread of its own: done, or the error it raised."""

    def __init__(self, name: str, call):
        self.done = threading.Event()
        self.error: BaseException | None = None

        def target():
            try:
                call()
                self.done.set()
            except BaseException as error:  # reported by the test, never swallowed
                self.error = error
            finally:
                connection.close()  # each thread has its own connection: give it back

        self.thread = threading.Thread(target=target, name=name, daemon=True)
        self.thread.start()

    def finished(self) -> bool:
        self.thread.join(TIMEOUT)
        assert self.error is None, self.error
        return self.done.is_set()


@contextmanager
def held_open(module, name: str, thread_name: str):
    """Patch `module.name` so that, in the thread named `thread_name`, it stops once it has run
    (its locks taken) until `release` is set, after telling `reached`."""
    real = getattr(module, name)
    reached, release = threading.Event(), threading.Event()

    def hold(*args, **kwargs):
        result = real(*args, **kwargs)
        if threading.current_thread().name == thread_name:
            reached.set()
            release.wait(timeout=TIMEOUT)
        return result

    with mock.patch.object(module, name, hold):
        try:
            yield reached, release
        finally:
            release.set()


def waits_for_a_lock() -> bool:
    """Whether some session of the test database waits for a lock, within TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.01)
    return False


def hr_item(exit_case) -> ChecklistItem:
    """The first checklist item of `exit_case` that HR signs by hand."""
    return exit_case.checklist.filter(auto_check="", team=Team.HR).order_by("position").first()


def assert_the_trail_verifies(enterprise):
    (result,) = audit.verify(enterprise.pk)
    assert result.whole, result.reason


@pytest.fixture
def leavers(enterprise, manager):
    return [
        factories.MemberFactory(enterprise=enterprise, manager=manager, name=f"离职{n}")
        for n in range(3)
    ]


@pytest.fixture
def second_hr_user(enterprise):
    return factories.StaffFactory(username="hr-2", enterprise=enterprise, role=StaffRole.HR)


def test_two_sign_offs_in_one_enterprise_run_side_by_side(
    enterprise, leavers, open_exit_for, hr_user, second_hr_user
):
    # given two exits of one enterprise
    first_item, second_item = (hr_item(open_exit_for(member)) for member in leavers[:2])
    # when HR signs off an item of the first while another HR's sign-off of the second is held
    # open, past its locks
    with held_open(services, "_lock_signable", "first") as (reached, release):
        first = Call("first", lambda: services.sign_off_item(first_item, actor=hr_user))
        assert reached.wait(TIMEOUT)
        second = Call("second", lambda: services.sign_off_item(second_item, actor=second_hr_user))
        # then the second one finishes without waiting for the first
        assert second.finished()
        assert ChecklistItem.objects.get(pk=second_item.pk).signed_off_by == second_hr_user
        assert first.thread.is_alive()
        release.set()
        assert first.finished()
    # and both are signed, and the trail holds both events in one chain that verifies
    assert ChecklistItem.objects.get(pk=first_item.pk).signed_off_by == hr_user
    signed = AuditEvent.objects.filter(action="checklist_item_signed_off").order_by("seq")
    assert [event.object_id for event in signed] == [str(second_item.pk), str(first_item.pk)]
    assert_the_trail_verifies(enterprise)


def test_an_approval_and_a_submit_run_beside_a_sign_off(
    enterprise, leavers, open_exit_for, hr_user, manager
):
    # given one exit whose item HR signs, one waiting for its manager, one draft
    signed_item = hr_item(open_exit_for(leavers[0]))
    waiting = workflow.submit(open_exit_for(leavers[1]), actor=leavers[1].user)
    draft = open_exit_for(leavers[2])
    # when the sign-off is held open past its locks
    with held_open(services, "_lock_signable", "sign") as (reached, release):
        sign = Call("sign", lambda: services.sign_off_item(signed_item, actor=hr_user))
        assert reached.wait(TIMEOUT)
        # then the manager's approval and the member's submit go through meanwhile
        approve = Call("approve", lambda: workflow.approve(waiting, actor=manager.user))
        submit = Call("submit", lambda: workflow.submit(draft, actor=leavers[2].user))
        assert approve.finished() and submit.finished()
        assert sign.thread.is_alive()
        release.set()
        assert sign.finished()
    assert refreshed(draft).state == ExitState.PENDING_APPROVAL
    assert_the_trail_verifies(enterprise)


def test_a_door_that_locks_people_waits_for_the_doors_running_side_by_side(
    enterprise, leavers, open_exit_for, hr_user
):
    # given an exit whose item HR is signing, and another exit to cancel
    item = hr_item(open_exit_for(leavers[0]))
    other = open_exit_for(leavers[1])
    with held_open(services, "_lock_signable", "sign") as (reached, release):
        sign = Call("sign", lambda: services.sign_off_item(item, actor=hr_user))
        assert reached.wait(TIMEOUT)
        # when the member cancels the other exit (a door that takes turns with every door)
        cancel = Call("cancel", lambda: workflow.cancel(other, actor=leavers[1].user))
        # then the cancel waits for the sign-off to end, and then goes through
        assert waits_for_a_lock()
        assert not cancel.done.is_set()
        release.set()
        assert sign.finished() and cancel.finished()
    assert refreshed(other).state == ExitState.CANCELLED
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["checklist_item_signed_off", "exit_cancelled"]
    assert_the_trail_verifies(enterprise)


def test_no_door_waits_behind_a_retention_batch(
    enterprise, leavers, open_exit_for, hr_user, compliance_user
):
    # given records due to be purged and an exit whose item HR signs
    retention.save_policy(
        RetentionPolicy(
            enterprise=enterprise,
            category=RecordCategory.ATTENDANCE,
            keep_days=30,
            action=RetentionAction.PURGE,
        ),
        actor=compliance_user,
    )
    records_of(
        leavers[2], 4, category=RecordCategory.ATTENDANCE, created_at=now() - timedelta(days=90)
    )
    item = hr_item(open_exit_for(leavers[0]))
    # when a retention batch is held open, the enterprise's row locked
    with held_open(holds, "lock_enterprise", "run") as (reached, release):
        run = Call("run", lambda: retention.enforce_retention(enterprise, batch_size=2))
        assert reached.wait(TIMEOUT)
        # then a sign-off of the enterprise goes through meanwhile
        sign = Call("sign", lambda: services.sign_off_item(item, actor=hr_user))
        assert sign.finished()
        release.set()
        assert run.finished()
    assert not WorkRecord.objects.filter(owner=leavers[2]).exists()
    assert_the_trail_verifies(enterprise)


def test_closing_an_exit_seals_its_records_before_its_lock(
    enterprise, leavers, completed_exit, open_exit_for, hr_user
):
    # given a completed exit whose member has records, and other exits of the enterprise
    closing = completed_exit(leavers[0])
    records_of(leavers[0], 7)
    item = hr_item(open_exit_for(leavers[1]))
    other = open_exit_for(leavers[2])
    with time_machine.travel(closing.undo_deadline + timedelta(minutes=1), tick=True):
        # when the close is held open while it seals the records
        with held_open(sealing, "_write_sealed", "close") as (reached, release):
            close = Call("close", lambda: workflow.close(closing, actor=None))
            assert reached.wait(TIMEOUT)
            # then a sign-off and a door that takes turns with every door go through meanwhile
            sign = Call("sign", lambda: services.sign_off_item(item, actor=hr_user))
            cancel = Call("cancel", lambda: workflow.cancel(other, actor=leavers[2].user))
            assert sign.finished() and cancel.finished()
            release.set()
            assert close.finished()
    # and the exit is closed with every record sealed, the sealing recorded before the close
    assert refreshed(closing).state == ExitState.CLOSED
    assert not WorkRecord.objects.filter(owner=leavers[0], sealed_content__isnull=True).exists()
    closing_events = AuditEvent.objects.filter(exit_id=closing.pk).order_by("seq")
    assert [(e.action, e.data) for e in closing_events][-2:] == [
        ("records_sealed", {"count": 7}),
        ("exit_closed", {"from": "completed", "to": "closed"}),
    ]
    assert_the_trail_verifies(enterprise)


def test_an_exclusive_door_inside_a_shared_one_is_refused(enterprise):
    with transaction.atomic():
        audit.lock_doors(enterprise.pk, shared=True)
        with transaction.atomic(), pytest.raises(RuntimeError, match="inside a shared door"):
            audit.lock_doors(enterprise.pk)


def test_many_doors_at_once_in_one_enterprise_keep_one_chain(
    enterprise, open_exit_for, hr_user, second_hr_user, compliance_user
):
    # given four members leaving, each with a draft exit
    members = [factories.MemberFactory(enterprise=enterprise, name=f"并行{n}") for n in range(4)]
    exits = [open_exit_for(member) for member in members]
    signers = [hr_user, second_hr_user]
    start = threading.Barrier(5)

    def sign_and_submit(n):
        def run():
            start.wait(TIMEOUT)
            for item in exits[n].checklist.filter(auto_check="", team=Team.HR):
                services.sign_off_item(item, actor=signers[n % 2])
            workflow.submit(exits[n], actor=members[n].user)

        return run

    def hold_and_release():
        start.wait(TIMEOUT)
        hold = holds.place_hold(enterprise, reason="审计", actor=compliance_user)
        holds.release_hold(hold, actor=compliance_user)

    # when they all sign off, submit, and a hold is placed and released, at the same moment
    calls = [Call(f"door-{n}", sign_and_submit(n)) for n in range(4)]
    calls.append(Call("hold", hold_and_release))
    # then nobody deadlocks or fails, and the one chain verifies
    assert all(call.finished() for call in calls)
    assert all(refreshed(e).state == ExitState.PENDING_APPROVAL for e in exits)
    assert_the_trail_verifies(enterprise)
