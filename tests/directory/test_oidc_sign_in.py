"""Sign-in through OpenID Connect against a real provider (directory/social.py):
django-oauth-toolkit serving OIDC from the live server itself (tests/oidc_provider.py,
tests/oidc_urls.py), reached as `localhost` while Exitdesk is reached as `127.0.0.1`, so that
each keeps its own cookies. The client follows every redirect across both; allauth's calls to the
token and user info endpoints are real HTTP requests to the live server.
"""

import re
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from oauth2_provider.models import Application

from compliance.models import AuditEvent
from directory.choices import MemberStatus
from directory.models import LoginSession
from tests import factories
from tests.oidc_claims import IDP_EMPLOYEE_NUMBERS
from tests.oidc_provider import rsa_private_key_pem

PROVIDER_ID = "corp"
CLIENT_ID = "exitdesk-test-client"
CLIENT_SECRET = "exitdesk-test-secret-0123456789"
IDP_PASSWORD = "Idp-password-2026!"

REFUSED_NO_MEMBER = "no member of Exitdesk whose login works has that e-mail address"
REFUSED_TWO = "more than one login of Exitdesk has that e-mail address or employee number"

_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def provider(live_server, settings):
    """The local provider, and Exitdesk configured to sign in through it."""
    port = urlsplit(live_server.url).port
    exitdesk = f"http://127.0.0.1:{port}"
    idp = f"http://localhost:{port}"
    settings.ROOT_URLCONF = "tests.oidc_urls"
    settings.LANGUAGE_CODE = "en"
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OIDC_RSA_PRIVATE_KEY": rsa_private_key_pem(),
    }
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": PROVIDER_ID,
                    "name": "Corp SSO",
                    "client_id": CLIENT_ID,
                    "secret": CLIENT_SECRET,
                    "settings": {
                        "server_url": f"{idp}/o",
                        "exitdesk_match_by": "email",
                        "exitdesk_enterprise": "",
                    },
                }
            ],
        }
    }
    Application.objects.create(
        name="Exitdesk",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=f"{exitdesk}/accounts/oidc/{PROVIDER_ID}/login/callback/",
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    return {"exitdesk": exitdesk, "idp": idp, "settings": settings}


def idp_user(email: str):
    """A person of the provider's directory (a user the provider knows, not a member here)."""
    return factories.UserFactory(username=f"idp-{email}", email=email, password=IDP_PASSWORD)


def csrf_of(response) -> str:
    match = _CSRF_INPUT.search(response.text)
    assert match, f"no form on {response.url}"
    return match.group(1)


def sign_in(provider, email: str) -> requests.Response:
    """Press "Sign in with Corp SSO" on Exitdesk's login page, then log in at the provider as the
    person with `email`; return the last page Exitdesk shows."""
    client = requests.Session()
    login_page = client.get(f"{provider['exitdesk']}/accounts/login/", timeout=30)
    assert "Sign in with Corp SSO" in login_page.text
    at_provider = client.post(
        f"{provider['exitdesk']}/accounts/oidc/{PROVIDER_ID}/login/",
        data={"csrfmiddlewaretoken": csrf_of(login_page), "process": "login"},
        timeout=30,
    )
    # The provider asks its user to log in first (its login page: served by the same project).
    assert at_provider.url.startswith(f"{provider['idp']}/accounts/login/"), at_provider.url
    # The login form's "next" (the language switcher has one too): back to the authorization.
    next_url = [
        unescape(value)
        for value in re.findall(r'name="next" value="([^"]*)"', at_provider.text)
        if value.startswith("/o/authorize/")
    ][0]
    back = client.post(
        at_provider.url,
        data={
            "csrfmiddlewaretoken": csrf_of(at_provider),
            "username": f"idp-{email}",
            "password": IDP_PASSWORD,
            "next": next_url,
        },
        timeout=60,
    )
    assert back.status_code == 200, back.text[:2000]
    assert back.url.startswith(provider["exitdesk"]), back.url
    back.client = client
    return back


def test_a_member_whose_e_mail_the_provider_returns_is_logged_in(provider):
    member = factories.MemberFactory(user__email="lin.fang@acme.example")
    idp_user("Lin.Fang@acme.example")  # the provider's spelling: e-mail compares without case
    users_before = get_user_model().objects.count()

    page = sign_in(provider, "Lin.Fang@acme.example")

    assert urlsplit(page.url).path == "/"
    assert REFUSED_NO_MEMBER not in page.text
    # Logged in as the member, the session on record (LiveSessionMiddleware keeps it).
    assert LoginSession.objects.filter(user=member.user).count() == 1
    again = page.client.get(f"{provider['exitdesk']}/", timeout=30)
    assert again.status_code == 200 and urlsplit(again.url).path == "/"
    assert member.name in again.text
    # Linked, audited, and nobody created.
    account = SocialAccount.objects.get()
    assert (account.provider, account.user_id) == (PROVIDER_ID, member.user_id)
    assert account.uid and account.extra_data == {}  # the provider's user info is not kept
    event = AuditEvent.objects.get(action="social_login_linked")
    assert (event.member_id, event.data) == (member.pk, {"provider": PROVIDER_ID})
    assert get_user_model().objects.count() == users_before

    # A second sign-in uses the link, writes no second one.
    page.client.post(
        f"{provider['exitdesk']}/accounts/logout/",
        data={"csrfmiddlewaretoken": csrf_of(again)},
        timeout=30,
    )
    assert LoginSession.objects.filter(user=member.user).count() == 0
    sign_in(provider, "Lin.Fang@acme.example")
    assert LoginSession.objects.filter(user=member.user).count() == 1
    assert AuditEvent.objects.filter(action="social_login_linked").count() == 1
    assert SocialAccount.objects.get().extra_data == {}


def test_an_unknown_e_mail_is_refused_and_nobody_is_created(provider):
    factories.MemberFactory(user__email="lin.fang@acme.example")
    idp_user("stranger@elsewhere.example")
    users_before = get_user_model().objects.count()

    page = sign_in(provider, "stranger@elsewhere.example")

    assert urlsplit(page.url).path == "/accounts/login/"
    assert REFUSED_NO_MEMBER in unescape(page.text)
    assert get_user_model().objects.count() == users_before
    assert not SocialAccount.objects.exists()
    # Only the provider's own login (on its host) holds a session; nobody here was logged in.
    assert list(LoginSession.objects.values_list("user__username", flat=True)) == [
        "idp-stranger@elsewhere.example"
    ]


def test_a_frozen_member_is_refused(provider):
    member = factories.MemberFactory(
        user__email="zhao.lei@acme.example", status=MemberStatus.FROZEN
    )
    idp_user("zhao.lei@acme.example")

    page = sign_in(provider, "zhao.lei@acme.example")

    assert urlsplit(page.url).path == "/accounts/login/"
    assert REFUSED_NO_MEMBER in unescape(page.text)
    assert not LoginSession.objects.filter(user=member.user).exists()
    assert not SocialAccount.objects.exists()


def test_the_same_e_mail_in_two_enterprises_is_refused_unless_the_provider_names_one(provider):
    home = factories.MemberFactory(user__email="wang.min@acme.example")
    factories.MemberFactory(user__email="wang.min@acme.example")  # another enterprise
    idp_user("wang.min@acme.example")

    page = sign_in(provider, "wang.min@acme.example")
    assert REFUSED_TWO in unescape(page.text)
    assert not SocialAccount.objects.exists()

    app = provider["settings"].SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"][0]
    app["settings"]["exitdesk_enterprise"] = home.enterprise.code
    page = sign_in(provider, "wang.min@acme.example")
    assert urlsplit(page.url).path == "/"
    assert SocialAccount.objects.get().user_id == home.user_id


def test_a_member_is_matched_by_the_employee_number_claim_in_the_providers_enterprise(provider):
    acme = factories.EnterpriseFactory(code="acme")
    member = factories.MemberFactory(enterprise=acme, employee_number="A-0007")
    factories.MemberFactory(employee_number="A-0007")  # the same number in another enterprise
    idp_user("chen.jie@acme.example")
    IDP_EMPLOYEE_NUMBERS["idp-chen.jie@acme.example"] = "A-0007"
    app = provider["settings"].SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"][0]
    app["settings"].update(exitdesk_match_by="employee_number", exitdesk_enterprise="acme")
    try:
        page = sign_in(provider, "chen.jie@acme.example")
    finally:
        IDP_EMPLOYEE_NUMBERS.clear()

    assert urlsplit(page.url).path == "/"
    assert SocialAccount.objects.get().user_id == member.user_id
    assert LoginSession.objects.filter(user=member.user).count() == 1
