"""The backup admin (AB角, H-3) is the super admin's choice, never HR's: the super admin designates
them with their password, the member accepts with both factors (password, then the code of the
authenticator they enrol), and only then is the flag set — the previous backup admin losing it in
the same transaction. HR cannot set it anywhere."""

from base64 import b32encode

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from compliance.models import AuditEvent
from directory.choices import MemberRole, MemberStatus
from directory.models import Member
from offboarding import backup, handover, workflow
from offboarding.choices import BackupDesignationState, ExitKind
from offboarding.exceptions import ExitRefused
from offboarding.models import AccountFreeze, BackupAdminDesignation
from tests import factories
from tests.offboarding.test_super_admin_handover import code_for

pytestmark = pytest.mark.django_db

BACKUP_PAGE = reverse("offboarding:backup_admin")


@pytest.fixture
def old_backup(enterprise, super_admin):
    """The backup admin the enterprise has now (seeded in the data, as the demo does)."""
    return factories.MemberFactory(
        enterprise=enterprise, name="老备用", role=MemberRole.ADMIN, is_backup_admin=True
    )


@pytest.fixture
def chosen(enterprise, super_admin):
    return factories.MemberFactory(enterprise=enterprise, name="新备用")


def accept_url(designation) -> str:
    return reverse("offboarding:accept_backup_designation", args=[designation.pk])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def designate(super_admin, member, **fields):
    fields.setdefault("password", factories.PASSWORD)
    return backup.designate_backup_admin(
        super_admin, actor=super_admin.user, candidate=member, **fields
    )


def accept(designation, member, token=None):
    proof = backup.prove_password_to_accept(
        designation, actor=member.user, password=factories.PASSWORD
    )
    return backup.accept_designation(
        designation,
        actor=member.user,
        token=code_for(member) if token is None else token,
        password_proof=proof,
    )


def backups(enterprise) -> list[str]:
    return list(
        Member.objects.filter(enterprise=enterprise, is_backup_admin=True)
        .order_by("pk")
        .values_list("name", flat=True)
    )


def test_the_super_admin_designates_and_the_member_accepts_with_both_factors(
    enterprise, super_admin, old_backup, chosen
):
    # when the super admin designates 新备用 with their password
    designation = designate(super_admin, chosen)
    # then nothing changes until 新备用 accepts
    assert designation.state == BackupDesignationState.AWAITING_ACCEPTANCE
    assert backups(enterprise) == ["老备用"]
    event = AuditEvent.objects.get(action="backup_admin_designated")
    assert event.data["old_backup_ids"] == [old_backup.pk] == event.data["new_backup_ids"]
    assert event.data["designated_id"] == chosen.pk and event.actor_id == super_admin.user_id
    # when 新备用 accepts with their password and their authenticator's code
    accept(designation, chosen)
    # then they are the backup admin, and 老备用 no longer is, in one step
    assert backups(enterprise) == ["新备用"]
    designation.refresh_from_db()
    assert designation.state == BackupDesignationState.ACCEPTED
    assert designation.replaced == [old_backup.pk]
    assert handover.enrolment_device(chosen.user).confirmed
    event = AuditEvent.objects.get(action="backup_admin_designation_accepted")
    assert event.data["old_backup_ids"] == [old_backup.pk]
    assert event.data["new_backup_ids"] == [chosen.pk]
    # and both members' history names who changed the flag
    assert chosen.history.latest("history_id").is_backup_admin is True
    assert chosen.history.latest("history_id").history_user == chosen.user
    assert old_backup.history.latest("history_id").is_backup_admin is False
    # and a freeze of the super admin now promotes the member the super admin chose
    hr = factories.StaffFactory(enterprise=enterprise, role="hr")
    freeze = handover.freeze_account(super_admin, actor=hr, reason="账号被盗")
    assert freeze.promoted == chosen


def test_a_wrong_code_or_no_password_proof_changes_nothing(
    enterprise, super_admin, old_backup, chosen
):
    designation = designate(super_admin, chosen)
    wrong = f"{(int(code_for(chosen)) + 1) % 1_000_000:06d}"
    with pytest.raises(ExitRefused, match="The code was not right"):
        accept(designation, chosen, token=wrong)
    with pytest.raises(ExitRefused, match="Re-enter your password first"):
        backup.accept_designation(
            designation, actor=chosen.user, token=code_for(chosen), password_proof=None
        )
    assert backups(enterprise) == ["老备用"]
    assert BackupAdminDesignation.objects.get().state == BackupDesignationState.AWAITING_ACCEPTANCE


@pytest.mark.parametrize("who", ["hr", "another member", "the designated member"])
def test_only_the_super_admin_designates(enterprise, super_admin, chosen, who):
    hr = factories.StaffFactory(enterprise=enterprise, role="hr")
    actor = {
        "hr": hr,
        "another member": factories.MemberFactory(enterprise=enterprise).user,
        "the designated member": chosen.user,
    }[who]
    with pytest.raises(ExitRefused, match="Only the enterprise's super admin designates"):
        backup.designate_backup_admin(
            super_admin, actor=actor, candidate=chosen, password=factories.PASSWORD
        )
    assert not BackupAdminDesignation.objects.exists()


def test_a_wrong_password_is_refused_and_counted(rf, enterprise, super_admin, chosen):
    request = rf.post("/me/backup/")
    with pytest.raises(ExitRefused, match="Your password was not right"):
        designate(super_admin, chosen, password="guess", request=request)
    assert not BackupAdminDesignation.objects.exists()
    assert AccessAttempt.objects.filter(username=super_admin.user.username).exists()


@pytest.mark.parametrize(
    ("how", "why"),
    [
        ("frozen", "新备用 is Frozen: only an active member can take the role."),
        ("login cut", "新备用 cannot sign in (their login is deactivated)"),
        ("leaving", "新备用 is leaving too: name someone who stays."),
        ("another enterprise", "belongs to another enterprise"),
        ("the super admin", "Name someone other than yourself."),
        ("the backup already", "老备用 is the backup admin already."),
    ],
)
def test_only_a_handovers_candidate_can_be_designated(
    enterprise, super_admin, old_backup, chosen, open_exit_for, how, why
):
    candidate = chosen
    if how == "frozen":
        Member.objects.filter(pk=chosen.pk).update(status=MemberStatus.FROZEN)
    elif how == "login cut":
        chosen.user.is_active = False
        chosen.user.save()
    elif how == "leaving":
        open_exit_for(chosen)
    elif how == "another enterprise":
        candidate = factories.MemberFactory(name="别家")
    elif how == "the super admin":
        candidate = super_admin
    else:
        candidate = old_backup
    candidate = Member.objects.get(pk=candidate.pk)
    with pytest.raises(ExitRefused) as refused:
        designate(super_admin, candidate)
    assert why in str(refused.value)
    assert not BackupAdminDesignation.objects.exists()


def test_acceptance_is_refused_once_the_member_is_leaving(
    enterprise, super_admin, old_backup, chosen, hr_user, open_exit_for
):
    designation = designate(super_admin, chosen)
    workflow.remove(open_exit_for(chosen, kind=ExitKind.PASSIVE, actor=hr_user), actor=hr_user)
    with pytest.raises(ExitRefused):
        accept(designation, chosen)
    assert backups(enterprise) == ["老备用"]


def test_the_super_admin_withdraws_a_designation_and_the_standing_backup(
    enterprise, super_admin, old_backup, chosen
):
    designation = designate(super_admin, chosen)
    backup.withdraw_designation(designation, actor=super_admin.user)
    designation.refresh_from_db()
    assert designation.state == BackupDesignationState.WITHDRAWN
    with pytest.raises(ExitRefused, match="This designation was withdrawn."):
        accept(designation, chosen)
    # the standing backup admin's flag is taken back too
    backup.withdraw_backup_admin(old_backup, actor=super_admin.user)
    assert backups(enterprise) == []
    event = AuditEvent.objects.get(action="backup_admin_withdrawn")
    assert event.data == {"old_backup_ids": [old_backup.pk], "new_backup_ids": []}
    # and nobody else may
    hr = factories.StaffFactory(enterprise=enterprise, role="hr")
    again = designate(super_admin, chosen)
    with pytest.raises(ExitRefused, match="Only the enterprise's super admin"):
        backup.withdraw_designation(again, actor=hr)


def test_a_designation_by_a_super_admin_who_handed_the_role_over_cannot_be_accepted(
    enterprise, super_admin, chosen, open_exit_for
):
    from tests.offboarding.test_super_admin_handover import confirm, name

    designation = designate(super_admin, chosen)
    successor = factories.MemberFactory(enterprise=enterprise, name="接班人")
    open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    confirm(name(super_admin, successor), successor)
    with pytest.raises(ExitRefused, match="is no longer the super admin"):
        accept(designation, chosen)


# ---------------------------------------------------------------------------------------------
# The pages


def test_the_pages_designate_and_accept_with_the_key_shown_only_after_the_password(
    enterprise, super_admin, old_backup, chosen
):
    # the super admin designates by employee number, with their password
    page = client_for(super_admin.user)
    response = page.post(
        BACKUP_PAGE,
        {"member": chosen.employee_number, "password": factories.PASSWORD},
        follow=True,
    )
    assert "新备用 is designated as the backup admin." in response.content.decode()
    designation = BackupAdminDesignation.objects.get()
    # the member finds it on their home page and their backup page
    member = client_for(chosen.user)
    assert reverse("offboarding:backup_admin") in member.get("/").content.decode()
    assert accept_url(designation) in member.get(BACKUP_PAGE).content.decode()
    # the acceptance page asks for the password first: no key, never cached
    key = b32encode(handover.enrolment_device(chosen.user).bin_key).decode()
    response = member.get(accept_url(designation))
    assert key not in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    member.post(accept_url(designation), {"password": factories.PASSWORD})
    response = member.get(accept_url(designation))
    assert key in response.content.decode() and "no-store" in response["Cache-Control"]
    response = member.post(accept_url(designation), {"token": code_for(chosen)}, follow=True)
    assert "You are the backup admin of 示例科技 now." in response.content.decode()
    assert backups(enterprise) == ["新备用"]


def test_attackers_get_nothing_from_the_backup_pages(
    enterprise, super_admin, old_backup, chosen, hr_user
):
    designation = designate(super_admin, chosen)
    stranger = factories.MemberFactory(enterprise=enterprise, name="路人甲")
    outsider = factories.MemberFactory(name="别家员工")
    other_super_admin = factories.SuperAdminFactory(enterprise=outsider.enterprise)
    urls = [
        accept_url(designation),
        reverse("offboarding:withdraw_backup_designation", args=[designation.pk]),
        reverse("offboarding:withdraw_backup_admin", args=[old_backup.pk]),
    ]
    for user in (stranger.user, outsider.user, other_super_admin.user, hr_user, super_admin.user):
        client = client_for(user)
        for url in urls:
            if user == super_admin.user and "accept" not in url:
                continue  # the super admin's own withdrawals
            assert client.get(url).status_code == 404
            client.post(url, {"token": "123456", "password": factories.PASSWORD, "confirm": "on"})
    # a member who is not the super admin posting a designation is refused on the form
    response = client_for(stranger.user).post(
        BACKUP_PAGE, {"member": stranger.employee_number, "password": factories.PASSWORD}
    )
    assert "Only the enterprise&#x27;s super admin designates" in response.content.decode()
    # another enterprise's super admin cannot name a member of this one
    response = client_for(other_super_admin.user).post(
        BACKUP_PAGE, {"member": chosen.employee_number, "password": factories.PASSWORD}
    )
    assert "has the employee number" in response.content.decode()
    assert BackupAdminDesignation.objects.get().state == BackupDesignationState.AWAITING_ACCEPTANCE
    assert backups(enterprise) == ["老备用"]
    assert not AccountFreeze.objects.exists()


def test_hr_cannot_tick_the_backup_admin_flag_in_the_admin(
    enterprise, super_admin, chosen, hr_user
):
    client = client_for(hr_user)
    url = reverse("admin:directory_member_change", args=[chosen.pk])
    page = client.get(url).content.decode()
    assert 'name="is_backup_admin"' not in page
    assert "The super admin designates the backup admin" in page
    data = {
        "name": chosen.name,
        "employee_number": chosen.employee_number,
        "title": "",
        "department": chosen.department_id,
        "manager": "",
        "data_region": chosen.data_region,
        "is_backup_admin": "on",
    }
    client.post(url, data)
    assert not Member.objects.get(pk=chosen.pk).is_backup_admin
    # nor on the add page
    add = client.get(reverse("admin:directory_member_add")).content.decode()
    assert 'name="is_backup_admin"' not in add
