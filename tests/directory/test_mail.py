"""Mail that is configured or says so (issue 14, item 5): the settings read EMAIL_URL or the
EMAIL_* variables, production refuses to start without a mail server, a send that fails is
logged with its reason and reported to whoever asked, and mail is written in the recipient's
language (Simplified Chinese by default)."""

import json
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core import mail as outbox
from django.core.management import call_command
from django.urls import reverse

from directory import mail
from directory.choices import StaffRole
from tests import factories

pytestmark = pytest.mark.django_db

# The variables the settings read mail from (and Django's own): none leaks in from the test run.
OURS = ("DJANGO_", "EMAIL_", "DEFAULT_FROM_EMAIL", "SERVER_EMAIL", "ADMINS")
REFUSING = "tests.mail_backends.RefusingBackend"
UNREACHABLE = "tests.mail_backends.UnreachableBackend"


def settings_under(module: str, **environment) -> dict:
    """The mail settings Django reads with `module` and only `environment` set."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(OURS)}
    env.update(DJANGO_SETTINGS_MODULE=module, **environment)
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({n: getattr(s, n) for n in ('EMAIL_BACKEND', 'EMAIL_HOST', "
        "'EMAIL_PORT', 'EMAIL_HOST_USER', 'EMAIL_HOST_PASSWORD', 'EMAIL_USE_TLS', "
        "'EMAIL_USE_SSL', 'EMAIL_TIMEOUT', 'DEFAULT_FROM_EMAIL', 'SERVER_EMAIL', 'ADMINS')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        return {"error": result.stderr}
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_email_url_names_the_mail_server():
    found = settings_under(
        "config.settings.local",
        EMAIL_URL="smtp+tls://exitdesk:s3cret@smtp.example.cn:587",
        DEFAULT_FROM_EMAIL="Exitdesk <exitdesk@example.cn>",
        ADMINS="运维 <ops@example.cn>,root@example.cn",
    )

    assert found["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (found["EMAIL_HOST"], found["EMAIL_PORT"]) == ("smtp.example.cn", 587)
    assert (found["EMAIL_HOST_USER"], found["EMAIL_HOST_PASSWORD"]) == ("exitdesk", "s3cret")
    assert found["EMAIL_USE_TLS"] is True and found["EMAIL_USE_SSL"] is False
    assert found["DEFAULT_FROM_EMAIL"] == "Exitdesk <exitdesk@example.cn>"
    assert found["SERVER_EMAIL"] == "Exitdesk <exitdesk@example.cn>"
    assert found["ADMINS"] == [["运维", "ops@example.cn"], ["", "root@example.cn"]]
    assert found["EMAIL_TIMEOUT"] == 10


def test_the_email_variables_name_the_mail_server_without_a_url():
    found = settings_under(
        "config.settings.local",
        EMAIL_HOST="smtp.example.cn",
        EMAIL_PORT="465",
        EMAIL_USE_SSL="1",
        EMAIL_HOST_USER="exitdesk",
    )

    assert found["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (found["EMAIL_HOST"], found["EMAIL_PORT"]) == ("smtp.example.cn", 465)
    assert found["EMAIL_USE_SSL"] is True


def test_make_run_prints_mail_on_the_console():
    found = settings_under("config.settings.local")

    assert found["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_production_refuses_to_start_without_a_mail_server(tmp_path):
    found = settings_under(
        "config.settings.production",
        DJANGO_SECRET_KEY="x" * 60,
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        CACHE_URL="redis://127.0.0.1:6379/1",
        EXITDESK_MASTER_KEYS="k",
        EXITDESK_AUDIT_KEYS="k1:x",
        DEFAULT_FROM_EMAIL="exitdesk@example.cn",
        DJANGO_ALLOWED_HOSTS="exitdesk.example.cn",
    )

    assert "ImproperlyConfigured" in found["error"]
    assert "Set EMAIL_URL" in found["error"]


def test_the_tests_keep_mail_in_memory():
    assert django_settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"


# --- sending ---------------------------------------------------------------------------------


def send_hello(to="li@example.cn", language="zh-hans"):
    mail.send(
        to=to,
        template="mail/password_reset",
        context={"name": "李雷", "username": "li.lei@acme", "link": "http://x/", "valid_hours": 24},
        language=language,
    )


def test_a_mail_is_written_in_chinese_by_default():
    send_hello()

    (sent,) = outbox.outbox
    assert sent.to == ["li@example.cn"]
    assert sent.subject == "设置新的 Exitdesk 密码"
    assert "李雷" in sent.body and "http://x/" in sent.body


def test_a_mail_is_written_in_the_language_asked():
    send_hello(language="en")

    assert outbox.outbox[0].subject == "Set a new Exitdesk password"


def test_a_member_gets_mail_in_their_enterprises_language(enterprise):
    member = factories.MemberFactory(enterprise=enterprise)
    assert mail.language_of(member.user) == "zh-hans"

    enterprise.language = "en"
    enterprise.save()
    member.user.refresh_from_db()

    assert mail.language_of(member.user) == "en"
    assert mail.language_of(factories.StaffUserFactory()) == "zh-hans"


def test_a_staff_user_gets_mail_in_the_language_of_the_enterprises_granted_to_them():
    english = factories.EnterpriseFactory(language="en")
    hr = factories.StaffFactory(enterprise=english, role=StaffRole.HR)
    assert mail.language_of(hr) == "en"

    # granted another enterprise of the same language, as IT: still English
    factories.GrantFactory(
        user=hr, enterprise=factories.EnterpriseFactory(language="en"), role=StaffRole.IT
    )
    assert mail.language_of(hr) == "en"

    # granted one in Chinese as well: the languages differ, the default
    factories.GrantFactory(
        user=hr, enterprise=factories.EnterpriseFactory(language="zh-hans"), role=StaffRole.HR
    )
    assert mail.language_of(hr) == "zh-hans"


def test_a_staff_users_password_reset_mail_is_in_their_enterprises_language(client):
    hr = factories.StaffFactory(
        enterprise=factories.EnterpriseFactory(language="en"), email="hr@example.cn"
    )

    client.post(reverse("password_reset"), {"email": "hr@example.cn"})

    (sent,) = outbox.outbox
    assert sent.to == [hr.email]
    assert sent.subject == "Set a new Exitdesk password"


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (REFUSING, "SMTPDataError: (550, b'5.7.1 Relaying denied')"),
        (UNREACHABLE, "ConnectionRefusedError: [Errno 111] Connection refused"),
    ],
)
def test_a_refused_send_raises_with_the_reason_and_logs_it(settings, caplog, backend, reason):
    settings.EMAIL_BACKEND = backend

    with caplog.at_level(logging.WARNING, logger="directory.mail"):
        with pytest.raises(mail.MailNotSent) as not_sent:
            send_hello()

    assert not_sent.value.reason == reason
    assert f"not sent: {reason}" in caplog.text
    assert "li@example.cn" not in caplog.text  # the log names users by id, never by address


def test_no_address_is_not_sent():
    with pytest.raises(mail.MailNotSent, match="there is no e-mail address"):
        send_hello(to="")

    assert outbox.outbox == []


def test_mail_turned_off_is_not_sent_rather_than_dropped(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"

    with pytest.raises(mail.MailNotSent, match="mail is turned off"):
        send_hello()


def test_sendtestemail_tries_the_configured_server():
    call_command("sendtestemail", "ops@example.cn")

    assert outbox.outbox[0].to == ["ops@example.cn"]


# --- "forgot my password" --------------------------------------------------------------------

RESET_URL = "/accounts/password_reset/"
NEITHER_YES_NOR_NO = "If the address is known, a link to set a new password was sent to it."


def test_a_member_who_never_set_a_password_gets_a_reset_link(client, enterprise):
    # Django's own form skips a login without a usable password: the member would wait forever.
    member = factories.MemberFactory(enterprise=enterprise, user__email="new@example.cn")
    member.user.set_unusable_password()
    member.user.save()

    response = client.post(RESET_URL, {"email": "NEW@example.cn"}, follow=True)

    assert NEITHER_YES_NOR_NO in response.content.decode()
    (sent,) = outbox.outbox
    assert sent.to == ["new@example.cn"]
    assert sent.subject == "设置新的 Exitdesk 密码"


def test_an_unknown_address_gets_the_same_page_and_no_mail(client):
    response = client.post(RESET_URL, {"email": "nobody@example.cn"}, follow=True)

    assert NEITHER_YES_NOR_NO in response.content.decode()
    assert outbox.outbox == []


def test_a_failed_reset_mail_is_logged_and_the_page_reveals_nothing(
    client, enterprise, settings, caplog
):
    settings.EMAIL_BACKEND = REFUSING
    member = factories.MemberFactory(enterprise=enterprise, user__email="li@example.cn")

    with caplog.at_level(logging.WARNING, logger="directory.mail"):
        response = client.post(RESET_URL, {"email": "li@example.cn"}, follow=True)

    assert NEITHER_YES_NOR_NO in response.content.decode()
    assert f"user {member.user.pk} not sent: SMTPDataError" in caplog.text


def test_an_inactive_login_gets_no_reset_link(client, enterprise):
    member = factories.MemberFactory(enterprise=enterprise, user__email="gone@example.cn")
    member.user.is_active = False
    member.user.save()

    client.post(RESET_URL, {"email": "gone@example.cn"})

    assert outbox.outbox == []
