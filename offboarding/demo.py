"""Demo exits for `manage.py seed_demo --demo-logins`: something waits for each demo login.

Every exit is opened and moved through the services and the workflow's doors, as people would:

- a report of `manager@demo` asks to leave: their approval waits for the manager;
- a report of `superadmin@demo` asks to leave: it waits for the super admin;
- another member's exit has passed their manager: it waits for HR's approval step;
- a colleague of `employee@demo` is in handover, their resources handed over (离职继承) to the
  employee (customer groups to `backupadmin@demo`): HR's and IT's checklists and reviews wait,
  and the successors see what comes to them;
- (compliance/demo.py adds a legal hold on that colleague that ended yesterday and that nobody
  released: Compliance's item.)

Run once per enterprise: an enterprise that has any exit already gets none (a second run adds
nothing).
"""

from datetime import timedelta

from django.contrib.auth import get_user_model

from directory.choices import MemberRole, MemberStatus
from directory.models import Department, Member
from directory.services import member_username

from . import inheritance, rules, services, workflow
from .choices import ExitKind, ExitState, ResourceType
from .models import Exit


def seed_exits(enterprise) -> list[str]:
    """The demo exits of `enterprise` (see the module docstring); what was done, one line each."""
    if Exit.objects.filter(enterprise=enterprise).exists():
        return []
    users = get_user_model().objects
    hr = users.filter(username="hr").first()
    if hr is None:
        return []
    people = {
        name: Member.objects.filter(user__username=member_username(enterprise, name)).first()
        for name in ("manager", "employee", "superadmin", "backupadmin")
    }
    taken = {member.pk for member in people.values() if member is not None}
    heads = set(
        Department.objects.filter(enterprise=enterprise, head__isnull=False).values_list(
            "head_id", flat=True
        )
    )
    plain = (
        Member.objects.filter(
            enterprise=enterprise,
            status=MemberStatus.ACTIVE,
            role=MemberRole.MEMBER,
            is_backup_admin=False,
        )
        .exclude(pk__in=taken | heads)
        .select_related("enterprise", "manager__user")
        .order_by("employee_number")
    )
    today = services.local_today(enterprise)
    done: list[str] = []

    def leave(member, *, days: int, reason: str, successor=None) -> Exit:
        taken.add(member.pk)
        exit_case = services.open_exit(
            member=member,
            kind=ExitKind.VOLUNTARY,
            last_working_day=today + timedelta(days=days),
            reason=reason,
            successor=successor,
            actor=member.user,
        )
        return workflow.submit(exit_case, actor=member.user)

    def approve_until_hr(exit_case) -> Exit:
        """Approve the steps a member decides; stop at the first step HR decides."""
        while exit_case.state == ExitState.PENDING_APPROVAL:
            step = rules.current_approval(exit_case)
            if step.assignee is None or step.assignee.status != MemberStatus.ACTIVE:
                return exit_case
            exit_case = workflow.approve(exit_case, actor=step.assignee.user, comment="同意")
        return exit_case

    manager, employee = people["manager"], people["employee"]
    if manager is not None:
        report = plain.filter(manager=manager).exclude(pk__in=taken).first()
        if report is not None:
            leave(report, days=21, reason="个人发展")
            done.append(f"{report.name}: waits for the approval of {manager.name} (manager@demo)")
    super_admin = people["superadmin"]
    if super_admin is not None:
        report = (
            Member.objects.filter(
                enterprise=enterprise, manager=super_admin, status=MemberStatus.ACTIVE
            )
            .exclude(pk__in=taken)
            .exclude(role=MemberRole.SUPER_ADMIN)
            .order_by("employee_number")
            .first()
        )
        if report is not None:
            leave(report, days=30, reason="家庭原因")
            done.append(f"{report.name}: waits for the approval of {super_admin.name}")
    member = plain.exclude(pk__in=taken).exclude(manager__isnull=True).first()
    if member is not None:
        approve_until_hr(leave(member, days=14, reason="合同到期不续签"))
        done.append(f"{member.name}: waits for HR's approval step (hr)")
    if employee is not None:
        colleague = plain.exclude(pk__in=taken).filter(external_contacts__isnull=False).first()
        if colleague is not None:
            exit_case = approve_until_hr(
                leave(colleague, days=3, reason="转岗至关联公司", successor=employee)
            )
            while exit_case.state == ExitState.PENDING_APPROVAL:
                exit_case = workflow.approve(exit_case, actor=hr, comment="同意")
            backup = people["backupadmin"]
            by_type = {ResourceType.CUSTOMER_GROUP: backup} if backup is not None else None
            inheritance.inherit(exit_case, actor=hr, successor=employee, successors_by_type=by_type)
            done.append(
                f"{colleague.name}: in handover, resources handed to {employee.name} "
                "(employee@demo); HR's and IT's checklists and reviews wait (hr, it)"
            )
    return done
