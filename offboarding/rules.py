"""Who may run which transition: `rules` predicates over (user, exit_case).

Each transition of Exit names one of these as its permission (through `fsm`, which adapts
django-fsm's (instance, user) order), so the admin's buttons, the pages and the workflow ask the
same question.
A superuser may do what HR may do. Approval decisions belong to the step's assignee (the direct
manager or department head resolved at submit); a step with nobody assigned, or whose assignee is
no longer active, is decided by HR.
"""

import rules

from directory.choices import MemberStatus, StaffRole
from directory.tenancy import grants_for

from .choices import Decision, Team


def fsm(predicate):
    """django-fsm calls permission(instance, user); rules predicates take (user, instance)."""
    return lambda instance, user: predicate.test(user, instance)


def _has_access(user, exit_case, role) -> bool:
    """Whether `user` works as `role` in the enterprise of `exit_case` (the tenant wall)."""
    if exit_case is None:
        return False
    return grants_for(user).has_role(exit_case.enterprise_id, (role,))


@rules.predicate
def is_hr(user, exit_case):
    return _has_access(user, exit_case, StaffRole.HR)


@rules.predicate
def is_it(user, exit_case):
    return _has_access(user, exit_case, StaffRole.IT)


@rules.predicate
def is_the_member(user, exit_case):
    return (
        exit_case is not None
        and user is not None
        and user.is_authenticated
        and exit_case.member.user_id == user.pk
    )


@rules.predicate
def may_remove_members(user):
    return user.has_perm("offboarding.remove_member")


@rules.predicate
def may_undo_exits(user):
    return user.has_perm("offboarding.undo_exit")


def current_approval(exit_case):
    """The first step still waiting for a decision, or None."""
    return (
        exit_case.approvals.filter(decision=Decision.PENDING)
        .select_related("assignee__user", "exit_case")
        .order_by("position")
        .first()
    )


def decides(user, approval) -> bool:
    """Whether `user` decides `approval` (its active assignee, or HR when there is none)."""
    assignee = approval.assignee
    if assignee is not None and assignee.status == MemberStatus.ACTIVE:
        return assignee.user_id == user.pk
    return _has_access(user, approval.exit_case, StaffRole.HR)


@rules.predicate
def is_current_approver(user, exit_case):
    if exit_case is None or user is None or not user.is_authenticated:
        return False
    approval = current_approval(exit_case)
    return approval is not None and decides(user, approval)


can_submit = is_the_member | is_hr
can_cancel = is_the_member | is_hr
can_remove = is_hr & may_remove_members
can_complete = is_hr | is_it
can_undo = is_hr & may_undo_exits
can_close = is_hr


def signs_for(user, exit_case, team) -> bool:
    """Whether `user` signs off `team`'s checklist items and review on this exit."""
    return (is_hr if team == Team.HR else is_it).test(user, exit_case)
