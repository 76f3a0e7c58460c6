"""What waits for whom (U-2, U-5): the reads behind the staff home (the admin index), the member
home (`/`) and the exit list's "waiting on" column.

Every read here is set-based: a fixed number of queries per page, however many exits, items or
enterprises there are (the tests bound the count). Staff see only what their grants allow, role by
role: HR's items from the enterprises where they work as HR, IT's where they work as IT
(directory/tenancy.py); a superuser works everywhere in every role.

An open exit waits for one step (`WaitingStep`), computed by the database from the exit's state,
its approval steps, checklist, reviews, handover batches and what its member still owns: the first
of the steps in `WaitingStep`'s order that applies. The compliance app adds its own items (erasure
requests, holds) and the records chart in compliance/todo.py, which builds on this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from directory.choices import DepartmentStatus, JobStatus, MemberRole, MemberStatus, StaffRole
from directory.models import OWNED_RESOURCE_MODELS, Department, Enterprise, JobRun, Member
from directory.tenancy import grants_for

from .choices import (
    OPEN_HANDOVER_STATES,
    OPEN_STATES,
    REMOVABLE_KINDS,
    ApproverKind,
    BackupDesignationState,
    Decision,
    ExitKind,
    ExitState,
    InheritanceStatus,
    ResourceType,
    Team,
    TerminationState,
    WaitingStep,
)
from .models import (
    BackupAdminDesignation,
    ChecklistItem,
    Exit,
    ExitApproval,
    HRTermination,
    InheritanceItem,
    SuperAdminHandover,
)

# How many rows the dashboard's lists show (late checklists, undo windows, departments); the rest
# are counted.
LIST_LENGTH = 10
# How many approvals the member home names one by one.
APPROVALS_SHOWN = 5
CHART_MONTHS = 12

# Exits whose checklist can be late: not yet completed.
UNFINISHED_STATES = (ExitState.DRAFT, ExitState.PENDING_APPROVAL, ExitState.HANDOVER)


@dataclass
class Item:
    """One line of a to-do list: a sentence, how many, since when, and where it is done."""

    kind: str
    sentence: str
    url: str | None = None
    count: int = 1
    # The oldest of them (a datetime shown in `time_zone`, or a date), and what the date means.
    oldest: datetime | None = None
    oldest_label: str = ""
    enterprise: Enterprise | None = None
    time_zone: object = None
    urgent: bool = False
    details: list[str] = field(default_factory=list)

    @property
    def sort_key(self):
        oldest = self.oldest
        if oldest is None:
            return (1, 0.0)
        if isinstance(oldest, datetime):
            return (0, oldest.timestamp())
        return (0, datetime(oldest.year, oldest.month, oldest.day).timestamp())


def _url(name: str, *args, **query) -> str:
    url = reverse(name, args=args)
    query = {key: value for key, value in query.items() if value is not None}
    return f"{url}?{urlencode(query)}" if query else url


# ---------------------------------------------------------------------------------------------
# The waiting step of each exit


def _pending_steps():
    return ExitApproval.objects.filter(
        exit_case=OuterRef("pk"), decision=Decision.PENDING
    ).order_by("position")


def _unsigned_items(team: str):
    return ChecklistItem.objects.filter(
        exit_case=OuterRef("pk"), team=team, auto_check="", signed_off_at__isnull=True
    )


def with_waiting_step(queryset, *, names: bool = False):
    """Annotate each exit with `waiting_step` (a WaitingStep value; None for a closed exit) and
    `hr_pending` / `it_pending` (HR's or IT's checklist items or review not signed off). With
    `names`, also who the current approval step waits for (`current_approver`,
    `current_assignee_name`, `current_assignee_active`) and the new super admin a handover names
    (`handover_to_name`): what the exit list's column says. All in the exit rows' own query."""
    owns = Q()
    for model in OWNED_RESOURCE_MODELS:
        owns |= Q(Exists(model.objects.filter(owner_id=OuterRef("member_id"))))
    receiver_full = Exists(
        InheritanceItem.objects.filter(
            batch__exit_case=OuterRef("pk"),
            batch__undone_at__isnull=True,
            status=InheritanceStatus.RECEIVER_FULL,
        )
    )
    hr_pending = Q(hr_signed_off_at__isnull=True) | Q(Exists(_unsigned_items(Team.HR)))
    it_pending = Q(it_signed_off_at__isnull=True) | Q(Exists(_unsigned_items(Team.IT)))
    handover = Q(state=ExitState.HANDOVER)
    queryset = queryset.annotate(
        hr_pending=ExpressionWrapper(hr_pending, output_field=BooleanField()),
        it_pending=ExpressionWrapper(it_pending, output_field=BooleanField()),
        waiting_step=Case(
            When(state=ExitState.DRAFT, then=Value(WaitingStep.SUBMISSION)),
            When(state=ExitState.PENDING_APPROVAL, then=Value(WaitingStep.APPROVAL)),
            When(state=ExitState.COMPLETED, then=Value(WaitingStep.UNDO_WINDOW)),
            When(
                handover & Q(member__role=MemberRole.SUPER_ADMIN),
                then=Value(WaitingStep.SUPER_ADMIN_HANDOVER),
            ),
            When(
                handover & (Q(member__role=MemberRole.ADMIN) | Q(member__is_backup_admin=True)),
                then=Value(WaitingStep.ADMIN_RIGHTS),
            ),
            When(handover & (owns | Q(receiver_full)), then=Value(WaitingStep.RESOURCES)),
            When(handover & hr_pending & it_pending, then=Value(WaitingStep.HR_AND_IT_SIGN_OFF)),
            When(handover & hr_pending, then=Value(WaitingStep.HR_SIGN_OFF)),
            When(handover & it_pending, then=Value(WaitingStep.IT_SIGN_OFF)),
            When(handover, then=Value(WaitingStep.COMPLETION)),
            default=Value(None),
            output_field=CharField(),
        ),
    )
    if names:
        pending = _pending_steps()
        queryset = queryset.annotate(
            current_approver=Subquery(pending.values("approver")[:1]),
            current_assignee_name=Subquery(pending.values("assignee__name")[:1]),
            current_assignee_status=Subquery(pending.values("assignee__status")[:1]),
            handover_to_name=Subquery(
                SuperAdminHandover.objects.filter(
                    exit_case=OuterRef("pk"), state__in=OPEN_HANDOVER_STATES
                ).values("to_member__name")[:1]
            ),
        )
    return queryset


def approver_of(exit_case) -> str:
    """Who decides the current approval step of an exit annotated `with_waiting_step(names=True)`:
    the assignee by name, or HR when nobody active is assigned."""
    if exit_case.current_assignee_name and exit_case.current_assignee_status == MemberStatus.ACTIVE:
        return exit_case.current_assignee_name
    return _("HR")


def waiting_on(exit_case, *, time_zone=None) -> str:
    """The step an exit annotated `with_waiting_step(names=True)` waits for, and on whom, in a
    few words: the exit list's column. No query."""
    step = exit_case.waiting_step
    if step is None:
        return ""
    if step == WaitingStep.SUBMISSION:
        if exit_case.kind in REMOVABLE_KINDS:
            return _("Submission or removal: HR")
        return _("Submission: %(name)s") % {"name": exit_case.member.name}
    if step == WaitingStep.APPROVAL:
        approver = (
            ApproverKind(exit_case.current_approver).label if exit_case.current_approver else ""
        )
        return _("Approval (%(step)s): %(name)s") % {
            "step": approver,
            "name": approver_of(exit_case),
        }
    if step == WaitingStep.SUPER_ADMIN_HANDOVER:
        if exit_case.handover_to_name:
            return _("Super admin handover: %(name)s confirms") % {
                "name": exit_case.handover_to_name
            }
        return _("Super admin handover: %(name)s names the new super admin") % {
            "name": exit_case.member.name
        }
    if step == WaitingStep.ADMIN_RIGHTS:
        return _("Admin rights to hand over: HR and the super admin")
    if step == WaitingStep.RESOURCES:
        return _("Resources to hand over: HR")
    if step == WaitingStep.HR_AND_IT_SIGN_OFF:
        return _("Checklist and reviews: HR and IT")
    if step == WaitingStep.HR_SIGN_OFF:
        return _("Checklist and review: HR")
    if step == WaitingStep.IT_SIGN_OFF:
        return _("Checklist and review: IT")
    if step == WaitingStep.COMPLETION:
        return _("Completion: HR or IT")
    deadline = exit_case.undo_deadline
    if deadline is None:
        return WaitingStep.UNDO_WINDOW.label
    zone = time_zone or exit_case.enterprise.time_zone
    return _("Undo window until %(when)s") % {
        "when": formats.localize(timezone.localtime(deadline, zone))
    }


# ---------------------------------------------------------------------------------------------
# Staff: what waits for me


def _role_ids(grants, role) -> list[int] | None:
    """The enterprises where the user works as `role`; None: all of them (a superuser)."""
    return None if grants.all_enterprises else grants.enterprise_ids((role,))


def _in(queryset, ids, lookup="enterprise_id"):
    return queryset if ids is None else queryset.filter(**{f"{lookup}__in": ids})


def exit_summary(user) -> list[dict]:
    """The user's open exits, grouped by enterprise, state and waiting step: how many, the oldest
    opened, and how many wait for HR's and IT's sign-offs (whatever step comes first). One query;
    the staff home's counts and the "open exits" chart all come from it."""
    queryset = with_waiting_step(Exit.objects.visible_to(user).open())
    sign_off_due = Q(state=ExitState.HANDOVER)
    return list(
        queryset.order_by()
        .values("enterprise_id", "state", "waiting_step")
        .annotate(
            count=Count("pk"),
            oldest=Min("created_at"),
            hr_due=Count("pk", filter=sign_off_due & Q(hr_pending=True)),
            hr_oldest=Min("created_at", filter=sign_off_due & Q(hr_pending=True)),
            it_due=Count("pk", filter=sign_off_due & Q(it_pending=True)),
            it_oldest=Min("created_at", filter=sign_off_due & Q(it_pending=True)),
        )
    )


def _enterprises(user) -> dict[int, Enterprise]:
    return {
        enterprise.pk: enterprise
        for enterprise in Enterprise.objects.visible_to(user).only("pk", "name", "time_zone")
    }


def staff_waiting(user, *, summary=None, enterprises=None) -> list[Item]:
    """What waits for a staff user in the exit workflow, per granted enterprise and role, oldest
    first: approvals HR decides, drafts HR submits or removes, resources to hand over, HR's and
    IT's sign-offs, exits ready to complete, inheritance items a full successor could not take or a
    customer declined, and terminations from the HR system that could not become exits."""
    grants = grants_for(user)
    if not grants.has_any():
        return []
    summary = exit_summary(user) if summary is None else summary
    enterprises = _enterprises(user) if enterprises is None else enterprises
    hr_ids = _role_ids(grants, StaffRole.HR)
    it_ids = _role_ids(grants, StaffRole.IT)

    def works_as(ids, enterprise_id):
        return ids is None or enterprise_id in ids

    items: list[Item] = []

    def add(kind, enterprise_id, count, oldest, sentence, url, label=None, urgent=False):
        enterprise = enterprises.get(enterprise_id)
        if not count or enterprise is None:
            return
        items.append(
            Item(
                kind=kind,
                sentence=sentence,
                url=url,
                count=count,
                oldest=oldest,
                oldest_label=label or _("waiting since"),
                enterprise=enterprise,
                time_zone=enterprise.time_zone,
                urgent=urgent,
            )
        )

    changelist = "admin:offboarding_exit_changelist"
    totals: dict[tuple[int, str], list] = {}
    for row in summary:
        eid = row["enterprise_id"]
        for key, count, oldest in (
            (row["waiting_step"], row["count"], row["oldest"]),
            ("hr_due", row["hr_due"], row["hr_oldest"]),
            ("it_due", row["it_due"], row["it_oldest"]),
        ):
            if count:
                total = totals.setdefault((eid, key), [0, None])
                total[0] += count
                total[1] = min(filter(None, [total[1], oldest]), default=None)

    # Drafts HR opened (a removal) or the HR system did (a termination): HR submits or removes.
    if hr_ids is None or hr_ids:
        drafts = (
            _in(Exit.objects.filter(state=ExitState.DRAFT, kind__in=REMOVABLE_KINDS), hr_ids)
            .order_by()
            .values("enterprise_id")
            .annotate(count=Count("pk"), oldest=Min("created_at"))
        )
        for row in drafts:
            eid = row["enterprise_id"]
            add(
                "drafts",
                eid,
                row["count"],
                row["oldest"],
                ngettext(
                    "%(count)d exit opened by HR or the HR system waits to be removed or "
                    "submitted.",
                    "%(count)d exits opened by HR or the HR system wait to be removed or "
                    "submitted.",
                    row["count"],
                )
                % {"count": row["count"]},
                _url(changelist, enterprise__id__exact=eid, waiting=WaitingStep.SUBMISSION),
            )
        approvals = (
            Exit.objects.waiting_for(user)
            .order_by()
            .values("enterprise_id")
            .annotate(count=Count("pk"), oldest=Min("submitted_at"))
        )
        for row in approvals:
            add(
                "approvals",
                row["enterprise_id"],
                row["count"],
                row["oldest"],
                ngettext(
                    "%(count)d exit waits for HR's approval.",
                    "%(count)d exits wait for HR's approval.",
                    row["count"],
                )
                % {"count": row["count"]},
                reverse("offboarding:approvals"),
                label=_("submitted since"),
            )
        inheritance_rows = (
            _in(
                InheritanceItem.objects.filter(
                    batch__undone_at__isnull=True,
                    batch__exit_case__state=ExitState.HANDOVER,
                    status__in=(InheritanceStatus.RECEIVER_FULL, InheritanceStatus.REFUSED),
                ),
                hr_ids,
                "batch__enterprise_id",
            )
            .order_by()
            .values("batch__enterprise_id", "status")
            .annotate(count=Count("pk"), oldest=Min("updated_at"))
        )
        for row in inheritance_rows:
            n = row["count"]
            if row["status"] == InheritanceStatus.RECEIVER_FULL:
                sentence = ngettext(
                    "%(count)d external contact did not fit: its successor is at the limit. "
                    "Reassign it from its exit.",
                    "%(count)d external contacts did not fit: their successors are at the limit. "
                    "Reassign them from their exits.",
                    n,
                )
                kind = "receiver_full"
            else:
                sentence = ngettext(
                    "%(count)d customer declined the handover of an exit still in handover: "
                    "kept with the successor as a lost customer.",
                    "%(count)d customers declined the handover of exits still in handover: "
                    "kept with the successors as lost customers.",
                    n,
                )
                kind = "refused"
            add(
                kind,
                row["batch__enterprise_id"],
                n,
                row["oldest"],
                sentence % {"count": n},
                _url("admin:offboarding_inheritanceitem_changelist", status__exact=row["status"]),
                urgent=kind == "receiver_full",
            )
        terminations = (
            _in(HRTermination.objects.filter(state=TerminationState.FAILED), hr_ids)
            .order_by()
            .values("enterprise_id")
            .annotate(count=Count("pk"), oldest=Min("received_at"))
        )
        for row in terminations:
            eid = row["enterprise_id"]
            add(
                "terminations",
                eid,
                row["count"],
                row["oldest"],
                ngettext(
                    "%(count)d termination from the HR system could not become an exit: review it.",
                    "%(count)d terminations from the HR system could not become exits: "
                    "review them.",
                    row["count"],
                )
                % {"count": row["count"]},
                _url(
                    "admin:offboarding_hrtermination_changelist",
                    state__exact=TerminationState.FAILED,
                    enterprise__id__exact=eid,
                ),
                label=_("received since"),
                urgent=True,
            )

    for (eid, key), (count, oldest) in sorted(totals.items(), key=lambda pair: pair[0]):
        if key == WaitingStep.RESOURCES and works_as(hr_ids, eid):
            add(
                "resources",
                eid,
                count,
                oldest,
                ngettext(
                    "%(count)d exit in handover waits for HR to hand its member's resources "
                    "over.",
                    "%(count)d exits in handover wait for HR to hand their members' resources "
                    "over.",
                    count,
                )
                % {"count": count},
                _url(changelist, enterprise__id__exact=eid, waiting=WaitingStep.RESOURCES),
            )
        elif key == "hr_due" and works_as(hr_ids, eid):
            add(
                "hr_sign_off",
                eid,
                count,
                oldest,
                ngettext(
                    "%(count)d exit in handover waits for HR's checklist sign-offs or review.",
                    "%(count)d exits in handover wait for HR's checklist sign-offs or review.",
                    count,
                )
                % {"count": count},
                _url(changelist, enterprise__id__exact=eid, waiting="hr"),
            )
        elif key == "it_due" and works_as(it_ids, eid):
            add(
                "it_sign_off",
                eid,
                count,
                oldest,
                ngettext(
                    "%(count)d exit in handover waits for IT's checklist sign-offs or review.",
                    "%(count)d exits in handover wait for IT's checklist sign-offs or review.",
                    count,
                )
                % {"count": count},
                _url(changelist, enterprise__id__exact=eid, waiting="it"),
            )
        elif key == WaitingStep.COMPLETION and (works_as(hr_ids, eid) or works_as(it_ids, eid)):
            add(
                "completion",
                eid,
                count,
                oldest,
                ngettext(
                    "%(count)d exit has nothing left and waits to be completed.",
                    "%(count)d exits have nothing left and wait to be completed.",
                    count,
                )
                % {"count": count},
                _url(changelist, enterprise__id__exact=eid, waiting=WaitingStep.COMPLETION),
            )
    return items


def sorted_items(items: list[Item]) -> list[Item]:
    """Urgent items first, then the oldest first."""
    return sorted(items, key=lambda item: (not item.urgent, item.sort_key))


# ---------------------------------------------------------------------------------------------
# Staff: the enterprise at a glance


def _local_today_filter(enterprises, lookup: str, field_name: str) -> Q:
    """`field_name` before today, each enterprise by its own today: one Q per distinct today
    (a day or two at any moment, so the SQL stays small however many enterprises there are)."""
    by_today: dict = {}
    for enterprise in enterprises.values():
        today = timezone.localdate(timezone=enterprise.time_zone)
        by_today.setdefault(today, []).append(enterprise.pk)
    condition = Q(pk__in=[])
    for today, ids in by_today.items():
        condition |= Q(**{f"{lookup}__in": ids, f"{field_name}__lt": today})
    return condition


def late_checklists(user, enterprises) -> tuple[int, list]:
    """Exits not completed whose last working day has passed (each in its enterprise's today):
    how many, and the longest late first."""
    queryset = Exit.objects.visible_to(user).filter(
        _local_today_filter(enterprises, "enterprise_id", "last_working_day"),
        state__in=UNFINISHED_STATES,
    )
    rows = list(
        with_waiting_step(queryset, names=True)
        .select_related("member", "enterprise")
        .order_by("last_working_day", "pk")[:LIST_LENGTH]
    )
    count = len(rows) if len(rows) < LIST_LENGTH else queryset.count()
    for exit_case in rows:
        today = timezone.localdate(timezone=exit_case.enterprise.time_zone)
        exit_case.days_late = (today - exit_case.last_working_day).days
        exit_case.waiting_on = waiting_on(exit_case)
    return count, rows


def undo_windows(user) -> tuple[int, list]:
    """Completed exits whose undo window is still open, the soonest to close first, with the time
    left."""
    now = timezone.now()
    queryset = Exit.objects.visible_to(user).filter(
        state=ExitState.COMPLETED, undo_deadline__gt=now
    )
    rows = list(
        queryset.select_related("member", "enterprise").order_by("undo_deadline", "pk")[
            :LIST_LENGTH
        ]
    )
    count = len(rows) if len(rows) < LIST_LENGTH else queryset.count()
    for exit_case in rows:
        exit_case.time_left = exit_case.undo_deadline - now
    return count, rows


def pending_dissolution(user) -> tuple[int, list]:
    """Departments pending dissolution, the longest pending first."""
    queryset = Department.objects.visible_to(user).filter(
        status=DepartmentStatus.PENDING_DISSOLUTION
    )
    rows = list(queryset.select_related("enterprise").order_by("pending_since", "pk")[:LIST_LENGTH])
    count = len(rows) if len(rows) < LIST_LENGTH else queryset.count()
    return count, rows


def last_job_runs(user) -> list[JobRun]:
    """The latest run of each job (skipped runs aside), failures first; each with the errors
    `user` may see (`visible_errors`). One query."""
    from directory.admin import visible_errors

    if not grants_for(user).has_any():
        return []
    latest = (
        JobRun.objects.filter(job=OuterRef("job"))
        .exclude(status=JobStatus.SKIPPED)
        .order_by("-started_at", "-pk")
        .values("pk")[:1]
    )
    runs = list(JobRun.objects.filter(pk=Subquery(latest)).order_by("job"))
    for run in runs:
        run.shown_errors = visible_errors(run, user)
    runs.sort(key=lambda run: (run.status != JobStatus.FAILED, run.job))
    return runs


def exits_by_state(summary) -> list[tuple[str, str, int]]:
    """Open exits by state: (state, label, count), in the workflow's order."""
    counts: dict[str, int] = {}
    for row in summary:
        counts[row["state"]] = counts.get(row["state"], 0) + row["count"]
    return [(state.value, state.label, counts.get(state, 0)) for state in OPEN_STATES]


def exits_by_step(summary) -> list[tuple[str, str, int]]:
    """Open exits by the step they wait for: (step, label, count), steps with none left out."""
    counts: dict[str, int] = {}
    for row in summary:
        if row["waiting_step"]:
            counts[row["waiting_step"]] = counts.get(row["waiting_step"], 0) + row["count"]
    return [(step.value, step.label, counts[step]) for step in WaitingStep if counts.get(step)]


def _month_starts(now_local, months: int) -> list[datetime]:
    first = now_local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [first]
    for _index in range(months - 1):
        previous = (starts[-1] - timedelta(days=1)).replace(day=1)
        starts.append(previous)
    return list(reversed(starts))


def exits_per_month(user, months: int = CHART_MONTHS) -> dict:
    """Exits opened per month by kind over the last `months` months (this one included), months
    in the current time zone (the user's enterprise's). One query."""
    zone = timezone.get_current_timezone()
    starts = _month_starts(timezone.localtime(timezone.now(), zone), months)
    rows = (
        Exit.objects.visible_to(user)
        .filter(created_at__gte=starts[0])
        .annotate(month=TruncMonth("created_at", tzinfo=zone))
        .order_by()
        .values("month", "kind")
        .annotate(count=Count("pk"))
    )
    counts: dict[tuple, int] = {}
    for row in rows:
        month = (
            timezone.localtime(row["month"], zone)
            if timezone.is_aware(row["month"])
            else row["month"]
        )
        counts[(month.year, month.month, row["kind"])] = row["count"]
    return {
        "months": [formats.date_format(start, "YEAR_MONTH_FORMAT") for start in starts],
        "short_months": [formats.date_format(start, "M") for start in starts],
        "series": [
            {
                "key": kind.value,
                "label": kind.label,
                "values": [
                    counts.get((start.year, start.month, kind.value), 0) for start in starts
                ],
            }
            for kind in ExitKind
        ],
    }


# ---------------------------------------------------------------------------------------------
# Members: what waits for me on `/`


def member_waiting(user, member) -> dict:
    """What waits for a member (and for any user on the pages): approvals they decide, their own
    exit's next step, a super-admin handover naming them, a backup-admin designation to accept,
    resources arriving to them as a successor, and — for the super admin — a backup admin to
    designate when the enterprise has none. A fixed number of queries."""
    items: list[Item] = []
    waiting = Exit.objects.waiting_for(user)
    approvals = list(
        waiting.select_related("member__department", "enterprise").order_by("submitted_at", "pk")[
            :APPROVALS_SHOWN
        ]
    )
    approvals_count = len(approvals) if len(approvals) < APPROVALS_SHOWN else waiting.count()
    for exit_case in approvals:
        items.append(
            Item(
                kind="approval",
                sentence=_("The exit of %(name)s (%(department)s) waits for your decision.")
                % {"name": exit_case.member.name, "department": exit_case.member.department.name},
                url=reverse("offboarding:approval_detail", args=[exit_case.pk]),
                oldest=exit_case.submitted_at,
                oldest_label=_("submitted"),
                enterprise=exit_case.enterprise,
                time_zone=exit_case.enterprise.time_zone,
            )
        )
    if approvals_count > len(approvals):
        more = approvals_count - len(approvals)
        items.append(
            Item(
                kind="approval_more",
                sentence=ngettext(
                    "%(count)d more exit waits for your decision.",
                    "%(count)d more exits wait for your decision.",
                    more,
                )
                % {"count": more},
                url=reverse("offboarding:approvals"),
                count=more,
            )
        )
    own_exit = None
    if member is not None:
        own_exit = (
            with_waiting_step(Exit.objects.filter(member=member).open(), names=True)
            .select_related("enterprise", "member")
            .first()
        )
        if own_exit is not None:
            items.append(_own_exit_item(own_exit))
        handover = (
            SuperAdminHandover.objects.filter(to_member=member, state__in=OPEN_HANDOVER_STATES)
            .select_related("from_member")
            .first()
        )
        if handover is not None:
            items.append(
                Item(
                    kind="handover",
                    sentence=_(
                        "%(name)s named you the new super admin: confirm it with your password "
                        "and your authenticator app."
                    )
                    % {"name": handover.from_member.name},
                    url=reverse("offboarding:super_admin"),
                    oldest=handover.requested_at,
                    oldest_label=_("named"),
                    time_zone=member.enterprise.time_zone,
                    urgent=True,
                )
            )
        designation = (
            BackupAdminDesignation.objects.filter(
                member=member, state=BackupDesignationState.AWAITING_ACCEPTANCE
            )
            .select_related("super_admin")
            .first()
        )
        if designation is not None:
            items.append(
                Item(
                    kind="backup_designation",
                    sentence=_("%(name)s designated you as the backup admin: accept it.")
                    % {"name": designation.super_admin.name},
                    url=reverse("offboarding:backup_admin"),
                    oldest=designation.designated_at,
                    oldest_label=_("designated"),
                    time_zone=member.enterprise.time_zone,
                )
            )
        items.extend(_arriving(member))
        if member.is_active_super_admin and not (
            Member.objects.filter(
                enterprise_id=member.enterprise_id,
                is_backup_admin=True,
                status=MemberStatus.ACTIVE,
            ).exists()
        ):
            items.append(
                Item(
                    kind="no_backup_admin",
                    sentence=_(
                        "Your enterprise has no backup admin: if your account were lost, nobody "
                        "could administer it. Designate one."
                    ),
                    url=reverse("offboarding:backup_admin"),
                    urgent=True,
                )
            )
    return {
        "items": items,
        "approvals_count": approvals_count,
        "own_exit": own_exit,
    }


def _own_exit_item(exit_case) -> Item:
    step = exit_case.waiting_step
    url = reverse("offboarding:my_exit")
    if step == WaitingStep.SUBMISSION:
        sentence = _("Your exit request is a draft: submit it when you are ready.")
    elif step == WaitingStep.APPROVAL:
        sentence = _("Your exit request waits for the approval of %(name)s.") % {
            "name": approver_of(exit_case)
        }
    elif step == WaitingStep.SUPER_ADMIN_HANDOVER:
        url = reverse("offboarding:super_admin")
        if exit_case.handover_to_name:
            sentence = _(
                "Your exit is approved; it completes once %(name)s confirms the super admin "
                "handover."
            ) % {"name": exit_case.handover_to_name}
        else:
            sentence = _(
                "Your exit is approved: name the new super admin, or it cannot "
                "complete."
            )
    elif step == WaitingStep.UNDO_WINDOW:
        sentence = _("Your exit is completed.")
    else:
        sentence = _(
            "Your exit is approved: HR and IT are handing your work over (now: %(step)s)."
        ) % {"step": WaitingStep(step).label if step else exit_case.get_state_display()}
    return Item(
        kind="own_exit",
        sentence=sentence,
        url=url,
        oldest=exit_case.last_working_day,
        oldest_label=_("last working day"),
        time_zone=exit_case.enterprise.time_zone,
    )


def _arriving(member) -> list[Item]:
    """Resources coming to `member` as a successor from exits still open, one line per
    leaving colleague, by type; contacts a customer may still decline are counted apart."""
    rows = (
        InheritanceItem.objects.filter(
            successor=member,
            batch__undone_at__isnull=True,
            batch__exit_case__state__in=(ExitState.HANDOVER, ExitState.COMPLETED),
        )
        .exclude(status=InheritanceStatus.RECEIVER_FULL)
        .order_by()
        .values("batch__from_member__name", "resource_type", "status")
        .annotate(count=Count("pk"), since=Min("created_at"))[:200]
    )
    by_person: dict[str, dict] = {}
    for row in rows:
        person = by_person.setdefault(
            row["batch__from_member__name"], {"types": {}, "waiting": 0, "since": row["since"]}
        )
        person["types"][row["resource_type"]] = (
            person["types"].get(row["resource_type"], 0) + row["count"]
        )
        if row["status"] == InheritanceStatus.WAITING:
            person["waiting"] += row["count"]
        person["since"] = min(person["since"], row["since"])
    items = []
    for name, person in sorted(by_person.items()):
        parts = ", ".join(
            f"{ResourceType(rtype).label} × {count}"
            for rtype, count in sorted(
                person["types"].items(), key=lambda pair: ResourceType.values.index(pair[0])
            )
        )
        sentence = _("%(name)s’s work comes to you as their successor: %(parts)s.") % {
            "name": name,
            "parts": parts,
        }
        details = []
        if person["waiting"]:
            details.append(
                ngettext(
                    "%(count)d customer may still decline during the acceptance period.",
                    "%(count)d customers may still decline during the acceptance period.",
                    person["waiting"],
                )
                % {"count": person["waiting"]}
            )
        items.append(
            Item(
                kind="arriving",
                sentence=sentence,
                oldest=person["since"],
                oldest_label=_("since"),
                time_zone=member.enterprise.time_zone,
                details=details,
            )
        )
    return items
