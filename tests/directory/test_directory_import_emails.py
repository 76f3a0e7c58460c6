"""The directory import and members' e-mail addresses: a member's password links go to the
address of their login, so the import never changes it for a login that is claimed (a password
set, a linked sign-in account) or privileged (the super admin, the backup admin, an admin, a staff
login). It keeps it and says so, by sheet and line, in the preview, the message after the confirm
and the command's output. An unclaimed member's address is changed, counted and audited.
"""

import io

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.messages import get_messages
from django.core import mail as outbox
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance.audit import personal_data
from compliance.models import AuditEvent
from directory import importing
from directory.models import Member
from tests import factories
from tests.directory.test_directory_import import (
    _statements,
    confirm,
    csv_bytes,
    upload,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db

XLSX = "1"
PASSWORD_REASON = (
    "the member has set a password, and their password links go only to the address they hold."
)


def unclaimed(member: Member) -> Member:
    """The member's login as the import leaves it: no usable password yet."""
    member.user.set_unusable_password()
    member.user.save()
    return member


@pytest.fixture
def stored(enterprise):
    """The enterprise's super admin, backup admin, a member who set a password, one who signs in
    with a linked account and one who never signed in; none of them with a usable password but
    the second member."""
    members = {
        "boss": unclaimed(
            factories.SuperAdminFactory(
                enterprise=enterprise,
                employee_number="E001",
                name="王总",
                user__email="boss@corp.cn",
            )
        ),
        "backup": unclaimed(
            factories.MemberFactory(
                enterprise=enterprise,
                employee_number="E002",
                name="周敏",
                is_backup_admin=True,
                user__email="zhou.min@corp.cn",
            )
        ),
        "with_password": factories.MemberFactory(
            enterprise=enterprise,
            employee_number="E003",
            name="张伟",
            user__email="zhang@old.cn",
        ),
        "linked": unclaimed(
            factories.MemberFactory(
                enterprise=enterprise,
                employee_number="E004",
                name="李娜",
                user__email="li.na@corp.cn",
            )
        ),
        "unclaimed": unclaimed(
            factories.MemberFactory(
                enterprise=enterprise,
                employee_number="E005",
                name="刘洋",
                user__email="liu.yang@old.cn",
            )
        ),
    }
    SocialAccount.objects.create(
        user=members["linked"].user, provider="openid_connect", uid="li-na-sub"
    )
    return members


def emails_of(enterprise) -> dict:
    return dict(
        Member.objects.filter(enterprise=enterprise).values_list("employee_number", "user__email")
    )


def takeover_file(address: str, numbers=("E001", "E002", "E003", "E004")) -> bytes:
    """HR's full export, in which the members `numbers` carry `address`; a sheet of members."""
    names = {"E001": "王总", "E002": "周敏", "E003": "张伟", "E004": "李娜"}
    rows = [["employee_number", "name", "email"]]
    rows += [[number, names[number], address] for number in numbers]
    return xlsx_bytes({"成员": rows})


def test_hr_cannot_put_their_address_on_the_super_admins_login_and_reset_its_password(
    hr_client, hr_user, enterprise, stored
):
    # given HR's own address
    hr_address = hr_user.email
    before = emails_of(enterprise)
    # when HR imports a file that gives it to the super admin, the backup admin, a member with a
    # password and a member with a linked sign-in account
    preview = upload(
        hr_client, enterprise, takeover_file(hr_address), name="all.xlsx", file_format=XLSX
    )
    # then it is no error: the file may be confirmed, each such row noticed by sheet and line
    assert preview.context.get("confirm_form") is not None
    notices = {(row.sheet, row.line): row.notices for row in preview.context["import_notice_rows"]}
    assert notices == {
        ("成员", 2): [
            "E001 王总: e-mail kept (boss@corp.cn): the member is the super admin, and their "
            "password links go only to the address they hold."
        ],
        ("成员", 3): [
            "E002 周敏: e-mail kept (zhou.min@corp.cn): the member is the backup admin, and their "
            "password links go only to the address they hold."
        ],
        ("成员", 4): [f"E003 张伟: e-mail kept (zhang@old.cn): {PASSWORD_REASON}"],
        ("成员", 5): [
            "E004 李娜: e-mail kept (li.na@corp.cn): the member signs in with a linked account, "
            "and their password links go only to the address they hold."
        ],
    }
    page = preview.content.decode()
    assert 'id="directory-import-notices"' in page and "E001 王总: e-mail kept" in page
    assert preview.context["import_kinds"][0]["unchanged"] == 4
    # when HR confirms
    response = confirm(hr_client, preview)
    # then every stored address is as it was, nothing counted as updated, and the message after
    # the confirm repeats the notices
    assert response.status_code == 302
    assert emails_of(enterprise) == before
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert "0 members created, 0 changed" in messages[0]
    assert messages[1:] == [
        "Sheet 成员, line 2: E001 王总: e-mail kept (boss@corp.cn): the member is the super admin, "
        "and their password links go only to the address they hold.",
        "Sheet 成员, line 3: E002 周敏: e-mail kept (zhou.min@corp.cn): the member is the backup "
        "admin, and their password links go only to the address they hold.",
        f"Sheet 成员, line 4: E003 张伟: e-mail kept (zhang@old.cn): {PASSWORD_REASON}",
        "Sheet 成员, line 5: E004 李娜: e-mail kept (li.na@corp.cn): the member signs in with a "
        "linked account, and their password links go only to the address they hold.",
    ]
    imported = AuditEvent.objects.get(enterprise=enterprise, action="directory_imported")
    assert imported.data["members_updated"] == 0
    assert imported.data["member_emails_kept"] == 4
    assert not AuditEvent.objects.filter(action="member_email_changed").exists()
    # and a reset link HR sends afterwards goes to the super admin's own address, not HR's
    boss = stored["boss"]
    boss.user.set_password("boss-own-password-1")
    boss.user.save()
    reset = hr_client.post(reverse("admin:directory_member_send_reset_link", args=[boss.pk]))
    assert reset.status_code == 302
    (reset_mail,) = outbox.outbox
    assert reset_mail.to == ["boss@corp.cn"]
    assert hr_address not in reset_mail.to


def test_an_unclaimed_members_address_is_changed_counted_and_audited(
    hr_client, hr_user, enterprise, stored
):
    member = stored["unclaimed"]
    data = csv_bytes([["employee_number", "name", "email"], ["E005", "刘洋", "liu.yang@new.cn"]])
    preview = upload(hr_client, enterprise, data)
    assert preview.context["import_kinds"][0]["changed"] == 1
    assert preview.context["import_notice_rows"] == []
    assert confirm(hr_client, preview).status_code == 302
    # then the address is the file's
    member.user.refresh_from_db()
    assert member.user.email == "liu.yang@new.cn"
    # counted among the members updated
    imported = AuditEvent.objects.get(enterprise=enterprise, action="directory_imported")
    assert imported.data["members_updated"] == 1
    assert imported.data["member_emails_changed"] == 1
    # and audited once, by HR, the addresses before and after sealed with the member's key
    (event,) = AuditEvent.objects.filter(enterprise=enterprise, action="member_email_changed")
    assert (event.member_id, event.object_type, event.actor_id) == (member.pk, "member", hr_user.pk)
    assert "liu.yang" not in str(event.data)
    assert personal_data(event) == {
        "before": {"email": "liu.yang@old.cn"},
        "after": {"email": "liu.yang@new.cn"},
    }


@pytest.mark.parametrize(
    ("role_or_login", "reason"),
    [
        ("admin", "the member is an admin"),
        ("staff", "their login is a staff login"),
    ],
)
def test_an_admins_or_staff_logins_address_is_kept_too(
    hr_client, enterprise, role_or_login, reason
):
    member = unclaimed(
        factories.MemberFactory(
            enterprise=enterprise,
            employee_number="E010",
            name="赵敏",
            role="admin" if role_or_login == "admin" else "member",
            user__email="zhao.min@corp.cn",
            user__is_staff=role_or_login == "staff",
        )
    )
    data = csv_bytes([["employee_number", "name", "email"], ["E010", "赵敏", "hr@example.com"]])
    preview = upload(hr_client, enterprise, data)
    (row,) = preview.context["import_notice_rows"]
    assert row.notices == [
        f"E010 赵敏: e-mail kept (zhao.min@corp.cn): {reason}, and their password links go only "
        "to the address they hold."
    ]
    confirm(hr_client, preview)
    member.user.refresh_from_db()
    assert member.user.email == "zhao.min@corp.cn"


def test_the_command_keeps_the_addresses_and_prints_the_notices(enterprise, stored, tmp_path):
    members = tmp_path / "members.csv"
    members.write_bytes(
        csv_bytes(
            [
                ["employee_number", "name", "email"],
                ["E003", "张伟", "hr@example.com"],
                ["E005", "刘洋", "liu.yang@new.cn"],
            ]
        )
    )
    out = io.StringIO()
    call_command("import_directory", str(members), enterprise=enterprise.code, stdout=out)
    assert (
        f"{members} line 2: E003 张伟: e-mail kept (zhang@old.cn): {PASSWORD_REASON}"
        in out.getvalue()
    )
    assert "members: 2 rows, 0 new, 1 changed, 1 unchanged" in out.getvalue()
    assert emails_of(enterprise)["E003"] == "zhang@old.cn"
    assert emails_of(enterprise)["E005"] == "liu.yang@new.cn"
    assert AuditEvent.objects.filter(action="member_email_changed").count() == 1


def test_the_queries_do_not_grow_with_the_addresses_changed_or_kept(enterprise, hr_user):
    """The logins whose address the file changes are read in one query per batch, the changes
    written in one update per batch and their audit events in one insert. (More than 50 events
    each time: PostgreSQL writes fewer in one round trip, with its own statements.)"""
    User = get_user_model()
    department = factories.DepartmentFactory(enterprise=enterprise, code="HQ")
    # the enterprise's audit chain started already, as after its first import
    importing.apply(
        enterprise,
        importing.read_tables(csv_bytes([["code", "name"], ["HQ", "总部"]]), "csv"),
        actor=hr_user,
    )
    statements = {}
    for size, prefix in ((120, "S"), (300, "L")):
        unusable, usable = make_password(None), make_password("set-by-the-member-1")
        users = User.objects.bulk_create(
            User(
                username=f"{prefix}{i}@{enterprise.code}",
                email=f"{prefix}{i}@old.cn",
                password=usable if i % 2 else unusable,
            )
            for i in range(size)
        )
        Member.objects.bulk_create(
            Member(
                enterprise=enterprise,
                user=user,
                department=department,
                employee_number=f"{prefix}{i}",
                name=f"员工{i}",
            )
            for i, user in enumerate(users)
        )
        rows = [["employee_number", "name", "email"]]
        rows += [[f"{prefix}{i}", f"员工{i}", f"{prefix}{i}@new.cn"] for i in range(size)]
        tables = importing.read_tables(csv_bytes(rows), "csv")
        actor = User.objects.get(pk=hr_user.pk)
        with CaptureQueriesContext(connection) as queries:
            summary = importing.apply(enterprise, tables, actor=actor)
        # every other member has set a password: their address is kept
        assert summary.written["member_emails_changed"] == size // 2
        assert len(summary.noticed) == size // 2
        # The reads and updates, a value quoted inline (the chain head's hash, cut by
        # _statements where the numbers before it end) left out.
        statements[size] = [
            word.split("'")[0].rstrip()
            for word in _statements(queries)
            if not word.startswith("INSERT")
        ]
    assert statements[120] == statements[300]
    assert AuditEvent.objects.filter(action="member_email_changed").count() == 210


def test_a_login_claimed_between_the_check_and_the_write_keeps_its_address(
    enterprise, hr_user, stored, monkeypatch
):
    # given a member who sets their password once the import has checked the file
    member = stored["unclaimed"]
    check_emails = importing._Plan.check_emails

    def then_the_member_sets_a_password(plan):
        check_emails(plan)
        member.user.set_password("set-meanwhile-77")
        member.user.save()

    monkeypatch.setattr(importing._Plan, "check_emails", then_the_member_sets_a_password)
    data = csv_bytes([["employee_number", "name", "email"], ["E005", "刘洋", "hr@example.com"]])
    # then the import is refused, nothing written
    with pytest.raises(importing.FileRefused, match="The directory changed while importing"):
        importing.apply(enterprise, importing.read_tables(data, "csv"), actor=hr_user)
    assert emails_of(enterprise)["E005"] == "liu.yang@old.cn"
    assert not AuditEvent.objects.filter(enterprise=enterprise).exists()
