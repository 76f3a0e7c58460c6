"""The super-admin handover's pages (超级管理员移交, H-1, H-2, H-3) through Django's test
client: the leaving super admin names the new one, the new one enrols their authenticator and
confirms, the old one's emergency window (the emergency page only, until its deadline), and the
new super admin unfreezing a frozen account."""

from base64 import b32encode
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from directory.choices import HandoverPolicy, MemberRole, MemberStatus
from directory.models import Member
from offboarding import handover, tasks, workflow
from offboarding.choices import ExitKind, HandoverState
from offboarding.exceptions import ExitRefused
from offboarding.models import Exit, SuperAdminHandover
from tests import factories
from tests.offboarding.test_super_admin_handover import (
    AS_MEMBER,
    AS_SUPER_ADMIN,
    code_for,
    confirm,
    name,
    roles,
    set_policy,
    super_admins_of,
)

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
HOME = reverse("offboarding:home")
MY_EXIT = reverse("offboarding:my_exit")
SUPER_ADMIN_PAGE = reverse("offboarding:super_admin")
EMERGENCY = reverse("offboarding:emergency")
REPORT = reverse("offboarding:report_stolen")
EMERGENCY_BACKEND = "offboarding.backends.EmergencyWindowBackend"


def text(response) -> str:
    return response.content.decode()


def client_for(user, **kwargs) -> Client:
    client = Client()
    client.force_login(user, **kwargs)
    return client


def confirm_url(pending: SuperAdminHandover) -> str:
    return reverse("offboarding:confirm_handover", args=[pending.pk])


def withdraw_url(pending: SuperAdminHandover) -> str:
    return reverse("offboarding:withdraw_handover", args=[pending.pk])


def log_in(client: Client, member: Member):
    """Log in on the login page, as a person does."""
    return client.post(LOGIN, {"username": member.user.username, "password": factories.PASSWORD})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def new_admin(enterprise, super_admin):
    return factories.MemberFactory(enterprise=enterprise, name="李四")


@pytest.fixture
def backup_admin(enterprise, super_admin):
    return factories.MemberFactory(
        enterprise=enterprise, name="备用管理员", role=MemberRole.ADMIN, is_backup_admin=True
    )


@pytest.fixture
def leaving(super_admin, open_exit_for):
    """The super admin's own exit request (a draft)."""
    return open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)


@pytest.fixture
def handed_over_and_gone(
    super_admin, new_admin, exit_in_handover, ready_to_complete, hr_user
) -> SuperAdminHandover:
    """王总 handed the role over to 李四 under the enterprise's policy, and their exit completed:
    they are departed and their login is inactive."""
    exit_case = ready_to_complete(exit_in_handover(super_admin, kind=ExitKind.VOLUNTARY_ADMIN))
    done = confirm(name(super_admin, new_admin), new_admin)
    workflow.complete(exit_case, actor=hr_user)
    super_admin.user.refresh_from_db()
    assert not super_admin.user.is_active
    return SuperAdminHandover.objects.get(pk=done.pk)


# ---------------------------------------------------------------------------------------------
# Naming the new super admin


def test_the_super_admin_names_the_new_one_on_the_handover_page(
    enterprise, super_admin, new_admin, leaving
):
    client = client_for(super_admin.user)
    # given the handover page offers the form (no custodian with the grace policy)
    page = client.get(SUPER_ADMIN_PAGE)
    assert page.status_code == 200
    assert 'name="new_admin"' in text(page) and 'name="password"' in text(page)
    assert 'name="custodian"' not in text(page)
    # when the super admin names 李四 with a wrong password
    response = client.post(
        SUPER_ADMIN_PAGE, {"new_admin": new_admin.employee_number, "password": "wrong"}
    )
    # then the form shows the error beside the password, and nothing is written
    assert response.status_code == 200
    assert response.context["form"].errors["password"] == [
        "Your password was not right: re-enter it to confirm the handover."
    ]
    assert "Your password was not right" in text(response)
    assert not SuperAdminHandover.objects.exists()
    # when they name an employee number nobody has
    response = client.post(SUPER_ADMIN_PAGE, {"new_admin": "E-NOBODY", "password": "x"})
    assert "No member of 示例科技 has the employee number “E-NOBODY”." in text(response)
    # when they name 李四 with their password
    response = client.post(
        SUPER_ADMIN_PAGE,
        {"new_admin": new_admin.employee_number, "password": factories.PASSWORD},
        follow=True,
    )
    # then the page says who must confirm, and offers to withdraw
    assert response.redirect_chain == [(SUPER_ADMIN_PAGE, 302)]
    assert (
        "李四 is named as the new super admin. The role passes when they confirm with the code "
        "of their authenticator app." in text(response)
    )
    pending = SuperAdminHandover.objects.get()
    assert pending.state == HandoverState.AWAITING_CONFIRMATION
    assert pending.to_member == new_admin
    assert withdraw_url(pending) in text(response)
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]


def test_the_custody_policy_asks_for_a_custodian_on_the_page(
    enterprise, super_admin, new_admin, backup_admin, leaving
):
    set_policy(enterprise, HandoverPolicy.CUSTODY)
    client = client_for(super_admin.user)
    response = client.post(
        SUPER_ADMIN_PAGE,
        {
            "new_admin": new_admin.employee_number,
            "custodian": backup_admin.employee_number,
            "password": factories.PASSWORD,
        },
        follow=True,
    )
    assert (
        "备用管理员 holds the super admin role now, until 李四 accepts it with the code of their "
        "authenticator app." in text(response)
    )
    assert super_admins_of(enterprise) == [backup_admin]


def test_the_new_admin_enrols_their_authenticator_and_confirms(
    enterprise, super_admin, new_admin, leaving
):
    pending = name(super_admin, new_admin)
    client = client_for(new_admin.user)
    # given the handover page tells 李四 what waits for them
    page = client.get(SUPER_ADMIN_PAGE)
    assert "You are named as the new super admin" in text(page)
    assert confirm_url(pending) in text(page)
    # when they open the confirmation page, it asks for their password first: no key yet
    page = client.get(confirm_url(pending))
    assert page.status_code == 200
    device = handover.enrolment_device(new_admin.user)
    assert "Re-enter your password" in text(page)
    assert "<svg" not in text(page)
    assert b32encode(device.bin_key).decode() not in text(page)
    # once the password is accepted, it shows the QR code to enrol their authenticator, and its key
    response = client.post(confirm_url(pending), {"password": factories.PASSWORD})
    assert response.status_code == 302 and response.url == confirm_url(pending)
    page = client.get(confirm_url(pending))
    assert not device.confirmed
    assert "<svg" in text(page)
    assert b32encode(device.bin_key).decode() in text(page)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        # when they enter a wrong code, the form says so and nothing moves
        wrong = f"{(int(code_for(new_admin)) + 1) % 1_000_000:06d}"
        response = client.post(confirm_url(pending), {"token": wrong})
        assert response.status_code == 200
        assert "The code was not right, or was used already" in text(response)
        assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]
        # when, a few seconds later, they enter the code their app shows
        clock.shift(timedelta(seconds=3))
        response = client.post(confirm_url(pending), {"token": code_for(new_admin)}, follow=True)
    # then they are the super admin
    assert response.redirect_chain == [(SUPER_ADMIN_PAGE, 302)]
    assert "You are the super admin of 示例科技 now." in text(response)
    assert roles(super_admin, new_admin) == [AS_MEMBER, AS_SUPER_ADMIN]
    assert handover.enrolment_device(new_admin.user).confirmed
    # and the confirmation page is gone: nothing waits any more
    assert client.get(confirm_url(pending)).status_code == 404


def test_a_session_alone_never_sees_the_key_nor_confirms(
    enterprise, super_admin, new_admin, leaving
):
    # given someone holds 李四's session but not their password
    pending = name(super_admin, new_admin)
    client = client_for(new_admin.user)
    device = handover.enrolment_device(new_admin.user)
    # a wrong password is refused, and django-axes counts it like a failed login
    response = client.post(confirm_url(pending), {"password": "guess"})
    assert response.status_code == 200
    assert "Your password was not right: re-enter it to confirm the handover." in text(response)
    assert b32encode(device.bin_key).decode() not in text(response)
    assert AccessAttempt.objects.filter(username=new_admin.user.username).exists()
    # and the code alone, even the right one, is taken as a password attempt: nothing moves
    response = client.post(confirm_url(pending), {"token": code_for(new_admin)})
    assert response.status_code == 200
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]
    assert not handover.enrolment_device(new_admin.user).confirmed
    # nor does the door take the code without a proof of the password, or with a forged one
    for proof in (
        None,
        "forged",
        handover.prove_password(
            "confirm_handover",
            pending.pk + 1,
            actor=new_admin.user,
            password=factories.PASSWORD,
            request=None,
            wrong="",
        ),
    ):
        with pytest.raises(ExitRefused, match="Re-enter your password first"):
            handover.confirm_handover(
                pending, actor=new_admin.user, token=code_for(new_admin), password_proof=proof
            )
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]


def test_a_password_proof_expires_and_dies_with_a_password_change(
    enterprise, super_admin, new_admin, leaving
):
    pending = name(super_admin, new_admin)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        proof = handover.prove_password_to_confirm(
            pending, actor=new_admin.user, password=factories.PASSWORD
        )
        assert handover.password_proven(proof, "confirm_handover", pending.pk, actor=new_admin.user)
        clock.shift(timedelta(seconds=handover.PASSWORD_PROOF_MAX_AGE + 1))
        assert not handover.password_proven(
            proof, "confirm_handover", pending.pk, actor=new_admin.user
        )
    proof = handover.prove_password_to_confirm(
        pending, actor=new_admin.user, password=factories.PASSWORD
    )
    new_admin.user.set_password("another-password")
    new_admin.user.save()
    assert not handover.password_proven(proof, "confirm_handover", pending.pk, actor=new_admin.user)


def test_the_page_that_shows_the_key_is_never_cached(enterprise, super_admin, new_admin, leaving):
    pending = name(super_admin, new_admin)
    client = client_for(new_admin.user)
    client.post(confirm_url(pending), {"password": factories.PASSWORD})
    page = client.get(confirm_url(pending))
    assert b32encode(handover.enrolment_device(new_admin.user).bin_key).decode() in text(page)
    assert "no-store" in page["Cache-Control"]
    assert "no-store" in client.get(confirm_url(pending) + "?again")["Cache-Control"]


def test_other_users_get_404_for_someone_elses_confirm_or_withdraw_page(
    enterprise, super_admin, new_admin, leaving, hr_user
):
    pending = name(super_admin, new_admin)
    stranger = factories.MemberFactory(enterprise=enterprise, name="路人甲")
    for user in (stranger.user, hr_user):
        client = client_for(user)
        for url in (confirm_url(pending), withdraw_url(pending)):
            assert client.get(url).status_code == 404
            assert client.post(
                url, {"token": code_for(new_admin), "confirm": "on"}
            ).status_code == (404)
    # the leaving super admin cannot confirm in the new one's place, nor the new one withdraw
    assert client_for(super_admin.user).get(confirm_url(pending)).status_code == 404
    assert client_for(new_admin.user).get(withdraw_url(pending)).status_code == 404
    assert SuperAdminHandover.objects.get().state == HandoverState.AWAITING_CONFIRMATION
    assert roles(super_admin, new_admin) == [AS_SUPER_ADMIN, AS_MEMBER]


def test_the_leaving_super_admin_withdraws_on_the_page(super_admin, new_admin, leaving):
    pending = name(super_admin, new_admin)
    client = client_for(super_admin.user)
    page = client.get(withdraw_url(pending))
    assert page.status_code == 200
    assert "You named 李四 as the new super admin." in text(page)
    # without the tick, the page asks again
    response = client.post(withdraw_url(pending), {})
    assert "Tick the box to confirm that you want to withdraw it." in text(response)
    assert SuperAdminHandover.objects.get().state == HandoverState.AWAITING_CONFIRMATION
    # with it, the handover is withdrawn
    response = client.post(withdraw_url(pending), {"confirm": "on"}, follow=True)
    assert "The handover was withdrawn: you are still the super admin." in text(response)
    assert SuperAdminHandover.objects.get().state == HandoverState.WITHDRAWN


# ---------------------------------------------------------------------------------------------
# The emergency window (grace policy)


def test_the_old_admin_signs_in_during_the_window_and_reaches_only_the_emergency_page(
    client, handed_over_and_gone, super_admin, backup_admin
):
    # when 王总, departed and with an inactive login, signs in during the window
    response = log_in(client, super_admin)
    # then they are in, sent to the home page
    assert response.status_code == 302
    assert response.url == HOME
    assert logged_in(client)
    # but every page sends them to the emergency page, the admin too
    for url in (HOME, MY_EXIT, SUPER_ADMIN_PAGE, reverse("offboarding:approvals"), "/admin/"):
        response = client.get(url)
        assert (response.status_code, response.url) == (302, EMERGENCY), url
    # and anything else than a GET is refused
    exits_before = Exit.objects.count()
    for url in (MY_EXIT, SUPER_ADMIN_PAGE):
        response = client.post(url, {"last_working_day": "2030-01-31", "new_admin": "E1"})
        assert response.status_code == 403, url
        assert "Only the emergency page is open to you" in text(response)
    assert Exit.objects.count() == exits_before
    # and the emergency page shows the handover and the report form
    page = client.get(EMERGENCY)
    assert page.status_code == 200
    assert page.context["handover"] == handed_over_and_gone
    assert "李四" in text(page)
    assert handed_over_and_gone.to_member.employee_number in text(page)
    assert f'action="{REPORT}"' in text(page)


def test_the_old_admin_reports_the_new_account_stolen_from_the_emergency_page(
    enterprise, handed_over_and_gone, super_admin, new_admin, backup_admin
):
    client = client_for(super_admin.user, backend=EMERGENCY_BACKEND)
    new_admins_client = client_for(new_admin.user)
    # when the report is sent without the tick, nothing is frozen
    response = client.post(REPORT, {"reason": "新管理员账号异地登录"})
    assert response.status_code == 200
    assert "Tick the box to confirm the freeze." in text(response)
    assert roles(new_admin) == [AS_SUPER_ADMIN]
    # when it is sent with the tick
    response = client.post(REPORT, {"reason": "新管理员账号异地登录", "confirm": "on"}, follow=True)
    # then 李四 is frozen, and the backup admin is the super admin
    assert response.redirect_chain == [(EMERGENCY, 302)]
    assert "李四 is frozen and logged out everywhere; 备用管理员 is the super admin now." in text(
        response
    )
    assert "You reported it on" in text(response)
    new_admin.refresh_from_db()
    assert new_admin.status == MemberStatus.FROZEN and not new_admin.user.is_active
    assert super_admins_of(enterprise) == [backup_admin]
    # and 李四's own session is over
    response = new_admins_client.get(SUPER_ADMIN_PAGE)
    assert response.status_code == 302 and response.url.startswith(LOGIN)


def test_after_the_deadline_the_old_admin_is_logged_out_and_cannot_sign_in_again(
    client, handed_over_and_gone, super_admin
):
    # given 王总 signed in during the window
    log_in(client, super_admin)
    assert client.get(EMERGENCY).status_code == 200
    with time_machine.travel(handed_over_and_gone.grace_until + timedelta(minutes=1), tick=False):
        # when they come back after the deadline
        response = client.get(EMERGENCY)
        # then they are logged out and sent to the login page, told why
        assert response.status_code == 302
        assert response.url == f"{LOGIN}?next={EMERGENCY}"
        assert not logged_in(client)
        page = client.get(response.url)
        assert "Your emergency window has closed: you were logged out." in text(page)
        # and signing in again is refused: their login is inactive
        response = log_in(client, super_admin)
        assert response.status_code == 200
        assert [error.code for error in response.context["form"].non_field_errors().data] == [
            "invalid_login"
        ]
        assert not logged_in(client)


def test_the_expiry_job_ends_the_session_the_window_allowed(
    client, handed_over_and_gone, super_admin
):
    # given 王总 signed in during the window
    log_in(client, super_admin)
    session_key = client.session.session_key
    with time_machine.travel(handed_over_and_gone.grace_until + timedelta(minutes=1), tick=False):
        # when the expiry job runs after the deadline
        assert tasks.expire_grace_windows() == 1
        # then their session is gone: the next request is the login page's
        assert not Session.objects.filter(session_key=session_key).exists()
        response = client.get(EMERGENCY)
        assert response.status_code == 302 and response.url.startswith(LOGIN)
        assert not logged_in(client)


def test_with_the_immediate_policy_there_is_no_window(
    client, enterprise, super_admin, new_admin, exit_in_handover, ready_to_complete, hr_user
):
    set_policy(enterprise, HandoverPolicy.IMMEDIATE)
    exit_case = ready_to_complete(exit_in_handover(super_admin, kind=ExitKind.VOLUNTARY_ADMIN))
    confirm(name(super_admin, new_admin), new_admin)
    # the old super admin, still active until the exit completes, has no emergency page
    old_admins_client = client_for(super_admin.user)
    assert old_admins_client.get(EMERGENCY).status_code == 404
    assert old_admins_client.get(MY_EXIT).status_code == 200
    # once the exit completes, signing in is refused
    workflow.complete(exit_case, actor=hr_user)
    response = log_in(client, super_admin)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not logged_in(client)


# ---------------------------------------------------------------------------------------------
# The super admin unfreezes a frozen account


@pytest.fixture
def frozen_admin(enterprise, super_admin, hr_user):
    admin = factories.MemberFactory(enterprise=enterprise, name="钱管理员", role=MemberRole.ADMIN)
    freeze = handover.freeze_account(admin, actor=hr_user, reason="异常登录")
    return admin, freeze


def test_the_super_admin_unfreezes_a_frozen_account(super_admin, frozen_admin):
    admin, freeze = frozen_admin
    url = reverse("offboarding:unfreeze", args=[freeze.pk])
    client = client_for(super_admin.user)
    # given the handover page lists the frozen account
    assert url in text(client.get(SUPER_ADMIN_PAGE))
    # when the super admin opens the page, it asks
    page = client.get(url)
    assert page.status_code == 200
    assert "Unfreeze 钱管理员" in text(page) and "异常登录" in text(page)
    # when they send it without the tick, it asks again and nothing changes
    response = client.post(url, {})
    assert response.status_code == 200
    assert "Tick the box to confirm that you want to unfreeze it." in text(response)
    admin.refresh_from_db()
    assert admin.status == MemberStatus.FROZEN
    # when they tick it, the account is back
    response = client.post(url, {"confirm": "on"}, follow=True)
    assert response.redirect_chain == [(SUPER_ADMIN_PAGE, 302)]
    assert "钱管理员 is unfrozen." in text(response)
    admin.refresh_from_db()
    assert admin.status == MemberStatus.ACTIVE and admin.user.is_active
    assert admin.role == MemberRole.ADMIN
    freeze.refresh_from_db()
    assert freeze.unfrozen_by == super_admin.user


def test_another_member_cannot_open_the_unfreeze_page(enterprise, frozen_admin, hr_user):
    admin, freeze = frozen_admin
    url = reverse("offboarding:unfreeze", args=[freeze.pk])
    for user in (factories.MemberFactory(enterprise=enterprise).user, hr_user):
        client = client_for(user)
        assert client.get(url).status_code == 404
        assert client.post(url, {"confirm": "on"}).status_code == 404
    admin.refresh_from_db()
    assert admin.status == MemberStatus.FROZEN
