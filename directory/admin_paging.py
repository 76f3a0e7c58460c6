"""The admin's page count on big tables (issue: lists that do not grow).

Django's admin counts every row of a list to number its pages: `SELECT COUNT(*)` over an
enterprise's two million work records reads them all, on every page, and took most of the list's
time. Here, on PostgreSQL, the count stops at `EXACT_UP_TO` rows: a list that holds no more is
counted exactly; a longer one is numbered by the planner's estimate of its rows (never below what
was counted). Its pages are all reachable; the total it shows is approximate, and the last pages
of an overestimate are empty. Elsewhere (SQLite) the count is Django's own.

A page far down a list (from `DEFERRED_FROM` rows on) reads its rows' ids first, then the rows by
id: the OFFSET then skips narrow id tuples, not whole rows with their JSON and sealed bytes.
"""

import json

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

# Up to this many rows a list is counted exactly (a bounded count: a few milliseconds).
EXACT_UP_TO = 10_000
# From this offset on, a page reads its ids first.
DEFERRED_FROM = 2_000


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connections[queryset.db].vendor != "postgresql":
            return super().count
        counted = queryset.order_by()[: EXACT_UP_TO + 1].count()
        if counted <= EXACT_UP_TO:
            return counted
        return max(counted, planner_rows(queryset))

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        queryset = self.object_list
        if bottom < DEFERRED_FROM or connections[queryset.db].vendor != "postgresql":
            return super().page(number)
        ids = list(queryset.values_list("pk", flat=True)[bottom : bottom + self.per_page])
        rows = {row.pk: row for row in queryset.filter(pk__in=ids)}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)


def planner_rows(queryset) -> int:
    """How many rows PostgreSQL's planner expects `queryset` to return (EXPLAIN, not run)."""
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])
