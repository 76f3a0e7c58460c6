"""Writes to the directory that carry a rule across rows.

The rule kept here (D-5): an enterprise that has an active super admin never loses it by an edit
(`Member.super_admin_change_error`, run by `full_clean`). Handing the role to someone else is the
super-admin handover, which swaps both rows in one transaction.

A member's status and role change only through the exit workflow and the handover (S-2): they call
`update_member`; the admin shows both read-only.

Audit (C-7). A change that can weaken a guarantee is an event of the enterprise's audit trail,
written in the same transaction as the save, with the values before and after: an enterprise's
settings (`change_enterprise`: the policies, windows and periods, the contact limit, the erasure
mode, the home data region and time zone) and a member's data region (`update_member`: it decides
whether an export of their records crosses a border). The trail lives in `compliance.audit`,
which builds on the directory: the directory cannot import it. The compliance app connects it here
when it is ready (`connect_audit_trail`, called by ComplianceConfig.ready); these doors reach it
through `audit_trail()`. Lock order as every door's (offboarding/services.py): the enterprise's
audit chain first, then the rows.
"""

from datetime import timedelta
from typing import Protocol

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils.duration import duration_string
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from .choices import MemberRole, MemberStatus
from .models import Enterprise, Member

# The enterprise's settings whose change is an audit event: each can loosen what the workflow, the
# handover or compliance guarantees (a longer undo window, a longer emergency window, another
# erasure mode, another home region for exports…). The name is not among them.
ENTERPRISE_SETTINGS = (
    "data_region",
    "time_zone",
    "undo_window",
    "customer_acceptance_period",
    "customer_limit_per_member",
    "handover_policy",
    "handover_grace_period",
    "erasure_mode",
)
# A member's fields whose change is an audit event.
MEMBER_AUDITED_FIELDS = ("data_region",)


class DirectoryError(ValidationError):
    """A directory change was refused; the message says why."""


class AuditTrail(Protocol):
    """What the directory's doors need of the audit trail (compliance.audit connects it)."""

    def lock(self, enterprise_id: int) -> None:
        """Lock the enterprise's chain, first; raise DirectoryError if it takes no event."""

    def record(self, enterprise_id: int, *, actor, action: str, object_type: str, **event):
        """Append one event in the caller's transaction."""

    def record_many(self, enterprise_id: int, events: list[dict], *, actor) -> None:
        """Append `events` (each the keyword arguments of `record`), in order, in the caller's
        transaction: one lock and one insert whatever their number (an import)."""


_audit_trail: AuditTrail | None = None


def connect_audit_trail(trail: AuditTrail) -> None:
    """Called once by the compliance app when it is ready (see the module docstring)."""
    global _audit_trail
    _audit_trail = trail


def audit_trail() -> AuditTrail:
    if _audit_trail is None:  # a change that must be audited is never saved unaudited
        raise ImproperlyConfigured(
            "No audit trail is connected to the directory: the compliance app must be installed."
        )
    return _audit_trail


def audit_value(value):
    """A setting's value as the audit event spells it: durations as Django shows them
    ("7 00:00:00"), time zones by name, choices by their stored value."""
    if isinstance(value, timedelta):
        return duration_string(value)
    if hasattr(value, "key"):  # a ZoneInfo
        return value.key
    return value


def _values(row, fields) -> dict:
    return {name: audit_value(getattr(row, name)) for name in fields}


def _changed(before: dict, after: dict) -> dict:
    """{"before": {…}, "after": {…}} of the fields whose value changed, or {} for none."""
    names = [name for name in before if before[name] != after[name]]
    if not names:
        return {}
    return {
        "before": {name: before[name] for name in names},
        "after": {name: after[name] for name in names},
    }


@transaction.atomic
def update_member(member: Member, *, actor, **changes) -> Member:
    """Change fields of a member, keeping the directory's invariants.

    Locks the row, applies `changes`, validates (same-enterprise links, the super-admin rule,
    the constraints) and saves with `actor` in the history. A changed data region is an audit
    event ("member_data_region_changed", before and after), the enterprise's audit chain locked
    before the row. Raises DirectoryError, changing nothing.
    """
    audited = [name for name in MEMBER_AUDITED_FIELDS if name in changes]
    if audited:
        audit_trail().lock(member.enterprise_id)
    locked = Member.objects.select_for_update().get(pk=member.pk)
    before = _values(locked, audited)
    for field, value in changes.items():
        setattr(locked, field, value)
    try:
        locked.full_clean()
    except ValidationError as error:
        raise DirectoryError(error.messages) from error
    locked._history_user = actor
    locked.save()
    changed = _changed(before, _values(locked, audited))
    if changed:
        audit_trail().record(
            locked.enterprise_id,
            actor=actor,
            action="member_data_region_changed",
            object_type="member",
            object_id=locked.pk,
            member_id=locked.pk,
            data=changed,
        )
    return locked


@transaction.atomic
def change_enterprise(enterprise: Enterprise, *, actor, **changes) -> Enterprise:
    """Change an enterprise's name or settings: the one door for them (the admin's change page).

    Preconditions: `actor` may change this enterprise (`directory.change_enterprise` on it: HR of
    the enterprise, or the operator); None is the system. Locks the enterprise's audit chain, then
    its row; applies `changes`, validates (fields and constraints) and saves with `actor` in the
    history. Side effect: when a setting of ENTERPRISE_SETTINGS changed, one audit event
    ("enterprise_settings_changed") with the changed settings before and after; saving the values
    the row holds writes none. Raises DirectoryError, changing nothing.
    """
    if actor is not None and not actor.has_perm("directory.change_enterprise", enterprise):
        raise DirectoryError(_("You may not change this enterprise's settings."))
    audit_trail().lock(enterprise.pk)
    locked = Enterprise.objects.select_for_update(no_key=True).get(pk=enterprise.pk)
    if all(getattr(locked, field) == value for field, value in changes.items()):
        return locked  # nothing to change: no save, no history row, no event
    before = _values(locked, ENTERPRISE_SETTINGS)
    for field, value in changes.items():
        setattr(locked, field, value)
    try:
        locked.full_clean()
    except ValidationError as error:
        raise DirectoryError(error.messages) from error
    locked._history_user = actor
    locked.save()
    changed = _changed(before, _values(locked, ENTERPRISE_SETTINGS))
    if changed:
        audit_trail().record(
            locked.pk,
            actor=actor,
            action="enterprise_settings_changed",
            object_type="enterprise",
            object_id=locked.pk,
            data=changed,
        )
    return locked


@transaction.atomic
def pass_super_admin(*, from_member: Member, to_member: Member, actor, **from_changes) -> Member:
    """The enterprise's super admin role passes from one member to another, in one transaction:
    the only way the super admin changes hands (D-5). Returns the new super admin.

    Locks both rows (in id order, so that two passes at once cannot deadlock), applies
    `from_changes` to the leaving one (another role, or a status other than active: they must stop
    being the active super admin), then makes `to_member` the active super admin (no longer the
    backup admin). The database allows one active super admin per enterprise: the leaving row is
    saved first. Raises DirectoryError, changing nothing.
    """
    rows = {
        row.pk: row
        for row in Member.objects.select_for_update()
        .filter(pk__in=[from_member.pk, to_member.pk])
        .order_by("pk")
    }
    leaving, arriving = rows[from_member.pk], rows[to_member.pk]
    if not leaving.is_active_super_admin:
        raise DirectoryError(
            _("%(name)s is not the enterprise's active super admin.") % {"name": leaving.name}
        )
    if arriving.pk == leaving.pk or arriving.enterprise_id != leaving.enterprise_id:
        raise DirectoryError(_("The new super admin must be another member of the enterprise."))
    if arriving.status != MemberStatus.ACTIVE:
        raise DirectoryError(
            _("%(name)s is not active: only an active member can become the super admin.")
            % {"name": arriving.name}
        )
    for field, value in from_changes.items():
        setattr(leaving, field, value)
    if leaving.is_active_super_admin:
        raise DirectoryError(_("The leaving super admin must give up the role."))
    try:
        # Not full_clean(): its rule "never leave the enterprise without its super admin" is what
        # this function keeps, by promoting `arriving` in the same transaction.
        leaving.clean_fields()
        leaving.validate_constraints()
    except ValidationError as error:
        raise DirectoryError(error.messages) from error
    leaving._history_user = actor
    leaving.save()
    return update_member(arriving, actor=actor, role=MemberRole.SUPER_ADMIN, is_backup_admin=False)


def change_role(member: Member, *, actor, role: MemberRole) -> Member:
    return update_member(member, actor=actor, role=role)


def change_status(member: Member, *, actor, status: MemberStatus) -> Member:
    return update_member(member, actor=actor, status=status)


def member_username(enterprise, login: str) -> str:
    """The stored username of a member's login: `login@code`, so that two enterprises may each
    have a zhang.wei (usernames are unique per enterprise). Staff logins, which may be granted
    several enterprises, have no code."""
    return f"{login.strip().lower()}@{enterprise.code}"


def username_taken(username: str) -> bool:
    return get_user_model().objects.filter(username__iexact=username).exists()


@transaction.atomic
def create_member(member: Member, *, username: str, email: str = "", actor) -> Member:
    """Save a new `member` together with the login it needs (no password yet: it is set by the
    member through the password reset flow, or by an operator)."""
    if username_taken(username):
        raise DirectoryError(_("This username is already taken."))
    member.user = get_user_model().objects.create_user(username=username, email=email)
    member._history_user = actor
    member.save()
    return member


@transaction.atomic
def create_members(members: list[Member], *, logins: list[tuple[str, str]], actor) -> list[Member]:
    """Save many new members at once, each with the login it needs: `logins` gives, in the same
    order, each one's (username, email). The set-based `create_member`: a few queries whatever
    their number. As there, no login gets a usable password (the member sets it through an
    invitation or the password reset).

    `members` are unsaved rows of one enterprise; a member's `manager` may be another member of the
    list (they are inserted manager first, level by level, so that every row's "+" history row
    holds its final values). Refused (DirectoryError, nothing written): a username taken or given
    twice, an employee number used or given twice, a department or manager of another enterprise,
    a chain of managers within the list that loops, a second active super admin.
    """
    if len(members) != len(logins):
        raise ValueError("One login per member.")
    if not members:
        return []
    enterprise_id = members[0].enterprise_id
    usernames = [username for username, _email in logins]
    wanted = {username.lower() for username in usernames}
    if (
        len(wanted) != len(usernames)
        or get_user_model()
        .objects.annotate(lower_username=Lower("username"))
        .filter(lower_username__in=wanted)
        .exists()
    ):
        raise DirectoryError(_("This username is already taken."))
    numbers = [member.employee_number for member in members]
    if (
        len(set(numbers)) != len(numbers)
        or Member.objects.filter(enterprise_id=enterprise_id, employee_number__in=numbers).exists()
    ):
        raise DirectoryError(_("This employee number is already used in the enterprise."))
    new_ids = {id(member) for member in members}
    for member in members:
        if member.enterprise_id != enterprise_id:
            raise DirectoryError(_("The members must be of one enterprise."))
        for related in (member.department, member.manager):
            if related is not None and related.enterprise_id != enterprise_id:
                raise DirectoryError(
                    _("%(object)s belongs to another enterprise.") % {"object": related}
                )
        if member.is_active_super_admin:
            if sum(m.is_active_super_admin for m in members) > 1 or (
                Member.objects.filter(enterprise_id=enterprise_id).super_admins().exists()
            ):
                raise DirectoryError(_("The enterprise already has an active super admin."))
        try:
            member.clean_fields(exclude=["user", "enterprise", "department", "manager"])
        except ValidationError as error:
            raise DirectoryError(error.messages) from error

    User = get_user_model()
    users = [
        User(username=username, email=email, password=make_password(None))
        for username, email in logins
    ]
    User.objects.bulk_create(users)
    for member, user in zip(members, users, strict=True):
        member.user = user
    # Managers first: a level is the members whose manager is saved already (or who have none).
    waiting = list(members)
    while waiting:
        level = [m for m in waiting if not (id(m.manager) in new_ids and m.manager.pk is None)]
        if not level:
            raise DirectoryError(_("These members' managers make a loop."))
        bulk_create_with_history(level, Member, default_user=actor)
        placed = {id(m) for m in level}
        waiting = [m for m in waiting if id(m) not in placed]
    return members
