"""The staff home (the admin index, U-2, U-5): what waits for the user, then the enterprises at a
glance, with charts.

Composed here because the compliance app sits on top of the others (directory ← offboarding ←
compliance): the exit workflow's part comes from offboarding/todo.py, this module adds the
compliance officer's items (erasure requests due, legal holds past their end) and the records by
retention status. A fixed number of queries, whatever the data (a test bounds it).
"""

from __future__ import annotations

from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from directory.choices import StaffRole
from directory.jobs import overdue_jobs
from directory.tenancy import grants_for
from offboarding import charts
from offboarding import todo as exit_todo

from . import erasure
from .choices import ErasureState
from .models import ErasureRequest, LegalHold, WorkRecord


def compliance_waiting(user, enterprises) -> list[exit_todo.Item]:
    """Erasure requests to evaluate (overdue ones urgent) and legal holds whose end date has
    passed but that nobody released, in the enterprises where `user` works as Compliance."""
    grants = grants_for(user)
    ids = None if grants.all_enterprises else grants.enterprise_ids((StaffRole.COMPLIANCE,))
    if ids == []:
        return []
    items = []
    received = ErasureRequest.objects.filter(state=ErasureState.RECEIVED)
    if ids is not None:
        received = received.filter(enterprise_id__in=ids)
    overdue = erasure.overdue(ErasureRequest.objects.all())
    rows = (
        received.order_by()
        .values("enterprise_id")
        .annotate(
            count=Count("pk"),
            oldest=Min("due_on"),
            overdue=Count("pk", filter=Q(pk__in=overdue.values("pk"))),
        )
    )
    changelist = reverse("admin:compliance_erasurerequest_changelist")
    for row in rows:
        enterprise = enterprises.get(row["enterprise_id"])
        if enterprise is None:
            continue
        count, late = row["count"], row["overdue"]
        sentence = ngettext(
            "%(count)d erasure request waits to be evaluated.",
            "%(count)d erasure requests wait to be evaluated.",
            count,
        ) % {"count": count}
        if late:
            sentence += " " + ngettext("%(count)d is overdue.", "%(count)d are overdue.", late) % {
                "count": late
            }
        items.append(
            exit_todo.Item(
                kind="erasure",
                sentence=sentence,
                url=f"{changelist}?state__exact={ErasureState.RECEIVED}"
                f"&enterprise__id__exact={enterprise.pk}",
                count=count,
                oldest=row["oldest"],
                oldest_label=_("first due on"),
                enterprise=enterprise,
                time_zone=enterprise.time_zone,
                urgent=bool(late),
            )
        )
    # Each enterprise by its own today; one condition per distinct today.
    by_today: dict = {}
    for enterprise in enterprises.values():
        if ids is None or enterprise.pk in ids:
            today = timezone.localdate(timezone=enterprise.time_zone)
            by_today.setdefault(today, []).append(enterprise.pk)
    ended = Q(pk__in=[])
    for today, enterprise_ids in by_today.items():
        ended |= Q(enterprise_id__in=enterprise_ids, ends_on__lt=today)
    holds = (
        LegalHold.objects.filter(ended, released_at__isnull=True)
        .order_by()
        .values("enterprise_id")
        .annotate(count=Count("pk"), oldest=Min("ends_on"))
    )
    for row in holds:
        enterprise = enterprises[row["enterprise_id"]]
        items.append(
            exit_todo.Item(
                kind="holds",
                sentence=ngettext(
                    "%(count)d legal hold has passed its end date: release it, or extend it.",
                    "%(count)d legal holds have passed their end dates: release them, or extend "
                    "them.",
                    row["count"],
                )
                % {"count": row["count"]},
                url=f"{reverse('admin:compliance_legalhold_changelist')}?status=ended",
                count=row["count"],
                oldest=row["oldest"],
                oldest_label=_("ended on"),
                enterprise=enterprise,
                time_zone=enterprise.time_zone,
            )
        )
    return items


# Retention status of a work record, in the chart's order.
RECORD_STATUSES = (
    ("live", Q(sealed_at__isnull=True, anonymized_at__isnull=True, restricted_at__isnull=True)),
    ("sealed", Q(sealed_at__isnull=False, restricted_at__isnull=True)),
    ("anonymized", Q(anonymized_at__isnull=False, sealed_at__isnull=True)),
    ("restricted", Q(restricted_at__isnull=False)),
)


def records_by_status(user) -> list[tuple[str, str, int]] | None:
    """Work records by retention status, in the enterprises where `user` may view records; None
    when they may view none. One query."""
    grants = grants_for(user)
    if not grants.has_any((StaffRole.COMPLIANCE,)):
        return None
    records = WorkRecord.objects.all()
    if not grants.all_enterprises:
        records = records.filter(enterprise_id__in=grants.enterprise_ids((StaffRole.COMPLIANCE,)))
    counts = records.aggregate(
        **{key: Count("pk", filter=condition) for key, condition in RECORD_STATUSES}
    )
    labels = {
        "live": _("Kept as written"),
        "sealed": _("Sealed"),
        "anonymized": _("Anonymized"),
        "restricted": _("Restricted (erasure blocked)"),
    }
    return [(key, labels[key], counts[key] or 0) for key, _condition in RECORD_STATUSES]


def staff_home(user) -> dict:
    """Everything the admin index shows above the list of apps."""
    grants = grants_for(user)
    if not grants.has_any():
        return {"staff": False}
    enterprises = exit_todo._enterprises(user)
    summary = exit_todo.exit_summary(user)
    items = exit_todo.staff_waiting(user, summary=summary, enterprises=enterprises)
    items += compliance_waiting(user, enterprises)
    late_count, late = exit_todo.late_checklists(user, enterprises)
    undo_count, undo = exit_todo.undo_windows(user)
    pending_count, pending = exit_todo.pending_dissolution(user)
    by_state = exit_todo.exits_by_state(summary)
    per_month = exit_todo.exits_per_month(user)
    records = records_by_status(user)
    roles = set()
    for enterprise_id in enterprises:
        roles |= grants.roles_in(enterprise_id) if not grants.all_enterprises else set(StaffRole)
    return {
        "staff": True,
        "several_enterprises": len(enterprises) > 1,
        "roles": sorted(StaffRole(role).label for role in roles),
        "waiting": exit_todo.sorted_items(items),
        "by_state": by_state,
        "by_step": exit_todo.exits_by_step(summary),
        "open_total": sum(count for _key, _label, count in by_state),
        "late_count": late_count,
        "late": late,
        "undo_count": undo_count,
        "undo": undo,
        "pending_count": pending_count,
        "pending": pending,
        "jobs": exit_todo.last_job_runs(user),
        "overdue_jobs": overdue_jobs(),
        "state_chart": charts.horizontal_bars(by_state),
        "month_chart": charts.stacked_columns(
            per_month["months"], per_month["short_months"], per_month["series"]
        ),
        "records_chart": charts.horizontal_bars(records) if records is not None else None,
    }
