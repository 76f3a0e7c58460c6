"""Resignation inheritance (离职继承, X-5): what a leaving member owns goes to their successors.

`inherit` hands everything the member owns — external contacts, customer groups, app
authorizations, third-party bindings, approval templates, shared calendars — to one successor, or
per resource type to different ones, as one `InheritanceBatch` with one `InheritanceItem` per
resource. `reassign_full_items`, `refuse_item`, `settle_waiting` and `give_back` are the later steps
of the same handover. Every function that writes takes `*, actor` (None: the system) and runs in
one transaction.

The ownership rule for external contacts (the customer may decline being handed over, as in WeCom):

- Ownership moves at once, for every contact that fits. With an acceptance period (the
  enterprise's `customer_acceptance_period`, 24 hours by default) the item is `waiting` until
  `settles_at`; the successor looks after the customer meanwhile. `settle_waiting` (the later
  nightly job) marks it `done` once the period has passed. With a period of zero: `done` at once.
- A customer who declines (`refuse_item`, within the period) is kept as a lost customer: the item
  becomes `refused`, with the reason, and the contact row stays with the successor. It is never
  given back to the leaving member, so it never blocks the exit: the pre-review counts only what
  the member still owns (`prereview.owned_counts`). The refused items list the lost customers.
- A successor already looking after `customer_limit_per_member` contacts receives only as many as
  fit; the rest get items `receiver_full` and stay with the leaving member, so they still block
  completion until `reassign_full_items` gives them to someone with room.

Every other resource type moves at once, its items `done`.

Why set-based: the spec's sales director owns hundreds of customers, and a member may own up to
20,000. So nothing here loops over rows in Python: per resource type, the items are written by one
INSERT … SELECT from the resource table, the resources are moved by one UPDATE … WHERE id IN
(the batch's items), and their history rows ("~", the actor, reason "inheritance:<batch id>") are
copied by the database with one INSERT … SELECT. The number of queries of `inherit` does not
depend on how many resources move (a test holds it to that), and memory stays flat. The jobs that
work on an unbounded set of items (`settle_waiting`, `give_back`, `reassign_full_items`) work in
batches of at most BATCH_SIZE ids.

Audit (compliance.audit, C-7): each door writes its events in its own transaction, last (lock
order: see offboarding/services.py) — `inherit` ONE event per batch ("resources_inherited": the
successors, the counts per resource type and status, the item ids as runs), never one per
resource, so its query count stays flat too; `reassign_full_items` "inheritance_reassigned";
`refuse_item` "inheritance_item_refused" (the customer's reason sealed); `settle_waiting` one
"inheritance_settled" per batch in each of its transactions (the system); `give_back`
"inheritance_given_back", handed to the undo's trail.

Callers: `give_back` is called by `offboarding.workflow._undo`, inside the undo's transaction.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from simple_history.utils import bulk_update_with_history

from compliance import audit
from directory.models import (
    AppAuthorization,
    ApprovalTemplate,
    CustomerGroup,
    ExternalContact,
    Member,
    SharedCalendar,
    ThirdPartyBinding,
)

from . import notifications, rules, services
from .choices import ExitState, InheritanceStatus, ResourceType
from .exceptions import ExitRefused
from .models import Exit, InheritanceBatch, InheritanceItem

RESOURCE_MODELS = {
    ResourceType.EXTERNAL_CONTACT: ExternalContact,
    ResourceType.CUSTOMER_GROUP: CustomerGroup,
    ResourceType.APP_AUTHORIZATION: AppAuthorization,
    ResourceType.THIRD_PARTY_BINDING: ThirdPartyBinding,
    ResourceType.APPROVAL_TEMPLATE: ApprovalTemplate,
    ResourceType.SHARED_CALENDAR: SharedCalendar,
}

BATCH_SIZE = 2000  # ids per statement, at most (fewer where the database takes fewer parameters)
SETTLE_REASON = "settle_waiting"
UNDO_REASON = "undo"
_HISTORY_FIELDS = ("history_date", "history_change_reason", "history_type", "history_user")


def id_runs(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as runs of consecutive ids, [[first, last], …]: the item ids of an audit
    event, exact and short (the items of one batch are mostly consecutive)."""
    runs: list[list[int]] = []
    for pk in sorted(ids):
        if runs and pk == runs[-1][1] + 1:
            runs[-1][1] = pk
        else:
            runs.append([pk, pk])
    return runs


def _batch_event(batch: InheritanceBatch, action: str, *, data: dict, personal=None):
    """An audit event about `batch`, concerning its leaving member and their exit."""
    return audit.Event(
        action=action,
        object_type="inheritance_batch",
        object_id=batch.pk,
        member_id=batch.from_member_id,
        exit_id=batch.exit_case_id,
        data=data,
        personal=personal,
    )


def _items_summary(items: Iterable[tuple]) -> dict:
    """Counts per resource type and status, and the item ids, of (id, type, status) rows."""
    counts: dict[str, Counter] = defaultdict(Counter)
    ids = []
    for pk, rtype, status in items:
        counts[rtype][status] += 1
        ids.append(pk)
    return {
        "counts": {rtype: dict(by_status) for rtype, by_status in sorted(counts.items())},
        "item_id_runs": id_runs(ids),
    }


def change_reason(batch: InheritanceBatch) -> str:
    """The history reason of every row a batch moves: which handover moved it."""
    return f"inheritance:{batch.pk}"


def owned_counts(member) -> dict[ResourceType, int]:
    """How many resources of each type `member` still owns (one indexed count per type)."""
    return {
        rtype: model.objects.filter(owner_id=member.pk).count()
        for rtype, model in RESOURCE_MODELS.items()
    }


def with_resource_names(items: QuerySet) -> QuerySet:
    """`items` with `resource_name`: the name of the resource each hands over (the customer, the
    group…), read by the same query (a correlated subquery per resource type); None when the
    resource no longer exists."""
    return items.annotate(
        resource_name=Case(
            *[
                When(
                    resource_type=rtype.value,
                    then=Subquery(model.objects.filter(pk=OuterRef("resource_id")).values("name")),
                )
                for rtype, model in RESOURCE_MODELS.items()
            ],
            default=Value(None),
            output_field=CharField(),
        )
    )


def with_contact_load(members: QuerySet) -> QuerySet:
    """`members` with `contacts_held` (external contacts each looks after now) and
    `contact_limit` (their enterprise's `customer_limit_per_member`): one correlated count in the
    same query, however many members are listed (the successor pickers show it)."""
    held = (
        ExternalContact.objects.filter(owner_id=OuterRef("pk"))
        .order_by()
        .values("owner_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return members.annotate(
        contacts_held=Coalesce(Subquery(held, output_field=IntegerField()), 0),
        contact_limit=F("enterprise__customer_limit_per_member"),
    )


def contact_load(held: int, limit: int) -> str:
    """What a successor looks after against the limit: "27 / 10 external contacts"."""
    if held >= limit:
        return _("%(held)d / %(limit)d external contacts: no room") % {
            "held": held,
            "limit": limit,
        }
    return _("%(held)d / %(limit)d external contacts") % {"held": held, "limit": limit}


def over_limit(*, successor: Member, moving: int) -> dict | None:
    """What a handover of `moving` external contacts to `successor` would leave behind, before
    anything is written: None when all fit, else {"name", "held", "limit", "room", "moving",
    "left"}, `left` being how many would stay `receiver_full`. The door decides again, locked."""
    if not moving:
        return None
    held = ExternalContact.objects.filter(owner_id=successor.pk).count()
    limit = successor.enterprise.customer_limit_per_member
    room = max(0, limit - held)
    if moving <= room:
        return None
    return {
        "successor_id": successor.pk,
        "name": successor.name,
        "held": held,
        "limit": limit,
        "room": room,
        "moving": moving,
        "left": moving - room,
    }


def handover_warning(exit_case: Exit, *, successor=None, successors_by_type=None) -> dict | None:
    """`over_limit` for the external contacts `inherit` would hand over with these arguments
    (the same order of precedence: by type, `successor`, the exit's, the direct manager), or
    None when all fit or nobody would receive them (the door then says why)."""
    by_type = {ResourceType(key): value for key, value in (successors_by_type or {}).items()}
    receiver = (
        by_type.get(ResourceType.EXTERNAL_CONTACT)
        or successor
        or exit_case.successor
        or exit_case.member.manager
    )
    if receiver is None:
        return None
    moving = ExternalContact.objects.filter(owner_id=exit_case.member_id).count()
    return over_limit(successor=receiver, moving=moving)


# -- the doors -------------------------------------------------------------------------------


@transaction.atomic
def inherit(
    exit_case: Exit,
    *,
    actor,
    successor: Member | None = None,
    successors_by_type: dict | None = None,
) -> InheritanceBatch:
    """Hand everything the leaving member owns to successors (X-5); return the batch.

    Preconditions: the exit is in handover (after approval, or a removal) and `actor` is HR of its
    enterprise. Each resource type goes to `successors_by_type[type]`, else `successor`, else the
    exit's successor, else the member's direct manager. Refused, changing nothing: nobody to hand
    a type to; a successor who is the member, not active, or of another enterprise; the member
    owns nothing. The exit's row and the successors' rows are locked, so two handovers at once
    cannot push one successor over the contact limit.

    Side effects: the resources' owner changes; one item per resource; one history row per moved
    resource and per item (the actor, reason "inheritance:<batch id>"). External contacts follow
    the module's ownership rule (waiting / done / receiver_full).
    """
    exit_case = _lock_for_handover(exit_case, actor=actor)
    member = exit_case.member
    to_hand_over = [rtype for rtype, count in owned_counts(member).items() if count]
    if not to_hand_over:
        raise ExitRefused(_("%(name)s owns nothing left to hand over.") % {"name": member.name})
    successor_ids = _successor_ids(exit_case, successor, successors_by_type, to_hand_over)
    _lock_successors(exit_case, set(successor_ids.values()))

    enterprise = exit_case.enterprise
    now = timezone.now()
    batch = InheritanceBatch(
        enterprise=enterprise,
        exit_case=exit_case,
        from_member=member,
        created_by=actor,
        successors={rtype.value: successor_ids[rtype] for rtype in to_hand_over},
    )
    batch._history_user = actor
    batch._change_reason = "inherit"
    batch.save()

    for rtype in to_hand_over:
        to_id = successor_ids[rtype]
        if rtype == ResourceType.EXTERNAL_CONTACT:
            room = _room_for_contacts(enterprise, to_id)
            status, settles_at = _contact_status(enterprise, now)
            if room:
                _insert_items(
                    batch, rtype, to_id, status=status, settles_at=settles_at, now=now, limit=room
                )
            # Whatever did not fit stays with the leaving member (normally none: 0 rows).
            _insert_items(
                batch,
                rtype,
                to_id,
                status=InheritanceStatus.RECEIVER_FULL,
                settles_at=None,
                now=now,
            )
        else:
            _insert_items(
                batch, rtype, to_id, status=InheritanceStatus.DONE, settles_at=None, now=now
            )
        moving = _resource_ids(
            batch.items.filter(resource_type=rtype).exclude(status=InheritanceStatus.RECEIVER_FULL)
        )
        model = RESOURCE_MODELS[rtype]
        model.objects.filter(pk__in=moving, owner_id=member.pk).update(owner_id=to_id)
        _write_history(
            model,
            model.objects.filter(pk__in=moving, owner_id=to_id),
            history_type="~",
            actor=actor,
            reason=change_reason(batch),
            now=now,
        )
    _write_history(
        InheritanceItem,
        InheritanceItem.objects.filter(batch=batch),
        history_type="+",
        actor=actor,
        reason=change_reason(batch),
        now=now,
    )
    items = batch.items.order_by().values_list("pk", "resource_type", "status")
    event = _batch_event(
        batch,
        "resources_inherited",
        data={"successors": batch.successors, **_items_summary(items)},
    )
    audit.record_many(enterprise.pk, [event], actor=actor)
    notifications.resources_handed_over(batch)
    return batch


@transaction.atomic
def reassign_full_items(batch: InheritanceBatch, *, actor, successor: Member) -> int:
    """Give the contacts a full successor could not take (`receiver_full`) to `successor`.

    Same preconditions and refusals as `inherit` (exit in handover, HR, a valid successor), and
    the batch not given back. As many contacts as fit move, under the same ownership rule; the rest
    stay `receiver_full`. Returns how many moved; 0 when none was left (a second call is harmless).
    Refused when `successor` has no room at all.
    """
    exit_case = _lock_for_handover(batch.exit_case, actor=actor)
    batch = InheritanceBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.undone_at is not None:
        raise ExitRefused(_("This handover was given back: it can no longer be changed."))
    services.check_successor(exit_case.member, successor)
    _lock_successors(exit_case, {successor.pk})
    enterprise = exit_case.enterprise
    full = batch.items.filter(
        resource_type=ResourceType.EXTERNAL_CONTACT, status=InheritanceStatus.RECEIVER_FULL
    )
    if not full.exists():
        return 0
    held = ExternalContact.objects.filter(owner_id=successor.pk).count()
    room = max(0, enterprise.customer_limit_per_member - held)
    if not room:
        raise ExitRefused(
            ngettext(
                "%(name)s already looks after %(held)d external contact; the limit is "
                "%(limit)d per member: choose another successor.",
                "%(name)s already looks after %(held)d external contacts; the limit is "
                "%(limit)d per member: choose another successor.",
                held,
            )
            % {
                "name": successor.name,
                "held": held,
                "limit": enterprise.customer_limit_per_member,
            }
        )
    now = timezone.now()
    status, settles_at = _contact_status(enterprise, now)
    item_ids = list(full.order_by("pk").values_list("pk", flat=True)[:room])
    for chunk in _chunks(item_ids):
        InheritanceItem.objects.filter(pk__in=chunk).update(
            status=status, successor_id=successor.pk, settles_at=settles_at, updated_at=now
        )
        moving = _resource_ids(InheritanceItem.objects.filter(pk__in=chunk))
        ExternalContact.objects.filter(pk__in=moving, owner_id=batch.from_member_id).update(
            owner_id=successor.pk
        )
        for model, rows in (
            (ExternalContact, ExternalContact.objects.filter(pk__in=moving, owner_id=successor.pk)),
            (InheritanceItem, InheritanceItem.objects.filter(pk__in=chunk)),
        ):
            _write_history(
                model, rows, history_type="~", actor=actor, reason=change_reason(batch), now=now
            )
    event = _batch_event(
        batch,
        "inheritance_reassigned",
        data={
            "successor_id": successor.pk,
            "status": str(status),
            "moved": len(item_ids),
            "item_id_runs": id_runs(item_ids),
        },
    )
    audit.record_many(enterprise.pk, [event], actor=actor)
    notifications.resources_handed_over(batch, successor_ids=[successor.pk])
    return len(item_ids)


@transaction.atomic
def refuse_item(item: InheritanceItem, *, actor, reason: str = "") -> InheritanceItem:
    """The customer declined being handed over (WeCom's refusal, within the acceptance period).

    By the system (`actor=None`: the WeCom callback) or HR of the enterprise recording it. The item
    becomes `refused` and the contact stays with the successor as a lost customer (see the module
    docstring): it no longer blocks the exit. Refusing a refused item again changes nothing.
    """
    services.lock_audit_chain(
        InheritanceBatch.objects.values_list("enterprise_id", flat=True).get(pk=item.batch_id)
    )
    item = (
        InheritanceItem.objects.select_for_update(of=("self",))
        .select_related("batch__exit_case")
        .get(pk=item.pk)
    )
    if actor is not None and not rules.is_hr.test(actor, item.batch.exit_case):
        raise ExitRefused(_("You are not allowed to record a customer's refusal here."))
    if item.status == InheritanceStatus.REFUSED:
        return item
    if item.batch.undone_at is not None:
        raise ExitRefused(_("This handover was given back: it can no longer be changed."))
    if item.status != InheritanceStatus.WAITING:
        raise ExitRefused(
            _("Only a customer still within the acceptance period can decline the handover.")
        )
    if timezone.now() >= item.settles_at:
        raise ExitRefused(
            _("The acceptance period ended at %(time)s: the handover is final.")
            % {"time": formats.date_format(timezone.localtime(item.settles_at), "DATETIME_FORMAT")}
        )
    item.status = InheritanceStatus.REFUSED
    item.refusal_reason = reason
    item._history_user = actor
    item._change_reason = "refused"
    item.save()
    batch = item.batch
    event = audit.Event(
        action="inheritance_item_refused",
        object_type="inheritance_item",
        object_id=item.pk,
        member_id=batch.from_member_id,
        exit_id=batch.exit_case_id,
        data={
            "batch_id": batch.pk,
            "resource_type": str(item.resource_type),
            "resource_id": item.resource_id,
            "successor_id": item.successor_id,
        },
        personal={"reason": reason} if reason else None,
    )
    audit.record_many(batch.enterprise_id, [event], actor=actor)
    notifications.customer_refused(item)
    return item


def settle_waiting(now=None) -> int:
    """Mark `waiting` items whose acceptance period has ended as `done`; return how many.

    Only rows still needing work are selected, enterprise by enterprise, in batches of at most
    BATCH_SIZE, each batch in its own transaction (the enterprise's audit chain locked first, as
    every door does): a second run, or a run after one killed half way, does nothing twice. A
    given-back batch's items are left as they are. History: "~", the system, "settle_waiting";
    audit: one "inheritance_settled" per inheritance batch in each transaction.
    """
    now = now or timezone.now()
    due = InheritanceItem.objects.filter(
        status=InheritanceStatus.WAITING, settles_at__lte=now, batch__undone_at__isnull=True
    ).order_by("pk")
    enterprise_ids = sorted(
        set(due.order_by().values_list("batch__enterprise_id", flat=True).distinct())
    )
    settled = 0
    for enterprise_id in enterprise_ids:
        of_enterprise = due.filter(batch__enterprise_id=enterprise_id)
        while True:
            with transaction.atomic():
                services.lock_audit_chain(enterprise_id)
                # Locked, skipping rows another run holds: two runs at once never settle (and
                # write the history of) the same item twice.
                ids = list(
                    of_enterprise.select_for_update(skip_locked=True).values_list("pk", flat=True)[
                        : _chunk_size()
                    ]
                )
                if not ids:
                    break
                # status=waiting again: a refusal recorded meanwhile wins.
                settled += InheritanceItem.objects.filter(
                    pk__in=ids, status=InheritanceStatus.WAITING
                ).update(status=InheritanceStatus.DONE, updated_at=now)
                _write_history(
                    InheritanceItem,
                    InheritanceItem.objects.filter(pk__in=ids, status=InheritanceStatus.DONE),
                    history_type="~",
                    actor=None,
                    reason=SETTLE_REASON,
                    now=now,
                )
                _record_settled(enterprise_id, ids)
    return settled


def _record_settled(enterprise_id: int, ids: list[int]) -> None:
    """One "inheritance_settled" event per inheritance batch among the items `ids` just
    settled."""
    rows = (
        InheritanceItem.objects.filter(pk__in=ids, status=InheritanceStatus.DONE)
        .order_by("batch_id", "pk")
        .values_list(
            "batch_id", "batch__from_member_id", "batch__exit_case_id", "pk", "resource_type"
        )
    )
    by_batch: dict[tuple, list[tuple]] = defaultdict(list)
    for batch_id, member_id, exit_id, pk, rtype in rows:
        by_batch[(batch_id, member_id, exit_id)].append((pk, rtype, InheritanceStatus.DONE.value))
    events = [
        audit.Event(
            action="inheritance_settled",
            object_type="inheritance_batch",
            object_id=batch_id,
            member_id=member_id,
            exit_id=exit_id,
            data=_items_summary(items),
        )
        for (batch_id, member_id, exit_id), items in by_batch.items()
    ]
    audit.record_many(enterprise_id, events, actor=None)


@transaction.atomic
def give_back(exit_case: Exit, *, actor, trail: list | None = None) -> int:
    """Undo every handover of the exit: each moved resource goes back to the leaving member.

    Called by `workflow._undo` (误操作退出) inside its transaction, with the exit locked and the
    member restored; it checks nothing itself. Resources a successor no longer holds (passed on to
    someone else since) stay where they are; `receiver_full` ones never left. Each resource moved
    back gets a history row ("~", the actor, "undo"); each batch its `undone_at`. Returns how many
    resources moved back. Its audit event ("inheritance_given_back": the batches, the counts per
    resource type) goes to the caller's `trail`, else is written here.
    """
    batches = list(
        InheritanceBatch.objects.select_for_update().filter(
            exit_case=exit_case, undone_at__isnull=True
        )
    )
    if not batches:
        return 0
    now = timezone.now()
    member_id = exit_case.member_id
    moved_back = 0
    moved_by_type = {}
    for rtype, model in RESOURCE_MODELS.items():
        handed_over = InheritanceItem.objects.filter(
            batch__in=batches, resource_type=rtype
        ).exclude(status=InheritanceStatus.RECEIVER_FULL)
        still_with_successor = model.objects.filter(
            Exists(
                handed_over.filter(resource_id=OuterRef("pk"), successor_id=OuterRef("owner_id"))
            )
        ).order_by("pk")
        while ids := list(still_with_successor.values_list("pk", flat=True)[: _chunk_size()]):
            moved = model.objects.filter(pk__in=ids).update(owner_id=member_id)
            moved_back += moved
            moved_by_type[rtype.value] = moved_by_type.get(rtype.value, 0) + moved
            _write_history(
                model,
                model.objects.filter(pk__in=ids),
                history_type="~",
                actor=actor,
                reason=UNDO_REASON,
                now=now,
            )
    for batch in batches:
        batch.undone_at = now
    bulk_update_with_history(
        batches,
        InheritanceBatch,
        ["undone_at"],
        default_user=actor,
        default_change_reason=UNDO_REASON,
    )
    event = audit.Event(
        action="inheritance_given_back",
        object_type="exit",
        object_id=exit_case.pk,
        member_id=member_id,
        exit_id=exit_case.pk,
        data={"batch_ids": sorted(batch.pk for batch in batches), "moved_back": moved_by_type},
    )
    if trail is None:
        audit.record_many(exit_case.enterprise_id, [event], actor=actor)
    else:
        trail.append(event)
    return moved_back


# -- checks ----------------------------------------------------------------------------------


def _lock_for_handover(exit_case: Exit, *, actor) -> Exit:
    """The exit, locked, once `actor` may hand over its member's resources now."""
    if actor is None:
        raise ExitRefused(_("Only a person can hand over a member's resources."))
    services.lock_audit_chain(exit_case.enterprise_id)
    exit_case = (
        Exit.objects.select_for_update(of=("self",))
        .select_related("member", "enterprise")
        .get(pk=exit_case.pk)
    )
    if not rules.is_hr.test(actor, exit_case):
        raise ExitRefused(_("You are not allowed to hand over this member's resources."))
    if exit_case.state != ExitState.HANDOVER:
        raise ExitRefused(
            _(
                "This exit is %(state)s: a member's resources are handed over only while the "
                "exit is in handover."
            )
            % {"state": exit_case.get_state_display()}
        )
    return exit_case


def _successor_ids(exit_case, successor, successors_by_type, types) -> dict:
    """The successor's id for each type in `types`, by the order of precedence of `inherit`."""
    by_type = {ResourceType(key): value for key, value in (successors_by_type or {}).items()}
    for named in [successor, *by_type.values()]:
        if named is not None:
            services.check_successor(exit_case.member, named)
    member = exit_case.member
    default_id = (
        successor.pk if successor is not None else exit_case.successor_id or member.manager_id
    )
    chosen = {}
    for rtype in types:
        named = by_type.get(rtype)
        chosen[rtype] = named.pk if named is not None else default_id
    if any(member_id is None for member_id in chosen.values()):
        raise ExitRefused(
            _(
                "Name a successor: nobody is named on the exit, and %(name)s has no direct "
                "manager to inherit by default."
            )
            % {"name": member.name},
            field="successor",
        )
    return chosen


def _lock_successors(exit_case, member_ids: set) -> None:
    """Lock the successors' rows (in id order: no deadlock) and check them as locked: a default
    successor (the exit's, the manager) is checked here, and a change made meanwhile is seen."""
    for locked in Member.objects.select_for_update().filter(pk__in=member_ids).order_by("pk"):
        services.check_successor(exit_case.member, locked)


def _room_for_contacts(enterprise, member_id) -> int:
    held = ExternalContact.objects.filter(owner_id=member_id).count()
    return max(0, enterprise.customer_limit_per_member - held)


def _contact_status(enterprise, now):
    """(status, settles_at) of a contact handed over now."""
    period = enterprise.customer_acceptance_period
    if period.total_seconds() > 0:
        return InheritanceStatus.WAITING, now + period
    return InheritanceStatus.DONE, None


# -- set-based writing -----------------------------------------------------------------------


def _resource_ids(items: QuerySet) -> QuerySet:
    """The resource ids of `items`, as a subquery (never read into Python)."""
    return items.order_by().values("resource_id")


def _insert_items(batch, rtype, successor_id, *, status, settles_at, now, limit=None) -> int:
    """INSERT … SELECT one item per resource of type `rtype` the leaving member still owns and
    the batch has no item for yet, in id order; at most `limit`."""
    model = RESOURCE_MODELS[rtype]
    already = _resource_ids(InheritanceItem.objects.filter(batch=batch, resource_type=rtype))
    source = (
        model.objects.filter(owner_id=batch.from_member_id)
        .exclude(pk__in=already)
        .order_by("pk")
        .values_list(
            "pk",
            Value(batch.pk, output_field=IntegerField()),
            Value(rtype.value, output_field=CharField()),
            Value(successor_id, output_field=IntegerField()),
            Value(status.value, output_field=CharField()),
            Value(settles_at, output_field=DateTimeField()),
            Value("", output_field=CharField()),
            Value(now, output_field=DateTimeField()),
            Value(now, output_field=DateTimeField()),
        )
    )
    if limit is not None:
        source = source[:limit]
    columns = [
        "resource_id",
        "batch",
        "resource_type",
        "successor",
        "status",
        "settles_at",
        "refusal_reason",
        "created_at",
        "updated_at",
    ]
    return _insert_select(InheritanceItem, columns, source)


def _write_history(model, rows: QuerySet, *, history_type: str, actor, reason: str, now) -> None:
    """One history row per row of `rows`, holding its current values, copied by the database
    (INSERT … SELECT), as `seed_demo`'s `write_created_history` does. Should the historical model
    ever get fields this does not know (a custom history field), simple_history writes them."""
    history = model.history.model
    tracked = list(history.tracked_fields)
    expected = {field.name for field in tracked} | {"history_id", *_HISTORY_FIELDS}
    if {field.name for field in history._meta.concrete_fields} != expected:
        model.history.bulk_history_create(
            list(rows),
            batch_size=_chunk_size(),
            update=history_type == "~",
            default_user=actor,
            default_change_reason=reason,
            default_date=now,
        )
        return
    source = rows.order_by("pk").values_list(
        *[field.attname for field in tracked],
        Value(now, output_field=DateTimeField()),
        Value(reason, output_field=CharField()),
        Value(history_type, output_field=CharField()),
        Value(actor.pk if actor is not None else None, output_field=IntegerField()),
    )
    _insert_select(history, [field.name for field in tracked] + list(_HISTORY_FIELDS), source)


def _insert_select(target_model, field_names: list[str], source: QuerySet) -> int:
    """INSERT INTO target (fields) <the SELECT of `source`>; returns the rows written. `source`
    selects its model fields first, then its Value() columns, in the order of `field_names`."""
    sql, params = source.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(target_model._meta.get_field(name).column) for name in field_names)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(target_model._meta.db_table)} ({columns}) {sql}", params
        )
        return cursor.rowcount


def _chunk_size() -> int:
    """Ids per statement: BATCH_SIZE, or fewer where the database takes fewer parameters."""
    return min(BATCH_SIZE, (connection.features.max_query_params or BATCH_SIZE) - 16)


def _chunks(ids: list) -> Iterable[list]:
    size = _chunk_size()
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
