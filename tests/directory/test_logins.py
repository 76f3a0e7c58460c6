"""Per-enterprise logins (D-1): a member's login is `login@code`, typed whole or as the login and
the enterprise code, on the pages' login and the admin's; staff logins have no code; django-axes
counts failures against the login actually tried."""

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.messages import get_messages
from django.urls import reverse

from directory.choices import MemberRole
from directory.logins import login_username
from directory.models import Member
from directory.services import member_username
from tests import factories

pytestmark = pytest.mark.django_db

LOGIN_URL = "/accounts/login/"
ADMIN_LOGIN_URL = "/admin/login/?next=/admin/"
LIMIT = settings.AXES_FAILURE_LIMIT


def member_with_login(enterprise, login: str, password: str = factories.PASSWORD) -> Member:
    user = factories.UserFactory(
        username=member_username(enterprise, login), password=factories.PASSWORD
    )
    user.set_password(password)
    user.save()
    return factories.MemberFactory(enterprise=enterprise, user=user)


def logged_in_user_id(client):
    return client.session.get(SESSION_KEY)


@pytest.fixture
def acme(db):
    return factories.EnterpriseFactory(name="Acme", code="acme")


@pytest.fixture
def globex(db):
    return factories.EnterpriseFactory(name="Globex", code="globex")


@pytest.fixture
def zhang_of_acme(acme):
    return member_with_login(acme, "zhang.wei", "acme-password")


@pytest.fixture
def zhang_of_globex(globex):
    return member_with_login(globex, "zhang.wei", "globex-password")


def test_a_member_logs_in_with_login_at_code_typed_whole(client, zhang_of_acme):
    response = client.post(LOGIN_URL, {"username": "zhang.wei@acme", "password": "acme-password"})

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(zhang_of_acme.user.pk)


def test_a_member_logs_in_with_the_login_and_the_enterprise_code(client, zhang_of_acme):
    response = client.post(
        LOGIN_URL,
        {"username": "zhang.wei", "enterprise_code": "acme", "password": "acme-password"},
    )

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(zhang_of_acme.user.pk)


@pytest.mark.parametrize(
    ("username", "code"),
    [("Zhang.Wei@ACME", ""), (" ZHANG.WEI ", "Acme"), ("zhang.wei@acme", "acme")],
)
def test_the_case_and_spaces_of_a_members_login_do_not_matter(
    client, zhang_of_acme, username, code
):
    response = client.post(
        LOGIN_URL, {"username": username, "enterprise_code": code, "password": "acme-password"}
    )

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(zhang_of_acme.user.pk)


def test_two_enterprises_each_have_a_zhang_wei(client, zhang_of_acme, zhang_of_globex):
    client.post(LOGIN_URL, {"username": "zhang.wei@globex", "password": "globex-password"})
    assert logged_in_user_id(client) == str(zhang_of_globex.user.pk)
    client.logout()

    # Acme's password is not Globex's zhang.wei's.
    response = client.post(
        LOGIN_URL,
        {"username": "zhang.wei", "enterprise_code": "globex", "password": "acme-password"},
    )

    assert response.status_code == 200
    assert "Please enter a correct" in response.content.decode()
    assert logged_in_user_id(client) is None


def test_a_member_without_the_code_is_not_found(client, zhang_of_acme):
    response = client.post(LOGIN_URL, {"username": "zhang.wei", "password": "acme-password"})

    assert response.status_code == 200
    assert logged_in_user_id(client) is None


@pytest.mark.parametrize("url", [LOGIN_URL, ADMIN_LOGIN_URL], ids=["pages", "admin"])
def test_staff_log_in_without_a_code_as_before(client, hr_user, url):
    response = client.post(url, {"username": "hr", "password": factories.PASSWORD})

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(hr_user.pk)


def test_a_staff_login_with_an_enterprise_code_is_another_login(client, hr_user, enterprise):
    response = client.post(
        LOGIN_URL,
        {"username": "hr", "enterprise_code": enterprise.code, "password": factories.PASSWORD},
    )

    assert response.status_code == 200
    assert logged_in_user_id(client) is None


def test_a_staff_login_that_looks_like_an_address_is_looked_up_as_typed(client, enterprise):
    staff = factories.StaffFactory(username="Li.Ops@example.com", enterprise=enterprise)

    response = client.post(
        ADMIN_LOGIN_URL, {"username": "Li.Ops@example.com", "password": factories.PASSWORD}
    )

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(staff.pk)


def test_both_login_pages_show_the_enterprise_code_field(client):
    for url in (LOGIN_URL, ADMIN_LOGIN_URL):
        page = client.get(url).content.decode()
        assert 'name="enterprise_code"' in page, url
        assert "Enterprise code" in page, url


def test_the_admin_login_takes_a_member_login_and_refuses_it_as_not_staff(client, zhang_of_acme):
    response = client.post(
        ADMIN_LOGIN_URL,
        {"username": "zhang.wei", "enterprise_code": "acme", "password": "acme-password"},
    )

    assert response.status_code == 200
    assert logged_in_user_id(client) is None


@pytest.mark.parametrize(
    ("typed", "code", "expected"),
    [
        ("zhang.wei@acme", "", "zhang.wei@acme"),
        ("zhang.wei", "acme", "zhang.wei@acme"),
        ("zhang.wei@acme", "ACME", "zhang.wei@acme"),
        ("zhang.wei", "", "zhang.wei"),
        ("hr", "", "hr"),
        ("someone@unknown", "", "someone@unknown"),  # no such enterprise: as typed
        ("Someone@Example.com", "", "Someone@Example.com"),
    ],
)
def test_which_username_a_login_form_means(acme, typed, code, expected):
    assert login_username(typed, code) == expected


# --- django-axes counts the login actually tried ---------------------------------------------


def test_failures_typed_with_the_code_field_lock_the_login_typed_whole(client, zhang_of_acme):
    for _ in range(LIMIT):
        client.post(
            LOGIN_URL,
            {"username": "zhang.wei", "enterprise_code": "acme", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
        )

    # From another address, so that only the username's count can refuse it.
    response = client.post(
        LOGIN_URL,
        {"username": "Zhang.Wei@acme", "password": "acme-password"},
        REMOTE_ADDR="10.0.0.2",
    )

    assert response.status_code == 429
    assert logged_in_user_id(client) is None


def test_failures_of_one_enterprises_zhang_wei_do_not_lock_the_others(
    client, zhang_of_acme, zhang_of_globex
):
    for _ in range(LIMIT):
        client.post(
            LOGIN_URL,
            {"username": "zhang.wei@acme", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
        )

    response = client.post(
        LOGIN_URL,
        {"username": "zhang.wei", "enterprise_code": "globex", "password": "globex-password"},
        REMOTE_ADDR="10.0.0.2",
    )

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(zhang_of_globex.user.pk)


def test_the_admin_login_counts_the_login_actually_tried(client, zhang_of_acme):
    for _ in range(LIMIT):
        client.post(
            ADMIN_LOGIN_URL,
            {"username": "zhang.wei", "enterprise_code": "acme", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
        )

    response = client.post(
        LOGIN_URL,
        {"username": "zhang.wei@acme", "password": "acme-password"},
        REMOTE_ADDR="10.0.0.2",
    )

    assert response.status_code == 429


# --- HR adds a member: the login part, per enterprise ----------------------------------------


def add_member(hr_client, enterprise, department, login, number):
    return hr_client.post(
        reverse("admin:directory_member_add"),
        {
            "enterprise": enterprise.pk,
            "username": login,
            "email": f"{number}@example.com",
            "name": "张伟",
            "employee_number": number,
            "department": department.pk,
            "role": MemberRole.MEMBER,
            "data_region": "CN",
        },
    )


def test_hr_adds_a_login_that_another_enterprise_already_has(client, acme, zhang_of_globex):
    hr = factories.StaffFactory(username="acme-hr", enterprise=acme, role="hr")
    client.force_login(hr)
    department = factories.DepartmentFactory(enterprise=acme)

    response = add_member(client, acme, department, "zhang.wei", "E1")

    assert response.status_code == 302
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert "张伟 has no password yet: send the invitation from their page" in " ".join(shown)
    assert Member.objects.get(enterprise=acme, employee_number="E1").user.username == (
        "zhang.wei@acme"
    )


def test_a_login_taken_in_the_same_enterprise_is_a_form_error(client, acme, zhang_of_acme):
    hr = factories.StaffFactory(username="acme-hr", enterprise=acme, role="hr")
    client.force_login(hr)
    department = factories.DepartmentFactory(enterprise=acme)

    response = add_member(client, acme, department, "Zhang.Wei", "E2")

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["username"] == ["The login zhang.wei@acme is already taken in this enterprise."]
    assert not Member.objects.filter(employee_number="E2").exists()


def test_a_login_with_an_at_sign_is_a_form_error(client, acme):
    hr = factories.StaffFactory(username="acme-hr", enterprise=acme, role="hr")
    client.force_login(hr)
    department = factories.DepartmentFactory(enterprise=acme)

    response = add_member(client, acme, department, "zhang.wei@globex", "E3")

    assert response.status_code == 200
    assert "username" in response.context["adminform"].form.errors
    assert not Member.objects.filter(employee_number="E3").exists()
