"""The first run (`manage.py bootstrap_enterprise`): an enterprise, its first admins and its staff.

`plan_first_run(values)` reads what the operator gave (flags or environment, already merged by the
command) and checks all of it against the database, collecting every problem; `run_first_run(plan)`
writes. The command calls both in one transaction, the enterprise's row locked first: a plan with
problems is refused whole and nothing is written.

What it creates, when the enterprise (found by its code) does not exist yet:

- the enterprise, with its name, code, time zone and home data region;
- its root department, named after the enterprise (as the demo seed names it);
- its super admin and, if given, its backup admin (AB角, role admin), members of the root
  department, each with a login stored as `services.member_username(enterprise, login)` and made
  by `services.create_member`. Setting both here is the operator's first-run act, like the demo
  seed's: their history rows carry the reason "bootstrap_enterprise". Afterwards the super admin
  changes hands only through the handover, the backup admin only through the super admin's
  designation (/me/backup/);
- one audit event, "enterprise_bootstrapped", with the enterprise's settings, the super admin and
  the backup admins before (none) and after;
- the staff logins for HR (required), IT and Compliance (optional), each granted the enterprise in
  that role (`permissions.grant_access`). A staff login that exists already is reused (a staff user
  may work for several enterprises) when its e-mail address matches.

Run again, it changes nothing that exists: every value given is compared with what is stored, and
a different one is a problem naming its flag (the command never renames an enterprise, moves its
time zone or region, or changes who its admins are). What it may still add on a later run is
additive and said: a staff login or grant not there yet, a password for a login that has none.

Passwords come from the environment only (never the command line, which other users of the
machine can read). A password is set only on a login that has no usable one, and is checked by
the configured password validators first. A login without a password is created unusable; the
command says how its person gets one.
"""

import zoneinfo
from dataclasses import dataclass, field
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from . import services
from .choices import DataRegion, MemberRole, MemberStatus, StaffRole
from .models import ENTERPRISE_CODE, Department, Enterprise, EnterpriseAccess, Member
from .permissions import GROUP_NAMES, grant_access

CHANGE_REASON = "bootstrap_enterprise"  # the history reason of every row the first run writes
DEFAULT_TIME_ZONE = "Asia/Shanghai"
DEFAULT_DATA_REGION = DataRegion.CN


@dataclass(frozen=True)
class Option:
    """One input: its flag and the environment variable that gives it when the flag is absent."""

    flag: str
    env: str

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def __str__(self):
        return f"{self.flag} ({self.env})"


ENTERPRISE_OPTIONS = {
    "name": Option("--name", "EXITDESK_ENTERPRISE_NAME"),
    "code": Option("--code", "EXITDESK_ENTERPRISE_CODE"),
    "time_zone": Option("--time-zone", "EXITDESK_ENTERPRISE_TIME_ZONE"),
    "data_region": Option("--data-region", "EXITDESK_ENTERPRISE_DATA_REGION"),
}


@dataclass(frozen=True)
class Person:
    """The inputs of one admin member: which flags and which password variable."""

    key: str  # "super_admin" or "backup_admin"
    required: bool

    def option(self, part: str) -> Option:
        return Option(
            f"--{self.key.replace('_', '-')}-{part}", f"EXITDESK_{self.key.upper()}_{part.upper()}"
        )

    @property
    def password_env(self) -> str:
        return f"EXITDESK_{self.key.upper()}_PASSWORD"


SUPER_ADMIN = Person("super_admin", required=True)
BACKUP_ADMIN = Person("backup_admin", required=False)
PEOPLE = (SUPER_ADMIN, BACKUP_ADMIN)
PERSON_PARTS = ("number", "name", "email", "login")


@dataclass(frozen=True)
class Staff:
    """The inputs of one staff login: HR is required, IT and Compliance optional."""

    role: StaffRole
    required: bool

    def option(self, part: str) -> Option:
        return Option(f"--{self.role}-{part}", f"EXITDESK_{self.role.upper()}_{part.upper()}")

    @property
    def password_env(self) -> str:
        return f"EXITDESK_{self.role.upper()}_PASSWORD"


STAFF = (
    Staff(StaffRole.HR, required=True),
    Staff(StaffRole.IT, required=False),
    Staff(StaffRole.COMPLIANCE, required=False),
)
STAFF_PARTS = ("username", "email")


def all_options() -> list[Option]:
    """Every flag the command takes, with its environment variable (the README lists them)."""
    options = list(ENTERPRISE_OPTIONS.values())
    options += [person.option(part) for person in PEOPLE for part in PERSON_PARTS]
    options += [staff.option(part) for staff in STAFF for part in STAFF_PARTS]
    return options


def password_variables() -> list[str]:
    return [person.password_env for person in PEOPLE] + [staff.password_env for staff in STAFF]


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass
class AdminPlan:
    person: Person
    employee_number: str
    name: str
    email: str
    username: str  # stored: login@code
    password: str | None
    existing: Member | None = None


@dataclass
class StaffPlan:
    staff: Staff
    username: str
    email: str
    password: str | None
    existing: object | None = None  # the user, when the login exists


@dataclass
class FirstRun:
    """What the run will do, checked; `problems` lists every reason it cannot."""

    problems: list[str] = field(default_factory=list)
    enterprise: Enterprise | None = None  # existing (locked) or to create (unsaved)
    creating: bool = False
    admins: list[AdminPlan] = field(default_factory=list)
    staff: list[StaffPlan] = field(default_factory=list)


@cache
def known_time_zones() -> frozenset[str]:
    """The names an enterprise's time zone field takes (IANA's, as zoneinfo knows them)."""
    return frozenset(zoneinfo.available_timezones() - {"Factory"})


def _messages(error: ValidationError) -> str:
    return " ".join(error.messages)


def plan_first_run(values: dict[str, str | None], passwords: dict[str, str | None]) -> FirstRun:
    """Check every input against the rules and the database; nothing is written.

    `values` maps each option's dest (`Option.dest`) to its stripped value or None; `passwords`
    maps each password variable to its value or None. Call inside the transaction that will write,
    which this locks the existing enterprise's row in.
    """
    plan = FirstRun()
    problems = plan.problems

    def value(option: Option) -> str | None:
        return values.get(option.dest) or None

    def require(option: Option) -> str | None:
        given = value(option)
        if given is None:
            problems.append(_("%(option)s is required.") % {"option": option})
        return given

    # -- the enterprise -------------------------------------------------------------------------
    opts = ENTERPRISE_OPTIONS
    name, code = require(opts["name"]), require(opts["code"])
    time_zone, region = value(opts["time_zone"]), value(opts["data_region"])
    if region is not None:
        region = region.upper()
    existing = None
    if code is not None:
        code = code.lower()
        existing = Enterprise.objects.select_for_update().filter(code=code).first()
    if time_zone is not None and time_zone not in known_time_zones():
        problems.append(
            _("%(option)s: “%(value)s” is not a time zone (e.g. Asia/Shanghai, Europe/Berlin).")
            % {"option": opts["time_zone"], "value": time_zone}
        )
        time_zone = None
    if existing is None:
        plan.creating = True
        enterprise = Enterprise(
            name=name or "",
            code=code or "",
            time_zone=time_zone or DEFAULT_TIME_ZONE,
            data_region=region or DEFAULT_DATA_REGION,
        )
        checked = [f for f in ("name", "code", "data_region") if value(opts[f]) is not None]
        try:
            enterprise.clean_fields(
                exclude=[f.name for f in Enterprise._meta.fields if f.name not in checked]
            )
        except ValidationError as error:
            for field_name, messages in error.message_dict.items():
                problems.append(f"{opts[field_name]}: {' '.join(messages)}")
        if name and Enterprise.objects.filter(name=name).exists():
            problems.append(
                _("%(option)s: an enterprise named “%(name)s” exists already, with another code.")
                % {"option": opts["name"], "name": name}
            )
    else:
        enterprise = existing
        stored = {
            "name": existing.name,
            "time_zone": existing.time_zone.key,
            "data_region": existing.data_region,
        }
        given = {"name": name, "time_zone": time_zone, "data_region": region}
        for field_name, wanted in given.items():
            if wanted is not None and wanted != stored[field_name]:
                problems.append(
                    _(
                        "%(option)s: the enterprise %(code)s exists with “%(stored)s”, not "
                        "“%(given)s”; this command never changes an existing enterprise (its "
                        "admin page does)."
                    )
                    % {
                        "option": opts[field_name],
                        "code": code,
                        "stored": stored[field_name],
                        "given": wanted,
                    }
                )
    plan.enterprise = enterprise

    # -- its super admin and backup admin ------------------------------------------------------
    for person in PEOPLE:
        admin = _plan_admin(plan, person, values, passwords)
        if admin is not None:
            plan.admins.append(admin)
    if len(plan.admins) == 2:
        first, second = plan.admins
        if first.employee_number == second.employee_number:
            problems.append(
                _("%(option)s: the backup admin must be another member than the super admin.")
                % {"option": BACKUP_ADMIN.option("number")}
            )
        elif first.username == second.username:
            problems.append(
                _("%(option)s: the backup admin needs a login of their own.")
                % {"option": BACKUP_ADMIN.option("login")}
            )
    if not plan.creating:
        _check_existing_admins(plan)

    # -- the staff logins ------------------------------------------------------------------------
    for staff in STAFF:
        staff_plan = _plan_staff(plan, staff, values, passwords)
        if staff_plan is not None:
            plan.staff.append(staff_plan)
    _check_shared_staff_logins(plan)
    return plan


def _plan_admin(plan: FirstRun, person: Person, values, passwords) -> AdminPlan | None:
    problems = plan.problems
    given = {part: values.get(person.option(part).dest) or None for part in PERSON_PARTS}
    password = passwords.get(person.password_env) or None
    if not person.required and not any(given.values()) and password is None:
        return None  # no backup admin: the super admin designates one later
    for part in PERSON_PARTS:
        if given[part] is None:
            problems.append(_("%(option)s is required.") % {"option": person.option(part)})
    if None in given.values():
        return None
    login = given["login"].lower()
    username = services.member_username(plan.enterprise, login)
    member = Member(name=given["name"], employee_number=given["number"])
    checked = ("name", "employee_number")
    try:
        member.clean_fields(exclude=[f.name for f in Member._meta.fields if f.name not in checked])
    except ValidationError as error:
        for field_name, messages in error.message_dict.items():
            part = "name" if field_name == "name" else "number"
            problems.append(f"{person.option(part)}: {' '.join(messages)}")
    try:
        validate_email(given["email"])
    except ValidationError as error:
        problems.append(f"{person.option('email')}: {_messages(error)}")
    if "@" in login:
        problems.append(
            _(
                "%(option)s: a member's login has no “@”: it is stored as login@%(code)s, with the "
                "enterprise's code."
            )
            % {"option": person.option("login"), "code": plan.enterprise.code or "code"}
        )
    else:
        # A bad code is its own problem: the login is checked with a good one in its place.
        code_ok = _is_valid_code(plan.enterprise.code)
        problem = _username_problem(username if code_ok else f"{login}@code")
        if problem:
            problems.append(f"{person.option('login')}: {problem}")
    admin = AdminPlan(
        person=person,
        employee_number=given["number"],
        name=given["name"],
        email=given["email"],
        username=username,
        password=password,
    )
    if plan.creating and services.username_taken(username):
        problems.append(
            _("%(option)s: the login %(username)s is taken already.")
            % {"option": person.option("login"), "username": username}
        )
    if password is not None:
        user = get_user_model()(username=username, email=given["email"], first_name=given["name"])
        _check_password(problems, person.password_env, password, user)
    return admin


def _check_existing_admins(plan: FirstRun) -> None:
    """On an existing enterprise the admins given must be the ones it has: the command never
    changes who they are (the handover and the backup designation do)."""
    enterprise = plan.enterprise
    active = Member.objects.filter(enterprise=enterprise, status=MemberStatus.ACTIVE)
    holders = {
        SUPER_ADMIN: list(active.super_admins().select_related("user")),
        BACKUP_ADMIN: list(active.filter(is_backup_admin=True).select_related("user")),
    }
    doors = {
        SUPER_ADMIN: _("the super admin changes only through the super admin handover"),
        BACKUP_ADMIN: _("the super admin designates the backup admin at /me/backup/"),
    }
    for admin in plan.admins:
        person = admin.person
        current = next(
            (m for m in holders[person] if m.employee_number == admin.employee_number), None
        )
        if current is None:
            now = ", ".join(str(m) for m in holders[person]) or _("nobody")
            plan.problems.append(
                _(
                    "%(option)s: the enterprise %(code)s exists and its %(role)s is %(now)s, not "
                    "%(number)s; this command never changes it (%(door)s)."
                )
                % {
                    "option": person.option("number"),
                    "code": enterprise.code,
                    "role": _role_name(person),
                    "now": now,
                    "number": admin.employee_number,
                    "door": doors[person],
                }
            )
            continue
        admin.existing = current
        stored = {
            "name": current.name,
            "email": current.user.email,
            "login": current.user.username,
        }
        given = {"name": admin.name, "email": admin.email, "login": admin.username}
        for part, wanted in given.items():
            if part == "email" and wanted.lower() == stored[part].lower():
                continue
            if wanted != stored[part]:
                plan.problems.append(
                    _(
                        "%(option)s: %(member)s has “%(stored)s”, not “%(given)s”; this command "
                        "never changes an existing member (the member's admin page does)."
                    )
                    % {
                        "option": person.option(part),
                        "member": current,
                        "stored": stored[part],
                        "given": wanted,
                    }
                )


def _role_name(person: Person) -> str:
    return _("super admin") if person is SUPER_ADMIN else _("backup admin")


def _plan_staff(plan: FirstRun, staff: Staff, values, passwords) -> StaffPlan | None:
    problems = plan.problems
    username = values.get(staff.option("username").dest) or None
    email = values.get(staff.option("email").dest) or None
    password = passwords.get(staff.password_env) or None
    if not staff.required and username is None and email is None and password is None:
        return None
    for part, given in (("username", username), ("email", email)):
        if given is None:
            problems.append(_("%(option)s is required.") % {"option": staff.option(part)})
    if username is None or email is None:
        return None
    try:
        validate_email(email)
    except ValidationError as error:
        problems.append(f"{staff.option('email')}: {_messages(error)}")
    if "@" in username:
        problems.append(
            _(
                "%(option)s: a staff login has no “@” (logins with @code are members' logins of "
                "an enterprise)."
            )
            % {"option": staff.option("username")}
        )
    else:
        problem = _username_problem(username)
        if problem:
            problems.append(f"{staff.option('username')}: {problem}")
    staff_plan = StaffPlan(staff=staff, username=username, email=email, password=password)
    user = get_user_model().objects.filter(username__iexact=username).first()
    if user is not None:
        staff_plan.existing = user
        _check_existing_staff(plan, staff_plan, user)
    if password is not None:
        candidate = user or get_user_model()(username=username, email=email)
        _check_password(problems, staff.password_env, password, candidate)
    return staff_plan


def _check_existing_staff(plan: FirstRun, staff_plan: StaffPlan, user) -> None:
    """A staff login that exists is reused, never changed: it must be a staff login (no member's)
    that works, with the e-mail address given."""
    option = staff_plan.staff.option("username")
    try:
        member = user.member
    except ObjectDoesNotExist:
        member = None
    if user.username != staff_plan.username:
        plan.problems.append(
            _("%(option)s: the login exists as “%(username)s”; give it exactly so.")
            % {"option": option, "username": user.username}
        )
    elif member is not None:
        plan.problems.append(
            _("%(option)s: %(username)s is a member's login, not a staff login.")
            % {"option": option, "username": user.username}
        )
    elif not user.is_active:
        plan.problems.append(
            _("%(option)s: the login %(username)s exists but is deactivated.")
            % {"option": option, "username": user.username}
        )
    if user.email.lower() != staff_plan.email.lower():
        plan.problems.append(
            _(
                "%(option)s: the login %(username)s exists with the e-mail address “%(stored)s”, "
                "not “%(given)s”; this command never changes an existing login."
            )
            % {
                "option": staff_plan.staff.option("email"),
                "username": user.username,
                "stored": user.email,
                "given": staff_plan.email,
            }
        )


def _check_shared_staff_logins(plan: FirstRun) -> None:
    """One person may hold two roles (HR and Compliance, say) with one login: then the same
    e-mail address, and at most one password."""
    by_username: dict[str, list[StaffPlan]] = {}
    for staff_plan in plan.staff:
        by_username.setdefault(staff_plan.username.lower(), []).append(staff_plan)
    for shared in by_username.values():
        if len(shared) < 2:
            continue
        first, *others = shared
        for other in others:
            if other.email.lower() != first.email.lower():
                plan.problems.append(
                    _(
                        "%(option)s: the login %(username)s is given another e-mail address "
                        "for %(role)s."
                    )
                    % {
                        "option": other.staff.option("email"),
                        "username": other.username,
                        "role": GROUP_NAMES[first.staff.role],
                    }
                )
        passwords = {s.password for s in shared if s.password is not None}
        if len(passwords) > 1:
            plan.problems.append(
                _("%(variables)s give the one login %(username)s different passwords.")
                % {
                    "variables": ", ".join(s.staff.password_env for s in shared if s.password),
                    "username": first.username,
                }
            )


def _is_valid_code(code: str) -> bool:
    try:
        ENTERPRISE_CODE(code)
    except ValidationError:
        return False
    return True


def _username_problem(username: str) -> str | None:
    User = get_user_model()
    username_field = User._meta.get_field(User.USERNAME_FIELD)
    try:
        username_field.run_validators(username)
    except ValidationError as error:
        return _messages(error)
    if len(username) > username_field.max_length:
        return _("At most %(count)d characters.") % {"count": username_field.max_length}
    return None


def _check_password(problems: list[str], variable: str, password: str, user) -> None:
    """The configured password validators' verdict, under the variable's name (never the value)."""
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        problems.append(f"{variable}: {_messages(error)}")


# ---------------------------------------------------------------------------------------------
# Writing


@dataclass
class Outcome:
    """What the run did: one line per thing, and whether anything changed."""

    lines: list[str] = field(default_factory=list)
    changed: bool = False
    without_password: list[str] = field(default_factory=list)  # usernames

    def did(self, line: str) -> None:
        self.lines.append(line)
        self.changed = True

    def kept(self, line: str) -> None:
        self.lines.append(line)


@transaction.atomic
def run_first_run(plan: FirstRun, *, actor) -> Outcome:
    """Write what `plan` says (it has no problems). Preconditions: called in the transaction that
    planned it. Side effects: the rows of the module docstring, one audit event when the
    enterprise is created."""
    assert not plan.problems, "a plan with problems is never run"
    outcome = Outcome()
    enterprise = plan.enterprise
    if plan.creating:
        _create_enterprise(plan, outcome, actor=actor)
    else:
        outcome.kept(
            _(
                "The enterprise %(enterprise)s (code %(code)s, %(time_zone)s, %(region)s) exists "
                "already: left as it is."
            )
            % _enterprise_facts(enterprise)
        )
        for admin in plan.admins:
            outcome.kept(
                _("Its %(role)s %(member)s, login %(username)s: left as it is.")
                % {
                    "role": _role_name(admin.person),
                    "member": admin.existing,
                    "username": admin.username,
                }
            )
            _give_password(admin.existing.user, admin.password, admin.person.password_env, outcome)
    for staff_plan in plan.staff:
        _ensure_staff(enterprise, staff_plan, outcome)
    return outcome


def _enterprise_facts(enterprise: Enterprise) -> dict:
    return {
        "enterprise": enterprise.name,
        "code": enterprise.code,
        "time_zone": services.audit_value(enterprise.time_zone),
        "region": enterprise.data_region,
    }


def _create_enterprise(plan: FirstRun, outcome: Outcome, *, actor) -> None:
    enterprise = plan.enterprise
    enterprise._history_user = actor
    enterprise._change_reason = CHANGE_REASON
    enterprise.save()
    enterprise.refresh_from_db()  # the time zone as a ZoneInfo
    # Lock order as every door's: the enterprise's audit chain first, then the rows.
    services.audit_trail().lock(enterprise.pk)
    outcome.did(
        _("Created the enterprise %(enterprise)s (code %(code)s, %(time_zone)s, %(region)s).")
        % _enterprise_facts(enterprise)
    )
    root = Department(enterprise=enterprise, name=enterprise.name)
    root._history_user = actor
    root._change_reason = CHANGE_REASON
    root.save()
    outcome.did(_("Created its root department %(department)s.") % {"department": root.name})
    members = {}
    for admin in plan.admins:
        member = Member(
            enterprise=enterprise,
            name=admin.name,
            employee_number=admin.employee_number,
            department=root,
            role=MemberRole.SUPER_ADMIN if admin.person is SUPER_ADMIN else MemberRole.ADMIN,
            is_backup_admin=admin.person is BACKUP_ADMIN,
            data_region=enterprise.data_region,
        )
        member._change_reason = CHANGE_REASON
        services.create_member(member, username=admin.username, email=admin.email, actor=actor)
        members[admin.person] = member
        outcome.did(
            _("Created its %(role)s %(member)s, login %(username)s.")
            % {"role": _role_name(admin.person), "member": member, "username": admin.username}
        )
        _give_password(member.user, admin.password, admin.person.password_env, outcome)
    backup = members.get(BACKUP_ADMIN)
    services.audit_trail().record(
        enterprise.pk,
        actor=actor,
        action="enterprise_bootstrapped",
        object_type="enterprise",
        object_id=enterprise.pk,
        member_id=members[SUPER_ADMIN].pk,
        data={
            "code": enterprise.code,
            "settings": {
                name: services.audit_value(getattr(enterprise, name))
                for name in services.ENTERPRISE_SETTINGS
            },
            "root_department_id": root.pk,
            "super_admin_id": members[SUPER_ADMIN].pk,
            "old_backup_ids": [],
            "new_backup_ids": [backup.pk] if backup else [],
        },
    )


def _ensure_staff(enterprise: Enterprise, staff_plan: StaffPlan, outcome: Outcome) -> None:
    role_name = GROUP_NAMES[staff_plan.staff.role]
    facts = {"username": staff_plan.username, "role": role_name, "enterprise": enterprise.name}
    user = staff_plan.existing
    if user is None:
        # Two roles with one login: the first role's turn created it.
        user = get_user_model().objects.filter(username=staff_plan.username).first()
    if user is None:
        user = get_user_model().objects.create_user(
            username=staff_plan.username, email=staff_plan.email
        )
        outcome.did(_("Created the staff login %(username)s.") % facts)
    if EnterpriseAccess.objects.filter(
        user=user, enterprise=enterprise, role=staff_plan.staff.role
    ).exists():
        outcome.kept(
            _("%(username)s works on %(enterprise)s as %(role)s already: left as it is.") % facts
        )
    else:
        grant_access(user=user, enterprise=enterprise, role=staff_plan.staff.role)
        outcome.did(_("Granted %(username)s %(enterprise)s as %(role)s.") % facts)
    _give_password(user, staff_plan.password, staff_plan.staff.password_env, outcome)


def _give_password(user, password: str | None, variable: str, outcome: Outcome) -> None:
    """Set `password` on a login that has no usable one; a password set already is kept."""
    if user.has_usable_password():
        if password is not None:
            outcome.kept(
                _("%(username)s has a password already: kept (%(variable)s not used).")
                % {"username": user.username, "variable": variable}
            )
        return
    if password is None:
        if user.username not in outcome.without_password:
            outcome.without_password.append(user.username)
        return
    user.set_password(password)
    user.save(update_fields=["password"])
    if user.username in outcome.without_password:
        outcome.without_password.remove(user.username)
    outcome.did(
        _("Set the password of %(username)s from %(variable)s.")
        % {"username": user.username, "variable": variable}
    )
