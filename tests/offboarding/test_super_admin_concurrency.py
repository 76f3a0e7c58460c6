"""The doors that move the super admin role, run at the same moment (D-5, H-1 … H-3, S-3): a
handover being confirmed, an emergency freeze, a demotion, an unfreeze. Whatever order they reach
the database in, the enterprise ends with exactly one active super admin (never zero, never two),
each door either goes through or is refused with its reason, and no database error (a deadlock,
an IntegrityError) leaks out. PostgreSQL only: SQLite has no row locks to wait on.

Two ways of colliding, as in test_concurrency.py:

- `collide(first, *later, hold=…)`: the first call runs until it holds its row lock (a wrapper
  around the function each door calls right after locking: `hold`), then the later calls are
  started one by one, each left to finish or to queue on a lock before the next one starts; only
  then does the first call go on. The order is forced, so every test states who wins. (Where a
  refusal's wording depends on which row the refused door happens to lock first, the test accepts
  each wording that is true in that order.)
- `all_at_once(**calls)`: every call starts together on a Barrier, with no help; the rounds at the
  end run mixed scenarios in a seeded random order and check that the outcomes agree with each
  other and with the final rows, whoever came first.
"""

import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

import pytest
from django.db import connection
from django_otp.oath import totp

from directory import services as directory_services
from directory.choices import HandoverPolicy, MemberRole, MemberStatus, StaffRole
from directory.models import Member
from offboarding import handover
from offboarding.choices import ExitKind, HandoverState
from offboarding.exceptions import ExitRefused
from offboarding.models import AccountFreeze, SuperAdminHandover
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgresql")]

TIMEOUT = 10  # seconds; a deadlock fails the test instead of hanging it
REASON = "账号被盗"

# The refusals, as a person reads them.
NOT_THE_SUPER_ADMIN = "{name} is not the enterprise's active super admin."
NO_ADMIN_ROLE = (
    "{name} holds no admin role: a member's account leaves through an exit, not a freeze."
)
ONLY_SUPER_ADMIN = (
    "{name} is the enterprise's only active super admin. Hand the super admin role to someone "
    "else first; an enterprise can never be left without one."
)
WITHDRAWN = "This handover was withdrawn."
# A confirm that comes after a freeze of someone the handover names: the freeze withdrew the
# handover; depending on which row the confirm locks first it reads that, or the member's state.
REFUSED_AFTER_FREEZE_OF_HOLDER = {WITHDRAWN, NOT_THE_SUPER_ADMIN}
REFUSED_AFTER_FREEZE_OF_NEW_ADMIN = {
    WITHDRAWN,
    "{name} is Frozen: only an active member can take the role.",
    "{name} is not active: only an active member can become the super admin.",
}
ONLY_THE_SUPER_ADMIN_UNFREEZES = (
    "Only the enterprise's super admin (or a superuser) can unfreeze an account."
)


def refused_with(outcome, messages: set[str], name: str) -> bool:
    return outcome.refused in {message.format(name=name) for message in messages}


# ---------------------------------------------------------------------------------------------
# Threads


class Outcome:
    """What one thread's call came to: done, refused (with the message), or an error (a bug)."""

    def __init__(self, name: str):
        self.name = name
        self.done = False
        self.refused: str | None = None
        self.error: BaseException | None = None

    def __repr__(self):
        return f"{self.name}(done={self.done}, refused={self.refused!r}, error={self.error!r})"


def _thread(name: str, call, outcome: Outcome, start: threading.Barrier | None = None):
    def target():
        try:
            if start is not None:
                start.wait(timeout=TIMEOUT)
            call()
            outcome.done = True
        except ExitRefused as refused:
            outcome.refused = str(refused)
        except directory_services.DirectoryError as refused:
            outcome.refused = " ".join(refused.messages)
        except BaseException as error:  # a database error is a bug: reported by the test
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


def _settle(threads: list[threading.Thread], outcomes: list[Outcome]) -> None:
    """Wait until each of `threads` has either finished or queued on a row lock."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        alive = sum(thread.is_alive() for thread in threads)
        if alive == 0 or _waiting_for_a_lock() >= alive:
            return
        assert time.monotonic() < deadline, f"a call neither finished nor waited: {outcomes}"
        time.sleep(0.01)


# Where each door has taken its row locks: the function it calls right after.
CONFIRM_STARTED = (handover, "_lock_handover")  # the handover's row only
CONFIRM_LOCKED = (handover, "enrolment_device")  # and the rows of the members it moves
# The confirm has passed the role (both members' rows locked and written), not yet committed.
CONFIRM_PASSED = (directory_services, "update_member")
FREEZE_LOCKED = (handover, "check_freeze")  # the frozen member's row
DEMOTE_LOCKED = (Member, "full_clean")  # update_member: the member's row


@contextmanager
def _first_holds(owner, name: str):
    """Patch `owner.name` so that the thread named "first", once through it (the door's locks
    taken, whether it then goes on or refuses), waits for `release` after telling `locked`."""
    real = getattr(owner, name)
    locked, release = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        try:
            return real(*args, **kwargs)
        finally:
            if threading.current_thread().name == "first" and not locked.is_set():
                locked.set()
                release.wait(timeout=TIMEOUT)

    with mock.patch.object(owner, name, held):
        yield locked, release


def collide(first_call, *later_calls, hold) -> list[Outcome]:
    """Run `first_call` until it holds its locks (see `hold`), then each of `later_calls` in turn
    until it finishes or waits for a lock; then let the first one go on. Returns the outcomes,
    first first."""
    outcomes = [Outcome("first")] + [Outcome(f"later-{n}") for n in range(len(later_calls))]
    first = _thread("first", first_call, outcomes[0])
    later = [
        _thread(outcome.name, call, outcome)
        for call, outcome in zip(later_calls, outcomes[1:], strict=True)
    ]
    with _first_holds(*hold) as (locked, release):
        first.start()
        try:
            assert locked.wait(timeout=TIMEOUT), f"the first call never took its lock: {outcomes}"
            for n, thread in enumerate(later, start=1):
                thread.start()
                _settle(later[:n], outcomes)
        finally:
            release.set()
            for thread in [first, *later]:
                thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in [first, *later]), f"a thread hung: {outcomes}"
    assert all(outcome.error is None for outcome in outcomes), outcomes
    return outcomes


def all_at_once(**calls) -> dict[str, Outcome]:
    """Start every call at the same moment (a Barrier), with no help; wait for all of them."""
    start = threading.Barrier(len(calls))
    outcomes = {name: Outcome(name) for name in calls}
    threads = [_thread(name, call, outcomes[name], start) for name, call in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), f"a thread hung: {outcomes}"
    assert all(outcome.error is None for outcome in outcomes.values()), outcomes
    return outcomes


# ---------------------------------------------------------------------------------------------
# An enterprise in the middle of a handover


@dataclass
class World:
    enterprise: object
    hr: object
    leaving: Member  # the super admin who leaves
    backup: Member  # the backup admin, an admin
    new_admin: Member  # named to take over, an admin
    custodian: Member | None  # custody policy: an admin, who holds the role meanwhile
    handover: SuperAdminHandover
    device: object  # the new admin's authenticator


def _code(device) -> str:
    code = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift
    )
    return f"{code:0{device.digits}d}"


def _refresh(*members: Member) -> None:
    for member in members:
        member.refresh_from_db()


@pytest.fixture
def world(open_exit_for):
    """Build an enterprise whose super admin 王总 is leaving and has named 新管理员 (and, with the
    custody policy, the custodian 代管人, who holds the role now); the new admin's authenticator
    is enrolled. Each call is a new enterprise, with its own HR."""

    def world(policy=HandoverPolicy.GRACE, *, new_admin_is_backup=False) -> World:
        enterprise = factories.EnterpriseFactory(handover_policy=policy)
        hr = factories.StaffFactory(enterprise=enterprise, role=StaffRole.HR)
        leaving = factories.SuperAdminFactory(enterprise=enterprise, name="王总")
        leaving.user.set_password(factories.PASSWORD)
        leaving.user.save()
        new_admin = factories.MemberFactory(
            enterprise=enterprise,
            name="新管理员",
            role=MemberRole.ADMIN,
            is_backup_admin=new_admin_is_backup,
        )
        backup = new_admin
        if not new_admin_is_backup:
            backup = factories.MemberFactory(
                enterprise=enterprise,
                name="备用管理员",
                role=MemberRole.ADMIN,
                is_backup_admin=True,
            )
        custodian = None
        if policy == HandoverPolicy.CUSTODY:
            custodian = factories.MemberFactory(
                enterprise=enterprise, name="代管人", role=MemberRole.ADMIN
            )
        open_exit_for(leaving, kind=ExitKind.VOLUNTARY_ADMIN)
        started = handover.request_handover(
            leaving,
            actor=leaving.user,
            new_admin=new_admin,
            custodian=custodian,
            password=factories.PASSWORD,
        )
        device = handover.enrolment_device(new_admin.user)
        return World(enterprise, hr, leaving, backup, new_admin, custodian, started, device)

    return world


def confirm(w: World):
    proof = handover.prove_password_to_confirm(
        w.handover, actor=w.new_admin.user, password=factories.PASSWORD
    )
    return lambda: handover.confirm_handover(
        w.handover, actor=w.new_admin.user, token=_code(w.device), password_proof=proof
    )


def freeze(w: World, member: Member):
    return lambda: handover.freeze_account(member, actor=w.hr, reason=REASON)


def demote(w: World, member: Member, role=MemberRole.MEMBER):
    return lambda: directory_services.change_role(member, actor=w.hr, role=role)


def the_super_admin(w: World) -> Member:
    """The enterprise's one active super admin; fails when there are none or two."""
    super_admins = list(Member.objects.filter(enterprise=w.enterprise).super_admins())
    assert len(super_admins) == 1, f"{len(super_admins)} active super admins: {super_admins}"
    return super_admins[0]


def handover_state(w: World) -> str:
    return SuperAdminHandover.objects.get(pk=w.handover.pk).state


# ---------------------------------------------------------------------------------------------
# 1. The new admin confirms while HR freezes the (leaving) super admin


@pytest.mark.parametrize("policy", [HandoverPolicy.GRACE, HandoverPolicy.IMMEDIATE])
def test_a_confirm_that_gets_there_first_wins_and_the_freeze_is_refused(world, policy):
    # given 王总 has named 新管理员, and the enterprise has a backup admin
    w = world(policy)
    # when 新管理员 confirms while HR freezes 王总, and the confirm takes the locks first
    confirmed, frozen = collide(confirm(w), freeze(w, w.leaving), hold=CONFIRM_LOCKED)
    # then the role passed; the freeze finds 王总 a plain member, and is refused
    assert confirmed.done, confirmed
    assert frozen.refused == NO_ADMIN_ROLE.format(name="王总")
    assert the_super_admin(w) == w.new_admin
    _refresh(w.leaving, w.backup)
    assert (w.leaving.role, w.leaving.status) == (MemberRole.MEMBER, MemberStatus.ACTIVE)
    assert w.backup.role == MemberRole.ADMIN and w.backup.is_backup_admin
    assert handover_state(w) == HandoverState.DONE
    assert not AccountFreeze.objects.filter(enterprise=w.enterprise).exists()


@pytest.mark.parametrize("policy", [HandoverPolicy.GRACE, HandoverPolicy.IMMEDIATE])
def test_a_freeze_that_gets_there_first_promotes_the_backup_and_the_confirm_is_refused(
    world, policy
):
    # given
    w = world(policy)
    # when HR's freeze of 王总 takes the lock first, and 新管理员 confirms meanwhile
    frozen, confirmed = collide(freeze(w, w.leaving), confirm(w), hold=FREEZE_LOCKED)
    # then the backup admin took over and the handover was withdrawn; the confirm is refused
    assert frozen.done, frozen
    assert refused_with(confirmed, REFUSED_AFTER_FREEZE_OF_HOLDER, "王总"), confirmed
    assert the_super_admin(w) == w.backup
    _refresh(w.leaving, w.new_admin)
    assert (w.leaving.role, w.leaving.status) == (MemberRole.ADMIN, MemberStatus.FROZEN)
    assert w.new_admin.role == MemberRole.ADMIN
    assert handover_state(w) == HandoverState.WITHDRAWN
    # the refused confirm changed nothing: the authenticator is not even confirmed
    w.device.refresh_from_db()
    assert not w.device.confirmed


def test_a_freeze_first_promotes_the_new_admin_when_they_are_the_backup_admin(world):
    # given 新管理员 is also the backup admin
    w = world(new_admin_is_backup=True)
    # when HR freezes 王总 first, while 新管理员 confirms
    frozen, confirmed = collide(freeze(w, w.leaving), confirm(w), hold=FREEZE_LOCKED)
    # then the freeze made 新管理员 the super admin; the confirm has nothing left to pass
    assert frozen.done, frozen
    assert refused_with(confirmed, REFUSED_AFTER_FREEZE_OF_HOLDER, "王总"), confirmed
    assert the_super_admin(w) == w.new_admin
    _refresh(w.new_admin)
    assert not w.new_admin.is_backup_admin
    assert handover_state(w) == HandoverState.WITHDRAWN


def test_freezing_the_new_admin_while_they_confirm_keeps_the_super_admin(world):
    # given
    w = world()
    # when HR freezes 新管理员 (a stolen account) just as they confirm, and the freeze is first
    frozen, confirmed = collide(freeze(w, w.new_admin), confirm(w), hold=FREEZE_LOCKED)
    # then the frozen account cannot become the super admin: 王总 stays it
    assert frozen.done, frozen
    assert refused_with(confirmed, REFUSED_AFTER_FREEZE_OF_NEW_ADMIN, "新管理员"), confirmed
    assert the_super_admin(w) == w.leaving
    assert handover_state(w) == HandoverState.WITHDRAWN


def test_freezing_the_new_admin_just_after_they_confirm_promotes_the_backup(world):
    # given
    w = world()
    # when the confirm has passed the role to 新管理员 (their row locked), and HR's freeze of
    # 新管理员 waits for it
    confirmed, frozen = collide(confirm(w), freeze(w, w.new_admin), hold=CONFIRM_PASSED)
    # then 新管理员 became the super admin and was frozen at once: the backup admin took over
    assert confirmed.done and frozen.done, (confirmed, frozen)
    assert the_super_admin(w) == w.backup
    _refresh(w.new_admin)
    assert (w.new_admin.role, w.new_admin.status) == (MemberRole.ADMIN, MemberStatus.FROZEN)
    assert AccountFreeze.objects.get(member=w.new_admin).promoted == w.backup
    assert handover_state(w) == HandoverState.DONE


# ---------------------------------------------------------------------------------------------
# 2. The new admin confirms while HR demotes the new admin, and another demotes the super admin


def test_both_demotions_before_the_confirm(world):
    # given 新管理员 is an admin
    w = world()
    # when the confirm has locked only the handover, and both demotions run meanwhile
    confirmed, demoted_new, demoted_old = collide(
        confirm(w), demote(w, w.new_admin), demote(w, w.leaving), hold=CONFIRM_STARTED
    )
    # then 新管理员 is demoted to member, 王总 is not (the only super admin), and the handover
    # still makes 新管理员 the super admin
    assert demoted_new.done, demoted_new
    assert demoted_old.refused == ONLY_SUPER_ADMIN.format(name="王总")
    assert confirmed.done, confirmed
    assert the_super_admin(w) == w.new_admin
    _refresh(w.leaving)
    assert (w.leaving.role, w.leaving.status) == (MemberRole.MEMBER, MemberStatus.ACTIVE)
    assert handover_state(w) == HandoverState.DONE


def test_both_demotions_after_the_confirm(world):
    # given
    w = world()
    # when the confirm has passed the role (both rows locked), and both demotions wait for it
    confirmed, demoted_new, demoted_old = collide(
        confirm(w), demote(w, w.new_admin), demote(w, w.leaving), hold=CONFIRM_PASSED
    )
    # then 新管理员, now the only super admin, is not demoted; 王总, a member now, stays one
    assert confirmed.done, confirmed
    assert demoted_new.refused == ONLY_SUPER_ADMIN.format(name="新管理员")
    assert demoted_old.done, demoted_old
    assert the_super_admin(w) == w.new_admin
    _refresh(w.leaving)
    assert (w.leaving.role, w.leaving.status) == (MemberRole.MEMBER, MemberStatus.ACTIVE)


def test_demoting_the_super_admin_first_is_refused_and_the_confirm_goes_through(world):
    # given
    w = world()
    # when HR's demotion of 王总 to admin holds 王总's row, and the confirm waits for it
    demoted_old, confirmed = collide(
        demote(w, w.leaving, MemberRole.ADMIN), confirm(w), hold=DEMOTE_LOCKED
    )
    # then 王总 could not be demoted while the only super admin; the handover went through
    assert demoted_old.refused == ONLY_SUPER_ADMIN.format(name="王总")
    assert confirmed.done, confirmed
    assert the_super_admin(w) == w.new_admin
    _refresh(w.leaving)
    assert w.leaving.role == MemberRole.MEMBER


def test_demoting_the_new_admin_first_then_the_confirm_then_the_old_super_admin(world):
    # given
    w = world()
    # when HR's demotion of 新管理员 holds their row: the confirm queues on it (holding 王总's
    # row), and the demotion of 王总 queues behind the confirm
    demoted_new, confirmed, demoted_old = collide(
        demote(w, w.new_admin), confirm(w), demote(w, w.leaving), hold=DEMOTE_LOCKED
    )
    # then all three go through, in that order
    assert demoted_new.done and confirmed.done and demoted_old.done, (
        demoted_new,
        confirmed,
        demoted_old,
    )
    assert the_super_admin(w) == w.new_admin
    _refresh(w.leaving)
    assert w.leaving.role == MemberRole.MEMBER


# ---------------------------------------------------------------------------------------------
# 3. Custody: the new admin accepts while HR freezes the custodian


def test_custody_an_accept_first_gives_the_custodian_their_role_back_then_the_freeze(world):
    # given 代管人 holds the role for 新管理员
    w = world(HandoverPolicy.CUSTODY)
    assert the_super_admin(w) == w.custodian
    # when 新管理员 accepts first, while HR freezes 代管人
    confirmed, frozen = collide(confirm(w), freeze(w, w.custodian), hold=CONFIRM_LOCKED)
    # then 新管理员 is the super admin; 代管人, an admin again, is frozen as an admin
    assert confirmed.done and frozen.done, (confirmed, frozen)
    assert the_super_admin(w) == w.new_admin
    _refresh(w.custodian, w.backup)
    assert (w.custodian.role, w.custodian.status) == (MemberRole.ADMIN, MemberStatus.FROZEN)
    assert AccountFreeze.objects.get(member=w.custodian).promoted is None
    assert w.backup.role == MemberRole.ADMIN and w.backup.is_backup_admin
    assert handover_state(w) == HandoverState.DONE


def test_custody_a_freeze_of_the_custodian_first_promotes_the_backup_and_the_accept_is_refused(
    world,
):
    # given
    w = world(HandoverPolicy.CUSTODY)
    # when HR freezes 代管人 first, while 新管理员 accepts
    frozen, confirmed = collide(freeze(w, w.custodian), confirm(w), hold=FREEZE_LOCKED)
    # then the backup admin took over from the frozen custodian, and the handover, which could
    # never complete now, was withdrawn; the accept is refused
    assert frozen.done, frozen
    assert refused_with(confirmed, REFUSED_AFTER_FREEZE_OF_HOLDER, "代管人"), confirmed
    assert the_super_admin(w) == w.backup
    _refresh(w.custodian, w.new_admin)
    assert (w.custodian.role, w.custodian.status) == (MemberRole.ADMIN, MemberStatus.FROZEN)
    assert w.new_admin.role == MemberRole.ADMIN
    assert handover_state(w) == HandoverState.WITHDRAWN


# ---------------------------------------------------------------------------------------------
# 4. Rounds: the scenarios above, and an unfreeze, let loose together in a random order


def _confirm_against_freeze(w: World):
    calls = {"confirm": confirm(w), "freeze": freeze(w, w.leaving)}

    def check(out):
        super_admin = the_super_admin(w)
        # exactly one wins: the first to lock 王总's row
        assert out["confirm"].done != out["freeze"].done, out
        if out["confirm"].done:
            assert super_admin == w.new_admin
            assert out["freeze"].refused == NO_ADMIN_ROLE.format(name="王总")
            assert handover_state(w) == HandoverState.DONE
        else:
            assert super_admin == w.backup
            assert refused_with(out["confirm"], REFUSED_AFTER_FREEZE_OF_HOLDER, "王总"), out
            assert handover_state(w) == HandoverState.WITHDRAWN

    return calls, check


def _confirm_against_freeze_of_new_admin(w: World):
    calls = {"confirm": confirm(w), "freeze": freeze(w, w.new_admin)}

    def check(out):
        super_admin = the_super_admin(w)
        # the freeze always goes through: before the confirm it stops it, after it the backup
        # admin takes over from the frozen new super admin
        assert out["freeze"].done, out
        if out["confirm"].done:
            assert super_admin == w.backup
            assert handover_state(w) == HandoverState.DONE
        else:
            assert super_admin == w.leaving
            assert refused_with(out["confirm"], REFUSED_AFTER_FREEZE_OF_NEW_ADMIN, "新管理员"), out
            assert handover_state(w) == HandoverState.WITHDRAWN

    return calls, check


def _confirm_against_demotions(w: World):
    calls = {
        "confirm": confirm(w),
        "demote_new": demote(w, w.new_admin),
        "demote_old": demote(w, w.leaving),
    }

    def check(out):
        # neither demotion can stop the handover; each is refused only while its member is the
        # super admin
        assert out["confirm"].done, out
        assert the_super_admin(w) == w.new_admin
        for name, who in (("demote_new", "新管理员"), ("demote_old", "王总")):
            assert out[name].done or out[name].refused == ONLY_SUPER_ADMIN.format(name=who), out
        _refresh(w.leaving)
        assert (w.leaving.role, w.leaving.status) == (MemberRole.MEMBER, MemberStatus.ACTIVE)
        assert handover_state(w) == HandoverState.DONE

    return calls, check


def _custody_accept_against_freeze(w: World):
    calls = {"confirm": confirm(w), "freeze": freeze(w, w.custodian)}

    def check(out):
        super_admin = the_super_admin(w)
        # the freeze always goes through: before the accept it promotes the backup admin, after
        # it freezes an admin
        assert out["freeze"].done, out
        freeze_record = AccountFreeze.objects.get(member=w.custodian)
        if out["confirm"].done:
            assert super_admin == w.new_admin and freeze_record.promoted is None
            assert handover_state(w) == HandoverState.DONE
        else:
            assert refused_with(out["confirm"], REFUSED_AFTER_FREEZE_OF_HOLDER, "代管人"), out
            assert super_admin == w.backup and freeze_record.promoted == w.backup
            assert handover_state(w) == HandoverState.WITHDRAWN

    return calls, check


def _unfreeze_against_freeze(w: World):
    """王总's account was frozen (the backup admin took over); the new super admin unfreezes it
    while HR freezes the new super admin in turn (a second backup admin takes over)."""
    first_freeze = handover.freeze_account(w.leaving, actor=w.hr, reason=REASON)
    second_backup = factories.MemberFactory(
        enterprise=w.enterprise, name="第二备用", role=MemberRole.ADMIN, is_backup_admin=True
    )
    calls = {
        "unfreeze": lambda: handover.unfreeze_account(first_freeze, actor=w.backup.user),
        "freeze": freeze(w, w.backup),
    }

    def check(out):
        assert the_super_admin(w) == second_backup
        assert out["freeze"].done, out
        _refresh(w.leaving)
        assert w.leaving.role == MemberRole.ADMIN
        if out["unfreeze"].done:
            assert w.leaving.status == MemberStatus.ACTIVE
        else:
            assert out["unfreeze"].refused == ONLY_THE_SUPER_ADMIN_UNFREEZES
            assert w.leaving.status == MemberStatus.FROZEN

    return calls, check


SCENARIOS = {
    "confirm/freeze": (HandoverPolicy.GRACE, _confirm_against_freeze),
    "confirm/freeze (immediate)": (HandoverPolicy.IMMEDIATE, _confirm_against_freeze),
    "confirm/freeze of the new admin": (HandoverPolicy.GRACE, _confirm_against_freeze_of_new_admin),
    "confirm/demotions": (HandoverPolicy.GRACE, _confirm_against_demotions),
    "custody accept/freeze": (HandoverPolicy.CUSTODY, _custody_accept_against_freeze),
    "unfreeze/freeze": (HandoverPolicy.GRACE, _unfreeze_against_freeze),
}
ROUNDS = 2  # each round runs every scenario once, in a random order


@pytest.mark.parametrize("seed", [20240611])
def test_random_rounds_of_doors_at_once_leave_one_super_admin(world, seed):
    rng = random.Random(seed)
    for round_number in range(ROUNDS):
        for scenario in rng.sample(sorted(SCENARIOS), len(SCENARIOS)):
            policy, build = SCENARIOS[scenario]
            # given an enterprise in the middle of a handover
            w = world(policy)
            calls, check = build(w)
            order = rng.sample(list(calls), len(calls))
            # when the doors are started together, in a random order
            context = f"round {round_number} (seed {seed}), {scenario}, order {order}"
            try:
                outcomes = all_at_once(**{name: calls[name] for name in order})
                # then one super admin, and outcomes that agree with each other and the rows
                check(outcomes)
            except AssertionError as failure:
                raise AssertionError(f"{context}: {failure}") from failure
