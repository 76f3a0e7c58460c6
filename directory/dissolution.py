"""Departments left without anyone (D-2, 「部门人数归零时自动标记为待解散状态」).

- `mark_pending_dissolution()`: the nightly job (J-4). In each enterprise whose local night has
  come (directory/jobs.py `due_tonight`), every active department whose subtree — the department
  and every department under it, at any depth (django-tree-queries) — has nobody in it becomes
  `pending_dissolution`, with `pending_since` the time of the run; every pending one whose subtree
  has someone again goes back to `active`. The headcount (部门人数归零) counts every member who
  has not departed (`Member.objects.not_departed()`): a frozen member (a stolen account) is still
  employed, and keeps their department. Dissolved departments are left alone. Each
  changed row gets a history row (reason "mark_pending_dissolution", no user: the system).
- `dissolve(department, actor=...)`: dissolving stays a deliberate human action, HR's, from the
  admin: only a department pending dissolution, and only while nobody who has not departed is in
  its subtree.

How the job finds the departments with someone in them: one query returns the tree path (the ids
from the root down) of every department of the enterprise that has a member of its own who has not
departed;
every id on those paths has someone in its subtree. What is kept in memory is department ids of one
enterprise — a department tree is small next to its members (2,000 departments for 20,000 members
at the M scale of the benchmarks); members are only asked about in the database (EXISTS). The
changes are written in batches of ids, each batch in its own transaction, locking the rows and
re-reading their status, so a department dissolved meanwhile is not touched. Running the job twice
changes nothing the second time: a department already pending is not marked again (its
`pending_since` stays the first night's).
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from simple_history.utils import bulk_update_with_history

from .choices import DepartmentStatus
from .jobs import due_tonight, finish_enterprise, job_run
from .models import Department, Enterprise, Member
from .services import DirectoryError

JOB = "directory.mark_pending_dissolution"
CHANGE_REASON = "mark_pending_dissolution"
DISSOLVE_REASON = "dissolve"
BATCH_SIZE = 500


def mark_pending_dissolution(*, now: datetime | None = None) -> dict | None:
    """Mark and unmark the departments of every enterprise due tonight (see the module
    docstring). Returns {"marked": n, "unmarked": n} over all of them, or None when another run
    holds the job's lease (this one then did nothing)."""
    now = now or timezone.now()
    totals = {"marked": 0, "unmarked": 0}
    with job_run(JOB) as run:
        if run is None:
            return None
        for enterprise in due_tonight(JOB, now=now):
            try:
                counts = mark_enterprise(enterprise, now=now)
            except Exception as error:  # one enterprise's failure: the others go on
                run.error(enterprise.pk, error)
                continue
            finish_enterprise(run, JOB, enterprise, now=now, totals=counts)
            run.renew()
            for what, how_many in counts.items():
                totals[what] += how_many
    return totals


def mark_enterprise(enterprise: Enterprise, *, now: datetime) -> dict:
    """One enterprise's marking and unmarking: {"marked": n, "unmarked": n}."""
    staffed = staffed_department_ids(enterprise.pk)
    departments = Department.objects.filter(enterprise=enterprise).order_by("pk")
    to_mark = [
        pk
        for pk in departments.filter(status=DepartmentStatus.ACTIVE).values_list("pk", flat=True)
        if pk not in staffed
    ]
    to_unmark = [
        pk
        for pk in departments.filter(status=DepartmentStatus.PENDING_DISSOLUTION).values_list(
            "pk", flat=True
        )
        if pk in staffed
    ]
    marked = _change(
        to_mark,
        expected=DepartmentStatus.ACTIVE,
        status=DepartmentStatus.PENDING_DISSOLUTION,
        pending_since=now,
    )
    unmarked = _change(
        to_unmark,
        expected=DepartmentStatus.PENDING_DISSOLUTION,
        status=DepartmentStatus.ACTIVE,
        pending_since=None,
    )
    return {"marked": marked, "unmarked": unmarked}


def staffed_department_ids(enterprise_id: int) -> set[int]:
    """Ids of the enterprise's departments whose subtree has at least one member who has not
    departed."""
    with_members = (
        Department.objects.with_tree_fields()
        .tree_filter(enterprise_id=enterprise_id)
        .filter(Exists(Member.objects.not_departed().filter(department=OuterRef("pk"))))
        .values_list("tree_path", flat=True)
    )
    staffed: set[int] = set()
    for path in with_members:
        staffed.update(path)
    return staffed


def _change(ids: list[int], *, expected: str, **fields) -> int:
    changed = 0
    for start in range(0, len(ids), BATCH_SIZE):
        with transaction.atomic():
            rows = list(
                Department.objects.select_for_update()
                .filter(pk__in=ids[start : start + BATCH_SIZE], status=expected)
                .order_by("pk")
            )
            for row in rows:
                for name, value in fields.items():
                    setattr(row, name, value)
            if rows:
                bulk_update_with_history(
                    rows,
                    Department,
                    list(fields),
                    default_user=None,
                    default_change_reason=CHANGE_REASON,
                )
            changed += len(rows)
    return changed


def subtree_ids(department: Department) -> list[int]:
    """The department's id and those of every department under it, at any depth."""
    return list(
        Department.objects.tree_filter(enterprise_id=department.enterprise_id)
        .descendants(department, include_self=True)
        .values_list("pk", flat=True)
    )


def active_members_in_subtree(department: Department) -> int:
    """The department's headcount: members in it or under it who have not departed."""
    return Member.objects.not_departed().filter(department_id__in=subtree_ids(department)).count()


@transaction.atomic
def dissolve(department: Department, *, actor) -> Department:
    """Dissolve a department pending dissolution, with every department under it (HR's decision,
    never automatic: D-2).

    Preconditions: `actor` may change the department in its enterprise (HR, or a superuser); the
    department is `pending_dissolution`; nobody who has not departed is in it or under it. Locks
    the subtree's rows, sets each not yet dissolved to `dissolved` with `actor` in its history
    (reason "dissolve"). Members who left stay linked to it. Raises DirectoryError, changing
    nothing.
    """
    if actor is None or not actor.has_perm("directory.change_department", department):
        raise DirectoryError(_("You are not allowed to dissolve this department."))
    ids = subtree_ids(department)
    rows = list(Department.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    locked = next(row for row in rows if row.pk == department.pk)
    if locked.status == DepartmentStatus.DISSOLVED:
        raise DirectoryError(_("%(name)s is dissolved already.") % {"name": locked.name})
    if locked.status != DepartmentStatus.PENDING_DISSOLUTION:
        raise DirectoryError(
            _(
                "%(name)s is not pending dissolution: only a department the nightly check found "
                "without members can be dissolved."
            )
            % {"name": locked.name}
        )
    active = Member.objects.not_departed().filter(department_id__in=ids).count()
    if active:
        raise DirectoryError(
            ngettext(
                "%(name)s still has %(count)d member in it or under it who has not left: it "
                "cannot be dissolved.",
                "%(name)s still has %(count)d members in it or under it who have not left: it "
                "cannot be dissolved.",
                active,
            )
            % {"name": locked.name, "count": active}
        )
    for row in rows:
        if row.status == DepartmentStatus.DISSOLVED:
            continue
        row.status = DepartmentStatus.DISSOLVED
        row._history_user = actor
        row._change_reason = DISSOLVE_REASON
        row.save(update_fields=["status"])
    return locked
