"""The forms of the manager and self-service pages (X-3, X-9).

They only check that the input is well formed (a real date, a known decision, a ticked box); every
rule about exits (a last working day in the past, a second open exit, who may decide) belongs to
offboarding/services.py and offboarding/workflow.py, whose refusals the views show as they come.
"""

from datetime import date, timedelta

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from directory.logins import EnterpriseCodeLoginMixin
from directory.models import Member

from . import handover
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


# ---------------------------------------------------------------------------------------------
# Super-admin handover and the emergency window


class HandoverRequestForm(forms.Form):
    """The leaving super admin names the new one by employee number (an enterprise may have
    200,000 members: no list to scroll) and re-enters their password. With the custody policy the
    custodian is named too. Who may be named is `handover.check_handover_request`'s to decide."""

    new_admin = forms.CharField(
        label=_("Employee number of the new super admin"),
        max_length=32,
        help_text=_("They confirm with an authenticator app on their phone; then it passes."),
    )
    custodian = forms.CharField(
        label=_("Employee number of the custodian"),
        max_length=32,
        help_text=_(
            "An admin or the backup admin. They hold the role from now until the new super admin "
            "accepts."
        ),
    )
    # Shown only when the member named is the backup admin: the role takes them away from
    # that post, and the enterprise is without a backup admin until the new super admin names one.
    backup_understood = forms.BooleanField(
        label=_(
            "I understand: the enterprise will have no backup admin until the new super admin "
            "designates one."
        ),
        required=True,
    )
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, enterprise, custody: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.enterprise = enterprise
        if not custody:
            del self.fields["custodian"]
        number = (self.data.get(self.add_prefix("new_admin")) or "").strip()
        self.names_backup_admin = bool(number) and (
            Member.objects.filter(
                enterprise=enterprise, employee_number=number, is_backup_admin=True
            ).exists()
        )
        if self.names_backup_admin:
            self.fields["backup_understood"].error_messages["required"] = _(
                "This member is the backup admin. Once they are the super admin the "
                "enterprise has no backup admin: freezing the super admin's account would be "
                "refused until the new super admin designates a new backup admin. Tick the box "
                "to name them anyway."
            )
        else:
            del self.fields["backup_understood"]

    def _member_by_number(self, field: str):
        return _member_of(self.enterprise, self.cleaned_data[field].strip())

    def clean_new_admin(self):
        return self._member_by_number("new_admin")

    def clean_custodian(self):
        return self._member_by_number("custodian")


def _member_of(enterprise, number: str):
    member = Member.objects.filter(enterprise=enterprise, employee_number=number).first()
    if member is None:
        raise forms.ValidationError(
            _("No member of %(enterprise)s has the employee number “%(number)s”."),
            params={"enterprise": enterprise, "number": number},
        )
    return member


class PasswordForm(forms.Form):
    """The first factor: the person re-enters their own password (counted by django-axes)."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class BackupDesignationForm(forms.Form):
    """The super admin designates the backup admin by employee number and re-enters their
    password. Who may be designated is `backup.check_designation`'s to decide."""

    member = forms.CharField(
        label=_("Employee number of the backup admin"),
        max_length=32,
        help_text=_(
            "They accept with their password and an authenticator app on their phone; then they "
            "are the backup admin, and the present one no longer is."
        ),
    )
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, enterprise, **kwargs):
        super().__init__(*args, **kwargs)
        self.enterprise = enterprise

    def clean_member(self):
        return _member_of(self.enterprise, self.cleaned_data["member"].strip())


class WithdrawBackupForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Yes, withdraw it"),
        error_messages={"required": _("Tick the box to confirm that you want to withdraw it.")},
    )


class AuthenticatorCodeForm(forms.Form):
    """The new super admin's confirmation: the 6-digit code their authenticator app shows."""

    token = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=6,
        validators=[
            RegexValidator(r"^\d{6}$", _("Enter the 6 digits your authenticator app shows."))
        ],
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}
        ),
    )


class WithdrawHandoverForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Yes, withdraw this handover"),
        error_messages={"required": _("Tick the box to confirm that you want to withdraw it.")},
    )


class ReportStolenForm(forms.Form):
    """From the emergency page: the new super admin's account is stolen; freeze it."""

    reason = forms.CharField(
        label=_("What happened"),
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("HR and the new super admin read it in the freeze record."),
    )
    confirm = forms.BooleanField(
        label=_("Yes, freeze the account now"),
        error_messages={"required": _("Tick the box to confirm the freeze.")},
    )


class UnfreezeForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Yes, give the account back"),
        error_messages={"required": _("Tick the box to confirm that you want to unfreeze it.")},
    )


class LoginForm(EnterpriseCodeLoginMixin, AuthenticationForm):
    """Django's login form, taking a member's `login@code` or the login and the enterprise code
    (directory.logins), which also lets the old super admin in during their emergency window
    once their exit has deactivated the login (offboarding.backends lets the password through;
    offboarding.middleware keeps the session on the emergency page)."""

    def confirm_login_allowed(self, user):
        if not user.is_active and handover.open_window_for(user) is not None:
            return
        super().confirm_login_allowed(user)
