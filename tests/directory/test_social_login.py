"""Sign-in through DingTalk, Feishu and OpenID Connect, configured (directory/social.py,
config/social_login.py): the buttons, the login and callback views, and the matching of a
member by what each provider's user info holds (allauth's `extra_data`). The whole OIDC path
against a real provider: tests/directory/test_oidc_sign_in.py."""

from urllib.parse import parse_qs, urlsplit

import environ
import pytest
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import RequestFactory
from django.utils import translation

from compliance.models import AuditEvent
from config.social_login import providers_from_env
from directory.choices import MemberStatus
from directory.social import Identity, SocialLoginRefused, identity_of, match_member
from tests import factories

pytestmark = pytest.mark.django_db

DINGTALK_USER = {  # GET https://api.dingtalk.com/v1.0/contact/users/me
    "nick": "张伟",
    "avatarUrl": "https://static-legacy.dingtalk.com/media/x.jpg",
    "mobile": "13800000000",
    "openId": "dt-open-1",
    "unionId": "dt-union-1",
    "email": "Zhang.Wei@acme.example",
    "stateCode": "86",
}
FEISHU_USER = {  # GET https://open.feishu.cn/open-apis/authen/v1/user_info → "data"
    "name": "李娜",
    "en_name": "Li Na",
    "avatar_url": "https://example.feishu.cn/avatar.png",
    "open_id": "ou_1",
    "union_id": "on_1",
    "email": "lina@gmail.example",
    "enterprise_email": "li.na@acme.example",
    "user_id": "5d9bdxxx",
    "mobile": "+8613800000001",
    "tenant_key": "736588c92lxf175d",
    "employee_no": "E-0042",
}

ENV = {
    "OIDC_PROVIDERS": "corp",
    "OIDC_CORP_SERVER_URL": "http://127.0.0.1:9/realms/acme",  # nothing listens there
    "OIDC_CORP_CLIENT_ID": "exitdesk",
    "OIDC_CORP_SECRET": "s3cret",
    "OIDC_CORP_NAME": "Acme SSO",
    "OIDC_CORP_MATCH_BY": "employee_number",
    "OIDC_CORP_EMPLOYEE_NUMBER_CLAIM": "employeeNumber",
    "OIDC_CORP_ENTERPRISE": "ACME",
    "DINGTALK_CLIENT_ID": "ding-client",
    "DINGTALK_CLIENT_SECRET": "ding-secret",
    "FEISHU_APP_ID": "cli_feishu",
    "FEISHU_APP_SECRET": "feishu-secret",
    "FEISHU_MATCH_BY": "employee_number",
}


def providers(environment: dict) -> dict:
    env = environ.Env()
    env.ENVIRON = environment
    return providers_from_env(env)


@pytest.fixture
def configured(settings):
    settings.SOCIALACCOUNT_PROVIDERS = providers(ENV)
    settings.LANGUAGE_CODE = "en"
    return settings


# ---------------------------------------------------------------------------------------------
# Configuration


def test_nothing_is_configured_by_default_and_the_login_page_has_no_button(client):
    assert providers({}) == {}
    page = client.get("/accounts/login/")
    assert "Sign in with" not in page.content.decode()
    assert client.get("/accounts/dingtalk/login/").status_code == 404


def test_the_environment_configures_each_provider():
    config = providers(ENV)
    (oidc,) = config["openid_connect"]["APPS"]
    assert (oidc["provider_id"], oidc["name"], oidc["client_id"], oidc["secret"]) == (
        "corp",
        "Acme SSO",
        "exitdesk",
        "s3cret",
    )
    assert oidc["settings"] == {
        "server_url": "http://127.0.0.1:9/realms/acme",
        "exitdesk_match_by": "employee_number",
        "exitdesk_employee_number_claim": "employeeNumber",
        "exitdesk_enterprise": "acme",
    }
    assert config["dingtalk"]["APPS"][0]["client_id"] == "ding-client"
    assert config["dingtalk"]["APPS"][0]["settings"]["exitdesk_match_by"] == "email"
    assert config["feishu"]["APPS"][0]["settings"]["exitdesk_match_by"] == "employee_number"
    with pytest.raises(ValueError, match="FEISHU_MATCH_BY"):
        providers({**ENV, "FEISHU_MATCH_BY": "mobile"})


def test_each_configured_provider_has_its_button_translated(client, configured):
    page = client.get("/accounts/login/?next=/me/").content.decode()
    for label, url in (
        ("Sign in with Acme SSO", "/accounts/oidc/corp/login/?process=login"),
        ("Sign in with DingTalk", "/accounts/dingtalk/login/?process=login"),
        ("Sign in with Feishu", "/accounts/feishu/login/?process=login"),
    ):
        assert label in page
        assert f'action="{url}"' in page
    assert 'name="next" value="/me/"' in page

    with translation.override("zh-hans"):
        page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "使用钉钉登录" in page and "使用飞书登录" in page and "使用Acme SSO登录" in page


def test_the_login_url_asks_then_sends_to_the_provider(client, configured):
    page = client.get("/accounts/dingtalk/login/")
    assert page.status_code == 200 and "Sign in with DingTalk" in page.content.decode()

    response = client.post("/accounts/dingtalk/login/", {"process": "login"})
    target = urlsplit(response["Location"])
    assert (target.netloc, target.path) == ("login.dingtalk.com", "/oauth2/auth")
    query = parse_qs(target.query)
    assert query["client_id"] == ["ding-client"]
    assert query["redirect_uri"] == ["http://testserver/accounts/dingtalk/login/callback/"]

    response = client.post("/accounts/feishu/login/", {"process": "login"})
    target = urlsplit(response["Location"])
    assert target.netloc == "open.feishu.cn"
    assert parse_qs(target.query)["redirect_uri"] == [
        "http://testserver/accounts/feishu/login/callback/"
    ]


def test_a_callback_without_a_code_and_a_provider_that_does_not_answer_are_refused(
    client, configured
):
    response = client.get("/accounts/dingtalk/login/callback/?error=access_denied", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "Signing in with DingTalk did not succeed." in response.content.decode()

    # The OIDC provider's discovery document is unreachable: a message, not a server error.
    response = client.post("/accounts/oidc/corp/login/", {"process": "login"}, follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "Signing in with Acme SSO did not succeed." in response.content.decode()


def test_a_provider_id_not_configured_does_not_exist(client, configured):
    assert client.get("/accounts/oidc/other/login/").status_code == 404
    assert client.post("/accounts/oidc/dingtalk/login/").status_code == 404


# ---------------------------------------------------------------------------------------------
# What each provider's user info is matched by


def test_identity_in_each_providers_user_info():
    assert identity_of("dingtalk", {}, DINGTALK_USER) == Identity("email", "Zhang.Wei@acme.example")
    assert identity_of("feishu", {"exitdesk_match_by": "email"}, FEISHU_USER) == Identity(
        "email", "li.na@acme.example"
    )
    assert identity_of(
        "feishu", {"exitdesk_match_by": "email"}, {**FEISHU_USER, "enterprise_email": ""}
    ) == Identity("email", "lina@gmail.example")
    assert identity_of("feishu", {"exitdesk_match_by": "employee_number"}, FEISHU_USER) == (
        Identity("employee_number", "E-0042")
    )
    oidc = {"userinfo": {"sub": "1", "email": "a@acme.example", "employeeNumber": "E7"}}
    assert identity_of("openid_connect", {}, oidc) == Identity("email", "a@acme.example")
    assert identity_of(
        "openid_connect",
        {
            "exitdesk_match_by": "employee_number",
            "exitdesk_employee_number_claim": "employeeNumber",
        },
        oidc,
    ) == Identity("employee_number", "E7")
    unverified = {"id_token": {"email": "a@acme.example", "email_verified": False}}
    assert identity_of("openid_connect", {}, unverified) == Identity("email", "")


def test_only_a_member_whose_login_works_is_matched_and_only_one():
    acme = factories.EnterpriseFactory(code="acme")
    zhang = factories.MemberFactory(enterprise=acme, user__email="zhang.wei@acme.example")
    factories.MemberFactory(
        enterprise=acme, user__email="gone@acme.example", status=MemberStatus.DEPARTED
    )
    factories.MemberFactory(enterprise=acme, user__email="off@acme.example", user__is_active=False)
    factories.MemberFactory(employee_number="E-0042")  # another enterprise
    li = factories.MemberFactory(enterprise=acme, employee_number="E-0042")

    assert match_member(Identity("email", "ZHANG.WEI@acme.example"), provider="DingTalk") == zhang
    for email in ("gone@acme.example", "off@acme.example", "nobody@acme.example"):
        with pytest.raises(SocialLoginRefused, match="no member of Exitdesk whose login works"):
            match_member(Identity("email", email), provider="DingTalk")
    with pytest.raises(SocialLoginRefused, match="more than one login"):
        match_member(Identity("employee_number", "E-0042"), provider="Feishu")
    assert (
        match_member(Identity("employee_number", "E-0042"), enterprise_code="acme", provider="F")
        == li
    )
    with pytest.raises(SocialLoginRefused, match="did not tell Exitdesk"):
        match_member(Identity("email", ""), provider="DingTalk")


def _request(path="/accounts/feishu/login/callback/"):
    request = RequestFactory().get(path)
    SessionMiddleware(lambda r: None).process_request(request)
    MessageMiddleware(lambda r: None).process_request(request)
    request.user = None
    return request


@pytest.mark.parametrize(
    ("provider_id", "data"), [("dingtalk", DINGTALK_USER), ("feishu", FEISHU_USER)]
)
def test_a_providers_sign_in_is_linked_to_the_matched_member_never_created(
    configured, provider_id, data
):
    acme = factories.EnterpriseFactory(code="acme")
    if provider_id == "feishu":  # matched by employee number (FEISHU_MATCH_BY)
        member = factories.MemberFactory(enterprise=acme, employee_number="E-0042")
    else:
        member = factories.MemberFactory(enterprise=acme, user__email="zhang.wei@acme.example")
    users = get_user_model().objects.count()
    request = _request()
    provider = get_adapter(request).get_provider(request, provider_id)
    sociallogin = provider.sociallogin_from_response(request, data)
    sociallogin.state = {"process": "login"}

    get_adapter(request).pre_social_login(request, sociallogin)

    account = SocialAccount.objects.get()
    assert (account.provider, account.user_id) == (provider_id, member.user_id)
    assert sociallogin.user == member.user
    assert AuditEvent.objects.filter(action="social_login_linked", member_id=member.pk).count() == 1
    assert get_user_model().objects.count() == users


def test_a_linked_account_of_a_member_who_left_is_refused(configured):
    member = factories.MemberFactory(user__email="zhang.wei@acme.example")
    request = _request()
    adapter = get_adapter(request)
    provider = adapter.get_provider(request, "dingtalk")
    first = provider.sociallogin_from_response(request, DINGTALK_USER)
    first.state = {"process": "login"}
    adapter.pre_social_login(request, first)
    member.status = MemberStatus.DEPARTED
    member.save()

    again = provider.sociallogin_from_response(request, DINGTALK_USER)
    again.state = {"process": "login"}
    again.lookup()
    assert again.is_existing
    with pytest.raises(ImmediateHttpResponse) as refusal:
        adapter.pre_social_login(request, again)
    assert refusal.value.response["Location"] == "/accounts/login/"
    assert [str(m) for m in get_messages(request)] == [
        "You signed in with DingTalk, but no member of Exitdesk whose login works has that "
        "e-mail address or employee number. Log in with your password, or ask HR to check your "
        "details."
    ]


def test_connecting_to_the_logged_in_user_is_refused(configured):
    factories.MemberFactory(user__email="zhang.wei@acme.example")
    request = _request()
    adapter = get_adapter(request)
    sociallogin = adapter.get_provider(request, "dingtalk").sociallogin_from_response(
        request, DINGTALK_USER
    )
    sociallogin.state = {"process": "connect"}
    with pytest.raises(ImmediateHttpResponse):
        adapter.pre_social_login(request, sociallogin)
    assert not SocialAccount.objects.exists()


def form_action(response) -> list[str]:
    policy = response["Content-Security-Policy"]
    return next(d for d in policy.split(";") if d.strip().startswith("form-action")).split()


def test_the_login_page_may_send_its_forms_to_the_configured_providers_only(client, settings):
    assert form_action(client.get("/accounts/login/")) == ["form-action", "'self'"]

    settings.SOCIALACCOUNT_PROVIDERS = providers(ENV)
    assert form_action(client.get("/accounts/login/")) == [
        "form-action",
        "'self'",
        "http://127.0.0.1:9",
        "https://login.dingtalk.com",
        "https://open.feishu.cn",
        "https://accounts.feishu.cn",
    ]


def test_the_callback_address_is_https_under_https(client, configured):
    # As under the production settings (ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"); Feishu's adapter
    # would otherwise say http:// whatever the request's scheme.
    configured.ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"
    for provider in ("dingtalk", "feishu"):
        response = client.post(f"/accounts/{provider}/login/", {"process": "login"})
        redirect_uri = parse_qs(urlsplit(response["Location"]).query)["redirect_uri"]
        assert redirect_uri == [f"https://testserver/accounts/{provider}/login/callback/"]
