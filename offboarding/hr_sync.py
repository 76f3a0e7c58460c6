"""HR sync (J-5, 钉钉「支持HR系统自动同步」): terminations from the enterprise's HR system become
`hr_sync` exits.

Two ways in, one door: the CSV import of the admin (offboarding/admin/hr_sync.py) and
`POST /api/hr/terminations` (offboarding/api.py) both hand their rows to `receive`.

- `check(enterprise, rows)` validates every row and writes nothing: an external id (required), the
  employee number of an active member of *that* enterprise, a real date (YYYY-MM-DD), a reason
  (optional). A row already received with the same values is reported as such; one received
  before with other values is a row error (a change is never applied silently).
- `receive(enterprise, rows, *, source, actor=None, token=None)` writes the new rows as `pending`
  HRTerminations only if every row is clean: all or nothing. Twice is harmless: the same
  termination sent again creates nothing (idempotent by `(enterprise, external_id)`, a database
  constraint; the enterprise's audit chain head is locked first, so two receives of one enterprise
  take turns and the second sees what the first wrote). Its writing half, `store`, also stores
  the leavers of the directory sync (offboarding/directory_sync.py), checked by `check` too.
- `sync_pending(now=None)`: the body of the task `offboarding.sync_hr_terminations`. Under the
  job's lease (directory.jobs.job_run: None when another run holds it → nothing done), it takes
  the pending terminations in bounded batches and opens one `hr_sync` exit for each through
  `services.open_exit` (actor None: the system). Each termination gets at most one exit: it is
  locked and moved to `synced` (pointing to the exit) in the transaction that opens it, so a run
  killed half way and run again does nothing twice. A member with an exit in progress, or no
  longer active, makes the termination `failed` with the reason, for HR to see. The exit is only
  opened (a draft): HR removes the member from it. A super admin's exit stops there until the
  super-admin handover is done (the pre-review's removal step, H-3): the synced event records
  what the removal waits for, and the termination's page shows it (`removal_blockers`).
- `create_token` / `authenticate_token` / `revoke_token`: the API's tokens, stored as SHA-256
  hashes only.

Every write appends its events to the enterprise's audit trail (compliance.audit), the reason
sealed with the member's key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from compliance import audit
from directory.choices import MemberStatus
from directory.jobs import job_run
from directory.models import Member

from . import prereview, services
from .choices import OPEN_STATES, ExitKind, ExitState, TerminationState
from .exceptions import ExitRefused
from .models import Exit, HRSyncToken, HRTermination

JOB = "offboarding.sync_hr_terminations"

FIELDS = ("employee_number", "last_working_day", "reason", "external_id")
REQUIRED = ("employee_number", "last_working_day", "external_id")
# One request or one file at most: beyond it, send several.
MAX_ROWS = 5000
# Terminations turned into exits per batch of the job (each in its own transaction).
SYNC_BATCH = 200

NEW = "new"
ALREADY_RECEIVED = "already_received"
INVALID = "invalid"

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_LENGTHS = {"external_id": 100, "employee_number": 32, "reason": 2000}


# ---------------------------------------------------------------------------------------------
# Receiving


@dataclass
class RowOutcome:
    """What became of one row: `status` is new, already_received or invalid (with `errors`, by
    field; "__all__" for the row as a whole)."""

    index: int  # 0-based position in the rows given
    values: dict
    status: str = NEW
    errors: dict[str, list[str]] = field(default_factory=dict)
    termination: HRTermination | None = None
    member: Member | None = None

    def add_error(self, field_name: str, message: str) -> None:
        self.errors.setdefault(field_name, []).append(message)
        self.status = INVALID

    @property
    def messages(self) -> list[str]:
        return [message for messages in self.errors.values() for message in messages]


@dataclass
class Received:
    """The answer of `check` and `receive`: one outcome per row, in order; `error` refuses the
    whole batch (no rows, too many); `applied` says whether the new rows were written."""

    rows: list[RowOutcome]
    error: str = ""
    applied: bool = False

    @property
    def has_errors(self) -> bool:
        return bool(self.error) or any(row.status == INVALID for row in self.rows)

    @property
    def invalid(self) -> list[RowOutcome]:
        return [row for row in self.rows if row.status == INVALID]

    @property
    def new(self) -> list[RowOutcome]:
        return [row for row in self.rows if row.status == NEW]

    @property
    def already_received(self) -> list[RowOutcome]:
        return [row for row in self.rows if row.status == ALREADY_RECEIVED]


def check(enterprise, rows: Iterable[Mapping]) -> Received:
    """Validate `rows` for `enterprise` (see the module docstring); write nothing."""
    rows = list(rows)
    if not rows:
        return Received([], error=_("There are no terminations to receive."))
    if len(rows) > MAX_ROWS:
        return Received(
            [],
            error=_("At most %(max)d terminations can be sent at once; split them.")
            % {"max": MAX_ROWS},
        )
    outcomes = [_clean_row(index, row) for index, row in enumerate(rows)]
    _check_members(enterprise, outcomes)
    _check_duplicates(outcomes)
    _check_received_before(enterprise, outcomes)
    return Received(outcomes)


@transaction.atomic
def receive(enterprise, rows: Iterable[Mapping], *, source, actor=None, token=None) -> Received:
    """Write the rows' new terminations as pending, if every row is clean; otherwise nothing.

    `source`: TerminationSource; `actor`: who imported the file (None: the HR system through
    the API, with its `token`)."""
    # The enterprise's receives (and every door) take turns: the second sees the first's rows.
    services.lock_audit_chain(enterprise.pk)
    result = check(enterprise, rows)
    if result.has_errors:
        return result
    store(enterprise, result, source=source, actor=actor, token=token)
    return result


def store(enterprise, result: Received, *, source, actor=None, token=None) -> None:
    """Write the new terminations of `result`, a clean answer of `check`, as pending, with their
    audit events. The caller holds the enterprise's audit chain (`receive`, and the directory
    sync's leavers: offboarding/directory_sync.py), in its transaction."""
    now = timezone.now()
    new = [
        HRTermination(
            enterprise=enterprise,
            external_id=row.values["external_id"],
            employee_number=row.values["employee_number"],
            member=row.member,
            last_working_day=row.values["last_working_day"],
            reason=row.values["reason"],
            source=source,
            received_at=now,
            received_by=actor,
            token=token,
        )
        for row in result.new
    ]
    if new:
        bulk_create_with_history(
            new, HRTermination, default_user=actor, default_change_reason=source
        )
        # The primary keys, for the answer (bulk_create sets them on PostgreSQL only).
        created = dict(
            HRTermination.objects.filter(
                enterprise=enterprise, external_id__in=[t.external_id for t in new]
            ).values_list("external_id", "pk")
        )
        for termination in new:
            termination.pk = created[termination.external_id]
        for row, termination in zip(result.new, new, strict=True):
            row.termination = termination
        by_external_id = {termination.external_id: termination for termination in new}
        for row in result.already_received:  # sent twice in this batch
            if row.termination is None:
                row.termination = by_external_id.get(row.values["external_id"])
        audit.record_many(
            enterprise.pk,
            [_received_event(termination, token) for termination in new],
            actor=actor,
        )
    result.applied = True


def _received_event(termination: HRTermination, token) -> audit.Event:
    return audit.Event(
        action="hr_termination_received",
        object_type="hr_termination",
        object_id=termination.pk,
        member_id=termination.member_id,
        data={
            "external_id": termination.external_id,
            "employee_number": termination.employee_number,
            "last_working_day": str(termination.last_working_day),
            "source": str(termination.source),
            "token_id": getattr(token, "pk", None),
        },
        personal={"reason": termination.reason} if termination.reason else None,
    )


def _clean_row(index: int, row) -> RowOutcome:
    outcome = RowOutcome(index=index, values={})
    if not isinstance(row, Mapping):
        outcome.add_error("__all__", _("A termination must be an object with named fields."))
        return outcome
    unknown = sorted(str(key) for key in row if key not in FIELDS)
    if unknown:
        outcome.add_error(
            "__all__",
            _("Unknown fields: %(fields)s. The fields are: %(known)s.")
            % {"fields": ", ".join(unknown), "known": ", ".join(FIELDS)},
        )
    for name in ("external_id", "employee_number", "reason"):
        value = row.get(name)
        if value is None:
            value = ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            outcome.add_error(name, _("This must be text."))
            continue
        value = str(value).strip()
        if not value and name in REQUIRED:
            outcome.add_error(name, _("This field is required."))
        elif len(value) > _MAX_LENGTHS[name]:
            outcome.add_error(
                name,
                _("This is too long: at most %(max)d characters.") % {"max": _MAX_LENGTHS[name]},
            )
        outcome.values[name] = value
    outcome.values["last_working_day"] = _clean_date(outcome, row.get("last_working_day"))
    return outcome


def _clean_date(outcome: RowOutcome, value) -> date | None:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        outcome.add_error("last_working_day", _("This field is required."))
        return None
    text = value.strip() if isinstance(value, str) else None
    if text is not None and _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    outcome.add_error(
        "last_working_day",
        _("“%(value)s” is not a date: write it as YYYY-MM-DD, for example 2026-11-30.")
        % {"value": value},
    )
    return None


def _check_members(enterprise, outcomes: list[RowOutcome]) -> None:
    numbers = {row.values.get("employee_number") for row in outcomes} - {None, ""}
    members = {
        member.employee_number: member
        for member in Member.objects.filter(enterprise=enterprise, employee_number__in=numbers)
    }
    for row in outcomes:
        number = row.values.get("employee_number")
        if not number or "employee_number" in row.errors:
            continue
        member = members.get(number)
        if member is None:
            # Another enterprise's member is not named: this one has no such employee.
            row.add_error(
                "employee_number",
                _("No member of this enterprise has the employee number “%(number)s”.")
                % {"number": number},
            )
        elif member.status != MemberStatus.ACTIVE:
            row.add_error(
                "employee_number",
                _("%(name)s (%(number)s) is %(status)s: only an active member can leave.")
                % {
                    "name": member.name,
                    "number": number,
                    "status": member.get_status_display(),
                },
            )
        else:
            row.member = member


def _check_duplicates(outcomes: list[RowOutcome]) -> None:
    """The same external id twice in one batch: received once if the values agree, else the
    later row is refused. Two terminations of one employee in one batch are refused too (one
    exit per member)."""
    first_by_external_id: dict[str, RowOutcome] = {}
    first_by_member: dict[int, RowOutcome] = {}
    for row in outcomes:
        external_id = row.values.get("external_id")
        if external_id and "external_id" not in row.errors:
            first = first_by_external_id.setdefault(external_id, row)
            if first is not row:
                if _same_values(first.values, row.values):
                    if row.status != INVALID:
                        row.status = ALREADY_RECEIVED
                    continue
                row.add_error(
                    "external_id",
                    _("The external id “%(id)s” is sent twice, with other values.")
                    % {"id": external_id},
                )
                continue
        if row.member is not None:
            first = first_by_member.setdefault(row.member.pk, row)
            if first is not row:
                row.add_error(
                    "employee_number",
                    _(
                        "The employee number “%(number)s” is also in the termination "
                        "“%(id)s”: one termination per member."
                    )
                    % {
                        "number": row.values["employee_number"],
                        "id": first.values.get("external_id", ""),
                    },
                )


def _check_received_before(enterprise, outcomes: list[RowOutcome]) -> None:
    external_ids = {row.values.get("external_id") for row in outcomes} - {None, ""}
    before = {
        termination.external_id: termination
        for termination in HRTermination.objects.filter(
            enterprise=enterprise, external_id__in=external_ids
        )
    }
    for row in outcomes:
        termination = before.get(row.values.get("external_id"))
        if termination is None:
            continue
        received = {
            "employee_number": termination.employee_number,
            "last_working_day": termination.last_working_day,
            "reason": termination.reason,
        }
        if _same_values(received, row.values):
            # Sent again: nothing to write. (The member may have left since: no error then.)
            row.errors.pop("employee_number", None)
            if not row.errors:
                row.status = ALREADY_RECEIVED
                row.termination = termination
            continue
        changed = [name for name in received if received[name] != row.values.get(name)]
        row.add_error(
            "external_id",
            _(
                "The termination “%(id)s” was received before with another %(fields)s; a "
                "received termination is not changed by sending it again."
            )
            % {"id": termination.external_id, "fields": ", ".join(changed)},
        )


def _same_values(left: Mapping, right: Mapping) -> bool:
    return all(left.get(name) == right.get(name) for name in FIELDS if name != "external_id")


# ---------------------------------------------------------------------------------------------
# Syncing: pending terminations become exits


def sync_pending(now: datetime | None = None, *, batch_size: int = SYNC_BATCH) -> dict | None:
    """Turn every pending HRTermination into an `hr_sync` exit (see the module docstring).

    Returns {"synced": n, "failed": n} or None when another run holds the job's lease. Counts per
    enterprise go to the run's JobRun row."""
    with job_run(JOB) as run:
        if run is None:
            return None
        totals = {"synced": 0, "failed": 0}
        after = 0
        while True:
            batch = list(
                HRTermination.objects.filter(state=TerminationState.PENDING, pk__gt=after)
                .order_by("pk")
                .values_list("pk", "enterprise_id")[:batch_size]
            )
            if not batch:
                break
            for pk, enterprise_id in batch:
                try:
                    outcome = sync_one(pk, now=now)
                except Exception as error:  # left pending: the next run tries it again
                    run.error(enterprise_id, error)
                    continue
                if outcome is not None:
                    totals[outcome] += 1
                    run.count(enterprise_id, **{outcome: 1})
                if outcome == "failed":  # the reason, where HR reads the run
                    external_id, reason = HRTermination.objects.values_list(
                        "external_id", "error"
                    ).get(pk=pk)
                    run.error(enterprise_id, f"{external_id}: {reason}")
            after = batch[-1][0]
            run.renew()
        return totals


@transaction.atomic
def sync_one(pk: int, *, now: datetime | None = None) -> str | None:
    """Open the exit of one pending termination, or record why not. Returns "synced", "failed",
    or None when it is not pending any more (another run did it)."""
    enterprise_id = HRTermination.objects.values_list("enterprise_id", flat=True).get(pk=pk)
    services.lock_audit_chain(enterprise_id)  # first, as every door (services.py, "Lock order")
    termination = (
        HRTermination.objects.select_for_update(of=("self",))
        .select_related("member", "enterprise")
        .get(pk=pk)
    )
    if termination.state != TerminationState.PENDING:
        return None
    now = now or timezone.now()
    open_exit = (
        Exit.objects.filter(member_id=termination.member_id, state__in=OPEN_STATES)
        .order_by("pk")
        .first()
    )
    if open_exit is not None:
        return _fail(
            termination,
            now,
            _("%(name)s already has an exit in progress (exit %(exit)s, %(kind)s).")
            % {
                "name": termination.member.name,
                "exit": open_exit.pk,
                "kind": open_exit.get_kind_display(),
            },
            exit_case=open_exit,
        )
    try:
        exit_case = services.open_exit(
            member=termination.member,
            kind=ExitKind.HR_SYNC,
            last_working_day=termination.last_working_day,
            reason=termination.reason,
            actor=None,
        )
    except ExitRefused as refusal:
        return _fail(termination, now, str(refusal))
    termination.state = TerminationState.SYNCED
    termination.exit_case = exit_case
    termination.processed_at = now
    termination.error = ""
    termination._change_reason = "sync"
    termination.save(update_fields=["state", "exit_case", "processed_at", "error"])
    waits_for = [blocker.code for blocker in removal_blockers(exit_case)]
    audit.record(
        termination.enterprise_id,
        actor=None,
        action="hr_termination_synced",
        object_type="hr_termination",
        object_id=termination.pk,
        member_id=termination.member_id,
        exit_id=exit_case.pk,
        data={"external_id": termination.external_id, "removal_waits_for": waits_for},
    )
    return "synced"


def removal_blockers(exit_case: Exit) -> list[prereview.Blocker]:
    """What stops HR from removing the member of a synced exit now (the pre-review's removal
    step): for a super admin, the handover — their login is never cut before it is done."""
    if exit_case.state != ExitState.DRAFT:
        return []
    return prereview.blockers_for(exit_case, prereview.REMOVE)


def _fail(termination: HRTermination, now, message: str, *, exit_case=None) -> str:
    termination.state = TerminationState.FAILED
    termination.processed_at = now
    termination.error = message
    termination._change_reason = "sync"
    termination.save(update_fields=["state", "processed_at", "error"])
    audit.record(
        termination.enterprise_id,
        actor=None,
        action="hr_termination_failed",
        object_type="hr_termination",
        object_id=termination.pk,
        member_id=termination.member_id,
        exit_id=getattr(exit_case, "pk", None),
        data={"external_id": termination.external_id},
        personal={"error": message},
    )
    return "failed"


# ---------------------------------------------------------------------------------------------
# API tokens


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def create_token(enterprise, *, name: str, actor) -> tuple[HRSyncToken, str]:
    """A new API token of `enterprise`: the row (its hash only) and the token itself, which is
    shown once and never stored."""
    services.lock_audit_chain(enterprise.pk)
    raw = secrets.token_urlsafe(32)  # 32 random bytes
    token = HRSyncToken(
        enterprise=enterprise, name=name, token_hash=hash_token(raw), created_by=actor
    )
    token._history_user = actor
    token.save()
    audit.record(
        enterprise.pk,
        actor=actor,
        action="hr_sync_token_created",
        object_type="hr_sync_token",
        object_id=token.pk,
        data={"name": name},
    )
    return token, raw


def authenticate_token(raw: str) -> HRSyncToken | None:
    """The live token whose hash matches `raw`, or None (unknown or revoked)."""
    if not raw:
        return None
    token = (
        HRSyncToken.objects.select_related("enterprise")
        .filter(token_hash=hash_token(raw), revoked_at__isnull=True)
        .first()
    )
    if token is not None:
        HRSyncToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


@transaction.atomic
def revoke_token(token: HRSyncToken, *, actor) -> bool:
    """Revoke `token` from now on. Returns False if it was revoked already."""
    services.lock_audit_chain(token.enterprise_id)
    token = HRSyncToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return False
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token._history_user = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit.record(
        token.enterprise_id,
        actor=actor,
        action="hr_sync_token_revoked",
        object_type="hr_sync_token",
        object_id=token.pk,
        data={"name": token.name},
    )
    return True
