"""Security at the doors (S-5): every login and password re-entry is throttled (django-axes), a
refused re-entry keeps its form, an undone exit says so, staff sessions end when idle, every page
carries a Content-Security-Policy, and `check --deploy` is clean with the production settings."""

import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from directory import security
from offboarding import workflow
from offboarding.choices import ExitState
from offboarding.exceptions import ExitRefused
from offboarding.models import Exit
from tests import factories
from tests.offboarding import conftest as exit_fixtures

pytestmark = pytest.mark.django_db

# The people around an exit, shared with tests/offboarding/ (the exits' fixtures are everyone's).
department = exit_fixtures.department
manager = exit_fixtures.manager
member = exit_fixtures.member

LIMIT = django_settings.AXES_FAILURE_LIMIT
COOL_OFF = django_settings.AXES_COOLOFF_TIME
LOGIN_URL = "/accounts/login/"
ADMIN_LOGIN_URL = "/admin/login/?next=/admin/"
# 00:14:30 UTC yesterday: the lockout of a try then ends at 00:44:30, shown as 00:45 (never too
# early). Built from today, whatever day the suite runs: a session made then is still alive when
# read back after the time travel (sessions last 14 days), and a login made now by a fixture is not
# yet idle then.
A_NIGHT = (datetime.now(UTC) - timedelta(days=1)).replace(
    hour=0, minute=14, second=30, microsecond=0
)


def text_of(response) -> str:
    # Durations in words keep number and unit together with a no-break space.
    return response.content.decode().replace("\xa0", " ")


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def logged_in(client) -> bool:
    return SESSION_KEY in client.session


def undo_url(exit_case) -> str:
    return reverse("admin:offboarding_exit_transition", args=[exit_case.pk, "undo"])


def change_url(exit_case) -> str:
    return reverse("admin:offboarding_exit_change", args=[exit_case.pk])


@pytest.fixture
def completed(completed_exit, member):
    return completed_exit(member)


# --- logins are throttled -------------------------------------------------------------------


@pytest.mark.parametrize("url", [LOGIN_URL, ADMIN_LOGIN_URL], ids=["pages", "admin"])
def test_after_too_many_wrong_passwords_even_the_right_one_is_refused(client, hr_user, url):
    # given
    with time_machine.travel(A_NIGHT, tick=False):
        for _ in range(LIMIT - 1):
            response = client.post(url, {"username": "hr", "password": "wrong"})
            assert response.status_code == 200  # the login form again, not locked yet
        locked = client.post(url, {"username": "hr", "password": "wrong"})
        # when
        response = client.post(url, {"username": "hr", "password": factories.PASSWORD})
    # then
    assert locked.status_code == 429
    assert response.status_code == 429
    # In the zone of the enterprise whose login was tried (Asia/Shanghai, UTC+8), not UTC.
    assert "Too many wrong passwords. Try again after 08:45 (in 30 minutes)." in text_of(response)
    assert "Times are in the Asia/Shanghai time zone." in text_of(response)
    assert not logged_in(client)


def test_the_lockout_page_is_ours_and_translated(client, hr_user):
    for _ in range(LIMIT):
        client.post(LOGIN_URL, {"username": "hr", "password": "wrong"})

    response = client.post(
        LOGIN_URL, {"username": "hr", "password": "wrong"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert response.status_code == 429
    assert "registration/locked_out.html" in [template.name for template in response.templates]
    assert 'lang="zh-hans"' in text_of(response)


@pytest.mark.parametrize("url", [LOGIN_URL, ADMIN_LOGIN_URL], ids=["pages", "admin"])
def test_after_the_cool_off_the_right_password_logs_in(client, hr_user, url):
    # given
    with time_machine.travel(A_NIGHT, tick=False):
        for _ in range(LIMIT):
            client.post(url, {"username": "hr", "password": "wrong"})
    # when
    with time_machine.travel(A_NIGHT + COOL_OFF + timedelta(seconds=1), tick=False):
        response = client.post(url, {"username": "hr", "password": factories.PASSWORD})
    # then
    assert response.status_code == 302
    assert logged_in(client)


def test_a_try_during_the_lockout_starts_the_cool_off_again(client, hr_user):
    with time_machine.travel(A_NIGHT, tick=False):
        for _ in range(LIMIT):
            client.post(LOGIN_URL, {"username": "hr", "password": "wrong"})
    with time_machine.travel(A_NIGHT + timedelta(minutes=20), tick=False):
        response = client.post(LOGIN_URL, {"username": "hr", "password": factories.PASSWORD})
        assert "Try again after 09:05 (in 30 minutes)." in text_of(response)

    with time_machine.travel(A_NIGHT + COOL_OFF + timedelta(minutes=1), tick=False):
        response = client.post(LOGIN_URL, {"username": "hr", "password": factories.PASSWORD})

    assert response.status_code == 429


def test_a_successful_login_starts_the_count_again(client, hr_user):
    for _ in range(LIMIT - 1):
        client.post(LOGIN_URL, {"username": "hr", "password": "wrong"})
    response = client.post(LOGIN_URL, {"username": "hr", "password": factories.PASSWORD})
    assert response.status_code == 302
    client.logout()

    for _ in range(LIMIT - 1):
        client.post(LOGIN_URL, {"username": "hr", "password": "wrong"})
    response = client.post(LOGIN_URL, {"username": "hr", "password": factories.PASSWORD})

    assert response.status_code == 302
    assert logged_in(client)


def test_force_login_is_not_throttled(client, hr_user):
    for _ in range(LIMIT):
        client.post(LOGIN_URL, {"username": "hr", "password": "wrong"})

    client.force_login(hr_user)

    assert client.get("/admin/").status_code == 200


# --- password re-entry: undoing an exit -----------------------------------------------------


def test_wrong_passwords_on_the_undo_page_lock_it_and_say_when_to_try_again(hr_client, completed):
    # given
    for _ in range(LIMIT):
        response = hr_client.post(undo_url(completed), {"password": "wrong"})
        assert response.status_code == 200
    # when the right password comes too late
    response = hr_client.post(undo_url(completed), {"password": factories.PASSWORD})
    # then
    assert response.status_code == 200  # the confirmation page, with the refusal on its form
    assert "Too many wrong passwords. Try again after" in text_of(response)
    assert "(in 30 minutes)" in text_of(response)
    assert response.context["form"].errors["password"]
    assert Exit.objects.get(pk=completed.pk).state == ExitState.COMPLETED


def test_the_undo_page_works_again_after_the_cool_off(hr_client, completed, settings):
    # HR kept working meanwhile: their session did not time out (a test of its own below).
    settings.STAFF_SESSION_IDLE_TIMEOUT = timedelta(hours=2)
    for _ in range(LIMIT):
        hr_client.post(undo_url(completed), {"password": "wrong"})

    with time_machine.travel(timezone.now() + COOL_OFF + timedelta(minutes=1)):
        response = hr_client.post(undo_url(completed), {"password": factories.PASSWORD})

    assert response.status_code == 302
    assert Exit.objects.get(pk=completed.pk).state == ExitState.REVERTED


def test_wrong_passwords_on_the_undo_page_count_towards_the_login_lockout(
    client, hr_user, completed
):
    client.force_login(hr_user)
    for _ in range(LIMIT):
        client.post(undo_url(completed), {"password": "wrong"})
    client.logout()

    response = client.post(LOGIN_URL, {"username": "hr", "password": factories.PASSWORD})

    assert response.status_code == 429
    assert not logged_in(client)


def test_undo_from_code_without_a_request_checks_the_password_only(completed, hr_user):
    for _ in range(LIMIT + 1):
        with pytest.raises(ExitRefused, match="password was not right"):
            workflow.undo(completed, actor=hr_user, password="wrong")

    reverted = workflow.undo(completed, actor=hr_user, password=factories.PASSWORD)

    assert reverted.state == ExitState.REVERTED


# --- a refused form is shown again, with the refusal on it ----------------------------------


def test_a_wrong_password_on_the_undo_page_shows_the_form_again_with_the_error(
    hr_client, completed
):
    response = hr_client.post(undo_url(completed), {"password": "wrong"})

    assert response.status_code == 200
    assert response.templates[0].name == "admin/offboarding/exit/transition_confirmation.html"
    assert response.context["form"].errors["password"] == [
        "Your password was not right: re-enter it to confirm the undo."
    ]
    assert 'name="password"' in text_of(response)
    assert 'value="wrong"' not in text_of(response)  # a password is never sent back
    assert messages_of(response) == []
    assert Exit.objects.get(pk=completed.pk).state == ExitState.COMPLETED


def test_a_refused_rejection_keeps_the_reason_typed(hr_client, completed):
    url = reverse("admin:offboarding_exit_transition", args=[completed.pk, "reject"])

    response = hr_client.post(url, {"reason": "交接清单未签"})

    assert response.status_code == 200
    assert "交接清单未签" in text_of(response)
    assert "it cannot be rejected now" in text_of(response)
    assert Exit.objects.get(pk=completed.pk).state == ExitState.COMPLETED


def test_a_refused_transition_without_a_form_still_goes_back_to_the_exit(hr_client, completed):
    url = reverse("admin:offboarding_exit_transition", args=[completed.pk, "cancel"])

    response = hr_client.post(url)

    assert response.status_code == 302
    assert response.url == change_url(completed)
    assert any("cannot be cancelled now" in message for message in messages_of(response))


def test_the_right_password_on_the_undo_page_undoes_and_goes_back_to_the_exit(hr_client, completed):
    response = hr_client.post(undo_url(completed), {"password": factories.PASSWORD})

    assert response.status_code == 302
    assert response.url == change_url(completed)
    assert Exit.objects.get(pk=completed.pk).state == ExitState.REVERTED


# --- the exit page after an undo ------------------------------------------------------------


def test_an_undone_exit_says_when_and_by_whom_not_that_the_window_ended(
    hr_client, completed, hr_user
):
    hr_user.first_name = "人事"
    hr_user.save()
    workflow.undo(completed, actor=hr_user, password=factories.PASSWORD)

    page = text_of(hr_client.get(change_url(completed)))

    assert "Undone on " in page
    assert "by 人事" in page
    assert "Undo window ended" not in page
    assert "Can be undone until" not in page


def test_an_exit_past_its_undo_window_says_the_window_ended(hr_client, completed, settings):
    settings.STAFF_SESSION_IDLE_TIMEOUT = timedelta(days=30)
    with time_machine.travel(completed.undo_deadline + timedelta(minutes=1)):
        page = text_of(hr_client.get(change_url(completed)))

    assert "Undo window ended" in page
    assert "Undone on" not in page


def test_a_completed_exit_within_its_window_says_until_when(hr_client, completed):
    page = text_of(hr_client.get(change_url(completed)))

    assert "Can be undone until" in page
    assert "Undo window ended" not in page


# --- staff sessions end when idle -----------------------------------------------------------

IDLE = django_settings.STAFF_SESSION_IDLE_TIMEOUT


def test_a_staff_user_idle_too_long_is_logged_out_with_a_message(hr_client):
    with time_machine.travel(A_NIGHT, tick=False):
        assert hr_client.get("/admin/").status_code == 200

    with time_machine.travel(A_NIGHT + IDLE + timedelta(seconds=1), tick=False):
        response = hr_client.get("/admin/offboarding/exit/", follow=True)

    assert response.redirect_chain[0] == (
        "/admin/login/?next=/admin/offboarding/exit/",
        302,
    )
    assert not logged_in(hr_client)
    assert "You were logged out after 30 minutes of inactivity." in text_of(response)


def test_a_staff_user_idle_on_the_pages_goes_to_the_pages_login(hr_client):
    with time_machine.travel(A_NIGHT, tick=False):
        hr_client.get("/")

    with time_machine.travel(A_NIGHT + IDLE + timedelta(minutes=5), tick=False):
        response = hr_client.get("/approvals/", follow=True)

    assert response.redirect_chain[0] == ("/accounts/login/?next=/approvals/", 302)
    assert "You were logged out after 30 minutes of inactivity." in text_of(response)


def test_each_request_of_a_staff_user_restarts_the_idle_time(hr_client):
    for minutes in (0, 20, 40, 60):
        with time_machine.travel(A_NIGHT + timedelta(minutes=minutes), tick=False):
            assert hr_client.get("/admin/").status_code == 200

    assert logged_in(hr_client)


def test_exactly_the_idle_timeout_is_not_too_long(hr_client):
    with time_machine.travel(A_NIGHT, tick=False):
        hr_client.get("/admin/")
    with time_machine.travel(A_NIGHT + IDLE, tick=False):
        assert hr_client.get("/admin/").status_code == 200


def test_a_members_session_does_not_time_out(client, enterprise):
    employee = factories.MemberFactory(enterprise=enterprise, name="小李")
    client.force_login(employee.user)
    with time_machine.travel(A_NIGHT, tick=False):
        assert client.get("/").status_code == 200

    with time_machine.travel(A_NIGHT + timedelta(hours=3), tick=False):
        response = client.get("/")

    assert response.status_code == 200
    assert logged_in(client)


def test_the_idle_timeout_follows_the_setting(hr_client, settings):
    settings.STAFF_SESSION_IDLE_TIMEOUT = timedelta(minutes=5)
    with time_machine.travel(A_NIGHT, tick=False):
        hr_client.get("/admin/")

    with time_machine.travel(A_NIGHT + timedelta(minutes=6), tick=False):
        response = hr_client.get("/admin/", follow=True)

    assert "You were logged out after 5 minutes of inactivity." in text_of(response)


# --- the client's address behind a proxy ----------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.2"),  # no proxy: what a client sends proves nothing
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the left one was sent by the client
        (2, "198.51.100.1, 203.0.113.9, 10.0.0.7", "203.0.113.9"),
        (1, "", "10.0.0.2"),
        (1, "not-an-address", "10.0.0.2"),
    ],
)
def test_the_client_address_is_the_one_the_trusted_proxies_saw(
    settings, proxies, forwarded_for, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post(
        "/accounts/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for
    )

    assert security.client_ip_address(request) == expected


# --- Content-Security-Policy ----------------------------------------------------------------

EXPECTED_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy_of(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in directives}


def test_every_page_carries_the_content_security_policy(client, hr_user, completed):
    anonymous = [client.get(LOGIN_URL), client.get(ADMIN_LOGIN_URL), client.get("/")]
    client.force_login(hr_user)
    logged_in_pages = [
        client.get("/"),
        client.get("/approvals/"),
        client.get("/admin/"),
        client.get("/admin/offboarding/exit/"),
        client.get(change_url(completed)),
        client.get(undo_url(completed)),
        client.post(undo_url(completed), {"password": "wrong"}),
        client.get("/admin/directory/member/"),
    ]

    for response in anonymous + logged_in_pages:
        assert response.status_code in (200, 302), response.request["PATH_INFO"]
        assert policy_of(response) == EXPECTED_POLICY, response.request["PATH_INFO"]


def test_the_lockout_page_carries_the_content_security_policy(client, hr_user):
    for _ in range(LIMIT):
        response = client.post(LOGIN_URL, {"username": "hr", "password": "wrong"})

    assert response.status_code == 429
    assert policy_of(response) == EXPECTED_POLICY


def test_no_page_template_has_an_inline_style_or_script():
    templates = Path(django_settings.BASE_DIR, "templates")
    offenders = [
        f"{path.relative_to(templates)}: {marker}"
        for path in templates.rglob("*.html")
        for marker in ("<style", "style=", "<script>")
        if marker in path.read_text()
    ]

    assert offenders == []


# --- check --deploy -------------------------------------------------------------------------


def check_deploy(tmp_path, **changes):
    """`manage.py check --deploy` under the production settings, with a complete environment
    changed by `changes` (None removes a variable)."""
    # Only what production sets: nothing of the test run's own DJANGO_* variables (the browser
    # tests' DJANGO_ALLOW_ASYNC_UNSAFE, say).
    env = {
        **{
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("DJANGO_", "EMAIL_"))
        },
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "CACHE_URL": "redis://127.0.0.1:6379/1",
        "EXITDESK_MASTER_KEYS": Fernet.generate_key().decode(),
        "EXITDESK_AUDIT_KEYS": f"k1:{secrets.token_urlsafe(32)}",
        "DJANGO_ALLOWED_HOSTS": "exitdesk.example.cn",
        "EMAIL_URL": "smtp+tls://exitdesk:secret@smtp.example.cn:587",
        "DEFAULT_FROM_EMAIL": "Exitdesk <exitdesk@example.cn>",
        "EXITDESK_SITE_URL": "https://exitdesk.example.cn",
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    result = check_deploy(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_is_clean_when_the_proxy_does_the_https_redirect(tmp_path):
    # The proxy answers port 80 with its redirect (deploy/nginx/exitdesk.conf): no W008.
    result = check_deploy(tmp_path, DJANGO_SECURE_SSL_REDIRECT="0")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "W008" not in result.stdout + result.stderr
    assert "System check identified no issues (1 silenced)." in result.stdout


def test_check_deploy_refuses_production_without_allowed_hosts(tmp_path):
    result = check_deploy(tmp_path, DJANGO_ALLOWED_HOSTS=None)

    assert result.returncode != 0
    assert "Set DJANGO_ALLOWED_HOSTS to the host names people open Exitdesk at" in result.stderr
