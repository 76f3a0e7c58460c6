"""HR's org tree and the exit's state diagram in a real browser, under axe-core and the CSP.

HR opens the departments list, follows "Org tree", sees each department with its members and
leavers and the department pending dissolution marked, follows a department's members link, then
opens a leaver's exit and sees the state diagram with the exit's state marked.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from directory.choices import DepartmentStatus
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hr_reads_the_org_tree_and_the_exit_diagram(
    admin_login, live_server, enterprise, hr_user, open_exit_for
):
    # given a small tree: sales with two members, one of them leaving; an empty department
    # pending dissolution
    head_office = factories.DepartmentFactory(enterprise=enterprise, name="总部")
    sales = factories.DepartmentFactory(enterprise=enterprise, name="销售部", parent=head_office)
    factories.DepartmentFactory(
        enterprise=enterprise,
        name="行政部",
        parent=head_office,
        status=DepartmentStatus.PENDING_DISSOLUTION,
        pending_since=timezone.now() - timedelta(days=3),
    )
    factories.MemberFactory(enterprise=enterprise, department=sales, name="留下")
    leaver = factories.MemberFactory(enterprise=enterprise, department=sales, name="要走")
    exit_case = open_exit_for(leaver)

    # when HR goes from the departments list to the org tree
    page = admin_login("hr", factories.PASSWORD)
    page.goto(f"{live_server.url}/admin/directory/department/")
    page.get_by_role("link", name="Org tree").click()

    # then each department shows its counts, and the empty one is marked pending
    tree = page.locator("#org-tree")
    expect(tree.locator(f"#department-{sales.pk}")).to_contain_text("2 members")
    expect(tree.locator(f"#department-{sales.pk}")).to_contain_text("1 leaving")
    expect(tree.locator(f"#department-{head_office.pk}")).to_contain_text(
        "with departments under it: 2 members, 1 leaving"
    )
    expect(tree.locator(".org-pending")).to_contain_text("Pending dissolution since")

    # and a department's members link lists them
    tree.locator(f"#department-{sales.pk} .org-counts a").click()
    expect(page).to_have_url(re.compile(rf"department__id__exact={sales.pk}"))
    expect(page.locator("#result_list")).to_contain_text("要走")

    # and the leaver's exit page draws the states, the exit's own marked
    page.goto(f"{live_server.url}/admin/offboarding/exit/{exit_case.pk}/change/")
    diagram = page.locator("#exit-diagram")
    expect(diagram.locator("svg[role=img]")).to_be_visible()
    expect(diagram.locator("g.node.current")).to_have_attribute("data-state", "draft")
    expect(diagram.locator("g.node")).to_have_count(9)  # eight states and the start point
