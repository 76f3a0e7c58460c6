"""Sign-in through what members already use (D-1): OpenID Connect, DingTalk, Feishu, through
django-allauth's socialaccount, optional per deployment (config/social_login.py reads the
environment). A provider only vouches for who someone is; Exitdesk decides which login that is:

- A member is matched by what the provider returns, as the provider's configuration says: the
  e-mail address (OIDC's `email` claim, refused when `email_verified` is false; DingTalk's
  `email`; Feishu's `enterprise_email`, else its `email`), or the employee number (an OIDC claim,
  `employee_number` by default; Feishu's `employee_no`). Only among members whose login works:
  the member active (not frozen, not departed) and their login active. E-mail addresses compare
  without case.
- A provider configured with an enterprise code looks in that enterprise only. Without one, a
  value that matches members of two enterprises (or two members of one) is refused, never guessed.
- Nobody is ever created: signup is closed (`is_open_for_signup`), and `pre_social_login` either
  links the provider's account to the matched login, or refuses on the login page with a message.
  A provider's account once linked is checked again at every sign-in: it must still match that
  same login, and the login must still work.
- Of what the provider says about the person, nothing is kept but its id for them (allauth's
  `SocialAccount.uid`): the user info allauth would store is emptied (`forget_user_info`).
- Linking is a door (`link_account`): the enterprise's audit chain locked, the link saved, one
  audit event ("social_login_linked"), in one transaction.

The login itself is Django's (`django.contrib.auth.login` through ModelBackend), so the
user_logged_in receivers run as for a password: the session gets its LoginSession row
(directory.sessions), the staff idle clock starts.
"""

import functools
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from requests import RequestException

from .choices import MemberStatus
from .models import Member
from .services import audit_trail

logger = logging.getLogger(__name__)

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

# The names on the buttons of the providers whose name is not the deployment's to choose.
PROVIDER_NAMES = {"dingtalk": gettext_lazy("DingTalk"), "feishu": gettext_lazy("Feishu")}


class SocialLoginRefused(Exception):
    """A provider's sign-in that matches no login, or not only one; the message says why."""


@dataclass
class Identity:
    """What a provider returned to match a member by: the kind ("email" or "employee_number")
    and the value (empty when the provider returned none)."""

    match_by: str
    value: str


def provider_name(provider) -> str:
    return str(PROVIDER_NAMES.get(provider.id, provider.name))


def identity_of(provider_id: str, app_settings: dict, data: dict) -> Identity:
    """The identity to match in `data`, a provider's user info as allauth keeps it in
    `SocialAccount.extra_data`."""
    match_by = app_settings.get("exitdesk_match_by", "email")
    if provider_id == "openid_connect":
        # allauth keeps {"userinfo": ..., "id_token": ...}; the user info first.
        claims = {**(data.get("id_token") or {}), **(data.get("userinfo") or {})}
        if match_by == "employee_number":
            claim = app_settings.get("exitdesk_employee_number_claim") or "employee_number"
            return Identity(match_by, str(claims.get(claim) or "").strip())
        if claims.get("email_verified") in (False, "false", "False"):
            return Identity(match_by, "")
        return Identity(match_by, str(claims.get("email") or "").strip())
    if provider_id == "feishu":
        if match_by == "employee_number":
            return Identity(match_by, str(data.get("employee_no") or "").strip())
        email = data.get("enterprise_email") or data.get("email") or ""
        return Identity("email", str(email).strip())
    if provider_id == "dingtalk":
        return Identity("email", str(data.get("email") or "").strip())
    return Identity(match_by, "")


def failed_message(provider: str) -> str:
    return _(
        "Signing in with %(provider)s did not succeed. Try again, or log in with your password."
    ) % {"provider": provider}


def no_member_message(provider: str) -> str:
    return _(
        "You signed in with %(provider)s, but no member of Exitdesk whose login works has that "
        "e-mail address or employee number. Log in with your password, or ask HR to check your "
        "details."
    ) % {"provider": provider}


def members_with_working_login():
    return Member.objects.filter(status=MemberStatus.ACTIVE, user__is_active=True)


def match_member(identity: Identity, *, enterprise_code: str = "", provider: str) -> Member:
    """The one member `identity` names, or SocialLoginRefused."""
    if not identity.value:
        raise SocialLoginRefused(
            _(
                "%(provider)s did not tell Exitdesk your e-mail address or employee number, so "
                "your login cannot be found. Log in with your password, or ask your "
                "administrator to let %(provider)s share it."
            )
            % {"provider": provider}
        )
    members = members_with_working_login().select_related("user", "enterprise")
    if enterprise_code:
        members = members.filter(enterprise__code=enterprise_code)
    if identity.match_by == "employee_number":
        members = members.filter(employee_number=identity.value)
    else:
        members = members.filter(user__email__iexact=identity.value)
    found = list(members[:2])
    if not found:
        raise SocialLoginRefused(no_member_message(provider))
    if len(found) > 1:
        raise SocialLoginRefused(
            _(
                "You signed in with %(provider)s, but more than one login of Exitdesk has that "
                "e-mail address or employee number. Log in with your login and password instead."
            )
            % {"provider": provider}
        )
    return found[0]


@transaction.atomic
def link_account(request, sociallogin, member: Member, *, provider: str, actor) -> None:
    """Link the provider's account to `member`'s login (the door: see the module docstring);
    SocialLoginRefused if the member's login stopped working meanwhile."""
    audit_trail().lock(member.enterprise_id)
    if not members_with_working_login().select_for_update().filter(pk=member.pk).exists():
        raise SocialLoginRefused(no_member_message(provider))
    account = sociallogin.account
    sociallogin.user = member.user
    account.user = member.user
    account.save()
    audit_trail().record(
        member.enterprise_id,
        actor=actor,
        action="social_login_linked",
        object_type="member",
        object_id=member.pk,
        member_id=member.pk,
        data={"provider": account.provider},
    )


def refuse(request, message: str):
    """Back to the login page, with `message`; nothing logged in."""
    messages.error(request, message)
    return ImmediateHttpResponse(HttpResponseRedirect(reverse("login")))


def forget_user_info(sociallogin) -> None:
    """Keep none of the provider's user info (a name, a mobile number, an e-mail address): the
    link needs only the provider's id for the person (`uid`)."""
    sociallogin.account.extra_data = {}
    if sociallogin.account.pk is not None:
        type(sociallogin.account).objects.filter(pk=sociallogin.account.pk).update(extra_data={})


class AccountAdapter(DefaultAccountAdapter):
    """allauth's account side, reduced to what a social sign-in needs: no signup, ever; the
    login through ModelBackend (axes' backend has no get_user)."""

    def is_open_for_signup(self, request):
        return False

    def login(self, request, user):
        user.backend = MODEL_BACKEND
        super().login(request, user)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Matches a provider's sign-in to a member's login, or refuses it (module docstring)."""

    def is_open_for_signup(self, request, sociallogin):
        return False

    def list_apps(self, request, provider=None, client_id=None):
        # The deployment's environment only (SOCIALACCOUNT_PROVIDERS), never rows in the database.
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        return [app for app in apps if app.pk is None]

    def pre_social_login(self, request, sociallogin):
        provider = sociallogin.account.get_provider(request)
        name = provider_name(provider)
        settings = provider.app.settings or {}
        identity = identity_of(provider.id, settings, sociallogin.account.extra_data)
        forget_user_info(sociallogin)
        try:
            if sociallogin.state.get("process", AuthProcess.LOGIN) != AuthProcess.LOGIN:
                raise SocialLoginRefused(failed_message(name))
            member = match_member(
                identity, enterprise_code=settings.get("exitdesk_enterprise", ""), provider=name
            )
            if sociallogin.is_existing and sociallogin.user.pk != member.user_id:
                raise SocialLoginRefused(
                    _(
                        "This %(provider)s account is linked to another login of Exitdesk. Log "
                        "in with your password, or ask HR."
                    )
                    % {"provider": name}
                )
            if not sociallogin.is_existing:
                link_account(request, sociallogin, member, provider=name, actor=member.user)
        except SocialLoginRefused as refusal:
            raise refuse(request, str(refusal)) from None
        sociallogin.user = member.user

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ):
        raise refuse(request, failed_message(provider_name(provider)))


def login_buttons(request) -> list[dict]:
    """The "Sign in with …" buttons of the configured providers: name and address of each."""
    adapter = SocialAccountAdapter(request)
    buttons = []
    next_url = request.GET.get("next", "")
    for provider in adapter.list_providers(request):
        url = provider.get_login_url(request, process=AuthProcess.LOGIN)
        buttons.append(
            {
                "id": provider.app.provider_id or provider.id,
                "label": _("Sign in with %(provider)s") % {"provider": provider_name(provider)},
                "url": url,
                "next": next_url if url_has_allowed_host_and_scheme(next_url, None) else "",
            }
        )
    return buttons


# Where the "Sign in with …" forms lead, for the Content-Security-Policy's form-action: the
# browser checks each redirect a form's POST is answered with, and the provider's login page is
# one.
PROVIDER_ORIGINS = {
    "dingtalk": ["https://login.dingtalk.com"],
    "feishu": ["https://open.feishu.cn", "https://accounts.feishu.cn"],
}


def provider_origins(request) -> list[str]:
    """The origins of the configured providers' login pages (an OpenID Connect provider's: its
    server URL's)."""
    origins = []
    for app in SocialAccountAdapter(request).list_apps(request):
        if app.provider == "openid_connect":
            url = urlsplit(app.settings.get("server_url", ""))
            found = [f"{url.scheme}://{url.netloc}"] if url.scheme and url.netloc else []
        else:
            found = PROVIDER_ORIGINS.get(app.provider, [])
        origins += [origin for origin in found if origin not in origins]
    return origins


def allows_provider_forms(view):
    """`view`'s page may post a form that leads to a configured provider (CSP form-action)."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        origins = provider_origins(request)
        if origins:
            update = dict(getattr(response, "_csp_update", None) or {})
            update["form-action"] = [*update.get("form-action", []), *origins]
            response._csp_update = update
        return response

    return wrapped


def configured_only(view, provider: str):
    """`view`, one of allauth's login or callback views of `provider`, answering 404 while the
    deployment has not configured that provider (for OpenID Connect: that provider id)."""

    def wrapped(request, **kwargs):
        provider_id = kwargs.get("provider_id", provider)
        apps = [
            app
            for app in SocialAccountAdapter(request).list_apps(request, provider=provider_id)
            if app.provider == provider and (app.provider_id or app.provider) == provider_id
        ]
        if not apps:
            raise Http404
        try:
            return view(request, **kwargs)
        except (RequestException, KeyError, ValueError):
            # The provider did not answer, or not as OpenID Connect or OAuth 2 says (its
            # discovery document, its token or user info): nobody is signed in.
            logger.warning("Sign-in through %s failed", provider_id, exc_info=True)
            name = provider_name(apps[0].get_provider(request))
            return refuse(request, failed_message(name)).response

    wrapped.__name__ = getattr(view, "__name__", "view")
    wrapped.__doc__ = view.__doc__
    return allows_provider_forms(wrapped)
