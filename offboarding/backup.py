"""The backup admin (AB角, H-3): designated by the super admin, never by HR.

The backup admin is who the emergency freeze promotes when the super admin's account is stolen
(offboarding/handover.py): whoever holds the flag can become super admin. So the flag is set by a
door the super admin runs with their password, and only once the designated member has proved both
factors — as a new super admin does on the handover's confirm page:

- `designate_backup_admin`: the enterprise's active super admin names a member (by employee number
  on their page) and re-enters their password (counted by django-axes). The member must be a
  handover's candidate (`handover.check_candidate`: active, login alive, not leaving). One
  designation waits at a time; the member's authenticator device is created, to enrol.
- `accept_designation`: the designated member re-enters their password
  (`prove_password_to_accept`, counted by django-axes; only then does the page show their
  authenticator's key), then enters its code. Only then is `is_backup_admin` set, and the previous
  backup admin loses it in the same transaction: an enterprise has one backup admin. The super
  admin who designated must still be the enterprise's active super admin, and the member still a
  candidate.
- `withdraw_designation`: the super admin withdraws a designation still waiting for the member.
- `withdraw_backup_admin`: the super admin takes the flag back from the standing backup admin
  (a backup admin leaving, say: their exit cannot complete while they hold it).

HR reads the flag but cannot set it: the member admin shows it read-only, and no form or import
writes it. Each door writes the designation record (its history), the members' history where a
flag changes, and an audit event (compliance.audit: "backup_admin_designated", "…_designation_
accepted", "…_designation_withdrawn", "backup_admin_withdrawn") that states the backup admins
before and after (`old_backup_ids`, `new_backup_ids`), in one transaction. Lock order as every door
(offboarding/services.py): the audit chain first, then designation rows (with the handover rows),
then members — the super admin's first. A refusal raises ExitRefused and changes nothing. Nobody is
notified by e-mail: Exitdesk sends none; the member finds the designation on their home page.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit
from directory import services as directory_services
from directory.models import Member

from . import handover
from .choices import BackupDesignationState
from .exceptions import ExitRefused
from .models import BackupAdminDesignation
from .services import confirm_actor_password, lock_audit_chain

ACCEPT_DESIGNATION = "accept_backup_designation"


def backup_admin_ids(enterprise_id: int) -> list[int]:
    """The ids of the enterprise's members holding the backup-admin flag, in id order."""
    return list(
        Member.objects.filter(enterprise_id=enterprise_id, is_backup_admin=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _event(designation, action: str, *, old: list[int], new: list[int], **data) -> audit.Event:
    """An audit event about `designation`, concerning the designated member."""
    return audit.Event(
        action=action,
        object_type="backup_admin_designation",
        object_id=designation.pk,
        member_id=designation.member_id,
        data={
            "designated_id": designation.member_id,
            "super_admin_id": designation.super_admin_id,
            "state": str(designation.state),
            "old_backup_ids": old,
            "new_backup_ids": new,
            **data,
        },
    )


def _save(designation: BackupAdminDesignation, *, actor, change_reason: str) -> None:
    designation._history_user = actor
    designation._change_reason = change_reason
    try:
        with transaction.atomic():
            designation.save()
    except IntegrityError as error:  # another designation at the same moment
        raise ExitRefused(_waiting_message()) from error


def _waiting_message() -> str:
    return _(
        "A backup admin designation is waiting for its member's acceptance already: withdraw it "
        "first."
    )


def _the_super_admin_only() -> str:
    return _("Only the enterprise's super admin designates the backup admin.")


def is_super_admin_of(actor, member: Member) -> bool:
    """Whether `actor` is the login of `member`, the enterprise's active super admin."""
    return (
        actor is not None
        and actor.is_authenticated
        and actor.pk == member.user_id
        and member.is_active_super_admin
    )


# ---------------------------------------------------------------------------------------------
# Designating


def check_designation(super_admin: Member, *, actor, candidate: Member) -> None:
    """Raise ExitRefused (on the field "member" where it is about the member named) unless
    `designate_backup_admin` with these values would go ahead; write nothing."""
    if not is_super_admin_of(actor, super_admin):
        raise ExitRefused(_the_super_admin_only())
    handover.check_candidate(super_admin, candidate, field="member")
    if candidate.is_backup_admin:
        raise ExitRefused(
            _("%(name)s is the backup admin already.") % {"name": candidate.name}, field="member"
        )
    if BackupAdminDesignation.objects.filter(
        enterprise_id=super_admin.enterprise_id,
        state=BackupDesignationState.AWAITING_ACCEPTANCE,
    ).exists():
        raise ExitRefused(_waiting_message())


def designate_backup_admin(
    super_admin: Member, *, actor, candidate: Member, password: str, request=None
) -> BackupAdminDesignation:
    """The super admin designates `candidate` (see the module docstring). Their password is checked
    first, outside the transaction, so that django-axes keeps counting a wrong one."""
    if not is_super_admin_of(actor, super_admin):
        raise ExitRefused(_the_super_admin_only())
    confirm_actor_password(
        actor,
        password,
        request=request,
        wrong=_("Your password was not right: re-enter it to designate the backup admin."),
    )
    return _designate(super_admin, actor=actor, candidate=candidate)


@transaction.atomic
def _designate(super_admin: Member, *, actor, candidate: Member) -> BackupAdminDesignation:
    lock_audit_chain(super_admin.enterprise_id)
    _lock_waiting(super_admin.enterprise_id)
    super_admin = Member.objects.select_for_update().get(pk=super_admin.pk)
    candidate = (
        Member.objects.select_for_update(of=("self",)).select_related("user").get(pk=candidate.pk)
    )
    check_designation(super_admin, actor=actor, candidate=candidate)
    designation = BackupAdminDesignation(
        enterprise_id=super_admin.enterprise_id, member=candidate, super_admin=super_admin
    )
    _save(designation, actor=actor, change_reason="designate")
    # Their authenticator device, to enrol on their page: written now, so that showing the page
    # writes nothing.
    handover.enrolment_device(candidate.user)
    current = backup_admin_ids(super_admin.enterprise_id)
    audit.record_many(
        super_admin.enterprise_id,
        [_event(designation, "backup_admin_designated", old=current, new=current)],
        actor=actor,
    )
    return designation


def _lock_waiting(enterprise_id: int) -> list[BackupAdminDesignation]:
    return list(
        BackupAdminDesignation.objects.select_for_update()
        .filter(enterprise_id=enterprise_id, state=BackupDesignationState.AWAITING_ACCEPTANCE)
        .order_by("pk")
    )


def _lock(designation: BackupAdminDesignation) -> BackupAdminDesignation:
    return (
        BackupAdminDesignation.objects.select_for_update(of=("self",))
        .select_related("member", "super_admin", "enterprise")
        .get(pk=designation.pk)
    )


# ---------------------------------------------------------------------------------------------
# Accepting


def may_accept(actor, designation: BackupAdminDesignation) -> bool:
    return (
        actor is not None
        and actor.is_authenticated
        and actor.pk == designation.member.user_id
        and designation.state == BackupDesignationState.AWAITING_ACCEPTANCE
    )


def _accept_refusal(designation: BackupAdminDesignation) -> str:
    if designation.state == BackupDesignationState.ACCEPTED:
        return _("This designation is accepted already.")
    if designation.state == BackupDesignationState.WITHDRAWN:
        return _("This designation was withdrawn.")
    return _("Only %(name)s can accept this designation.") % {"name": designation.member.name}


def prove_password_to_accept(
    designation: BackupAdminDesignation, *, actor, password: str, request=None
) -> str:
    """The designated member's first factor: their password, before the page shows the key of
    their authenticator and asks its code. Returns the proof `accept_designation` takes."""
    if not may_accept(actor, designation):
        raise ExitRefused(_accept_refusal(designation))
    return handover.prove_password(
        ACCEPT_DESIGNATION,
        designation.pk,
        actor=actor,
        password=password,
        request=request,
        wrong=_("Your password was not right: re-enter it to accept the designation."),
    )


def accept_designation(
    designation: BackupAdminDesignation, *, actor, token: str, password_proof: str | None
) -> BackupAdminDesignation:
    """The designated member accepts with both factors; they become the backup admin and the
    previous one loses the flag, in one transaction. A wrong, replayed or throttled code is
    refused and changes nothing but the device's count of failures (kept)."""
    refusal = None
    with transaction.atomic():
        lock_audit_chain(designation.enterprise_id)
        designation = _lock(designation)
        if not may_accept(actor, designation):
            raise ExitRefused(_accept_refusal(designation))
        if not handover.password_proven(
            password_proof, ACCEPT_DESIGNATION, designation.pk, actor=actor
        ):
            raise handover.password_first_refusal()
        super_admin = Member.objects.select_for_update().get(pk=designation.super_admin_id)
        if not super_admin.is_active_super_admin:
            raise ExitRefused(
                _(
                    "%(name)s, who designated you, is no longer the super admin: the enterprise's "
                    "super admin designates the backup admin again."
                )
                % {"name": super_admin.name}
            )
        member = (
            Member.objects.select_for_update().select_related("user").get(pk=designation.member_id)
        )
        handover.check_candidate(super_admin, member, field=None)
        device = handover.enrolment_device(actor, lock=True)
        refusal = handover.check_code(device, token)
        if refusal is None:
            old = backup_admin_ids(designation.enterprise_id)
            previous = list(
                Member.objects.select_for_update()
                .filter(enterprise_id=designation.enterprise_id, is_backup_admin=True)
                .exclude(pk=member.pk)
                .order_by("pk")
            )
            try:
                for replaced in previous:
                    directory_services.update_member(replaced, actor=actor, is_backup_admin=False)
                directory_services.update_member(member, actor=actor, is_backup_admin=True)
            except directory_services.DirectoryError as error:
                raise ExitRefused(" ".join(error.messages)) from error
            designation.state = BackupDesignationState.ACCEPTED
            designation.accepted_at = timezone.now()
            designation.replaced = [replaced.pk for replaced in previous]
            _save(designation, actor=actor, change_reason="accept")
            audit.record_many(
                designation.enterprise_id,
                [
                    _event(
                        designation,
                        "backup_admin_designation_accepted",
                        old=old,
                        new=backup_admin_ids(designation.enterprise_id),
                        factors=["password", "totp"],
                    )
                ],
                actor=actor,
            )
    if refusal is not None:
        raise refusal
    return designation


# ---------------------------------------------------------------------------------------------
# Withdrawing


def may_withdraw(actor, enterprise_id: int) -> bool:
    """Whether `actor` is the login of the enterprise's active super admin."""
    return (
        actor is not None
        and actor.is_authenticated
        and Member.objects.super_admins().filter(enterprise_id=enterprise_id, user=actor).exists()
    )


@transaction.atomic
def withdraw_designation(designation: BackupAdminDesignation, *, actor) -> BackupAdminDesignation:
    """The enterprise's super admin withdraws a designation still waiting for the member."""
    lock_audit_chain(designation.enterprise_id)
    designation = _lock(designation)
    if not may_withdraw(actor, designation.enterprise_id):
        raise ExitRefused(_("Only the enterprise's super admin can withdraw the designation."))
    if designation.state != BackupDesignationState.AWAITING_ACCEPTANCE:
        raise ExitRefused(
            _("This designation can no longer be withdrawn (%(state)s).")
            % {"state": designation.get_state_display()}
        )
    designation.state = BackupDesignationState.WITHDRAWN
    designation.withdrawn_by = actor
    designation.withdrawn_at = timezone.now()
    _save(designation, actor=actor, change_reason="withdraw")
    current = backup_admin_ids(designation.enterprise_id)
    audit.record_many(
        designation.enterprise_id,
        [_event(designation, "backup_admin_designation_withdrawn", old=current, new=current)],
        actor=actor,
    )
    return designation


@transaction.atomic
def withdraw_backup_admin(member: Member, *, actor) -> Member:
    """The enterprise's super admin takes the backup-admin flag back from `member`."""
    lock_audit_chain(member.enterprise_id)
    _lock_waiting(member.enterprise_id)
    if not may_withdraw(actor, member.enterprise_id):
        raise ExitRefused(_("Only the enterprise's super admin can withdraw the backup admin."))
    member = Member.objects.select_for_update().get(pk=member.pk)
    if not member.is_backup_admin:
        raise ExitRefused(_("%(name)s is not the backup admin.") % {"name": member.name})
    old = backup_admin_ids(member.enterprise_id)
    try:
        member = directory_services.update_member(member, actor=actor, is_backup_admin=False)
    except directory_services.DirectoryError as error:
        raise ExitRefused(" ".join(error.messages)) from error
    audit.record_many(
        member.enterprise_id,
        [
            audit.Event(
                action="backup_admin_withdrawn",
                object_type="member",
                object_id=member.pk,
                member_id=member.pk,
                data={
                    "old_backup_ids": old,
                    "new_backup_ids": backup_admin_ids(member.enterprise_id),
                },
            )
        ],
        actor=actor,
    )
    return member
