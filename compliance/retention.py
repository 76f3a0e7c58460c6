"""Retention (C-2): how long records are kept, and what happens to them afterwards.

The statutory floors (`FLOORS`) hold whatever a policy says, and no policy may go below them:

- chat messages: at least 6 calendar months and never fewer than 180 days from their creation
  (the seed's 「工作聊天记录保存≥180天」; Cybersecurity Law Art. 21) — a chat of 31 August is kept
  through the last day of February;
- labour contracts and wage records: 2 years after the employment ends (Labor Contract Law
  Art. 50), counted from the last working day of the member's completed (or closed) exit — never
  while the member is employed: no such exit, the member not departed, or the exit undone. A
  record that no longer names its member (anonymized or pseudonymized) counts from its creation.

A floor counts from the record's creation (`Floor.counts_from == CREATION`) or from the end of
its member's employment (`EMPLOYMENT_END`); `within_floors` says both in one Q (the end of
employment as EXISTS subqueries on the exits), so the preview, the run and the erasure's
blockers read the same floors set-based.

Dates are the enterprise's (its time zone): a record is past its retention from the day after
its last kept day.

Policies (`RetentionPolicy`, one per enterprise and category, or one on every category) say how
long a category is kept at least, then purge, anonymize or keep. A record's rule is the longest
of its category's policy and the every-category one (`effective_rules`); on equal days the more
protective action wins (keep > anonymize > purge); without a policy a record is kept (approval
records are kept until a compliant deletion). The floors keep a record at least as long
whatever its rule says. A policy is saved only through `save_policy`, which refuses one that
says less than a floor of its records (`check_policy`).

`preview` counts what a set of policies would purge and anonymize now (the admin shows it before
a change is saved); `enforce_retention` does it, per enterprise, in bounded batches. Each batch
is its own transaction, which locks the enterprise's row and reads the holds again first
(compliance.holds): a hold placed while a run goes on is seen by its next batch, and wins.
Nothing held, nothing a floor keeps, and nothing an erasure request restricted (the erasure
module's, `compliance.erasure.finish_restricted`, called at the end of the run) is touched.

The nightly job (compliance/jobs.py) splits a large enterprise into chunks of ids: a run given
`id_range=(lo, hi)` acts only on the records with lo <= id <= hi, and leaves the erasure requests
to its caller, which finishes them once for the enterprise.
"""

import functools
import operator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from directory.choices import MemberStatus, StaffRole
from directory.tenancy import grants_for

from . import audit, holds
from .choices import DocumentType, RecordCategory, RetentionAction
from .exceptions import ComplianceRefused
from .models import MAX_KEEP_DAYS, RetentionPolicy, WorkRecord

# What a floor counts from: the record's creation, or the end of its member's employment.
CREATION = "creation"
EMPLOYMENT_END = "employment_end"

# The exit states after which a member's employment has ended (the workflow's own values; the
# compliance app does not import the exit workflow, which builds on it). An undone exit is
# `reverted`: the member is employed again.
ENDED_EXIT_STATES = ("completed", "closed")


@dataclass(frozen=True)
class Floor:
    category: str
    document_type: str  # "" for the whole category
    months: int
    days: int
    law: Promise
    counts_from: str = CREATION

    def kept_until(self, start: date) -> date:
        """The last day a record must be kept when its floor starts on `start` (the day it was
        created, or its member's last working day)."""
        return max(start + relativedelta(months=self.months), start + timedelta(self.days))

    def last_expired_creation_day(self, today: date) -> date:
        """The latest starting day (creation, or last working day) whose retention has ended
        before `today`: a record whose floor started on or before it is past this floor.
        (kept_until grows with the starting day, so two short walks find it.)"""
        day = min(today - relativedelta(months=self.months), today - timedelta(self.days))
        while self.kept_until(day) >= today:
            day -= timedelta(1)
        while self.kept_until(day + timedelta(1)) < today:
            day += timedelta(1)
        return day

    @property
    def minimum_days(self) -> int:
        """The fewest days a policy for this floor's records may say."""
        return max(self.days, self.months * 28)

    @property
    def records_label(self) -> str:
        """Which records the floor keeps, as the pages name them."""
        if self.document_type:
            return str(DocumentType(self.document_type).label)
        return str(RecordCategory(self.category).label)

    @property
    def duration(self) -> str:
        """How long the floor keeps a record, as the pages say it."""
        if self.counts_from == EMPLOYMENT_END and self.months % 12 == 0 and not self.days:
            years = self.months // 12
            return ngettext(
                "while the member is employed, then %(years)d year after the last working day",
                "while the member is employed, then %(years)d years after the last working day",
                years,
            ) % {"years": years}
        if self.months and self.months % 12 == 0 and not self.days:
            years = self.months // 12
            return ngettext("%(years)d year", "%(years)d years", years) % {"years": years}
        if self.months and self.days:
            return gettext("%(months)d calendar months, and never fewer than %(days)d days") % {
                "months": self.months,
                "days": self.days,
            }
        if self.months:
            return ngettext(
                "%(months)d calendar month", "%(months)d calendar months", self.months
            ) % {"months": self.months}
        return ngettext("%(days)d day", "%(days)d days", self.days) % {"days": self.days}

    @property
    def binds_policies(self) -> bool:
        """Whether a policy may not go below it: a floor of a whole category does. A floor of
        some files only (labour contracts, wage records) holds whatever a file policy says, so
        that policy may go lower."""
        return not self.document_type


FLOORS = (
    Floor(
        RecordCategory.CHAT,
        "",
        months=6,
        days=180,
        law=_(
            "Cybersecurity Law Art. 21: chat messages are kept at least 6 calendar months and "
            "never fewer than 180 days."
        ),
    ),
    Floor(
        RecordCategory.FILE,
        DocumentType.LABOUR_CONTRACT,
        months=24,
        days=0,
        law=_(
            "Labor Contract Law Art. 50: labour contracts are kept 2 years after the employment "
            "ends."
        ),
        counts_from=EMPLOYMENT_END,
    ),
    Floor(
        RecordCategory.FILE,
        DocumentType.WAGE_RECORD,
        months=24,
        days=0,
        law=_(
            "Labor Contract Law Art. 50: wage records are kept 2 years after the employment ends."
        ),
        counts_from=EMPLOYMENT_END,
    ),
)


def start_of_day(day: date, tz) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), tz)


def _ended_exits():
    """The exits that ended their member's employment: completed or closed, the member departed
    (a member taken back later is employed again). Correlated to a WorkRecord's owner."""
    exit_model = apps.get_model("offboarding", "Exit")
    return exit_model.objects.filter(
        member_id=OuterRef("owner_id"),
        member__status=MemberStatus.DEPARTED,
        state__in=ENDED_EXIT_STATES,
    )


def employment_ended_by(day: date) -> Q:
    """Records (a Q on WorkRecord) whose owner's employment ended on or before `day`: the owner
    has departed through an exit, and the last working day of their latest ended exit is on or
    before `day`. Two EXISTS subqueries, no loop."""
    ended = _ended_exits()
    return Q(Exists(ended.filter(last_working_day__lte=day))) & ~Q(
        Exists(ended.filter(last_working_day__gt=day))
    )


def employment_end(member_id: int) -> date | None:
    """The last working day of the member's latest ended exit, or None while they are employed
    (not departed, no completed or closed exit, or their exit undone). One query."""
    exit_model = apps.get_model("offboarding", "Exit")
    return exit_model.objects.filter(
        member_id=member_id,
        member__status=MemberStatus.DEPARTED,
        state__in=ENDED_EXIT_STATES,
    ).aggregate(end=Max("last_working_day"))["end"]


def floor_condition(floor: Floor) -> Q:
    """The records a floor is about (its category, and its document type if any)."""
    condition = Q(category=floor.category)
    if floor.document_type:
        condition &= Q(document_type=floor.document_type)
    return condition


def within_floors(enterprise, *, today: date | None = None, categories=None) -> Q:
    """Records of `enterprise` that a statutory floor still keeps today (a Q on WorkRecord).

    A floor counting from creation keeps the records created since its first kept day; a floor
    counting from the end of employment keeps its records unless their owner's employment ended
    on or before its last expired day (so for ever while the owner is employed). A record that
    names no owner any more counts from its creation. `categories`: only the floors of these
    categories (a query already limited to them need not read the others)."""
    today = today or timezone.localdate(timezone=enterprise.time_zone)
    protected = Q(pk__in=[])
    for floor in FLOORS:
        if categories is not None and floor.category not in categories:
            continue
        last_expired_day = floor.last_expired_creation_day(today)
        created_since = Q(
            created_at__gte=start_of_day(last_expired_day + timedelta(1), enterprise.time_zone)
        )
        if floor.counts_from == EMPLOYMENT_END:
            kept = Q(owner__isnull=False) & ~employment_ended_by(last_expired_day)
            kept |= Q(owner__isnull=True) & created_since
        else:
            kept = created_since
        protected |= floor_condition(floor) & kept
    return protected


# Policies: what they may say, and which one decides.

BATCH_SIZE = 1000

# On equal days the more protective action decides: keeping, then anonymizing, then purging.
PROTECTION = {RetentionAction.KEEP: 2, RetentionAction.ANONYMIZE: 1, RetentionAction.PURGE: 0}


def floors_binding(category: str) -> list[Floor]:
    """The floors a policy on `category` ("" = every category) may not go below."""
    return [
        floor
        for floor in FLOORS
        if floor.binds_policies and (not category or floor.category == category)
    ]


def check_policy(policy: RetentionPolicy) -> None:
    """Raise ComplianceRefused unless `policy` may be saved as it stands: it says at least as many
    days as every floor of the records it covers (a policy on every category covers chat
    messages too). File policies may go lower: labour contracts and wage records keep their
    2-year floor whatever a policy says."""
    if policy.category and policy.category not in RecordCategory.values:
        raise ComplianceRefused(
            _("Choose a category of records, or none for every category."), field="category"
        )
    if policy.action not in RetentionAction.values:
        raise ComplianceRefused(
            _("Say what happens to the records afterwards: purge, anonymize or keep."),
            field="action",
        )
    if policy.keep_days is None or policy.keep_days < 0:
        raise ComplianceRefused(
            _("Say how many days the records are kept at least."), field="keep_days"
        )
    if policy.keep_days > MAX_KEEP_DAYS:
        raise ComplianceRefused(
            _(
                "A policy can keep records at most %(days)d days; to keep them for good, "
                "choose keep."
            )
            % {"days": MAX_KEEP_DAYS},
            field="keep_days",
        )
    for floor in floors_binding(policy.category):
        if policy.keep_days >= floor.minimum_days:
            continue
        if policy.category:
            message = _(
                "%(records)s must be kept at least %(days)d days; this policy says "
                "%(keep_days)d. %(law)s"
            )
        else:
            message = _(
                "A policy on every category covers %(records)s too, which must be kept at "
                "least %(days)d days; this policy says %(keep_days)d. %(law)s"
            )
        raise ComplianceRefused(
            message
            % {
                "records": floor.records_label.lower()
                if not policy.category
                else floor.records_label,
                "days": floor.minimum_days,
                "keep_days": policy.keep_days,
                "law": floor.law,
            },
            field="keep_days",
        )


@dataclass(frozen=True)
class Rule:
    """What decides a category's records: keep them `keep_days` at least, then `action`.
    `policy_category` is the category of the policy it comes from ("" = every category)."""

    category: str
    keep_days: int
    action: str
    policy_category: str

    @property
    def acts(self) -> bool:
        return self.action != RetentionAction.KEEP

    def cutoff(self, enterprise, today: date) -> datetime:
        """Records created before this moment are past the rule's days today: one created on day
        D is kept through D + keep_days."""
        return start_of_day(today - timedelta(self.keep_days), enterprise.time_zone)


def effective_rules(policies) -> dict[str, Rule]:
    """Each category's rule under `policies` (one enterprise's): of the category's own policy and
    the every-category one, the longer retention decides — a `keep` policy keeps for good, so it
    is the longest; between two others, the more days; on equal days, the more protective action.
    A category without a policy is missing from the answer: its records are kept."""
    policies = list(policies)
    rules = {}
    for category in RecordCategory.values:
        candidates = [policy for policy in policies if policy.category in ("", category)]
        if not candidates:
            continue
        longest = max(
            candidates,
            key=lambda policy: (
                policy.action == RetentionAction.KEEP,
                policy.keep_days,
                PROTECTION[RetentionAction(policy.action)],
            ),
        )
        rules[category] = Rule(category, longest.keep_days, longest.action, longest.category)
    return rules


def policies_with(enterprise, policy: RetentionPolicy) -> list[RetentionPolicy]:
    """The enterprise's saved policies as they would be with `policy` saved (added, or in place of
    the saved one of its category)."""
    saved = RetentionPolicy.objects.filter(enterprise=enterprise).order_by()
    return [
        other for other in saved if other.pk != policy.pk and other.category != policy.category
    ] + [policy]


def _policy_values(policy) -> dict:
    return {"category": policy.category, "keep_days": policy.keep_days, "action": policy.action}


def check_actor(enterprise_id: int, actor) -> None:
    """Raise ComplianceRefused unless `actor` may change the enterprise's retention policies."""
    if actor is None or not grants_for(actor).has_role(enterprise_id, (StaffRole.COMPLIANCE,)):
        raise ComplianceRefused(
            _("Only Compliance staff of the enterprise can change its retention policies.")
        )


@transaction.atomic
def save_policy(policy: RetentionPolicy, *, actor) -> RetentionPolicy:
    """Add or change an enterprise's retention policy (C-2).

    Preconditions: `actor` is Compliance staff of the policy's enterprise; the policy passes
    `check_policy` (no floor lowered) and is the only one of its category in the enterprise.
    Side effects: the row and its history (by `actor`), one audit event with the values before
    and after. Saving the values the row holds already changes nothing."""
    if policy.enterprise_id is None:
        raise ComplianceRefused(_("Choose the enterprise the policy is for."), field="enterprise")
    holds.lock_enterprise(policy.enterprise_id)
    check_actor(policy.enterprise_id, actor)
    check_policy(policy)
    before = None
    if policy.pk is not None:
        saved = (
            RetentionPolicy.objects.select_for_update()
            .filter(pk=policy.pk, enterprise_id=policy.enterprise_id)
            .first()
        )
        if saved is None:
            raise ComplianceRefused(_("This retention policy no longer exists."))
        before = _policy_values(saved)
        if before == _policy_values(policy):
            return saved
    try:
        policy.validate_constraints()
    except ValidationError as error:
        raise ComplianceRefused(error.messages[0], field="category") from None
    policy._history_user = actor
    policy.save()
    audit.record(
        policy.enterprise_id,
        actor=actor,
        action="retention_policy_saved",
        object_type="retention_policy",
        object_id=policy.pk,
        data={"before": before, "after": _policy_values(policy)},
    )
    return policy


@transaction.atomic
def delete_policy(policy: RetentionPolicy, *, actor) -> None:
    """Delete a retention policy: its records fall back to the every-category policy, or are kept
    when there is none. One audit event (with the policy as it was) and its history."""
    holds.lock_enterprise(policy.enterprise_id)
    check_actor(policy.enterprise_id, actor)
    saved = RetentionPolicy.objects.select_for_update().filter(pk=policy.pk).first()
    if saved is None:
        return
    values = _policy_values(saved)
    saved._history_user = actor
    saved.delete()
    audit.record(
        policy.enterprise_id,
        actor=actor,
        action="retention_policy_deleted",
        object_type="retention_policy",
        object_id=policy.pk,
        data={"before": values, "after": None},
    )


# What the rules do now: counted (`preview`) and done (`enforce_retention`).


def _due(enterprise, *, today: date, held_members, categories):
    """Records of `categories` a rule may act on today: not restricted by an erasure request, not
    kept by a floor, not owned by a held member."""
    records = WorkRecord.objects.filter(
        enterprise_id=enterprise.pk, restricted_at__isnull=True, category__in=categories
    )
    # No floor of these categories: an empty Q, which excludes nothing (no clause at all).
    records = records.exclude(within_floors(enterprise, today=today, categories=categories))
    if held_members:
        records = records.exclude(owner_id__in=sorted(held_members))
    return records


def _past(rule: Rule, enterprise, today: date) -> Q:
    condition = Q(category=rule.category, created_at__lt=rule.cutoff(enterprise, today))
    if rule.action == RetentionAction.ANONYMIZE:
        condition &= Q(anonymized_at__isnull=True)
    return condition


def preview(enterprise, *, policies=None, today: date | None = None, without_hold=None) -> dict:
    """How many of the enterprise's records `policies` (its saved ones by default; unsaved ones
    may be given) would purge and anonymize if the retention run went today — held,
    floor-protected and restricted records excepted. One counting query. `without_hold`: count
    as if that hold were released (what releasing it would let the next run do).

    Returns {"purge": n, "anonymize": n, "whole_enterprise_held": bool,
    "categories": [{"category", "label", "keep_days", "action", "count"}, ...]} (the categories
    whose rule purges or anonymizes)."""
    today = today or holds.local_today(enterprise)
    if policies is None:
        policies = RetentionPolicy.objects.filter(enterprise=enterprise).order_by()
    rules = [rule for rule in effective_rules(policies).values() if rule.acts]
    if without_hold is None:
        whole, held_members = holds.coverage(enterprise, today=today)
    else:
        standing = holds.standing(enterprise, today=today).exclude(pk=without_hold.pk)
        members = set(standing.values_list("member_id", flat=True))
        whole, held_members = None in members, members - {None}
    counts = {}
    if rules and not whole:
        conditions = {f"n_{rule.category}": _past(rule, enterprise, today) for rule in rules}
        counts = (
            _due(
                enterprise,
                today=today,
                held_members=held_members,
                categories=[rule.category for rule in rules],
            )
            .filter(functools.reduce(operator.or_, conditions.values()))
            .aggregate(
                **{name: Count("pk", filter=condition) for name, condition in conditions.items()}
            )
        )
    result = {
        RetentionAction.PURGE.value: 0,
        RetentionAction.ANONYMIZE.value: 0,
        "whole_enterprise_held": whole,
        "categories": [],
    }
    for rule in rules:
        count = counts.get(f"n_{rule.category}") or 0
        result[rule.action] += count
        result["categories"].append(
            {
                "category": rule.category,
                "label": RecordCategory(rule.category).label,
                "keep_days": rule.keep_days,
                "action": rule.action,
                "action_label": RetentionAction(rule.action).label,
                "count": count,
            }
        )
    return result


@dataclass
class _Batch:
    done: int = 0
    fetched: int = 0
    last: tuple | None = None  # (created_at, pk) of the last record looked at
    whole_enterprise_held: bool = False


def _run_batch(
    enterprise,
    rule: Rule,
    *,
    today: date,
    after: tuple | None,
    batch_size: int,
    id_range: tuple[int, int] | None = None,
) -> _Batch:
    """One batch of the run, in its own transaction: lock the enterprise's row, read the holds
    again (a hold placed since the last batch wins), then purge or anonymize up to `batch_size`
    of `rule`'s records, oldest first, after `after` (and within `id_range`, if given)."""
    with transaction.atomic():
        locked = holds.lock_enterprise(enterprise.pk, door=False)
        whole, held_members = holds.coverage(locked, today=today)
        if whole:
            return _Batch(whole_enterprise_held=True)
        due = _due(
            enterprise, today=today, held_members=held_members, categories=[rule.category]
        ).filter(_past(rule, enterprise, today))
        if id_range is not None:
            due = due.filter(pk__gte=id_range[0], pk__lte=id_range[1])
        if after is not None:
            created_at, pk = after
            # `created_at >= …` alone is where the index scan starts (the index's order is the
            # batch's); the OR only drops the few records of that same instant already seen.
            due = due.filter(
                Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=pk),
                created_at__gte=created_at,
            )
        rows = list(due.order_by("created_at", "pk").values_list("pk", "created_at")[:batch_size])
        if not rows:
            return _Batch()
        ids = [pk for pk, _created_at in rows]
        # Conditions again: what an erasure restricted meanwhile stays as it is.
        chosen = WorkRecord.objects.filter(pk__in=ids, restricted_at__isnull=True)
        if rule.action == RetentionAction.PURGE:
            done = chosen.delete()[1].get(WorkRecord._meta.label, 0)
        else:
            done = chosen.filter(anonymized_at__isnull=True).update(
                owner=None,
                owner_pseudonym="",
                content="",
                sealed_content=None,
                anonymized_at=timezone.now(),
            )
        created_at, pk = rows[-1][1], rows[-1][0]
        return _Batch(done=done, fetched=len(rows), last=(created_at, pk))


def enforce_retention(
    enterprise,
    *,
    today: date | None = None,
    batch_size: int = BATCH_SIZE,
    actor=None,
    id_range: tuple[int, int] | None = None,
) -> dict:
    """The retention run for one enterprise (C-2; the nightly job calls it).

    Each category's rule purges (deletes) or anonymizes (no owner, no content, sealed content
    dropped) its records past their days, in batches of `batch_size`, each in its own
    transaction that first locks the enterprise and reads the holds again. Skipped: records a
    floor keeps, records of held members, records an erasure request restricted (finished
    afterwards by `compliance.erasure.finish_restricted`); a hold on the whole enterprise stops
    the run. Running it twice does nothing the second time. One audit event per run.

    `id_range=(lo, hi)`: only the records with lo <= id <= hi (one chunk of the nightly job);
    the erasure requests are then left to the caller, which finishes them once for the
    enterprise, and the answer has no "erasures_finished".

    Returns {"purged": {category: n}, "anonymized": {category: n},
    "whole_enterprise_held": bool, "erasures_finished": n}."""
    from .erasure import finish_restricted  # erasure builds on this module

    today = today or holds.local_today(enterprise)
    rules = [
        rule
        for rule in effective_rules(
            RetentionPolicy.objects.filter(enterprise=enterprise).order_by()
        ).values()
        if rule.acts
    ]
    done = {RetentionAction.PURGE.value: {}, RetentionAction.ANONYMIZE.value: {}}
    whole_enterprise_held = False
    for rule in rules:
        after = None
        while True:
            batch = _run_batch(
                enterprise,
                rule,
                today=today,
                after=after,
                batch_size=batch_size,
                id_range=id_range,
            )
            if batch.whole_enterprise_held:
                whole_enterprise_held = True
                break
            if batch.done:
                counts = done[rule.action]
                counts[rule.category] = counts.get(rule.category, 0) + batch.done
            if batch.fetched < batch_size:
                break
            after = batch.last
        if whole_enterprise_held:
            break
    result = {
        "purged": done[RetentionAction.PURGE],
        "anonymized": done[RetentionAction.ANONYMIZE],
        "whole_enterprise_held": whole_enterprise_held,
    }
    audit.record(
        enterprise.pk,
        actor=actor,
        action="retention_enforced",
        object_type="enterprise",
        object_id=enterprise.pk,
        data={
            "today": today.isoformat(),
            **result,
            **({"id_range": list(id_range)} if id_range is not None else {}),
        },
    )
    if id_range is None:
        result["erasures_finished"] = finish_restricted(enterprise, actor=actor)
    return result
