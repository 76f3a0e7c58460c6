"""The directory import (D-2, D-3): HR's file of departments and members, in the admin.

What a user notices: the preview's counts and its bad rows by line with each reason, nothing
written while a row is bad, the rows written at the confirm (with their history), nothing changed
by the same file twice, and the import refused outside the enterprises granted as HR.
"""

import io
import re
import tempfile

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.template.defaultfilters import filesizeformat
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance.models import AuditEvent
from directory import importing
from directory.choices import MemberRole, MemberStatus, StaffRole
from directory.models import CustomerGroup, Department, ExternalContact, Member, ThirdPartyBinding
from tests import factories
from tests.offboarding.test_hr_sync import previews_in_cache

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:directory_member_import"
CONFIRM_URL = "admin:directory_member_process_import"
CSV, XLSX = "0", "1"  # the format choices, in DirectoryImportMixin.formats order

DEPARTMENTS = [
    ["code", "name", "parent_code", "head_employee_number"],
    ["RD", "研发部", "HQ", "1002"],  # its parent and head come later in the file
    ["HQ", "总部", "", "1001"],
    ["QA", "测试组", "RD", ""],
]
MEMBERS = [
    [
        "employee_number",
        "name",
        "department_code",
        "manager_employee_number",
        "title",
        "email",
        "role",
    ],
    ["1003", "王五", "QA", "1002", "测试工程师", "wangwu@example.com", "member"],
    ["1002", "李四", "RD", "1001", "研发总监", "lisi@example.com", "admin"],
    ["1001", "张三", "HQ", "", "总经理", "zhangsan@example.com", "super_admin"],
]


def csv_bytes(rows, encoding="utf-8") -> bytes:
    return "\n".join(",".join(row) for row in rows).encode(encoding)


def xlsx_bytes(sheets: dict) -> bytes:
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def upload(client, enterprise, data: bytes, *, name="directory.csv", file_format=CSV):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post(
        reverse(IMPORT_URL),
        {
            "enterprise": enterprise.pk,
            "resource": "0",
            "format": file_format,
            "import_file": upload,
        },
    )


def confirm(client, preview):
    form = preview.context.get("confirm_form")
    return client.post(reverse(CONFIRM_URL), {**form.initial, "confirm": "1"})


def import_file(client, enterprise, data: bytes, **kwargs):
    preview = upload(client, enterprise, data, **kwargs)
    assert preview.status_code == 200
    assert preview.context.get("confirm_form") is not None, _errors(preview)
    return confirm(client, preview)


def _errors(response) -> list:
    context = response.context
    result = context.get("result")
    refused = [str(e.error) for e in result.base_errors] if result else []
    rows = [(row.line, row.errors) for row in context.get("import_invalid_rows") or []]
    form = context.get("form")
    return refused + rows + ([form.errors] if form is not None and form.errors else [])


def errors_by_line(response) -> dict:
    assert response.context.get("confirm_form") is None
    return {row.line: row.errors for row in response.context["import_invalid_rows"]}


def directory_of(enterprise) -> dict:
    """Everything the import writes, as a user would read it back."""
    return {
        "departments": sorted(
            Department.objects.filter(enterprise=enterprise).values_list(
                "code", "name", "parent__code", "head__employee_number"
            )
        ),
        "members": sorted(
            Member.objects.filter(enterprise=enterprise).values_list(
                "employee_number",
                "name",
                "department__code",
                "manager__employee_number",
                "title",
                "role",
                "user__username",
                "user__email",
            )
        ),
    }


def test_a_utf8_csv_of_departments_then_members_builds_the_directory(hr_client, enterprise):
    # given an empty enterprise and HR's CSV files, parents and managers on any line: the
    # departments (their heads are not members yet), the members (with a BOM), then the
    # departments again with their heads
    without_heads = [row[:3] for row in DEPARTMENTS]
    assert import_file(hr_client, enterprise, csv_bytes(without_heads)).status_code == 302
    response = import_file(hr_client, enterprise, b"\xef\xbb\xbf" + csv_bytes(MEMBERS))
    assert response.status_code == 302
    preview = upload(hr_client, enterprise, csv_bytes(DEPARTMENTS))
    assert preview.context["import_kinds"][0]["changed"] == 2
    assert confirm(hr_client, preview).status_code == 302
    # then the tree, the heads, the managers and the logins are there
    assert directory_of(enterprise) == {
        "departments": [
            ("HQ", "总部", None, "1001"),
            ("QA", "测试组", "RD", None),
            ("RD", "研发部", "HQ", "1002"),
        ],
        "members": [
            (
                "1001",
                "张三",
                "HQ",
                None,
                "总经理",
                "super_admin",
                f"1001@{enterprise.code}",
                "zhangsan@example.com",
            ),
            (
                "1002",
                "李四",
                "RD",
                "1001",
                "研发总监",
                "admin",
                f"1002@{enterprise.code}",
                "lisi@example.com",
            ),
            (
                "1003",
                "王五",
                "QA",
                "1002",
                "测试工程师",
                "member",
                f"1003@{enterprise.code}",
                "wangwu@example.com",
            ),
        ],
    }
    # nobody can log in before an invitation: no usable password
    assert not any(
        m.user.has_usable_password() for m in Member.objects.filter(enterprise=enterprise)
    )
    # each row has its history, by HR, and the import is an audit event
    member = Member.objects.get(enterprise=enterprise, employee_number="1002")
    assert [(h.history_type, h.history_user) for h in member.history.all()] == [
        ("+", response.wsgi_request.user)
    ]
    assert (
        AuditEvent.objects.filter(enterprise=enterprise, action="directory_imported").count() == 3
    )


def test_a_gbk_csv_is_read(hr_client, enterprise):
    data = csv_bytes([row[:3] for row in DEPARTMENTS], encoding="gbk")
    response = import_file(hr_client, enterprise, data)
    assert response.status_code == 302
    assert Department.objects.get(enterprise=enterprise, code="RD").name == "研发部"


def test_an_xlsx_workbook_with_both_sheets_is_read(hr_client, enterprise):
    data = xlsx_bytes({"部门": DEPARTMENTS, "成员": MEMBERS})
    response = import_file(hr_client, enterprise, data, name="directory.xlsx", file_format=XLSX)
    assert response.status_code == 302
    assert Member.objects.get(enterprise=enterprise, employee_number="1003").manager.name == "李四"
    assert Department.objects.get(enterprise=enterprise, code="HQ").head.name == "张三"


def test_a_file_neither_utf8_nor_gbk_is_refused_saying_so(hr_client, enterprise):
    data = "\ufeffcode,name\nRD,研发部\n".encode("utf-16")
    preview = upload(hr_client, enterprise, data)
    assert preview.context.get("confirm_form") is None
    assert _errors(preview) == [
        "The file is neither UTF-8 nor GBK text: save it as CSV in UTF-8 and upload it again."
    ]
    assert not Department.objects.filter(enterprise=enterprise).exists()


BAD_DEPARTMENTS = [
    ["code", "name", "parent_code"],
    ["A", "甲", "B"],  # line 2: A under B under A
    ["B", "乙", "A"],
    ["C", "丙", "ZZ"],  # line 4: unknown parent
]


def bad_members(other_enterprise_number: str) -> list:
    return [
        ["employee_number", "name", "department_code", "manager_employee_number", "email", "role"],
        ["2001", "甲一", "A", other_enterprise_number, "a@example.com", "member"],
        ["2002", "甲二", "NOPE", "", "not-an-address", "member"],
        ["2002", "甲二", "A", "", "", "member"],
        ["2003", "甲三", "A", "", "", "super_admin"],
        ["2004", "甲四", "A", "", "", "super_admin"],
    ]


SUPER_ADMIN_TAKEN = (
    "The enterprise has its super admin already (王总): the role passes only through the "
    "super-admin handover."
)


@pytest.fixture
def directory_with_super_admin(enterprise):
    """The enterprise with its super admin in a department coded A; a member of another."""
    boss = factories.SuperAdminFactory(enterprise=enterprise, employee_number="0001", name="王总")
    boss.department.code = "A"
    boss.department.save()
    return factories.MemberFactory(employee_number="9001")


def test_a_department_file_with_a_cycle_is_refused_with_each_reason(hr_client, enterprise):
    before = directory_of(enterprise)
    errors = errors_by_line(upload(hr_client, enterprise, csv_bytes(BAD_DEPARTMENTS)))
    assert errors == {
        2: ["The department tree would have a cycle: A → B → A."],
        3: ["The department tree would have a cycle: B → A → B."],
        4: ["Unknown parent department code ZZ: it is neither in this file nor in the enterprise."],
    }
    assert directory_of(enterprise) == before


def test_a_member_file_with_bad_rows_is_refused_with_each_reason_and_nothing_changes(
    hr_client, enterprise, directory_with_super_admin
):
    before = directory_of(enterprise)
    data = csv_bytes(bad_members(directory_with_super_admin.employee_number))
    preview = upload(hr_client, enterprise, data)
    # then each bad row is listed by its line, with each of its reasons
    assert errors_by_line(preview) == {
        2: ["The manager 9001 is not a member of this enterprise nor in this file."],
        3: [
            "Unknown department NOPE: it is neither in this file nor in the enterprise.",
            "The e-mail address not-an-address is malformed.",
        ],
        4: ["The employee number 2002 is on line 3 already."],
        5: [SUPER_ADMIN_TAKEN],
        6: [SUPER_ADMIN_TAKEN],
    }
    # and nothing was written, nor offered to confirm
    assert directory_of(enterprise) == before
    assert preview.context["import_kinds"][0]["invalid"] == 5


def test_a_malformed_workbook_is_refused_sheet_by_sheet(hr_client, enterprise):
    factories.SuperAdminFactory(enterprise=enterprise, employee_number="0001", name="王总")
    other = factories.MemberFactory(employee_number="9001")
    before = directory_of(enterprise)
    data = xlsx_bytes(
        {"departments": BAD_DEPARTMENTS, "members": bad_members(other.employee_number)}
    )
    preview = upload(hr_client, enterprise, data, name="bad.xlsx", file_format=XLSX)
    rows = {(row.sheet, row.line): row.errors for row in preview.context["import_invalid_rows"]}
    assert rows[("departments", 2)] == ["The department tree would have a cycle: A → B → A."]
    assert rows[("members", 2)] == [
        "Its department A has errors (line 2).",
        "The manager 9001 is not a member of this enterprise nor in this file.",
    ]
    assert SUPER_ADMIN_TAKEN in rows[("members", 6)]
    assert preview.context.get("confirm_form") is None
    assert directory_of(enterprise) == before


def test_two_super_admins_in_a_file_are_refused(hr_client, enterprise):
    factories.DepartmentFactory(enterprise=enterprise, code="HQ")
    data = csv_bytes(
        [
            ["employee_number", "name", "department_code", "role"],
            ["1", "甲", "HQ", "super_admin"],
            ["2", "乙", "HQ", "super_admin"],
        ]
    )
    errors = errors_by_line(upload(hr_client, enterprise, data))
    expected = ["Two or more super admins in the file (lines 2, 3): an enterprise has exactly one."]
    assert errors == {2: expected, 3: expected}
    assert not Member.objects.filter(enterprise=enterprise).exists()


def test_a_manager_loop_and_a_backup_admin_column_are_refused(hr_client, enterprise):
    factories.DepartmentFactory(enterprise=enterprise, code="HQ")
    loop = csv_bytes(
        [
            ["employee_number", "name", "department_code", "manager_employee_number"],
            ["1", "甲", "HQ", "2"],
            ["2", "乙", "HQ", "1"],
        ]
    )
    errors = errors_by_line(upload(hr_client, enterprise, loop))
    assert errors[2] == ["The managers would make a loop: 1 would report to themselves."]
    backup = csv_bytes([["employee_number", "name", "department_code", "is_backup_admin"]])
    preview = upload(hr_client, enterprise, backup + b"\n1,a,HQ,1")
    assert "the backup admin is the super admin's choice" in _errors(preview)[0]


def test_the_same_file_twice_changes_nothing_and_a_changed_title_updates_with_history(
    hr_client, enterprise
):
    data = xlsx_bytes({"d": DEPARTMENTS, "m": MEMBERS})
    import_file(hr_client, enterprise, data, name="a.xlsx", file_format=XLSX)
    before = directory_of(enterprise)
    history = Member.history.filter(enterprise=enterprise).count()
    # when the same file is imported again
    preview = upload(hr_client, enterprise, data, name="a.xlsx", file_format=XLSX)
    assert [kind["unchanged"] for kind in preview.context["import_kinds"]] == [3, 3]
    confirm(hr_client, preview)
    # then nothing changed, not even a history row
    assert directory_of(enterprise) == before
    assert Member.history.filter(enterprise=enterprise).count() == history
    # when a title changes in the file
    members = [row[:] for row in MEMBERS]
    members[1][4] = "高级测试工程师"
    import_file(hr_client, enterprise, csv_bytes(members))
    member = Member.objects.get(enterprise=enterprise, employee_number="1003")
    assert member.title == "高级测试工程师"
    assert [h.title for h in member.history.order_by("history_id")] == [
        "测试工程师",
        "高级测试工程师",
    ]
    assert Member.history.filter(enterprise=enterprise).count() == history + 1


def test_an_existing_department_without_code_is_recognised_by_name_and_parent(
    hr_client, enterprise
):
    # given the top department bootstrap created, without a code
    top = factories.DepartmentFactory(enterprise=enterprise, name="总部")
    import_file(hr_client, enterprise, csv_bytes([row[:3] for row in DEPARTMENTS]))
    top.refresh_from_db()
    assert top.code == "HQ"
    assert Department.objects.get(enterprise=enterprise, code="RD").parent == top
    assert Department.objects.filter(enterprise=enterprise).count() == 3


def test_a_parent_path_places_a_department(hr_client, enterprise):
    data = csv_bytes(
        [
            ["code", "name", "parent_path"],
            ["FE", "前端组", "总部/研发部"],
            ["RD", "研发部", "总部"],
            ["HQ", "总部", ""],
        ]
    )
    import_file(hr_client, enterprise, data)
    assert Department.objects.get(enterprise=enterprise, code="FE").parent.code == "RD"


def test_hr_of_another_enterprise_cannot_import_into_this_one(client, enterprise):
    other_hr = factories.StaffFactory(enterprise=factories.EnterpriseFactory(), role=StaffRole.HR)
    client.force_login(other_hr)
    preview = upload(client, enterprise, csv_bytes(DEPARTMENTS))
    assert preview.status_code == 200
    assert "enterprise" in preview.context["form"].errors  # not among the choices
    assert not Department.objects.filter(enterprise=enterprise).exists()


def test_a_confirm_naming_another_enterprise_is_refused(client, enterprise):
    # given HR of A who previewed a file for A
    hr = factories.StaffFactory(enterprise=enterprise, role=StaffRole.HR)
    other = factories.EnterpriseFactory()
    client.force_login(hr)
    preview = upload(client, enterprise, csv_bytes([row[:3] for row in DEPARTMENTS]))
    form = preview.context.get("confirm_form")
    # when the confirm is posted with B's id
    response = client.post(
        reverse(CONFIRM_URL), {**form.initial, "enterprise": other.pk, "confirm": "1"}
    )
    # then nothing is imported anywhere
    assert response.status_code == 200
    assert not Department.objects.filter(enterprise__in=[enterprise, other]).exists()


@pytest.mark.parametrize("role", [StaffRole.IT, StaffRole.COMPLIANCE])
def test_it_and_compliance_may_not_open_the_import(client, enterprise, role):
    client.force_login(factories.StaffFactory(enterprise=enterprise, role=role))
    assert client.get(reverse(IMPORT_URL)).status_code == 403
    assert upload(client, enterprise, csv_bytes(DEPARTMENTS)).status_code == 403
    assert client.post(reverse(CONFIRM_URL), {}).status_code == 403
    assert not Department.objects.filter(enterprise=enterprise).exists()


def test_a_user_who_may_only_view_members_posting_is_refused(client, enterprise):
    # HR in one enterprise, Compliance (view only) in this one
    user = factories.StaffFactory(enterprise=factories.EnterpriseFactory(), role=StaffRole.HR)
    factories.GrantFactory(user=user, enterprise=enterprise, role=StaffRole.COMPLIANCE)
    client.force_login(user)
    preview = upload(client, enterprise, csv_bytes(DEPARTMENTS))
    assert "enterprise" in preview.context["form"].errors
    assert not Department.objects.filter(enterprise=enterprise).exists()


def test_the_door_itself_refuses_an_actor_who_is_not_hr_of_the_enterprise(enterprise, it_user):
    tables = importing.read_tables(csv_bytes(DEPARTMENTS), "csv")
    with pytest.raises(importing.FileRefused):
        importing.apply(enterprise, tables, actor=it_user)
    assert not Department.objects.filter(enterprise=enterprise).exists()


def test_a_confirm_without_a_preview_is_refused(hr_client, enterprise):
    response = hr_client.post(
        reverse(CONFIRM_URL),
        {
            "enterprise": enterprise.pk,
            "import_file_name": "x",
            "original_file_name": "x.csv",
            "format": CSV,
            "resource": "0",
        },
    )
    assert response.status_code == 302
    assert not Department.objects.filter(enterprise=enterprise).exists()


def test_a_stored_members_role_is_never_changed_by_an_import(hr_client, enterprise):
    member = factories.MemberFactory(enterprise=enterprise, employee_number="7")
    member.department.code = "HQ"
    member.department.save()
    data = csv_bytes(
        [["employee_number", "name", "department_code", "role"], ["7", "甲", "HQ", "admin"]]
    )
    errors = errors_by_line(upload(hr_client, enterprise, data))
    assert "never by an import" in errors[2][0]


def test_a_departed_member_is_not_changed(hr_client, enterprise):
    member = factories.MemberFactory(
        enterprise=enterprise, employee_number="7", status=MemberStatus.DEPARTED
    )
    member.department.code = "HQ"
    member.department.save()
    data = csv_bytes([["employee_number", "name", "department_code"], ["7", "甲", "HQ"]])
    errors = errors_by_line(upload(hr_client, enterprise, data))
    assert "an import does not change a member who left or is frozen" in errors[2][0]


def _directory_tables(n: int) -> list:
    departments = [["code", "name", "parent_code", "head_employee_number"], ["HQ", "总部", "", "1"]]
    departments += [[f"D{i}", f"部门{i}", "HQ", str(i + 2)] for i in range(5)]
    people = [["employee_number", "name", "department_code", "manager_employee_number", "title"]]
    people.append(["1", "总经理", "HQ", "", "CEO"])
    for i in range(2, n + 1):
        people.append([str(i), f"员工{i}", f"D{i % 5}", "1", "工程师"])
    owned = [["kind", "owner_employee_number", "name", "member_count"]]
    owned += [["customer_group", str(i), f"客户群{i}", "10"] for i in range(1, n + 1)]
    return [
        *importing.read_tables(csv_bytes(departments), "csv"),
        *importing.read_tables(csv_bytes(people), "csv"),
        *importing.read_tables(csv_bytes(owned), "csv"),
    ]


def _statements(queries) -> list[str]:
    """Each query's verb and table, savepoint names left out (they differ from run to run)."""
    words = []
    for query in queries.captured_queries:
        sql = query["sql"]
        if sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            words.append(sql.rsplit(" ", 1)[0])
        else:
            # The statement and its table, not its values (numbers, quoted strings, a hash).
            words.append(re.sub(r"\d+", "N", re.sub(r"'[^']*'?", "'…'", sql[:60])))
    return sorted(words)


def test_the_number_of_queries_does_not_grow_with_the_rows(enterprise, hr_user):
    statements = {}
    for size, code in ((10, "ent-small"), (200, "ent-large")):
        target = factories.EnterpriseFactory(code=code)
        factories.GrantFactory(user=hr_user, enterprise=target, role=StaffRole.HR)
        tables = _directory_tables(size)
        actor = get_user_model().objects.get(pk=hr_user.pk)  # nothing cached on it yet
        with CaptureQueriesContext(connection) as queries:
            summary = importing.apply(target, tables, actor=actor)
        assert summary.written["members_created"] == size
        assert summary.written["resources_created"] == size
        statements[size] = _statements(queries)

    # The same reads and updates for 10 rows as for 200: none is per row.
    def not_inserts(words):
        return [word for word in words if not word.startswith("INSERT")]

    assert not_inserts(statements[10]) == not_inserts(statements[200])
    # Inserts are batched: on PostgreSQL one statement per batch of 2,000 rows; SQLite takes at
    # most 999 parameters per statement, so Django splits a batch into a few statements.
    inserts = [word for word in statements[200] if word.startswith("INSERT")]
    limit = connection.features.max_query_params or 65535
    per_row = 30  # parameters per row, more than any of these tables has
    assert len(inserts) <= len([w for w in statements[10] if w.startswith("INSERT")]) + 4 * (
        1 + 200 * per_row // limit
    )
    assert len(inserts) < 40  # far from one per row


def test_order_does_not_matter(hr_client, enterprise):
    reversed_file = xlsx_bytes(
        {
            "m": [MEMBERS[0], *reversed(MEMBERS[1:])],
            "d": [DEPARTMENTS[0], *reversed(DEPARTMENTS[1:])],
        }
    )
    import_file(hr_client, enterprise, reversed_file, name="r.xlsx", file_format=XLSX)
    other = factories.EnterpriseFactory()
    factories.GrantFactory(
        user=get_user_model().objects.get(username="hr"), enterprise=other, role=StaffRole.HR
    )
    import_file(
        hr_client,
        other,
        xlsx_bytes({"d": DEPARTMENTS, "m": MEMBERS}),
        name="a.xlsx",
        file_format=XLSX,
    )
    strip = lambda d: {**d, "members": [m[:-2] for m in d["members"]]}  # noqa: E731 (logins differ)
    assert strip(directory_of(enterprise)) == strip(directory_of(other))
    assert (
        Member.objects.get(enterprise=enterprise, employee_number="1001").role
        == MemberRole.SUPER_ADMIN
    )


RESOURCES = [
    ["kind", "owner_employee_number", "name", "company", "phone", "provider", "member_count"],
    ["external_contact", "1003", "华为采购部", "华为", "13800000000", "", ""],
    ["third_party_binding", "1002", "销售易", "", "", "销售易 CRM", ""],
    ["customer_group", "1002", "大客户群", "", "", "", "120"],
]


def test_owned_resources_are_imported_by_kind_owner_and_name(hr_client, enterprise):
    import_file(hr_client, enterprise, csv_bytes([row[:3] for row in DEPARTMENTS]))
    import_file(hr_client, enterprise, csv_bytes(MEMBERS))
    # when HR imports what the members own
    import_file(hr_client, enterprise, csv_bytes(RESOURCES))
    # then each resource is its owner's, with its fields and a history row
    contact = ExternalContact.objects.get(enterprise=enterprise)
    assert (contact.owner.employee_number, contact.company, contact.phone) == (
        "1003",
        "华为",
        "13800000000",
    )
    binding = ThirdPartyBinding.objects.get(enterprise=enterprise)
    assert (binding.owner.employee_number, binding.provider) == ("1002", "销售易 CRM")
    assert CustomerGroup.objects.get(enterprise=enterprise).member_count == 120
    assert [h.history_type for h in contact.history.all()] == ["+"]
    # the same file again changes nothing; a changed field updates its row
    preview = upload(hr_client, enterprise, csv_bytes(RESOURCES))
    assert preview.context["import_kinds"][0]["unchanged"] == 3
    changed = [row[:] for row in RESOURCES]
    changed[3][6] = "150"
    import_file(hr_client, enterprise, csv_bytes(changed))
    assert CustomerGroup.objects.get(enterprise=enterprise).member_count == 150
    assert ExternalContact.objects.filter(enterprise=enterprise).count() == 1


def test_bad_resource_rows_are_refused_with_each_reason(hr_client, enterprise):
    boss = factories.SuperAdminFactory(enterprise=enterprise, employee_number="1")
    factories.MemberFactory(
        enterprise=enterprise, employee_number="2", status=MemberStatus.DEPARTED
    )
    other = factories.MemberFactory(employee_number="9")
    data = csv_bytes(
        [
            ["kind", "owner_employee_number", "name", "provider", "member_count"],
            ["spaceship", boss.employee_number, "x", "", ""],
            ["customer_group", other.employee_number, "群", "", ""],
            ["customer_group", "2", "群", "", ""],
            ["third_party_binding", boss.employee_number, "CRM", "", ""],
            ["customer_group", boss.employee_number, "群", "", "-3"],
        ]
    )
    errors = errors_by_line(upload(hr_client, enterprise, data))
    assert errors[2] == [
        "Unknown kind spaceship: one of external_contact, customer_group, app_authorization, "
        "third_party_binding, approval_template, shared_calendar."
    ]
    assert errors[3] == ["The owner 9 is not a member of this enterprise nor in this file."]
    assert errors[4] == [
        "The owner 2 is not active: what a leaver owns is handed over through their exit."
    ]
    assert errors[5] == ["The column provider is needed for third_party_binding."]
    assert errors[6][0].startswith("member_count: ")
    assert not CustomerGroup.objects.exists()


def test_the_command_imports_files_and_refuses_bad_ones_saying_where(enterprise, tmp_path):
    departments = tmp_path / "departments.csv"
    departments.write_bytes(csv_bytes(DEPARTMENTS, encoding="gbk"))
    members = tmp_path / "members.csv"
    members.write_bytes(csv_bytes(MEMBERS))
    out = io.StringIO()
    call_command(
        "import_directory", str(departments), str(members), enterprise=enterprise.code, stdout=out
    )
    assert "members: 3 rows, 3 new" in out.getvalue()
    assert Department.objects.get(enterprise=enterprise, code="RD").head.employee_number == "1002"
    # a bad file: nothing written, each bad row named with its file and line
    members.write_bytes(csv_bytes([*MEMBERS, ["1004", "赵六", "NOPE", "", "", "", "member"]]))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 rows have errors: nothing was imported"):
        call_command(
            "import_directory", str(members), enterprise=enterprise.code, stdout=out, stderr=err
        )
    assert f"{members} line 5: Unknown department NOPE" in err.getvalue()
    assert not Member.objects.filter(employee_number="1004").exists()


# ---------------------------------------------------------------------------------------------
# Columns and kinds each imported, a file with every fault at once, the upload's size


def test_members_mobile_and_data_region_are_imported_and_a_changed_region_is_audited(
    hr_client, enterprise
):
    factories.DepartmentFactory(enterprise=enterprise, code="HQ")
    header = ["employee_number", "name", "department_code", "mobile", "data_region"]
    data = csv_bytes(
        [header, ["1", "甲", "HQ", "+86 138-0000-0001", "hk"], ["2", "乙", "HQ", "13900000002", ""]]
    )
    import_file(hr_client, enterprise, data)
    stored = dict(
        (number, (mobile, region))
        for number, mobile, region in Member.objects.filter(enterprise=enterprise).values_list(
            "employee_number", "mobile", "data_region"
        )
    )
    # the mobile as written, the region upper-cased, or else the enterprise's home region
    assert stored == {
        "1": ("+86 138-0000-0001", "HK"),
        "2": ("13900000002", enterprise.data_region),
    }
    # when a later file moves member 2 to Singapore and changes their mobile
    data = csv_bytes([header, ["2", "乙", "HQ", "13900000009", "SG"]])
    import_file(hr_client, enterprise, data)
    member = Member.objects.get(enterprise=enterprise, employee_number="2")
    assert (member.mobile, member.data_region) == ("13900000009", "SG")
    event = (
        AuditEvent.objects.filter(enterprise=enterprise, action="directory_imported")
        .order_by("seq")
        .last()
    )
    assert event.data["members_updated"] == 1
    assert event.data["member_data_region_changes"] == [
        {"member_id": member.pk, "before": enterprise.data_region, "after": "SG"}
    ]


ALL_KINDS = [
    [
        "kind",
        "owner_employee_number",
        "name",
        "company",
        "phone",
        "member_count",
        "scopes",
        "provider",
        "account",
        "in_use",
        "subscriber_count",
    ],
    ["external_contact", "1003", "华为采购部", "华为", "13800000000", "", "", "", "", "", ""],
    ["customer_group", "1002", "大客户群", "", "", "120", "", "", "", "", ""],
    ["app_authorization", "1002", "报销助手", "", "", "", "contacts,calendar", "", "", "", ""],
    ["third_party_binding", "1003", "销售易", "", "", "", "", "销售易 CRM", "wangwu", "", ""],
    ["approval_template", "1001", "差旅审批", "", "", "", "", "", "", "否", ""],
    ["shared_calendar", "1001", "管理层日程", "", "", "", "", "", "", "", "12"],
]


def test_every_kind_of_owned_resource_is_imported_with_its_fields(hr_client, enterprise):
    assert {row[0] for row in ALL_KINDS[1:]} == set(importing.RESOURCE_KINDS)
    import_file(hr_client, enterprise, xlsx_bytes({"d": DEPARTMENTS, "m": MEMBERS}),
                name="d.xlsx", file_format=XLSX)  # fmt: skip
    preview = upload(
        hr_client, enterprise, xlsx_bytes({"r": ALL_KINDS}), name="r.xlsx", file_format=XLSX
    )
    assert preview.context["import_kinds"][0]["new"] == 6
    confirm(hr_client, preview)

    def stored(kind, *fields):
        model = importing.RESOURCE_KINDS[kind]
        return list(
            model.objects.filter(enterprise=enterprise).values_list(
                "owner__employee_number", "name", *fields
            )
        )

    assert stored("external_contact", "company", "phone") == [
        ("1003", "华为采购部", "华为", "13800000000")
    ]
    assert stored("customer_group", "member_count") == [("1002", "大客户群", 120)]
    assert stored("app_authorization", "scopes") == [("1002", "报销助手", "contacts,calendar")]
    assert stored("third_party_binding", "provider", "account") == [
        ("1003", "销售易", "销售易 CRM", "wangwu")
    ]
    assert stored("approval_template", "in_use") == [("1001", "差旅审批", False)]
    assert stored("shared_calendar", "subscriber_count") == [("1001", "管理层日程", 12)]
    # each with its "+" history row
    for model in importing.RESOURCE_KINDS.values():
        assert [h.history_type for h in model.history.filter(enterprise=enterprise)] == ["+"]


def test_a_file_with_every_fault_is_refused_with_each_reason_and_nothing_changes(
    hr_client, enterprise
):
    # given an enterprise without a super admin yet, and a member of another enterprise
    factories.DepartmentFactory(enterprise=enterprise, code="HQ")
    stranger = factories.MemberFactory(employee_number="9001")
    before = directory_of(enterprise)
    # a workbook with a cycle in the department tree, a manager in another enterprise, two
    # super admins and a duplicate employee number
    departments = [["code", "name", "parent_code"], ["A", "甲", "B"], ["B", "乙", "A"]]
    members = [
        ["employee_number", "name", "department_code", "manager_employee_number", "role"],
        ["2001", "甲一", "HQ", stranger.employee_number, "member"],
        ["2002", "甲二", "HQ", "", "super_admin"],
        ["2003", "甲三", "HQ", "", "super_admin"],
        ["2001", "甲四", "HQ", "", "member"],
    ]
    data = xlsx_bytes({"departments": departments, "members": members})
    preview = upload(hr_client, enterprise, data, name="bad.xlsx", file_format=XLSX)
    rows = {(row.sheet, row.line): row.errors for row in preview.context["import_invalid_rows"]}
    two = "Two or more super admins in the file (lines 3, 4): an enterprise has exactly one."
    assert rows == {
        ("departments", 2): ["The department tree would have a cycle: A → B → A."],
        ("departments", 3): ["The department tree would have a cycle: B → A → B."],
        ("members", 2): ["The manager 9001 is not a member of this enterprise nor in this file."],
        ("members", 3): [two],
        ("members", 4): [two],
        ("members", 5): ["The employee number 2001 is on line 2 already."],
    }
    page = preview.content.decode()
    assert "Some rows have errors: nothing was imported" in page
    assert "The department tree would have a cycle: A → B → A." in page
    assert preview.context.get("confirm_form") is None
    # and the fifth fault, a file neither UTF-8 nor GBK, is refused saying so
    wrong = upload(hr_client, enterprise, "\ufeffcode,name\nRD,研发部\n".encode("utf-16"))
    assert _errors(wrong) == [
        "The file is neither UTF-8 nor GBK text: save it as CSV in UTF-8 and upload it again."
    ]
    # nothing was written by either
    assert directory_of(enterprise) == before
    assert not AuditEvent.objects.filter(enterprise=enterprise).exists()


def test_a_directory_file_over_the_limit_is_refused_on_the_form(
    hr_client, enterprise, settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    settings.DIRECTORY_IMPORT_MAX_UPLOAD_SIZE = 1024
    factories.DepartmentFactory(enterprise=enterprise, code="HQ")
    rows = [["employee_number", "name", "department_code"]]
    rows += [[str(3000 + i), f"员工{i}", "HQ"] for i in range(80)]
    data = csv_bytes(rows)
    assert len(data) > 1024

    response = upload(hr_client, enterprise, data)

    assert response.status_code == 200
    assert response.context["form"].errors["import_file"] == [
        f"This file is {filesizeformat(len(data))}; the import takes at most 1.0\xa0KB: split it."
    ]
    assert response.context.get("confirm_form") is None
    assert not Member.objects.filter(enterprise=enterprise).exists()
    assert list(tmp_path.iterdir()) == [] and previews_in_cache() == []


def test_the_import_pages_show_a_status_while_the_server_works(hr_client, enterprise):
    factories.DepartmentFactory(enterprise=enterprise, code="HQ")
    status = (
        '<p class="directory-import-progress" role="status" aria-live="polite" '
        'data-import-progress data-message="{}"></p>'
    )
    script = '<script src="/static/directory/import_progress.js" defer></script>'
    # the upload form: its status inside the form, the script in the page's head
    page = hr_client.get(reverse(IMPORT_URL)).content.decode()
    assert script in page
    start = page.index('enctype="multipart/form-data"')
    form = page[start : page.index("</form>", start)]
    assert status.format("Checking the file… this can take a minute for a large file.") in form
    # the confirm form
    data = csv_bytes([["employee_number", "name", "department_code"], ["1", "甲", "HQ"]])
    page = upload(hr_client, enterprise, data).content.decode()
    assert script in page
    start = page.index('id="directory-import-confirm"')
    form = page[start : page.index("</form>", start)]
    assert status.format("Importing… this can take a minute for a large file.") in form
    assert 'name="confirm"' in form
