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
