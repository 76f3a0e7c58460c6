"""`manage.py bootstrap_enterprise`: a real organisation's first run, from an empty database; and
`seed_demo`, which refuses to run under the production settings."""

import os
import secrets
import subprocess
import sys
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpRequest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent
from directory.choices import MemberRole, MemberStatus, StaffRole
from directory.models import Department, Enterprise, EnterpriseAccess, Member
from directory.services import member_username
from tests import factories

pytestmark = pytest.mark.django_db

# Passwords from the environment; never in any output. Made at run time, so no test knows them
# by heart.
PASSWORDS = {
    "EXITDESK_SUPER_ADMIN_PASSWORD": f"sa-{secrets.token_urlsafe(12)}",
    "EXITDESK_HR_PASSWORD": f"hr-{secrets.token_urlsafe(12)}",
}

ENVIRONMENT = {
    "EXITDESK_ENTERPRISE_NAME": "宏远制造有限公司",
    "EXITDESK_ENTERPRISE_CODE": "hongyuan",
    "EXITDESK_ENTERPRISE_TIME_ZONE": "Asia/Shanghai",
    "EXITDESK_ENTERPRISE_DATA_REGION": "CN",
    "EXITDESK_SUPER_ADMIN_NUMBER": "HY0001",
    "EXITDESK_SUPER_ADMIN_NAME": "林志远",
    "EXITDESK_SUPER_ADMIN_EMAIL": "lin.zhiyuan@hongyuan.example.cn",
    "EXITDESK_SUPER_ADMIN_LOGIN": "lin.zhiyuan",
    "EXITDESK_BACKUP_ADMIN_NUMBER": "HY0002",
    "EXITDESK_BACKUP_ADMIN_NAME": "周敏",
    "EXITDESK_BACKUP_ADMIN_EMAIL": "zhou.min@hongyuan.example.cn",
    "EXITDESK_BACKUP_ADMIN_LOGIN": "zhou.min",
    "EXITDESK_HR_USERNAME": "hy-hr",
    "EXITDESK_HR_EMAIL": "hr@hongyuan.example.cn",
    "EXITDESK_IT_USERNAME": "hy-it",
    "EXITDESK_IT_EMAIL": "it@hongyuan.example.cn",
    "EXITDESK_COMPLIANCE_USERNAME": "hy-compliance",
    "EXITDESK_COMPLIANCE_EMAIL": "compliance@hongyuan.example.cn",
}
EVERY_VARIABLE = (
    *ENVIRONMENT,
    "EXITDESK_BACKUP_ADMIN_PASSWORD",
    "EXITDESK_IT_PASSWORD",
    "EXITDESK_COMPLIANCE_PASSWORD",
    *PASSWORDS,
)


@pytest.fixture
def environment(monkeypatch):
    """The first run's environment, as an operator exports it (nothing left from the caller's)."""
    for variable in EVERY_VARIABLE:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in {**ENVIRONMENT, **PASSWORDS}.items():
        monkeypatch.setenv(variable, value)
    return monkeypatch


def bootstrap(*args) -> str:
    out = StringIO()
    call_command("bootstrap_enterprise", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def refused(*args) -> str:
    with pytest.raises(CommandError) as refusal:
        bootstrap(*args)
    return str(refusal.value)


def snapshot() -> dict:
    """Row counts of everything the command may write, history and audit trail included."""
    User = get_user_model()
    counts = {
        model.__name__: model.objects.count()
        for model in (Enterprise, Department, Member, EnterpriseAccess, AuditEvent, User)
    }
    for model in (Enterprise, Department, Member, EnterpriseAccess):
        counts[f"history of {model.__name__}"] = model.history.count()
    counts["passwords"] = sorted(User.objects.values_list("username", "password"))
    return counts


def test_from_an_empty_database_it_creates_the_enterprise_its_admins_and_its_staff(environment):
    before = timezone.now()
    # given an empty directory
    assert not Enterprise.objects.exists() and not get_user_model().objects.exists()

    # when the operator runs the first run
    output = bootstrap()

    # then exactly one enterprise, with its time zone and region
    enterprise = Enterprise.objects.get()
    assert (enterprise.name, enterprise.code) == ("宏远制造有限公司", "hongyuan")
    assert (enterprise.time_zone.key, enterprise.data_region) == ("Asia/Shanghai", "CN")
    # its root department, named after it
    root = Department.objects.get()
    assert (root.enterprise, root.parent, root.name) == (enterprise, None, enterprise.name)
    # its super admin and backup admin, with logins named login@code
    super_admin, backup_admin = Member.objects.order_by("employee_number")
    assert (super_admin.employee_number, super_admin.name) == ("HY0001", "林志远")
    assert super_admin.is_active_super_admin and not super_admin.is_backup_admin
    assert super_admin.user.username == member_username(enterprise, "lin.zhiyuan")
    assert super_admin.user.username == "lin.zhiyuan@hongyuan"
    assert super_admin.user.email == "lin.zhiyuan@hongyuan.example.cn"
    assert (backup_admin.employee_number, backup_admin.name) == ("HY0002", "周敏")
    assert backup_admin.role == MemberRole.ADMIN and backup_admin.is_backup_admin
    assert backup_admin.status == MemberStatus.ACTIVE
    assert backup_admin.user.username == "zhou.min@hongyuan"
    for member in (super_admin, backup_admin):
        assert member.enterprise == enterprise and member.department == root
        assert member.data_region == "CN"
        assert not member.user.is_staff and not member.user.is_superuser
        # the first-run act is in the members' history, with its reason
        (created,) = member.history.all()
        assert (created.history_type, created.history_change_reason) == (
            "+",
            "bootstrap_enterprise",
        )
    # the staff logins, each granted the enterprise in its role, and nothing else
    grants = sorted(EnterpriseAccess.objects.values_list("user__username", "enterprise", "role"))
    assert grants == [
        ("hy-compliance", enterprise.pk, StaffRole.COMPLIANCE),
        ("hy-hr", enterprise.pk, StaffRole.HR),
        ("hy-it", enterprise.pk, StaffRole.IT),
    ]
    User = get_user_model()
    staff = User.objects.filter(is_staff=True)
    assert sorted(staff.values_list("username", "email", "is_superuser")) == [
        ("hy-compliance", "compliance@hongyuan.example.cn", False),
        ("hy-hr", "hr@hongyuan.example.cn", False),
        ("hy-it", "it@hongyuan.example.cn", False),
    ]
    assert list(User.objects.get(username="hy-hr").groups.values_list("name", flat=True)) == ["HR"]
    assert User.objects.count() == 5
    # one audit event: the enterprise set up, its super admin, its backup admins before and after
    (event,) = AuditEvent.objects.all()
    assert event.enterprise_id == enterprise.pk and event.action == "enterprise_bootstrapped"
    assert event.data["super_admin_id"] == super_admin.pk
    assert (event.data["old_backup_ids"], event.data["new_backup_ids"]) == ([], [backup_admin.pk])
    assert event.data["settings"]["time_zone"] == "Asia/Shanghai"
    assert event.created_at >= before
    call_command("verify_audit", stdout=StringIO())  # the chain verifies (exits 0)
    # without a password variable a login has no usable password, and the output says how to
    # give one
    for username in ("zhou.min@hongyuan", "hy-it", "hy-compliance"):
        assert not User.objects.get(username=username).has_usable_password()
        assert username in output
    assert "python manage.py changepassword USERNAME" in output
    # and what to do next: where HR logs in, where the directory is imported
    assert "Created the enterprise 宏远制造有限公司 (code hongyuan" in output
    assert reverse("admin:index") in output
    assert reverse("admin:directory_member_changelist") in output
    assert "/me/backup/" in output


def test_a_second_run_changes_nothing_and_says_so(environment):
    # given a first run
    bootstrap()
    before = snapshot()

    # when it runs again with the same values
    output = bootstrap()

    # then nothing was written, and the output says so
    assert snapshot() == before
    assert "exists already: left as it is" in output
    assert "Nothing to do: everything was there already." in output
    assert "Created" not in output and "Granted" not in output


def test_a_conflicting_second_run_is_refused_naming_the_field(environment):
    # given a first run
    bootstrap()
    before = snapshot()

    # when it runs again with another time zone
    message = refused("--time-zone", "Europe/Berlin")

    # then it is refused, naming the flag and both values, and nothing is written
    assert "--time-zone (EXITDESK_ENTERPRISE_TIME_ZONE)" in message
    assert "Asia/Shanghai" in message and "Europe/Berlin" in message
    assert snapshot() == before
    assert Enterprise.objects.get().time_zone.key == "Asia/Shanghai"


def test_a_second_run_never_changes_who_the_admins_are(environment):
    bootstrap()
    before = snapshot()

    # another backup admin, or another e-mail address for the super admin
    environment.setenv("EXITDESK_BACKUP_ADMIN_NUMBER", "HY0099")
    environment.setenv("EXITDESK_SUPER_ADMIN_EMAIL", "boss@elsewhere.example.cn")
    message = refused()

    assert "--backup-admin-number (EXITDESK_BACKUP_ADMIN_NUMBER)" in message
    assert "/me/backup/" in message  # where the backup admin is changed instead
    assert "--super-admin-email (EXITDESK_SUPER_ADMIN_EMAIL)" in message
    assert snapshot() == before


def test_bad_input_lists_every_problem_and_writes_nothing(environment):
    # given a bad code, an unknown time zone, a region that is none, and missing values
    environment.setenv("EXITDESK_ENTERPRISE_CODE", "9-Bad_Code!")
    environment.setenv("EXITDESK_ENTERPRISE_TIME_ZONE", "Mars/Olympus_Mons")
    environment.setenv("EXITDESK_ENTERPRISE_DATA_REGION", "XX")
    environment.delenv("EXITDESK_SUPER_ADMIN_NAME")
    environment.delenv("EXITDESK_HR_EMAIL")
    environment.setenv("EXITDESK_BACKUP_ADMIN_EMAIL", "not-an-address")

    message = refused("--name", "   ")  # blank counts as missing, even over the environment

    # then each problem is listed under its flag
    assert message.startswith("Nothing was written:")
    for expected in (
        "--name (EXITDESK_ENTERPRISE_NAME) is required.",
        "--code (EXITDESK_ENTERPRISE_CODE): 2 to 32 lower-case letters",
        "--time-zone (EXITDESK_ENTERPRISE_TIME_ZONE): “Mars/Olympus_Mons” is not a time zone",
        "--data-region (EXITDESK_ENTERPRISE_DATA_REGION):",
        "--super-admin-name (EXITDESK_SUPER_ADMIN_NAME) is required.",
        "--hr-email (EXITDESK_HR_EMAIL) is required.",
        "--backup-admin-email (EXITDESK_BACKUP_ADMIN_EMAIL):",
    ):
        assert expected in message
    assert message.count("\n  - ") == 7
    # and nothing is written
    assert not Enterprise.objects.exists()
    assert not get_user_model().objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_weak_password_is_refused_without_showing_it(environment):
    environment.setenv("EXITDESK_HR_PASSWORD", "123")

    message = refused()

    assert "EXITDESK_HR_PASSWORD:" in message and "too short" in message
    assert "123" not in message.replace("EXITDESK", "")
    assert not Enterprise.objects.exists() and not get_user_model().objects.exists()


def test_flags_win_over_the_environment(environment):
    output = bootstrap("--name", "宏远集团", "--code", "hy-group", "--data-region", "sg")

    enterprise = Enterprise.objects.get()
    assert (enterprise.name, enterprise.code, enterprise.data_region) == (
        "宏远集团",
        "hy-group",
        "SG",
    )
    assert Member.objects.get(employee_number="HY0001").user.username == "lin.zhiyuan@hy-group"
    assert "宏远集团" in output


def test_passwords_from_the_environment_log_in_and_never_appear_in_the_output(environment, client):
    output = bootstrap()
    output += bootstrap()  # the second run's output too

    # the stored usernames log in with the passwords of the environment
    assert client.login(
        request=HttpRequest(),
        username="lin.zhiyuan@hongyuan",
        password=PASSWORDS["EXITDESK_SUPER_ADMIN_PASSWORD"],
    )
    client.logout()
    assert client.login(
        request=HttpRequest(), username="hy-hr", password=PASSWORDS["EXITDESK_HR_PASSWORD"]
    )
    # and no password is ever printed
    for password in PASSWORDS.values():
        assert password not in output
    assert "Set the password of hy-hr from EXITDESK_HR_PASSWORD." in output


def test_a_later_run_gives_a_password_only_to_a_login_without_one(environment, client):
    # given a first run without IT's password
    bootstrap()
    it_user = get_user_model().objects.get(username="hy-it")
    assert not it_user.has_usable_password()
    hr_password_hash = get_user_model().objects.get(username="hy-hr").password

    # when it runs again with IT's password and another HR password
    it_password = f"it-{secrets.token_urlsafe(12)}"
    environment.setenv("EXITDESK_IT_PASSWORD", it_password)
    environment.setenv("EXITDESK_HR_PASSWORD", f"other-{secrets.token_urlsafe(12)}")
    output = bootstrap()

    # then IT can log in, and HR's password is the one they had
    assert client.login(request=HttpRequest(), username="hy-it", password=it_password)
    assert get_user_model().objects.get(username="hy-hr").password == hr_password_hash
    assert "hy-hr has a password already: kept (EXITDESK_HR_PASSWORD not used)." in output
    assert it_password not in output


def test_hr_it_created_opens_the_admin_of_its_enterprise_and_not_anothers(environment, client):
    # given another enterprise, and the first run
    other = factories.SuperAdminFactory(enterprise=factories.EnterpriseFactory(name="别家公司"))
    bootstrap()
    enterprise = Enterprise.objects.get(code="hongyuan")
    super_admin = Member.objects.get(enterprise=enterprise, employee_number="HY0001")

    # when HR logs in to the admin
    assert client.login(
        request=HttpRequest(), username="hy-hr", password=PASSWORDS["EXITDESK_HR_PASSWORD"]
    )

    # then they open their enterprise's pages
    assert client.get(reverse("admin:index")).status_code == 200
    page = client.get(reverse("admin:directory_enterprise_change", args=[enterprise.pk]))
    assert page.status_code == 200
    members = client.get(reverse("admin:directory_member_changelist"))
    assert members.status_code == 200
    assert list(members.context["cl"].queryset) == list(
        Member.objects.filter(enterprise=enterprise)
    )
    assert (
        client.get(reverse("admin:directory_member_change", args=[super_admin.pk])).status_code
        == 200
    )
    # and not the other enterprise's
    for url in (
        reverse("admin:directory_enterprise_change", args=[other.enterprise_id]),
        reverse("admin:directory_member_change", args=[other.pk]),
    ):
        response = client.get(url)
        assert response.status_code in (302, 404)
        if response.status_code == 302:  # Django's "doesn't exist" redirect to the index
            assert response.url == reverse("admin:index")


def test_an_existing_staff_login_is_reused_with_a_grant_of_the_new_enterprise(environment):
    # given an HR login that works for another enterprise already
    other = factories.EnterpriseFactory(name="别家公司")
    hr = factories.StaffFactory(
        username="hy-hr", email="hr@hongyuan.example.cn", enterprise=other, role=StaffRole.HR
    )

    output = bootstrap()

    # then it keeps its grant and gains the new one; no second login
    enterprise = Enterprise.objects.get(code="hongyuan")
    assert set(EnterpriseAccess.objects.filter(user=hr).values_list("enterprise", flat=True)) == {
        other.pk,
        enterprise.pk,
    }
    assert get_user_model().objects.filter(username__iexact="hy-hr").count() == 1
    assert "Granted hy-hr 宏远制造有限公司 as HR." in output


def test_a_staff_login_with_another_address_or_a_members_login_is_refused(environment):
    factories.StaffUserFactory(username="hy-hr", email="someone@else.example.cn")
    factories.MemberFactory(
        user=factories.UserFactory(username="hy-it", email="it@hongyuan.example.cn")
    )
    before = snapshot()

    message = refused()

    assert "--hr-email (EXITDESK_HR_EMAIL): the login hy-hr exists with the e-mail" in message
    assert "--it-username (EXITDESK_IT_USERNAME): hy-it is a member's login" in message
    assert snapshot() == before


def test_an_enterprise_without_a_backup_admin_is_told_where_one_is_designated(environment):
    for variable in list(ENVIRONMENT):
        if variable.startswith("EXITDESK_BACKUP_ADMIN_"):
            environment.delenv(variable)

    output = bootstrap()

    assert Member.objects.get().is_active_super_admin
    assert not Member.objects.filter(is_backup_admin=True).exists()
    assert "has no backup admin" in output and "/me/backup/" in output
    assert AuditEvent.objects.get().data["new_backup_ids"] == []


# --- seed_demo stays out of production ------------------------------------------------------


@override_settings(EXITDESK_DEMO_ALLOWED=False)
def test_seed_demo_refuses_where_demo_data_is_not_allowed():
    with pytest.raises(CommandError) as refusal:
        call_command("seed_demo", "--members", "5", "--demo-logins", stdout=StringIO())

    assert "bootstrap_enterprise" in str(refusal.value)
    assert not Enterprise.objects.exists() and not get_user_model().objects.exists()


def test_only_the_development_and_test_settings_allow_demo_data():
    from config.settings import local, test

    assert local.EXITDESK_DEMO_ALLOWED and test.EXITDESK_DEMO_ALLOWED


def test_seed_demo_refuses_under_the_production_settings(tmp_path):
    # The production settings themselves, in a process of their own: nothing of the test run's
    # DJANGO_* variables, a database file nobody migrated (the refusal comes before any query).
    database = tmp_path / "production.sqlite3"
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DATABASE_URL": f"sqlite:///{database}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/2",
        "CACHE_URL": "locmemcache://",
        "EXITDESK_MASTER_KEYS": Fernet.generate_key().decode(),
        "EXITDESK_AUDIT_KEYS": f"k1:{secrets.token_urlsafe(32)}",
        "EMAIL_URL": "smtp://mail.example.cn:587",
        "DEFAULT_FROM_EMAIL": "Exitdesk <exitdesk@example.cn>",
        "EXITDESK_SITE_URL": "https://exitdesk.example.cn",
        "DJANGO_ALLOWED_HOSTS": "exitdesk.example.cn",
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--members", "5", "--demo-logins"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "config.settings.production" in result.stderr
    assert "bootstrap_enterprise" in result.stderr
    assert not database.exists() or database.stat().st_size == 0


def test_the_help_names_every_flag_and_its_environment_variable():
    from directory import bootstrap as first_run
    from directory.management.commands.bootstrap_enterprise import Command

    text = " ".join(
        Command().create_parser("manage.py", "bootstrap_enterprise").format_help().split()
    )

    for option in first_run.all_options():
        assert f"{option.flag} VALUE or the environment variable {option.env}" in text
