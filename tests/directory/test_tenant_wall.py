"""The tenant wall (S-1, S-2): the admin's side entrances are closed, and the wall is asked once.

Each test here is one of the ways in that were found open: simple-history's views, a view-only
role posting, a grant of another enterprise rewritten through its history page, a member's status
set by editing a field, a 500 where a form error was due.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from directory.choices import MemberStatus
from directory.models import Department, Enterprise, EnterpriseAccess, Member
from directory.permissions import grant_access
from directory.tenancy import grants_for
from offboarding.models import ChecklistItem, ExitApproval
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_enterprise(db):
    return factories.EnterpriseFactory(name="别家公司")


@pytest.fixture
def other_member(other_enterprise):
    return factories.SuperAdminFactory(enterprise=other_enterprise, name="别家老板")


def _history_urls(obj):
    opts = obj._meta
    record = obj.history.latest("history_id")
    return (
        reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk]),
        reverse(
            f"admin:{opts.app_label}_{opts.model_name}_simple_history",
            args=[obj.pk, record.history_id],
        ),
    )


def test_the_history_of_another_enterprises_row_is_not_found(hr_client, other_member):
    # given HR of one enterprise and a member of another
    for obj in (other_member, other_member.department, other_member.enterprise):
        history, detail = _history_urls(obj)
        # then neither the history list nor a past version can be opened
        assert hr_client.get(history).status_code == 404
        assert hr_client.get(detail).status_code == 404


def test_a_past_version_is_shown_read_only_and_takes_no_post(hr_client, super_admin):
    _history, detail = _history_urls(super_admin)
    page = hr_client.get(detail)
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}  # every field is shown, none is editable
    response = hr_client.post(detail, {"name": "改名", "employee_number": "X1"})
    assert response.status_code == 405
    super_admin.refresh_from_db()
    assert super_admin.name == "王总"


def test_hr_cannot_take_over_another_enterprise_through_a_grants_history(
    hr_user, hr_client, other_enterprise
):
    # given a grant of another enterprise, to somebody else
    grant = grant_access(
        user=factories.StaffUserFactory(username="their-hr"), enterprise=other_enterprise, role="hr"
    )
    _history, detail = _history_urls(grant)
    # when HR of the first enterprise posts its history form naming themselves
    response = hr_client.post(
        detail, {"user": hr_user.pk, "enterprise": other_enterprise.pk, "role": "hr"}
    )
    # then nothing is written and they hold no grant there
    assert response.status_code in (404, 405)
    grant.refresh_from_db()
    assert grant.user.username == "their-hr"
    assert not EnterpriseAccess.objects.filter(user=hr_user, enterprise=other_enterprise).exists()


@pytest.mark.parametrize("role", ["it", "compliance"])
def test_a_view_only_role_cannot_write_a_member_back_through_history(
    client, enterprise, super_admin, role
):
    member = factories.MemberFactory(enterprise=enterprise, name="张三")
    staff = factories.StaffFactory(username=f"{role}-staff", enterprise=enterprise, role=role)
    client.force_login(staff)
    _history, detail = _history_urls(member)
    assert client.get(detail).status_code == 200  # they may look
    response = client.post(detail, {"name": member.name, "status": MemberStatus.DEPARTED})
    assert response.status_code == 405
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE


@pytest.mark.parametrize("version", ["abc", "0", "99999999999999999999", "-1"])
def test_a_malformed_or_unknown_version_is_not_found(hr_client, super_admin, version):
    url = reverse("admin:directory_member_history", args=[super_admin.pk]) + f"{version}/"
    assert hr_client.get(url).status_code == 404


def test_a_version_of_another_row_is_not_shown_under_this_one(hr_client, enterprise, super_admin):
    other = factories.MemberFactory(enterprise=enterprise)
    record = other.history.latest("history_id")
    url = reverse("admin:directory_member_simple_history", args=[super_admin.pk, record.history_id])
    assert hr_client.get(url).status_code == 404


def test_hr_saves_their_enterprise_in_the_admin(hr_client, enterprise):
    response = hr_client.post(
        reverse("admin:directory_enterprise_change", args=[enterprise.pk]),
        {
            "name": enterprise.name,
            "data_region": "CN",
            "time_zone": "Asia/Shanghai",
            "undo_window_0": "2",
            "undo_window_1": "days",
            "customer_acceptance_period_0": "1",
            "customer_acceptance_period_1": "days",
            "customer_limit_per_member": "20000",
            "handover_policy": "custody",
            "handover_grace_period_0": "7",
            "handover_grace_period_1": "days",
            "erasure_mode": "levels",
            "language": "zh-hans",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    enterprise.refresh_from_db()
    assert enterprise.undo_window.days == 2
    assert enterprise.handover_policy == "custody"
    assert enterprise.erasure_mode == "levels"


def test_a_delete_action_deletes_only_where_the_user_may(client, enterprise, other_enterprise):
    # given someone who is HR here and IT there, and chain steps in both
    from offboarding.models import ApprovalChainStep

    here = ApprovalChainStep.objects.create(enterprise=enterprise, position=1, approver="hr")
    there = ApprovalChainStep.objects.create(enterprise=other_enterprise, position=1, approver="hr")
    person = factories.StaffUserFactory(username="hr-here-it-there")
    grant_access(user=person, enterprise=enterprise, role="hr")
    grant_access(user=person, enterprise=other_enterprise, role="it")
    client.force_login(person)
    # when they post the delete action with both ids
    client.post(
        reverse("admin:offboarding_approvalchainstep_changelist"),
        {"action": "delete_selected", "_selected_action": [here.pk, there.pk], "post": "yes"},
    )
    # then only their own enterprise's step is gone
    assert not ApprovalChainStep.objects.filter(pk=here.pk).exists()
    assert ApprovalChainStep.objects.filter(pk=there.pk).exists()


def test_the_grants_are_read_once_per_request(hr_client, enterprise, super_admin):
    with CaptureQueriesContext(connection) as queries:
        response = hr_client.get(reverse("admin:index"))
    assert response.status_code == 200
    grant_reads = [q["sql"] for q in queries if "directory_enterpriseaccess" in q["sql"]]
    assert len(grant_reads) == 1, grant_reads


def test_the_changelist_filters_on_known_enterprise_ids(hr_client, enterprise, super_admin):
    with CaptureQueriesContext(connection) as queries:
        hr_client.get(reverse("admin:directory_member_changelist"))
    member_reads = [
        q["sql"]
        for q in queries
        if 'FROM "directory_member"' in q["sql"] and "directory_enterpriseaccess" not in q["sql"]
    ]
    assert member_reads
    assert f'"directory_member"."enterprise_id" IN ({enterprise.pk})' in member_reads[-1]


def test_one_answer_to_who_works_where(db, enterprise, other_enterprise):
    person = factories.StaffUserFactory(username="two-hats")
    grant_access(user=person, enterprise=enterprise, role="hr")
    grant_access(user=person, enterprise=other_enterprise, role="compliance")
    grants = grants_for(person)
    assert grants.enterprise_ids() == sorted([enterprise.pk, other_enterprise.pk])
    assert grants.enterprise_ids(["hr"]) == [enterprise.pk]
    assert person.has_perm("directory.change_member", Member(enterprise=enterprise))
    assert not person.has_perm("directory.change_member", Member(enterprise=other_enterprise))
    assert person.has_perm("directory.view_member", Member(enterprise=other_enterprise))
    assert person.has_perm("directory.change_department", Department(enterprise=enterprise))
    assert person.has_perm("directory.change_enterprise", enterprise)
    assert not person.has_perm("directory.change_enterprise", other_enterprise)
    # a login that is no longer staff or active holds nothing
    person.is_active = False
    person.save()
    person = type(person).objects.get(pk=person.pk)
    assert not grants_for(person).has_any()
    assert list(Enterprise.objects.visible_to(person)) == []


def test_the_checklist_and_the_approval_steps_are_created_with_history(
    open_exit_for, enterprise, super_admin
):
    from offboarding import workflow

    department = factories.DepartmentFactory(enterprise=enterprise)
    manager = factories.MemberFactory(enterprise=enterprise, department=department)
    member = factories.MemberFactory(enterprise=enterprise, department=department, manager=manager)
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    items = ChecklistItem.objects.filter(exit_case=exit_case)
    steps = ExitApproval.objects.filter(exit_case=exit_case)
    assert items.exists() and steps.exists()
    item_history = ChecklistItem.history.filter(exit_case_id=exit_case.pk, history_type="+")
    step_history = ExitApproval.history.filter(exit_case_id=exit_case.pk, history_type="+")
    assert item_history.count() == items.count()
    assert step_history.count() == steps.count()
    assert {record.history_user for record in step_history} == {member.user}


def test_the_enterprise_page_warns_when_it_has_no_backup_admin(hr_client, enterprise, super_admin):
    url = reverse("admin:directory_enterprise_change", args=[enterprise.pk])
    assert "has no backup admin" in hr_client.get(url).content.decode()
    factories.MemberFactory(enterprise=enterprise, is_backup_admin=True)
    assert "has no backup admin" not in hr_client.get(url).content.decode()
