"""The HR exit path in a real browser (U-2, U-3): HR opens an exit in handover whose checklist and
reviews are all done, presses Complete, confirms, and sees the exit completed.

Screenshots go to /tmp/exitdesk-screenshots/ for a person to look at.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from offboarding import services, workflow
from offboarding.choices import ExitKind, ExitState, Team
from offboarding.models import Exit
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path("/tmp/exitdesk-screenshots")


def shoot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def ready_exit(enterprise, super_admin, hr_user, it_user, open_exit_for):
    """A passive exit in handover: checklist signed off by HR and IT, both reviews done."""
    member = factories.MemberFactory(
        enterprise=enterprise, department=super_admin.department, name="赵六"
    )
    exit_case = open_exit_for(
        member,
        kind=ExitKind.PASSIVE,
        last_working_day=services.local_today(enterprise) + timedelta(days=3),
        reason="合同到期",
        actor=hr_user,
    )
    exit_case = workflow.remove(exit_case, actor=hr_user)
    signers = {Team.HR: hr_user, Team.IT: it_user}
    for item in exit_case.checklist.filter(auto_check=""):
        services.sign_off_item(item, actor=signers[item.team], note="已完成")
    services.sign_off_review(exit_case, actor=hr_user, team=Team.HR)
    services.sign_off_review(exit_case, actor=it_user, team=Team.IT)
    return exit_case


def test_hr_completes_an_exit_with_nothing_left(admin_login, live_server, hr_user, ready_exit):
    page = admin_login(hr_user.username, factories.PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/$"))

    page.goto(f"{live_server.url}/admin/offboarding/exit/")
    shoot(page, "01-exit-changelist")
    page.get_by_role("link", name=re.compile("赵六")).click()

    expect(page.locator("#exit-state")).to_have_text("Handover")
    expect(page.locator(".exit-clear")).to_be_visible()  # the pre-review shows no blocker
    shoot(page, "02-exit-page-handover")

    page.locator("#exit-panel").get_by_role("link", name="Complete", exact=True).click()
    expect(page).to_have_url(re.compile(r"/transition/complete/$"))
    expect(page.locator(".exit-question")).to_contain_text("Complete the exit of 赵六?")
    shoot(page, "03-confirm-complete")

    page.get_by_role("button", name="Yes, I’m sure").click()

    expect(page).to_have_url(re.compile(rf"/admin/offboarding/exit/{ready_exit.pk}/change/$"))
    expect(page.locator(".messagelist .success")).to_contain_text("now Completed")
    expect(page.locator("#exit-state")).to_have_text("Completed")
    expect(page.locator("#exit-panel")).to_contain_text("Can be undone until")
    shoot(page, "04-exit-page-completed")

    assert Exit.objects.get(pk=ready_exit.pk).state == ExitState.COMPLETED


def test_hr_sees_the_blockers_of_a_fresh_draft_and_signs_off_an_item(
    admin_login, live_server, enterprise, super_admin, hr_user, open_exit_for
):
    member = factories.MemberFactory(
        enterprise=enterprise, department=super_admin.department, name="钱七"
    )
    factories.ExternalContactFactory(enterprise=enterprise, owner=member)
    exit_case = open_exit_for(
        member,
        kind=ExitKind.VOLUNTARY,
        last_working_day=services.local_today(enterprise) + timedelta(days=30),
        actor=hr_user,
    )

    page = admin_login(hr_user.username, factories.PASSWORD)
    page.goto(f"{live_server.url}/admin/offboarding/exit/{exit_case.pk}/change/")
    expect(page.locator("#exit-blockers")).to_contain_text("Still owns 1 external contact")
    shoot(page, "05-exit-page-draft-blockers")

    checklist = page.locator("#checklist-group")
    checklist.get_by_role("row", name=re.compile("Work files handed over")).get_by_role(
        "link", name="Sign off"
    ).click()
    page.fill("textarea[name=note]", "已交给王五")
    shoot(page, "06-sign-off-item")
    page.get_by_role("button", name="Sign off").click()

    expect(page.locator(".messagelist .success")).to_contain_text("is signed off")
    work_files = checklist.get_by_role("row", name=re.compile("Work files handed over"))
    expect(work_files).to_contain_text("已交给王五")
    expect(page.locator("#exit-timeline")).to_contain_text("“Work files handed over” signed off")
    shoot(page, "07-after-sign-off")


def _pick(page, field, text):
    """Choose `text` in the admin's autocomplete (select2) for `field`."""
    page.locator(f"#id_{field} + .select2").click()
    page.locator(".select2-search__field").fill(text)
    page.locator(".select2-results__option", has_text=text).click()


def test_hr_opens_an_exit_and_a_second_one_is_refused_on_the_form(
    admin_login, live_server, enterprise, super_admin, hr_user
):
    factories.MemberFactory(
        enterprise=enterprise, department=super_admin.department, name="孙八", employee_number="E-8"
    )
    other = factories.EnterpriseFactory(name="别家公司")
    factories.MemberFactory(enterprise=other, name="周九", employee_number="E-9")

    page = admin_login(hr_user.username, factories.PASSWORD)
    page.goto(f"{live_server.url}/admin/offboarding/exit/add/")
    # the autocomplete offers members of HR's enterprise only
    page.locator("#id_member + .select2").click()
    page.locator(".select2-search__field").fill("E-")
    expect(page.locator(".select2-results__option", has_text="孙八")).to_be_visible()
    expect(page.locator(".select2-results__option", has_text="周九")).to_have_count(0)
    page.keyboard.press("Escape")

    def fill_and_save(screenshot=None):
        _pick(page, "member", "孙八")
        page.select_option("#id_kind", "passive")
        page.fill("#id_last_working_day", "2030-01-31")
        page.fill("#id_reason", "合同到期")
        if screenshot:
            shoot(page, screenshot)
        page.get_by_role("button", name="Save", exact=True).click()

    fill_and_save("08-add-exit")
    expect(page.locator("#exit-state")).to_have_text("Draft")

    # the same member again: the service refuses, the form says why
    page.goto(f"{live_server.url}/admin/offboarding/exit/add/")
    fill_and_save()
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".errorlist")).to_contain_text("already has an exit in progress")
    shoot(page, "09-add-exit-refused")
    assert Exit.objects.filter(member__name="孙八").count() == 1


def test_hr_copies_the_default_checklist_and_sees_the_default_chain(
    admin_login, live_server, enterprise, hr_user
):
    page = admin_login(hr_user.username, factories.PASSWORD)

    page.goto(f"{live_server.url}/admin/offboarding/approvalchainstep/")
    expect(page.locator("#approval-chain-default")).to_contain_text("Direct manager → HR")
    shoot(page, "10-approval-chain-default")

    page.goto(f"{live_server.url}/admin/offboarding/checklisttemplateitem/")
    page.get_by_role("button", name=f"Copy the default 12 items to {enterprise.name}").click()
    expect(page.locator(".messagelist .success")).to_contain_text("the 12 default items")
    expect(page.locator("#result_list tbody tr")).to_have_count(12)
    shoot(page, "11-checklist-template-copied")


def test_hr_submits_an_exit_and_approves_a_step_with_a_comment(
    admin_login, live_server, enterprise, super_admin, hr_user, open_exit_for
):
    member = factories.MemberFactory(
        enterprise=enterprise, department=super_admin.department, name="吴十"
    )
    exit_case = open_exit_for(
        member,
        kind=ExitKind.PASSIVE,
        last_working_day=services.local_today(enterprise) + timedelta(days=10),
        actor=hr_user,
    )

    page = admin_login(hr_user.username, factories.PASSWORD)
    page.goto(f"{live_server.url}/admin/offboarding/exit/{exit_case.pk}/change/")
    page.locator("#exit-panel").get_by_role("link", name="Submit", exact=True).click()
    page.get_by_role("button", name="Yes, I’m sure").click()
    expect(page.locator("#exit-state")).to_have_text("Pending approval")

    # nobody manages 吴十: HR decides the first step (direct manager) too
    page.locator("#exit-panel").get_by_role("link", name="Approve", exact=True).click()
    page.fill("textarea[name=comment]", "同意，交接清楚")
    shoot(page, "12-confirm-approve")
    page.get_by_role("button", name="Yes, I’m sure").click()

    expect(page.locator(".messagelist .success")).to_contain_text("next step")
    expect(page.locator("#approvals-group")).to_contain_text("同意，交接清楚")
    shoot(page, "13-exit-page-pending-approval")


def test_hr_hands_the_resources_over_from_the_exit_page_and_completes_the_exit(
    admin_login, live_server, enterprise, super_admin, hr_user, it_user, open_exit_for
):
    # given a removal in handover, everything signed off, but the member still owns customers
    boss = factories.MemberFactory(
        enterprise=enterprise, department=super_admin.department, name="周经理"
    )
    member = factories.MemberFactory(
        enterprise=enterprise, department=super_admin.department, manager=boss, name="吴九"
    )
    factories.ExternalContactFactory.create_batch(3, enterprise=enterprise, owner=member)
    factories.CustomerGroupFactory.create_batch(2, enterprise=enterprise, owner=member)
    exit_case = open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user)
    exit_case = workflow.remove(exit_case, actor=hr_user)
    signers = {Team.HR: hr_user, Team.IT: it_user}
    for item in exit_case.checklist.filter(auto_check=""):
        services.sign_off_item(item, actor=signers[item.team], note="已完成")
    services.sign_off_review(exit_case, actor=hr_user, team=Team.HR)
    services.sign_off_review(exit_case, actor=it_user, team=Team.IT)

    page = admin_login(hr_user.username, factories.PASSWORD)
    page.goto(f"{live_server.url}/admin/offboarding/exit/{exit_case.pk}/change/")
    expect(page.locator("#exit-blockers")).to_contain_text("Still owns 3 external contacts")

    # when HR hands everything over to the default successor, the manager
    page.locator("#inheritance-button").click()
    expect(page).to_have_url(re.compile(r"/inheritance/$"))
    owned = page.locator("#inheritance-owned")
    expect(owned.get_by_role("row", name=re.compile("External contact"))).to_contain_text("3")
    expect(owned.get_by_role("row", name=re.compile("Customer group"))).to_contain_text("2")
    expect(page.locator("#inheritance-default-successor")).to_contain_text("周经理")
    shoot(page, "08-confirm-inheritance")
    page.get_by_role("button", name="Hand over").click()

    # then the exit page shows the handover, and only a note about the waiting customers
    expect(page).to_have_url(re.compile(rf"/admin/offboarding/exit/{exit_case.pk}/change/$"))
    expect(page.locator(".messagelist .success")).to_contain_text("are handed over")
    expect(page.locator("#exit-handover")).to_contain_text("External contact → 周经理")
    expect(page.locator("#exit-prereview-notes")).to_contain_text("3 external contacts")
    expect(page.locator(".exit-clear")).to_be_visible()
    shoot(page, "09-exit-page-after-inheritance")

    # and the exit completes
    page.locator("#exit-panel").get_by_role("link", name="Complete", exact=True).click()
    page.get_by_role("button", name="Yes, I’m sure").click()
    expect(page.locator("#exit-state")).to_have_text("Completed")
    assert Exit.objects.get(pk=exit_case.pk).state == ExitState.COMPLETED
