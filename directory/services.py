"""Writes to the directory that carry a rule across rows.

The rule kept here (D-5): an enterprise that has an active super admin never loses it by an edit
(`Member.super_admin_change_error`, run by `full_clean`). Handing the role to someone else is the
super-admin handover, which swaps both rows in one transaction.

A member's status and role change only through the exit workflow and the handover (S-2): they call
`update_member`; the admin shows both read-only.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .choices import MemberRole, MemberStatus
from .models import Member


class DirectoryError(ValidationError):
    """A directory change was refused; the message says why."""


@transaction.atomic
def update_member(member: Member, *, actor, **changes) -> Member:
    """Change fields of a member, keeping the directory's invariants.

    Locks the row, applies `changes`, validates (same-enterprise links, the super-admin rule,
    the constraints) and saves with `actor` in the history. Raises DirectoryError, changing nothing.
    """
    locked = Member.objects.select_for_update().get(pk=member.pk)
    for field, value in changes.items():
        setattr(locked, field, value)
    try:
        locked.full_clean()
    except ValidationError as error:
        raise DirectoryError(error.messages) from error
    locked._history_user = actor
    locked.save()
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
