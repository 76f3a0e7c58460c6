"""`manage.py seed_demo`: a believable enterprise, topped up without duplicates, demo logins."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.http import HttpRequest

from directory.choices import MemberRole, MemberStatus, StaffRole
from directory.demo import plan, seeder
from directory.models import (
    OWNED_RESOURCE_MODELS,
    CustomerGroup,
    Department,
    Enterprise,
    EnterpriseAccess,
    ExternalContact,
    Member,
)

DEFAULT_NAME = "示例科技有限公司"
HISTORY_MODELS = (Enterprise, Department, Member, *OWNED_RESOURCE_MODELS)


def log_in(username: str, password: str):
    """The user the login pages would let in (django-axes needs the request in authenticate())."""
    return authenticate(HttpRequest(), username=username, password=password)


def seed(*args):
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def snapshot():
    """Row counts of everything the command writes, history included."""
    counts = {model.__name__: model.objects.count() for model in HISTORY_MODELS}
    counts.update({f"history of {m.__name__}": m.history.count() for m in HISTORY_MODELS})
    counts["users"] = get_user_model().objects.count()
    counts["accesses"] = EnterpriseAccess.objects.count()
    return counts


def assert_directory_is_sound(enterprise, members):
    """The invariants every run must leave, whatever the size."""
    people = Member.objects.filter(enterprise=enterprise)
    assert people.count() == members
    numbers = list(people.values_list("employee_number", flat=True))
    assert len(set(numbers)) == members
    assert people.super_admins().count() == 1
    if members >= 3:
        backups = people.filter(is_backup_admin=True)
        assert backups.count() == 1
        assert backups.get().role == MemberRole.ADMIN

    departments = {d.pk: d for d in Department.objects.filter(enterprise=enterprise)}
    roots = [d for d in departments.values() if d.parent_id is None]
    assert [root.name for root in roots] == [enterprise.name]
    for department in departments.values():
        head = people.get(pk=department.head_id)  # every department has a head of its own
        assert head.department_id == department.pk
    head_of = {d.head_id: d for d in departments.values()}
    for member in people.select_related("manager"):
        if member.role == MemberRole.SUPER_ADMIN:
            assert member.manager is None
            continue
        assert member.manager is not None
        assert member.manager.enterprise_id == enterprise.pk
        assert member.manager_id != member.pk
        if member.pk in head_of:  # a head reports to the head of the department above
            parent = departments[head_of[member.pk].parent_id]
            assert member.manager_id == parent.head_id
        else:  # everyone else to the head of their own department
            assert member.manager_id == departments[member.department_id].head_id

    users = get_user_model().objects.filter(member__enterprise=enterprise)
    assert users.count() == members
    for model in OWNED_RESOURCE_MODELS:
        assert (
            not model.objects.exclude(enterprise=enterprise)
            .filter(owner__enterprise=enterprise)
            .exists()
        )
        assert (
            not model.objects.filter(enterprise=enterprise)
            .exclude(owner__enterprise=enterprise)
            .exists()
        )


def assert_history_complete():
    """Each row has exactly one "+" history row, written by nobody, for the seed."""
    for model in HISTORY_MODELS:
        history = model.history.all()
        assert history.count() == model.objects.count(), model.__name__
        kinds = set(history.values_list("history_type", "history_user", "history_change_reason"))
        assert kinds <= {("+", None, "seed_demo")}, model.__name__
        assert set(history.values_list("id", flat=True)) == set(
            model.objects.values_list("pk", flat=True)
        )


@pytest.mark.django_db
def test_seeds_a_believable_enterprise():
    output = seed("--members", "60")

    enterprise = Enterprise.objects.get()
    assert enterprise.name == DEFAULT_NAME
    assert enterprise.data_region == "CN"
    assert str(enterprise.time_zone) == "Asia/Shanghai"
    assert "added 60 members (E000001–E000060)" in output
    assert_directory_is_sound(enterprise, 60)

    members = Member.objects.filter(enterprise=enterprise)
    assert members.filter(status=MemberStatus.ACTIVE).count() == 60
    assert members.get(role=MemberRole.SUPER_ADMIN).title == "总经理"
    assert members.filter(role=MemberRole.ADMIN).count() >= 2  # the backup admin and HR's head
    depth = max(d.tree_depth for d in Department.objects.with_tree_fields())
    assert depth >= 2  # 公司 → 中心 → 部门
    assert 4 <= Department.objects.count() <= 8
    assert {"销售中心", "研发中心", "华东销售部", "人力资源部"} <= set(
        Department.objects.values_list("name", flat=True)
    )
    # Chinese names, 2 to 4 characters.
    assert all(
        2 <= len(name) <= 4 and not name.isascii()
        for name in members.values_list("name", flat=True)
    )
    for user in get_user_model().objects.all():
        assert not user.has_usable_password()

    director = members.get(title="销售总监")
    assert director.department.name == "销售中心"
    assert CustomerGroup.objects.filter(owner=director).count() == 5
    assert ExternalContact.objects.filter(owner=director).count() >= 20
    # Most customers belong to sales.
    sales_contacts = ExternalContact.objects.filter(owner__title__contains="销售").count()
    assert sales_contacts > ExternalContact.objects.count() / 2
    assert_history_complete()


@pytest.mark.django_db
def test_top_up_adds_only_what_is_missing():
    seed("--members", "30")
    before = {m.pk: (m.name, m.manager_id, m.department_id) for m in Member.objects.all()}
    director_groups = set(CustomerGroup.objects.values_list("pk", flat=True))

    output = seed("--members", "75")

    enterprise = Enterprise.objects.get()
    assert "Topped up" in output and "added 45 members (E000031–E000075)" in output
    assert_directory_is_sound(enterprise, 75)
    assert sorted(Member.objects.values_list("employee_number", flat=True)) == [
        f"E{n:06d}" for n in range(1, 76)
    ]
    # What existed is untouched.
    for member in Member.objects.filter(pk__in=before):
        assert (member.name, member.manager_id, member.department_id) == before[member.pk]
    director = Member.objects.get(title="销售总监")
    assert set(CustomerGroup.objects.filter(owner=director).values_list("pk", flat=True)) <= (
        director_groups
    )
    assert CustomerGroup.objects.filter(owner=director).count() == 5
    assert Department.objects.count() == 8
    assert_history_complete()


@pytest.mark.django_db
def test_same_or_smaller_n_changes_nothing():
    seed("--members", "40")
    before = snapshot()

    assert "nothing to add" in seed("--members", "40")
    assert "nothing to add" in seed("--members", "12")

    assert snapshot() == before


@pytest.mark.django_db
def test_runs_are_reproducible():
    def names():
        with transaction.atomic():
            seed("--members", "25")
            result = list(Member.objects.values_list("employee_number", "name", "title"))
            result += list(ExternalContact.objects.values_list("name", "company", "phone"))
            transaction.set_rollback(True)
        return result

    first = names()
    assert Member.objects.count() == 0
    assert names() == first


@pytest.mark.django_db
def test_demo_logins():
    output = seed("--members", "60", "--demo-logins")
    enterprise = Enterprise.objects.get()

    admin = log_in("admin", "exitdesk-admin")
    assert admin is not None and admin.is_staff and admin.is_superuser

    hr = log_in("hr", "exitdesk-hr")
    assert hr is not None and hr.is_staff and not hr.is_superuser
    access = EnterpriseAccess.objects.filter(user=hr, enterprise=enterprise, role=StaffRole.HR)
    assert access.exists()
    assert hr.groups.filter(name="HR").exists()

    manager_user = log_in("manager@demo", "exitdesk-manager")
    assert manager_user is not None and not manager_user.is_staff
    manager = manager_user.member
    assert manager.enterprise == enterprise
    assert Department.objects.filter(head=manager).exists()
    assert manager.reports.filter(status=MemberStatus.ACTIVE).count() >= 2

    employee_user = log_in("employee@demo", "exitdesk-employee")
    assert employee_user is not None and not employee_user.is_staff
    employee = employee_user.member
    assert employee.manager == manager
    assert employee.role == MemberRole.MEMBER and employee.status == MemberStatus.ACTIVE

    assert "http://127.0.0.1:8000/admin/" in output and "http://127.0.0.1:8000/ " in output
    for password in ("exitdesk-admin", "exitdesk-hr", "exitdesk-manager", "exitdesk-employee"):
        assert password in output
    # Members' logins name the enterprise (name@code); staff logins have no code.
    assert "manager@demo" in output and "employee@demo" in output
    assert manager_user.username == "manager@demo" and hr.username == "hr"

    # Twice: no error, same people, nothing added.
    before = snapshot()
    seed("--members", "60", "--demo-logins")
    assert snapshot() == before
    assert log_in("manager@demo", "exitdesk-manager") == manager_user
    assert log_in("employee@demo", "exitdesk-employee") == employee_user


@pytest.mark.django_db
def test_demo_logins_include_it_and_compliance_staff_of_the_demo_enterprise():
    # when
    output = seed("--members", "30", "--demo-logins")
    # then each is staff granted the demo enterprise in their role, and logs in to the admin
    enterprise = Enterprise.objects.get()
    lines = output.splitlines()
    for username, password, role, group in [
        ("it", "exitdesk-it", StaffRole.IT, "IT"),
        ("compliance", "exitdesk-compliance", StaffRole.COMPLIANCE, "Compliance"),
    ]:
        user = get_user_model().objects.get(username=username)
        assert user.check_password(password)
        assert user.is_active and user.is_staff and not user.is_superuser
        grants = EnterpriseAccess.objects.filter(user=user)
        assert list(grants.values_list("enterprise", "role")) == [(enterprise.pk, role)]
        assert list(user.groups.values_list("name", flat=True)) == [group]
        (line,) = [line for line in lines if line.split()[:1] == [username]]
        assert password in line and "http://127.0.0.1:8000/admin/" in line


@pytest.mark.django_db
def test_each_enterprise_has_its_own_demo_member_logins():
    seed("--members", "40", "--demo-logins")
    first_manager = get_user_model().objects.get(username="manager@demo")

    output = seed("--members", "40", "--enterprise", "Acme 测试", "--demo-logins")

    acme = Enterprise.objects.get(name="Acme 测试")
    assert_directory_is_sound(acme, 40)
    manager = log_in(f"manager@{acme.code}", "exitdesk-manager")
    assert manager.member.enterprise == acme
    assert f"manager@{acme.code}" in output
    # The first enterprise's manager keeps their login: the names are per enterprise.
    assert log_in("manager@demo", "exitdesk-manager") == first_manager
    assert first_manager.member.enterprise.code == "demo"
    assert EnterpriseAccess.objects.filter(user__username="hr").count() == 2


@pytest.mark.django_db
def test_smallest_enterprises():
    seed("--members", "1")
    enterprise = Enterprise.objects.get()
    assert_directory_is_sound(enterprise, 1)

    seed("--members", "3")  # grows a 销售中心 and a 综合管理中心 with the backup admin
    assert_directory_is_sound(enterprise, 3)
    director = Member.objects.get(title="销售总监")
    assert CustomerGroup.objects.filter(owner=director).count() == 5
    assert_history_complete()


@pytest.mark.django_db
def test_demo_logins_need_a_manager_with_reports():
    with pytest.raises(CommandError, match="at least two active"):
        seed("--members", "2", "--demo-logins")
    assert Enterprise.objects.count() == 0  # one transaction: nothing half-written


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--members", "0"), "at least 1"),
        (("--members", "-5"), "at least 1"),
        (("--members", "2000000"), "at most"),
        (("--members", "10", "--enterprise", "  "), "must not be empty"),
        (("--members", "10", "--enterprise", "x" * 201), "at most 200"),
    ],
)
def test_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        seed(*args)
    assert Enterprise.objects.count() == 0


@pytest.mark.django_db
def test_members_is_required():
    with pytest.raises(CommandError):
        seed()


@pytest.mark.django_db
def test_a_failure_leaves_nothing(monkeypatch):
    def fail(self, new_members):
        raise RuntimeError("disk full")

    monkeypatch.setattr(seeder.Seeder, "create_resources", fail)
    with pytest.raises(RuntimeError):
        seed("--members", "30")
    assert snapshot() == {key: 0 for key in snapshot()}


def test_the_department_plan_only_grows():
    small = plan.plan_departments("公司", 40)
    large = plan.plan_departments("公司", 3000)
    assert [p.key for p in large[:40]] == [p.key for p in small]
    keys = [p.key for p in large]
    assert len(set(keys)) == len(keys)
    assert max(len(key) for key in keys) == 3  # 中心 → 部门 → 小组 below the company
    by_key = {p.key: p for p in large}
    assert all(p.key[:-1] in by_key for p in large if p.key)  # every parent is planned
    assert plan.department_count(20_000) == 2_000


@pytest.mark.django_db
def test_demo_logins_include_the_super_admin_and_the_backup_admin():
    # when
    output = seed("--members", "30", "--demo-logins")
    # then the enterprise's super admin and backup admin log in to the pages, so that a newcomer
    # can walk the super-admin handover (超级管理员移交) from both sides
    super_admin = log_in("superadmin@demo", "exitdesk-superadmin").member
    backup_admin = log_in("backupadmin@demo", "exitdesk-backupadmin").member
    assert super_admin.is_active_super_admin and not super_admin.user.is_staff
    assert backup_admin.is_backup_admin and backup_admin.status == MemberStatus.ACTIVE
    assert "exitdesk-superadmin" in output and "exitdesk-backupadmin" in output
    # and a second run changes nothing
    before = snapshot()
    seed("--members", "30", "--demo-logins")
    assert snapshot() == before
