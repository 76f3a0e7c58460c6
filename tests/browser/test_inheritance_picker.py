"""HR's whole exit with inheritance and a picker, in a real browser (U-2, U-3, X-5): HR opens the
exit in handover, sees which customers move, types in the successor picker, sees each
candidate's department, title and load against the limit, is warned before anything is written
that the first choice is full, chooses someone else, hands over, sees the new successor named on
the exit page, and completes the exit.

Screenshots go to /tmp/exitdesk-screenshots/ for a person to look at.
"""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from directory.models import ExternalContact
from offboarding import services, workflow
from offboarding.choices import ExitKind, ExitState, Team
from offboarding.models import Exit
from tests import factories
from tests.browser.test_hr_admin import shoot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def give_contacts(member, names):
    ExternalContact.objects.bulk_create(
        ExternalContact(enterprise_id=member.enterprise_id, owner=member, name=name)
        for name in names
    )


@pytest.fixture
def leaving(enterprise, super_admin, hr_user, it_user, open_exit_for):
    """赵六 of the sales department, removed (passive exit, in handover) with 12 customers and a
    customer group; every checklist item a person signs is signed, and both reviews."""
    enterprise.customer_limit_per_member = 20
    enterprise.save(update_fields=["customer_limit_per_member"])
    sales = factories.DepartmentFactory(enterprise=enterprise, name="销售部")
    member = factories.MemberFactory(enterprise=enterprise, department=sales, name="赵六")
    give_contacts(member, [f"华东客户{n:02d}" for n in range(12)])
    factories.CustomerGroupFactory(owner=member, name="华东大客户群")
    # 刘琳 is full (27 where 20 is the limit); 陈静 has room
    liu = factories.MemberFactory(
        enterprise=enterprise, department=sales, name="刘琳", title="客户经理"
    )
    give_contacts(liu, [f"刘琳的客户{n}" for n in range(27)])
    chen = factories.MemberFactory(
        enterprise=enterprise, department=sales, name="陈静", title="客户经理"
    )
    give_contacts(chen, [f"陈静的客户{n}" for n in range(3)])
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


def pick(page, text, option):
    """Type `text` in the successor picker and choose the option containing `option`."""
    page.locator("#id_successor + .select2").click()
    page.locator(".select2-search__field").fill(text)
    choice = page.locator(".select2-results__option", has_text=option)
    expect(choice).to_be_visible()
    return choice


def test_hr_hands_over_with_the_picker_and_completes_the_exit(
    admin_login, live_server, hr_user, leaving
):
    page = admin_login(hr_user.username, factories.PASSWORD)
    page.goto(f"{live_server.url}/admin/offboarding/exit/{leaving.pk}/change/")
    expect(page.locator("#exit-state")).to_have_text("Handover")

    # the handover page names the customers and the group that move
    page.locator("#inheritance-button").click()
    expect(page.locator("#inheritance-contacts")).to_contain_text("华东客户00")
    expect(page.locator("#inheritance-contacts")).to_contain_text("华东客户11")
    expect(page.locator("#inheritance-groups")).to_contain_text("华东大客户群")
    # the picker is named by its label
    expect(page.get_by_role("combobox", name=re.compile("^Successor"))).to_be_visible()

    # HR types a title: both account managers are offered, with department and load
    choice = pick(page, "客户经理", "刘琳")
    expect(choice).to_contain_text("刘琳 · 销售部 · 客户经理")
    expect(choice).to_contain_text("27 / 20 external contacts: no room")
    expect(page.locator(".select2-results__option", has_text="陈静")).to_contain_text(
        "3 / 20 external contacts"
    )
    shoot(page, "20-successor-picker")
    choice.click()
    expect(page.locator("#select2-id_successor-container")).to_contain_text("27 / 20")
    # at once, before submitting, the page says she has no room for the 12 contacts
    expect(page.locator("#id_successor_load_warning")).to_contain_text(
        "刘琳 already looks after 27 external contacts; the limit is 20: 12 of the 12 that move "
        "would not fit"
    )

    # submitting 刘琳 writes nothing: the page warns how far over the limit she would be
    page.get_by_role("button", name="Hand over").click()
    warning = page.locator("#over-limit-warning")
    expect(warning).to_contain_text("刘琳 already looks after 27 external contacts")
    expect(warning).to_contain_text("the limit is 20")
    expect(warning).to_contain_text("None of the 12 external contacts would fit")
    shoot(page, "21-over-limit-warning")
    assert not leaving.inheritance_batches.exists()

    # HR chooses 陈静 instead and hands over
    pick(page, "陈", "陈静").click()
    expect(page.locator("#select2-id_successor-container")).to_contain_text("3 / 20")
    expect(page.locator("#id_successor_load_warning")).to_be_hidden()
    page.get_by_role("button", name="Hand over").click()

    # back on the exit page: what moved, and the successor named
    expect(page).to_have_url(re.compile(rf"/admin/offboarding/exit/{leaving.pk}/change/$"))
    expect(page.locator(".messagelist .success")).to_contain_text("are handed over")
    handover = page.locator("#exit-handover")
    expect(handover).to_contain_text("External contact → 陈静")
    expect(handover).to_contain_text("Customer group → 陈静")
    shoot(page, "22-exit-page-handed-over")

    # nothing blocks completion any more: HR completes the exit
    page.locator("#exit-panel").get_by_role("link", name="Complete", exact=True).click()
    page.get_by_role("button", name="Yes, I’m sure").click()
    expect(page.locator("#exit-state")).to_have_text("Completed")
    expect(page.locator("#exit-handover")).to_contain_text("External contact → 陈静")
    shoot(page, "23-exit-completed")

    assert Exit.objects.get(pk=leaving.pk).state == ExitState.COMPLETED
    assert ExternalContact.objects.filter(owner__name="陈静").count() == 15
