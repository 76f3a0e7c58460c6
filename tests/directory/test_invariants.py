"""The directory's invariants: one active super admin, links inside one enterprise, a tree."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from directory import services
from directory.choices import MemberRole, MemberStatus
from directory.models import Member
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_second_active_super_admin_is_refused_by_the_database(super_admin):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.SuperAdminFactory(enterprise=super_admin.enterprise)


def test_a_second_active_super_admin_gets_a_clear_validation_message(super_admin):
    # given
    other = factories.MemberFactory(enterprise=super_admin.enterprise)
    # when
    with pytest.raises(services.DirectoryError) as refused:
        services.change_role(other, actor=None, role=MemberRole.SUPER_ADMIN)
    # then
    assert "already has an active super admin" in str(refused.value)
    other.refresh_from_db()
    assert other.role == MemberRole.MEMBER


def test_two_enterprises_each_have_their_own_super_admin(super_admin):
    factories.SuperAdminFactory()
    assert Member.objects.super_admins().count() == 2


def test_the_last_super_admin_cannot_be_demoted(super_admin):
    with pytest.raises(services.DirectoryError) as refused:
        services.change_role(super_admin, actor=None, role=MemberRole.ADMIN)
    assert "only active super admin" in str(refused.value)
    super_admin.refresh_from_db()
    assert super_admin.role == MemberRole.SUPER_ADMIN


@pytest.mark.parametrize("status", [MemberStatus.FROZEN, MemberStatus.DEPARTED])
def test_the_last_super_admin_cannot_be_frozen_or_departed_by_an_edit(super_admin, status):
    with pytest.raises(services.DirectoryError):
        services.change_status(super_admin, actor=None, status=status)
    super_admin.refresh_from_db()
    assert super_admin.status == MemberStatus.ACTIVE


def test_an_ordinary_member_can_change_role_and_the_history_names_the_actor(enterprise):
    actor = factories.UserFactory()
    member = factories.MemberFactory(enterprise=enterprise)
    services.change_role(member, actor=actor, role=MemberRole.ADMIN)
    member.refresh_from_db()
    assert member.role == MemberRole.ADMIN
    latest = member.history.latest()
    assert latest.history_user == actor
    assert latest.role == MemberRole.ADMIN


def test_a_manager_from_another_enterprise_is_refused(enterprise):
    member = factories.MemberFactory(enterprise=enterprise)
    stranger = factories.MemberFactory()
    with pytest.raises(services.DirectoryError) as refused:
        services.update_member(member, actor=None, manager=stranger)
    assert "belongs to another enterprise" in str(refused.value)


def test_a_department_from_another_enterprise_is_refused(enterprise):
    member = factories.MemberFactory(enterprise=enterprise)
    foreign_department = factories.DepartmentFactory()
    with pytest.raises(services.DirectoryError):
        services.update_member(member, actor=None, department=foreign_department)


@pytest.mark.parametrize("factory", factories.OWNED_RESOURCE_FACTORIES)
def test_an_owner_from_another_enterprise_is_refused(enterprise, factory):
    resource = factory.build(enterprise=enterprise, owner=factories.MemberFactory())
    with pytest.raises(ValidationError) as refused:
        resource.full_clean()
    assert "owner" in refused.value.message_dict


def test_a_department_cannot_become_its_own_descendant(enterprise):
    root = factories.DepartmentFactory(enterprise=enterprise)
    child = factories.DepartmentFactory(enterprise=enterprise, parent=root)
    grandchild = factories.DepartmentFactory(enterprise=enterprise, parent=child)
    root.parent = grandchild
    with pytest.raises(ValidationError):
        root.full_clean()


def test_a_department_tree_of_any_depth_lists_its_descendants(enterprise):
    parent = factories.DepartmentFactory(enterprise=enterprise)
    for _ in range(5):
        parent = factories.DepartmentFactory(enterprise=enterprise, parent=parent)
    root = parent.ancestors().first()
    assert root.descendants().count() == 5


def test_staff_see_only_the_enterprises_granted_to_them(enterprise, hr_user):
    factories.EnterpriseFactory(name="别家公司")
    from directory.models import Enterprise

    assert list(Enterprise.objects.visible_to(hr_user)) == [enterprise]


def test_a_loop_of_managers_is_refused(enterprise):
    boss = factories.MemberFactory(enterprise=enterprise)
    deputy = factories.MemberFactory(
        enterprise=enterprise, department=boss.department, manager=boss
    )
    with pytest.raises(services.DirectoryError) as refused:
        services.update_member(boss, actor=None, manager=deputy)
    assert "loop" in str(refused.value)


def test_two_top_level_departments_cannot_share_a_name(enterprise):
    factories.DepartmentFactory(enterprise=enterprise, name="总部")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.DepartmentFactory(enterprise=enterprise, name="总部")
