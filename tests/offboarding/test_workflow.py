"""The exit workflow through its doors (X-2 … X-9): every transition, every refusal and its words.

Each test calls offboarding.workflow (or offboarding.services for opening an exit and signing off)
and checks what a person would notice: the exit's state, the message of ExitRefused (the text the
pages show), the rows in the database and the exit's history (who did what).
"""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from directory import services as directory_services
from directory.choices import MemberRole, MemberStatus, StaffRole
from directory.models import ExternalContact, LoginSession, Member
from offboarding import prereview, services, workflow
from offboarding.choices import (
    ApproverKind,
    Decision,
    ExitKind,
    ExitState,
    Team,
    Transition,
)
from offboarding.exceptions import ExitRefused
from offboarding.models import ApprovalChainStep, ChecklistItem, Exit, ExitApproval
from tests import factories
from tests.offboarding.conftest import history_reasons, refreshed

pytestmark = pytest.mark.django_db

# the states each transition may start from.
ALLOWED_FROM = {
    Transition.SUBMIT: {ExitState.DRAFT},
    Transition.APPROVE: {ExitState.PENDING_APPROVAL},
    Transition.REJECT: {ExitState.PENDING_APPROVAL},
    Transition.CANCEL: {ExitState.DRAFT, ExitState.PENDING_APPROVAL, ExitState.HANDOVER},
    Transition.REMOVE: {ExitState.DRAFT},
    Transition.COMPLETE: {ExitState.HANDOVER},
    Transition.UNDO: {ExitState.COMPLETED},
    Transition.CLOSE: {ExitState.COMPLETED},
}
PAST = {
    Transition.SUBMIT: "submitted",
    Transition.APPROVE: "approved",
    Transition.REJECT: "rejected",
    Transition.CANCEL: "cancelled",
    Transition.REMOVE: "removed",
    Transition.COMPLETE: "completed",
    Transition.UNDO: "undone",
    Transition.CLOSE: "closed",
}
WRONG_PASSWORD_MESSAGE = "Your password was not right: re-enter it to confirm the undo."


def run(transition: Transition, exit_case: Exit, *, actor, password=factories.PASSWORD) -> Exit:
    """Call the door of `transition` as a page would, with a reason or a password if it asks."""
    extra = {
        Transition.REJECT: {"reason": "交接未完成"},
        Transition.UNDO: {"password": password},
    }.get(transition, {})
    return workflow.DOORS[transition](exit_case, actor=actor, **extra)


def snapshot(exit_case: Exit) -> dict:
    """Everything a transition could change, read fresh from the database."""
    exit_case = refreshed(exit_case)
    member = Member.objects.select_related("user").get(pk=exit_case.member_id)
    return {
        "state": exit_case.state,
        "history": exit_case.history.count(),
        "decisions": list(
            exit_case.approvals.order_by("position").values_list("decision", flat=True)
        ),
        "member": (member.status, member.role, member.is_backup_admin),
        "user_is_active": member.user.is_active,
        "undo_deadline": exit_case.undo_deadline,
    }


def latest_history(exit_case: Exit):
    return exit_case.history.order_by("-history_id").first()


@pytest.fixture
def other_department_manager(enterprise):
    """赵经理 manages someone in another department, not the member who leaves."""
    boss = factories.MemberFactory(enterprise=enterprise, name="赵经理")
    factories.MemberFactory(enterprise=enterprise, department=boss.department, manager=boss)
    return boss


@pytest.fixture
def hr_without_permission(enterprise):
    """Granted the enterprise as HR, but not in the HR group: may not remove or undo."""
    user = factories.StaffUserFactory(username="hr-trainee")
    factories.EnterpriseAccessFactory(user=user, enterprise=enterprise, role="hr")
    return user


ACTORS = {
    "the member": lambda request: request.getfixturevalue("member").user,
    "their manager": lambda request: request.getfixturevalue("manager").user,
    "a stranger": lambda request: request.getfixturevalue("stranger").user,
    "a manager of another department": lambda request: (
        request.getfixturevalue("other_department_manager").user
    ),
    "HR": lambda request: request.getfixturevalue("hr_user"),
    "HR without the permission": lambda request: request.getfixturevalue("hr_without_permission"),
    "HR of another enterprise": lambda request: request.getfixturevalue("other_enterprise_hr"),
    "IT": lambda request: request.getfixturevalue("it_user"),
    "the system": lambda request: None,
}


# --- every allowed transition -------------------------------------------------------------------


def test_the_member_submits_their_exit_for_the_default_approval_chain(
    open_exit_for, member, manager
):
    # given
    exit_case = open_exit_for(member)
    # when
    exit_case = workflow.submit(exit_case, actor=member.user)
    # then
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.PENDING_APPROVAL
    assert exit_case.submitted_at is not None
    steps = list(exit_case.approvals.order_by("position"))
    assert [(s.approver, s.assignee, s.decision) for s in steps] == [
        (ApproverKind.DIRECT_MANAGER, manager, Decision.PENDING),
        (ApproverKind.HR, None, Decision.PENDING),
    ]
    assert history_reasons(exit_case) == ["open", "submit"]
    assert [row.history_user for row in exit_case.history.order_by("history_id")] == [
        member.user,
        member.user,
    ]


def test_hr_submits_an_exit_on_behalf_of_the_member(open_exit_for, member, hr_user):
    # given
    exit_case = open_exit_for(member, actor=hr_user)
    # when
    workflow.submit(exit_case, actor=hr_user)
    # then
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.PENDING_APPROVAL
    assert exit_case.requested_by == hr_user
    assert latest_history(exit_case).history_user == hr_user


def test_the_manager_then_hr_approve_through_the_default_chain(
    open_exit_for, member, manager, hr_user
):
    # given
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    # when the direct manager approves the first step
    workflow.approve(exit_case, actor=manager.user, comment="同意，做好交接")
    # then the exit waits for HR, and the manager's decision is on the step
    first, second = refreshed(exit_case).approvals.order_by("position")
    assert refreshed(exit_case).state == ExitState.PENDING_APPROVAL
    assert (first.decision, first.decided_by, first.comment) == (
        Decision.APPROVED,
        manager.user,
        "同意，做好交接",
    )
    assert first.decided_at is not None
    assert second.decision == Decision.PENDING
    # when HR approves the last step
    workflow.approve(exit_case, actor=hr_user)
    # then the exit moves to handover, by HR's hand
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.HANDOVER
    assert list(exit_case.approvals.values_list("decision", flat=True)) == [Decision.APPROVED] * 2
    assert history_reasons(exit_case) == ["open", "submit", "approve"]
    assert latest_history(exit_case).history_user == hr_user


@pytest.fixture
def head_of_sales(enterprise):
    """Head of 营销中心, the department above the member's team."""
    centre = factories.DepartmentFactory(enterprise=enterprise, name="营销中心")
    head = factories.MemberFactory(enterprise=enterprise, department=centre, name="钱总监")
    centre.head = head
    centre.save()
    return head


@pytest.fixture
def chain_with_department_head(enterprise):
    for position, approver in enumerate(
        [ApproverKind.DEPARTMENT_HEAD, ApproverKind.DIRECT_MANAGER, ApproverKind.HR], start=1
    ):
        ApprovalChainStep.objects.create(
            enterprise=enterprise, position=position, approver=approver
        )


def test_a_configured_chain_asks_the_nearest_department_head_first(
    enterprise, head_of_sales, chain_with_department_head, open_exit_for, hr_user
):
    # given a member of a team (no head of its own) inside the head's centre
    team = factories.DepartmentFactory(
        enterprise=enterprise, parent=head_of_sales.department, name="华东组"
    )
    team_manager = factories.MemberFactory(enterprise=enterprise, department=team, name="孙组长")
    leaver = factories.MemberFactory(
        enterprise=enterprise, department=team, manager=team_manager, name="周五"
    )
    exit_case = workflow.submit(open_exit_for(leaver), actor=leaver.user)
    steps = list(refreshed(exit_case).approvals.order_by("position"))
    assert [(s.approver, s.assignee) for s in steps] == [
        (ApproverKind.DEPARTMENT_HEAD, head_of_sales),
        (ApproverKind.DIRECT_MANAGER, team_manager),
        (ApproverKind.HR, None),
    ]
    # when each step approves in order
    workflow.approve(exit_case, actor=head_of_sales.user)
    assert refreshed(exit_case).state == ExitState.PENDING_APPROVAL
    workflow.approve(exit_case, actor=team_manager.user)
    assert refreshed(exit_case).state == ExitState.PENDING_APPROVAL
    workflow.approve(exit_case, actor=hr_user)
    # then
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.HANDOVER
    assert list(exit_case.approvals.values_list("decided_by", flat=True)) == [
        head_of_sales.user.pk,
        team_manager.user.pk,
        hr_user.pk,
    ]


def test_a_department_head_who_leaves_is_approved_one_level_up(
    enterprise, head_of_sales, chain_with_department_head, open_exit_for
):
    # given the head of a team leaves; their team sits in the head of sales' centre
    team = factories.DepartmentFactory(
        enterprise=enterprise, parent=head_of_sales.department, name="华南组"
    )
    team_head = factories.MemberFactory(enterprise=enterprise, department=team, name="吴组长")
    team.head = team_head
    team.save()
    # when
    exit_case = workflow.submit(open_exit_for(team_head), actor=team_head.user)
    # then
    first = refreshed(exit_case).approvals.get(position=1)
    assert first.assignee == head_of_sales


def test_the_department_head_step_is_not_decided_by_the_head_of_another_department(
    enterprise, head_of_sales, chain_with_department_head, open_exit_for, member
):
    # given the member's department has no head, and no department above it
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    # when the head of another department tries to approve
    with pytest.raises(ExitRefused) as refused:
        workflow.approve(exit_case, actor=head_of_sales.user)
    # then HR decides the step instead
    assert str(refused.value) == "You are not allowed to approve this exit."
    assert refreshed(exit_case).approvals.get(position=1).assignee is None


def test_a_step_whose_manager_has_left_since_is_decided_by_hr(
    open_exit_for, member, manager, hr_user
):
    # given the exit was submitted while 李经理 managed the member, and 李经理 has since left
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    directory_services.change_status(manager, actor=hr_user, status=MemberStatus.DEPARTED)
    # when HR approves both steps
    workflow.approve(exit_case, actor=hr_user)
    workflow.approve(exit_case, actor=hr_user)
    # then
    assert refreshed(exit_case).state == ExitState.HANDOVER


def test_the_current_approver_rejects_with_a_reason_the_member_reads(
    open_exit_for, member, manager
):
    # given
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    # when
    workflow.reject(exit_case, actor=manager.user, reason="  项目交付前不能离开  ")
    # then
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.REJECTED
    assert exit_case.rejection_reason == "项目交付前不能离开"
    first, second = exit_case.approvals.order_by("position")
    assert (first.decision, first.decided_by, first.comment) == (
        Decision.REJECTED,
        manager.user,
        "项目交付前不能离开",
    )
    assert second.decision == Decision.PENDING
    assert history_reasons(exit_case) == ["open", "submit", "reject"]
    assert latest_history(exit_case).history_user == manager.user
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE


def test_a_rejected_member_may_request_a_new_exit(exit_in_state, open_exit_for, member):
    # given
    rejected = exit_in_state(ExitState.REJECTED)
    # when
    again = open_exit_for(member)
    # then
    assert again.pk != rejected.pk
    assert again.state == ExitState.DRAFT


@pytest.mark.parametrize("state", [ExitState.DRAFT, ExitState.PENDING_APPROVAL, ExitState.HANDOVER])
@pytest.mark.parametrize("who", ["the member", "HR"])
def test_an_open_exit_is_cancelled_by_the_member_or_hr(request, exit_in_state, member, state, who):
    # given
    exit_case = exit_in_state(state)
    actor = ACTORS[who](request)
    # when
    workflow.cancel(exit_case, actor=actor)
    # then
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.CANCELLED
    assert latest_history(exit_case).history_change_reason == "cancel"
    assert latest_history(exit_case).history_user == actor
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE
    assert member.user.is_active


def test_hr_removes_a_member_straight_to_handover_without_approvals(open_exit_for, member, hr_user):
    # given a passive exit (「通讯录」-「删除成员」)
    exit_case = open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user)
    # when
    workflow.remove(exit_case, actor=hr_user)
    # then
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.HANDOVER
    assert not exit_case.approvals.exists()
    assert history_reasons(exit_case) == ["open", "remove"]
    assert latest_history(exit_case).history_user == hr_user


@pytest.mark.parametrize("who", ["HR", "IT"])
def test_hr_or_it_completes_an_exit_once_nothing_blocks_it(
    request, exit_in_handover, ready_to_complete, member, who
):
    # given
    exit_case = ready_to_complete(exit_in_handover(member))
    actor = ACTORS[who](request)
    # when
    workflow.complete(exit_case, actor=actor)
    # then
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.COMPLETED
    assert history_reasons(exit_case)[-1] == "complete"
    assert latest_history(exit_case).history_user == actor


def test_hr_undoes_a_completed_exit(completed_exit, member, hr_user):
    # given
    exit_case = completed_exit(member)
    # when
    workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)
    # then
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.REVERTED
    assert history_reasons(exit_case)[-2:] == ["complete", "undo"]
    assert latest_history(exit_case).history_user == hr_user


@pytest.mark.parametrize("who", ["HR", "the system"])
def test_a_completed_exit_is_closed_after_the_undo_window(request, completed_exit, member, who):
    # given
    exit_case = completed_exit(member)
    actor = ACTORS[who](request)
    # when
    with time_machine.travel(exit_case.undo_deadline, tick=False):
        workflow.close(exit_case, actor=actor)
    # then
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.CLOSED
    assert exit_case.closed_at == exit_case.undo_deadline
    assert history_reasons(exit_case)[-1] == "close"
    assert latest_history(exit_case).history_user == actor


def test_the_buttons_offered_are_the_transitions_each_person_may_run(
    open_exit_for, member, manager, hr_user, it_user
):
    # given a member's own request, and a removal HR started
    own_request = open_exit_for(member)
    removal = open_exit_for(manager, kind=ExitKind.PASSIVE, actor=hr_user)
    # then
    assert set(workflow.available_transitions(own_request, member.user)) == {
        Transition.SUBMIT,
        Transition.CANCEL,
    }
    assert {Transition.SUBMIT, Transition.CANCEL} <= set(
        workflow.available_transitions(own_request, hr_user)
    )
    assert Transition.REMOVE in workflow.available_transitions(removal, hr_user)
    assert workflow.available_transitions(own_request, it_user) == []
    assert workflow.available_transitions(own_request, manager.user) == []


def test_a_voluntary_request_cannot_skip_its_approval_chain_through_remove(
    open_exit_for, member, hr_user
):
    # given the member's own request
    exit_case = open_exit_for(member, kind=ExitKind.VOLUNTARY)
    # then HR is not offered, and may not use, the passive removal's shortcut
    assert Transition.REMOVE not in workflow.available_transitions(exit_case, hr_user)
    with pytest.raises(ExitRefused):
        workflow.remove(exit_case, actor=hr_user)
    assert refreshed(exit_case).state == ExitState.DRAFT


# --- every forbidden transition: the wrong state ------------------------------------------------

WRONG_STATE = [
    pytest.param(state, transition, id=f"{transition.value}-from-{state.value}")
    for state in ExitState
    for transition in Transition
    if state not in ALLOWED_FROM[transition]
]


def test_the_table_of_transitions_covers_every_state_and_transition():
    assert len(WRONG_STATE) + sum(len(states) for states in ALLOWED_FROM.values()) == 8 * 8


@pytest.mark.parametrize("state, transition", WRONG_STATE)
def test_a_transition_from_the_wrong_state_is_refused_and_changes_nothing(
    exit_set_to_state, hr_user, state, transition
):
    # given
    exit_case = exit_set_to_state(state)
    before = snapshot(exit_case)
    # when
    with pytest.raises(ExitRefused) as refused:
        run(transition, exit_case, actor=hr_user)
    # then
    assert str(refused.value) == (
        f"This exit is {state.label}: it cannot be {PAST[transition]} now."
    )
    assert snapshot(exit_case) == before


# --- every forbidden transition: the wrong person -----------------------------------------------


def refused_to(people, transition, state, message):
    return [
        pytest.param(
            transition,
            state,
            who,
            message,
            id=f"{transition.value}-from-{state.value}-by-{who.replace(' ', '-')}",
        )
        for who in people
    ]


NOT_ALLOWED = "You are not allowed to {} this exit."
ONLY_A_PERSON = "Only a person can {} an exit."
STAFF_ELSEWHERE_AND_BYSTANDERS = ["their manager", "a stranger", "IT", "HR of another enterprise"]

WRONG_ACTOR = [
    *refused_to(
        STAFF_ELSEWHERE_AND_BYSTANDERS,
        Transition.SUBMIT,
        ExitState.DRAFT,
        NOT_ALLOWED.format("submit"),
    ),
    *refused_to(["the system"], Transition.SUBMIT, ExitState.DRAFT, ONLY_A_PERSON.format("submit")),
    *refused_to(
        [
            "the member",
            "a stranger",
            "a manager of another department",
            "HR",  # the direct manager's step is theirs while they are active
            "IT",
            "HR of another enterprise",
        ],
        Transition.APPROVE,
        ExitState.PENDING_APPROVAL,
        NOT_ALLOWED.format("approve"),
    ),
    *refused_to(
        ["the system"],
        Transition.APPROVE,
        ExitState.PENDING_APPROVAL,
        ONLY_A_PERSON.format("approve"),
    ),
    *refused_to(
        ["the member", "a stranger", "a manager of another department", "HR", "IT"],
        Transition.REJECT,
        ExitState.PENDING_APPROVAL,
        NOT_ALLOWED.format("reject"),
    ),
    *refused_to(
        ["the system"],
        Transition.REJECT,
        ExitState.PENDING_APPROVAL,
        ONLY_A_PERSON.format("reject"),
    ),
    *[
        case
        for state in [ExitState.DRAFT, ExitState.PENDING_APPROVAL, ExitState.HANDOVER]
        for case in refused_to(
            STAFF_ELSEWHERE_AND_BYSTANDERS, Transition.CANCEL, state, NOT_ALLOWED.format("cancel")
        )
    ],
    *refused_to(
        ["the system"], Transition.CANCEL, ExitState.HANDOVER, ONLY_A_PERSON.format("cancel")
    ),
    *refused_to(
        ["the member", "their manager", "a stranger", "HR of another enterprise"],
        Transition.COMPLETE,
        ExitState.HANDOVER,
        NOT_ALLOWED.format("complete"),
    ),
    *refused_to(
        ["the system"], Transition.COMPLETE, ExitState.HANDOVER, ONLY_A_PERSON.format("complete")
    ),
    *refused_to(
        [
            "the member",
            "their manager",
            "IT",
            "HR without the permission",
            "HR of another enterprise",
        ],
        Transition.UNDO,
        ExitState.COMPLETED,
        NOT_ALLOWED.format("undo"),
    ),
    # The system has no password to confirm with: refused before anything else is looked at.
    *refused_to(["the system"], Transition.UNDO, ExitState.COMPLETED, ONLY_A_PERSON.format("undo")),
    *refused_to(
        ["the member", "their manager", "IT", "HR of another enterprise"],
        Transition.CLOSE,
        ExitState.COMPLETED,
        NOT_ALLOWED.format("close"),
    ),
]


@pytest.mark.parametrize("transition, state, who, message", WRONG_ACTOR)
def test_a_transition_by_the_wrong_person_is_refused_and_changes_nothing(
    request, exit_set_to_state, ready_to_complete, transition, state, who, message
):
    # given
    exit_case = exit_set_to_state(state)
    if transition == Transition.COMPLETE:
        exit_case = ready_to_complete(exit_case)
    actor = ACTORS[who](request)
    before = snapshot(exit_case)
    # when
    with pytest.raises(ExitRefused) as refused:
        run(transition, exit_case, actor=actor)
    # then
    assert str(refused.value) == message
    assert snapshot(exit_case) == before


@pytest.mark.parametrize(
    "who",
    ["the member", "their manager", "IT", "HR without the permission", "HR of another enterprise"],
)
def test_removing_a_member_without_the_permission_is_refused(
    request, open_exit_for, member, hr_user, who
):
    # given
    exit_case = open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user)
    before = snapshot(exit_case)
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.remove(exit_case, actor=ACTORS[who](request))
    # then
    assert str(refused.value).startswith("You are not allowed to remove")
    assert snapshot(exit_case) == before


def test_the_system_cannot_remove_a_member(open_exit_for, member, hr_user):
    exit_case = open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user)
    with pytest.raises(ExitRefused) as refused:
        workflow.remove(exit_case, actor=None)
    assert str(refused.value).startswith("Only a person can remove")
    assert refreshed(exit_case).state == ExitState.DRAFT


def test_refusing_to_remove_a_member_says_so_in_a_proper_sentence(
    open_exit_for, member, it_user, hr_user
):
    exit_case = open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user)
    messages = []
    for actor in (it_user, None):
        with pytest.raises(ExitRefused) as refused:
            workflow.remove(exit_case, actor=actor)
        messages.append(str(refused.value))
    assert not any("remove member this" in m or "remove member an" in m for m in messages)


# --- pre-review: blockers of completion (X-6) ---------------------------------------------------

OWNED = [
    pytest.param(
        factories.ExternalContactFactory,
        "Still owns 1 external contact: hand it over to a successor.",
        id="external-contact",
    ),
    pytest.param(
        factories.CustomerGroupFactory,
        "Still owns 1 customer group: hand it over, or its chat is restricted.",
        id="customer-group",
    ),
    pytest.param(
        factories.AppAuthorizationFactory,
        "Still holds 1 self-built app authorization: transfer or rebind it.",
        id="app-authorization",
    ),
    pytest.param(
        factories.ThirdPartyBindingFactory,
        "Still holds 1 third-party app binding (CRM…): re-authorize it.",
        id="third-party-binding",
    ),
    pytest.param(
        factories.ApprovalTemplateFactory,
        "Still owns 1 approval template: transfer it, or approvals using it break.",
        id="approval-template",
    ),
    pytest.param(
        factories.SharedCalendarFactory,
        "Still owns 1 shared calendar: transfer or clean it up.",
        id="shared-calendar",
    ),
]


def test_the_table_of_blockers_covers_every_owned_resource():
    assert [case.values[0] for case in OWNED] == list(factories.OWNED_RESOURCE_FACTORIES)


@pytest.mark.parametrize("factory, message", OWNED)
def test_a_resource_still_owned_blocks_completion_until_handed_over(
    exit_in_handover, ready_to_complete, member, manager, hr_user, factory, message
):
    # given everything is signed, but the member still owns one resource
    resource = factory(owner=member)
    exit_case = ready_to_complete(exit_in_handover(member))
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.complete(exit_case, actor=hr_user)
    # then
    assert str(refused.value) == message
    assert refreshed(exit_case).state == ExitState.HANDOVER
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE
    # when it is handed over to the manager, the exit completes
    resource.owner = manager
    resource.save()
    workflow.complete(exit_case, actor=hr_user)
    assert refreshed(exit_case).state == ExitState.COMPLETED


def test_the_blocker_counts_every_resource_of_a_type(
    exit_in_handover, ready_to_complete, member, hr_user
):
    factories.ExternalContactFactory.create_batch(2, owner=member)
    exit_case = ready_to_complete(exit_in_handover(member))
    with pytest.raises(ExitRefused) as refused:
        workflow.complete(exit_case, actor=hr_user)
    assert str(refused.value) == (
        "Still owns 2 external contacts: hand them over to a successor."
    )


def test_resources_owned_do_not_stop_the_request_only_its_completion(open_exit_for, member):
    # given
    factories.ExternalContactFactory(owner=member)
    # when
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    # then
    assert refreshed(exit_case).state == ExitState.PENDING_APPROVAL


def test_an_admin_must_hand_admin_rights_over_before_completing(
    exit_in_handover, ready_to_complete, member, hr_user
):
    # given
    directory_services.change_role(member, actor=hr_user, role=MemberRole.ADMIN)
    exit_case = ready_to_complete(exit_in_handover(member, kind=ExitKind.VOLUNTARY_ADMIN))
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.complete(exit_case, actor=hr_user)
    # then
    assert str(refused.value) == "张三 still holds the admin role: hand admin rights over first."
    # when the role is handed back, it completes
    directory_services.change_role(member, actor=hr_user, role=MemberRole.MEMBER)
    workflow.complete(exit_case, actor=hr_user)
    assert refreshed(exit_case).state == ExitState.COMPLETED


def test_the_backup_admin_must_be_replaced_before_completing(
    exit_in_handover, ready_to_complete, member, hr_user
):
    # given
    directory_services.update_member(member, actor=hr_user, is_backup_admin=True)
    exit_case = ready_to_complete(exit_in_handover(member))
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.complete(exit_case, actor=hr_user)
    # then
    assert str(refused.value) == (
        "张三 is the backup admin: the super admin names another backup admin, or withdraws the "
        "designation, on their “Backup admin” page first."
    )
    directory_services.update_member(member, actor=hr_user, is_backup_admin=False)
    workflow.complete(exit_case, actor=hr_user)
    assert refreshed(exit_case).state == ExitState.COMPLETED


def test_a_super_admin_cannot_complete_before_the_handover(
    super_admin, exit_in_handover, ready_to_complete, hr_user
):
    # given
    exit_case = ready_to_complete(exit_in_handover(super_admin, kind=ExitKind.VOLUNTARY_ADMIN))
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.complete(exit_case, actor=hr_user)
    # then
    assert str(refused.value) == (
        "王总 is the super admin: a new super admin must be named and confirmed "
        "before this exit can complete or 王总 can be removed. 王总 names them "
        "on their “Super admin handover” page."
    )
    super_admin.refresh_from_db()
    assert super_admin.is_active_super_admin


def test_unsigned_checklist_items_block_completion_and_are_each_named(
    exit_in_handover, member, hr_user, it_user
):
    # given both reviews are signed, but no checklist item
    exit_case = exit_in_handover(member)
    services.sign_off_review(exit_case, actor=hr_user, team=Team.HR)
    services.sign_off_review(exit_case, actor=it_user, team=Team.IT)
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.complete(exit_case, actor=hr_user)
    # then
    assert str(refused.value) == " ".join(
        [
            "Checklist: “Work files handed over” is not signed off by HR yet.",
            "Checklist: “Attendance (clock-in) records archived” is not signed off by HR yet.",
            "Checklist: “Expense claims closed” is not signed off by HR yet.",
            "Checklist: “Chat records put under retention” is not signed off by IT yet.",
            "Checklist: “Account access revoked” is not signed off by IT yet.",
        ]
    )


def test_missing_hr_and_it_reviews_block_completion(exit_in_handover, member, hr_user, it_user):
    # given every item is signed, but neither review
    exit_case = exit_in_handover(member)
    staff = {Team.HR: hr_user, Team.IT: it_user}
    for item in exit_case.checklist.filter(auto_check=""):
        services.sign_off_item(item, actor=staff[item.team])
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.complete(exit_case, actor=hr_user)
    # then
    assert str(refused.value) == (
        "HR has not signed off the exit review yet. IT has not signed off the exit review yet."
    )
    # when HR signs, only IT's review is missing
    services.sign_off_review(exit_case, actor=hr_user, team=Team.HR)
    with pytest.raises(ExitRefused) as refused:
        workflow.complete(exit_case, actor=hr_user)
    assert str(refused.value) == "IT has not signed off the exit review yet."


def test_the_refusal_of_complete_lists_every_blocker_the_pre_review_shows(
    exit_in_handover, ready_to_complete, member, hr_user
):
    # given several blockers at once
    directory_services.update_member(member, actor=hr_user, is_backup_admin=True)
    factories.ExternalContactFactory(owner=member)
    factories.SharedCalendarFactory(owner=member)
    exit_case = exit_in_handover(member)
    shown = [blocker.message for blocker in prereview.blockers_for(exit_case, prereview.COMPLETE)]
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.complete(exit_case, actor=hr_user)
    # then the refusal says exactly what the page said, in the order a person fixes them
    assert str(refused.value) == " ".join(shown)
    assert shown[:3] == [
        "Still owns 1 external contact: hand it over to a successor.",
        "Still owns 1 shared calendar: transfer or clean it up.",
        "张三 is the backup admin: the super admin names another backup admin, or withdraws the "
        "designation, on their “Backup admin” page first.",
    ]
    assert shown[-2:] == [
        "HR has not signed off the exit review yet.",
        "IT has not signed off the exit review yet.",
    ]
    assert len(shown) == 3 + 5 + 2


def test_once_every_blocker_is_cleared_the_exit_completes(
    exit_in_handover, ready_to_complete, member, manager, hr_user
):
    # given
    directory_services.update_member(member, actor=hr_user, is_backup_admin=True)
    contact = factories.ExternalContactFactory(owner=member)
    exit_case = exit_in_handover(member)
    # when every blocker is cleared
    contact.owner = manager
    contact.save()
    directory_services.update_member(member, actor=hr_user, is_backup_admin=False)
    exit_case = ready_to_complete(exit_case)
    assert prereview.blockers_for(exit_case, prereview.COMPLETE) == []
    workflow.complete(exit_case, actor=hr_user)
    # then
    assert refreshed(exit_case).state == ExitState.COMPLETED


# --- completion (X-7) ---------------------------------------------------------------------------


def test_completing_an_exit_makes_the_member_departed_and_their_login_inactive(
    exit_in_handover, ready_to_complete, member, it_user
):
    # given
    exit_case = ready_to_complete(exit_in_handover(member))
    # when
    workflow.complete(exit_case, actor=it_user)
    # then
    member = Member.objects.select_related("user").get(pk=member.pk)
    assert member.status == MemberStatus.DEPARTED
    assert member.user.is_active is False
    assert member.history.order_by("-history_id").first().history_user == it_user


def test_completing_an_exit_logs_the_member_out_everywhere(
    client, exit_in_handover, ready_to_complete, member, hr_user
):
    # given the member is logged in
    # (django-axes, first of the backends, needs a request in authenticate())
    assert client.login(request=HttpRequest(), username="zhangsan", password=factories.PASSWORD)
    session_key = client.session.session_key
    assert client.session[SESSION_KEY] == str(member.user.pk)
    assert LoginSession.objects.filter(user=member.user, session_key=session_key).exists()
    exit_case = ready_to_complete(exit_in_handover(member))
    # when
    workflow.complete(exit_case, actor=hr_user)
    # then the session is gone, and the next page asks them to log in
    assert not LoginSession.objects.filter(user=member.user).exists()
    assert not Session.objects.filter(session_key=session_key).exists()
    response = client.get("/accounts/password_change/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_completing_an_exit_keeps_the_enterprise_data(
    exit_in_handover, ready_to_complete, member, manager, hr_user
):
    # given a customer handed over to the manager during handover
    contact = factories.ExternalContactFactory(owner=member, name="客户王先生")
    exit_case = exit_in_handover(member)
    contact.owner = manager
    contact.save()
    exit_case = ready_to_complete(exit_case)
    # when
    workflow.complete(exit_case, actor=hr_user)
    # then
    assert ExternalContact.objects.get(pk=contact.pk).owner == manager
    assert ChecklistItem.objects.filter(exit_case=exit_case).count() == 12
    assert ExitApproval.objects.filter(exit_case=exit_case).count() == 2
    assert Member.objects.filter(pk=member.pk).exists()


def test_the_undo_deadline_is_the_enterprise_undo_window_after_completion(
    enterprise, exit_in_handover, ready_to_complete, member, hr_user
):
    # given an enterprise with a 2-hour undo window
    enterprise.undo_window = timedelta(hours=2)
    enterprise.save()
    exit_case = ready_to_complete(exit_in_handover(member))
    # when
    with time_machine.travel(datetime(2026, 3, 2, 1, 0, tzinfo=UTC), tick=False):
        workflow.complete(exit_case, actor=hr_user)
    # then
    exit_case = refreshed(exit_case)
    assert exit_case.completed_at == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert exit_case.undo_deadline == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


# --- undo and close (X-8, J-2) ------------------------------------------------------------------

COMPLETED_AT = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
DEADLINE = COMPLETED_AT + timedelta(hours=2)  # 10:00 in Shanghai


@pytest.fixture
def completed_at_eight(enterprise, exit_in_handover, ready_to_complete, member, hr_user):
    """The member's exit, completed at 08:00 Shanghai time with a 2-hour undo window."""
    enterprise.undo_window = timedelta(hours=2)
    enterprise.save()
    exit_case = ready_to_complete(exit_in_handover(member))
    with time_machine.travel(COMPLETED_AT, tick=False):
        return workflow.complete(exit_case, actor=hr_user)


def test_undo_within_the_window_restores_the_member_exactly(
    exit_in_handover, ready_to_complete, member, hr_user
):
    # given
    exit_case = ready_to_complete(exit_in_handover(member))
    before = snapshot(exit_case)
    workflow.complete(exit_case, actor=hr_user)
    assert snapshot(exit_case)["member"][0] == MemberStatus.DEPARTED
    # when
    workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)
    # then
    after = snapshot(exit_case)
    assert after["state"] == ExitState.REVERTED
    assert after["member"] == before["member"] == (MemberStatus.ACTIVE, MemberRole.MEMBER, False)
    assert after["user_is_active"] is before["user_is_active"] is True
    latest = Member.objects.get(pk=member.pk).history.order_by("-history_date", "-history_id")[0]
    assert latest.history_user == hr_user


def test_undo_restores_a_login_that_was_already_inactive_as_inactive(
    exit_in_handover, ready_to_complete, member, hr_user
):
    # given the member's login had been switched off before the exit completed
    exit_case = ready_to_complete(exit_in_handover(member))
    member.user.is_active = False
    member.user.save()
    workflow.complete(exit_case, actor=hr_user)
    # when
    workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)
    # then
    member = Member.objects.select_related("user").get(pk=member.pk)
    assert member.status == MemberStatus.ACTIVE
    assert member.user.is_active is False


def test_undo_with_a_wrong_password_is_refused(completed_exit, member, hr_user):
    # given
    exit_case = completed_exit(member)
    before = snapshot(exit_case)
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.undo(exit_case, actor=hr_user, password="not-my-password")
    # then
    assert str(refused.value) == WRONG_PASSWORD_MESSAGE
    assert snapshot(exit_case) == before
    assert before["member"][0] == MemberStatus.DEPARTED


def test_undo_one_minute_before_the_deadline_works(completed_at_eight, hr_user):
    # when
    with time_machine.travel(DEADLINE - timedelta(minutes=1), tick=False):
        workflow.undo(completed_at_eight, actor=hr_user, password=factories.PASSWORD)
    # then
    assert refreshed(completed_at_eight).state == ExitState.REVERTED


def test_undo_after_the_window_is_refused(completed_at_eight, hr_user):
    # given
    before = snapshot(completed_at_eight)
    # when
    with (
        time_machine.travel(DEADLINE + timedelta(minutes=1), tick=False),
        pytest.raises(ExitRefused) as refused,
    ):
        workflow.undo(completed_at_eight, actor=hr_user, password=factories.PASSWORD)
    # then the deadline is shown in the enterprise's time zone
    assert str(refused.value) == (
        "The undo window ended at 2026-03-02 10:00 (Asia/Shanghai): "
        "this exit can no longer be undone."
    )
    assert snapshot(completed_at_eight) == before


def test_undo_exactly_at_the_deadline_is_refused(completed_at_eight, hr_user):
    with time_machine.travel(DEADLINE, tick=False), pytest.raises(ExitRefused):
        workflow.undo(completed_at_eight, actor=hr_user, password=factories.PASSWORD)


def test_close_before_the_window_ends_is_refused(completed_at_eight):
    # given
    before = snapshot(completed_at_eight)
    # when
    with (
        time_machine.travel(DEADLINE - timedelta(minutes=1), tick=False),
        pytest.raises(ExitRefused) as refused,
    ):
        workflow.close(completed_at_eight, actor=None)
    # then
    assert str(refused.value) == (
        "The undo window is open until 2026-03-02 10:00 (Asia/Shanghai): "
        "the exit can be closed after that."
    )
    assert snapshot(completed_at_eight) == before


def test_hr_closing_before_the_window_ends_is_told_the_deadline(completed_at_eight, hr_user):
    # given HR, who may close exits
    before = snapshot(completed_at_eight)
    # when HR closes it a minute early
    with (
        time_machine.travel(DEADLINE - timedelta(minutes=1), tick=False),
        pytest.raises(ExitRefused) as refused,
    ):
        workflow.close(completed_at_eight, actor=hr_user)
    # then the refusal names the deadline in the enterprise's time zone, not a lack of permission
    assert str(refused.value) == (
        "The undo window is open until 2026-03-02 10:00 (Asia/Shanghai): "
        "the exit can be closed after that."
    )
    assert snapshot(completed_at_eight) == before


def test_closing_by_someone_who_may_not_is_still_refused_as_not_allowed(
    completed_at_eight, it_user
):
    with (
        time_machine.travel(DEADLINE + timedelta(minutes=1), tick=False),
        pytest.raises(ExitRefused) as refused,
    ):
        workflow.close(completed_at_eight, actor=it_user)
    assert str(refused.value) == "You are not allowed to close this exit."
    assert refreshed(completed_at_eight).state == ExitState.COMPLETED


def test_close_one_minute_after_the_window_closes_the_exit_for_good(
    completed_at_eight, member, hr_user
):
    # when
    with time_machine.travel(DEADLINE + timedelta(minutes=1), tick=False):
        assert list(Exit.objects.past_undo_window(DEADLINE + timedelta(minutes=1))) == [
            completed_at_eight
        ]
        workflow.close(completed_at_eight, actor=None)
    # then
    exit_case = refreshed(completed_at_eight)
    assert exit_case.state == ExitState.CLOSED
    assert exit_case.closed_at == DEADLINE + timedelta(minutes=1)
    assert latest_history(exit_case).history_change_reason == "close"
    assert latest_history(exit_case).history_user is None
    member.refresh_from_db()
    assert member.status == MemberStatus.DEPARTED
    # and it can no longer be undone
    with pytest.raises(ExitRefused) as refused:
        workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)
    assert str(refused.value) == "This exit is Closed: it cannot be undone now."


# --- bad input (S-4) ----------------------------------------------------------------------------

# 2026-03-01 23:30 in Shanghai is still 15:30 UTC; 00:30 the next day is 16:30 UTC.
SHANGHAI_LATE_EVENING = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
SHANGHAI_JUST_AFTER_MIDNIGHT = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)


def test_a_voluntary_exit_ending_yesterday_in_shanghai_is_refused_and_nothing_is_written(
    open_exit_for, member
):
    # given it is 00:30 on March 2 in Shanghai (still March 1 in UTC)
    with time_machine.travel(SHANGHAI_JUST_AFTER_MIDNIGHT, tick=False):
        # when the member asks to leave on March 1
        with pytest.raises(ExitRefused) as refused:
            open_exit_for(member, kind=ExitKind.VOLUNTARY, last_working_day=date(2026, 3, 1))
    # then
    assert str(refused.value) == "The last working day cannot be in the past."
    assert not Exit.objects.exists()
    assert not Exit.history.exists()
    assert not ChecklistItem.objects.exists()


def test_a_voluntary_exit_ending_today_in_shanghai_is_accepted_late_in_the_evening(
    open_exit_for, member
):
    with time_machine.travel(SHANGHAI_LATE_EVENING, tick=False):
        exit_case = open_exit_for(
            member, kind=ExitKind.VOLUNTARY, last_working_day=date(2026, 3, 1)
        )
    assert exit_case.state == ExitState.DRAFT
    assert exit_case.checklist.count() == 12


def test_a_passive_exit_may_have_a_last_working_day_in_the_past(open_exit_for, member, hr_user):
    # given
    with time_machine.travel(SHANGHAI_JUST_AFTER_MIDNIGHT, tick=False):
        # when
        exit_case = open_exit_for(
            member, kind=ExitKind.PASSIVE, last_working_day=date(2026, 2, 20), actor=hr_user
        )
        workflow.remove(exit_case, actor=hr_user)
    # then
    assert refreshed(exit_case).state == ExitState.HANDOVER
    assert history_reasons(exit_case) == ["open", "remove"]


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_rejection_without_a_reason_is_refused_and_the_step_still_waits(
    open_exit_for, member, manager, reason
):
    # given
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    before = snapshot(exit_case)
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.reject(exit_case, actor=manager.user, reason=reason)
    # then
    assert str(refused.value) == "Say why the exit is rejected: the member will read it."
    assert snapshot(exit_case) == before
    assert before["decisions"] == [Decision.PENDING, Decision.PENDING]
    assert refreshed(exit_case).approvals.get(position=1).decided_by is None


def test_submitting_twice_is_refused_the_second_time(open_exit_for, member):
    # given
    exit_case = open_exit_for(member)
    workflow.submit(exit_case, actor=member.user)
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.submit(exit_case, actor=member.user)
    # then
    assert "cannot be submitted now" in str(refused.value)
    assert str(refused.value) == "This exit is Pending approval: it cannot be submitted now."
    assert history_reasons(exit_case).count("submit") == 1
    assert refreshed(exit_case).approvals.count() == 2


def test_a_second_exit_for_a_member_with_one_in_progress_is_refused(open_exit_for, member):
    # given
    first = open_exit_for(member)
    # when
    with pytest.raises(ExitRefused) as refused:
        open_exit_for(member)
    # then
    assert str(refused.value) == "张三 already has an exit in progress."
    assert list(Exit.objects.filter(member=member)) == [first]


def test_a_second_exit_is_refused_while_a_completed_one_can_still_be_undone(
    completed_exit, open_exit_for, member, hr_user
):
    completed_exit(member)
    directory_services.change_status(member, actor=hr_user, status=MemberStatus.ACTIVE)
    with pytest.raises(ExitRefused) as refused:
        open_exit_for(
            member,
            kind=ExitKind.PASSIVE,
            last_working_day=services.local_today(member.enterprise),
            actor=hr_user,
        )
    assert str(refused.value) == "张三 already has an exit in progress."


def test_an_exit_for_a_departed_member_is_refused(completed_exit, member, open_exit_for):
    completed_exit(member)
    member.refresh_from_db()
    with pytest.raises(ExitRefused) as refused:
        open_exit_for(member)
    assert (
        str(refused.value) == "张三 is Departed: only an active member can leave through an exit."
    )


def test_a_successor_from_another_enterprise_is_refused(open_exit_for, member):
    # given
    outsider = factories.MemberFactory(name="外人")
    # when
    with pytest.raises(ExitRefused) as refused:
        open_exit_for(member, successor=outsider)
    # then
    assert str(refused.value) == "The successor belongs to another enterprise."
    assert not Exit.objects.exists()


def test_a_member_cannot_succeed_themselves(open_exit_for, member):
    with pytest.raises(ExitRefused) as refused:
        open_exit_for(member, successor=member)
    assert str(refused.value) == "A member cannot succeed themselves."


def test_an_inactive_successor_is_refused(open_exit_for, member, stranger, hr_user):
    frozen = directory_services.change_status(stranger, actor=hr_user, status=MemberStatus.FROZEN)
    with pytest.raises(ExitRefused) as refused:
        open_exit_for(member, successor=frozen)
    assert str(refused.value) == "The successor must be an active member."


def test_a_member_frozen_since_the_draft_cannot_submit_it(open_exit_for, member, hr_user):
    # given the member's account was frozen (H-3) after the draft was opened
    exit_case = open_exit_for(member)
    directory_services.change_status(member, actor=hr_user, status=MemberStatus.FROZEN)
    # when
    with pytest.raises(ExitRefused) as refused:
        workflow.submit(exit_case, actor=hr_user)
    # then
    assert str(refused.value) == (
        "张三 is Frozen: only an active member can leave through an exit."
    )
    assert refreshed(exit_case).state == ExitState.DRAFT
    assert not exit_case.approvals.exists()


def test_the_checklist_cannot_be_signed_once_the_exit_is_completed(completed_exit, member, hr_user):
    exit_case = completed_exit(member)
    with pytest.raises(ExitRefused) as refused:
        services.sign_off_review(exit_case, actor=hr_user, team=Team.HR)
    assert str(refused.value) == "This exit is Completed: its checklist can no longer be signed."


def test_it_cannot_sign_off_an_hr_item(open_exit_for, member, it_user):
    item = open_exit_for(member).checklist.get(code="work_files")
    with pytest.raises(ExitRefused) as refused:
        services.sign_off_item(item, actor=it_user)
    assert str(refused.value) == (
        "Only HR staff of this enterprise can sign off “Work files handed over”."
    )
    item.refresh_from_db()
    assert item.signed_off_at is None


def test_the_system_cannot_sign_off_a_checklist_item_or_a_review(open_exit_for, member):
    exit_case = open_exit_for(member)
    item = exit_case.checklist.get(code="work_files")
    with pytest.raises(ExitRefused):
        services.sign_off_item(item, actor=None)
    with pytest.raises(ExitRefused):
        services.sign_off_review(exit_case, actor=None, team=Team.HR)


# --- invariants in the database -----------------------------------------------------------------


def test_two_open_exits_for_one_member_are_refused_by_the_database(enterprise, member):
    # given an open exit written past the services
    fields = {
        "enterprise": enterprise,
        "member": member,
        "kind": ExitKind.PASSIVE,
        "last_working_day": date(2026, 3, 1),
    }
    Exit.objects.create(**fields)
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        Exit.objects.create(**fields)
    assert Exit.objects.filter(member=member).count() == 1


def test_a_closed_exit_does_not_count_as_open_for_the_database(exit_in_state, member, enterprise):
    exit_in_state(ExitState.CLOSED)
    Exit.objects.create(
        enterprise=enterprise,
        member=member,
        kind=ExitKind.PASSIVE,
        last_working_day=date(2026, 3, 1),
    )
    assert Exit.objects.filter(member=member).count() == 2


def test_a_member_succeeding_themselves_is_refused_by_the_database(enterprise, member):
    with pytest.raises(IntegrityError), transaction.atomic():
        Exit.objects.create(
            enterprise=enterprise,
            member=member,
            successor=member,
            kind=ExitKind.PASSIVE,
            last_working_day=date(2026, 3, 1),
        )


def test_deciding_a_step_someone_decided_meanwhile_names_who_did(
    open_exit_for, enterprise, hr_user
):
    # given a member without a manager: HR decides both steps; two HR staff open step 1
    colleague = factories.StaffFactory(
        username="hr-colleague", enterprise=enterprise, role=StaffRole.HR
    )
    leaver = factories.MemberFactory(enterprise=enterprise, name="孤立")
    exit_case = workflow.submit(open_exit_for(leaver), actor=leaver.user)
    workflow.approve(exit_case, actor=hr_user, step=1)
    # when the colleague approves the step 1 their page still shows
    with pytest.raises(ExitRefused) as refused:
        workflow.approve(exit_case, actor=colleague, step=1)
    # then they are told, and step 2 is still waiting
    assert str(refused.value) == "This step was already decided by hr."
    decisions = list(exit_case.approvals.order_by("position").values_list("decision", flat=True))
    assert decisions == [Decision.APPROVED, Decision.PENDING]


@pytest.mark.parametrize(
    ("who", "kind"),
    [
        ("a colleague", ExitKind.VOLUNTARY),
        ("the member", ExitKind.PASSIVE),
        ("the member", ExitKind.HR_SYNC),
        ("the system", ExitKind.VOLUNTARY),
        ("the system", ExitKind.PASSIVE),
    ],
)
def test_opening_an_exit_is_refused_to_whoever_may_not(
    open_exit_for, enterprise, member, who, kind
):
    # given
    actor = {
        "a colleague": factories.MemberFactory(enterprise=enterprise).user,
        "the member": member.user,
        "the system": None,
    }[who]
    # when
    with pytest.raises(ExitRefused) as refused:
        open_exit_for(
            member,
            kind=kind,
            last_working_day=services.local_today(enterprise) + timedelta(days=7),
            actor=actor,
        )
    # then
    assert str(refused.value) == (
        f"You are not allowed to open this kind of exit for {member.name}."
    )
    assert not Exit.objects.filter(member=member).exists()


def test_the_hr_system_opens_an_exit_without_a_person(open_exit_for, enterprise, member):
    exit_case = open_exit_for(
        member,
        kind=ExitKind.HR_SYNC,
        last_working_day=services.local_today(enterprise),
        actor=None,
    )
    assert exit_case.state == ExitState.DRAFT
    assert exit_case.requested_by is None
