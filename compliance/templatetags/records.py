"""Records in words: the history pages' reasons and values (templates/simple_history/).

A history row's reason is the door that wrote it ("submit", "inherit", "inheritance:12", "api"),
and its changed values are codes, None and raw datetimes: these filters say them in the reader's
language — a transition by its button's name, a state by its label, a time in the reader's zone,
a duration in hours or days. What is not known is shown as it is.
"""

import datetime
import json

from django import template
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.durations import human_duration

from ..admin.audit import code_labels

register = template.Library()

# Reasons written by doors that are not transitions (a transition's name is labelled by its choice).
CHANGE_REASONS = {
    "open": gettext_lazy("Exit opened"),
    "request": gettext_lazy("Requested"),
    "confirm": gettext_lazy("Confirmed"),
    "accept": gettext_lazy("Accepted"),
    "withdraw": gettext_lazy("Withdrawn"),
    "designate": gettext_lazy("Designated"),
    "report_stolen": gettext_lazy("Reported stolen"),
    "close_grace_window": gettext_lazy("Emergency window closed"),
    "inherit": gettext_lazy("Resources handed over"),
    "refused": gettext_lazy("Customer declined the handover"),
    "sync": gettext_lazy("Synced from the HR system"),
    "api": gettext_lazy("Received through the API"),
    "csv": gettext_lazy("Imported from a CSV file"),
    "receive": gettext_lazy("Received"),
    "copy_default_checklist": gettext_lazy("Default checklist copied"),
    "bootstrap_enterprise": gettext_lazy("Enterprise set up (first run)"),
    "mark_pending_dissolution": gettext_lazy("Marked by the nightly job"),
    "dissolve": gettext_lazy("Dissolved"),
    "directory import": gettext_lazy("Directory imported"),
    "hr_review": gettext_lazy("HR review signed off"),
    "it_review": gettext_lazy("IT review signed off"),
    "reassign": gettext_lazy("Reassigned"),
    "skip": gettext_lazy("Skipped by HR"),
    "url": gettext_lazy("Robot address changed"),
    "settings": gettext_lazy("Settings changed"),
}


@register.filter
def change_reason(reason) -> str:
    """A history row's reason in words."""
    if not reason:
        return "—"
    if reason in CHANGE_REASONS:
        return str(CHANGE_REASONS[reason])
    if reason.startswith("inheritance:"):
        return _("Handover batch #%(id)s") % {"id": reason.partition(":")[2]}
    return code_labels().get(reason, reason)


@register.filter
def record_value(value) -> str:
    """A value of a history row's change in words."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, datetime.datetime):
        return formats.date_format(timezone.localtime(value), "Y-m-d H:i")
    if isinstance(value, datetime.date):
        return formats.date_format(value, "Y-m-d")
    if isinstance(value, datetime.timedelta):
        return human_duration(value)
    if isinstance(value, str):
        return _text_value(value)
    if isinstance(value, list):
        return ", ".join(record_value(item) for item in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {record_value(item)}" for key, item in value.items()) or "—"
    return str(value)


@register.filter
def field_label(record, name: str) -> str:
    """The verbose name of the field `name` of a history row's model."""
    try:
        field = record.instance_type._meta.get_field(name)
    except Exception:  # a field since removed: its name
        return name
    return str(getattr(field, "verbose_name", name))


def _text_value(text: str) -> str:
    """A value the history wrote as text: "None", a time, a JSON list, or a code."""
    if text == "None":
        return "—"
    if text[:1] in "[{":
        try:
            return record_value(json.loads(text))
        except ValueError:
            return text
    if text[:1].isdigit() and len(text) >= 19:
        moment = parse_datetime(text)
        if moment is not None:
            return record_value(moment)
    return code_labels().get(text, text)
