"""One door per transition of an Exit (X-2).

Every function here is called as `fn(exit_case, *, actor, ...)` and, in one transaction: locks the
exit's row (so two people acting at once are served one after the other, and the second sees the
first one's result), checks that the transition may run now and that `actor` may run it, runs it,
saves with `actor` and the transition's name in the exit's history, writes the transition's audit
event (compliance.audit: "exit_submitted", "exit_approved"…, with each approval step's decision
and whatever the transition set off), and returns the fresh exit. The events are written last,
after every row lock (see offboarding/services.py: lock order). A refused call raises ExitRefused
and changes nothing; its message is the text the pages show. `actor=None` means the system (the
nightly jobs); only `close` accepts it.
"""

from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import can_proceed
from simple_history.utils import bulk_create_with_history

from compliance import audit, sealing
from directory import services as directory_services
from directory.choices import MemberStatus
from directory.sessions import end_sessions

from . import handover, inheritance, notifications, prereview, rules
from .choices import (
    DEFAULT_APPROVAL_CHAIN,
    REMOVABLE_KINDS,
    ApproverKind,
    Decision,
    ExitState,
    Transition,
)
from .exceptions import ExitRefused
from .models import ApprovalChainStep, Exit, ExitApproval
from .services import confirm_actor_password, exit_event, lock_audit_chain


def _lock(exit_case: Exit, *, shared: bool = False) -> Exit:
    """The exit's row, locked FOR NO KEY UPDATE, after its enterprise's door lock (the first lock
    of every door: see offboarding/services.py, "Lock order"). `shared` for the doors that lock
    nothing but this exit's own rows (submit, approve), which run beside other such doors."""
    lock_audit_chain(exit_case.enterprise_id, shared=shared)
    return (
        Exit.objects.select_for_update(of=("self",), no_key=True)
        .select_related("member__user", "enterprise")
        .get(pk=exit_case.pk)
    )


# One whole sentence per transition and reason, so that each translates as a sentence.
_WRONG_STATE = {
    Transition.SUBMIT: gettext_lazy("This exit is %(state)s: it cannot be submitted now."),
    Transition.APPROVE: gettext_lazy("This exit is %(state)s: it cannot be approved now."),
    Transition.REJECT: gettext_lazy("This exit is %(state)s: it cannot be rejected now."),
    Transition.CANCEL: gettext_lazy("This exit is %(state)s: it cannot be cancelled now."),
    Transition.REMOVE: gettext_lazy("This exit is %(state)s: it cannot be removed now."),
    Transition.COMPLETE: gettext_lazy("This exit is %(state)s: it cannot be completed now."),
    Transition.UNDO: gettext_lazy("This exit is %(state)s: it cannot be undone now."),
    Transition.CLOSE: gettext_lazy("This exit is %(state)s: it cannot be closed now."),
}
_NOT_ALLOWED = {
    Transition.SUBMIT: gettext_lazy("You are not allowed to submit this exit."),
    Transition.APPROVE: gettext_lazy("You are not allowed to approve this exit."),
    Transition.REJECT: gettext_lazy("You are not allowed to reject this exit."),
    Transition.CANCEL: gettext_lazy("You are not allowed to cancel this exit."),
    Transition.REMOVE: gettext_lazy("You are not allowed to remove this member."),
    Transition.COMPLETE: gettext_lazy("You are not allowed to complete this exit."),
    Transition.UNDO: gettext_lazy("You are not allowed to undo this exit."),
    Transition.CLOSE: gettext_lazy("You are not allowed to close this exit."),
}
_ONLY_A_PERSON = {
    Transition.SUBMIT: gettext_lazy("Only a person can submit an exit."),
    Transition.APPROVE: gettext_lazy("Only a person can approve an exit."),
    Transition.REJECT: gettext_lazy("Only a person can reject an exit."),
    Transition.CANCEL: gettext_lazy("Only a person can cancel an exit."),
    Transition.REMOVE: gettext_lazy("Only a person can remove a member."),
    Transition.COMPLETE: gettext_lazy("Only a person can complete an exit."),
    Transition.UNDO: gettext_lazy("Only a person can undo an exit."),
}


def _refuse_unless_allowed(exit_case: Exit, transition: Transition, actor) -> None:
    """Refuse unless the exit is in a source state of `transition` and `actor` may run it.

    The transitions' own conditions (a removable kind for remove, the undo window for close) are
    checked by each door afterwards, with a message that names the condition.
    """
    method = getattr(exit_case, transition.value)
    if not can_proceed(method, check_conditions=False):
        raise ExitRefused(_WRONG_STATE[transition] % {"state": exit_case.get_state_display()})
    if actor is None:
        if transition != Transition.CLOSE:
            raise ExitRefused(str(_ONLY_A_PERSON[transition]))
        return
    # The permission alone: django_fsm's has_transition_perm also tests the conditions, and would
    # say "not allowed" to HR closing an exit whose undo window is still open.
    meta = method._django_fsm
    if not meta.has_transition_perm(exit_case, meta.field.get_state(exit_case), actor):
        raise ExitRefused(str(_NOT_ALLOWED[transition]))


def _refuse_if_blocked(exit_case: Exit, step: str) -> None:
    blockers = prereview.blockers_for(exit_case, step)
    if blockers:
        raise ExitRefused(" ".join(blocker.message for blocker in blockers))


def _save(exit_case: Exit, *, actor, transition: Transition) -> Exit:
    exit_case._history_user = actor
    exit_case._change_reason = transition.value
    exit_case.save()
    return exit_case


# The audit action of each transition (compliance.audit).
ACTIONS = {
    Transition.SUBMIT: "exit_submitted",
    Transition.APPROVE: "exit_approved",
    Transition.REJECT: "exit_rejected",
    Transition.CANCEL: "exit_cancelled",
    Transition.REMOVE: "member_removed",
    Transition.COMPLETE: "exit_completed",
    Transition.UNDO: "exit_undone",
    Transition.CLOSE: "exit_closed",
}


def _transition_event(exit_case: Exit, transition: Transition, source: str, **data):
    """The audit event of `transition`, which moved `exit_case` from `source` to its state."""
    return exit_event(
        exit_case,
        ACTIONS[transition],
        data={"from": str(source), "to": str(exit_case.state), **data},
    )


def _step_event(exit_case: Exit, approval: ExitApproval):
    """The audit event of one approval step's decision; the comment is the member's personal
    data (sealed)."""
    return exit_event(
        exit_case,
        f"approval_step_{Decision(approval.decision).value}",
        object_type="exit_approval",
        object_id=approval.pk,
        data={
            "position": approval.position,
            "approver": str(approval.approver),
            "assignee_id": approval.assignee_id,
        },
        personal={"comment": approval.comment} if approval.comment else None,
    )


def _resolve_assignee(exit_case: Exit, approver: ApproverKind):
    """The member who decides this step, or None when HR decides it."""
    member = exit_case.member
    if approver == ApproverKind.DIRECT_MANAGER:
        manager = member.manager
        return manager if manager and manager.status == MemberStatus.ACTIVE else None
    if approver == ApproverKind.DEPARTMENT_HEAD:
        # The nearest head above the member: a head who is leaves is approved one level up.
        for department in member.department.ancestors(include_self=True).reverse():
            head = department.head
            if head and head.pk != member.pk and head.status == MemberStatus.ACTIVE:
                return head
        return None
    return None


def _directory_change(member, *, actor, **changes) -> None:
    """Change the member through the directory's own door; its refusal is the exit's refusal
    (raised inside the transaction, so the exit's move is rolled back with it)."""
    try:
        directory_services.update_member(member, actor=actor, **changes)
    except directory_services.DirectoryError as error:
        raise ExitRefused(" ".join(error.messages)) from error


def _open_approvals(exit_case: Exit, *, actor) -> list[dict]:
    """Open the steps of the enterprise's approval chain; return them, for the audit event."""
    chain = list(
        ApprovalChainStep.objects.filter(enterprise=exit_case.enterprise)
        .order_by("position")
        .values_list("approver", flat=True)
    ) or list(DEFAULT_APPROVAL_CHAIN)
    steps = [
        ExitApproval(
            exit_case=exit_case,
            position=position,
            approver=approver,
            assignee=_resolve_assignee(exit_case, ApproverKind(approver)),
        )
        for position, approver in enumerate(chain, start=1)
    ]
    bulk_create_with_history(
        steps,
        ExitApproval,
        default_user=actor,
        default_change_reason=Transition.SUBMIT.value,
    )
    return [
        {"position": step.position, "approver": str(step.approver), "assignee_id": step.assignee_id}
        for step in steps
    ]


@transaction.atomic
def submit(exit_case: Exit, *, actor) -> Exit:
    """draft → pending_approval. By the member or HR; opens the approval chain's steps."""
    exit_case = _lock(exit_case, shared=True)
    _refuse_unless_allowed(exit_case, Transition.SUBMIT, actor)
    _refuse_if_blocked(exit_case, prereview.SUBMIT)
    source = exit_case.state
    exit_case.submit()
    _save(exit_case, actor=actor, transition=Transition.SUBMIT)
    steps = _open_approvals(exit_case, actor=actor)
    audit.record_many(
        exit_case.enterprise_id,
        [_transition_event(exit_case, Transition.SUBMIT, source, approval_steps=steps)],
        actor=actor,
    )
    notifications.exit_progressed(exit_case)
    return exit_case


def _expected_step(exit_case: Exit, step: int | None) -> int | None:
    """The step the caller means: the one their page showed, or the one current as they call."""
    if step is not None:
        return step
    current = rules.current_approval(exit_case)
    return current.position if current else None


def _refuse_if_step_decided(exit_case: Exit, expected_step: int | None) -> None:
    """Refuse when the step the person was looking at was decided meanwhile (by someone else, or
    by their own earlier click): said before "not allowed", which would be true but unhelpful."""
    if exit_case.state != ExitState.PENDING_APPROVAL or expected_step is None:
        return  # the state check says why
    current = rules.current_approval(exit_case)
    if current is not None and current.position == expected_step:
        return
    decided = (
        exit_case.approvals.select_related("decided_by").filter(position=expected_step).first()
    )
    raise ExitRefused(
        _("This step was already decided by %(user)s.")
        % {"user": decided.decided_by if decided and decided.decided_by else _("someone else")}
    )


def _decide_current_step(exit_case: Exit, *, actor, decision: Decision, comment: str):
    approval = rules.current_approval(exit_case)
    approval.decision = decision
    approval.decided_by = actor
    approval.decided_at = timezone.now()
    approval.comment = comment
    approval._history_user = actor
    approval.save()
    return approval


@transaction.atomic
def approve(exit_case: Exit, *, actor, comment: str = "", step: int | None = None) -> Exit:
    """Approve the current step; the last step's approval moves the exit to handover.

    `step` is the position of the step the person saw; if it was decided meanwhile (two people
    deciding at once) the call is refused rather than deciding the next step unseen.
    """
    expected_step = _expected_step(exit_case, step)
    exit_case = _lock(exit_case, shared=True)
    _refuse_if_step_decided(exit_case, expected_step)
    _refuse_unless_allowed(exit_case, Transition.APPROVE, actor)
    approval = _decide_current_step(
        exit_case, actor=actor, decision=Decision.APPROVED, comment=comment
    )
    trail = [_step_event(exit_case, approval)]
    _approve_if_no_step_waits(exit_case, actor=actor, trail=trail)
    audit.record_many(exit_case.enterprise_id, trail, actor=actor)
    notifications.exit_progressed(exit_case)
    return exit_case


def _approve_if_no_step_waits(exit_case: Exit, *, actor, trail: list) -> None:
    """pending_approval → handover once no step waits: after the last step's approval, and after
    HR skipped the last step (`skip_step`). Otherwise the next step decides now."""
    if exit_case.approvals.filter(decision=Decision.PENDING).exists():
        return
    source = exit_case.state
    exit_case.approve()
    _save(exit_case, actor=actor, transition=Transition.APPROVE)
    trail.append(_transition_event(exit_case, Transition.APPROVE, source))


# ---------------------------------------------------------------------------------------------
# HR unblocks an approval step whose approver cannot act: reassign it, or skip it.


class CannotAct:
    """Why an approver cannot decide their step: the codes of the audit events."""

    FROZEN = "frozen"
    DEPARTED = "departed"
    LOGIN_CUT = "login_cut"


def why_cannot_act(member) -> str | None:
    """Why `member` cannot decide an approval step now, or None when they can.

    From the models: a frozen account (a stolen admin account, H-3) and a departed member (their
    exit completed) are not active; a member whose login is deactivated cannot sign in — a passive
    removal cut it (「删除成员」), or they are an old super admin whose exit completed during their
    emergency window, who reaches the emergency page and nothing else.
    """
    if member.status == MemberStatus.FROZEN:
        return CannotAct.FROZEN
    if member.status != MemberStatus.ACTIVE:
        return CannotAct.DEPARTED
    if not member.user.is_active:
        return CannotAct.LOGIN_CUT
    return None


def cannot_act_message(member, why: str) -> str:
    return {
        CannotAct.FROZEN: _("%(name)s's account is frozen."),
        CannotAct.DEPARTED: _("%(name)s has left the enterprise."),
        CannotAct.LOGIN_CUT: _("%(name)s's login is deactivated: they cannot sign in."),
    }[why] % {"name": member.name}


def _waiting_step(exit_case: Exit, position: int) -> ExitApproval:
    """The locked exit's step at `position`, refused unless it is the step the exit waits on now
    and its approver cannot act (HR unblocks an exit; it does not overrule an approver who can
    decide)."""
    if exit_case.state != ExitState.PENDING_APPROVAL:
        raise ExitRefused(
            _("This exit is %(state)s: no approval step waits.")
            % {"state": exit_case.get_state_display()}
        )
    approval = (
        exit_case.approvals.select_for_update(of=("self",))
        .select_related("assignee__user")
        .filter(position=position)
        .first()
    )
    current = rules.current_approval(exit_case)
    if approval is None or current is None or current.position != approval.position:
        raise ExitRefused(
            _("Step %(position)s is not the step this exit waits on: it was decided meanwhile.")
            % {"position": position}
        )
    if approval.assignee is None:
        raise ExitRefused(
            _("HR decides this step: approve or reject it instead of reassigning or skipping it.")
        )
    if why_cannot_act(approval.assignee) is None:
        raise ExitRefused(
            _(
                "%(name)s can still decide this step: ask them, or reject the exit. A step is "
                "reassigned or skipped only when its approver has left, is frozen or cannot sign "
                "in."
            )
            % {"name": approval.assignee.name}
        )
    return approval


def _refuse_unless_hr(exit_case: Exit, actor) -> None:
    if actor is None or not rules.is_hr.test(actor, exit_case):
        raise ExitRefused(_("Only HR of the enterprise can reassign or skip an approval step."))


def _required_reason(reason: str, message: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ExitRefused(message, field="reason")
    return reason


def check_reassign_target(exit_case: Exit, member) -> None:
    """Refuse a new approver who could not decide either, or who is the leaving member."""
    if member is None or member.enterprise_id != exit_case.enterprise_id:
        raise ExitRefused(_("Choose a member of the enterprise."), field="assignee")
    if member.pk == exit_case.member_id:
        raise ExitRefused(
            _("%(name)s cannot approve their own exit.") % {"name": member.name}, field="assignee"
        )
    why = why_cannot_act(member)
    if why is not None:
        raise ExitRefused(
            _("%(why)s Choose someone who can decide the step.")
            % {"why": cannot_act_message(member, why)},
            field="assignee",
        )


@transaction.atomic
def reassign_step(exit_case: Exit, *, actor, step: int, assignee, reason: str) -> ExitApproval:
    """Give the waiting step `step` to another approver, `assignee`, when its approver cannot act
    (`why_cannot_act`). By HR of the enterprise, with a reason (kept on the step, sealed in the
    audit event "approval_step_reassigned"). The step waits for the new approver: it leaves the
    old one's approvals page and enters the new one's."""
    reason = _required_reason(reason, _("Say why the step goes to another approver."))
    exit_case = _lock(exit_case)
    _refuse_unless_hr(exit_case, actor)
    approval = _waiting_step(exit_case, step)
    check_reassign_target(exit_case, assignee)
    previous = approval.assignee
    why = why_cannot_act(previous)
    approval.assignee = assignee
    approval.reassign_reason = reason
    approval._history_user = actor
    approval._change_reason = "reassign"
    approval.save()
    event = exit_event(
        exit_case,
        "approval_step_reassigned",
        object_type="exit_approval",
        object_id=approval.pk,
        data={
            "position": approval.position,
            "approver": str(approval.approver),
            "from_assignee_id": previous.pk,
            "to_assignee_id": assignee.pk,
            "cannot_act": why,
        },
        personal={"reason": reason},
    )
    audit.record_many(exit_case.enterprise_id, [event], actor=actor)
    notifications.notify_step_waiting(approval)
    return approval


@transaction.atomic
def skip_step(exit_case: Exit, *, actor, step: int, reason: str) -> Exit:
    """Skip the waiting step `step` when its approver cannot act (`why_cannot_act`): by HR of the
    enterprise, with a reason (the step's comment). The next step decides now; skipping the last
    step moves the exit to handover as the last approval would. Audit events:
    "approval_step_skipped", then "exit_approved" when it was the last."""
    reason = _required_reason(reason, _("Say why the step is skipped."))
    exit_case = _lock(exit_case)
    _refuse_unless_hr(exit_case, actor)
    approval = _waiting_step(exit_case, step)
    why = why_cannot_act(approval.assignee)
    approval.decision = Decision.SKIPPED
    approval.decided_by = actor
    approval.decided_at = timezone.now()
    approval.comment = reason
    approval._history_user = actor
    approval._change_reason = "skip"
    approval.save()
    trail = [
        exit_event(
            exit_case,
            "approval_step_skipped",
            object_type="exit_approval",
            object_id=approval.pk,
            data={
                "position": approval.position,
                "approver": str(approval.approver),
                "assignee_id": approval.assignee_id,
                "cannot_act": why,
            },
            personal={"reason": reason},
        )
    ]
    _approve_if_no_step_waits(exit_case, actor=actor, trail=trail)
    audit.record_many(exit_case.enterprise_id, trail, actor=actor)
    # The next step's approver, or the member when that was the last step.
    notifications.exit_progressed(exit_case)
    return exit_case


@transaction.atomic
def reject(exit_case: Exit, *, actor, reason: str, step: int | None = None) -> Exit:
    """pending_approval → rejected, by the current step's approver, who must say why.
    `step` as for `approve`."""
    reason = (reason or "").strip()
    if not reason:
        raise ExitRefused(
            _("Say why the exit is rejected: the member will read it."), field="comment"
        )
    expected_step = _expected_step(exit_case, step)
    exit_case = _lock(exit_case)
    _refuse_if_step_decided(exit_case, expected_step)
    _refuse_unless_allowed(exit_case, Transition.REJECT, actor)
    approval = _decide_current_step(
        exit_case, actor=actor, decision=Decision.REJECTED, comment=reason
    )
    source = exit_case.state
    exit_case.reject(reason=reason)
    _save(exit_case, actor=actor, transition=Transition.REJECT)
    trail = [
        _step_event(exit_case, approval),
        _transition_event(exit_case, Transition.REJECT, source, step=approval.position),
    ]
    handover.exit_called_off(exit_case, actor=actor, trail=trail)
    audit.record_many(exit_case.enterprise_id, trail, actor=actor)
    notifications.exit_progressed(exit_case)
    return exit_case


@transaction.atomic
def cancel(exit_case: Exit, *, actor) -> Exit:
    """draft | pending_approval | handover → cancelled, by the member or HR. A removal's cut
    login is restored exactly as it was before the removal; a super-admin handover still waiting
    for the new super admin's code is withdrawn and an emergency window closes; nothing else
    moves (a role already handed over stays with its new holder)."""
    exit_case = _lock(exit_case)
    _refuse_unless_allowed(exit_case, Transition.CANCEL, actor)
    source = exit_case.state
    exit_case.cancel()
    _save(exit_case, actor=actor, transition=Transition.CANCEL)
    trail = [
        _transition_event(
            exit_case,
            Transition.CANCEL,
            source,
            login_restored=exit_case.login_before_removal,
        )
    ]
    handover.exit_called_off(exit_case, actor=actor, trail=trail)
    if exit_case.login_before_removal is not None:
        user = exit_case.member.user
        user.is_active = exit_case.login_before_removal
        user.save(update_fields=["is_active"])
    audit.record_many(exit_case.enterprise_id, trail, actor=actor)
    return exit_case


@transaction.atomic
def remove(exit_case: Exit, *, actor) -> Exit:
    """draft → handover for a passive exit (「通讯录」-「删除成员」): HR holding the permission,
    no approval chain. Refused, like a submit, while the pre-review blocks it — and while the
    member is the super admin whose handover is not done: cutting their login would leave the
    enterprise without a super admin who can sign in.

    The member's access is cut at once (成员端会话清除): their login is deactivated and every
    session of theirs ends, while the handover goes on. Whether the login was active is kept on the
    exit, so that cancelling gives it back exactly, and an undo after completion too.
    """
    exit_case = _lock(exit_case)
    _refuse_unless_allowed(exit_case, Transition.REMOVE, actor)
    if exit_case.kind not in REMOVABLE_KINDS:
        raise ExitRefused(
            _(
                "Only a removal by an admin or the HR system skips the approval chain: "
                "submit this exit for approval instead."
            )
        )
    # The removal's own step: what stops a submit, and the super-admin handover (H-3).
    _refuse_if_blocked(exit_case, prereview.REMOVE)
    user = exit_case.member.user
    source = exit_case.state
    exit_case.remove()
    exit_case.login_before_removal = user.is_active
    _save(exit_case, actor=actor, transition=Transition.REMOVE)
    user.is_active = False
    user.save(update_fields=["is_active"])
    end_sessions(user)
    event = _transition_event(
        exit_case,
        Transition.REMOVE,
        source,
        login_before_removal=exit_case.login_before_removal,
        login_active=False,
        sessions_ended=True,
    )
    audit.record_many(exit_case.enterprise_id, [event], actor=actor)
    return exit_case


@transaction.atomic
def complete(exit_case: Exit, *, actor) -> Exit:
    """handover → completed (X-7), by HR or IT, once the pre-review shows no blocker.

    The member becomes departed and their login inactive, every session of theirs ends, and
    enterprise data stays where it is. What changed is kept on the exit so `undo` can restore it;
    the undo window opens (the enterprise's, 24 hours by default). The checklist's automatic
    checks are kept as they stand (`checks_at_end`): the page of the completed, closed or
    reverted exit shows them, whatever the member owns later.
    """
    exit_case = _lock(exit_case)
    _refuse_unless_allowed(exit_case, Transition.COMPLETE, actor)
    _refuse_if_blocked(exit_case, prereview.COMPLETE)
    member, user = exit_case.member, exit_case.member.user
    exit_case.before_completion = {
        "member": {
            "status": member.status,
            "role": member.role,
            "is_backup_admin": member.is_backup_admin,
        },
        # A removal cut the login already: what undo restores is the login before that.
        "user": {
            "is_active": user.is_active
            if exit_case.login_before_removal is None
            else exit_case.login_before_removal
        },
    }
    # The checklist's automatic checks as they end: the exit's page shows these from now on.
    exit_case.checks_at_end = prereview.auto_check_results(member)
    source = exit_case.state
    exit_case.complete()
    _save(exit_case, actor=actor, transition=Transition.COMPLETE)
    _directory_change(member, actor=actor, status=MemberStatus.DEPARTED)
    user.is_active = False
    user.save(update_fields=["is_active"])
    end_sessions(user)
    event = _transition_event(
        exit_case,
        Transition.COMPLETE,
        source,
        member_status=str(MemberStatus.DEPARTED),
        before=exit_case.before_completion,
        undo_deadline=exit_case.undo_deadline.isoformat(),
    )
    audit.record_many(exit_case.enterprise_id, [event], actor=actor)
    notifications.exit_progressed(exit_case)
    return exit_case


def undo(exit_case: Exit, *, actor, password: str, request=None) -> Exit:
    """completed → reverted (误操作退出, X-8): within the undo window, by HR holding the
    permission, who re-enters their password. Member, role and login come back as they were.

    With `request` (a page), the password goes through `directory.security.confirm_password`:
    django-axes counts a wrong one like a failed login and, after too many, refuses even the right
    one until the cool-off has passed, saying when. Without (code: tests, jobs) it is only checked.
    The check runs before the transaction, so that a refused undo keeps the failure axes recorded.
    """
    if actor is None:
        raise ExitRefused(str(_ONLY_A_PERSON[Transition.UNDO]))
    confirm_actor_password(
        actor,
        password,
        request=request,
        wrong=_("Your password was not right: re-enter it to confirm the undo."),
    )
    return _undo(exit_case, actor=actor)


@transaction.atomic
def _undo(exit_case: Exit, *, actor) -> Exit:
    exit_case = _lock(exit_case)
    _refuse_unless_allowed(exit_case, Transition.UNDO, actor)
    if timezone.now() >= exit_case.undo_deadline:
        raise ExitRefused(
            _("The undo window ended at %(deadline)s: this exit can no longer be undone.")
            % {"deadline": _local(exit_case, exit_case.undo_deadline)}
        )
    before = exit_case.before_completion
    if exit_case.checks_at_end is None:  # completed before the checks were kept
        exit_case.checks_at_end = prereview.auto_check_results(exit_case.member)
    source = exit_case.state
    exit_case.undo()
    _save(exit_case, actor=actor, transition=Transition.UNDO)
    trail = [_transition_event(exit_case, Transition.UNDO, source, restored=before)]
    # An emergency window closes (H-2); before the member's row is locked: handovers first.
    handover.exit_called_off(exit_case, actor=actor, trail=trail)
    _directory_change(exit_case.member, actor=actor, **before["member"])
    user = exit_case.member.user
    user.is_active = before["user"]["is_active"]
    user.save(update_fields=["is_active"])
    # What successors inherited comes back.
    inheritance.give_back(exit_case, actor=actor, trail=trail)
    audit.record_many(exit_case.enterprise_id, trail, actor=actor)
    return exit_case


def close(exit_case: Exit, *, actor) -> Exit:
    """completed → closed, for good, once the undo window has ended (the nightly job, or HR).

    The departed member's work records are sealed (C-3, 离职员工数据需加密封存:
    `compliance.sealing.seal_member_records`, with its own audit event "records_sealed"): first,
    before the close's transaction, in batches of their own (`_seal_before_closing`), so that the
    close — a door every other door of the enterprise takes turns with — does not hold its lock
    while thousands of records are sealed; then, inside it, whatever was written since (a second
    "records_sealed" after "exit_closed", only when there was any). An exit is never closed with
    its member's records left in plaintext; a close refused before its undo window ends, or by
    someone not allowed to close it, seals nothing.
    """
    _seal_before_closing(exit_case, actor=actor)
    return _close(exit_case, actor=actor)


def _seal_before_closing(exit_case: Exit, *, actor) -> None:
    """Seal the member's records, outside any door's lock, when the exit can be closed now by
    `actor`: completed, its undo window over (then nothing can reopen it: an undo is refused too).
    Otherwise nothing; the close itself says why."""
    current = Exit.objects.select_related("member", "enterprise").filter(pk=exit_case.pk).first()
    if current is None or current.state != ExitState.COMPLETED or not current.undo_window_has_ended:
        return
    try:
        _refuse_unless_allowed(current, Transition.CLOSE, actor)
    except ExitRefused:
        return
    sealing.seal_member_records(current.member, actor=actor, exit_id=current.pk)


@transaction.atomic
def _close(exit_case: Exit, *, actor) -> Exit:
    exit_case = _lock(exit_case)
    _refuse_unless_allowed(exit_case, Transition.CLOSE, actor)
    if timezone.now() < exit_case.undo_deadline:
        raise ExitRefused(not_closable_yet(exit_case))
    if exit_case.checks_at_end is None:  # completed before the checks were kept
        exit_case.checks_at_end = prereview.auto_check_results(exit_case.member)
    source = exit_case.state
    exit_case.close()
    _save(exit_case, actor=actor, transition=Transition.CLOSE)
    audit.record_many(
        exit_case.enterprise_id,
        [_transition_event(exit_case, Transition.CLOSE, source)],
        actor=actor,
    )
    # What the member's records gained since they were sealed before the lock (usually nothing).
    sealing.seal_member_records(
        exit_case.member, actor=actor, exit_id=exit_case.pk, record_nothing=False
    )
    return exit_case


def not_closable_yet(exit_case: Exit) -> str:
    """Why a completed exit cannot be closed before its undo window ends: the deadline, in the
    enterprise's time zone."""
    return _("The undo window is open until %(deadline)s: the exit can be closed after that.") % {
        "deadline": _local(exit_case, exit_case.undo_deadline)
    }


def _local(exit_case: Exit, moment) -> str:
    local = timezone.localtime(moment, exit_case.enterprise.time_zone)
    return f"{formats.date_format(local, 'Y-m-d H:i')} ({exit_case.enterprise.time_zone})"


# The doors by transition, for the pages that dispatch on a name.
DOORS = {
    Transition.SUBMIT: submit,
    Transition.APPROVE: approve,
    Transition.REJECT: reject,
    Transition.CANCEL: cancel,
    Transition.REMOVE: remove,
    Transition.COMPLETE: complete,
    Transition.UNDO: undo,
    Transition.CLOSE: close,
}


def available_transitions(exit_case: Exit, user) -> list[Transition]:
    """The transitions `user` may run on `exit_case` now (state and permission): the buttons."""
    return [Transition(t.name) for t in exit_case.get_available_user_state_transitions(user)]
