"""The successor pickers of the exit admin: who may take over, and how much they already hold.

`AutocompleteView` is the admin site's autocomplete (config/urls.py mounts it in place of
Django's): directory's view — members labelled by department and title, rows behind the tenant
wall of the picked model's admin — plus, for a successor field (an exit's successor, an inherited
resource's), each candidate's load of external contacts against the enterprise's limit
("刘琳 · 销售部 · 客户经理 (E0001) — 27 / 10 external contacts"), counted in the same query.

A picker for one exit's successors forwards `exit=<id>` (`successor_widget`): the candidates are
then the active members of that exit's enterprise but the leaving member. The exit is looked up
through the exit admin's own queryset and the user must be HR of it, so a forged id (another
enterprise's exit, an exit the user does not hand over) is refused (403), never answered with
another enterprise's members.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.forms import ModelChoiceField
from django.utils.translation import gettext as _

from directory.autocomplete import AutocompleteView as DirectoryAutocompleteView
from directory.autocomplete import LabelledAutocompleteSelect, member_label
from directory.models import Member

from .. import inheritance, rules
from ..models import Exit


def successor_label(member: Member) -> str:
    """A candidate successor as the pickers show them; the load if the row was annotated
    (`inheritance.with_contact_load`)."""
    if getattr(member, "contacts_held", None) is None:
        return member_label(member)
    return member_label(
        member, extra=inheritance.contact_load(member.contacts_held, member.contact_limit)
    )


def successor_candidates(exit_case: Exit, members=None):
    """Who may succeed the leaving member, with their load: the active members of the exit's
    enterprise but them. (The door checks again, with the rows locked.)"""
    members = Member.objects.all() if members is None else members
    candidates = (
        members.active()
        .filter(enterprise_id=exit_case.enterprise_id)
        .exclude(pk=exit_case.member_id)
        .select_related("department")
    )
    return inheritance.with_contact_load(candidates)


class SuccessorChoiceField(ModelChoiceField):
    """A member chosen as successor, labelled with their load (also when the page is shown
    again with the choice made)."""

    def label_from_instance(self, obj):
        return successor_label(obj)


class SuccessorSelect(LabelledAutocompleteSelect):
    """A successor picker; with `contacts_moving`, it says at once when the chosen successor
    has no room for them all (successor_load.js), before the form is submitted."""

    def __init__(self, *args, contacts_moving: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        if contacts_moving:
            self.attrs["data-contacts-moving"] = str(contacts_moving)
            self.attrs["data-over-limit-text"] = _(
                "{name} already looks after {held} external contacts; the limit is {limit}: "
                "{left} of the {moving} that move would not fit and would stay with the leaving "
                "member until reassigned."
            )

    @property
    def media(self):
        media = super().media
        return forms.Media(js=[*media._js, "offboarding/successor_load.js"], css=media._css)


def successor_widget(exit_case: Exit, admin_site=None, *, contacts_moving=0) -> SuccessorSelect:
    """The autocomplete picker of a successor for `exit_case`'s member; `contacts_moving`: how
    many external contacts the one chosen would receive."""
    return SuccessorSelect(
        Exit._meta.get_field("successor"),
        admin_site or admin.site,
        # Wide enough for "name · department · title (number) — load" (select2's data-width).
        attrs={"data-width": "38em"},
        forward={"exit": exit_case.pk},
        contacts_moving=contacts_moving,
    )


def _is_successor_field(field) -> bool:
    return field.name == "successor" and field.model._meta.app_label == Exit._meta.app_label


class AutocompleteView(DirectoryAutocompleteView):
    def get_queryset(self):
        queryset = super().get_queryset()
        exit_id = self.request.GET.get("exit")
        if exit_id is not None:
            if queryset.model is not Member:
                raise PermissionDenied
            queryset = successor_candidates(self._exit(exit_id), queryset)
        elif queryset.model is Member and _is_successor_field(self.source_field):
            queryset = inheritance.with_contact_load(queryset)
        return queryset

    def _exit(self, exit_id) -> Exit:
        """The exit named by the picker, if the user hands over its member's resources."""
        if not exit_id.isdigit():
            raise PermissionDenied
        exit_admin = self.admin_site.get_model_admin(Exit)
        exit_case = exit_admin.get_queryset(self.request).filter(pk=int(exit_id)).first()
        if exit_case is None or not rules.is_hr.test(self.request.user, exit_case):
            raise PermissionDenied
        return exit_case

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        if isinstance(obj, Member) and getattr(obj, "contacts_held", None) is not None:
            result["text"] = successor_label(obj)
            result["name"] = obj.name
            result["held"] = obj.contacts_held
            result["limit"] = obj.contact_limit
        return result


def autocomplete_view(request):
    """The admin site's autocomplete URL (`admin:autocomplete`)."""
    return AutocompleteView.as_view(admin_site=admin.site)(request)
