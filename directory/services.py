"""Writes to the directory that carry a rule across rows.

The rule kept here (D-5): an enterprise that has an active super admin never loses it by an edit.
The database allows at most one (a partial unique constraint); the check below refuses the change
that would leave none, before the database sees it, with a message a person understands. Handing
the role to someone else is the super-admin handover, which swaps both rows in one transaction.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .choices import MemberRole, MemberStatus
from .models import Member


class DirectoryError(ValidationError):
    """A directory change was refused; the message says why."""


def super_admin_change_error(member: Member) -> str | None:
    """Why saving `member` as it is would leave its enterprise without a super admin, or None."""
    if member.pk is None or member.is_active_super_admin:
        return None
    was_active_super_admin = Member.objects.filter(pk=member.pk).super_admins().exists()
    if not was_active_super_admin:
        return None
    return _(
        "%(name)s is the enterprise's only active super admin. Hand the super admin role to "
        "someone else first; an enterprise can never be left without one."
    ) % {"name": member.name}


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
