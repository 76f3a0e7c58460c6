"""The forms of the exit admin's pages: opening an exit, confirming a transition, signing off,
handing a leaving member's resources over (离职继承)."""

from django import forms
from django.utils.translation import gettext_lazy

from directory.choices import StaffRole
from directory.models import Enterprise

from .. import services
from ..choices import ResourceType, Transition
from ..exceptions import ExitRefused
from ..models import Exit
from .pickers import SuccessorChoiceField, successor_candidates, successor_widget


class ExitAddForm(forms.ModelForm):
    """HR opens an exit for a member. The rules of opening live in `services.check_open_exit`;
    a refusal is shown on the form, beside its field when it names one."""

    actor = None  # the user opening the exit, set by ExitAdmin.get_form

    class Meta:
        model = Exit
        fields = ("member", "kind", "reason", "last_working_day", "successor")

    def clean(self):
        cleaned_data = super().clean()
        if self.errors:
            return cleaned_data
        try:
            services.check_open_exit(
                member=cleaned_data["member"],
                kind=cleaned_data["kind"],
                last_working_day=cleaned_data["last_working_day"],
                successor=cleaned_data.get("successor"),
                actor=self.actor,
            )
        except ExitRefused as refusal:
            field = refusal.field if refusal.field in self.fields else None
            self.add_error(field, str(refusal))
        return cleaned_data


class ConfirmTransitionForm(forms.Form):
    """A transition that needs nothing but "Yes, I'm sure"."""

    def door_arguments(self) -> dict:
        return {}


class DecideStepForm(ConfirmTransitionForm):
    # The step the page showed: deciding it after someone else did is refused, not passed on.
    step = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    def door_arguments(self) -> dict:
        return {"step": self.cleaned_data["step"]}


class ApproveForm(DecideStepForm):
    comment = forms.CharField(
        label=gettext_lazy("Comment"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )

    def door_arguments(self) -> dict:
        return {**super().door_arguments(), "comment": self.cleaned_data["comment"]}


class RejectForm(DecideStepForm):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("The member reads it."),
        error_messages={
            "required": gettext_lazy("Say why the exit is rejected: the member will read it.")
        },
    )

    def door_arguments(self) -> dict:
        return {**super().door_arguments(), "reason": self.cleaned_data["reason"]}


class UndoForm(ConfirmTransitionForm):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=gettext_lazy("Undoing an exit needs a second confirmation: your own password."),
    )

    def door_arguments(self) -> dict:
        return {"password": self.cleaned_data["password"]}


TRANSITION_FORMS = {
    Transition.APPROVE: ApproveForm,
    Transition.REJECT: RejectForm,
    Transition.UNDO: UndoForm,
}


class SignOffForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("What was done, where it is kept: the note stays on the exit."),
    )


class CopyDefaultChecklistForm(forms.Form):
    enterprise = forms.ModelChoiceField(queryset=Enterprise.objects.none())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["enterprise"].queryset = Enterprise.objects.visible_to(
            user, roles=(StaffRole.HR,)
        )


class InheritanceForm(forms.Form):
    """One successor for everything, and optionally another one per resource type the member
    owns. Left empty, `inheritance.inherit` picks the exit's successor, else the direct manager.

    Each successor is picked in an autocomplete that shows the candidates' department, title and
    load of external contacts (offboarding/admin/pickers.py)."""

    def __init__(
        self, *args, exit_case, resource_types=(), admin_site=None, contacts_moving=0, **kwargs
    ):
        super().__init__(*args, **kwargs)
        choices = successor_candidates(exit_case)
        self.fields["successor"] = SuccessorChoiceField(
            queryset=choices,
            required=False,
            widget=successor_widget(exit_case, admin_site, contacts_moving=contacts_moving),
            label=gettext_lazy("Successor"),
            help_text=gettext_lazy(
                "Receives every resource type not given to someone else below. Empty: the "
                "exit's successor, else the member's direct manager. Search by name, number, "
                "department or title."
            ),
        )
        self.resource_types = [ResourceType(rtype) for rtype in resource_types]
        for rtype in self.resource_types:
            self.fields[self.field_name(rtype)] = SuccessorChoiceField(
                queryset=choices,
                required=False,
                widget=successor_widget(
                    exit_case,
                    admin_site,
                    contacts_moving=contacts_moving
                    if rtype == ResourceType.EXTERNAL_CONTACT
                    else 0,
                ),
                label=rtype.label,
                help_text=gettext_lazy("Only if this type goes to someone else."),
            )

    @staticmethod
    def field_name(rtype) -> str:
        return f"successor_{ResourceType(rtype).value}"

    def door_arguments(self) -> dict:
        by_type = {
            rtype: self.cleaned_data[self.field_name(rtype)]
            for rtype in self.resource_types
            if self.cleaned_data.get(self.field_name(rtype)) is not None
        }
        return {"successor": self.cleaned_data["successor"], "successors_by_type": by_type}


class ReassignForm(forms.Form):
    """Who takes the external contacts a full successor could not take."""

    def __init__(self, *args, exit_case, admin_site=None, contacts_moving=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["successor"] = SuccessorChoiceField(
            queryset=successor_candidates(exit_case),
            widget=successor_widget(exit_case, admin_site, contacts_moving=contacts_moving),
            label=gettext_lazy("Successor"),
            help_text=gettext_lazy("Search by name, number, department or title."),
            error_messages={"required": gettext_lazy("Choose who takes these external contacts.")},
        )


class StepReasonForm(forms.Form):
    """Skip a waiting approval step whose approver cannot act: HR says why."""

    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Kept on the step and in the audit trail."),
        error_messages={"required": gettext_lazy("Say why: the exit's record keeps it.")},
    )

    def door_arguments(self) -> dict:
        return {"reason": self.cleaned_data["reason"]}


class ReassignStepForm(StepReasonForm):
    """Give a waiting approval step to another approver: who, and why."""

    field_order = ("assignee", "reason")

    def __init__(self, *args, exit_case, **kwargs):
        super().__init__(*args, **kwargs)
        # The picker searches the exit's enterprise by name, number, department or title.
        self.fields["assignee"] = SuccessorChoiceField(
            queryset=successor_candidates(exit_case).filter(user__is_active=True),
            widget=successor_widget(exit_case),
            label=gettext_lazy("New approver"),
            help_text=gettext_lazy("An active member whose login works; not the leaving member."),
            error_messages={"required": gettext_lazy("Choose who decides the step now.")},
        )
        self.order_fields(self.field_order)

    def door_arguments(self) -> dict:
        return {**super().door_arguments(), "assignee": self.cleaned_data["assignee"]}
