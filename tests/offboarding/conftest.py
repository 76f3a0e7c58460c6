"""Fixtures of the exit workflow's tests: the people around an exit, and exits in every state.

Exits are opened through `offboarding.services.open_exit` (it copies the checklist) and moved only
through the workflow's doors, so every exit a test starts from is one a person could have reached.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from directory.permissions import grant_access
from offboarding import services, workflow
from offboarding.choices import ExitKind, ExitState, Team
from offboarding.models import Exit
from tests import factories


def refreshed(exit_case: Exit) -> Exit:
    return Exit.objects.get(pk=exit_case.pk)


def history_reasons(exit_case: Exit) -> list[str]:
    """The exit's history, oldest first, as the names of what happened."""
    return list(
        exit_case.history.order_by("history_id").values_list("history_change_reason", flat=True)
    )


@pytest.fixture
def other_enterprise_hr(db):
    """HR of another enterprise: may do everything HR does, but not here."""
    user = factories.StaffUserFactory(username="hr-elsewhere")
    grant_access(user=user, enterprise=factories.EnterpriseFactory(name="别家公司"), role="hr")
    return user


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
def open_exit_for(hr_user):
    """Open a draft exit for a member, as the services do it (with the enterprise's checklist)."""

    def open_exit_for(member, *, kind=ExitKind.VOLUNTARY, actor=None, **fields) -> Exit:
        fields.setdefault(
            "last_working_day", services.local_today(member.enterprise) + timedelta(days=14)
        )
        if actor is None:  # the member asks to leave; any other kind is opened by HR
            voluntary = kind in (ExitKind.VOLUNTARY, ExitKind.VOLUNTARY_ADMIN)
            actor = member.user if voluntary else hr_user
        return services.open_exit(member=member, kind=kind, actor=actor, **fields)

    return open_exit_for


@pytest.fixture
def approve_every_step(hr_user):
    """Approve every step still waiting, each by whoever decides it (assignee, else HR)."""

    def approve_every_step(exit_case: Exit) -> Exit:
        exit_case = refreshed(exit_case)
        while exit_case.state == ExitState.PENDING_APPROVAL:
            step = exit_case.approvals.filter(decision="pending").order_by("position").first()
            actor = step.assignee.user if step.assignee else hr_user
            exit_case = workflow.approve(exit_case, actor=actor, comment="同意")
        return exit_case

    return approve_every_step


@pytest.fixture
def exit_in_handover(open_exit_for, approve_every_step):
    """A voluntary exit submitted by its member and approved through the whole chain."""

    def exit_in_handover(member, **fields) -> Exit:
        exit_case = open_exit_for(member, **fields)
        exit_case = workflow.submit(exit_case, actor=member.user)
        return approve_every_step(exit_case)

    return exit_in_handover


@pytest.fixture
def ready_to_complete(hr_user, it_user):
    """Sign off every checklist item a person signs (by its team) and both reviews."""

    def ready_to_complete(exit_case: Exit) -> Exit:
        staff = {Team.HR: hr_user, Team.IT: it_user}
        for item in exit_case.checklist.filter(auto_check="", signed_off_at__isnull=True):
            services.sign_off_item(item, actor=staff[item.team], note="已核对")
        for team, user in staff.items():
            exit_case = refreshed(exit_case)
            if getattr(exit_case, f"{team}_signed_off_at") is None:
                services.sign_off_review(exit_case, actor=user, team=team)
        return refreshed(exit_case)

    return ready_to_complete


@pytest.fixture
def completed_exit(exit_in_handover, ready_to_complete, hr_user):
    def completed_exit(member, **fields) -> Exit:
        exit_case = ready_to_complete(exit_in_handover(member, **fields))
        return workflow.complete(exit_case, actor=hr_user)

    return completed_exit


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
            return workflow.reject(exit_case, actor=manager.user, reason="项目未交接")
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
