"""Writes of the exit workflow that are not transitions: opening an exit, checklist sign-offs.

Transitions live in offboarding/workflow.py. Both raise ExitRefused with a message for people.

Every write here, and every door of workflow.py, inheritance.py and handover.py, appends its
events to the enterprise's audit trail (compliance.audit, C-7) in its own transaction: the action,
the object, the member concerned and the exit; personal data (free text, names) only in
`personal`, sealed with that member's key. The audit and sealing modules of `compliance` build on
the directory alone, so the exit workflow writing to them makes no import cycle.

Lock order. A door's first lock is its enterprise's door lock (`lock_audit_chain`, which is
`compliance.audit.lock_doors`); its last is the audit chain's head, taken when it writes its
events (`audit.record_many`), at its end, and held only until its commit:
- The frequent doors that lock only rows of their own exit — opening an exit, the sign-offs, submit,
  approve — take the door lock SHARED and run side by side: they lock their rows FOR NO KEY UPDATE,
  which does not block the KEY SHARE locks PostgreSQL takes at COMMIT for the foreign keys of new
  rows (Django's are deferred). So the head's holder, at its commit, never waits for their rows,
  and they can wait for the head without a deadlock.
- Every other door takes it EXCLUSIVE and takes turns with all the doors of the enterprise, as they
  all once did around the chain: they lock members, users and handovers FOR UPDATE, in orders that
  depend on who acts.
- The retention run's batches and sealing take neither: they lock their own records (and the
  enterprise's row FOR NO KEY UPDATE, against a hold being placed) and write one event at the end.
The events are written at the door's end, in the order they happened: a door called inside another
(`handover.exit_called_off`, `inheritance.give_back`) appends its events to the caller's `trail`,
and the caller writes them all (`audit.record_many`).
"""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from compliance import audit
from directory.choices import MemberRole, MemberStatus
from directory.models import Enterprise, Member
from directory.security import PasswordRefused, confirm_password

from . import rules
from .choices import DEFAULT_CHECKLIST, OPEN_STATES, ExitKind, ExitState, Team
from .exceptions import ExitRefused
from .models import ChecklistItem, ChecklistTemplateItem, Exit

# States in which the checklist and the review can still be signed.
SIGNABLE_STATES = (ExitState.DRAFT, ExitState.PENDING_APPROVAL, ExitState.HANDOVER)


def exit_event(
    exit_case: Exit,
    action: str,
    *,
    object_type: str = "exit",
    object_id=None,
    data: dict | None = None,
    personal: dict | None = None,
) -> audit.Event:
    """An audit event about `exit_case` (the exit itself, or one of its parts: `object_type`,
    `object_id`), concerning its leaving member. `personal` is sealed with that member's key."""
    return audit.Event(
        action=action,
        object_type=object_type,
        object_id=exit_case.pk if object_id is None else object_id,
        member_id=exit_case.member_id,
        exit_id=exit_case.pk,
        data=data or {},
        personal=personal or None,
    )


def confirm_actor_password(actor, password: str, *, request, wrong: str) -> None:
    """The actor re-enters their password to confirm a grave action (undo, super-admin handover):
    `directory.security.confirm_password`, counted by django-axes. Refused as ExitRefused on the
    field "password": `wrong`, or the lockout's own message (which says when to try again)."""
    try:
        confirm_password(actor, password, request=request)
    except PasswordRefused as refusal:
        raise ExitRefused(str(refusal) if refusal.locked_out else wrong, field="password") from None


def lock_audit_chain(enterprise_id: int, *, shared: bool = False) -> None:
    """The enterprise's door lock, the first lock of every door (see the module docstring): shared
    for the doors that run side by side, exclusive otherwise; a door called inside another finds it
    held already. A chain that lost its head takes no more events: the door is refused
    (ExitRefused), changing nothing."""
    try:
        audit.lock_doors(enterprise_id, shared=shared)
    except audit.ChainBroken as broken:
        raise ExitRefused(str(broken)) from None


def checklist_template(enterprise) -> list[dict]:
    """The enterprise's checklist template, or the 12 default items of spec X-4 if it has none."""
    items = list(
        ChecklistTemplateItem.objects.filter(enterprise=enterprise)
        .order_by("position")
        .values("code", "title", "team", "auto_check")
    )
    if items:
        return items
    return [
        {"code": code, "title": str(title), "team": team, "auto_check": check}
        for code, title, team, check in DEFAULT_CHECKLIST
    ]


def voluntary_kind_for(member) -> ExitKind:
    """The kind of a member's own request: an admin leaving is `voluntary_admin` (their rights
    must be handed over first), anyone else `voluntary`."""
    return ExitKind.VOLUNTARY if member.role == MemberRole.MEMBER else ExitKind.VOLUNTARY_ADMIN


def local_today(enterprise):
    return timezone.localdate(timezone=enterprise.time_zone)


def check_open_exit(*, member, kind: ExitKind, last_working_day, successor=None, actor) -> None:
    """Raise ExitRefused if `open_exit` with these values would be refused; write nothing.

    Who may open an exit: the member themselves, a voluntary one (self-service); HR of the
    enterprise, any kind; the system (`actor=None`), one from the HR system. Refused too: the
    member is not active; they already have an exit in progress; a voluntary exit's last working
    day is in the past (in the enterprise's time zone); the successor is the member, inactive, or
    of another enterprise. Forms call this to show the refusal beside their fields.
    """
    enterprise = member.enterprise
    if not _may_open(actor, member, kind):
        raise ExitRefused(
            _("You are not allowed to open this kind of exit for %(name)s.") % {"name": member.name}
        )
    if member.status != MemberStatus.ACTIVE:
        raise ExitRefused(
            _("%(name)s is %(status)s: only an active member can leave through an exit.")
            % {"name": member.name, "status": member.get_status_display()}
        )
    if Exit.objects.filter(member=member, state__in=OPEN_STATES).exists():
        raise ExitRefused(_("%(name)s already has an exit in progress.") % {"name": member.name})
    voluntary = kind in (ExitKind.VOLUNTARY, ExitKind.VOLUNTARY_ADMIN)
    if voluntary and last_working_day < local_today(enterprise):
        raise ExitRefused(
            _("The last working day cannot be in the past."), field="last_working_day"
        )
    if successor is not None:
        check_successor(member, successor)


def check_successor(member, successor) -> None:
    """Raise ExitRefused (on the field "successor") unless `successor` may take over from
    `member`: another, active member of the same enterprise. Opening an exit and handing the
    member's resources over (offboarding.inheritance) ask the same."""
    if successor.pk == member.pk:
        raise ExitRefused(_("A member cannot succeed themselves."), field="successor")
    if successor.enterprise_id != member.enterprise_id:
        raise ExitRefused(_("The successor belongs to another enterprise."), field="successor")
    if successor.status != MemberStatus.ACTIVE:
        raise ExitRefused(_("The successor must be an active member."), field="successor")


@transaction.atomic
def open_exit(
    *,
    member,
    kind: ExitKind,
    last_working_day,
    reason: str = "",
    successor=None,
    actor,
) -> Exit:
    """Open a draft exit for `member` with the enterprise's checklist, after `check_open_exit`
    (refused, changing nothing, for the reasons it lists)."""
    lock_audit_chain(member.enterprise_id, shared=True)
    # The member as the database has it now, locked: a frozen or departed member read earlier,
    # or a second request at the same moment, cannot slip through.
    member = (
        Member.objects.select_for_update(of=("self",), no_key=True)
        .select_related("enterprise")
        .get(pk=member.pk)
    )
    check_open_exit(
        member=member,
        kind=kind,
        last_working_day=last_working_day,
        successor=successor,
        actor=actor,
    )
    enterprise = member.enterprise

    exit_case = Exit(
        enterprise=enterprise,
        member=member,
        kind=kind,
        reason=reason,
        last_working_day=last_working_day,
        successor=successor,
        requested_by=actor,
    )
    exit_case._history_user = actor
    exit_case._change_reason = "open"
    try:
        with transaction.atomic():
            exit_case.save()
    except IntegrityError as error:  # a concurrent request opened one first
        raise ExitRefused(
            _("%(name)s already has an exit in progress.") % {"name": member.name}
        ) from error
    checklist = [
        ChecklistItem(exit_case=exit_case, position=position, **item)
        for position, item in enumerate(checklist_template(enterprise), start=1)
    ]
    bulk_create_with_history(
        checklist, ChecklistItem, default_user=actor, default_change_reason="open"
    )
    data = {
        "kind": str(kind),
        "state": str(exit_case.state),
        "last_working_day": str(last_working_day),
        "successor_id": exit_case.successor_id,
        "checklist_items": len(checklist),
    }
    personal = {"reason": reason} if reason else None
    audit.record_many(
        enterprise.pk,
        [exit_event(exit_case, "exit_opened", data=data, personal=personal)],
        actor=actor,
    )
    return exit_case


def _may_open(actor, member, kind) -> bool:
    if actor is None:
        return kind == ExitKind.HR_SYNC
    # The predicate reads only the enterprise of what it is given: the member's, here.
    if rules.is_hr.test(actor, member):
        return True
    return actor.pk == member.user_id and kind in (ExitKind.VOLUNTARY, ExitKind.VOLUNTARY_ADMIN)


def _lock_signable(exit_case, actor) -> Exit:
    if actor is None:
        raise ExitRefused(_("Only a person of the owning team can sign off."))
    lock_audit_chain(exit_case.enterprise_id, shared=True)
    locked = Exit.objects.select_for_update(no_key=True).get(pk=exit_case.pk)
    if locked.state not in SIGNABLE_STATES:
        raise ExitRefused(
            _("This exit is %(state)s: its checklist can no longer be signed.")
            % {"state": locked.get_state_display()}
        )
    return locked


@transaction.atomic
def sign_off_item(item: ChecklistItem, *, actor, note: str = "") -> ChecklistItem:
    """Sign off a checklist item a person must confirm. Only a user of the owning team may."""
    exit_case = _lock_signable(item.exit_case, actor)
    item = ChecklistItem.objects.select_for_update(no_key=True).get(pk=item.pk)
    if item.auto_check:
        raise ExitRefused(
            _("“%(title)s” is checked automatically from the data; nobody signs it off.")
            % {"title": item.title_shown}
        )
    if not rules.signs_for(actor, exit_case, item.team):
        raise ExitRefused(
            _("Only %(team)s staff of this enterprise can sign off “%(title)s”.")
            % {"team": item.get_team_display(), "title": item.title_shown}
        )
    if item.is_signed_off:
        raise ExitRefused(
            _("“%(title)s” was already signed off by %(user)s.")
            % {"title": item.title_shown, "user": item.signed_off_by}
        )
    item.signed_off_by = actor
    item.signed_off_at = timezone.now()
    item.note = note
    item._history_user = actor
    item.save()
    event = exit_event(
        exit_case,
        "checklist_item_signed_off",
        object_type="checklist_item",
        object_id=item.pk,
        data={"code": item.code, "team": str(item.team), "position": item.position},
        personal={"note": note} if note else None,
    )
    audit.record_many(exit_case.enterprise_id, [event], actor=actor)
    return item


@transaction.atomic
def sign_off_review(exit_case: Exit, *, actor, team: Team) -> Exit:
    """The joint exit review (HR与IT联合执行退出审核): HR and IT each sign off once."""
    exit_case = _lock_signable(exit_case, actor)
    if not rules.signs_for(actor, exit_case, team):
        raise ExitRefused(
            _("Only %(team)s staff of this enterprise can sign off the %(team)s review.")
            % {"team": Team(team).label}
        )
    prefix = "hr" if team == Team.HR else "it"
    if getattr(exit_case, f"{prefix}_signed_off_at") is not None:
        raise ExitRefused(
            _("The %(team)s review was already signed off.") % {"team": Team(team).label}
        )
    setattr(exit_case, f"{prefix}_signed_off_by", actor)
    setattr(exit_case, f"{prefix}_signed_off_at", timezone.now())
    exit_case._history_user = actor
    exit_case._change_reason = f"{prefix}_review"
    exit_case.save()
    audit.record_many(
        exit_case.enterprise_id,
        [exit_event(exit_case, "exit_review_signed_off", data={"team": str(Team(team))})],
        actor=actor,
    )
    return exit_case


@transaction.atomic
def copy_default_checklist(enterprise, *, actor) -> int:
    """Write the 12 default items of spec X-4 as `enterprise`'s own checklist template, so that HR
    can edit them; does nothing if it has items already. Returns how many were written.

    The enterprise row is locked so that two clicks at once write the items once.
    """
    Enterprise.objects.select_for_update(no_key=True).filter(pk=enterprise.pk).first()
    if ChecklistTemplateItem.objects.filter(enterprise=enterprise).exists():
        return 0
    items = [
        ChecklistTemplateItem(
            enterprise=enterprise,
            position=position,
            code=code,
            title=str(title),
            team=team,
            auto_check=check,
        )
        for position, (code, title, team, check) in enumerate(DEFAULT_CHECKLIST, start=1)
    ]
    bulk_create_with_history(
        items,
        ChecklistTemplateItem,
        default_user=actor,
        default_change_reason="copy_default_checklist",
    )
    return len(items)
