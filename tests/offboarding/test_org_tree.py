"""The org tree page: departments as a tree, head counts, pending dissolution, tenant wall."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from directory.choices import DepartmentStatus, MemberStatus
from offboarding import org_tree
from tests import factories

URL = "/admin/offboarding/exit/org-tree/"


@pytest.fixture
def tree(enterprise):
    """总部 > 销售部 (2 members, one leaving) > 华东区 (1 member); 总部 > 行政部 (pending)."""
    head_office = factories.DepartmentFactory(enterprise=enterprise, name="总部")
    sales = factories.DepartmentFactory(enterprise=enterprise, name="销售部", parent=head_office)
    east = factories.DepartmentFactory(enterprise=enterprise, name="华东区", parent=sales)
    admin_office = factories.DepartmentFactory(
        enterprise=enterprise,
        name="行政部",
        parent=head_office,
        status=DepartmentStatus.PENDING_DISSOLUTION,
        pending_since=datetime(2026, 3, 2, 18, 0, tzinfo=UTC),
    )
    factories.DepartmentFactory(
        enterprise=enterprise, name="旧部门", parent=head_office, status=DepartmentStatus.DISSOLVED
    )
    staying = factories.MemberFactory(enterprise=enterprise, department=sales, name="留下")
    leaving = factories.MemberFactory(enterprise=enterprise, department=sales, name="要走")
    factories.MemberFactory(enterprise=enterprise, department=east)
    factories.MemberFactory(enterprise=enterprise, department=sales, status=MemberStatus.DEPARTED)
    return {
        "sales": sales,
        "east": east,
        "admin": admin_office,
        "staying": staying,
        "leaving": leaving,
    }


def test_counts_add_up_the_tree_and_leaving_is_an_open_exit(enterprise, tree, open_exit_for):
    # given one member of sales with an open exit
    open_exit_for(tree["leaving"])

    # when the tree is built
    (root,) = org_tree.org_tree(enterprise)

    # then the dissolved department is left out and each level is by name
    assert root.name == "总部"
    assert [child.name for child in root.children] == ["行政部", "销售部"]
    admin_office, sales = root.children
    # the departed member is not counted; the leaving one is counted in both
    assert (sales.members, sales.leaving) == (2, 1)
    assert (sales.total_members, sales.total_leaving) == (3, 1)
    assert (root.members, root.total_members, root.total_leaving) == (0, 3, 1)
    assert admin_office.pending_dissolution and admin_office.total_members == 0


def test_the_page_shows_the_tree_with_links_and_the_pending_mark(
    client, hr_user, enterprise, tree, open_exit_for
):
    open_exit_for(tree["leaving"])
    client.force_login(hr_user)

    html = client.get(URL).content.decode()

    assert "总部" in html and "华东区" in html and "旧部门" not in html
    assert reverse("admin:directory_department_change", args=[tree["sales"].pk]) in html
    members_link = f"/admin/directory/member/?department__id__exact={tree['sales'].pk}"
    assert members_link in html
    assert "1 leaving" in html
    # pending since, in the enterprise's time zone (Asia/Shanghai: 3 March, 02:00)
    item = re.search(rf'id="department-{tree["admin"].pk}".*?</li>', html, re.S).group(0)
    assert "Pending dissolution since" in item
    assert "03/03/2026" in item  # 2 March 18:00 UTC is 3 March in Shanghai


def test_the_members_link_lists_the_department_s_members(client, hr_user, tree):
    client.force_login(hr_user)

    response = client.get("/admin/directory/member/", {"department__id__exact": tree["sales"].pk})

    html = response.content.decode()
    assert response.status_code == 200
    assert "留下" in html and "要走" in html


def test_staff_see_only_their_own_enterprises(client, enterprise, tree):
    # given HR of another enterprise, who asks for the first one's tree by its id
    other = factories.EnterpriseFactory(name="别家公司")
    factories.DepartmentFactory(enterprise=other, name="别家部门")
    stranger = factories.StaffFactory(username="other-hr", enterprise=other, role="hr")
    client.force_login(stranger)

    html = client.get(URL, {"enterprise": enterprise.pk}).content.decode()

    # then they get their own tree, nothing of the other
    assert "别家部门" in html
    assert "总部" not in html and "示例科技" not in html


def test_an_enterprise_without_departments_says_so(client, hr_user):
    client.force_login(hr_user)

    html = client.get(URL).content.decode()

    assert 'id="org-tree-empty"' in html


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def test_the_page_runs_as_many_queries_for_a_big_tree_as_for_a_small_one(
    client, hr_user, enterprise
):
    # given a small tree
    client.force_login(hr_user)
    root = factories.DepartmentFactory(enterprise=enterprise, name="总部")
    factories.MemberFactory(enterprise=enterprise, department=root)
    small = _queries(client)

    # when it grows three levels deep and wide, with members everywhere
    for i in range(6):
        branch = factories.DepartmentFactory(enterprise=enterprise, name=f"部门{i}", parent=root)
        for j in range(4):
            leaf = factories.DepartmentFactory(enterprise=enterprise, name=f"组{j}", parent=branch)
            factories.MemberFactory(enterprise=enterprise, department=leaf)

    # then the page runs the same number of queries
    assert _queries(client) == small
