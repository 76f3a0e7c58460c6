"""The admin's date drill-down (`date_hierarchy`) answers every date with a page, never a 500.

Django turns `?<field>__year=…&<field>__month=…&<field>__day=…` into a range from that day, month
or year to the next one. At the edges of the calendar that range cannot be built — the year after
9999, the month after December 9999, the day after 31 December 9999 — nor turned into UTC in a
time zone ahead of or behind it (1 January of year 1), and a number too large for a date at all is
an OverflowError: each was a 500. `DateDrillDownChangeList` checks the drill-down first and
answers one it cannot show as Django answers any other bad filter (IncorrectLookupParameters: the
list again, without it). `DateDrillDownMixin` gives it to an admin; every admin with a date
hierarchy uses it (EnterpriseScopedAdmin, the job runs, django-celery-beat's periodic tasks), and
a test requests every registered one.
"""

from datetime import date, timedelta

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList

# A day either side of the range: its bounds are local times, turned into UTC by the database.
_MARGIN = timedelta(days=1)


def check_date_drilldown(field: str, params: dict) -> None:
    """Raise IncorrectLookupParameters unless the drill-down in `params` (the query string's
    values, as lists) is a range of dates that can be built and stored."""
    year = params.get(f"{field}__year")
    if not year:
        return
    month = params.get(f"{field}__month")
    day = params.get(f"{field}__day")
    try:
        start = date(int(year[-1]), int(month[-1]) if month else 1, int(day[-1]) if day else 1)
        if day:
            end = start + timedelta(days=1)
        elif month:
            end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            end = start.replace(year=start.year + 1)
        _bounds = (start - _MARGIN, end + _MARGIN)  # raises at the calendar's edges
    except (ValueError, OverflowError) as error:
        raise IncorrectLookupParameters(error) from error


class DateDrillDownChangeList(ChangeList):
    def get_filters(self, request):
        if self.date_hierarchy:
            check_date_drilldown(self.date_hierarchy, self.filter_params)
        return super().get_filters(request)


class DateDrillDownMixin:
    """For a ModelAdmin: its list's date drill-down never fails (see the module docstring)."""

    def get_changelist(self, request, **kwargs):
        return DateDrillDownChangeList
