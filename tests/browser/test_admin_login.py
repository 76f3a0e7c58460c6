"""The HR admin path in a real browser (U-3): log in through the admin's own form, find the
directory, and never see another enterprise's people (D-1, S-2)."""

import re

import pytest
from playwright.sync_api import expect

from directory.choices import StaffRole
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hr_user_logs_in_and_sees_members(admin_login, live_server, enterprise, hr_user):
    factories.MemberFactory(enterprise=enterprise, name="王小明", employee_number="E-HR-1")

    page = admin_login(hr_user.username, factories.PASSWORD)

    expect(page).to_have_url(re.compile(r"/admin/$"))
    members = page.get_by_role("link", name="Members", exact=True)
    expect(members).to_be_visible()

    members.click()
    expect(page).to_have_url(re.compile(r"/admin/directory/member/"))
    expect(page.get_by_role("link", name="王小明")).to_be_visible()


def test_wrong_password_is_refused(admin_login, hr_user):
    page = admin_login(hr_user.username, "not-the-password")

    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator(".errornote")).to_be_visible()


def test_staff_of_another_enterprise_cannot_see_its_members(admin_login, live_server, enterprise):
    hidden = factories.MemberFactory(enterprise=enterprise, name="张秘密", employee_number="E-A-1")

    other = factories.EnterpriseFactory(name="另一家公司")
    factories.MemberFactory(enterprise=other, name="李可见", employee_number="E-B-1")
    outsider = factories.StaffFactory(username="outsider", enterprise=other, role=StaffRole.HR)

    page = admin_login(outsider.username, factories.PASSWORD)
    expect(page.get_by_role("link", name="Members", exact=True)).to_be_visible()

    page.goto(f"{live_server.url}/admin/directory/member/")
    expect(page.get_by_role("link", name="李可见")).to_be_visible()
    expect(page.get_by_text("张秘密")).to_have_count(0)

    # Nor by guessing its address: the admin answers as if the row did not exist.
    page.goto(f"{live_server.url}/admin/directory/member/{hidden.pk}/change/")
    expect(page).not_to_have_url(re.compile(rf"/member/{hidden.pk}/change/"))
    expect(page.get_by_text("张秘密")).to_have_count(0)


def test_library_pages_run_under_the_content_security_policy(
    admin_login, live_server, enterprise, super_admin
):
    # given a superuser (every admin page is theirs), on pages whose templates come from libraries
    factories.UserFactory(username="root", is_staff=True, is_superuser=True)
    page = admin_login("root", factories.PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/$"))

    # the history list and a past version (django-simple-history)
    page.goto(f"{live_server.url}/admin/directory/member/{super_admin.pk}/history/")
    expect(page.locator("#change-history")).to_be_visible()
    version = super_admin.history.latest("history_id").history_id
    page.goto(f"{live_server.url}/admin/directory/member/{super_admin.pk}/history/{version}/")
    expect(page.get_by_text(super_admin.name).first).to_be_visible()

    # the periodic-task form (django-celery-beat), whose crontab help is a script of its own
    page.goto(f"{live_server.url}/admin/django_celery_beat/periodictask/add/")
    expect(page.locator("#id_name")).to_be_visible()
    # then no violation is reported (the `new_context` fixture fails the test on one)
