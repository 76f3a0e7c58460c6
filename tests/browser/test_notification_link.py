"""A manager's approval reached from a notification's link, in a real browser (U-2, X-3).

The employee's exit is submitted; the manager's notification is sent by the worker's task body
(`notifications.deliver`) into the test's mail outbox; the manager opens the link the mail
carries, logs in on the page it leads to, lands on the exit's approval page and approves it. HR,
who decides the next step, is then told, with the link to the exit's admin page.
"""

import re

import pytest
from django.core import mail
from django.urls import reverse
from playwright.sync_api import expect

from directory.services import member_username
from offboarding import notifications, workflow
from offboarding.choices import Decision, NotificationEvent
from offboarding.models import Notification
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def manager(enterprise):
    enterprise.language = "en"
    enterprise.save()
    user = factories.UserFactory(username=member_username(enterprise, "li.manager"))
    return factories.MemberFactory(enterprise=enterprise, user=user, name="李经理")


@pytest.fixture
def employee(enterprise, manager):
    return factories.MemberFactory(
        enterprise=enterprise, name="张三", manager=manager, department=manager.department
    )


def test_the_manager_approves_from_the_link_of_their_notification(
    page, live_server, settings, employee, manager, hr_user, open_exit_for
):
    # given the site's address, and the employee's exit submitted: the manager's step waits
    settings.EXITDESK_SITE_URL = live_server.url
    exit_case = workflow.submit(open_exit_for(employee), actor=employee.user)
    note = Notification.objects.get(event=NotificationEvent.STEP_WAITING, recipient=manager.user)
    # and the worker sent it: a mail to the manager with the link
    notifications.deliver(note.pk)
    [sent] = mail.outbox
    assert sent.to == [manager.user.email]
    assert sent.subject == "The exit of 张三 waits for your approval"
    [link] = re.findall(r"https?://\S+", sent.body)
    assert link == f"{live_server.url}/approvals/{exit_case.pk}/"

    # when the manager opens the link: the login page, which leads back to it
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/approvals/\d+/$"))
    page.get_by_label("Username").fill(manager.user.username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # then they are on the exit's approval page, and approve it
    expect(page).to_have_url(link)
    expect(page.get_by_role("heading", name="Exit of 张三")).to_be_visible()
    page.get_by_label("Comment").fill("同意")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("You approved the exit of 张三.")).to_be_visible()
    step = exit_case.approvals.get(position=1)
    assert (step.decision, step.decided_by) == (Decision.APPROVED, manager.user)

    # and HR, who decides the next step, is told, with the link to the exit's admin page
    to_hr = Notification.objects.get(event=NotificationEvent.STEP_WAITING, recipient=hr_user)
    assert to_hr.link == live_server.url + reverse(
        "admin:offboarding_exit_change", args=[exit_case.pk]
    )
