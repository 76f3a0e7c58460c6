"""The super-admin handover (超级管理员移交, H-1) in a real browser, under the enforced
Content-Security-Policy: the leaving super admin names the new one and re-enters their password;
the new one re-enters theirs, then scans the QR code (here: reads the key the page prints, as an
authenticator app would), enters the code, and is the super admin."""

import re
from base64 import b32decode
from datetime import timedelta

import pytest
from django.urls import reverse
from django_otp.oath import totp
from playwright.sync_api import expect

from directory.choices import HandoverPolicy, MemberRole
from directory.models import Enterprise, Member
from offboarding import services
from offboarding.choices import ExitKind, HandoverState
from offboarding.models import SuperAdminHandover
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def leaving_super_admin(enterprise):
    member = factories.SuperAdminFactory(
        enterprise=enterprise, name="王总", user=factories.UserFactory(username="wang.zong")
    )
    services.open_exit(
        member=member,
        kind=ExitKind.VOLUNTARY_ADMIN,
        last_working_day=services.local_today(enterprise) + timedelta(days=30),
        actor=member.user,
    )
    return member


@pytest.fixture
def backup_admin(enterprise, leaving_super_admin):
    return factories.MemberFactory(
        enterprise=enterprise,
        name="备用管理员",
        role=MemberRole.ADMIN,
        is_backup_admin=True,
        department=leaving_super_admin.department,
        user=factories.UserFactory(username="backup.admin"),
    )


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}{reverse('login')}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_the_super_admin_hands_the_role_over_and_the_new_one_confirms_with_a_code(
    new_context, live_server, enterprise, leaving_super_admin, backup_admin
):
    # given the leaving super admin on their handover page (a tile on the home page)
    leaving = new_context().new_page()
    log_in(leaving, live_server, "wang.zong")
    leaving.get_by_role("link", name=re.compile("Super admin handover")).click()
    expect(leaving.get_by_role("heading", name="Hand the super admin role over")).to_be_visible()

    # when they name the backup admin, the page warns first that no backup admin would be left
    leaving.get_by_label("Employee number of the new super admin").fill(
        backup_admin.employee_number
    )
    leaving.get_by_label("Your password").fill("not-my-password")
    leaving.get_by_role("button", name="Name the new super admin").click()
    expect(leaving.locator("#backup-successor-warning")).to_be_visible()
    expect(leaving.get_by_text("Tick the box to name them anyway.")).to_be_visible()
    assert not SuperAdminHandover.objects.exists()

    # ticked, with a wrong password, the form says so
    leaving.get_by_label(re.compile("I understand")).check()
    leaving.get_by_label("Your password").fill("not-my-password")
    leaving.get_by_role("button", name="Name the new super admin").click()
    expect(leaving.get_by_text("Your password was not right")).to_be_visible()
    assert not SuperAdminHandover.objects.exists()

    # and with the right one, the handover waits for the new super admin
    leaving.get_by_label("Employee number of the new super admin").fill(
        backup_admin.employee_number
    )
    leaving.get_by_label("Your password").fill(factories.PASSWORD)
    leaving.get_by_role("button", name="Name the new super admin").click()
    expect(leaving.get_by_text("is named as the new super admin")).to_be_visible()
    expect(leaving.get_by_role("cell", name="Waiting for the new super admin")).to_be_visible()

    # when the new super admin opens the request, they are warned too, and the page asks for
    # their password first: no key
    arriving = new_context().new_page()
    log_in(arriving, live_server, "backup.admin")
    arriving.goto(f"{live_server.url}{reverse('offboarding:super_admin')}")
    arriving.get_by_role("link", name="Confirm with my authenticator app").click()
    expect(arriving.locator("#backup-successor-warning")).to_be_visible()
    expect(arriving.get_by_role("heading", name="1. Re-enter your password")).to_be_visible()
    expect(arriving.locator(".qr svg")).to_have_count(0)
    arriving.get_by_label("Your password").fill("not-my-password")
    arriving.get_by_role("button", name="Continue").click()
    expect(arriving.get_by_text("Your password was not right")).to_be_visible()
    expect(arriving.locator(".qr svg")).to_have_count(0)

    # once the password is accepted, the page shows the enrolment QR code and key
    arriving.get_by_label("Your password").fill(factories.PASSWORD)
    arriving.get_by_role("button", name="Continue").click()
    expect(arriving.locator(".qr svg")).to_be_visible()
    key = arriving.locator("code").inner_text()

    # a wrong code is refused and changes nothing
    arriving.get_by_label("Code from your authenticator app").fill("000000")
    arriving.get_by_role("button", name="Confirm and become the super admin").click()
    expect(arriving.get_by_text("The code was not right")).to_be_visible()
    assert Member.objects.get(pk=leaving_super_admin.pk).is_active_super_admin

    # and, once the second django-otp makes them wait after a wrong code has passed, the code
    # their app shows makes them the super admin
    expect(arriving.get_by_text("Too many wrong codes")).not_to_be_visible()
    arriving.wait_for_timeout(1100)
    code = f"{totp(b32decode(key)):06d}"
    arriving.get_by_label("Code from your authenticator app").fill(code)
    arriving.get_by_role("button", name="Confirm and become the super admin").click()

    # then
    expect(
        arriving.get_by_text(f"You are the super admin of {enterprise.name} now.")
    ).to_be_visible()
    assert Member.objects.get(pk=backup_admin.pk).is_active_super_admin
    assert Member.objects.get(pk=leaving_super_admin.pk).role == MemberRole.MEMBER
    assert SuperAdminHandover.objects.get().state == HandoverState.DONE


def test_the_super_admin_designates_the_backup_admin_who_accepts_with_both_factors(
    new_context, live_server, enterprise, leaving_super_admin
):
    # given a member the super admin trusts
    chosen = factories.MemberFactory(
        enterprise=enterprise,
        name="新备用",
        department=leaving_super_admin.department,
        user=factories.UserFactory(username="new.backup"),
    )
    # when the super admin designates them on the backup admin page, with their password
    boss = new_context().new_page()
    log_in(boss, live_server, "wang.zong")
    boss.get_by_role("link", name=re.compile("Backup admin")).click()
    boss.get_by_label("Employee number of the backup admin").fill(chosen.employee_number)
    boss.get_by_label("Your password").fill(factories.PASSWORD)
    boss.get_by_role("button", name="Designate the backup admin").click()
    expect(boss.get_by_text("新备用 is designated as the backup admin.")).to_be_visible()
    assert not Member.objects.get(pk=chosen.pk).is_backup_admin

    # then the member accepts: their password first, and only then the key of their app
    member = new_context().new_page()
    log_in(member, live_server, "new.backup")
    member.get_by_role("link", name=re.compile("Backup admin")).click()
    member.get_by_role("link", name="Accept with my password and authenticator app").click()
    expect(member.locator(".qr svg")).to_have_count(0)
    member.get_by_label("Your password").fill(factories.PASSWORD)
    member.get_by_role("button", name="Continue").click()
    expect(member.locator(".qr svg")).to_be_visible()
    key = member.locator("code").inner_text()
    member.get_by_label("Code from your authenticator app").fill(f"{totp(b32decode(key)):06d}")
    member.get_by_role("button", name="Accept and become the backup admin").click()
    expect(
        member.get_by_text(f"You are the backup admin of {enterprise.name} now.")
    ).to_be_visible()
    assert Member.objects.get(pk=chosen.pk).is_backup_admin


# ---------------------------------------------------------------------------------------------
# The handover in each policy (H-2), through to what the old super admin finds afterwards


def name_the_new_super_admin(page, live_server, number, *, custodian=None, backup=False):
    page.goto(f"{live_server.url}{reverse('offboarding:super_admin')}")
    page.get_by_label("Employee number of the new super admin").fill(number)
    if custodian is not None:
        page.get_by_label("Employee number of the custodian").fill(custodian)
    if backup:  # the warning first, then the tick
        page.get_by_label("Your password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Name the new super admin").click()
        expect(page.locator("#backup-successor-warning")).to_be_visible()
        page.get_by_label(re.compile("I understand")).check()
    page.get_by_label("Your password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Name the new super admin").click()


def confirm_with_both_factors(page, live_server, enterprise):
    page.goto(f"{live_server.url}{reverse('offboarding:super_admin')}")
    page.get_by_role("link", name="Confirm with my authenticator app").click()
    page.get_by_label("Your password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Continue").click()
    key = page.locator("code").inner_text()
    page.get_by_label("Code from your authenticator app").fill(f"{totp(b32decode(key)):06d}")
    page.get_by_role("button", name="Confirm and become the super admin").click()
    expect(page.get_by_text(f"You are the super admin of {enterprise.name} now.")).to_be_visible()


@pytest.mark.parametrize(
    "policy", [HandoverPolicy.GRACE, HandoverPolicy.IMMEDIATE, HandoverPolicy.CUSTODY]
)
def test_the_handover_in_each_policy_leaves_no_dead_end(
    policy, new_context, live_server, enterprise, leaving_super_admin, backup_admin
):
    Enterprise.objects.filter(pk=enterprise.pk).update(handover_policy=policy)
    department = leaving_super_admin.department
    successor = (
        backup_admin  # the grace journey names the backup admin: the warned case
        if policy == HandoverPolicy.GRACE
        else factories.MemberFactory(
            enterprise=enterprise,
            name="李四",
            department=department,
            user=factories.UserFactory(username="li.si"),
        )
    )
    custodian = None
    if policy == HandoverPolicy.CUSTODY:
        custodian = factories.MemberFactory(
            enterprise=enterprise,
            name="赵管理员",
            role=MemberRole.ADMIN,
            department=department,
            user=factories.UserFactory(username="zhao.admin"),
        )

    # the leaving super admin names their successor (and, under custody, the custodian)
    leaving = new_context().new_page()
    log_in(leaving, live_server, "wang.zong")
    name_the_new_super_admin(
        leaving,
        live_server,
        successor.employee_number,
        custodian=custodian.employee_number if custodian else None,
        backup=successor.is_backup_admin,
    )
    expect(
        leaving.get_by_text("is named as the new super admin").or_(
            leaving.get_by_text("holds the super admin role now")
        )
    ).to_be_visible()
    if custodian is not None:
        assert Member.objects.get(pk=custodian.pk).is_active_super_admin

    # the successor confirms with both factors
    arriving = new_context().new_page()
    log_in(arriving, live_server, successor.user.username)
    confirm_with_both_factors(arriving, live_server, enterprise)
    assert Member.objects.get(pk=successor.pk).is_active_super_admin

    # the old super admin, still employed, keeps their pages: their exit, and (grace) the
    # emergency page, reached from home
    old = new_context().new_page()
    log_in(old, live_server, "wang.zong")
    old.get_by_role("link", name="My exit", exact=True).click()
    expect(old).to_have_url(f"{live_server.url}{reverse('offboarding:my_exit')}")
    old.goto(f"{live_server.url}/")
    tile = old.locator("#emergency-tile")
    if policy != HandoverPolicy.GRACE:
        expect(tile).to_have_count(0)
        return
    tile.click()
    expect(old).to_have_url(f"{live_server.url}{reverse('offboarding:emergency')}")
    expect(old.get_by_text("While you are still employed you keep your own pages")).to_be_visible()
    # the backup admin became the super admin: the page promises no promotion it cannot make
    expect(old.locator("#no-takeover")).to_be_visible()
    expect(old.get_by_role("button", name="Freeze the account")).to_have_count(0)
