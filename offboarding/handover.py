"""Admin handover (H-1 … H-3): the doors that change who administers an enterprise.

The super-admin handover (超级管理员移交, H-1), under the enterprise's policy (H-2):

- `request_handover`: the leaving super admin, whose exit is open, names the new super admin and
  re-enters their password. With the custody policy (Feishu) they also name a custodian — an admin
  or the backup admin — who holds the role from that moment until the new one accepts.
- `confirm_handover`: the new super admin proves both factors (双重验证): their password first
  (`prove_password_to_confirm`, counted by django-axes), then the code of their authenticator app
  (django-otp TOTP; the page enrols the device with a QR code, shown only once the password is
  accepted). Only then does the role pass, in one transaction
  (`directory.services.pass_super_admin`): from the leaving super admin (grace, immediate) or from
  the custodian, who gets their own role back (custody). A missing password proof, or a wrong or
  replayed code, is refused and changes nothing.
- With the grace policy (WeCom) the old super admin keeps an emergency window
  (`Enterprise.handover_grace_period`, 7 days): they may still sign in, even once their exit has
  deactivated the login (offboarding.backends), but only to the emergency page
  (offboarding.middleware), which shows the handover and can `report_stolen` the new account: the
  freeze below. `close_grace_windows` (the Celery task `offboarding.expire_grace_windows`) closes
  windows at their deadline and ends the sessions they allowed. With `immediate` (DingTalk) there
  is no window.
- `withdraw_handover`: a handover still waiting for the new super admin's code is withdrawn by the
  leaving super admin or HR. Cancelling, rejecting or undoing the exit withdraws it too and closes
  the emergency window (`exit_called_off`); freezing anyone it names withdraws it (a custody
  handover too, once the custodian has lost the role), so that another can start.

The emergency freeze (管理员账号被盗 → 立即冻结账号并启用备用管理员, H-3):

- `freeze_account`: one action freezes a compromised admin account — status `frozen`, login
  inactive, every session ended — and, when it is the super admin's, promotes the enterprise's
  backup admin to super admin in the same transaction (`directory.services.pass_super_admin`), so
  the enterprise is never without one. Freezing the super admin with no backup admin to promote is
  refused, with that reason. By HR of the enterprise (or a superuser).
- `unfreeze_account`: the new super admin (or a superuser) gives the account back: status active,
  the login as it was. A super admin frozen and replaced comes back as an admin: the enterprise has
  its super admin already.

Every door writes its record (`SuperAdminHandover`, `AccountFreeze`), the member's history with
the actor, and its audit events (compliance.audit: "super_admin_handover_requested", "…_confirmed",
"…_withdrawn", "emergency_window_closed", "account_reported_stolen", "account_frozen",
"account_unfrozen"), in one transaction; a refusal raises ExitRefused (its message is what a
person reads) and changes nothing. Each door locks its enterprise's audit chain first, before any
row (lock order: see offboarding/services.py), and writes its events at its end; the internal
steps hand theirs to the door in a `trail` list. A handover's events concern the leaving super
admin and their exit; a freeze's, the frozen member. Reasons are free text about a person: only in
the events' sealed personal data.
"""

import math

import segno
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance import audit
from directory import services as directory_services
from directory.choices import HandoverPolicy, MemberRole, MemberStatus, StaffRole
from directory.models import Member
from directory.sessions import end_sessions
from directory.tenancy import grants_for

from . import notifications
from .choices import OPEN_HANDOVER_STATES, OPEN_STATES, ExitState, HandoverState
from .exceptions import ExitRefused
from .models import AccountFreeze, Exit, SuperAdminHandover
from .services import confirm_actor_password, lock_audit_chain


def _handover_event(
    handover: SuperAdminHandover,
    action: str,
    *,
    member_id: int | None = None,
    data: dict | None = None,
    personal: dict | None = None,
) -> audit.Event:
    """An audit event about `handover`, concerning the leaving super admin (or `member_id`)."""
    return audit.Event(
        action=action,
        object_type="super_admin_handover",
        object_id=handover.pk,
        member_id=handover.from_member_id if member_id is None else member_id,
        exit_id=handover.exit_case_id,
        data={
            "policy": str(handover.policy),
            "state": str(handover.state),
            "from_member_id": handover.from_member_id,
            "to_member_id": handover.to_member_id,
            "custodian_id": handover.custodian_id,
            **(data or {}),
        },
        personal=personal,
    )


def _freeze_event(freeze: AccountFreeze, action: str, *, data: dict, personal=None):
    return audit.Event(
        action=action,
        object_type="account_freeze",
        object_id=freeze.pk,
        member_id=freeze.member_id,
        data=data,
        personal=personal,
    )


def check_freeze(member: Member, *, actor, reason: str) -> None:
    """Raise ExitRefused if `freeze_account` with these values would be refused; write nothing.
    The admin's form calls it to show the refusal on the form; the door calls it again, under the
    member's row lock."""
    if actor is None or not grants_for(actor).has_role(member.enterprise_id, (StaffRole.HR,)):
        raise ExitRefused(_("Only HR of the enterprise can freeze an admin account."))
    if not (reason or "").strip():
        raise ExitRefused(_("Say why the account is frozen: the record keeps it."), field="reason")
    _check_freezable(member)


def _check_freezable(member: Member) -> None:
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
    # Locks in the order every door keeps: the audit chain, handovers, then members (see
    # _lock_handover).
    lock_audit_chain(member.enterprise_id)
    _open_handovers_naming(member.pk)
    member = Member.objects.select_for_update().select_related("user").get(pk=member.pk)
    check_freeze(member, actor=actor, reason=reason)
    trail = []
    freeze = _freeze(member, actor=actor, reason=reason.strip(), trail=trail)
    audit.record_many(member.enterprise_id, trail, actor=actor)
    return freeze


def _freeze(member: Member, *, actor, reason: str, trail: list) -> AccountFreeze:
    """Freeze the locked, checked `member`; see `freeze_account`. Its audit events go to
    `trail`, for the door to write."""
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
    trail.append(
        _freeze_event(
            freeze,
            "account_frozen",
            data={
                "status": str(MemberStatus.FROZEN),
                "before": before,
                "promoted_id": promoted.pk if promoted else None,
                "login_active": False,
                "sessions_ended": True,
            },
            personal={"reason": reason},
        )
    )
    _withdraw_handovers_of_frozen(member, actor=actor, trail=trail)
    user.is_active = False
    user.save(update_fields=["is_active"])
    end_sessions(user)
    return freeze


def _backup_admin_of(member: Member) -> Member:
    """The backup admin a freeze of the super admin `member` promotes: refused, with the reason,
    when there is none, or when they could not be a handover's candidate (frozen, login cut,
    leaving): the enterprise would be left without a super admin who can sign in."""
    backup = (
        Member.objects.filter(
            enterprise_id=member.enterprise_id, is_backup_admin=True, status=MemberStatus.ACTIVE
        )
        .exclude(pk=member.pk)
        .select_related("user")
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
    try:
        check_candidate(member, backup, field=None)
    except ExitRefused as refusal:
        raise ExitRefused(
            _(
                "%(why)s The backup admin cannot take over from %(name)s: freezing the account "
                "would leave the enterprise without a super admin who can sign in. The super "
                "admin designates another backup admin first."
            )
            % {"why": refusal, "name": member.name}
        ) from None
    return backup


@transaction.atomic
def unfreeze_account(freeze: AccountFreeze, *, actor) -> AccountFreeze:
    """Give a frozen account back, by the enterprise's super admin (or a superuser)."""
    lock_audit_chain(freeze.enterprise_id)
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
    event = _freeze_event(
        freeze,
        "account_unfrozen",
        data={
            "status": str(MemberStatus.ACTIVE),
            "role": str(member.role),
            "login_active": member.user.is_active,
        },
    )
    audit.record_many(freeze.enterprise_id, [event], actor=actor)
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


# ---------------------------------------------------------------------------------------------
# Super-admin handover (超级管理员移交, H-1, H-2)

# The exit states in which the leaving super admin may hand the role over.
_HANDOVER_EXIT_STATES = (ExitState.DRAFT, ExitState.PENDING_APPROVAL, ExitState.HANDOVER)


def check_handover_request(member: Member, *, actor, new_admin: Member, custodian=None) -> Exit:
    """Raise ExitRefused (with the form's field where one applies) unless `request_handover` with
    these values would go ahead; write nothing. Returns the leaving super admin's open exit."""
    if actor is None or actor.pk != member.user_id:
        raise ExitRefused(_("Only the super admin themselves can hand the role over."))
    if not member.is_active_super_admin:
        raise ExitRefused(
            _("%(name)s is not the enterprise's active super admin.") % {"name": member.name}
        )
    exit_case = (
        Exit.objects.filter(member=member, state__in=_HANDOVER_EXIT_STATES).order_by("-pk").first()
    )
    if exit_case is None:
        raise ExitRefused(
            _("Request your exit first: the super admin hands the role over as they leave.")
        )
    if SuperAdminHandover.objects.filter(
        enterprise_id=member.enterprise_id, state__in=OPEN_HANDOVER_STATES
    ).exists():
        raise ExitRefused(_("The enterprise's super admin role is being handed over already."))
    check_candidate(member, new_admin, field="new_admin")
    if member.enterprise.handover_policy == HandoverPolicy.CUSTODY:
        if custodian is None:
            raise ExitRefused(
                _("Name the custodian who holds the role until the new super admin accepts."),
                field="custodian",
            )
        check_candidate(member, custodian, field="custodian")
        if custodian.pk == new_admin.pk:
            raise ExitRefused(
                _("The custodian and the new super admin must be two different people."),
                field="custodian",
            )
        if custodian.role == MemberRole.MEMBER and not custodian.is_backup_admin:
            raise ExitRefused(
                _("%(name)s is neither an admin nor the backup admin: only they can hold the role.")
                % {"name": custodian.name},
                field="custodian",
            )
    return exit_case


def check_candidate(member: Member, candidate: Member, *, field: str | None) -> None:
    """Refuse a member who cannot take the super admin role (or hold it, or stand by for it) from
    `member`: the new super admin and the custodian of a handover, the backup admin a freeze
    promotes, the backup admin the super admin designates. One answer for all of them (H-3): someone
    else, of the same enterprise, active (not frozen, not departed), whose login works and has
    its password set, and who is not leaving (no exit in progress)."""
    if candidate.pk == member.pk:
        raise ExitRefused(_("Name someone other than yourself."), field=field)
    if candidate.enterprise_id != member.enterprise_id:
        raise ExitRefused(
            _("%(name)s belongs to another enterprise.") % {"name": candidate}, field=field
        )
    if candidate.status != MemberStatus.ACTIVE:
        raise ExitRefused(
            _("%(name)s is %(status)s: only an active member can take the role.")
            % {"name": candidate.name, "status": candidate.get_status_display()},
            field=field,
        )
    if not candidate.user.is_active:
        raise ExitRefused(
            _("%(name)s cannot sign in (their login is deactivated): name someone who can.")
            % {"name": candidate.name},
            field=field,
        )
    if not candidate.user.has_usable_password():
        # Nobody acts as super admin without the password they re-enter at every step of it.
        raise ExitRefused(
            _(
                "%(name)s has not set a password yet (their invitation is still open): name "
                "someone who can sign in."
            )
            % {"name": candidate.name},
            field=field,
        )
    if Exit.objects.filter(member=candidate, state__in=OPEN_STATES).exists():
        raise ExitRefused(
            _("%(name)s is leaving too: name someone who stays.") % {"name": candidate.name},
            field=field,
        )


def request_handover(
    member: Member, *, actor, new_admin: Member, custodian=None, password: str, request=None
) -> SuperAdminHandover:
    """The leaving super admin names the new one (see the module docstring). Their password is
    checked first, outside the transaction, so that django-axes keeps counting a wrong one."""
    _confirm_own_password(actor, password, request=request)
    return _request_handover(member, actor=actor, new_admin=new_admin, custodian=custodian)


@transaction.atomic
def _request_handover(member, *, actor, new_admin, custodian) -> SuperAdminHandover:
    # The super admin's row first, then the others: every door that moves the role locks the
    # current super admin's row first, so two of them at once are served one after the other
    # (after the audit chain, as every door). Only the member's row: the enterprise's is read.
    lock_audit_chain(member.enterprise_id)
    member = (
        Member.objects.select_for_update(of=("self",))
        .select_related("enterprise")
        .get(pk=member.pk)
    )
    new_admin = Member.objects.select_for_update().get(pk=new_admin.pk)
    if custodian is not None:
        custodian = Member.objects.select_for_update().get(pk=custodian.pk)
    exit_case = check_handover_request(
        member, actor=actor, new_admin=new_admin, custodian=custodian
    )
    policy = member.enterprise.handover_policy
    handover = SuperAdminHandover(
        enterprise_id=member.enterprise_id,
        exit_case=exit_case,
        policy=policy,
        from_member=member,
        to_member=new_admin,
        requested_by=actor,
    )
    if policy == HandoverPolicy.CUSTODY:
        handover.custodian = custodian
        handover.custodian_before = {
            "role": custodian.role,
            "is_backup_admin": custodian.is_backup_admin,
        }
        handover.state = HandoverState.IN_CUSTODY
        _pass_role(from_member=member, to_member=custodian, actor=actor)
    _save_handover(handover, actor=actor, change_reason="request")
    # The new super admin's authenticator device, to enrol on their page (its QR code) if they
    # have none yet: written now, so that showing the page writes nothing.
    enrolment_device(new_admin.user)
    audit.record_many(
        handover.enterprise_id,
        [_handover_event(handover, "super_admin_handover_requested")],
        actor=actor,
    )
    notifications.handover_named(handover)
    return handover


def may_confirm(actor, handover: SuperAdminHandover) -> bool:
    return (
        actor is not None
        and actor.is_authenticated
        and actor.pk == handover.to_member.user_id
        and handover.state in OPEN_HANDOVER_STATES
    )


# ---------------------------------------------------------------------------------------------
# Both factors (双重验证): the password, then the authenticator's code
#
# Whoever takes the super admin role (or stands by for it, as the backup admin) proves both: their
# password first — re-entered, counted by django-axes like a login — and then the code of their
# authenticator app. The page shows the authenticator's key (to enrol it) only once the password
# is accepted, so that a session alone never sees it. The password step gives a proof, signed and
# short-lived, bound to the user, to what it is for and to their password hash (a password changed
# meanwhile voids it); the door that takes the code refuses without it.

PASSWORD_PROOF_MAX_AGE = 10 * 60  # seconds between the password and the code
_PROOF_SALT = "offboarding.second-factor.password-proof"
CONFIRM_HANDOVER = "confirm_handover"


def _proof_claims(purpose: str, object_id: int, actor) -> dict:
    return {
        "user": actor.pk,
        "for": f"{purpose}:{object_id}",
        "auth": actor.get_session_auth_hash(),
    }


def prove_password(purpose: str, object_id: int, *, actor, password: str, request, wrong: str):
    """Check `actor`'s password (services.confirm_actor_password: counted by django-axes, outside
    any transaction) and return the proof the door of `purpose` on `object_id` takes with the
    code. Refused as ExitRefused on the field "password"."""
    if actor is None or not actor.is_authenticated:
        raise ExitRefused(_("Sign in first."), field="password")
    confirm_actor_password(actor, password, request=request, wrong=wrong)
    return signing.dumps(_proof_claims(purpose, object_id, actor), salt=_PROOF_SALT)


def password_proven(proof, purpose: str, object_id: int, *, actor) -> bool:
    """Whether `proof` is a fresh proof of `actor`'s password for `purpose` on `object_id`."""
    if not proof or actor is None or not actor.is_authenticated:
        return False
    try:
        claims = signing.loads(proof, salt=_PROOF_SALT, max_age=PASSWORD_PROOF_MAX_AGE)
    except signing.BadSignature:  # tampered with, or expired (SignatureExpired is one)
        return False
    return claims == _proof_claims(purpose, object_id, actor)


def password_first_refusal() -> ExitRefused:
    return ExitRefused(
        _(
            "Re-enter your password first: the role needs both your password and the code of "
            "your authenticator app."
        ),
        field="password",
    )


def check_code(device: TOTPDevice, token: str) -> ExitRefused | None:
    """The refusal of `token` for the locked `device` (throttled, wrong or replayed), or None when
    it is right; a right code confirms an enrolled device. django-otp counts the failures on the
    device row: the caller raises the refusal only once its transaction has kept that count."""
    allowed, details = device.verify_is_allowed()
    if not allowed:
        return ExitRefused(_throttled_message(details), field="token")
    if not device.verify_token((token or "").strip()):
        return ExitRefused(
            _(
                "The code was not right, or was used already: enter the code your "
                "authenticator app shows now."
            ),
            field="token",
        )
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return None


def prove_password_to_confirm(
    handover: SuperAdminHandover, *, actor, password: str, request=None
) -> str:
    """The new super admin's first factor: their password, before the page shows the key of their
    authenticator (to enrol it) and asks its code. Returns the proof `confirm_handover` takes."""
    if not may_confirm(actor, handover):
        raise ExitRefused(_confirm_refusal(handover))
    return prove_password(
        CONFIRM_HANDOVER,
        handover.pk,
        actor=actor,
        password=password,
        request=request,
        wrong=_("Your password was not right: re-enter it to confirm the handover."),
    )


def confirm_handover(
    handover: SuperAdminHandover, *, actor, token: str, password_proof: str | None
) -> SuperAdminHandover:
    """The new super admin confirms with both factors — the proof of their password
    (`prove_password_to_confirm`) and their authenticator's code; the role passes.

    Without a fresh proof of the password it is refused. A wrong, replayed or throttled code is
    refused and changes nothing but the device's count of failures (kept: django-otp slows down
    guessing with it)."""
    refusal = None
    with transaction.atomic():
        lock_audit_chain(handover.enterprise_id)
        handover = _lock_handover(handover)
        if not may_confirm(actor, handover):
            raise ExitRefused(_confirm_refusal(handover))
        if not password_proven(password_proof, CONFIRM_HANDOVER, handover.pk, actor=actor):
            raise password_first_refusal()
        holder = handover.custodian if handover.state == HandoverState.IN_CUSTODY else None
        current = Member.objects.select_for_update().get(pk=(holder or handover.from_member).pk)
        # Still someone who may take the role: active, login alive, and not leaving meanwhile.
        arriving = Member.objects.select_for_update().get(pk=handover.to_member_id)
        check_candidate(current, arriving, field=None)
        device = enrolment_device(actor, lock=True)
        refusal = check_code(device, token)
        if refusal is None:
            holder_id = current.pk
            _swap(handover, current=current, actor=actor)
            event = _handover_event(
                handover,
                "super_admin_handover_confirmed",
                data={
                    "role_passed_from_id": holder_id,
                    "grace_until": handover.grace_until.isoformat()
                    if handover.grace_until
                    else None,
                    "factors": ["password", "totp"],
                },
            )
            audit.record_many(handover.enterprise_id, [event], actor=actor)
    if refusal is not None:
        raise refusal  # after the block: the device's count of failures is kept
    return handover


def _swap(handover: SuperAdminHandover, *, current: Member, actor) -> None:
    now = timezone.now()
    if handover.state == HandoverState.IN_CUSTODY:
        before = handover.custodian_before
        # The custodian gets their backup flag back, unless another backup admin was designated
        # meanwhile: an enterprise has one backup admin.
        other_backup = (
            Member.objects.filter(enterprise_id=handover.enterprise_id, is_backup_admin=True)
            .exclude(pk=current.pk)
            .exists()
        )
        _pass_role(
            from_member=current,
            to_member=handover.to_member,
            actor=actor,
            role=before.get("role", MemberRole.ADMIN),
            is_backup_admin=before.get("is_backup_admin", False) and not other_backup,
        )
    else:
        _pass_role(from_member=current, to_member=handover.to_member, actor=actor)
        period = handover.enterprise.handover_grace_period
        if handover.policy == HandoverPolicy.GRACE and period:
            handover.grace_until = now + period
    handover.state = HandoverState.DONE
    handover.confirmed_at = now
    _save_handover(handover, actor=actor, change_reason="confirm")
    if handover.grace_until is not None:
        # Their sessions from before end: signing in again opens the emergency page only.
        end_sessions(handover.from_member.user)


def _pass_role(*, from_member, to_member, actor, role=MemberRole.MEMBER, is_backup_admin=False):
    try:
        directory_services.pass_super_admin(
            from_member=from_member,
            to_member=to_member,
            actor=actor,
            role=role,
            is_backup_admin=is_backup_admin,
        )
    except directory_services.DirectoryError as error:
        raise ExitRefused(" ".join(error.messages)) from error


def _confirm_refusal(handover: SuperAdminHandover) -> str:
    if handover.state == HandoverState.DONE:
        return _("This handover is done already.")
    if handover.state == HandoverState.WITHDRAWN:
        return _("This handover was withdrawn.")
    return _("Only %(name)s can confirm this handover.") % {"name": handover.to_member.name}


def _throttled_message(details) -> str:
    """django-otp slows guessing down: after n wrong codes the next is not even checked for
    2^(n-1) seconds. Say how long to wait."""
    locked_until = (details or {}).get("locked_until")
    seconds = 1
    if locked_until is not None:
        seconds = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
    return ngettext(
        "Too many wrong codes. Try again in %(seconds)d second.",
        "Too many wrong codes. Try again in %(seconds)d seconds.",
        seconds,
    ) % {"seconds": seconds}


def enrolment_device(user, *, lock: bool = False) -> TOTPDevice:
    """The authenticator device `user` confirms handovers with: their confirmed one, else the one
    being enrolled (created on first use; the page shows its QR code until it is confirmed)."""
    devices = TOTPDevice.objects.filter(user=user).order_by("-confirmed", "pk")
    if lock:
        devices = devices.select_for_update()
    device = devices.first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Exitdesk", confirmed=False)
    return device


def enrolment_qr_svg(device: TOTPDevice) -> str:
    """The enrolment QR code of `device` as inline SVG (the otpauth:// address)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, title="otpauth")


@transaction.atomic
def withdraw_handover(handover: SuperAdminHandover, *, actor) -> SuperAdminHandover:
    """Withdraw a handover that still waits for the new super admin: by the leaving super admin,
    or by HR of the enterprise. Once the role has moved (to the custodian, or to the new super
    admin) it is not withdrawn: the role moves only forward."""
    lock_audit_chain(handover.enterprise_id)
    handover = _lock_handover(handover)
    if actor is None:
        raise ExitRefused(_("Only the leaving super admin or HR can withdraw this handover."))
    is_leaving_admin = actor.pk == handover.from_member.user_id
    if not (
        is_leaving_admin or grants_for(actor).has_role(handover.enterprise_id, (StaffRole.HR,))
    ):
        raise ExitRefused(_("Only the leaving super admin or HR can withdraw this handover."))
    trail = []
    _withdraw(handover, actor=actor, trail=trail, cause="withdrawn")
    audit.record_many(handover.enterprise_id, trail, actor=actor)
    return handover


def _withdraw(handover: SuperAdminHandover, *, actor, trail: list, cause: str) -> None:
    """Withdraw the locked `handover`; its audit event, naming the `cause` ("withdrawn",
    "exit_called_off", "member_frozen"), goes to `trail`."""
    if not _may_withdraw(handover):
        raise ExitRefused(
            _("This handover can no longer be withdrawn (%(state)s).")
            % {"state": handover.get_state_display()}
        )
    state_before = handover.state
    handover.state = HandoverState.WITHDRAWN
    handover.withdrawn_by = actor
    handover.withdrawn_at = timezone.now()
    _save_handover(handover, actor=actor, change_reason="withdraw")
    trail.append(
        _handover_event(
            handover,
            "super_admin_handover_withdrawn",
            data={"cause": cause, "state_before": str(state_before)},
        )
    )


def _may_withdraw(handover: SuperAdminHandover) -> bool:
    """Waiting for the code: yes. In custody: only once the custodian no longer holds the role
    (frozen, say), when the new super admin could never receive it from them."""
    if handover.state == HandoverState.AWAITING_CONFIRMATION:
        return True
    return (
        handover.state == HandoverState.IN_CUSTODY
        and not Member.objects.filter(pk=handover.custodian_id).super_admins().exists()
    )


def exit_called_off(exit_case: Exit, *, actor, trail: list | None = None) -> None:
    """The exit was cancelled, rejected or undone: the member is not leaving after all. Its
    handover still waiting for a code is withdrawn, and an emergency window it opened closes (the
    role already handed over stays with its new holder). Called inside the workflow's
    transaction, which passes its `trail`: the audit events are appended there, for the workflow
    to write after its last row lock. Without a trail they are written here."""
    events = [] if trail is None else trail
    now = timezone.now()
    for handover in SuperAdminHandover.objects.select_for_update().filter(exit_case=exit_case):
        if handover.state == HandoverState.AWAITING_CONFIRMATION:
            _withdraw(handover, actor=actor, trail=events, cause="exit_called_off")
        elif handover.grace_until is not None and handover.grace_closed_at is None:
            handover.grace_closed_at = now
            _save_handover(handover, actor=actor, change_reason="close_grace_window")
            events.append(_grace_closed_event(handover, cause="exit_called_off"))
    if trail is None:
        audit.record_many(exit_case.enterprise_id, events, actor=actor)


def _grace_closed_event(handover: SuperAdminHandover, *, cause: str) -> audit.Event:
    return _handover_event(
        handover,
        "emergency_window_closed",
        data={"cause": cause, "grace_until": handover.grace_until.isoformat()},
    )


def _withdraw_handovers_of_frozen(member: Member, *, actor, trail: list) -> None:
    """A frozen member takes part in no handover: every open one they leave, hold in custody or
    would receive is withdrawn, so that the enterprise can start another."""
    for handover in _open_handovers_naming(member.pk):
        if _may_withdraw(handover):
            _withdraw(handover, actor=actor, trail=trail, cause="member_frozen")


def _open_handovers_naming(member_id: int) -> list[SuperAdminHandover]:
    """The open handovers `member_id` leaves, holds in custody or would receive, locked."""
    return list(
        SuperAdminHandover.objects.select_for_update()
        .filter(
            Q(from_member_id=member_id) | Q(custodian_id=member_id) | Q(to_member_id=member_id),
            state__in=OPEN_HANDOVER_STATES,
        )
        .order_by("pk")
    )


def open_window_for(user) -> SuperAdminHandover | None:
    """The handover whose emergency window `user` (the old super admin) holds open now, if any."""
    if user is None or user.pk is None:
        return None
    return (
        SuperAdminHandover.objects.filter(
            from_member__user_id=user.pk,
            grace_closed_at__isnull=True,
            grace_until__gt=timezone.now(),
        )
        .exclude(from_member__status=MemberStatus.FROZEN)
        .select_related("to_member", "from_member", "enterprise", "stolen_report")
        .order_by("-grace_until")
        .first()
    )


def takeover_on_report(handover: SuperAdminHandover) -> tuple[Member | None, str | None]:
    """What a report of the new super admin's account would do now, for the emergency page:
    (the backup admin whom the freeze would promote, None), or (None, why the freeze would be
    refused) — no backup admin, or one who could not take over."""
    return takeover_on_report_of(handover.to_member)


def takeover_on_report_of(super_admin: Member) -> tuple[Member | None, str | None]:
    """Whom freezing the super admin `super_admin` would promote, or why it would be refused;
    writes nothing (the confirmation pages say it before the freeze)."""
    try:
        return _backup_admin_of(super_admin), None
    except ExitRefused as refusal:
        return None, str(refusal)


def open_handovers_naming(member: Member) -> list[SuperAdminHandover]:
    """The open handovers `member` leaves, holds in custody or would receive (not locked): what a
    freeze of their account withdraws."""
    return list(
        SuperAdminHandover.objects.filter(
            Q(from_member_id=member.pk) | Q(custodian_id=member.pk) | Q(to_member_id=member.pk),
            state__in=OPEN_HANDOVER_STATES,
        ).select_related("from_member", "to_member")
    )


def check_report(handover: SuperAdminHandover, *, actor, reason: str) -> None:
    """Raise ExitRefused unless `report_stolen` with these values would go ahead."""
    if actor is None or actor.pk != handover.from_member.user_id or not handover.grace_window_open:
        raise ExitRefused(_("Only the old super admin can report, during their emergency window."))
    if handover.stolen_report_id is not None:
        raise ExitRefused(_("You reported this account already; it is frozen."))
    if not (reason or "").strip():
        raise ExitRefused(_("Say what makes you think the account is stolen."), field="reason")


@transaction.atomic
def report_stolen(handover: SuperAdminHandover, *, actor, reason: str) -> AccountFreeze:
    """From the emergency page: the old super admin reports the new super admin's account stolen,
    which runs the emergency freeze (the backup admin becomes super admin)."""
    lock_audit_chain(handover.enterprise_id)
    handover = _lock_handover(handover)
    check_report(handover, actor=actor, reason=reason)
    _open_handovers_naming(handover.to_member_id)  # handovers first, then members
    member = Member.objects.select_for_update().select_related("user").get(pk=handover.to_member_id)
    _check_freezable(member)
    trail = []
    freeze = _freeze(member, actor=actor, reason=reason.strip(), trail=trail)
    handover.stolen_report = freeze
    _save_handover(handover, actor=actor, change_reason="report_stolen")
    # The report concerns the account reported (the new super admin's); the reason is sealed
    # with that member's key.
    reported = _handover_event(
        handover,
        "account_reported_stolen",
        member_id=member.pk,
        data={"freeze_id": freeze.pk},
        personal={"reason": reason.strip()},
    )
    audit.record_many(handover.enterprise_id, [reported, *trail], actor=actor)
    return freeze


def close_grace_windows() -> int:
    """Close every emergency window whose deadline has passed and end the sessions it allowed:
    the Celery task `offboarding.expire_grace_windows`. Safe to run twice (a closed window is
    skipped) and at once (a second run waits its turn on the enterprise's audit chain, then finds
    the window closed). Returns how many it closed. Each closed window is an audit event
    ("emergency_window_closed", by the system)."""
    closed = 0
    now = timezone.now()
    due = SuperAdminHandover.objects.filter(grace_closed_at__isnull=True, grace_until__lte=now)
    for pk, enterprise_id in due.values_list("pk", "enterprise_id"):
        with transaction.atomic():
            lock_audit_chain(enterprise_id)
            handover = (
                SuperAdminHandover.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, grace_closed_at__isnull=True)
                .select_related("from_member__user")
                .first()
            )
            if handover is None:
                continue
            handover.grace_closed_at = now
            _save_handover(handover, actor=None, change_reason="close_grace_window")
            if not handover.from_member.user.is_active:
                # The sessions the window allowed; a still-employed member keeps theirs.
                end_sessions(handover.from_member.user)
            audit.record_many(
                handover.enterprise_id,
                [_grace_closed_event(handover, cause="deadline")],
                actor=None,
            )
            closed += 1
    return closed


def _lock_handover(handover: SuperAdminHandover) -> SuperAdminHandover:
    """Lock a handover's row. Every door that moves the super admin role or freezes an account
    locks in one order — handover rows first, then member rows (the current super admin's first)
    — so that two of them at once wait for each other instead of deadlocking."""
    return (
        SuperAdminHandover.objects.select_for_update(of=("self",))
        .select_related("enterprise", "from_member", "to_member", "custodian")
        .get(pk=handover.pk)
    )


def _save_handover(handover: SuperAdminHandover, *, actor, change_reason: str) -> None:
    handover._history_user = actor
    handover._change_reason = change_reason
    try:
        with transaction.atomic():
            handover.save()
    except IntegrityError as error:  # another handover was requested at the same moment
        raise ExitRefused(
            _("The enterprise's super admin role is being handed over already.")
        ) from error


def _confirm_own_password(actor, password: str, *, request) -> None:
    if actor is None:
        raise ExitRefused(_("Only the super admin themselves can hand the role over."))
    confirm_actor_password(
        actor,
        password,
        request=request,
        wrong=_("Your password was not right: re-enter it to confirm the handover."),
    )
