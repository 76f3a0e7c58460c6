"""Durations as people write and read them: a number of hours or days, never "1 day, 0:00:00".

- `human_duration(value)`: "24 hours", "7 days", "1 day 6 hours" (在中文里 "24 小时"、"7 天"),
  in the active language; "0" reads "at once".
- `DurationInput` / `DurationFormField`: a number and a unit (hours or days) in a form; the
  enterprise admin uses it for every duration field (undo window, customer acceptance period,
  emergency window).
"""

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

HOURS = "hours"
DAYS = "days"
UNITS = ((HOURS, gettext_lazy("hours")), (DAYS, gettext_lazy("days")))


def human_duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds == 0:
        return _("at once")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = []
    if days:
        parts.append(ngettext("%(n)d day", "%(n)d days", days) % {"n": days})
    if hours:
        parts.append(ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours})
    if minutes:
        parts.append(ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes})
    return " ".join(parts)


def _split(value: timedelta) -> tuple[int | float, str]:
    """A duration as (number, unit): whole days in days, anything else in hours."""
    seconds = value.total_seconds()
    if seconds and seconds % 86400 == 0:
        return int(seconds // 86400), DAYS
    hours = seconds / 3600
    return (int(hours) if hours == int(hours) else round(hours, 2)), HOURS


class DurationInput(forms.MultiWidget):
    def __init__(self, attrs=None):
        widgets = (
            forms.NumberInput(attrs={"min": "0", "step": "any", "class": "duration-number"}),
            forms.Select(
                choices=UNITS, attrs={"class": "duration-unit", "aria-label": gettext_lazy("unit")}
            ),
        )
        super().__init__(widgets, attrs)

    def decompress(self, value):
        if isinstance(value, timedelta):
            return list(_split(value))
        return [None, HOURS]


class DurationFormField(forms.MultiValueField):
    widget = DurationInput

    def __init__(self, *, max_value=None, min_value=None, **kwargs):
        kwargs.pop("max_length", None)
        fields = (
            forms.DecimalField(min_value=0, decimal_places=2),
            forms.ChoiceField(choices=UNITS),
        )
        super().__init__(fields, require_all_fields=True, **kwargs)

    def compress(self, data_list):
        if not data_list:
            return None
        number, unit = data_list
        if number is None:
            return None
        try:
            return timedelta(**{unit: float(number)})
        except (OverflowError, TypeError, ValueError) as error:
            raise ValidationError(_("Enter a number of hours or days.")) from error
