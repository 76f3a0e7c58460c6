"""No 权限真空期, by construction (H-3): an enterprise always has a super admin who can sign in.

- A super admin cannot be removed (「通讯录」-「删除成员」, which cuts the login at once) before
  the super-admin handover is done, whatever kind of exit is open: the pre-review says so, and the
  HR system's sync stops at the same place, recording why.
- A promotion (the emergency freeze, the report of a stolen account from the emergency page, a
  custodian) only reaches someone who could be a handover's candidate: active, login alive, not
  leaving, not frozen; otherwise it is refused with a sentence saying why, and nothing moves.
"""

import pytest
from django.urls import reverse

from compliance.models import AuditEvent
from directory.choices import HandoverPolicy, MemberRole, MemberStatus
from directory.models import Member
from offboarding import handover, hr_sync, prereview, workflow
from offboarding.choices import ExitKind, ExitState, TerminationSource
from offboarding.exceptions import ExitRefused
from offboarding.models import AccountFreeze, HRTermination, SuperAdminHandover
from tests import factories
from tests.offboarding.test_super_admin_handover import confirm, name, set_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_admin(enterprise, super_admin):
    return factories.MemberFactory(enterprise=enterprise, name="李四")


@pytest.fixture
def backup_admin(enterprise, super_admin):
    return factories.MemberFactory(
        enterprise=enterprise, name="备用管理员", role=MemberRole.ADMIN, is_backup_admin=True
    )


def the_super_admins(enterprise) -> list[Member]:
    return list(Member.objects.filter(enterprise=enterprise).super_admins())


def login_works(member: Member) -> bool:
    return Member.objects.select_related("user").get(pk=member.pk).user.is_active


# ---------------------------------------------------------------------------------------------
# Removal


@pytest.mark.parametrize("kind", [ExitKind.PASSIVE, ExitKind.HR_SYNC])
def test_removing_the_super_admin_before_the_handover_is_refused(
    enterprise, super_admin, hr_user, open_exit_for, kind
):
    # given an exit of the super admin that HR may remove
    exit_case = open_exit_for(super_admin, kind=kind, actor=hr_user if kind == "passive" else None)
    assert super_admin.user.is_active
    # when HR removes them before any handover
    with pytest.raises(ExitRefused) as refused:
        workflow.remove(exit_case, actor=hr_user)
    # then it is refused with the pre-review's sentence, and the login still works
    assert "王总 is the super admin: a new super admin must be named and confirmed" in str(
        refused.value
    )
    assert "before this exit can complete or 王总 can be removed" in str(refused.value)
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.DRAFT
    assert login_works(super_admin)
    assert the_super_admins(enterprise) == [super_admin]


@pytest.mark.parametrize("kind", list(ExitKind))
def test_the_prereview_of_every_kind_of_exit_of_the_super_admin_stops_removal_and_completion(
    super_admin, hr_user, open_exit_for, kind
):
    actor = {ExitKind.PASSIVE: hr_user, ExitKind.HR_SYNC: None}.get(kind, super_admin.user)
    exit_case = open_exit_for(super_admin, kind=kind, actor=actor)
    (blocker,) = [b for b in prereview.prereview(exit_case) if b.code == "super_admin"]
    assert blocker.blocks == {prereview.REMOVE, prereview.COMPLETE}
    assert blocker in prereview.blockers_for(exit_case, prereview.REMOVE)


def test_once_the_handover_is_done_the_old_super_admin_can_be_removed(
    enterprise, super_admin, new_admin, hr_user, open_exit_for
):
    # given a removal waiting for the handover, which the super admin then does
    exit_case = open_exit_for(super_admin, kind=ExitKind.PASSIVE, actor=hr_user)
    set_policy(enterprise, HandoverPolicy.IMMEDIATE)
    confirm(name(super_admin, new_admin), new_admin)
    # when HR removes them now
    workflow.remove(exit_case, actor=hr_user)
    # then the login of the old one is cut, and the new one's works
    assert not login_works(super_admin)
    assert the_super_admins(enterprise) == [new_admin] and login_works(new_admin)


def test_the_removal_page_of_the_admin_shows_the_handover_as_what_stops_it(
    client, super_admin, hr_user, open_exit_for
):
    exit_case = open_exit_for(super_admin, kind=ExitKind.PASSIVE, actor=hr_user)
    client.force_login(hr_user)
    url = reverse("admin:offboarding_exit_transition", args=[exit_case.pk, "remove"])
    page = client.get(url).content.decode()
    assert "a new super admin must be named and confirmed" in page
    client.post(url, {})
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.DRAFT and login_works(super_admin)


def test_the_hr_sync_of_a_super_admin_stops_where_the_handover_is_needed(
    client, enterprise, super_admin, hr_user
):
    # given the HR system sends the super admin's termination
    hr_sync.receive(
        enterprise,
        [
            {
                "employee_number": super_admin.employee_number,
                "last_working_day": "2030-01-31",
                "reason": "合同到期",
                "external_id": "HR-9",
            }
        ],
        source=TerminationSource.API,
    )
    # when the job syncs it
    assert hr_sync.sync_pending() == {"synced": 1, "failed": 0}
    # then the exit is opened as a draft only: the login still works
    termination = HRTermination.objects.select_related("exit_case").get()
    assert termination.exit_case.state == ExitState.DRAFT
    assert login_works(super_admin)
    # and the synced event records that its removal waits for the handover
    event = AuditEvent.objects.get(action="hr_termination_synced")
    assert event.data["removal_waits_for"] == ["super_admin"]
    # and the termination's page says why HR cannot remove them yet
    client.force_login(hr_user)
    page = client.get(
        reverse("admin:offboarding_hrtermination_change", args=[termination.pk])
    ).content.decode()
    assert "removal waits for" in page.lower()
    assert "a new super admin must be named and confirmed" in page
    # and HR's removal is refused: the super admin keeps a working login
    with pytest.raises(ExitRefused):
        workflow.remove(termination.exit_case, actor=hr_user)
    assert login_works(super_admin) and the_super_admins(enterprise) == [super_admin]


# ---------------------------------------------------------------------------------------------
# Promotion


def test_a_freeze_does_not_promote_a_backup_admin_whose_login_is_cut(
    enterprise, super_admin, backup_admin, hr_user, open_exit_for
):
    # given the backup admin was removed (passively): their login is cut, they are leaving
    workflow.remove(
        open_exit_for(backup_admin, kind=ExitKind.PASSIVE, actor=hr_user), actor=hr_user
    )
    # when HR freezes the super admin's account
    with pytest.raises(ExitRefused) as refused:
        handover.freeze_account(super_admin, actor=hr_user, reason="账号被盗")
    # then it is refused, saying why, and nothing moved
    assert "备用管理员 cannot sign in (their login is deactivated)" in str(refused.value)
    assert "The backup admin cannot take over from 王总" in str(refused.value)
    assert the_super_admins(enterprise) == [super_admin] and login_works(super_admin)
    assert not AccountFreeze.objects.exists()


def test_a_freeze_does_not_promote_a_backup_admin_who_is_leaving(
    enterprise, super_admin, backup_admin, hr_user, open_exit_for
):
    open_exit_for(backup_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    with pytest.raises(ExitRefused, match="备用管理员 is leaving too"):
        handover.freeze_account(super_admin, actor=hr_user, reason="账号被盗")
    assert the_super_admins(enterprise) == [super_admin]


def test_a_report_from_the_emergency_page_does_not_promote_a_backup_who_cannot_sign_in(
    enterprise, super_admin, new_admin, backup_admin, hr_user, open_exit_for
):
    # given the handover is done and the old super admin holds the emergency window
    open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    done = confirm(name(super_admin, new_admin), new_admin)
    assert done.grace_window_open
    # and the backup admin's login was cut by a removal
    workflow.remove(
        open_exit_for(backup_admin, kind=ExitKind.PASSIVE, actor=hr_user), actor=hr_user
    )
    # when the old super admin reports the new account stolen
    with pytest.raises(ExitRefused, match="cannot sign in"):
        handover.report_stolen(done, actor=super_admin.user, reason="新账号异常")
    # then the new super admin stays: the enterprise keeps one who can sign in
    assert the_super_admins(enterprise) == [new_admin] and login_works(new_admin)
    assert SuperAdminHandover.objects.get().stolen_report is None


def test_a_custodian_whose_login_is_cut_is_refused(
    enterprise, super_admin, new_admin, hr_user, open_exit_for
):
    set_policy(enterprise, HandoverPolicy.CUSTODY)
    open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    custodian = factories.MemberFactory(enterprise=enterprise, name="赵管理", role=MemberRole.ADMIN)
    custodian.user.is_active = False
    custodian.user.save()
    with pytest.raises(ExitRefused, match="赵管理 cannot sign in"):
        name(super_admin, new_admin, custodian=custodian)
    assert the_super_admins(enterprise) == [super_admin]
    assert not SuperAdminHandover.objects.exists()


def test_a_new_super_admin_whose_login_is_cut_cannot_confirm(
    enterprise, super_admin, new_admin, open_exit_for
):
    open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    pending = name(super_admin, new_admin)
    new_admin.user.is_active = False
    new_admin.user.save()
    with pytest.raises(ExitRefused, match="李四 cannot sign in"):
        confirm(pending, new_admin)
    assert the_super_admins(enterprise) == [super_admin]
    assert Member.objects.get(pk=super_admin.pk).status == MemberStatus.ACTIVE


def test_a_member_whose_invitation_is_still_open_can_be_neither_custodian_nor_new_super_admin(
    enterprise, super_admin, new_admin, open_exit_for
):
    # given a custody enterprise and an admin just imported, who has not set a password yet
    set_policy(enterprise, HandoverPolicy.CUSTODY)
    open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    invited = factories.MemberFactory(enterprise=enterprise, name="钱新", role=MemberRole.ADMIN)
    invited.user.set_unusable_password()
    invited.user.save()
    # when the super admin names them custodian, or new super admin
    with pytest.raises(ExitRefused, match="钱新 has not set a password yet"):
        name(super_admin, new_admin, custodian=invited)
    with pytest.raises(ExitRefused, match="钱新 has not set a password yet"):
        name(super_admin, invited)
    # then nothing moved: the role stays with someone who can sign in
    assert the_super_admins(enterprise) == [super_admin]
    assert not SuperAdminHandover.objects.exists()
