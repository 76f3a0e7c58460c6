"""The super-admin handover (超级管理员移交, H-1, H-2) at the service level: the leaving super admin
names the new one with their password, the new one confirms with their authenticator's code, and
the role passes under the enterprise's policy (grace: WeCom, immediate: DingTalk, custody: Feishu).
With the grace policy the old super admin keeps an emergency window, closed by the expiry job, in
which they can report the new account stolen (the emergency freeze, H-3)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_otp.oath import totp

from directory.choices import HandoverPolicy, MemberRole, MemberStatus
from directory.models import LoginSession, Member
from offboarding import handover, tasks, workflow
from offboarding.choices import ExitKind, ExitState, HandoverState
from offboarding.exceptions import ExitRefused
from offboarding.models import AccountFreeze, SuperAdminHandover
from tests import factories
from tests.conftest import refreshed

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------
# The people, and the steps every test takes


@pytest.fixture
def new_admin(enterprise, super_admin):
    """The member the leaving super admin names as the new super admin."""
    return factories.MemberFactory(enterprise=enterprise, name="李四")


@pytest.fixture
def backup_admin(enterprise, super_admin):
    return factories.MemberFactory(
        enterprise=enterprise, name="备用管理员", role=MemberRole.ADMIN, is_backup_admin=True
    )


@pytest.fixture
def leaving(super_admin, open_exit_for):
    """The super admin's own exit request (a draft): the handover goes with it."""
    return open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)


@pytest.fixture
def hand_over(open_exit_for):
    """A whole handover under the enterprise's policy: the exit opened, the new super admin named
    and confirmed with their code. Returns the handover."""

    def hand_over(leaving_admin: Member, new: Member) -> SuperAdminHandover:
        open_exit_for(leaving_admin, kind=ExitKind.VOLUNTARY_ADMIN)
        return confirm(name(leaving_admin, new), new)

    return hand_over


def set_policy(enterprise, policy: HandoverPolicy) -> None:
    enterprise.handover_policy = policy
    enterprise.save()


def code_for(member: Member) -> str:
    """The code `member`'s authenticator app shows now (for their enrolment device)."""
    device = handover.enrolment_device(member.user)
    code = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift
    )
    return f"{code:0{device.digits}d}"


def name(leaving_admin: Member, new: Member, **fields) -> SuperAdminHandover:
    """The leaving super admin names `new`, re-entering their password."""
    fields.setdefault("password", factories.PASSWORD)
    return handover.request_handover(
        leaving_admin, actor=leaving_admin.user, new_admin=new, **fields
    )


def password_proof(pending: SuperAdminHandover, new: Member) -> str:
    """The new super admin's first factor: their password, re-entered."""
    return handover.prove_password_to_confirm(pending, actor=new.user, password=factories.PASSWORD)


def confirm(pending: SuperAdminHandover, new: Member, token: str | None = None):
    """The new super admin confirms with both factors: their password, then their code."""
    token = code_for(new) if token is None else token
    return handover.confirm_handover(
        pending, actor=new.user, token=token, password_proof=password_proof(pending, new)
    )


def super_admins_of(enterprise) -> list[Member]:
    return list(Member.objects.filter(enterprise=enterprise).super_admins())


def roles(*members: Member) -> list[tuple[str, bool, str]]:
    """Each member's role, backup flag and status as the database has them now."""
    rows = {row.pk: row for row in Member.objects.filter(pk__in=[m.pk for m in members])}
    return [(rows[m.pk].role, rows[m.pk].is_backup_admin, rows[m.pk].status) for m in members]


def refreshed_handover(pending: SuperAdminHandover) -> SuperAdminHandover:
    return SuperAdminHandover.objects.get(pk=pending.pk)


def history_reasons(pending: SuperAdminHandover) -> list[str]:
    return list(
        SuperAdminHandover.history.filter(id=pending.pk)
        .order_by("history_id")
        .values_list("history_change_reason", flat=True)
    )


AS_SUPER_ADMIN = (MemberRole.SUPER_ADMIN, False, MemberStatus.ACTIVE)
AS_MEMBER = (MemberRole.MEMBER, False, MemberStatus.ACTIVE)


# ---------------------------------------------------------------------------------------------
# The two proofs: the leaving admin's password, the new admin's authenticator code


def test_naming_the_new_super_admin_needs_the_leaving_admins_password(
    super_admin, new_admin, leaving
):
    # when the super admin names their successor with a wrong password
    with pytest.raises(ExitRefused) as refused:
        name(super_admin, new_admin, password="not-my-password")
    # then it is refused on the password field, and nothing is written
    assert refused.value.field == "password"
    assert str(refused.value) == (
        "Your password was not right: re-enter it to confirm the handover."
    )
    assert not SuperAdminHandover.objects.exists()
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]


def test_naming_the_new_super_admin_waits_for_their_code(super_admin, new_admin, leaving):
    # when the super admin names their successor with their password
    pending = name(super_admin, new_admin)
    # then the handover waits for the new super admin; nobody's role has moved yet
    pending.refresh_from_db()
    assert pending.state == HandoverState.AWAITING_CONFIRMATION
    assert pending.exit_case == leaving
    assert (pending.from_member, pending.to_member) == (super_admin, new_admin)
    assert pending.requested_by == super_admin.user
    assert pending.policy == HandoverPolicy.GRACE
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]


def test_a_wrong_code_is_refused_and_changes_nothing(super_admin, new_admin, leaving):
    # given the new super admin is named
    pending = name(super_admin, new_admin)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        right = code_for(new_admin)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        # when they enter a wrong code
        with pytest.raises(ExitRefused) as refused:
            confirm(pending, new_admin, token=wrong)
        # then it is refused on the code's field, and nothing moved
        assert refused.value.field == "token"
        assert "The code was not right, or was used already" in str(refused.value)
        assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]
        assert refreshed_handover(pending).state == HandoverState.AWAITING_CONFIRMATION
        assert not handover.enrolment_device(new_admin.user).confirmed
        # and right after a wrong code even the right one waits a moment (django-otp's throttle)
        with pytest.raises(ExitRefused, match="Too many wrong codes"):
            confirm(pending, new_admin, token=right)
        assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]
        # when they try again a few seconds later with the code their app shows then
        clock.shift(timedelta(seconds=3))
        confirm(pending, new_admin)
    # then the role passes
    assert roles(super_admin, new_admin) == [AS_MEMBER, AS_SUPER_ADMIN]
    assert handover.enrolment_device(new_admin.user).confirmed


def test_a_replayed_code_is_refused(enterprise, super_admin, new_admin, open_exit_for):
    set_policy(enterprise, HandoverPolicy.IMMEDIATE)
    with time_machine.travel(timezone.now(), tick=False):
        # given 李四 became the super admin with the code their app shows now
        first_exit = open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
        code = code_for(new_admin)
        confirm(name(super_admin, new_admin), new_admin, token=code)
        # and the role came back to 王总 (both stayed after all), who hands it to 李四 again
        workflow.cancel(first_exit, actor=super_admin.user)
        back_exit = open_exit_for(new_admin, kind=ExitKind.VOLUNTARY_ADMIN)
        confirm(name(new_admin, super_admin), super_admin)
        workflow.cancel(back_exit, actor=new_admin.user)
        open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
        second = name(super_admin, new_admin)
        # when 李四 enters the same code again, in the same time step
        with pytest.raises(ExitRefused) as refused:
            confirm(second, new_admin, token=code)
    # then it is refused, and the second handover still waits
    assert refused.value.field == "token"
    assert "was used already" in str(refused.value)
    assert refreshed_handover(second).state == HandoverState.AWAITING_CONFIRMATION
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]


def test_only_the_named_member_confirms(super_admin, new_admin, leaving, enterprise):
    pending = name(super_admin, new_admin)
    someone = factories.MemberFactory(enterprise=enterprise)
    for actor in (someone, super_admin):
        with pytest.raises(ExitRefused, match="Only 李四 can confirm this handover."):
            confirm(pending, actor, token=code_for(actor))
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]


# ---------------------------------------------------------------------------------------------
# The three policies


def test_grace_policy_swaps_the_roles_and_opens_the_emergency_window(
    client, enterprise, super_admin, new_admin, leaving
):
    # given an emergency window of 3 days, and the leaving super admin logged in
    enterprise.handover_grace_period = timedelta(days=3)
    enterprise.save()
    client.force_login(super_admin.user)
    assert LoginSession.objects.filter(user=super_admin.user).exists()
    pending = name(super_admin, new_admin)
    with time_machine.travel(timezone.now(), tick=False):
        # when the new super admin confirms with their code
        confirm(pending, new_admin)
        # then the roles swapped in one go: one active super admin, the new one
        assert roles(super_admin, new_admin) == [AS_MEMBER, AS_SUPER_ADMIN]
        assert super_admins_of(enterprise) == [new_admin]
        # and the window runs for the enterprise's period from the confirmation
        done = refreshed_handover(pending)
        assert done.state == HandoverState.DONE
        assert done.confirmed_at == timezone.now()
        assert done.grace_until == timezone.now() + timedelta(days=3)
        assert done.grace_window_open
        assert handover.open_window_for(super_admin.user) == done
    # and the old super admin was logged out everywhere
    assert not LoginSession.objects.filter(user=super_admin.user).exists()
    # and the history names the new super admin for the swap
    super_admin.refresh_from_db()
    assert super_admin.history.latest("history_id").history_user == new_admin.user
    assert history_reasons(pending) == ["request", "confirm"]


def test_immediate_policy_swaps_at_once_with_no_window(
    client, enterprise, super_admin, new_admin, leaving
):
    set_policy(enterprise, HandoverPolicy.IMMEDIATE)
    pending = name(super_admin, new_admin)
    assert pending.state == HandoverState.AWAITING_CONFIRMATION
    confirm(pending, new_admin)
    done = refreshed_handover(pending)
    assert done.state == HandoverState.DONE and done.policy == HandoverPolicy.IMMEDIATE
    assert done.grace_until is None
    assert handover.open_window_for(super_admin.user) is None
    assert roles(super_admin, new_admin) == [AS_MEMBER, AS_SUPER_ADMIN]
    assert super_admins_of(enterprise) == [new_admin]


@pytest.mark.parametrize(
    ("custodian_role", "custodian_backup"),
    [(MemberRole.ADMIN, False), (MemberRole.MEMBER, True), (MemberRole.ADMIN, True)],
    ids=["admin", "backup admin", "admin and backup admin"],
)
def test_custody_policy_the_custodian_holds_the_role_until_the_new_admin_accepts(
    enterprise, super_admin, new_admin, leaving, custodian_role, custodian_backup
):
    # given the custody policy, and an admin (or the backup admin) as custodian
    set_policy(enterprise, HandoverPolicy.CUSTODY)
    custodian = factories.MemberFactory(
        enterprise=enterprise,
        name="赵管理员",
        role=custodian_role,
        is_backup_admin=custodian_backup,
    )
    # when the super admin names the new one and the custodian
    pending = name(super_admin, new_admin, custodian=custodian)
    # then the custodian holds the role at once, and the leaving super admin is a member
    assert refreshed_handover(pending).state == HandoverState.IN_CUSTODY
    assert roles(super_admin, custodian, new_admin) == [AS_MEMBER, AS_SUPER_ADMIN, AS_MEMBER]
    assert super_admins_of(enterprise) == [custodian]
    # when the new super admin accepts with their code
    confirm(pending, new_admin)
    # then the role passes from the custodian, who gets their role and backup flag back
    done = refreshed_handover(pending)
    assert done.state == HandoverState.DONE
    assert done.grace_until is None
    assert roles(super_admin, custodian, new_admin) == [
        AS_MEMBER,
        (custodian_role, custodian_backup, MemberStatus.ACTIVE),
        AS_SUPER_ADMIN,
    ]
    assert super_admins_of(enterprise) == [new_admin]


def test_in_custody_the_custodian_cannot_confirm_in_the_new_admins_place(
    enterprise, super_admin, new_admin, backup_admin, leaving
):
    set_policy(enterprise, HandoverPolicy.CUSTODY)
    pending = name(super_admin, new_admin, custodian=backup_admin)
    with pytest.raises(ExitRefused, match="Only 李四 can confirm"):
        confirm(pending, backup_admin)
    assert super_admins_of(enterprise) == [backup_admin]


# ---------------------------------------------------------------------------------------------
# Who may be named: the refusals of check_handover_request (and the door writes nothing)


def test_only_the_super_admin_themself_hands_the_role_over(
    enterprise, super_admin, new_admin, leaving, hr_user
):
    for actor in (new_admin.user, hr_user, None):
        with pytest.raises(ExitRefused, match="Only the super admin themselves"):
            handover.check_handover_request(super_admin, actor=actor, new_admin=new_admin)
    # and an admin who is not the super admin has no role to hand over
    admin = factories.MemberFactory(enterprise=enterprise, name="钱管理员", role=MemberRole.ADMIN)
    with pytest.raises(ExitRefused, match="钱管理员 is not the enterprise's active super admin"):
        handover.check_handover_request(admin, actor=admin.user, new_admin=new_admin)
    assert not SuperAdminHandover.objects.exists()


def test_the_super_admin_requests_their_exit_first(super_admin, new_admin, open_exit_for):
    # given no exit at all, then a cancelled one: neither is open
    for _attempt in range(2):
        with pytest.raises(ExitRefused, match="Request your exit first"):
            name(super_admin, new_admin)
        workflow.cancel(
            open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN), actor=super_admin.user
        )
    assert not SuperAdminHandover.objects.exists()
    assert roles(super_admin) == [AS_SUPER_ADMIN]


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("themself", "Name someone other than yourself."),
        ("someone leaving too", "李四 is leaving too: name someone who stays."),
        ("a departed member", "李四 is Departed: only an active member can take the role."),
        ("a frozen member", "李四 is Frozen: only an active member can take the role."),
        ("a member of another enterprise", "belongs to another enterprise."),
    ],
)
def test_the_new_super_admin_must_be_someone_who_stays(
    enterprise, super_admin, new_admin, leaving, open_exit_for, who, message
):
    candidate = new_admin
    if who == "themself":
        candidate = super_admin
    elif who == "someone leaving too":
        open_exit_for(new_admin)
    elif who == "a departed member":
        Member.objects.filter(pk=new_admin.pk).update(status=MemberStatus.DEPARTED)
    elif who == "a frozen member":
        Member.objects.filter(pk=new_admin.pk).update(status=MemberStatus.FROZEN)
    else:
        candidate = factories.MemberFactory(enterprise__name="别家公司", name="李四")
    # when the super admin names them
    with pytest.raises(ExitRefused) as refused:
        name(super_admin, candidate)
    # then it is refused on the new admin's field, and nothing is written
    assert refused.value.field == "new_admin"
    assert message in str(refused.value)
    assert not SuperAdminHandover.objects.exists()
    assert roles(super_admin) == [AS_SUPER_ADMIN]


@pytest.mark.parametrize(
    ("custodian", "message"),
    [
        ("missing", "Name the custodian who holds the role until the new super admin accepts."),
        ("a plain member", "周五 is neither an admin nor the backup admin"),
        ("the new super admin", "The custodian and the new super admin must be two different"),
        ("themself", "Name someone other than yourself."),
    ],
)
def test_custody_needs_an_admin_or_the_backup_admin_as_custodian(
    enterprise, super_admin, new_admin, leaving, custodian, message
):
    set_policy(enterprise, HandoverPolicy.CUSTODY)
    named = {
        "missing": None,
        "a plain member": factories.MemberFactory(enterprise=enterprise, name="周五"),
        "the new super admin": new_admin,
        "themself": super_admin,
    }[custodian]
    with pytest.raises(ExitRefused) as refused:
        name(super_admin, new_admin, custodian=named)
    assert refused.value.field == "custodian"
    assert message in str(refused.value)
    assert not SuperAdminHandover.objects.exists()
    assert super_admins_of(enterprise) == [super_admin]


def test_one_open_handover_per_enterprise(enterprise, super_admin, new_admin, leaving):
    # given a handover waiting for 李四
    name(super_admin, new_admin)
    other = factories.MemberFactory(enterprise=enterprise, name="孙七")
    # when the super admin names someone else too
    with pytest.raises(ExitRefused, match="being handed over already"):
        handover.check_handover_request(super_admin, actor=super_admin.user, new_admin=other)
    with pytest.raises(ExitRefused, match="being handed over already"):
        name(super_admin, other)
    # then the first handover is the only one
    assert list(SuperAdminHandover.objects.values_list("to_member", flat=True)) == [new_admin.pk]


# ---------------------------------------------------------------------------------------------
# The exit of the super admin waits for the handover


def test_the_super_admins_exit_completes_only_after_the_handover(
    super_admin, new_admin, exit_in_handover, ready_to_complete, hr_user
):
    # given the super admin's exit is approved and signed off, and 李四 is named
    exit_case = ready_to_complete(exit_in_handover(super_admin, kind=ExitKind.VOLUNTARY_ADMIN))
    pending = name(super_admin, new_admin)
    # when HR completes the exit before 李四 confirmed
    with pytest.raises(ExitRefused) as refused:
        workflow.complete(exit_case, actor=hr_user)
    # then it is refused, naming who must confirm
    assert str(refused.value) == (
        "王总 named 李四 as the new super admin: the exit can complete, or 王总 be removed, once "
        "李四 confirms with the code of their authenticator app."
    )
    assert refreshed(exit_case).state == ExitState.HANDOVER
    # when 李四 confirms, the exit completes
    confirm(pending, new_admin)
    workflow.complete(exit_case, actor=hr_user)
    assert refreshed(exit_case).state == ExitState.COMPLETED
    super_admin.refresh_from_db()
    assert super_admin.status == MemberStatus.DEPARTED
    assert not super_admin.user.is_active
    assert super_admins_of(super_admin.enterprise) == [new_admin]


# ---------------------------------------------------------------------------------------------
# Withdrawing a handover


@pytest.mark.parametrize("by", ["the leaving super admin", "HR"])
def test_a_waiting_handover_is_withdrawn_by_the_leaving_admin_or_hr(
    enterprise, super_admin, new_admin, leaving, hr_user, by
):
    actor = {"the leaving super admin": super_admin.user, "HR": hr_user}[by]
    pending = name(super_admin, new_admin)
    # when
    handover.withdraw_handover(pending, actor=actor)
    # then the handover is withdrawn and 李四 can no longer confirm it
    withdrawn = refreshed_handover(pending)
    assert withdrawn.state == HandoverState.WITHDRAWN
    assert withdrawn.withdrawn_by == actor
    assert withdrawn.withdrawn_at is not None
    with pytest.raises(ExitRefused, match="This handover was withdrawn."):
        confirm(pending, new_admin)
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]
    assert history_reasons(pending) == ["request", "withdraw"]
    # and the super admin can name someone else
    assert name(super_admin, factories.MemberFactory(enterprise=enterprise)).pk != pending.pk


def test_nobody_else_withdraws_a_handover(enterprise, super_admin, new_admin, leaving, it_user):
    pending = name(super_admin, new_admin)
    for actor in (new_admin.user, it_user, None):
        with pytest.raises(ExitRefused, match="Only the leaving super admin or HR"):
            handover.withdraw_handover(pending, actor=actor)
    assert refreshed_handover(pending).state == HandoverState.AWAITING_CONFIRMATION


@pytest.mark.parametrize("how", ["cancelled by the super admin", "rejected by HR"])
def test_ending_the_exit_withdraws_a_waiting_handover(
    super_admin, new_admin, leaving, hr_user, how
):
    # given 李四 is named, and the exit goes on to approval
    pending = name(super_admin, new_admin)
    exit_case = workflow.submit(leaving, actor=super_admin.user)
    # when the exit is cancelled, or rejected
    if how == "cancelled by the super admin":
        actor = super_admin.user
        workflow.cancel(exit_case, actor=actor)
    else:
        actor = hr_user
        workflow.reject(exit_case, actor=actor, reason="年底前不能离开")
    # then the handover is withdrawn by whoever ended the exit, and 王总 stays the super admin
    withdrawn = refreshed_handover(pending)
    assert withdrawn.state == HandoverState.WITHDRAWN
    assert withdrawn.withdrawn_by == actor
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]


def test_a_custody_handover_cannot_be_withdrawn(
    enterprise, super_admin, new_admin, backup_admin, leaving, hr_user
):
    set_policy(enterprise, HandoverPolicy.CUSTODY)
    pending = name(super_admin, new_admin, custodian=backup_admin)
    for actor in (super_admin.user, hr_user):
        with pytest.raises(ExitRefused) as refused:
            handover.withdraw_handover(pending, actor=actor)
        assert str(refused.value) == (
            "This handover can no longer be withdrawn (Held by the custodian)."
        )
    # cancelling the exit leaves it with the custodian too: the role moves only forward
    workflow.cancel(leaving, actor=super_admin.user)
    assert refreshed_handover(pending).state == HandoverState.IN_CUSTODY
    assert super_admins_of(enterprise) == [backup_admin]


def test_a_done_handover_cannot_be_withdrawn(super_admin, new_admin, hand_over):
    done = hand_over(super_admin, new_admin)
    with pytest.raises(ExitRefused, match=r"This handover can no longer be withdrawn \(Done\)"):
        handover.withdraw_handover(done, actor=super_admin.user)
    assert refreshed_handover(done).state == HandoverState.DONE


def test_freezing_the_custodian_withdraws_the_custody_handover(
    enterprise, super_admin, new_admin, leaving, hr_user
):
    # given a custody handover held by an admin, and a backup admin
    set_policy(enterprise, HandoverPolicy.CUSTODY)
    custodian = factories.MemberFactory(enterprise=enterprise, role=MemberRole.ADMIN)
    backup = factories.MemberFactory(
        enterprise=enterprise, role=MemberRole.ADMIN, is_backup_admin=True
    )
    pending = name(super_admin, new_admin, custodian=custodian)
    # when HR freezes the custodian's stolen account
    handover.freeze_account(custodian, actor=hr_user, reason="账号被盗")
    # then the backup admin holds the role, the handover is withdrawn (the new super admin could
    # never receive the role from the custodian), and another handover can start
    assert super_admins_of(enterprise) == [backup]
    assert refreshed_handover(pending).state == HandoverState.WITHDRAWN
    with pytest.raises(ExitRefused, match="This handover was withdrawn"):
        confirm(pending, new_admin)
    assert SuperAdminHandover.objects.filter(state__in=["awaiting_confirmation"]).count() == 0


def test_freezing_the_leaving_super_admin_withdraws_their_waiting_handover(
    enterprise, super_admin, new_admin, backup_admin, leaving, hr_user
):
    pending = name(super_admin, new_admin)
    handover.freeze_account(super_admin, actor=hr_user, reason="账号被盗")
    assert refreshed_handover(pending).state == HandoverState.WITHDRAWN
    assert super_admins_of(enterprise) == [backup_admin]


def test_a_new_super_admin_who_started_leaving_meanwhile_cannot_confirm(
    super_admin, new_admin, leaving, open_exit_for
):
    pending = name(super_admin, new_admin)
    open_exit_for(new_admin)
    with pytest.raises(ExitRefused, match="李四 is leaving too"):
        confirm(pending, new_admin)
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]


def test_cancelling_the_exit_after_the_swap_closes_the_emergency_window(
    super_admin, new_admin, hand_over
):
    # given a grace handover done, its window open
    done = hand_over(super_admin, new_admin)
    assert handover.open_window_for(super_admin.user) == done
    # when the old super admin stays after all (their exit is cancelled)
    workflow.cancel(done.exit_case, actor=super_admin.user)
    # then the window is closed: they are an ordinary member again; the role stays handed over
    assert handover.open_window_for(super_admin.user) is None
    assert refreshed_handover(done).grace_closed_at is not None
    assert roles(super_admin, new_admin) == [AS_MEMBER, AS_SUPER_ADMIN]


# ---------------------------------------------------------------------------------------------
# The emergency window closes at its deadline


def test_the_expiry_job_closes_the_windows_whose_deadline_passed(
    client, enterprise, super_admin, new_admin, hand_over
):
    # given 王总 handed over (a 7-day window) and logged in again during the window
    done = hand_over(super_admin, new_admin)
    client.force_login(super_admin.user)
    # and another enterprise's window, with 30 days, handed over at the same time
    elsewhere = factories.EnterpriseFactory(
        name="别家公司", handover_grace_period=timedelta(days=30)
    )
    other_done = hand_over(
        factories.SuperAdminFactory(enterprise=elsewhere),
        factories.MemberFactory(enterprise=elsewhere),
    )
    # when the job runs before the deadline, nothing closes
    with time_machine.travel(done.grace_until - timedelta(minutes=1), tick=False):
        assert tasks.expire_grace_windows() == 0
        assert handover.open_window_for(super_admin.user) == done
    assert LoginSession.objects.filter(user=super_admin.user).exists()
    # when it runs after the deadline
    with time_machine.travel(done.grace_until + timedelta(minutes=1), tick=False):
        assert handover.close_grace_windows() == 1
        closed_at = timezone.now()
        # then a second run does nothing more
        assert handover.close_grace_windows() == 0
    # then 王总's window is closed; still employed, they keep their session (only the sessions
    # the window allowed, after their exit completed, end); the other window is still open
    closed = refreshed_handover(done)
    assert closed.grace_closed_at == closed_at
    assert LoginSession.objects.filter(user=super_admin.user).exists()
    assert refreshed_handover(other_done).grace_closed_at is None
    with time_machine.travel(done.grace_until + timedelta(minutes=1), tick=False):
        assert handover.open_window_for(super_admin.user) is None
        assert refreshed_handover(other_done).grace_window_open
    assert history_reasons(done) == ["request", "confirm", "close_grace_window"]
    assert history_reasons(other_done) == ["request", "confirm"]


# ---------------------------------------------------------------------------------------------
# Reporting the new account stolen, from the emergency window


def test_reporting_the_new_account_stolen_freezes_it_and_promotes_the_backup_admin(
    enterprise, super_admin, new_admin, backup_admin, hand_over
):
    # given 王总 handed over to 李四 and holds the emergency window
    done = hand_over(super_admin, new_admin)
    # when 王总 reports 李四's account stolen
    freeze = handover.report_stolen(done, actor=super_admin.user, reason="新管理员账号异地登录")
    # then 李四 is frozen and logged out, and the backup admin is the super admin
    new_admin.refresh_from_db()
    assert new_admin.status == MemberStatus.FROZEN
    assert not new_admin.user.is_active
    assert super_admins_of(enterprise) == [backup_admin]
    assert freeze.member == new_admin and freeze.promoted == backup_admin
    assert freeze.frozen_by == super_admin.user and freeze.reason == "新管理员账号异地登录"
    assert refreshed_handover(done).stolen_report == freeze
    assert history_reasons(done) == ["request", "confirm", "report_stolen"]
    # and the old super admin stays a member: the role went to the backup admin
    assert roles(super_admin) == [AS_MEMBER]
    # when they report it again
    with pytest.raises(ExitRefused, match="You reported this account already"):
        handover.report_stolen(done, actor=super_admin.user, reason="再次举报")
    assert AccountFreeze.objects.count() == 1


def test_a_report_says_why(super_admin, new_admin, backup_admin, hand_over):
    done = hand_over(super_admin, new_admin)
    with pytest.raises(ExitRefused) as refused:
        handover.report_stolen(done, actor=super_admin.user, reason="   ")
    assert refused.value.field == "reason"
    assert str(refused.value) == "Say what makes you think the account is stolen."
    assert not AccountFreeze.objects.exists()
    assert roles(new_admin) == [AS_SUPER_ADMIN]


def test_a_report_outside_the_window_or_by_someone_else_is_refused(
    enterprise, super_admin, new_admin, backup_admin, hand_over, hr_user
):
    done = hand_over(super_admin, new_admin)
    # someone else than the old super admin, during the window
    for actor in (backup_admin.user, hr_user, new_admin.user):
        with pytest.raises(ExitRefused, match="Only the old super admin can report"):
            handover.report_stolen(done, actor=actor, reason="账号被盗")
    # the old super admin, after the deadline
    with time_machine.travel(done.grace_until + timedelta(seconds=1), tick=False):
        with pytest.raises(ExitRefused, match="during their emergency window"):
            handover.report_stolen(done, actor=super_admin.user, reason="账号被盗")
    assert not AccountFreeze.objects.exists()
    assert super_admins_of(enterprise) == [new_admin]


def test_an_immediate_handover_has_no_window_to_report_from(
    enterprise, super_admin, new_admin, backup_admin, hand_over
):
    set_policy(enterprise, HandoverPolicy.IMMEDIATE)
    done = hand_over(super_admin, new_admin)
    with pytest.raises(ExitRefused, match="during their emergency window"):
        handover.report_stolen(done, actor=super_admin.user, reason="账号被盗")
    assert not AccountFreeze.objects.exists()
