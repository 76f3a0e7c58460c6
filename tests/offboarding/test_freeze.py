"""The emergency freeze (管理员账号被盗 → 立即冻结账号并启用备用管理员, H-3): a stolen admin account
is frozen at once, the backup admin takes over as super admin in the same transaction, and the
new super admin can give the account back."""

import pytest
from django.urls import reverse

from directory.choices import MemberRole, MemberStatus, StaffRole
from directory.models import LoginSession, Member
from offboarding import handover
from offboarding.exceptions import ExitRefused
from offboarding.models import AccountFreeze
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def backup_admin(enterprise, super_admin):
    return factories.MemberFactory(
        enterprise=enterprise, name="备用管理员", role=MemberRole.ADMIN, is_backup_admin=True
    )


def _active_super_admins(enterprise):
    return list(Member.objects.filter(enterprise=enterprise).super_admins())


def test_freezing_the_super_admin_hands_the_role_to_the_backup_admin_at_once(
    client, enterprise, super_admin, backup_admin, hr_user
):
    # given the super admin is logged in somewhere
    client.force_login(super_admin.user)
    assert LoginSession.objects.filter(user=super_admin.user).exists()
    # when HR freezes the stolen account
    freeze = handover.freeze_account(super_admin, actor=hr_user, reason="账号被盗")
    # then the account is frozen, logged out everywhere, and the backup admin is the super admin
    super_admin.refresh_from_db()
    backup_admin.refresh_from_db()
    assert super_admin.status == MemberStatus.FROZEN
    assert super_admin.role == MemberRole.ADMIN
    assert not super_admin.user.is_active
    assert not LoginSession.objects.filter(user=super_admin.user).exists()
    assert backup_admin.is_active_super_admin and not backup_admin.is_backup_admin
    assert _active_super_admins(enterprise) == [backup_admin]
    assert freeze.promoted == backup_admin and freeze.frozen_by == hr_user
    # and the history names HR for both changes
    assert super_admin.history.latest("history_id").history_user == hr_user
    assert backup_admin.history.latest("history_id").history_user == hr_user


def test_freezing_another_admin_leaves_the_super_admin_in_place(
    enterprise, super_admin, backup_admin, hr_user
):
    admin = factories.MemberFactory(enterprise=enterprise, role=MemberRole.ADMIN)
    freeze = handover.freeze_account(admin, actor=hr_user, reason="异常登录")
    admin.refresh_from_db()
    assert admin.status == MemberStatus.FROZEN and freeze.promoted is None
    assert _active_super_admins(enterprise) == [super_admin]


def test_freezing_the_super_admin_without_a_backup_admin_is_refused(
    enterprise, super_admin, hr_user
):
    with pytest.raises(ExitRefused, match="no active backup admin"):
        handover.freeze_account(super_admin, actor=hr_user, reason="账号被盗")
    super_admin.refresh_from_db()
    assert super_admin.is_active_super_admin and super_admin.user.is_active
    assert not AccountFreeze.objects.exists()


@pytest.mark.parametrize("who", ["IT", "HR of another enterprise", "nobody"])
def test_only_hr_of_the_enterprise_freezes_an_account(
    enterprise, super_admin, backup_admin, it_user, who
):
    actor = {
        "IT": it_user,
        "HR of another enterprise": factories.StaffFactory(
            enterprise=factories.EnterpriseFactory(name="别家"), role=StaffRole.HR
        ),
        "nobody": None,
    }[who]
    with pytest.raises(ExitRefused, match="Only HR of the enterprise"):
        handover.freeze_account(super_admin, actor=actor, reason="账号被盗")
    super_admin.refresh_from_db()
    assert super_admin.status == MemberStatus.ACTIVE


def test_a_plain_member_or_a_frozen_account_is_not_frozen(
    enterprise, super_admin, backup_admin, hr_user
):
    plain = factories.MemberFactory(enterprise=enterprise)
    with pytest.raises(ExitRefused, match="holds no admin role"):
        handover.freeze_account(plain, actor=hr_user, reason="x")
    handover.freeze_account(super_admin, actor=hr_user, reason="账号被盗")
    with pytest.raises(ExitRefused, match="only an active account"):
        handover.freeze_account(super_admin, actor=hr_user, reason="again")
    with pytest.raises(ExitRefused, match="Say why"):
        handover.freeze_account(backup_admin, actor=hr_user, reason="  ")


def test_the_new_super_admin_unfreezes_the_account(enterprise, super_admin, backup_admin, hr_user):
    freeze = handover.freeze_account(super_admin, actor=hr_user, reason="账号被盗")
    # HR, who froze it, cannot give it back: the new super admin decides
    with pytest.raises(ExitRefused, match="super admin"):
        handover.unfreeze_account(freeze, actor=hr_user)
    handover.unfreeze_account(freeze, actor=backup_admin.user)
    super_admin.refresh_from_db()
    assert super_admin.status == MemberStatus.ACTIVE and super_admin.user.is_active
    assert super_admin.role == MemberRole.ADMIN  # the enterprise has its super admin already
    backup_admin.refresh_from_db()
    assert _active_super_admins(enterprise) == [backup_admin]
    freeze.refresh_from_db()
    assert freeze.unfrozen_by == backup_admin.user
    with pytest.raises(ExitRefused, match="unfrozen already"):
        handover.unfreeze_account(freeze, actor=backup_admin.user)


# --- in the admin ---------------------------------------------------------------------------


def test_hr_freezes_a_stolen_account_from_the_admin(
    hr_client, enterprise, super_admin, backup_admin
):
    add = reverse("admin:offboarding_accountfreeze_add")
    posted = {"member": super_admin.pk, "reason": "账号被盗，异地登录"}
    # the form's POST shows what the freeze will do, and changes nothing
    page = hr_client.post(add, posted)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Every session of it ends now" in text
    promoted = f"the backup admin, {backup_admin.name} ({backup_admin.employee_number}), becomes"
    assert promoted in text
    assert not AccountFreeze.objects.exists()
    super_admin.refresh_from_db()
    assert super_admin.is_active_super_admin
    # the confirmation's POST freezes
    response = hr_client.post(add, {**posted, "freeze_confirmed": "1"}, follow=True)
    assert response.status_code == 200
    freeze = AccountFreeze.objects.get(member=super_admin)
    assert response.redirect_chain[-1][0] == reverse(
        "admin:offboarding_accountfreeze_change", args=[freeze.pk]
    )
    assert "is the super admin now" in response.content.decode()
    super_admin.refresh_from_db()
    assert super_admin.status == MemberStatus.FROZEN
    assert _active_super_admins(enterprise) == [backup_admin]


def test_a_refused_freeze_is_shown_on_the_form_and_changes_nothing(
    hr_client, enterprise, super_admin
):
    response = hr_client.post(
        reverse("admin:offboarding_accountfreeze_add"),
        {"member": super_admin.pk, "reason": "账号被盗"},
    )
    assert response.status_code == 200
    assert "no active backup admin" in str(response.context["adminform"].form.errors)
    super_admin.refresh_from_db()
    assert super_admin.is_active_super_admin
    assert not AccountFreeze.objects.exists()


def test_a_superuser_unfreezes_from_the_record_and_hr_may_not(
    client, hr_client, enterprise, super_admin, backup_admin, hr_user
):
    freeze = handover.freeze_account(backup_admin, actor=hr_user, reason="异常登录")
    url = reverse("admin:offboarding_accountfreeze_unfreeze", args=[freeze.pk])
    assert hr_client.post(url).status_code == 403
    root = factories.UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    page = client.get(reverse("admin:offboarding_accountfreeze_change", args=[freeze.pk]))
    assert url in page.content.decode()
    assert client.post(url).status_code == 302
    backup_admin.refresh_from_db()
    assert backup_admin.status == MemberStatus.ACTIVE and backup_admin.user.is_active


def test_the_freeze_page_shows_each_fact_once_in_words(client, enterprise, hr_user):
    stolen = factories.MemberFactory(enterprise=enterprise, role=MemberRole.ADMIN, name="赵管理")
    freeze = handover.freeze_account(stolen, actor=hr_user, reason="账号被盗")
    client.force_login(hr_user)
    page = client.get(reverse("admin:offboarding_accountfreeze_change", args=[freeze.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    # the actor once (no editable "frozen by" beside the name), the prior state as fields
    assert html.count("Frozen by:") == 1
    assert 'name="frozen_by"' not in html
    assert "<dt>Role</dt><dd>Admin</dd>" in html
    assert "<dt>Could log in</dt><dd>Yes</dd>" in html
    assert "login_active" not in html
    assert "Reason for the freeze:" in html
