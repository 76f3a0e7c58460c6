"""The manager and self-service pages (X-3, X-9, S-1, S-2) through Django's test client."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from directory.choices import MemberRole, StaffRole
from offboarding import services, workflow
from offboarding.choices import ApproverKind, Decision, ExitKind, ExitState
from offboarding.models import ApprovalChainStep, Exit
from tests import factories

pytestmark = pytest.mark.django_db

INBOX = reverse("offboarding:approvals")
MY_EXIT = reverse("offboarding:my_exit")


def detail_url(exit_case):
    return reverse("offboarding:approval_detail", args=[exit_case.pk])


def cancel_url(exit_case):
    return reverse("offboarding:cancel_my_exit", args=[exit_case.pk])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def in_days(member, days):
    return services.local_today(member.enterprise) + timedelta(days=days)


@pytest.fixture
def draft_exit(open_exit_for):
    """The member's own request, a draft (through tests/offboarding/conftest.py's open_exit_for)."""

    def draft_exit(member):
        return open_exit_for(member, last_working_day=in_days(member, 30), reason="家庭原因")

    return draft_exit


@pytest.fixture
def submitted_exit(draft_exit):
    """The member's own request, submitted by them: waiting for their manager."""

    def submitted_exit(member):
        return workflow.submit(draft_exit(member), actor=member.user)

    return submitted_exit


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def manager(enterprise):
    return factories.MemberFactory(enterprise=enterprise, name="李经理")


@pytest.fixture
def employee(enterprise, manager):
    return factories.MemberFactory(
        enterprise=enterprise, name="张三", manager=manager, department=manager.department
    )


@pytest.fixture
def manager_client(manager):
    return client_for(manager.user)


@pytest.fixture
def employee_client(employee):
    return client_for(employee.user)


# ---------------------------------------------------------------------------------------------
# Who gets in


@pytest.mark.parametrize(
    "url",
    [
        reverse("offboarding:home"),
        INBOX,
        reverse("offboarding:approval_detail", args=[1]),
        MY_EXIT,
        reverse("offboarding:cancel_my_exit", args=[1]),
    ],
)
def test_anonymous_users_are_sent_to_the_login_page(client, url):
    # when
    response = client.get(url)

    # then
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


def test_login_page_renders_a_login_form(client):
    # when
    response = client.get(reverse("login"))

    # then
    assert response.status_code == 200
    assert 'name="username"' in text(response)
    assert 'name="password"' in text(response)


def test_home_offers_a_member_their_exit_and_a_manager_the_inbox(
    submitted_exit, employee, manager_client
):
    # given
    submitted_exit(employee)

    # when
    response = manager_client.get(reverse("offboarding:home"))

    # then
    assert MY_EXIT in text(response)
    assert "Approvals waiting for me (1)" in text(response)
    assert reverse("admin:index") not in text(response)


def test_home_offers_staff_the_admin(hr_client):
    # when
    response = hr_client.get(reverse("offboarding:home"))

    # then
    assert reverse("admin:index") in text(response)
    assert "Approvals waiting for me (0)" in text(response)


def test_home_explains_itself_to_a_login_without_a_member(db):
    # given
    client = client_for(factories.UserFactory())

    # when
    response = client.get(reverse("offboarding:home"))

    # then
    assert "not linked to a member" in text(response)


# ---------------------------------------------------------------------------------------------
# Approvals inbox


def test_inbox_shows_only_exits_waiting_for_that_manager(
    submitted_exit, draft_exit, enterprise, manager, employee
):
    # given
    mine = submitted_exit(employee)
    other_manager = factories.MemberFactory(enterprise=enterprise, name="赵经理")
    submitted_exit(
        factories.MemberFactory(enterprise=enterprise, name="王五", manager=other_manager)
    )
    draft_exit(factories.MemberFactory(enterprise=enterprise, name="钱六", manager=manager))

    # when
    response = client_for(manager.user).get(INBOX)

    # then
    assert list(response.context["exits"]) == [mine]
    assert "张三" in text(response)
    assert "王五" not in text(response)
    assert "钱六" not in text(response)
    assert "Direct manager" in text(response)


def test_inbox_shows_submission_time_in_the_enterprises_time_zone(
    submitted_exit, employee, manager_client
):
    # given
    exit_case = submitted_exit(employee)
    shanghai = exit_case.submitted_at.astimezone(employee.enterprise.time_zone)

    # when
    response = manager_client.get(INBOX)

    # then
    assert shanghai.strftime("%Y-%m-%d %H:%M") in text(response)
    assert "Asia/Shanghai" in text(response)


def test_inbox_has_an_empty_state(manager_client):
    # when
    response = manager_client.get(INBOX)

    # then
    assert "Nothing is waiting for your decision." in text(response)


def test_hr_step_shows_up_in_hr_inbox_once_the_manager_approved(
    submitted_exit, employee, manager, hr_user
):
    # given
    exit_case = submitted_exit(employee)
    hr = client_for(hr_user)
    assert list(hr.get(INBOX).context["exits"]) == []

    # when
    workflow.approve(exit_case, actor=manager.user, comment="同意")

    # then
    assert list(hr.get(INBOX).context["exits"]) == [exit_case]
    assert list(client_for(manager.user).get(INBOX).context["exits"]) == []


def test_hr_of_another_enterprise_never_sees_the_exit(submitted_exit, employee):
    # given
    submitted_exit(factories.MemberFactory(enterprise=employee.enterprise, name="无经理"))
    outsider = factories.StaffFactory(username="outsider-hr", role=StaffRole.HR)

    # when
    response = client_for(outsider).get(INBOX)

    # then
    assert list(response.context["exits"]) == []
    assert "无经理" not in text(response)


def test_inbox_query_count_does_not_grow_with_waiting_exits(
    submitted_exit, enterprise, manager, manager_client
):
    def inbox_queries():
        with CaptureQueriesContext(connection) as queries:
            response = manager_client.get(INBOX)
        assert response.status_code == 200
        return len(response.context["exits"]), len(queries)

    # given one waiting exit
    submitted_exit(factories.MemberFactory(enterprise=enterprise, manager=manager))
    rows_one, queries_one = inbox_queries()

    # when nine more wait
    for _ in range(9):
        submitted_exit(factories.MemberFactory(enterprise=enterprise, manager=manager))
    rows_ten, queries_ten = inbox_queries()

    # then
    assert (rows_one, rows_ten) == (1, 10)
    assert queries_ten == queries_one


# ---------------------------------------------------------------------------------------------
# Approval detail and decisions


def test_approval_page_shows_the_exit_steps_and_prereview(submitted_exit, employee, manager_client):
    # given
    exit_case = submitted_exit(employee)
    factories.ExternalContactFactory(owner=employee)

    # when
    response = manager_client.get(detail_url(exit_case))

    # then
    assert response.status_code == 200
    assert "张三" in text(response)
    assert "家庭原因" in text(response)
    assert "Still owns 1 external contact" in text(response)
    assert 'value="approve"' in text(response)
    assert 'value="reject"' in text(response)


def test_manager_opening_another_departments_exit_gets_404(
    submitted_exit, enterprise, manager_client
):
    # given
    stranger = factories.MemberFactory(
        enterprise=enterprise, manager=factories.MemberFactory(enterprise=enterprise)
    )
    exit_case = submitted_exit(stranger)

    # when
    got = manager_client.get(detail_url(exit_case))
    posted = manager_client.post(detail_url(exit_case), {"decision": "approve", "comment": "x"})

    # then
    assert got.status_code == 404
    assert posted.status_code == 404
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.PENDING_APPROVAL
    assert not exit_case.approvals.exclude(decision=Decision.PENDING).exists()


def test_manager_approves_through_the_form_and_hr_decides_next(
    submitted_exit, employee, manager, manager_client, hr_user
):
    # given
    exit_case = submitted_exit(employee)

    # when
    response = manager_client.post(
        detail_url(exit_case), {"decision": "approve", "comment": "同意，交接好客户"}, follow=True
    )

    # then
    assert response.redirect_chain[-1][0] == INBOX
    assert "You approved the exit of 张三. The next step decides now." in text(response)
    step = exit_case.approvals.get(position=1)
    assert (step.decision, step.decided_by, step.comment) == (
        Decision.APPROVED,
        manager.user,
        "同意，交接好客户",
    )
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.PENDING_APPROVAL

    # when HR approves the second step through the same page
    response = client_for(hr_user).post(
        detail_url(exit_case), {"decision": "approve", "comment": ""}, follow=True
    )

    # then
    assert "Every step is approved: the handover starts." in text(response)
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.HANDOVER


def test_approving_the_only_step_moves_the_exit_to_handover(
    submitted_exit, enterprise, employee, manager_client
):
    # given
    ApprovalChainStep.objects.create(
        enterprise=enterprise, position=1, approver=ApproverKind.DIRECT_MANAGER
    )
    exit_case = submitted_exit(employee)

    # when
    manager_client.post(detail_url(exit_case), {"decision": "approve", "comment": "好"})

    # then
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.HANDOVER


def test_manager_rejects_with_a_reason(submitted_exit, employee, manager_client):
    # given
    exit_case = submitted_exit(employee)

    # when
    response = manager_client.post(
        detail_url(exit_case), {"decision": "reject", "comment": "项目未结束"}, follow=True
    )

    # then
    assert "You rejected the exit of 张三." in text(response)
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.REJECTED
    assert exit_case.rejection_reason == "项目未结束"


def test_rejecting_without_a_reason_shows_the_error_and_changes_nothing(
    submitted_exit, employee, manager_client
):
    # given
    exit_case = submitted_exit(employee)

    # when
    response = manager_client.post(detail_url(exit_case), {"decision": "reject", "comment": "  "})

    # then
    assert response.status_code == 200
    assert "Say why the exit is rejected" in text(response)
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.PENDING_APPROVAL
    assert not exit_case.approvals.exclude(decision=Decision.PENDING).exists()


def test_a_post_without_a_decision_is_refused_with_a_form_error(
    submitted_exit, employee, manager_client
):
    # given
    exit_case = submitted_exit(employee)

    # when
    response = manager_client.post(detail_url(exit_case), {"comment": "?"})

    # then
    assert response.status_code == 200
    assert "Press Approve or Reject." in text(response)
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.PENDING_APPROVAL


def test_manager_can_look_back_at_an_exit_they_approved(
    submitted_exit, employee, manager, manager_client
):
    # given
    exit_case = submitted_exit(employee)
    workflow.approve(exit_case, actor=manager.user, comment="同意")

    # when
    response = manager_client.get(detail_url(exit_case))
    second_try = manager_client.post(detail_url(exit_case), {"decision": "approve"}, follow=True)

    # then
    assert response.status_code == 200
    assert "同意" in text(response)
    assert 'value="approve"' not in text(response)
    assert "You are not allowed to approve this exit." in text(second_try)
    assert exit_case.approvals.get(position=2).decision == Decision.PENDING


# ---------------------------------------------------------------------------------------------
# Self-service


def test_member_requests_their_exit_and_it_is_submitted(employee, employee_client):
    # given
    last_day = in_days(employee, 20)

    # when
    response = employee_client.post(
        MY_EXIT, {"last_working_day": last_day.isoformat(), "reason": "回老家"}, follow=True
    )

    # then
    exit_case = Exit.objects.get(member=employee)
    assert exit_case.state == ExitState.PENDING_APPROVAL
    assert (exit_case.kind, exit_case.last_working_day, exit_case.reason) == (
        ExitKind.VOLUNTARY,
        last_day,
        "回老家",
    )
    assert exit_case.requested_by == employee.user
    assert "Your exit request was sent for approval." in text(response)
    assert "Pending approval" in text(response)
    assert "李经理" in text(response)


def test_self_service_form_proposes_a_last_day_thirty_days_ahead(employee, employee_client):
    # when
    response = employee_client.get(MY_EXIT)

    # then
    assert f'value="{in_days(employee, 30).isoformat()}"' in text(response)


def test_an_admin_requesting_their_exit_opens_a_voluntary_admin_exit(enterprise):
    # given
    admin = factories.MemberFactory(enterprise=enterprise, role=MemberRole.ADMIN)

    # when
    client_for(admin.user).post(MY_EXIT, {"last_working_day": in_days(admin, 30).isoformat()})

    # then
    assert Exit.objects.get(member=admin).kind == ExitKind.VOLUNTARY_ADMIN


def test_a_last_working_day_in_the_past_is_refused(employee, employee_client):
    # when
    response = employee_client.post(
        MY_EXIT, {"last_working_day": in_days(employee, -1).isoformat(), "reason": ""}
    )

    # then
    assert response.status_code == 200
    assert "The last working day cannot be in the past." in text(response)
    assert not Exit.objects.filter(member=employee).exists()


def test_a_date_that_is_not_a_date_is_a_form_error(employee, employee_client):
    # when
    response = employee_client.post(MY_EXIT, {"last_working_day": "next friday"})

    # then
    assert response.status_code == 200
    assert "Enter a date such as 2030-01-31." in text(response)
    assert not Exit.objects.filter(member=employee).exists()


def test_a_double_submit_is_refused_and_changes_nothing(employee, employee_client):
    # given
    data = {"last_working_day": in_days(employee, 30).isoformat(), "reason": "再见"}
    employee_client.post(MY_EXIT, data)
    first = Exit.objects.get(member=employee)

    # when
    response = employee_client.post(MY_EXIT, data, follow=True)

    # then
    assert "张三 already has an exit in progress." in text(response)
    assert list(Exit.objects.filter(member=employee)) == [first]
    first.refresh_from_db()
    assert first.state == ExitState.PENDING_APPROVAL


def test_cancelling_needs_the_confirmation_box(submitted_exit, employee, employee_client):
    # given
    exit_case = submitted_exit(employee)

    # when
    response = employee_client.post(cancel_url(exit_case), {})

    # then
    assert response.status_code == 200
    assert "Tick the box to confirm" in text(response)
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.PENDING_APPROVAL


def test_member_cancels_their_exit_after_confirming(submitted_exit, employee, employee_client):
    # given
    exit_case = submitted_exit(employee)
    assert employee_client.get(cancel_url(exit_case)).status_code == 200

    # when
    response = employee_client.post(cancel_url(exit_case), {"confirm": "on"}, follow=True)

    # then
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.CANCELLED
    assert "Your exit request was cancelled." in text(response)
    assert "Earlier requests" in text(response)
    assert "Request my exit" in text(response)


def test_nobody_cancels_another_members_exit(submitted_exit, employee, enterprise):
    # given
    exit_case = submitted_exit(employee)
    colleague = client_for(factories.MemberFactory(enterprise=enterprise).user)

    # when
    response = colleague.post(cancel_url(exit_case), {"confirm": "on"})

    # then
    assert response.status_code == 404
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.PENDING_APPROVAL


def test_a_rejected_exit_shows_its_reason_among_earlier_requests(
    submitted_exit, employee, manager, employee_client
):
    # given
    exit_case = submitted_exit(employee)
    workflow.reject(exit_case, actor=manager.user, reason="请先完成季度目标")

    # when
    response = employee_client.get(MY_EXIT)

    # then
    assert "Rejected" in text(response)
    assert "请先完成季度目标" in text(response)
    assert "Request my exit" in text(response)


def test_a_draft_can_be_submitted_again(draft_exit, employee, employee_client):
    # given a draft whose submit did not happen
    exit_case = draft_exit(employee)
    assert "Submit again" in text(employee_client.get(MY_EXIT))

    # when
    response = employee_client.post(
        reverse("offboarding:submit_my_exit", args=[exit_case.pk]), follow=True
    )

    # then
    exit_case.refresh_from_db()
    assert exit_case.state == ExitState.PENDING_APPROVAL
    assert "Your exit request was sent for approval." in text(response)
    assert "Submit again" not in text(response)


def test_a_super_admin_requesting_their_exit_sees_the_handover_blocker(super_admin):
    # given
    client = client_for(super_admin.user)

    # when
    response = client.post(
        MY_EXIT, {"last_working_day": in_days(super_admin, 30).isoformat()}, follow=True
    )

    # then
    exit_case = Exit.objects.get(member=super_admin)
    assert exit_case.kind == ExitKind.VOLUNTARY_ADMIN
    assert exit_case.state == ExitState.PENDING_APPROVAL
    assert "王总 is the super admin: a new super admin must be named and confirmed" in text(
        response
    )


def test_a_login_without_a_member_gets_a_friendly_404(db):
    # given
    client = client_for(factories.UserFactory())

    # when
    response = client.get(MY_EXIT)

    # then
    assert response.status_code == 404
    assert "not linked to a member" in text(response)


def test_inbox_shows_25_requests_a_page_oldest_first_with_links_between_pages(
    submitted_exit, enterprise, manager, manager_client
):
    # given 27 requests waiting for the manager
    waiting = [
        submitted_exit(factories.MemberFactory(enterprise=enterprise, manager=manager))
        for _ in range(27)
    ]

    # when
    first = manager_client.get(INBOX)
    second = manager_client.get(INBOX, {"page": 2})
    beyond = manager_client.get(INBOX, {"page": 99})

    # then the oldest 25 come first, the other two on page 2; the heading counts all 27
    assert first.context["exits"] == waiting[:25]
    assert second.context["exits"] == waiting[25:]
    assert '<span class="count">27</span>' in text(first)
    assert "Page 1 of 2" in text(first)
    assert 'href="?page=2"' in text(first)
    assert "Next page" in text(first)
    assert "Previous page" not in text(first)
    assert 'href="?page=1"' in text(second)
    assert "Next page" not in text(second)
    # a page past the end shows the last one
    assert beyond.context["exits"] == waiting[25:]
