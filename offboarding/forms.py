"""The forms of the manager and self-service pages (X-3, X-9).

They only check that the input is well formed (a real date, a known decision, a ticked box); every
rule about exits (a last working day in the past, a second open exit, who may decide) belongs to
offboarding/services.py and offboarding/workflow.py, whose refusals the views show as they come.
"""

from datetime import date, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from .choices import Transition

# How far ahead the self-service form proposes the last working day: a usual notice period.
DEFAULT_NOTICE = timedelta(days=30)

COMMENT_MAX_LENGTH = 2000


class ExitRequestForm(forms.Form):
    """A member asks to leave (「我」-「设置」-「管理企业」-「退出企业」)."""

    last_working_day = forms.DateField(
        label=_("Last working day"),
        # A browser's date input always sends ISO dates, whatever the page's language.
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter a date such as 2030-01-31.")},
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Optional. Your manager and HR read it."),
    )

    def __init__(self, *args, today: date, **kwargs):
        """`today` is the enterprise's today (its time zone), from which the defaults are set."""
        super().__init__(*args, **kwargs)
        field = self.fields["last_working_day"]
        field.initial = today + DEFAULT_NOTICE
        # A hint for the browser's date picker only: the service decides what is too early.
        field.widget.attrs["min"] = today.isoformat()


class DecisionForm(forms.Form):
    """An approver's decision on the current step: the button pressed and a comment."""

    decision = forms.ChoiceField(
        choices=[
            (Transition.APPROVE.value, Transition.APPROVE.label),
            (Transition.REJECT.value, Transition.REJECT.label),
        ],
        widget=forms.HiddenInput,
        error_messages={"required": _("Press Approve or Reject.")},
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Required to reject: the member reads it."),
    )

    # The step the page showed: deciding it after someone else did is refused, not passed on.
    step = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    @property
    def is_approval(self) -> bool:
        return self.cleaned_data["decision"] == Transition.APPROVE.value


class CancelExitForm(forms.Form):
    """The confirmation step before a member cancels their own exit request."""

    confirm = forms.BooleanField(
        label=_("Yes, cancel my exit request"),
        error_messages={"required": _("Tick the box to confirm that you want to cancel.")},
    )
