"""The demo logins: a person for each way into Exitdesk, with a known password.

`admin` (Django superuser), `hr`, `it` and `compliance` (staff granted the demo enterprise in that
role) log in to the admin; `manager` (a department head with reports) and `employee` (one of
their reports) are seeded members whose users take these names, and use the pages, as do
`superadmin` (the enterprise's super admin, who hands the role over as they leave) and
`backupadmin` (the backup admin, who can be named the new super admin or the custodian).

Staff logins have no enterprise code; the members' are stored as every member's login is,
`<name>@<code>` (`manager@demo`): typed whole, or `manager` with the enterprise code `demo`.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from directory.choices import MemberRole, MemberStatus, StaffRole
from directory.models import Department, Enterprise, Member
from directory.permissions import GROUP_NAMES, grant_access
from directory.services import member_username

from . import SeedError
from .names import seeded_username

ADMIN_URL = "http://127.0.0.1:8000/admin/"
SITE_URL = "http://127.0.0.1:8000/"
DEMO_PASSWORDS = {
    "admin": "exitdesk-admin",
    "hr": "exitdesk-hr",
    "it": "exitdesk-it",
    "compliance": "exitdesk-compliance",
    "manager": "exitdesk-manager",
    "employee": "exitdesk-employee",
    "superadmin": "exitdesk-superadmin",
    "backupadmin": "exitdesk-backupadmin",
}
# The staff logins, each granted the demo enterprise in the role of the same name.
STAFF_LOGINS = {"hr": StaffRole.HR, "it": StaffRole.IT, "compliance": StaffRole.COMPLIANCE}


@dataclass
class DemoLogin:
    username: str
    password: str
    who: str
    url: str


def ensure_demo_logins(enterprise: Enterprise) -> list[DemoLogin]:
    """The people a demo needs, created or repaired; safe to run any number of times."""
    admin = ensure_login_user("admin", is_staff=True, is_superuser=True)
    logins = [DemoLogin(admin.username, DEMO_PASSWORDS["admin"], "Django superuser", ADMIN_URL)]
    for username, role in STAFF_LOGINS.items():
        staff = ensure_login_user(username, is_staff=True, is_superuser=False)
        grant_access(user=staff, enterprise=enterprise, role=role)
        who = f"{GROUP_NAMES[role]} staff of {enterprise}"  # HR, IT, Compliance
        logins.append(DemoLogin(staff.username, DEMO_PASSWORDS[username], who, ADMIN_URL))
    manager, employee = pick_manager_and_employee(enterprise)
    claim_username(manager.user, "manager", enterprise=enterprise)
    claim_username(employee.user, "employee", enterprise=enterprise)
    reports = Member.objects.filter(manager=manager, status=MemberStatus.ACTIVE).count()
    logins += _admin_logins(enterprise, taken={manager.pk, employee.pk})
    return [
        *logins,
        DemoLogin(
            manager.user.username,
            DEMO_PASSWORDS["manager"],
            f"{manager} {manager.title}, manages {reports} active members",
            SITE_URL,
        ),
        DemoLogin(
            employee.user.username,
            DEMO_PASSWORDS["employee"],
            f"{employee} {employee.title}, reports to {manager.name}",
            SITE_URL,
        ),
    ]


def _admin_logins(enterprise: Enterprise, *, taken: set[int]) -> list[DemoLogin]:
    """`superadmin@code` and `backupadmin@code`: the enterprise's active super admin and backup
    admin, when it has them and they are not the manager or the employee already."""
    members = Member.objects.filter(enterprise=enterprise, status=MemberStatus.ACTIVE)
    people = (
        ("superadmin", members.super_admins().first(), "super admin"),
        (
            "backupadmin",
            members.filter(is_backup_admin=True).order_by("pk").first(),
            "backup admin",
        ),
    )
    logins = []
    for username, member, what in people:
        if member is None or member.pk in taken:
            continue
        claim_username(member.user, username, enterprise=enterprise)
        who = f"{member} {member.title}, the {what} of {enterprise}"
        logins.append(DemoLogin(member.user.username, DEMO_PASSWORDS[username], who, SITE_URL))
    return logins


def ensure_login_user(username: str, *, is_staff: bool, is_superuser: bool):
    User = get_user_model()
    user = User.objects.filter(username=username).first() or User(username=username)
    changed = user.pk is None
    for attribute, value in (("is_staff", is_staff), ("is_superuser", is_superuser),
                             ("is_active", True)):  # fmt: skip
        if getattr(user, attribute) != value:
            setattr(user, attribute, value)
            changed = True
    changed |= _give_demo_password(user, username)
    if changed:
        user.save()
    return user


def _give_demo_password(user, name: str) -> bool:
    """Set the login's demo password (DEMO_PASSWORDS[name]) if it has another; whether it changed.
    check_password first: re-hashing an unchanged password would rewrite the row on every run."""
    if user.check_password(DEMO_PASSWORDS[name]):
        return False
    user.set_password(DEMO_PASSWORDS[name])
    return True


def pick_manager_and_employee(enterprise: Enterprise) -> tuple[Member, Member]:
    """A department head with at least two active reports, and one plain member reporting to them.

    Keeps the current holders of the "manager"/"employee" logins when they still fit, so a second
    run changes nothing. Prefers a team lead of plain role (a line manager, not an admin).
    """
    departments = Department.objects.filter(enterprise=enterprise)
    head_ids = set(departments.filter(head__isnull=False).values_list("head_id", flat=True))
    parent_ids = set(departments.values_list("parent_id", flat=True))
    # Heads of departments without sub-departments: team leads, the everyday line managers.
    line_manager_ids = set(
        departments.filter(head__isnull=False)
        .exclude(pk__in=[pk for pk in parent_ids if pk is not None])
        .values_list("head_id", flat=True)
    )
    active = list(
        Member.objects.filter(enterprise=enterprise, status=MemberStatus.ACTIVE)
        .select_related("user")
        .order_by("employee_number")
    )
    by_pk = {member.pk: member for member in active}
    reports: dict[int, list[Member]] = {}
    for member in active:
        reports.setdefault(member.manager_id, []).append(member)

    def is_plain(member: Member) -> bool:
        return (
            member.role == MemberRole.MEMBER
            and not member.is_backup_admin
            and member.pk not in head_ids
        )

    def fits(manager: Member) -> bool:
        mine = reports.get(manager.pk, [])
        return manager.pk in head_ids and len(mine) >= 2 and any(map(is_plain, mine))

    current = next(
        (m for m in active if m.user.username == member_username(enterprise, "manager")), None
    )
    if current is None or not fits(current):
        candidates = [m for m in by_pk.values() if fits(m)]
        # Prefer a line manager of plain role (not an admin), then the lowest employee number.
        candidates.sort(
            key=lambda m: (
                m.role != MemberRole.MEMBER or m.is_backup_admin,
                m.pk not in line_manager_ids,
            )
        )
        if not candidates:
            raise SeedError(
                f"--demo-logins needs a department head of {enterprise} with at least two active "
                "reports; seed more members (e.g. --members 30)."
            )
        current = candidates[0]
    manager = current
    plain_reports = [m for m in reports[manager.pk] if is_plain(m)]
    employee = next(
        (m for m in plain_reports if m.user.username == member_username(enterprise, "employee")),
        plain_reports[0],
    )
    return manager, employee


def claim_username(user, name: str, *, enterprise: Enterprise) -> None:
    """Give a member's user the demo login `name@code` and the password of `name` (and take the
    login from whoever had it)."""
    username = member_username(enterprise, name)
    User = get_user_model()
    holder = User.objects.filter(username=username).exclude(pk=user.pk).first()
    if holder is not None:
        # Another member (of this or another enterprise) had this login: give it back its seeded
        # name and lock it again. A user who is no member is not ours to rename.
        member = Member.objects.filter(user=holder).select_related("enterprise").first()
        if member is None:
            raise SeedError(
                f"The username {username!r} belongs to a user who is not a member of any "
                "enterprise; rename that user to let --demo-logins use the name."
            )
        holder.username = seeded_username(member.enterprise.name, member.employee_number)
        holder.set_unusable_password()
        holder.save(update_fields=["username", "password"])
    changed = False
    if user.username != username:
        user.username = username
        changed = True
    if user.is_staff or user.is_superuser or not user.is_active:
        # A manager or an employee works in the plain web pages, not the admin.
        user.is_staff = user.is_superuser = False
        user.is_active = True
        changed = True
    changed |= _give_demo_password(user, name)
    if changed:
        user.save()
