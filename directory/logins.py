"""Which login a person means (D-1): members' logins name their enterprise, staff logins do not.

A member's username is stored as `login@code` (`services.member_username`), so two enterprises may
each have a zhang.wei. The login forms (the pages' and the admin's) accept it either way:

- typed whole, `zhang.wei@acme` (any case: `Zhang.Wei@ACME` is the same login);
- or the login alone with the enterprise's code in the form's "Enterprise code" field.

Without a code, and without an `@code` naming an enterprise, the username is looked up as typed:
staff logins and superusers, which have no code, log in as before.

django-axes counts each failure against the username actually tried — the resolved `login@code` —
whichever way it was typed (`axes_username`, its AXES_USERNAME_CALLABLE): five wrong passwords for
`zhang.wei@acme` lock that login out, not the zhang.wei of another enterprise.
"""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from .models import Enterprise

CODE_FIELD = "enterprise_code"


def login_username(typed: str, code: str = "") -> str:
    """The username a login form means by `typed` (and the enterprise code typed beside it)."""
    typed = (typed or "").strip()
    code = (code or "").strip().lower()
    if code:
        login, at, typed_code = typed.rpartition("@")
        if at and typed_code.lower() == code:
            typed = login  # "zhang.wei@acme" typed whole and "acme" as the code too
        return f"{typed.lower()}@{code}"
    login, at, typed_code = typed.rpartition("@")
    if at and login and Enterprise.objects.filter(code=typed_code.lower()).exists():
        return f"{login.lower()}@{typed_code.lower()}"
    return typed


def axes_username(request, credentials=None) -> str | None:
    """AXES_USERNAME_CALLABLE: the username a try is counted against — the one authenticate()
    was given, else the one the posted form means."""
    if credentials and credentials.get("username") is not None:
        return credentials["username"]
    data = getattr(request, "data", None) or getattr(request, "POST", {})
    typed = data.get("username")
    if typed is None:
        return None
    return login_username(typed, data.get(CODE_FIELD, ""))


class EnterpriseCodeLoginMixin(forms.Form):
    """A login form's optional "Enterprise code": with it, the login typed is the member's login
    in that enterprise."""

    enterprise_code = forms.CharField(
        label=_("Enterprise code"),
        required=False,
        max_length=32,
        help_text=_(
            "Members: your enterprise's code, unless you type your login as name@code. "
            "Staff: leave it empty."
        ),
        widget=forms.TextInput(attrs={"autocapitalize": "none", "autocomplete": "organization"}),
    )
    field_order = ["username", CODE_FIELD, "password"]

    def clean(self):
        username = self.cleaned_data.get("username")
        if username:
            self.cleaned_data["username"] = login_username(
                username, self.cleaned_data.get(CODE_FIELD, "")
            )
        return super().clean()


class AdminLoginForm(EnterpriseCodeLoginMixin, AdminAuthenticationForm):
    """The admin's login form (staff only), taking `login@code` like the pages' login."""


class PagesLoginForm(EnterpriseCodeLoginMixin, AuthenticationForm):
    """The pages' login form: `login@code`, or the login and the enterprise code."""
