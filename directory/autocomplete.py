"""The admin's pickers (autocomplete, select2): a label people can read, and a name for screen
readers.

- `AutocompleteView` answers the admin's autocomplete URL (`admin:autocomplete`, mounted by the
  admin site; config/urls.py points the site at the offboarding subclass). Rows come from the
  picked model's admin (`get_queryset`: the tenant wall of `EnterpriseScopedAdmin`, then its
  `get_search_results`), so a staff user is offered only rows of their own enterprises, whatever
  `app_label`, `model_name` or `field_name` the query string names. A member is shown as
  "name · department · title (number)": a name alone does not tell two 王伟 apart.
- `LabelledAutocompleteSelect` is the admin's select2 widget, plus a small script that gives the
  combobox select2 draws the accessible name of the field's label (select2 names it after the
  chosen value only: nothing when empty). `forward` adds query parameters to the URL it asks,
  for a picker that needs to say what it picks for (the exit whose successor is chosen).
"""

from urllib.parse import urlencode

from django import forms
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.widgets import AutocompleteSelect

from .models import Member

SEPARATOR = " · "


def member_label(member: Member, *, extra: str = "") -> str:
    """A member as the pickers show them, "刘琳 · 销售部 · 客户经理 (E000123)", with `extra`
    after a dash if given. Load the department with the member (select_related) for many."""
    parts = [member.name, member.department.name if member.department_id else "", member.title]
    label = f"{SEPARATOR.join(part for part in parts if part)} ({member.employee_number})"
    return f"{label} — {extra}" if extra else label


class LabelledAutocompleteSelect(AutocompleteSelect):
    """The admin's autocomplete, named by its label for assistive technology."""

    def __init__(self, field, admin_site, attrs=None, choices=(), using=None, forward=None):
        super().__init__(field, admin_site, attrs=attrs, choices=choices, using=using)
        self.forward = dict(forward or {})

    def get_url(self):
        url = super().get_url()
        return f"{url}?{urlencode(self.forward)}" if self.forward else url

    @property
    def media(self):
        # After the admin's autocomplete.js (a Media sum would not promise that order).
        media = super().media
        return forms.Media(js=[*media._js, "directory/autocomplete_label.js"], css=media._css)


class AutocompleteView(AutocompleteJsonView):
    """The admin's autocomplete, with members labelled by department and title."""

    def get_queryset(self):
        queryset = super().get_queryset()
        if queryset.model is Member:
            queryset = queryset.select_related("department")
        return queryset

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        if isinstance(obj, Member):
            result["text"] = member_label(obj)
        return result
