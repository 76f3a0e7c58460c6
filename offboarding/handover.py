"""Admin handover (H-1 … H-3): the doors that change who administers an enterprise.

This step holds the emergency freeze (管理员账号被盗 → 立即冻结账号并启用备用管理员, H-3):

- `freeze_account`: one action freezes a compromised admin account — status `frozen`, login
  inactive, every session ended — and, when it is the super admin's, promotes the enterprise's
  backup admin to super admin in the same transaction (`directory.services.pass_super_admin`), so
  the enterprise is never without one. Freezing the super admin with no backup admin to promote is
  refused, with that reason. By HR of the enterprise (or a superuser).
- `unfreeze_account`: the new super admin (or a superuser) gives the account back: status active,
  the login as it was. A super admin frozen and replaced comes back as an admin: the enterprise has
  its super admin already.

Both write their `AccountFreeze` record and the member's history with the actor, in one
transaction; a refusal raises ExitRefused (its message is what a person reads) and changes nothing.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from directory import services as directory_services
from directory.choices import MemberRole, MemberStatus, StaffRole
from directory.models import Member
from directory.sessions import end_sessions
from directory.tenancy import grants_for

from .exceptions import ExitRefused
from .models import AccountFreeze


def check_freeze(member: Member, *, actor, reason: str) -> None:
    """Raise ExitRefused if `freeze_account` with these values would be refused; write nothing.
    The admin's form calls it to show the refusal on the form; the door calls it again, under the
    member's row lock."""
    if actor is None or not grants_for(actor).has_role(member.enterprise_id, (StaffRole.HR,)):
        raise ExitRefused(_("Only HR of the enterprise can freeze an admin account."))
    if not (reason or "").strip():
        raise ExitRefused(_("Say why the account is frozen: the record keeps it."), field="reason")
    if member.status != MemberStatus.ACTIVE:
        raise ExitRefused(
            _("%(name)s is %(status)s: only an active account can be frozen.")
            % {"name": member.name, "status": member.get_status_display()}
        )
    if member.role == MemberRole.MEMBER:
        raise ExitRefused(
            _(
                "%(name)s holds no admin role: a member's account leaves through an exit, "
                "not a freeze."
            )
            % {"name": member.name}
        )
    if member.is_active_super_admin:
        _backup_admin_of(member)


@transaction.atomic
def freeze_account(member: Member, *, actor, reason: str) -> AccountFreeze:
    """Freeze `member`'s admin account (see the module docstring). Returns the freeze record."""
    member = Member.objects.select_for_update().select_related("user").get(pk=member.pk)
    check_freeze(member, actor=actor, reason=reason)
    reason = reason.strip()
    user = member.user
    before = {
        "role": member.role,
        "is_backup_admin": member.is_backup_admin,
        "login_active": user.is_active,
    }
    promoted = None
    try:
        if member.is_active_super_admin:
            promoted = _backup_admin_of(member)
            directory_services.pass_super_admin(
                from_member=member,
                to_member=promoted,
                actor=actor,
                status=MemberStatus.FROZEN,
                role=MemberRole.ADMIN,
            )
        else:
            directory_services.update_member(member, actor=actor, status=MemberStatus.FROZEN)
        with transaction.atomic():
            freeze = AccountFreeze(
                enterprise_id=member.enterprise_id,
                member=member,
                reason=reason,
                frozen_by=actor,
                promoted=promoted,
                before=before,
            )
            freeze._history_user = actor
            freeze.save()
    except directory_services.DirectoryError as error:
        raise ExitRefused(" ".join(error.messages)) from error
    except IntegrityError as error:  # a freeze of the same account at the same moment
        raise ExitRefused(_("This account is frozen already.")) from error
    user.is_active = False
    user.save(update_fields=["is_active"])
    end_sessions(user)
    return freeze


def _backup_admin_of(member: Member) -> Member:
    backup = (
        Member.objects.filter(
            enterprise_id=member.enterprise_id, is_backup_admin=True, status=MemberStatus.ACTIVE
        )
        .exclude(pk=member.pk)
        .order_by("pk")
        .first()
    )
    if backup is None:
        raise ExitRefused(
            _(
                "%(name)s is the super admin and the enterprise has no active backup admin to take "
                "over: freezing the account would leave it without a super admin. Name a backup "
                "admin first."
            )
            % {"name": member.name}
        )
    return backup


@transaction.atomic
def unfreeze_account(freeze: AccountFreeze, *, actor) -> AccountFreeze:
    """Give a frozen account back, by the enterprise's super admin (or a superuser)."""
    freeze = AccountFreeze.objects.select_for_update().get(pk=freeze.pk)
    if freeze.unfrozen_at is not None:
        raise ExitRefused(_("This account was unfrozen already."))
    if not may_unfreeze(actor, freeze):
        raise ExitRefused(
            _("Only the enterprise's super admin (or a superuser) can unfreeze an account.")
        )
    member = Member.objects.select_related("user").get(pk=freeze.member_id)
    try:
        directory_services.update_member(member, actor=actor, status=MemberStatus.ACTIVE)
    except directory_services.DirectoryError as error:
        raise ExitRefused(" ".join(error.messages)) from error
    member.user.is_active = freeze.before.get("login_active", True)
    member.user.save(update_fields=["is_active"])
    freeze.unfrozen_by = actor
    freeze.unfrozen_at = timezone.now()
    freeze._history_user = actor
    freeze.save()
    return freeze


def may_unfreeze(actor, freeze: AccountFreeze) -> bool:
    """Whether `actor` may give the frozen account back: a superuser, or the login of the
    enterprise's active super admin (not the frozen member's own)."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    return (
        Member.objects.super_admins()
        .filter(enterprise_id=freeze.enterprise_id, user=actor)
        .exclude(pk=freeze.member_id)
        .exists()
    )
