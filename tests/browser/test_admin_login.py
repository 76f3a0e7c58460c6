"""The HR admin path in a real browser (U-3): log in through the admin's own form, find the
directory, and never see another enterprise's people (D-1, S-2)."""

import re

import pytest
from playwright.sync_api import expect

from directory.permissions import grant_access
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
    outsider = factories.StaffUserFactory(username="outsider")
    grant_access(user=outsider, enterprise=other, role="hr")

    page = admin_login(outsider.username, factories.PASSWORD)
    expect(page.get_by_role("link", name="Members", exact=True)).to_be_visible()

    page.goto(f"{live_server.url}/admin/directory/member/")
    expect(page.get_by_role("link", name="李可见")).to_be_visible()
    expect(page.get_by_text("张秘密")).to_have_count(0)

    # Nor by guessing its address: the admin answers as if the row did not exist.
    page.goto(f"{live_server.url}/admin/directory/member/{hidden.pk}/change/")
    expect(page).not_to_have_url(re.compile(rf"/member/{hidden.pk}/change/"))
    expect(page.get_by_text("张秘密")).to_have_count(0)
