"""Reads of the exit workflow that pages and the admin share."""

from django.db.models import Count, OuterRef, Subquery
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.choices import StaffRole
from directory.models import Member
from directory.tenancy import grants_for

from .choices import Decision, Transition, checklist_title
from .models import ChecklistItem, ExitApproval

TIMELINE_LENGTH = 20


def person_name(user) -> str:
    """A user as the pages name them: full name, else username; "" for nobody."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


# Words for the change reasons the workflow and the services write into the exit's history.
TIMELINE_REASONS = {
    "open": gettext_lazy("Opened"),
    "hr_review": gettext_lazy("HR review signed off"),
    "it_review": gettext_lazy("IT review signed off"),
    **{transition.value: transition.label for transition in Transition},
}


def exit_timeline(exit_case) -> list[dict]:
    """The latest moves of an exit, newest first: its own history (opened, each transition, the
    reviews), the approval decisions and the checklist sign-offs. Three queries."""
    entries = []
    for record in exit_case.history.select_related("history_user").order_by("-history_id")[
        :TIMELINE_LENGTH
    ]:
        reason = record.history_change_reason
        entries.append(
            {
                "when": record.history_date,
                "who": record.history_user,
                "what": TIMELINE_REASONS.get(reason)
                or reason
                or (_("Created") if record.history_type == "+" else _("Changed")),
                "state": record.get_state_display(),
            }
        )
    decisions = (
        ExitApproval.history.filter(exit_case_id=exit_case.pk, history_type="~")
        .exclude(decision=Decision.PENDING)
        .select_related("history_user")
        .order_by("-history_id")[:TIMELINE_LENGTH]
    )
    for record in decisions:
        what = _("Step %(position)s (%(approver)s): %(decision)s") % {
            "position": record.position,
            "approver": record.get_approver_display(),
            "decision": record.get_decision_display(),
        }
        if record.comment:
            what = f"{what}: “{record.comment}”"
        entries.append(
            {"when": record.history_date, "who": record.history_user, "what": what, "state": ""}
        )
    reassignments = (
        ExitApproval.history.filter(
            exit_case_id=exit_case.pk, history_type="~", history_change_reason="reassign"
        )
        .select_related("history_user")
        .order_by("-history_id")[:TIMELINE_LENGTH]
    )
    assignees = dict(
        Member.objects.filter(pk__in={record.assignee_id for record in reassignments}).values_list(
            "pk", "name"
        )
    )
    for record in reassignments:
        entries.append(
            {
                "when": record.history_date,
                "who": record.history_user,
                "what": _("Step %(position)s (%(approver)s) reassigned to %(name)s: “%(reason)s”")
                % {
                    "position": record.position,
                    "approver": record.get_approver_display(),
                    "name": assignees.get(record.assignee_id, "?"),
                    "reason": record.reassign_reason,
                },
                "state": "",
            }
        )
    sign_offs = (
        ChecklistItem.history.filter(
            exit_case_id=exit_case.pk, history_type="~", signed_off_at__isnull=False
        )
        .select_related("history_user")
        .order_by("-history_id")[:TIMELINE_LENGTH]
    )
    for record in sign_offs:
        entries.append(
            {
                "when": record.history_date,
                "who": record.history_user,
                "what": _("Checklist: “%(title)s” signed off")
                % {"title": checklist_title(record.code, record.title)},
                "state": "",
            }
        )
    entries.sort(key=lambda entry: entry["when"], reverse=True)
    for entry in entries:
        entry["who"] = person_name(entry["who"]) or _("the system")
    return entries[:TIMELINE_LENGTH]


def member_of(user) -> Member | None:
    return Member.objects.select_related("enterprise", "department").filter(user=user).first()


def may_decide_approvals(user, member: Member | None) -> bool:
    """Whether the home page offers the approvals inbox even when it is empty: HR, superusers,
    and members who manage someone or head a department (the approvers of the chain's steps)."""
    if grants_for(user).has_any((StaffRole.HR,)):
        return True
    if member is None:
        return False
    return member.reports.exists() or member.headed_departments.exists()


def with_current_step(queryset):
    """Annotate each exit with its current (first pending) step and its number of steps: the
    inbox's "step" column in the same query as the rows."""
    pending = ExitApproval.objects.filter(
        exit_case=OuterRef("pk"), decision=Decision.PENDING
    ).order_by("position")
    steps = (
        ExitApproval.objects.filter(exit_case=OuterRef("pk"))
        .order_by()
        .values("exit_case")
        .annotate(total=Count("pk"))
        .values("total")
    )
    return queryset.annotate(
        current_position=Subquery(pending.values("position")[:1]),
        current_approver=Subquery(pending.values("approver")[:1]),
        steps_total=Subquery(steps),
    )


def steps_of(exit_case):
    return list(
        exit_case.approvals.select_related("assignee", "decided_by__member").order_by("position")
    )


def current_position(steps) -> int | None:
    return next((step.position for step in steps if step.decision == Decision.PENDING), None)
