"""The directory import in a real browser (D-2, D-3): HR uploads a CSV of departments, sees the
preview's counts, confirms, and finds the departments in the admin.

Screenshots go to /tmp/exitdesk-screenshots/ for a person to look at.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from directory.models import Department
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path("/tmp/exitdesk-screenshots")


def shoot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_hr_imports_departments_from_a_gbk_csv(admin_login, live_server, hr_user, tmp_path):
    upload = tmp_path / "部门.csv"
    upload.write_bytes("code,name,parent_code\nRD,研发部,HQ\nHQ,总部,\n".encode("gbk"))
    page = admin_login(hr_user.username, factories.PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/$"))

    page.goto(f"{live_server.url}/admin/directory/member/")
    page.get_by_role("link", name=re.compile("^(Import|导入)$")).click()
    page.locator("input[type=file]").set_input_files(str(upload))
    formats = page.locator("select[name=format]")
    if formats.count():  # a choice only where XLSX is offered too (openpyxl installed)
        formats.select_option(label="csv")
    shoot(page, "directory-import-01-upload")
    page.locator("input[type=submit]").click()

    summary = page.locator("#directory-import-summary")
    expect(summary).to_contain_text("2")
    shoot(page, "directory-import-02-preview")
    page.locator("input[name=confirm]").click()

    expect(page.locator(".messagelist")).to_contain_text(re.compile("2"))
    shoot(page, "directory-import-03-done")
    assert sorted(Department.objects.values_list("code", "parent__code")) == [
        ("HQ", None),
        ("RD", "HQ"),
    ]


def test_the_import_says_it_is_working_once_the_file_is_sent(
    admin_login, live_server, hr_user, tmp_path
):
    upload = tmp_path / "部门.csv"
    upload.write_bytes("code,name,parent_code\nRD,研发部,HQ\nHQ,总部,\n".encode())
    page = admin_login(hr_user.username, factories.PASSWORD)
    page.goto(f"{live_server.url}/admin/directory/member/import/")
    page.locator("input[type=file]").set_input_files(str(upload))
    formats = page.locator("select[name=format]")
    if formats.count():
        formats.select_option(label="csv")
    status = page.get_by_role("status")
    expect(status).to_be_empty()
    # the server's answer never comes (the request is dropped), as if a large file took long:
    # the page stays as it was when the file was sent
    page.route(
        re.compile(r"/admin/directory/member/import/$"), lambda route: route.abort("aborted")
    )

    page.locator("input[type=submit]").click()

    # then it says it is checking, with a progress bar, and the file cannot be sent twice
    expect(status).to_have_text("Checking the file… this can take a minute for a large file.")
    expect(status.locator("progress")).to_have_count(1)
    expect(page.locator("input[type=submit]")).to_be_disabled()
    shoot(page, "directory-import-04-checking")
    assert not Department.objects.exists()


def test_the_preview_lists_the_addresses_it_keeps(admin_login, live_server, hr_user, tmp_path):
    boss = factories.SuperAdminFactory(
        enterprise=hr_user.enterprise_accesses.get().enterprise,
        employee_number="E001",
        name="王总",
        user__email="boss@corp.cn",
    )
    upload = tmp_path / "成员.csv"
    upload.write_bytes(f"employee_number,name,email\nE001,王总,{hr_user.email}\n".encode())
    page = admin_login(hr_user.username, factories.PASSWORD)
    page.goto(f"{live_server.url}/admin/directory/member/import/")
    page.locator("input[type=file]").set_input_files(str(upload))
    formats = page.locator("select[name=format]")
    if formats.count():
        formats.select_option(label="csv")
    page.locator("input[type=submit]").click()

    notices = page.locator("#directory-import-notices")
    expect(notices).to_contain_text("E001 王总: e-mail kept (boss@corp.cn): the member is")
    shoot(page, "directory-import-05-kept")
    page.locator("input[name=confirm]").click()
    expect(page.locator(".messagelist")).to_contain_text("Line 2: E001 王总: e-mail kept")
    boss.user.refresh_from_db()
    assert boss.user.email == "boss@corp.cn"
