"""Fixtures of the exit workflow's tests: the people around an exit, and exits in every state.

Tests build their exits with the fixtures of tests/conftest.py (`open_exit_for`,
`exit_in_handover`, `completed_exit`…) and the ones here (`exit_in_state`, `exit_set_to_state`).
Exits are opened through `offboarding.services.open_exit` (it copies
the checklist) and moved only through the workflow's doors, so every exit a test starts from is one
a person could have reached. The one exception, `exit_set_to_state`, writes the state directly, for
the tables of refusals only.
"""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from directory.choices import MemberStatus, StaffRole
from directory.models import Member
from offboarding import workflow
from offboarding.choices import (
    DEFAULT_APPROVAL_CHAIN,
    ApproverKind,
    Decision,
    ExitState,
    Team,
)
from offboarding.models import Exit, ExitApproval
from tests import factories
from tests.conftest import refreshed  # noqa: F401  (tests import it from here too)

REJECTION_REASON = "项目未交接"  # why the manager rejects, in the exits built here


def history_reasons(exit_case: Exit) -> list[str]:
    """The exit's history, oldest first, as the names of what happened."""
    return list(
        exit_case.history.order_by("history_id").values_list("history_change_reason", flat=True)
    )


@pytest.fixture
def other_enterprise_hr(db):
    """HR of another enterprise: may do everything HR does, but not here."""
    return factories.StaffFactory(
        username="hr-elsewhere", enterprise__name="别家公司", role=StaffRole.HR
    )


@pytest.fixture
def department(enterprise):
    return factories.DepartmentFactory(enterprise=enterprise, name="销售部")


@pytest.fixture
def manager(enterprise, department):
    return factories.MemberFactory(enterprise=enterprise, department=department, name="李经理")


@pytest.fixture
def member(enterprise, department, manager):
    """The member who leaves: an ordinary member of the sales department, managed by 李经理."""
    return factories.MemberFactory(
        enterprise=enterprise,
        department=department,
        manager=manager,
        name="张三",
        user__username="zhangsan",
    )


@pytest.fixture
def stranger(enterprise):
    """A member of the same enterprise with nothing to do with the exit."""
    return factories.MemberFactory(enterprise=enterprise, name="路人甲")


@pytest.fixture
def exit_in_state(
    open_exit_for, exit_in_handover, completed_exit, hr_user, manager, member, enterprise
):
    """The member's exit brought to any of the eight states through the workflow's doors."""

    def exit_in_state(state: ExitState) -> Exit:
        if state == ExitState.DRAFT:
            return open_exit_for(member)
        if state == ExitState.PENDING_APPROVAL:
            return workflow.submit(open_exit_for(member), actor=member.user)
        if state == ExitState.REJECTED:
            exit_case = workflow.submit(open_exit_for(member), actor=member.user)
            return workflow.reject(exit_case, actor=manager.user, reason=REJECTION_REASON)
        if state == ExitState.CANCELLED:
            return workflow.cancel(open_exit_for(member), actor=member.user)
        if state == ExitState.HANDOVER:
            return exit_in_handover(member)
        exit_case = completed_exit(member)
        if state == ExitState.COMPLETED:
            return exit_case
        if state == ExitState.REVERTED:
            return workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)
        assert state == ExitState.CLOSED
        after_window = timezone.now() + enterprise.undo_window + timedelta(minutes=1)
        with time_machine.travel(after_window, tick=False):
            return workflow.close(exit_case, actor=None)

    return exit_in_state


@pytest.fixture
def exit_set_to_state(open_exit_for, member, manager, enterprise, hr_user, it_user):
    """The member's exit, opened by the services, then written straight into any of the eight
    states with the fields that state implies. For the tables of refusals only.

    A refusal looks only at the state, at who asks and, for approve and reject, at the approval
    steps; writing those directly is a few queries where replaying the workflow is dozens. What is
    written: the state (past its protection, with a queryset update), the timestamps the doors
    set, the approval steps of the default chain decided as the state says, for a completed exit
    the signed checklist and reviews, the member departed and their login off (restored again
    when reverted), and what completion changed. No history rows, no sessions ended, no checks:
    a test of what a transition does, or of what it leaves behind, starts from `exit_in_state`.
    """
    submitted = {
        ExitState.PENDING_APPROVAL,
        ExitState.REJECTED,
        ExitState.HANDOVER,
        ExitState.COMPLETED,
        ExitState.REVERTED,
        ExitState.CLOSED,
    }
    completed = {ExitState.COMPLETED, ExitState.REVERTED, ExitState.CLOSED}
    departed = {ExitState.COMPLETED, ExitState.CLOSED}

    def decisions(state: ExitState) -> list[Decision]:
        """The decision on each step of the default chain (the direct manager's, then HR's)."""
        if state == ExitState.PENDING_APPROVAL:
            return [Decision.PENDING, Decision.PENDING]
        if state == ExitState.REJECTED:  # the manager rejected; HR's step never came
            return [Decision.REJECTED, Decision.PENDING]
        return [Decision.APPROVED, Decision.APPROVED]

    def exit_set_to_state(state: ExitState) -> Exit:
        exit_case = open_exit_for(member)
        if state == ExitState.DRAFT:
            return exit_case
        now = timezone.now()
        fields = {"state": state}
        if state in submitted:
            fields["submitted_at"] = now
            steps = []
            chain = zip(DEFAULT_APPROVAL_CHAIN, decisions(state), strict=True)
            for position, (approver, decision) in enumerate(chain, start=1):
                step = ExitApproval(
                    exit_case=exit_case,
                    position=position,
                    approver=approver,
                    assignee=manager if approver == ApproverKind.DIRECT_MANAGER else None,
                    decision=decision,
                )
                if decision != Decision.PENDING:
                    step.decided_by = manager.user if step.assignee else hr_user
                    step.decided_at = now
                    step.comment = REJECTION_REASON if decision == Decision.REJECTED else "同意"
                steps.append(step)
            ExitApproval.objects.bulk_create(steps)
        if state == ExitState.REJECTED:
            fields["rejection_reason"] = REJECTION_REASON
        if state in completed:
            # A closed exit was completed one undo window (and a minute) ago; the others now.
            completed_at = now
            if state == ExitState.CLOSED:
                completed_at = now - enterprise.undo_window - timedelta(minutes=1)
                fields["closed_at"] = now
            fields |= {
                "completed_at": completed_at,
                "undo_deadline": completed_at + enterprise.undo_window,
                "before_completion": {
                    "member": {
                        "status": member.status,
                        "role": member.role,
                        "is_backup_admin": member.is_backup_admin,
                    },
                    "user": {"is_active": member.user.is_active},
                },
                "hr_signed_off_by": hr_user,
                "hr_signed_off_at": completed_at,
                "it_signed_off_by": it_user,
                "it_signed_off_at": completed_at,
            }
            for team, signer in ((Team.HR, hr_user), (Team.IT, it_user)):
                exit_case.checklist.filter(auto_check="", team=team).update(
                    signed_off_by=signer, signed_off_at=completed_at
                )
        if state in departed:
            Member.objects.filter(pk=member.pk).update(status=MemberStatus.DEPARTED)
            get_user_model().objects.filter(pk=member.user_id).update(is_active=False)
        Exit.objects.filter(pk=exit_case.pk).update(**fields)
        return refreshed(exit_case)

    return exit_set_to_state
