"""Erasure requests (数据删除权, C-5): a departed member's request to erase their personal data
(GDPR Art. 17, PIPL Art. 47), carried out in the enterprise's erasure mode.

The doors — `receive`, `evaluate`, `refuse`, `erase_now` and the retention run's
`finish_restricted` — each lock the enterprise's row (compliance.holds.lock_enterprise: a hold
placed meanwhile is seen) and the request's, check, move the request through its transitions
(which only set fields), carry out the erasure, save with the actor and the step in the request's
history, and write audit events, all in one transaction. A refusal raises ComplianceRefused and
changes nothing.

    received ─evaluate─▶ evaluated ─▶ erased       (nothing blocks: erased at once)
                                    └▶ restricted  (a legal hold or a statutory floor blocks)
    received | evaluated ─refuse─▶ refused
    restricted ─▶ erased           (finish_restricted once every blocker has lifted, or erase_now)

A request is `erased` only when nothing of it is kept. What the law keeps ends it `restricted`
instead, naming it (the blockers on its page; `kept` in its audit event): under a legal hold
nothing is erased (the hold keeps everything of the member); under statutory floors alone, what no
floor keeps is erased at once — the records outside every floor and, in mode `account`, the free
texts and the login — and only the floors' records stay. Those carry `restricted_at`: stored and
protected only (PIPL Art. 47 para. 2), never shown, read or exported (compliance.sealing,
compliance.exports, the records admin), until their blocker lapses; the retention run then erases
what has lapsed and finishes the request once nothing is kept.

What is erased, by the enterprise's mode (a snapshot taken when the request is received):
- `account` (WeCom): every record of the member is deleted, their data key destroyed, and every
  free text about them replaced (`_erase_account`, `FREE_TEXTS`): their name (in the member's
  history too), their exits' reasons, the comments and notes of their exits' approvals and
  checklists, the reasons of the freezes, holds and HR terminations they are the subject of, the
  refusals of their earlier requests — each in its django-simple-history rows too — and their
  name in the admin's log; their login's username becomes their pseudonym, its name and email
  are emptied and it can never be used again. Set-based, in the door's transaction;
- `modules` (DingTalk): the records of the chosen categories are deleted; the data key is
  destroyed only when no record of the member remains (one left unsealed could otherwise never
  be sealed: sealing needs the key);
- `levels` (Feishu): `delete` deletes the records, `anonymize` empties them and drops the owner,
  `pseudonymize` empties them and replaces the owner by a keyed pseudonym (HMAC-SHA256 of the
  member id), so the records of one person stay linkable. Delete and anonymize destroy the key.

Destroying the member's data key is crypto-shredding: whatever it sealed — records kept in a
backup, the personal data of the member's audit events — can never be read again, while the audit
chain still verifies (the ciphertext it hashed is unchanged).
"""

import hashlib
import hmac
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Case, Count, Max, Q, QuerySet, Value, When
from django.db.models.functions import Replace
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from directory import services as directory_services
from directory.choices import ErasureMode, MemberStatus, StaffRole
from directory.models import Enterprise, Member
from directory.tenancy import grants_for
from offboarding import notifications

from . import audit, crypto, holds
from .choices import ErasureLevel, ErasureState, RecordCategory
from .exceptions import ComplianceRefused
from .models import ErasureRequest, WorkRecord
from .retention import EMPLOYMENT_END, FLOORS, employment_end, floor_condition, within_floors

# A request still waiting for its erasure: these count towards the due date.
OPEN_STATES = (ErasureState.RECEIVED, ErasureState.EVALUATED, ErasureState.RESTRICTED)

# The steps of a request, as named in its history (`history_change_reason`) and the admin's URLs.
EVALUATE = "evaluate"
ERASE_NOW = "erase_now"
REFUSE = "refuse"
ACTIONS = (EVALUATE, ERASE_NOW, REFUSE)

# Which action each state offers (the admin's buttons; the doors refuse the others).
_ACTIONS_BY_STATE = {
    ErasureState.RECEIVED: (EVALUATE, ERASE_NOW, REFUSE),
    ErasureState.EVALUATED: (ERASE_NOW, REFUSE),
    ErasureState.RESTRICTED: (ERASE_NOW,),
}

# Blocker codes (ErasureRequest.blockers[*]["code"]).
LEGAL_HOLD = "legal_hold"
RETENTION_FLOOR = "retention_floor"

# One whole sentence per action, so that each translates as a sentence.
_WRONG_STATE = {
    EVALUATE: gettext_lazy("This erasure request is %(state)s: it cannot be evaluated now."),
    ERASE_NOW: gettext_lazy("This erasure request is %(state)s: it cannot be erased now."),
    REFUSE: gettext_lazy("This erasure request is %(state)s: it cannot be refused now."),
}

# How many restricted requests `finish_restricted` reads at a time (each then in its own
# transaction).
BATCH_SIZE = 200


# ---------------------------------------------------------------------------------------------
# Reads


def due_date(received_on: date) -> date:
    """The legal due date of a request received on `received_on` (the enterprise's local date):
    one calendar month later (GDPR Art. 12(3); PIPL Art. 50 "timely"). 31 January → 28/29 February.
    """
    return received_on + relativedelta(months=1)


def _undoable_exit(member: Member):
    """The member's completed exit whose undo window is still open, if any. Looked up by app
    label: the compliance app does not import the exit workflow, which builds on it."""
    exit_model = apps.get_model("offboarding", "Exit")
    return (
        exit_model.objects.filter(
            member=member, state="completed", undo_deadline__gt=timezone.now()
        )
        .only("undo_deadline")
        .first()
    )


def is_overdue(erasure_request: ErasureRequest, *, today: date | None = None) -> bool:
    """Whether the request is still open after its due date, in its enterprise's time zone."""
    if erasure_request.state not in OPEN_STATES:
        return False
    today = today or holds.local_today(erasure_request.enterprise)
    return today > erasure_request.due_on


def overdue(queryset: QuerySet) -> QuerySet:
    """The open requests of `queryset` past their due date, each by its enterprise's own today
    (one small query for the time zones in play, then one filter)."""
    zones = (
        queryset.order_by()
        .values_list("enterprise__time_zone", flat=True)
        .distinct()
        .filter(state__in=OPEN_STATES)
    )
    past_due = Q(pk__in=[])
    for zone in set(zones):
        past_due |= Q(enterprise__time_zone=zone, due_on__lt=timezone.localdate(timezone=zone))
    return queryset.filter(past_due, state__in=OPEN_STATES)


def available_actions(erasure_request: ErasureRequest) -> tuple[str, ...]:
    """The actions the request's state allows now (who may press them: `may_act`)."""
    return _ACTIONS_BY_STATE.get(erasure_request.state, ())


def may_act(user, erasure_request: ErasureRequest) -> bool:
    """Whether `user` records and decides erasure requests of the request's enterprise."""
    return _is_compliance(user, erasure_request.enterprise_id)


def pseudonym(member_id: int) -> str:
    """The keyed pseudonym of a member (HMAC-SHA256 of the id with the SECRET_KEY, 16 hex
    digits): the same for every record of one person, and no way back without the key."""
    digest = hmac.new(settings.SECRET_KEY.encode(), str(member_id).encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def records_in_scope(erasure_request: ErasureRequest) -> QuerySet:
    """The work records the request erases: the member's own (of the chosen categories in mode
    `modules`), and those an earlier request pseudonymized."""
    member_id = erasure_request.member_id
    owned = Q(owner_id=member_id)
    if ErasureRequest.objects.filter(
        member_id=member_id, state=ErasureState.ERASED, level=ErasureLevel.PSEUDONYMIZE
    ).exists():
        owned |= Q(owner_pseudonym=pseudonym(member_id))
    records = WorkRecord.objects.filter(owned, enterprise_id=erasure_request.enterprise_id)
    if erasure_request.mode == ErasureMode.MODULES:
        records = records.filter(category__in=erasure_request.categories)
    return records


def blockers(erasure_request: ErasureRequest, *, today: date | None = None) -> list[dict]:
    """What keeps the request from being erased today: a standing legal hold on the member (or
    the whole enterprise), and each statutory floor that still keeps records in scope. Each is
    {"code", "message", …its facts}; `describe` words it again in the reader's language."""
    enterprise = erasure_request.enterprise
    today = today or holds.local_today(enterprise)
    found = []
    hold = holds.blocking_hold(erasure_request.member, today=today)
    if hold is not None:
        blocker = {
            "code": LEGAL_HOLD,
            "hold_id": hold.pk,
            "whole_enterprise": hold.member_id is None,
            "since": hold.starts_on.isoformat(),
        }
        found.append({**blocker, "message": describe(blocker)})
    found.extend(
        _floor_blockers(
            enterprise,
            records_in_scope(erasure_request),
            today,
            member_id=erasure_request.member_id,
        )
    )
    return found


def describe(blocker: dict) -> str:
    """A blocker in words, in the active language (its stored message is in the language of the
    moment it was found)."""
    code = blocker.get("code")
    if code == LEGAL_HOLD:
        if blocker.get("whole_enterprise"):
            message = _(
                "A legal hold on the whole enterprise stands since %(date)s: nothing is erased "
                "until it is released."
            )
        else:
            message = _(
                "A legal hold on this member stands since %(date)s: nothing is erased until it "
                "is released."
            )
        return message % {"date": blocker["since"]}
    if code == RETENTION_FLOOR:
        floor = _floor(blocker["category"], blocker["document_type"])
        count = blocker["count"]
        if blocker.get("until") is None:
            return ngettext(
                "%(count)d record is within a statutory retention floor that counts from the end "
                "of the member's employment, which no completed exit records yet. %(law)s",
                "%(count)d records are within a statutory retention floor that counts from the "
                "end of the member's employment, which no completed exit records yet. %(law)s",
                count,
            ) % {"count": count, "law": floor.law if floor else ""}
        return ngettext(
            "%(count)d record is still within a statutory retention floor until %(date)s. %(law)s",
            "%(count)d records are still within a statutory retention floor until %(date)s. "
            "%(law)s",
            count,
        ) % {"count": count, "date": blocker["until"], "law": floor.law if floor else ""}
    return str(blocker.get("message", ""))


def restricted_summary(erasure_request: ErasureRequest) -> str:
    """What a restricted request keeps and what it erased already, in words (the page and the
    message after a button; the blockers themselves are worded by `describe`)."""
    if _held(erasure_request.blockers):
        return _(
            "A legal hold keeps everything of this member: nothing is erased until it is "
            "released, and the records are stored and protected only, never read nor exported."
        )
    count = erasure_request.erased_count
    summary = ngettext(
        "The law keeps only what is listed here, stored and protected, never read nor "
        "exported, until it lapses; the retention run then erases it. %(count)d record was "
        "erased already.",
        "The law keeps only what is listed here, stored and protected, never read nor "
        "exported, until it lapses; the retention run then erases it. %(count)d records were "
        "erased already.",
        count,
    ) % {"count": count}
    if erasure_request.mode == ErasureMode.ACCOUNT:
        summary += " " + _(
            "The member's name, free texts and login were erased already; the audit trail's "
            "sealed copies of their texts are never shown and go with the records' key."
        )
    return summary


# ---------------------------------------------------------------------------------------------
# The doors


def check_receive(member: Member, *, actor, categories=None, level: str = "") -> tuple[list, str]:
    """Raise ComplianceRefused unless `receive` would record this request; return the categories
    and level it would keep (only what the enterprise's mode asks for)."""
    if not _is_compliance(actor, member.enterprise_id):
        raise ComplianceRefused(
            _("Only Compliance staff of the enterprise can record an erasure request.")
        )
    if member.status != MemberStatus.DEPARTED:
        raise ComplianceRefused(
            _(
                "%(name)s has not left the enterprise: only a departed member's data is erased "
                "on request."
            )
            % {"name": member.name},
            field="member",
        )
    undoable = _undoable_exit(member)
    if undoable is not None:
        raise ComplianceRefused(
            _(
                "The exit of %(name)s can still be undone until %(deadline)s: record the request "
                "once the undo window has closed, or the undo would bring back a member whose "
                "data is gone."
            )
            % {
                "name": member.name,
                "deadline": formats.date_format(
                    timezone.localtime(undoable.undo_deadline, member.enterprise.time_zone),
                    "Y-m-d H:i",
                ),
            },
            field="member",
        )
    mode = member.enterprise.erasure_mode
    kept_categories, kept_level = [], ""
    if mode == ErasureMode.MODULES:
        chosen = set(categories or ())
        unknown = sorted(chosen - set(RecordCategory.values))
        if unknown:
            raise ComplianceRefused(
                _("%(value)s is not a category of work records.") % {"value": unknown[0]},
                field="categories",
            )
        if not chosen:
            raise ComplianceRefused(
                _(
                    "Choose the categories to erase: this enterprise erases the categories the "
                    "member chooses (DingTalk)."
                ),
                field="categories",
            )
        kept_categories = [value for value in RecordCategory.values if value in chosen]
    elif mode == ErasureMode.LEVELS:
        if level not in ErasureLevel.values:
            raise ComplianceRefused(
                _(
                    "Choose the erasure level: this enterprise anonymizes, pseudonymizes or "
                    "deletes, as the member chooses (Feishu)."
                ),
                field="level",
            )
        kept_level = level
    already = (
        ErasureRequest.objects.filter(member=member, state__in=OPEN_STATES)
        .order_by("received_at")
        .first()
    )
    if already is not None:
        raise ComplianceRefused(
            _("%(name)s already has an open erasure request, due on %(date)s.")
            % {"name": member.name, "date": already.due_on.isoformat()},
            field="member",
        )
    return kept_categories, kept_level


@transaction.atomic
def receive(member: Member, *, actor, categories=None, level: str = "") -> ErasureRequest:
    """Record a departed member's erasure request, in the enterprise's erasure mode (kept on the
    request: a later change of mode does not change what was asked). Its due date is one calendar
    month after the day it is received. Compliance staff of the enterprise only; refused for a
    member who has not left, without the categories (mode `modules`) or level (mode `levels`) the
    mode asks for, or when the member has an open request already. One audit event."""
    enterprise = holds.lock_enterprise(member.enterprise_id)
    member = Member.objects.select_related("enterprise").get(pk=member.pk)
    categories, level = check_receive(member, actor=actor, categories=categories, level=level)
    now = timezone.now()
    erasure_request = ErasureRequest(
        enterprise=enterprise,
        member=member,
        mode=enterprise.erasure_mode,
        categories=categories,
        level=level,
        received_at=now,
        due_on=due_date(timezone.localdate(now, timezone=enterprise.time_zone)),
        requested_by=actor,
    )
    _save(erasure_request, actor=actor, step="receive")
    audit.record(
        enterprise.pk,
        actor=actor,
        action="erasure_received",
        object_type="erasure_request",
        object_id=erasure_request.pk,
        member_id=member.pk,
        data={
            "mode": erasure_request.mode,
            "categories": categories,
            "level": level,
            "due_on": erasure_request.due_on.isoformat(),
        },
    )
    notifications.erasure_waiting(erasure_request)
    return erasure_request


@transaction.atomic
def evaluate(erasure_request: ErasureRequest, *, actor) -> ErasureRequest:
    """received → evaluated, and at once on: → erased when nothing blocks it, else → restricted
    with its `blockers` (a standing legal hold, records still within a statutory floor) and every
    record in scope marked `restricted_at` (stored and protected only; the retention run finishes
    the request once the blockers lift). Compliance staff of the enterprise only."""
    erasure_request = _lock(erasure_request)
    _refuse_unless_allowed(erasure_request, EVALUATE, actor)
    erasure_request.evaluate()
    _save(erasure_request, actor=actor, step=EVALUATE)
    events = [_event(erasure_request, "erasure_evaluated")]
    found = blockers(erasure_request)
    if found:
        events.append(_restrict(erasure_request, found, actor=actor))
    else:
        events.append(_erase(erasure_request, actor=actor))
    audit.record_many(erasure_request.enterprise_id, events, actor=actor)
    return erasure_request


@transaction.atomic
def refuse(erasure_request: ErasureRequest, *, actor, reason: str) -> ErasureRequest:
    """received | evaluated → refused, with the reason the member is given (kept on the request;
    in the audit trail sealed with the member's key). Compliance staff of the enterprise only."""
    erasure_request = _lock(erasure_request)
    _refuse_unless_allowed(erasure_request, REFUSE, actor)
    reason = (reason or "").strip()
    if not reason:
        raise ComplianceRefused(
            _("Say why the request is refused: the member is given this reason."), field="reason"
        )
    erasure_request.refuse(reason)
    _save(erasure_request, actor=actor, step=REFUSE)
    audit.record(
        erasure_request.enterprise_id,
        actor=actor,
        action="erasure_refused",
        object_type="erasure_request",
        object_id=erasure_request.pk,
        member_id=erasure_request.member_id,
        personal={"reason": reason},
    )
    return erasure_request


@transaction.atomic
def erase_now(erasure_request: ErasureRequest, *, actor) -> ErasureRequest:
    """Erase now (from received, evaluated or restricted): refused, changing nothing, while the
    member is under a legal hold or records in scope are within a statutory floor — the message
    says which. Compliance staff of the enterprise only."""
    erasure_request = _lock(erasure_request)
    _refuse_unless_allowed(erasure_request, ERASE_NOW, actor)
    member = erasure_request.member
    hold = holds.blocking_hold(member)
    if hold is not None:
        if hold.member_id is None:
            message = _(
                "The whole enterprise is under a legal hold since %(date)s: nothing can be "
                "erased until it is released."
            )
        else:
            message = _(
                "%(name)s is under a legal hold since %(date)s: nothing of theirs can be erased "
                "until it is released."
            )
        raise ComplianceRefused(message % {"name": member.name, "date": hold.starts_on})
    events = []
    if erasure_request.state == ErasureState.RECEIVED:
        erasure_request.evaluate()
        _save(erasure_request, actor=actor, step=EVALUATE)
        events.append(_event(erasure_request, "erasure_evaluated"))
    found = blockers(erasure_request)
    if found:
        raise ComplianceRefused(" ".join(describe(blocker) for blocker in found))
    events.append(_erase(erasure_request, actor=actor))
    audit.record_many(erasure_request.enterprise_id, events, actor=actor)
    return erasure_request


def finish_restricted(enterprise: Enterprise, *, actor=None) -> int:
    """Finish the enterprise's restricted requests whose blockers have all lifted (the retention
    run calls this after its purge): each is erased now. The others stay restricted, their
    blockers brought up to date (and any new record in scope marked). Each request in its own
    transaction, which locks the enterprise first and so sees a hold placed meanwhile. Returns how
    many were erased. `actor` None is the system. Twice is harmless: a finished request is no
    longer restricted, an unchanged one is not saved again."""
    pending = ErasureRequest.objects.filter(
        enterprise_id=enterprise.pk, state=ErasureState.RESTRICTED
    ).order_by("pk")
    finished, last_pk = 0, 0
    while True:
        ids = list(pending.filter(pk__gt=last_pk).values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            return finished
        for pk in ids:
            finished += _finish_one(enterprise.pk, pk, actor=actor)
        last_pk = ids[-1]


@transaction.atomic
def _finish_one(enterprise_id: int, pk: int, *, actor) -> bool:
    holds.lock_enterprise(enterprise_id)
    erasure_request = _locked_requests().filter(pk=pk, state=ErasureState.RESTRICTED).first()
    if erasure_request is None:
        return False  # finished (or erased by hand) meanwhile
    found = blockers(erasure_request)
    if found:
        # What no blocker keeps any more (a floor lapsed for some records, a hold released while
        # a floor stands) is erased now; the rest stays stored and protected only.
        erased, account = _erase_unkept(erasure_request, found, actor=actor)
        if erased:
            found = blockers(erasure_request)
        marked = _mark_restricted(erasure_request)
        changed = _facts(found) != _facts(erasure_request.blockers)
        if changed or erased:
            erasure_request.blockers = found
            erasure_request.erased_count += erased
            _save(erasure_request, actor=actor, step="blockers_changed")
        if changed or marked or erased:
            event = _event(
                erasure_request,
                "erasure_still_restricted",
                blockers=[blocker["code"] for blocker in found],
                records=marked,
                erased=erased,
                account=account,
                kept=_kept(found),
            )
            audit.record_many(enterprise_id, [event], actor=actor)
        return False
    audit.record_many(enterprise_id, [_erase(erasure_request, actor=actor)], actor=actor)
    return True


# ---------------------------------------------------------------------------------------------
# Inside the doors


def _is_compliance(user, enterprise_id) -> bool:
    return user is not None and grants_for(user).has_role(enterprise_id, (StaffRole.COMPLIANCE,))


def _locked_requests():
    return ErasureRequest.objects.select_for_update(of=("self",)).select_related(
        "member__enterprise", "member__user", "enterprise"
    )


def _lock(erasure_request: ErasureRequest) -> ErasureRequest:
    """Lock the enterprise (holds, retention batches and erasures one at a time), then the
    request; return it fresh."""
    holds.lock_enterprise(erasure_request.enterprise_id)
    return _locked_requests().get(pk=erasure_request.pk)


def _refuse_unless_allowed(erasure_request: ErasureRequest, action: str, actor) -> None:
    if not _is_compliance(actor, erasure_request.enterprise_id):
        raise ComplianceRefused(
            _("Only Compliance staff of the enterprise can act on an erasure request.")
        )
    if action not in available_actions(erasure_request):
        raise ComplianceRefused(
            _WRONG_STATE[action] % {"state": erasure_request.get_state_display()}
        )


def _save(erasure_request: ErasureRequest, *, actor, step: str) -> None:
    erasure_request._history_user = actor
    erasure_request._change_reason = step
    erasure_request.save()


def _event(erasure_request: ErasureRequest, action: str, **data) -> audit.Event:
    return audit.Event(
        action=action,
        object_type="erasure_request",
        object_id=erasure_request.pk,
        member_id=erasure_request.member_id,
        data={"mode": erasure_request.mode, **data},
    )


def _facts(found: list[dict]) -> list[dict]:
    """Blockers without their words (which follow the language of the moment)."""
    return [{key: value for key, value in blocker.items() if key != "message"} for blocker in found]


def _floor(category: str, document_type: str):
    for floor in FLOORS:
        if floor.category == category and floor.document_type == document_type:
            return floor
    return None


def _floor_blockers(
    enterprise: Enterprise, records: QuerySet, today: date, *, member_id: int
) -> list[dict]:
    """One blocker per statutory floor that still keeps records of `records`: how many, and the
    last day it keeps them — from the newest record's creation (chats), or from the member's last
    working day (labour contracts, wage records; None while no ended exit records it). One query
    for the records, one for the end of employment when such a floor keeps any."""
    aggregates = {}
    for index, floor in enumerate(FLOORS):
        condition = floor_condition(floor)
        aggregates[f"count_{index}"] = Count("pk", filter=condition)
        aggregates[f"newest_{index}"] = Max("created_at", filter=condition)
        # Records that no longer name their member count from their creation (within_floors).
        aggregates[f"ownerless_{index}"] = Max(
            "created_at", filter=condition & Q(owner__isnull=True)
        )
        aggregates[f"owned_{index}"] = Count("pk", filter=condition & Q(owner__isnull=False))
    kept = records.filter(within_floors(enterprise, today=today)).aggregate(**aggregates)
    found = []
    ended_on: date | None = None
    ended_read = False

    def kept_until(floor, created_at: datetime | None) -> date | None:
        if created_at is None:
            return None
        return floor.kept_until(timezone.localdate(created_at, timezone=enterprise.time_zone))

    for index, floor in enumerate(FLOORS):
        count = kept[f"count_{index}"]
        if not count:
            continue
        if floor.counts_from == EMPLOYMENT_END:
            if not ended_read:
                ended_on, ended_read = employment_end(member_id), True
            owned = kept[f"owned_{index}"]
            if owned and ended_on is None:
                until = None  # employed: the floor has not started counting
            else:
                days = [kept_until(floor, kept[f"ownerless_{index}"])]
                if owned:
                    days.append(floor.kept_until(ended_on))
                until = max(day for day in days if day is not None)
        else:
            until = kept_until(floor, kept[f"newest_{index}"])
        blocker = {
            "code": RETENTION_FLOOR,
            "category": str(floor.category),
            "document_type": str(floor.document_type),
            "count": count,
            "until": until.isoformat() if until is not None else None,
        }
        found.append({**blocker, "message": describe(blocker)})
    return found


def _mark_restricted(erasure_request: ErasureRequest) -> int:
    return (
        records_in_scope(erasure_request)
        .filter(restricted_at__isnull=True)
        .update(restricted_at=timezone.now())
    )


def _held(found: list[dict]) -> bool:
    return any(blocker["code"] == LEGAL_HOLD for blocker in found)


def _kept(found: list[dict]) -> list[dict]:
    """What the law keeps, for the audit event: each blocker's facts (the hold, or the floor with
    its category, document type, count and last kept day)."""
    return _facts(found)


def _erase_unkept(erasure_request: ErasureRequest, found: list[dict], *, actor) -> tuple[int, bool]:
    """While only statutory floors block the request, erase at once what no floor keeps: the
    records in scope outside every floor (in the request's mode) and, in mode `account`, the
    member's free texts and login (`_erase_account`). A legal hold keeps everything of the member:
    then nothing is erased. Returns (records erased, whether the account was erased)."""
    if _held(found):
        return 0, False
    enterprise = erasure_request.enterprise
    today = holds.local_today(enterprise)
    unkept = records_in_scope(erasure_request).exclude(within_floors(enterprise, today=today))
    erased = _erase_records(erasure_request, unkept)
    account = erasure_request.mode == ErasureMode.ACCOUNT
    if account:
        _erase_account(erasure_request.member, actor=actor)
    return erased, account


def _restrict(erasure_request: ErasureRequest, found: list[dict], *, actor) -> audit.Event:
    """evaluated → restricted: what the law keeps (the floors' records, or everything under a
    hold) is stored and protected only — never read nor exported — and the rest is erased now."""
    erased, account = _erase_unkept(erasure_request, found, actor=actor)
    marked = _mark_restricted(erasure_request)
    erasure_request.restrict(found)
    erasure_request.erased_count += erased
    _save(erasure_request, actor=actor, step="restrict")
    return _event(
        erasure_request,
        "erasure_restricted",
        blockers=[blocker["code"] for blocker in found],
        records=marked,
        erased=erased,
        account=account,
        kept=_kept(found),
    )


def _erase_records(erasure_request: ErasureRequest, records: QuerySet) -> int:
    """Erase `records` as the request's mode and level say: delete them, or (levels anonymize and
    pseudonymize) empty them and drop their owner. One statement. Returns how many."""
    mode, level = erasure_request.mode, erasure_request.level
    if mode == ErasureMode.LEVELS and level in (ErasureLevel.ANONYMIZE, ErasureLevel.PSEUDONYMIZE):
        return records.update(
            owner=None,
            owner_pseudonym=(
                pseudonym(erasure_request.member_id) if level == ErasureLevel.PSEUDONYMIZE else ""
            ),
            content="",
            sealed_content=None,
            anonymized_at=timezone.now(),
            restricted_at=None,
        )
    return records.order_by().delete()[0]  # account, modules, levels/delete


def _erase(erasure_request: ErasureRequest, *, actor) -> audit.Event:
    """Carry out the erasure in the request's mode (set-based: one statement for the records),
    → erased. The caller has made sure nothing blocks it, under the enterprise's lock."""
    member = erasure_request.member
    mode, level = erasure_request.mode, erasure_request.level
    erased = _erase_records(erasure_request, records_in_scope(erasure_request))
    if mode == ErasureMode.MODULES:
        # Another category's records remain: the key still has to seal (or read) them.
        shred = not WorkRecord.objects.filter(owner_id=member.pk).exists()
    else:
        shred = level != ErasureLevel.PSEUDONYMIZE
    key_destroyed = crypto.destroy_key(member.pk) if shred else False
    if mode == ErasureMode.ACCOUNT:
        _erase_account(member, actor=actor)
    erasure_request.erase()
    erasure_request.erased_count += erased
    _save(erasure_request, actor=actor, step="erase")
    return _event(
        erasure_request,
        "erasure_erased",
        level=level,
        categories=list(erasure_request.categories),
        records=erased,
        key_destroyed=key_destroyed,
        account=mode == ErasureMode.ACCOUNT,
    )


# The free texts about a member that mode `account` replaces, by model: (app label, model name,
# the fields, how the rows are the member's — a lookup whose value is the member's id). Their
# django-simple-history tables get the same. What is neither here nor on the member or login is
# not free text about the member (ids, dates, states, choices).
ERASED_TEXT = "[erased]"
FREE_TEXTS = (
    ("offboarding", "Exit", ("reason", "rejection_reason"), "member_id"),
    ("offboarding", "ExitApproval", ("comment", "reassign_reason"), "exit_case__member_id"),
    ("offboarding", "ChecklistItem", ("note",), "exit_case__member_id"),
    ("offboarding", "InheritanceItem", ("refusal_reason",), "batch__from_member_id"),
    ("offboarding", "AccountFreeze", ("reason",), "member_id"),
    ("offboarding", "HRTermination", ("reason", "error"), "member_id"),
    ("compliance", "LegalHold", ("reason",), "member_id"),
    ("compliance", "ErasureRequest", ("refusal_reason",), "member_id"),
    ("compliance", "RecordExport", ("legal_basis",), "member_id"),
)
# The history tables have the parent's foreign keys as plain ids: how their rows are the member's.
_HISTORY_LOOKUPS = {
    "member_id": "member_id",
    "exit_case__member_id": "exit_case_id__in",
    "batch__from_member_id": "batch_id__in",
}
# The objects whose admin log entries (Django's "history" of the pages) name the member.
_LOGGED_OBJECTS = (
    ("directory", "Member", "pk"),
    ("offboarding", "Exit", "member_id"),
    ("offboarding", "AccountFreeze", "member_id"),
    ("offboarding", "InheritanceBatch", "from_member_id"),
    ("compliance", "LegalHold", "member_id"),
    ("compliance", "ErasureRequest", "member_id"),
    ("compliance", "RecordExport", "member_id"),
)


def _replaced(field: str) -> Case:
    """`field` replaced by ERASED_TEXT, an empty one left empty (nothing was said)."""
    return Case(When(**{field: ""}, then=Value("")), default=Value(ERASED_TEXT))


def _erase_free_texts(member: Member) -> None:
    """Replace every free text about `member` (FREE_TEXTS) in the rows and their history rows:
    one UPDATE per table."""
    parents = {
        "exit_case_id__in": apps.get_model("offboarding", "Exit")
        .objects.filter(member_id=member.pk)
        .values("pk"),
        "batch_id__in": apps.get_model("offboarding", "InheritanceBatch")
        .objects.filter(from_member_id=member.pk)
        .values("pk"),
    }
    for app_label, model_name, fields, lookup in FREE_TEXTS:
        model = apps.get_model(app_label, model_name)
        changes = {field: _replaced(field) for field in fields}
        unerased = Q()
        for field in fields:
            unerased |= ~Q(**{field: ""}) & ~Q(**{field: ERASED_TEXT})
        model._default_manager.filter(unerased, **{lookup: member.pk}).update(**changes)
        if not hasattr(model, "history"):  # an export's row is its only record
            continue
        history_lookup = _HISTORY_LOOKUPS[lookup]
        value = parents.get(history_lookup, member.pk)
        model.history.filter(unerased, **{history_lookup: value}).update(**changes)


def _erase_admin_log(member: Member, old_name: str, placeholder: str) -> None:
    """The admin's log entries of the member's objects keep each object's name as it was
    (`object_repr`): the member's name in them is replaced. One UPDATE."""
    if not old_name:
        return
    entries = Q(pk__in=[])
    for app_label, model_name, owner in _LOGGED_OBJECTS:
        model = apps.get_model(app_label, model_name)
        ids = model._default_manager.filter(**{owner: member.pk}).values_list("pk", flat=True)
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
        entries |= Q(content_type=content_type, object_id__in=[str(pk) for pk in ids])
    LogEntry.objects.filter(entries).update(
        object_repr=Replace("object_repr", Value(old_name), Value(placeholder))
    )


def _erase_login(member: Member) -> None:
    """The member's login: its username becomes the member's pseudonym (in the lockout records
    too), its name and email go, and it can never be used again (no usable password, inactive)."""
    user_model = get_user_model()
    old_username = (
        user_model.objects.filter(pk=member.user_id).values_list("username", flat=True).first()
    )
    new_username = pseudonym(member.pk)
    user_model.objects.filter(pk=member.user_id).exclude(username=new_username).update(
        username=new_username,
        first_name="",
        last_name="",
        email="",
        password=make_password(None),
        is_active=False,
    )
    if old_username and old_username != new_username:
        for model_name in ("AccessAttempt", "AccessLog", "AccessFailureLog"):
            try:
                model = apps.get_model("axes", model_name)
            except LookupError:
                continue
            model._default_manager.filter(username=old_username).update(username=new_username)


def _erase_account(member: Member, *, actor) -> None:
    """Mode `account`: every free text about the member goes — their name (in the member's
    history as well), the reasons of their exits, the comments of their approvals, the notes of
    their checklists, the reasons of the freezes, holds and terminations they are the subject of,
    refusals of their earlier requests and the legal bases of their exports, each in its history
    rows too, and their name in the admin's log — and their login's username becomes their
    pseudonym, its name and email emptied, unusable for good. Set-based, in the caller's
    transaction. The member row itself stays (the exits, handovers and audit events name it by
    id); so do the ids, dates and states of their rows."""
    placeholder = f"已删除用户 #{member.pk}"
    old_name = Member.objects.filter(pk=member.pk).values_list("name", flat=True).first()
    if old_name != placeholder:  # twice is harmless: no second history row
        try:
            directory_services.update_member(member, actor=actor, name=placeholder)
        except directory_services.DirectoryError as error:
            raise ComplianceRefused(" ".join(error.messages)) from error
    Member.history.filter(id=member.pk).exclude(name=placeholder).update(name=placeholder)
    _erase_free_texts(member)
    if old_name and old_name != placeholder:
        _erase_admin_log(member, old_name, placeholder)
    notifications.erase_member(member, old_name=old_name or "", placeholder=placeholder)
    _erase_login(member)
