"""The staff home in a real browser (U-2, U-5): HR logs in, sees what waits for them and the
charts, and follows an item's link to the exit it is about. Under the enforced
Content-Security-Policy, like every browser test: the charts are inline SVG with no script and no
style attribute."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from offboarding import workflow
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path("/tmp/exitdesk-screenshots")


def shoot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_hr_sees_what_waits_and_the_charts_and_follows_a_link_to_the_exit(
    admin_login, live_server, enterprise, super_admin, hr_user, open_exit_for
):
    department = super_admin.department
    manager = factories.MemberFactory(enterprise=enterprise, department=department, name="李经理")
    member = factories.MemberFactory(
        enterprise=enterprise, department=department, manager=manager, name="张三"
    )
    # given an exit whose manager approved: HR's step waits for HR
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    workflow.approve(exit_case, actor=manager.user, comment="同意")
    handover = factories.MemberFactory(
        enterprise=enterprise, department=super_admin.department, name="赵六"
    )
    exit_case = workflow.submit(open_exit_for(handover), actor=handover.user)
    workflow.approve(exit_case, actor=hr_user, comment="同意")  # no manager: HR's two steps
    workflow.approve(exit_case, actor=hr_user, comment="同意")

    page = admin_login(hr_user.username, factories.PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/$"))

    waiting = page.locator("#waiting-for-me")
    expect(waiting).to_contain_text("1 exit waits for HR's approval.")
    expect(waiting).to_contain_text("1 exit in handover waits for HR's checklist sign-offs")
    chart = page.get_by_role("img", name=re.compile("Open exits by state"))
    expect(chart).to_be_visible()
    expect(chart).to_have_accessible_name(re.compile("Pending approval: 1; Handover: 1"))
    expect(page.locator("#exits-per-month svg")).to_be_visible()
    expect(page.locator("#app-list, .app-offboarding").first).to_be_visible()
    shoot(page, "dashboard-hr")

    # when HR follows the sign-off item, the list shows that exit and what it waits for
    waiting.get_by_role("link", name=re.compile("checklist sign-offs")).click()
    expect(page).to_have_url(re.compile(r"/admin/offboarding/exit/\?.*waiting=hr"))
    expect(page.locator("#result_list")).to_contain_text("Checklist and reviews: HR and IT")
    page.locator("#result_list").get_by_role("link", name=re.compile("赵六")).click()
    expect(page).to_have_url(re.compile(rf"/admin/offboarding/exit/{exit_case.pk}/change/"))
    expect(page.locator("#exit-state")).to_have_text("Handover")
