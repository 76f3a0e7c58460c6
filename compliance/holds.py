"""Legal holds (C-4): while a hold stands, nothing it covers is purged, anonymized or erased.

A hold covers one member's records, or every record of the enterprise (no member). It stands from
`starts_on` to `ends_on` (open-ended without one) in the enterprise's time zone, until released.
Releasing deletes nothing by itself: the next retention run decides again.

Placing or releasing a hold locks the enterprise's row, and so does every batch of the retention
run and every erasure before it re-checks the holds (`lock_enterprise`): a hold placed while a purge
runs is seen by the purge's next batch, inside that batch's transaction, and wins.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from directory.choices import StaffRole
from directory.models import Enterprise, Member
from directory.tenancy import grants_for

from . import audit
from .exceptions import ComplianceRefused
from .models import LegalHold


def local_today(enterprise: Enterprise):
    return timezone.localdate(timezone=enterprise.time_zone)


def lock_enterprise(enterprise_id: int, *, door: bool = True) -> Enterprise:
    """Lock the enterprise's row: holds, retention batches and erasures are served one at a time.

    A door (placing a hold, an erasure, a policy) takes the enterprise's door lock first,
    exclusive, as every door does (offboarding/services.py, "Lock order"). A retention batch
    (`door=False`) takes only the row: the other doors of the enterprise never wait behind it.
    FOR NO KEY UPDATE: it does not block the foreign-key checks of rows that point at the
    enterprise, which every door's commit makes."""
    if door:
        audit.lock_doors(enterprise_id)
    return Enterprise.objects.select_for_update(no_key=True).get(pk=enterprise_id)


def standing(enterprise: Enterprise, *, today=None):
    """The enterprise's holds standing today (placed, started, not ended, not released)."""
    today = today or local_today(enterprise)
    return LegalHold.objects.filter(
        Q(ends_on__isnull=True) | Q(ends_on__gte=today),
        enterprise=enterprise,
        released_at__isnull=True,
        starts_on__lte=today,
    )


def coverage(enterprise: Enterprise, *, today=None) -> tuple[bool, set[int]]:
    """(whether the whole enterprise is held, the ids of the members held) today."""
    whole, members = False, set()
    for member_id in standing(enterprise, today=today).values_list("member_id", flat=True):
        if member_id is None:
            whole = True
        else:
            members.add(member_id)
    return whole, members


def blocking_hold(member: Member, *, today=None) -> LegalHold | None:
    """The hold that covers `member`'s records today (theirs, or the enterprise's), if any."""
    return (
        standing(member.enterprise, today=today)
        .filter(Q(member__isnull=True) | Q(member=member))
        .order_by("placed_at", "pk")
        .first()
    )


def check_place(enterprise: Enterprise, *, member, reason: str, starts_on, ends_on, actor) -> None:
    """Raise ComplianceRefused unless `place_hold` with these values would go ahead."""
    if actor is None or not grants_for(actor).has_role(enterprise.pk, (StaffRole.COMPLIANCE,)):
        raise ComplianceRefused(_("Only Compliance staff of the enterprise can place a hold."))
    if member is not None and member.enterprise_id != enterprise.pk:
        raise ComplianceRefused(
            _("%(name)s belongs to another enterprise.") % {"name": member}, field="member"
        )
    if not (reason or "").strip():
        raise ComplianceRefused(
            _("Say why the records are held: the hold keeps it."), field="reason"
        )
    if starts_on is None:
        raise ComplianceRefused(_("Say when the hold starts."), field="starts_on")
    if ends_on is not None and ends_on < starts_on:
        raise ComplianceRefused(_("A hold cannot end before it starts."), field="ends_on")


@transaction.atomic
def place_hold(
    enterprise: Enterprise, *, member=None, reason: str, starts_on=None, ends_on=None, actor
) -> LegalHold:
    """Place a legal hold on `member`'s records, or the whole enterprise's (no member)."""
    enterprise = lock_enterprise(enterprise.pk)
    starts_on = starts_on or local_today(enterprise)
    check_place(
        enterprise, member=member, reason=reason, starts_on=starts_on, ends_on=ends_on, actor=actor
    )
    hold = LegalHold(
        enterprise=enterprise,
        member=member,
        reason=reason.strip(),
        starts_on=starts_on,
        ends_on=ends_on,
        placed_by=actor,
    )
    hold._history_user = actor
    hold.save()
    audit.record(
        enterprise.pk,
        actor=actor,
        action="hold_placed",
        object_type="legal_hold",
        object_id=hold.pk,
        member_id=member.pk if member else None,
        data={
            "whole_enterprise": member is None,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat() if ends_on else None,
            # The reason names no one when the whole enterprise is held; a member's is sealed.
            **({"reason": hold.reason} if member is None else {}),
        },
        personal={"reason": hold.reason} if member is not None else None,
    )
    return hold


@transaction.atomic
def release_hold(hold: LegalHold, *, actor) -> LegalHold:
    """Release a hold. Nothing is deleted by it: the next retention run decides again."""
    lock_enterprise(hold.enterprise_id)
    hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if actor is None or not grants_for(actor).has_role(hold.enterprise_id, (StaffRole.COMPLIANCE,)):
        raise ComplianceRefused(_("Only Compliance staff of the enterprise can release a hold."))
    if hold.released_at is not None:
        raise ComplianceRefused(_("This hold was released already."))
    hold.released_by = actor
    hold.released_at = timezone.now()
    hold._history_user = actor
    hold.save()
    audit.record(
        hold.enterprise_id,
        actor=actor,
        action="hold_released",
        object_type="legal_hold",
        object_id=hold.pk,
        member_id=hold.member_id,
    )
    return hold
