"""The org tree (组织架构): an enterprise's departments as a tree, with head counts.

A read-only admin page (ExitAdmin's `org-tree/`, linked from the departments list), behind the
tenant wall: a staff user picks among the enterprises granted to them; a superuser among all. It
lives here, not in directory/, because "leaving" is a member with an open exit (offboarding).

Constant queries whatever the size of the tree: one for the departments, one aggregate for the
counts per department; the tree and the totals under each department are built in Python.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q

from directory import tenancy
from directory.choices import DepartmentStatus
from directory.models import Department, Enterprise, Member

from .choices import OPEN_STATES


@dataclass
class TreeNode:
    pk: int
    name: str
    status: str
    pending_since: datetime | None
    members: int = 0  # in this department itself, who have not departed
    leaving: int = 0  # of them, with an exit open
    total_members: int = 0  # in it and under it
    total_leaving: int = 0
    children: list["TreeNode"] = field(default_factory=list)

    @property
    def pending_dissolution(self) -> bool:
        return self.status == DepartmentStatus.PENDING_DISSOLUTION


def enterprises_for(user):
    """The enterprises whose tree `user` may see: those granted to them (all for a superuser)."""
    return tenancy.scope(Enterprise.objects.order_by("name"), user, lookup="pk")


def org_tree(enterprise: Enterprise) -> list[TreeNode]:
    """The enterprise's departments that are not dissolved, as a forest of TreeNode (roots
    first, each level by name), with the counts of each and of everything under it."""
    rows = (
        Department.objects.filter(enterprise=enterprise)
        .exclude(status=DepartmentStatus.DISSOLVED)
        .order_by("name", "pk")
        .values_list("pk", "parent_id", "name", "status", "pending_since")
    )
    nodes = {
        pk: TreeNode(pk=pk, name=name, status=status, pending_since=since)
        for pk, _parent, name, status, since in rows
    }
    counts = (
        Member.objects.not_departed()
        .filter(enterprise=enterprise, department__isnull=False)
        .values("department_id")
        .annotate(
            members=Count("pk", distinct=True),
            leaving=Count("pk", filter=Q(exits__state__in=OPEN_STATES), distinct=True),
        )
    )
    for row in counts:
        node = nodes.get(row["department_id"])
        if node is not None:
            node.members, node.leaving = row["members"], row["leaving"]
    roots = []
    for pk, parent_id, *_rest in rows:
        parent = nodes.get(parent_id)
        (parent.children if parent is not None else roots).append(nodes[pk])

    def add_up(node: TreeNode) -> None:
        node.total_members, node.total_leaving = node.members, node.leaving
        for child in node.children:
            add_up(child)
            node.total_members += child.total_members
            node.total_leaving += child.total_leaving

    for root in roots:
        add_up(root)
    return roots
