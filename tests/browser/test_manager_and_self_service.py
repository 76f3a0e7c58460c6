"""The self-service request and the manager's approval form in a real browser (U-3, X-3, X-9).

An employee logs in through the login page, requests their exit and sees it waiting for approval;
their manager logs in, opens the inbox and the exit, comments and approves; HR decides the second
step of the default chain and the exit moves on to the handover. Each page is saved as a
screenshot under /tmp/exitdesk-pages/ for a person to look at.
"""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from directory.services import member_username
from offboarding import services, workflow
from offboarding.choices import Decision, ExitKind, ExitState
from offboarding.models import Exit
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path("/tmp/exitdesk-pages")


@pytest.fixture
def manager(enterprise):
    user = factories.UserFactory(username=member_username(enterprise, "li.manager"))
    return factories.MemberFactory(
        enterprise=enterprise, user=user, name="李经理", title="销售总监"
    )


@pytest.fixture
def employee(enterprise, manager):
    user = factories.UserFactory(username=member_username(enterprise, "zhang.san"))
    return factories.MemberFactory(
        enterprise=enterprise,
        user=user,
        name="张三",
        title="客户经理",
        manager=manager,
        department=manager.department,
    )


@pytest.fixture
def login(live_server):
    """Log in through the site's own login form in `page`: `login(page, username)`, or with the
    enterprise code typed in its own field: `login(page, "zhang.san", code="acme")`."""

    def log_in(page, username: str, password: str = factories.PASSWORD, *, code: str = ""):
        page.goto(f"{live_server.url}{reverse('login')}")
        page.get_by_label("Username").fill(username)
        if code:
            page.get_by_label("Enterprise code").fill(code)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{live_server.url}/")
        return page

    return log_in


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def test_employee_requests_exit_and_manager_then_hr_approve_it(
    page, new_context, login, live_server, employee, manager, hr_user
):
    # given: the employee on the login page
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    shot(page, "01-login")

    # when: they log in and request their exit on the self-service page
    login(page, "zhang.san", code=employee.enterprise.code)
    expect(page.get_by_role("heading", name="Hello, 张三")).to_be_visible()
    shot(page, "02-employee-home")
    page.get_by_role("navigation").get_by_role("link", name="My exit").click()
    expect(page.get_by_role("heading", name=re.compile("Request to leave"))).to_be_visible()
    page.get_by_label("Reason").fill("回老家发展，感谢大家的照顾。")
    shot(page, "03-self-service-form")
    page.get_by_role("button", name="Request my exit").click()

    # then: the request waits for the manager's approval
    expect(page.get_by_text("Your exit request was sent for approval.")).to_be_visible()
    expect(page.locator(".badge.pending_approval").first).to_have_text("Pending approval")
    expect(page.get_by_role("cell", name="李经理")).to_be_visible()
    shot(page, "04-self-service-pending")
    exit_case = Exit.objects.get(member=employee)
    assert (exit_case.state, exit_case.kind) == (ExitState.PENDING_APPROVAL, ExitKind.VOLUNTARY)

    # and logging out leads back to the login page
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))

    # when: the manager logs in, opens the inbox and the exit, comments and approves
    manager_page = new_context().new_page()
    login(manager_page, manager.user.username)
    inbox_link = manager_page.get_by_role(
        "link", name=re.compile(r"Approvals waiting for me \(1\)")
    )
    expect(inbox_link).to_be_visible()
    shot(manager_page, "05-manager-home")
    inbox_link.click()
    row = manager_page.get_by_role("row", name=re.compile("张三"))
    expect(row).to_contain_text("Direct manager")
    shot(manager_page, "06-manager-inbox")
    row.get_by_role("link", name="张三").click()
    expect(manager_page.get_by_role("heading", name="Exit of 张三")).to_be_visible()
    expect(manager_page.get_by_text("回老家发展")).to_be_visible()
    manager_page.get_by_label("Comment").fill("同意，请在最后工作日前交接客户。")
    shot(manager_page, "07-manager-approval-page")
    manager_page.get_by_role("button", name="Approve").click()

    # then: the manager's step is approved and the next step (HR) decides
    expect(manager_page.get_by_text("You approved the exit of 张三.")).to_be_visible()
    expect(manager_page.get_by_text("Nothing is waiting for your decision.")).to_be_visible()
    shot(manager_page, "08-manager-after-approval")
    step = exit_case.approvals.get(position=1)
    assert (step.decision, step.comment) == (Decision.APPROVED, "同意，请在最后工作日前交接客户。")

    # when: HR approves the second step
    hr_page = new_context().new_page()
    login(hr_page, hr_user.username)
    hr_page.get_by_role("link", name=re.compile(r"Approvals waiting for me \(1\)")).click()
    hr_page.get_by_role("link", name="张三").click()
    expect(hr_page.get_by_role("cell", name="同意，请在最后工作日前交接客户。")).to_be_visible()
    hr_page.get_by_role("button", name="Approve").click()
    expect(hr_page.get_by_text("Every step is approved: the handover starts.")).to_be_visible()

    # then: the employee sees the exit moved on to the handover
    login(page, "zhang.san", code=employee.enterprise.code)
    page.goto(f"{live_server.url}{reverse('offboarding:my_exit')}")
    expect(page.locator(".badge.handover")).to_have_text("Handover")
    shot(page, "09-self-service-handover")
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.HANDOVER


def test_manager_cannot_reject_without_saying_why(
    page, login, live_server, employee, manager, open_exit_for
):
    # given
    exit_case = open_exit_for(
        employee,
        kind=ExitKind.VOLUNTARY,
        last_working_day=services.local_today(employee.enterprise),
        actor=employee.user,
    )
    workflow.submit(exit_case, actor=employee.user)
    login(page, manager.user.username)

    # when
    page.goto(f"{live_server.url}{reverse('offboarding:approval_detail', args=[exit_case.pk])}")
    page.get_by_role("button", name="Reject").click()

    # then
    expect(page.get_by_text("Say why the exit is rejected")).to_be_visible()
    shot(page, "10-reject-without-reason")
    page.set_viewport_size({"width": 390, "height": 844})  # and on a phone
    shot(page, "10-reject-without-reason-phone")
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.PENDING_APPROVAL


def test_employee_cancels_after_ticking_the_confirmation(
    page, login, live_server, employee, open_exit_for
):
    # given
    exit_case = open_exit_for(
        employee,
        kind=ExitKind.VOLUNTARY,
        last_working_day=services.local_today(employee.enterprise),
        actor=employee.user,
    )
    workflow.submit(exit_case, actor=employee.user)
    login(page, "zhang.san", code=employee.enterprise.code)
    page.goto(f"{live_server.url}{reverse('offboarding:my_exit')}")

    # when: the button alone does not cancel: the browser asks for the confirmation box first
    confirm = page.get_by_label("Yes, cancel my exit request")
    page.get_by_role("button", name="Cancel my exit request").click()
    expect(page.locator("input[name=confirm]:invalid")).to_have_count(1)
    shot(page, "11-cancel-confirmation")
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.PENDING_APPROVAL
    confirm.check()
    page.get_by_role("button", name="Cancel my exit request").click()

    # then
    expect(page.get_by_text("Your exit request was cancelled.")).to_be_visible()
    expect(page.locator(".badge.cancelled")).to_have_text("Cancelled")
    shot(page, "12-after-cancel")
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.CANCELLED


def test_language_switcher_turns_the_pages_to_chinese(page, login, super_admin):
    # given
    login(page, super_admin.user.username)

    # when
    page.get_by_role("button", name="简体中文").click()

    # then
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("button", name="简体中文")).to_have_attribute("aria-current", "true")
    shot(page, "13-chinese")


def test_super_admin_requesting_exit_sees_the_handover_blocker(
    page, login, live_server, super_admin
):
    # given
    login(page, super_admin.user.username)
    page.goto(f"{live_server.url}{reverse('offboarding:my_exit')}")

    # when
    page.get_by_role("button", name="Request my exit").click()

    # then
    expect(page.get_by_text("Your exit request was sent for approval.")).to_be_visible()
    expect(page.get_by_text("a new super admin must be named and confirmed")).to_be_visible()
    shot(page, "14-super-admin-prereview")
