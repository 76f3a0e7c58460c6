"""Sign-in through OpenID Connect in a real browser, against the local provider of
tests/directory/test_oidc_sign_in.py: the button's form and the redirects it is answered with run
under the Content-Security-Policy (form-action), as they do for a member."""

import re

import pytest
from playwright.sync_api import expect

from directory.models import LoginSession
from tests import factories
from tests.directory.test_oidc_sign_in import IDP_PASSWORD, idp_user, provider  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_signs_in_with_the_provider(page, provider):  # noqa: F811
    # The provider is this same project on another host: its login page's form leads back to
    # Exitdesk. Exitdesk's pages gain nothing by it ('self' is that origin already); the way from
    # Exitdesk's button to the provider is left to what directory/social.py allows.
    csp = provider["settings"].CONTENT_SECURITY_POLICY
    provider["settings"].CONTENT_SECURITY_POLICY = {
        **csp,
        "DIRECTIVES": {
            **csp["DIRECTIVES"],
            "form-action": [*csp["DIRECTIVES"]["form-action"], provider["exitdesk"]],
        },
    }
    member = factories.MemberFactory(name="林芳", user__email="lin.fang@acme.example")
    idp_user("lin.fang@acme.example")
    blocked = []
    page.on(
        "console",
        lambda message: blocked.append(message.text) if "Content" in message.text else None,
    )

    page.goto(f"{provider['exitdesk']}/accounts/login/")
    page.get_by_role("button", name="Sign in with Corp SSO").click()

    # The provider's login page (its own host, its own cookies).
    expect(page).to_have_url(
        re.compile(r"^http://localhost:\d+/accounts/login/\?next=/o/authorize/")
    )
    page.locator("#id_username").fill("idp-lin.fang@acme.example")
    page.locator("#id_password").fill(IDP_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()

    expect(page).to_have_url(f"{provider['exitdesk']}/")
    expect(page.get_by_text("林芳").first).to_be_visible()
    assert LoginSession.objects.filter(user=member.user).count() == 1
    assert not blocked
