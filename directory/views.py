"""The password pages a member reaches from a mail (directory/invitations.py): interface only.

- `InvitationView` (`/accounts/invitation/<uidb64>/<token>/`): the invitation's link. The member
  sets a password and is logged in. The link works once (the password hash it was signed with
  changes) and for INVITATION_TIMEOUT; an inactive login's link works never.
- `PasswordResetRequestView` (`/accounts/password_reset/`): "forgot my password". Unlike Django's,
  it also mails a member who has no password yet (an invitation lost), and never says whether
  the address is known: the page says "if the address is known, a link was sent", while a mail
  that was not sent is logged with its reason (directory/mail.py).
"""

from django.contrib import messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy
from django.utils.translation import gettext as _

from . import invitations, mail

# The backend the set-password pages log in with (several are installed: axes, rules…).
LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"


class ActiveUserOnly:
    """A set-password page for an active login only: a departed or frozen member's link, even
    unexpired, shows "this link no longer works"."""

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None


class InvitationView(ActiveUserOnly, auth_views.PasswordResetConfirmView):
    token_generator = invitations.invitation_token_generator
    template_name = "registration/invitation_confirm.html"
    post_reset_login = True
    post_reset_login_backend = LOGIN_BACKEND
    success_url = reverse_lazy("offboarding:home")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password is set: you are logged in."))
        return response


class PasswordResetConfirmView(ActiveUserOnly, auth_views.PasswordResetConfirmView):
    template_name = "registration/set_password.html"


class PasswordResetRequestForm(auth_forms.PasswordResetForm):
    """Django's form, which skips a login without a usable password (a member who never used
    their invitation): here every active login with the address gets its link."""

    def get_users(self, email):
        users = get_user_model()._default_manager.filter(email__iexact=email, is_active=True)
        return users.select_related("member__enterprise")

    def save(self, *, request, **kwargs):
        site_url = request.build_absolute_uri("/")
        for user in self.get_users(self.cleaned_data["email"]):
            member = getattr(user, "member", None)
            try:
                mail.send(
                    to=user.email,
                    template="mail/password_reset",
                    context={
                        "name": member.name if member else user.get_full_name(),
                        "username": user.get_username(),
                        "link": invitations.reset_link(user, site_url=site_url),
                        "valid_hours": invitations.reset_link_valid_hours(),
                    },
                    language=mail.language_of(user),
                    about=user,
                )
            except mail.MailNotSent:
                # Logged with its reason by mail.send. Whoever asked is not told: that would say
                # the address is known.
                pass


class PasswordResetRequestView(auth_views.PasswordResetView):
    form_class = PasswordResetRequestForm
    template_name = "registration/password_reset_request.html"


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_sent.html"


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_set.html"
