"""The homes as to-do lists (U-2, U-5): what waits for each staff user and each member, the
enterprise at a glance, the exit list's "waiting for" column, and their query counts."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance.choices import ErasureState
from compliance.models import ErasureRequest
from compliance.todo import compliance_waiting, staff_home
from directory.choices import DepartmentStatus, MemberRole, StaffRole
from offboarding import inheritance, services, todo, workflow
from offboarding.choices import (
    ExitKind,
    HandoverState,
    InheritanceStatus,
    TerminationSource,
    TerminationState,
    WaitingStep,
)
from offboarding.models import HRTermination, SuperAdminHandover
from tests import factories
from tests.offboarding.test_inheritance import give_contacts


def kinds(items) -> set[str]:
    return {item.kind for item in items}


def staff_items(user):
    return todo.staff_waiting(user) + compliance_waiting(user, todo._enterprises(user))


def step_of(exit_case) -> str:
    return (
        todo.with_waiting_step(type(exit_case).objects.filter(pk=exit_case.pk)).get().waiting_step
    )


# ---------------------------------------------------------------------------------------------
# What waits for staff


def test_hr_decides_the_hr_step_and_the_manager_decides_theirs(
    member, manager, hr_user, it_user, open_exit_for
):
    # given an exit waiting for the manager's step
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)

    # then it waits on the manager, not on HR
    assert "approvals" not in kinds(staff_items(hr_user))
    manager_home = todo.member_waiting(manager.user, manager)
    assert [item.kind for item in manager_home["items"]] == ["approval"]
    assert manager_home["items"][0].url == reverse(
        "offboarding:approval_detail", args=[exit_case.pk]
    )

    # when the manager approves, HR's step waits for HR only
    workflow.approve(exit_case, actor=manager.user, comment="同意")
    assert "approvals" in kinds(staff_items(hr_user))
    assert "approvals" not in kinds(staff_items(it_user))
    assert todo.member_waiting(manager.user, manager)["items"] == []


def test_hr_and_it_each_see_their_own_sign_offs_and_compliance_neither(
    member, hr_user, it_user, compliance_user, exit_in_handover
):
    exit_in_handover(member)

    assert {"hr_sign_off"} <= kinds(staff_items(hr_user))
    assert "it_sign_off" not in kinds(staff_items(hr_user))
    assert "it_sign_off" in kinds(staff_items(it_user))
    assert "hr_sign_off" not in kinds(staff_items(it_user))
    assert kinds(staff_items(compliance_user)) == set()


def test_nothing_of_an_enterprise_not_granted_is_shown(
    member, hr_user, other_enterprise_hr, exit_in_handover, open_exit_for, manager
):
    exit_in_handover(member)
    HRTermination.objects.create(
        enterprise=member.enterprise,
        external_id="T-1",
        employee_number=manager.employee_number,
        member=manager,
        last_working_day=timezone.localdate(),
        source=TerminationSource.API,
        state=TerminationState.FAILED,
        error="bad",
    )

    assert {"hr_sign_off", "terminations"} <= kinds(staff_items(hr_user))
    assert staff_items(other_enterprise_hr) == []
    home = staff_home(other_enterprise_hr)
    assert home["open_total"] == 0
    assert home["late"] == [] and home["undo"] == [] and home["pending"] == []


def test_a_full_successor_leaves_items_for_hr_and_the_exit_waits_for_resources(
    member, manager, enterprise, exit_in_handover, hr_user, it_user
):
    enterprise.customer_limit_per_member = 1
    enterprise.save()
    give_contacts(member, 3)
    exit_case = exit_in_handover(member)

    batch = inheritance.inherit(exit_case, actor=hr_user)

    assert batch.items.filter(status=InheritanceStatus.RECEIVER_FULL).count() == 2
    hr_kinds = kinds(staff_items(hr_user))
    assert {"receiver_full", "resources"} <= hr_kinds
    assert "receiver_full" not in kinds(staff_items(it_user))
    assert step_of(exit_case) == WaitingStep.RESOURCES
    # and the successor is told what comes to them
    arriving = [
        i for i in todo.member_waiting(manager.user, manager)["items"] if i.kind == "arriving"
    ]
    assert len(arriving) == 1 and member.name in arriving[0].sentence


def test_compliance_sees_erasure_requests_due_with_the_overdue_ones_first(
    member, enterprise, compliance_user, hr_user
):
    ErasureRequest.objects.create(
        enterprise=enterprise,
        member=member,
        mode=enterprise.erasure_mode,
        due_on=timezone.localdate() - timedelta(days=2),
        state=ErasureState.RECEIVED,
    )

    items = [i for i in staff_items(compliance_user) if i.kind == "erasure"]
    assert len(items) == 1 and items[0].urgent and "overdue" in items[0].sentence
    assert "erasure" not in kinds(staff_items(hr_user))


# ---------------------------------------------------------------------------------------------
# The waiting step of each exit


def test_the_waiting_step_follows_the_exit(
    member, hr_user, it_user, open_exit_for, ready_to_complete, manager
):
    exit_case = open_exit_for(member)
    assert step_of(exit_case) == WaitingStep.SUBMISSION
    exit_case = workflow.submit(exit_case, actor=member.user)
    assert step_of(exit_case) == WaitingStep.APPROVAL
    exit_case = workflow.approve(exit_case, actor=manager.user, comment="同意")
    exit_case = workflow.approve(exit_case, actor=hr_user, comment="同意")
    assert step_of(exit_case) == WaitingStep.HR_AND_IT_SIGN_OFF
    services.sign_off_review(exit_case, actor=hr_user, team="hr")
    exit_case = ready_to_complete(exit_case)
    assert step_of(exit_case) == WaitingStep.COMPLETION
    exit_case = workflow.complete(exit_case, actor=hr_user)
    assert step_of(exit_case) == WaitingStep.UNDO_WINDOW


def test_a_super_admins_exit_waits_for_the_handover(super_admin, open_exit_for, hr_user):
    exit_case = workflow.submit(
        open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN), actor=super_admin.user
    )
    while exit_case.state == "pending_approval":
        exit_case = workflow.approve(exit_case, actor=hr_user, comment="同意")
    assert step_of(exit_case) == WaitingStep.SUPER_ADMIN_HANDOVER
    home = todo.member_waiting(super_admin.user, super_admin)
    own = [item for item in home["items"] if item.kind == "own_exit"]
    assert own and own[0].url == reverse("offboarding:super_admin")


# ---------------------------------------------------------------------------------------------
# What waits for members


def test_the_new_super_admin_is_told_to_confirm(super_admin, enterprise, open_exit_for, member):
    exit_case = open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    SuperAdminHandover.objects.create(
        enterprise=enterprise,
        exit_case=exit_case,
        from_member=super_admin,
        to_member=member,
        state=HandoverState.AWAITING_CONFIRMATION,
    )

    items = todo.member_waiting(member.user, member)["items"]
    assert [item.kind for item in items] == ["handover"]
    assert super_admin.name in items[0].sentence


def test_a_super_admin_without_a_backup_admin_is_asked_to_designate_one(super_admin, enterprise):
    items = todo.member_waiting(super_admin.user, super_admin)["items"]
    assert "no_backup_admin" in kinds(items)

    factories.MemberFactory(enterprise=enterprise, is_backup_admin=True, role=MemberRole.ADMIN)
    assert "no_backup_admin" not in kinds(
        todo.member_waiting(super_admin.user, super_admin)["items"]
    )


def test_the_member_home_lists_what_waits_with_links(client, member, manager, open_exit_for):
    workflow.submit(open_exit_for(member), actor=member.user)

    client.force_login(manager.user)
    response = client.get(reverse("offboarding:home"))
    assert response.status_code == 200
    assert "The exit of 张三 (销售部) waits for your decision." in response.content.decode()

    client.force_login(member.user)
    page = client.get(reverse("offboarding:home")).content.decode()
    assert "Your exit request waits for the approval of 李经理." in page


def test_the_member_home_says_when_nothing_waits(client, stranger):
    client.force_login(stranger.user)
    assert "Nothing waits for you." in client.get(reverse("offboarding:home")).content.decode()


# ---------------------------------------------------------------------------------------------
# The admin index


def test_the_staff_home_shows_items_charts_and_the_app_list(
    hr_client, member, exit_in_handover, enterprise
):
    exit_in_handover(member)
    factories.DepartmentFactory(
        enterprise=enterprise,
        name="旧项目组",
        status=DepartmentStatus.PENDING_DISSOLUTION,
        pending_since=timezone.now() - timedelta(days=3),
    )

    page = hr_client.get(reverse("admin:index")).content.decode()

    assert "What waits for you" in page
    assert "1 exit in handover waits for HR&#x27;s checklist sign-offs or review." in page
    assert 'aria-labelledby="chart-states-title chart-states-desc"' in page
    assert "Handover: 1" in page  # the chart's numbers as text
    assert "Exits opened per month, by kind" in page
    assert "旧项目组" in page
    assert 'id="records-by-status"' not in page  # HR reads no work records
    assert reverse("admin:offboarding_exit_changelist") in page  # the app list stays


def test_compliance_sees_records_by_retention_status(client, compliance_user):
    client.force_login(compliance_user)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="records-by-status"' in page
    assert "Nothing waits for you." in page


def test_late_checklists_and_undo_windows_are_at_a_glance(
    hr_user, member, enterprise, exit_in_handover, completed_exit, super_admin
):
    late = exit_in_handover(
        member, last_working_day=services.local_today(enterprise) + timedelta(days=1)
    )
    done = completed_exit(factories.MemberFactory(enterprise=enterprise, name="钱七"))

    with time_machine.travel(timezone.now() + timedelta(days=3)):
        home = staff_home(hr_user)
    assert home["late_count"] == 1 and home["late"][0].pk == late.pk
    assert home["late"][0].days_late == 2
    assert home["undo_count"] == 0  # the 24-hour window has passed by then

    home = staff_home(hr_user)
    assert [exit_case.pk for exit_case in home["undo"]] == [done.pk]
    assert timedelta(hours=23) < home["undo"][0].time_left <= timedelta(hours=24)


def test_the_staff_home_query_count_does_not_grow_with_the_data(
    hr_client, enterprise, exit_in_handover, open_exit_for, super_admin
):
    url = reverse("admin:index")
    hr_client.get(url)  # warm caches (content types, sessions)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert hr_client.get(url).status_code == 200
        return len(queries)

    exit_in_handover(factories.MemberFactory(enterprise=enterprise))
    one = count_queries()
    for _index in range(4):
        exit_in_handover(factories.MemberFactory(enterprise=enterprise))
        open_exit_for(factories.MemberFactory(enterprise=enterprise), kind=ExitKind.PASSIVE)
    many = count_queries()
    assert many == one
    assert one <= 40


# ---------------------------------------------------------------------------------------------
# The exit list


def test_the_exit_list_says_what_each_exit_waits_for(
    hr_client, member, manager, open_exit_for, exit_in_handover, enterprise
):
    workflow.submit(open_exit_for(member), actor=member.user)
    exit_in_handover(factories.MemberFactory(enterprise=enterprise, name="孙八"))

    page = hr_client.get(reverse("admin:offboarding_exit_changelist")).content.decode()
    assert "Approval (Direct manager): 李经理" in page
    assert "Checklist and reviews: HR and IT" in page

    waiting = hr_client.get(
        reverse("admin:offboarding_exit_changelist"), {"waiting": WaitingStep.APPROVAL}
    ).content.decode()
    assert "张三" in waiting and "孙八" not in waiting


def test_the_exit_list_query_count_does_not_grow_with_rows(
    hr_client, enterprise, open_exit_for, exit_in_handover
):
    url = reverse("admin:offboarding_exit_changelist")
    exit_in_handover(factories.MemberFactory(enterprise=enterprise))
    hr_client.get(url)
    with CaptureQueriesContext(connection) as one:
        hr_client.get(url)
    for _index in range(3):
        exit_in_handover(factories.MemberFactory(enterprise=enterprise))
        open_exit_for(factories.MemberFactory(enterprise=enterprise), kind=ExitKind.PASSIVE)
    with CaptureQueriesContext(connection) as many:
        hr_client.get(url)
    assert len(many) == len(one)


@pytest.mark.parametrize("role", [StaffRole.IT, StaffRole.COMPLIANCE])
def test_other_roles_open_the_staff_home(client, enterprise, role, member, exit_in_handover):
    exit_in_handover(member)
    client.force_login(factories.StaffFactory(enterprise=enterprise, role=role))
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_member_home_query_count_does_not_grow_with_what_waits(
    client, manager, enterprise, department, open_exit_for
):
    url = reverse("offboarding:home")
    client.force_login(manager.user)
    client.get(url)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    def report_leaves():
        report = factories.MemberFactory(
            enterprise=enterprise, department=department, manager=manager
        )
        workflow.submit(open_exit_for(report), actor=report.user)

    report_leaves()
    one = count_queries()
    for _index in range(todo.APPROVALS_SHOWN + 2):
        report_leaves()
    assert count_queries() == one + 1  # the count of the approvals beyond those named


def test_charts_carry_their_numbers_as_text():
    from offboarding import charts

    bars = charts.horizontal_bars([("draft", "Draft", 2), ("handover", "Handover", 4)])
    assert bars["summary"] == "Draft: 2; Handover: 4"
    assert bars["bars"][1]["width"] == charts.BAR_AREA  # the largest fills the area
    assert bars["bars"][0]["width"] == charts.BAR_AREA / 2

    columns = charts.stacked_columns(
        ["Jan", "Feb"],
        ["1", "2"],
        [
            {"key": "voluntary", "label": "Voluntary", "values": [1, 0]},
            {"key": "passive", "label": "Passive", "values": [2, 0]},
        ],
    )
    assert columns["summary"] == "Jan: 3 (Voluntary 1, Passive 2); Feb: 0"
    assert [len(column["segments"]) for column in columns["columns"]] == [2, 0]
