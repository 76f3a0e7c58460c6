"""The directory admin: every page works for HR, nothing crosses enterprises, queries stay flat."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from directory.choices import MemberRole
from directory.models import CustomerGroup, Department, Member
from directory.permissions import grant_access
from tests import factories

pytestmark = pytest.mark.django_db

RESOURCE_FACTORIES = {
    factory._meta.model._meta.model_name: factory for factory in factories.OWNED_RESOURCE_FACTORIES
}


def _objects_of(enterprise, owner):
    """One row of every directory model, in `enterprise`."""
    objects = {
        "enterprise": enterprise,
        "department": owner.department,
        "member": owner,
        "enterpriseaccess": factories.EnterpriseAccessFactory(enterprise=enterprise),
    }
    for name, factory in RESOURCE_FACTORIES.items():
        objects[name] = factory(enterprise=enterprise, owner=owner)
    return objects


@pytest.fixture
def own_objects(enterprise, super_admin):
    return _objects_of(enterprise, super_admin)


@pytest.fixture
def foreign_objects():
    other = factories.EnterpriseFactory(name="别家公司")
    return _objects_of(other, factories.SuperAdminFactory(enterprise=other, name="别家老板"))


@pytest.mark.parametrize("page", ["changelist", "change", "history"])
def test_hr_opens_every_directory_page_of_their_enterprise(hr_client, own_objects, page):
    for model_name, obj in own_objects.items():
        args = [] if page == "changelist" else [obj.pk]
        response = hr_client.get(reverse(f"admin:directory_{model_name}_{page}", args=args))
        assert response.status_code == 200, (model_name, page)


def test_hr_opens_the_add_pages_they_are_allowed(hr_client, own_objects):
    for model_name in ["department", "member", *RESOURCE_FACTORIES]:
        response = hr_client.get(reverse(f"admin:directory_{model_name}_add"))
        assert response.status_code == 200, model_name


def test_another_enterprises_rows_are_hidden_from_hr(hr_client, own_objects, foreign_objects):
    for model_name, obj in foreign_objects.items():
        changelist = hr_client.get(reverse(f"admin:directory_{model_name}_changelist"))
        assert obj not in changelist.context["cl"].result_list, model_name
        change = hr_client.get(reverse(f"admin:directory_{model_name}_change", args=[obj.pk]))
        # The admin answers an object outside the user's queryset as if it did not exist.
        assert change.status_code == 302, model_name
        assert change.url == reverse("admin:index")


def test_the_autocomplete_offers_only_members_of_the_users_enterprise(
    hr_client, own_objects, foreign_objects
):
    response = hr_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "directory", "model_name": "customergroup", "field_name": "owner"},
    )
    ids = {result["id"] for result in response.json()["results"]}
    assert str(own_objects["member"].pk) in ids
    assert str(foreign_objects["member"].pk) not in ids


def test_a_superuser_sees_every_enterprise(admin_client, own_objects, foreign_objects):
    changelist = admin_client.get(reverse("admin:directory_member_changelist"))
    shown = set(changelist.context["cl"].result_list)
    assert {own_objects["member"], foreign_objects["member"]} <= shown


def test_members_are_never_deleted_from_the_admin(admin_client, own_objects):
    member = own_objects["member"]
    response = admin_client.get(reverse("admin:directory_member_delete", args=[member.pk]))
    assert response.status_code == 403


def test_member_changelist_queries_do_not_grow_with_members(hr_client, enterprise, super_admin):
    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = hr_client.get(reverse("admin:directory_member_changelist"))
        assert response.status_code == 200
        return len(queries)

    department = super_admin.department
    factories.MemberFactory.create_batch(
        9, enterprise=enterprise, department=department, manager=super_admin
    )
    with_ten = count_queries()
    factories.MemberFactory.create_batch(
        190, enterprise=enterprise, department=department, manager=super_admin
    )
    assert Member.objects.count() == 200
    assert count_queries() == with_ten


def test_a_cycle_in_the_department_tree_is_a_form_error(hr_client, enterprise):
    root = factories.DepartmentFactory(enterprise=enterprise, name="总部")
    child = factories.DepartmentFactory(enterprise=enterprise, parent=root, name="销售中心")
    response = hr_client.post(
        reverse("admin:directory_department_change", args=[root.pk]),
        {"name": "总部", "parent": child.pk, "head": "", "status": "active"},
    )
    assert response.status_code == 200
    assert "descendant of itself" in str(response.context["adminform"].form.errors)
    root.refresh_from_db()
    assert root.parent is None


def test_an_owner_from_another_enterprise_is_a_form_error(hr_user, client, enterprise):
    # given an HR user working on two enterprises
    other = factories.EnterpriseFactory(name="第二家")
    grant_access(user=hr_user, enterprise=other, role="hr")
    stranger = factories.MemberFactory(enterprise=other)
    client.force_login(hr_user)
    # when they give a customer group of the first enterprise an owner from the second
    response = client.post(
        reverse("admin:directory_customergroup_add"),
        {
            "enterprise": enterprise.pk,
            "owner": stranger.pk,
            "name": "华东客户群",
            "member_count": 3,
        },
    )
    # then the form says so and nothing is saved
    assert response.status_code == 200
    assert "belongs to another enterprise" in str(response.context["adminform"].form.errors)
    assert not CustomerGroup.objects.exists()


def test_role_and_status_cannot_be_changed_by_editing_the_member(hr_client, super_admin):
    # given HR posting the super admin's page with another role and status
    response = hr_client.post(
        reverse("admin:directory_member_change", args=[super_admin.pk]),
        {
            "name": super_admin.name,
            "employee_number": super_admin.employee_number,
            "title": "",
            "department": super_admin.department_id,
            "manager": "",
            "data_region": "CN",
            "role": MemberRole.ADMIN,
            "status": "departed",
        },
    )
    # then the page saves what it offers, and role and status stay as they were
    assert response.status_code == 302
    super_admin.refresh_from_db()
    assert super_admin.role == MemberRole.SUPER_ADMIN
    assert super_admin.status == "active"
    # and the page shows them read-only, with the door that changes them
    page = hr_client.get(reverse("admin:directory_member_change", args=[super_admin.pk]))
    form = page.context["adminform"].form
    assert "role" not in form.fields and "status" not in form.fields
    content = page.content.decode()
    assert "only through an exit" in content
    assert f"{reverse('admin:offboarding_exit_changelist')}?member__id__exact={super_admin.pk}" in (
        content
    )


def test_adding_a_second_super_admin_is_a_form_error(hr_client, enterprise, super_admin):
    response = hr_client.post(
        reverse("admin:directory_member_add"),
        {
            "enterprise": enterprise.pk,
            "username": "second-boss",
            "name": "二号老板",
            "employee_number": "E900002",
            "department": super_admin.department_id,
            "role": MemberRole.SUPER_ADMIN,
            "data_region": "CN",
        },
    )
    assert response.status_code == 200
    assert "already has an active super admin" in str(response.context["adminform"].form.errors)
    assert not Member.objects.filter(employee_number="E900002").exists()


def test_hr_adds_a_member_with_a_new_login(hr_client, enterprise, super_admin):
    response = hr_client.post(
        reverse("admin:directory_member_add"),
        {
            "enterprise": enterprise.pk,
            "username": "lisi",
            "email": "lisi@example.com",
            "name": "李四",
            "employee_number": "E900001",
            "title": "销售",
            "department": super_admin.department_id,
            "manager": super_admin.pk,
            "role": MemberRole.MEMBER,
            "data_region": "CN",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    member = Member.objects.get(employee_number="E900001")
    assert member.user.username == f"lisi@{enterprise.code}"
    assert member.history.count() == 1


def test_the_admin_index_warns_about_an_enterprise_without_backup_admin(hr_client, super_admin):
    response = hr_client.get(reverse("admin:index"))
    assert "has no backup admin" in response.content.decode()
    factories.MemberFactory(enterprise=super_admin.enterprise, is_backup_admin=True)
    response = hr_client.get(reverse("admin:index"))
    assert "has no backup admin" not in response.content.decode()


def test_department_changelist_lists_the_tree(hr_client, enterprise):
    root = factories.DepartmentFactory(enterprise=enterprise, name="总部")
    factories.DepartmentFactory(enterprise=enterprise, parent=root, name="研发中心")
    response = hr_client.get(reverse("admin:directory_department_changelist"))
    assert set(response.context["cl"].result_list) == set(Department.objects.all())


def test_a_role_in_one_enterprise_gives_no_edit_rights_in_another(client, enterprise, super_admin):
    # given a person who is HR of the first enterprise and IT of a second
    second = factories.EnterpriseFactory(name="第二家")
    second_admin = factories.SuperAdminFactory(enterprise=second, name="第二家老板")
    person = factories.StaffUserFactory(username="hr-here-it-there")
    grant_access(user=person, enterprise=enterprise, role="hr")
    grant_access(user=person, enterprise=second, role="it")
    authorization = factories.AppAuthorizationFactory(enterprise=second, owner=second_admin)
    client.force_login(person)
    # then they edit members where they are HR, and only see them where they are IT
    own = client.get(reverse("admin:directory_member_change", args=[super_admin.pk]))
    assert own.context["has_change_permission"]
    foreign = client.get(reverse("admin:directory_member_change", args=[second_admin.pk]))
    assert foreign.status_code == 200
    assert not foreign.context["has_change_permission"]
    refused = client.post(
        reverse("admin:directory_member_change", args=[second_admin.pk]),
        {"name": "改名", "employee_number": second_admin.employee_number},
    )
    assert refused.status_code == 403
    second_admin.refresh_from_db()
    assert second_admin.name == "第二家老板"
    # and IT's own objects there stay theirs to edit
    it_page = client.get(
        reverse("admin:directory_appauthorization_change", args=[authorization.pk])
    )
    assert it_page.context["has_change_permission"]
    # and a new member can only be added to the enterprise where they are HR
    add = client.get(reverse("admin:directory_member_add"))
    choices = add.context["adminform"].form.fields["enterprise"].queryset
    assert list(choices) == [enterprise]


# --- the enterprise's code (in its members' logins) -------------------------------------------


def test_the_enterprise_code_is_read_only_once_the_enterprise_exists(hr_client, enterprise):
    # given the enterprise's page, when HR posts another code with the rest unchanged
    url = reverse("admin:directory_enterprise_change", args=[enterprise.pk])
    form = hr_client.get(url).context["adminform"].form
    assert "code" not in form.fields  # shown, not editable
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(
        undo_window="1 00:00:00",
        customer_acceptance_period="1 00:00:00",
        handover_grace_period="7 00:00:00",
        code="other",
    )
    hr_client.post(url, data)

    # then the code stays
    enterprise.refresh_from_db()
    assert enterprise.code.startswith("ent")


@pytest.mark.parametrize("code", ["Acme", "a", "1acme", "acme co", "acme_co", "x" * 33])
def test_a_malformed_enterprise_code_is_refused_with_its_rule(admin_client, code):
    response = admin_client.post(
        reverse("admin:directory_enterprise_add"),
        {
            "name": "新公司",
            "code": code,
            "data_region": "CN",
            "time_zone": "Asia/Shanghai",
            "undo_window": "1 00:00:00",
            "customer_acceptance_period": "1 00:00:00",
            "customer_limit_per_member": "20000",
            "handover_policy": "grace",
            "handover_grace_period": "7 00:00:00",
            "erasure_mode": "account",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["code"]
    assert any("lower-case letters, digits or hyphens" in error for error in errors) or any(
        "at most 32" in error for error in errors
    ), errors
