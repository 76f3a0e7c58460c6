"""A real organisation goes live (issue 14's "done when"), following only the README: the
first run from an empty database, HR logging in, one XLSX workbook of 300 departments and 3,000
members imported in the admin, every member invited at once, and a member setting a password from
the e-mail's link and logging in with login@code. In CI this runs on PostgreSQL."""

import io
import re
import secrets
from io import StringIO

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail as outbox
from django.core.management import call_command
from django.urls import reverse

from directory import tasks
from directory.models import Department, Enterprise, Member

pytestmark = pytest.mark.django_db

openpyxl = pytest.importorskip("openpyxl")

DEPARTMENTS, MEMBERS = 300, 3000
XLSX = "1"  # the import form's format choice: CSV, XLSX
CODE = "hongyuan"
HR_PASSWORD = f"hr-{secrets.token_urlsafe(12)}"
MEMBER_PASSWORD = "Lantern-Harbour-93"

FIRST_RUN = {
    "EXITDESK_ENTERPRISE_NAME": "宏远制造有限公司",
    "EXITDESK_ENTERPRISE_CODE": CODE,
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
    "EXITDESK_HR_PASSWORD": HR_PASSWORD,
}


def directory_workbook() -> bytes:
    """HR's file: a sheet of departments (the root, named as the enterprise, and 299 under it in
    two levels) and a sheet of members, each department's head and each member's manager given
    by employee number — rows in any order, links resolved within the file."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    departments = workbook.create_sheet("departments")
    departments.append(["code", "name", "parent_code", "head_employee_number"])
    codes = ["HQ"] + [f"D{number:03d}" for number in range(1, DEPARTMENTS)]
    # heads: the first member of each department (members below are spread over them)
    heads = {code: f"HY{10000 + index}" for index, code in enumerate(codes)}
    rows = [["HQ", "宏远制造有限公司", "", heads["HQ"]]]
    for number, code in enumerate(codes[1:], start=1):
        parent = "HQ" if number <= 20 else f"D{(number % 20) + 1:03d}"
        rows.append([code, f"部门{number:03d}", parent, heads[code]])
    for row in reversed(rows):  # children before their parents
        departments.append(row)

    members = workbook.create_sheet("members")
    members.append(
        ["employee_number", "name", "department_code", "manager_employee_number", "title", "email"]
    )
    for index in range(MEMBERS):
        number = f"HY{10000 + index}"
        code = codes[index % DEPARTMENTS]
        manager = "" if index == 0 else (heads[code] if number != heads[code] else heads["HQ"])
        members.append([number, f"员工{index:04d}", code, manager, "工程师", f"{number}@hy.cn"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_from_an_empty_database_to_a_member_logged_in(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    # 1. the first run, as the README's Production section gives it
    for variable, value in FIRST_RUN.items():
        monkeypatch.setenv(variable, value)
    call_command("bootstrap_enterprise", stdout=StringIO(), stderr=StringIO())
    enterprise = Enterprise.objects.get(code=CODE)

    # 2. HR logs in to the admin with the password given to the first run
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "hy-hr", "password": HR_PASSWORD}
    )
    assert response.status_code == 302 and SESSION_KEY in client.session

    # 3. HR imports the directory from one XLSX workbook: preview, then confirm
    upload = io.BytesIO(directory_workbook())
    upload.name = "宏远通讯录.xlsx"
    preview = client.post(
        reverse("admin:directory_member_import"),
        {
            "enterprise": enterprise.pk,
            "resource": "0",
            "format": XLSX,
            "import_file": upload,
        },
    )
    assert preview.status_code == 200
    confirm_form = preview.context.get("confirm_form")
    assert confirm_form is not None, preview.context.get("import_invalid_rows")
    client.post(
        reverse("admin:directory_member_process_import"), {**confirm_form.initial, "confirm": "1"}
    )
    assert Department.objects.filter(enterprise=enterprise).count() == DEPARTMENTS
    assert Member.objects.filter(enterprise=enterprise).count() == MEMBERS + 2  # + the admins
    root = Department.objects.get(enterprise=enterprise, parent=None)
    assert (root.code, root.head.employee_number) == ("HQ", "HY10000")

    # 4. HR invites everyone the import brought in: the members list, filtered to those never
    # invited, all selected, action "Invite selected members". The page answers at once; the
    # workers send the mails, chunk by chunk.
    changelist = reverse("admin:directory_member_changelist") + "?login=never_invited"
    queued = []
    monkeypatch.setattr(tasks.invite_members, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist,
            {
                "action": "invite_selected",
                "select_across": "1",
                "index": "0",
                "_selected_action": [Member.objects.filter(enterprise=enterprise).first().pk],
            },
            follow=True,
        )
    assert response.status_code == 200
    assert f"{MEMBERS + 2} invitations are being sent" in response.content.decode()
    assert outbox.outbox == []
    for args in queued:
        assert tasks.invite_members.apply(args=args).successful()
    assert len(outbox.outbox) == MEMBERS + 2

    # 5. a member follows the link in their mail, sets a password, and logs in with login@code
    (mail,) = [message for message in outbox.outbox if message.to == ["HY12345@hy.cn"]]
    link = re.search(r"https?://\S+/accounts/\S+", mail.body).group(0)
    member_client = client.__class__()
    page = member_client.get(link, follow=True)
    assert page.context["validlink"]
    member_client.post(
        page.redirect_chain[-1][0],
        {"new_password1": MEMBER_PASSWORD, "new_password2": MEMBER_PASSWORD},
    )
    member_client.logout()
    response = member_client.post(
        "/accounts/login/", {"username": f"hy12345@{CODE}", "password": MEMBER_PASSWORD}
    )
    assert response.status_code == 302
    member = Member.objects.get(enterprise=enterprise, employee_number="HY12345")
    assert member_client.session[SESSION_KEY] == str(member.user.pk)
