"""Directory sync (D-3, J-5, U-6): the HR system keeps the directory up to date through
`POST /api/hr/directory` (offboarding/api.py), beside its terminations — joiners, movers and
leavers, as WeCom, DingTalk and Feishu start from the enterprise's directory.

    {"joiners": [{"external_id": "HR-J-1", "employee_number": "E000124", "name": "张伟",
                  "department": "总部/销售部", "manager": "E000100", "title": "销售代表",
                  "email": "zhang.wei@example.cn", "mobile": "+86 138 0000 0000",
                  "login": "zhang.wei"}],
     "movers":  [{"external_id": "HR-M-1", "employee_number": "E000101",
                  "department": 12, "manager": "E000100", "title": "销售经理"}],
     "leavers": [{"external_id": "HR-L-1", "employee_number": "E000102",
                  "last_working_day": "2026-12-31", "reason": "合同到期"}]}

- A joiner becomes a member of the token's enterprise with its login (`login@code`,
  directory.services.member_username; the login defaults to the employee number in lower case),
  no usable password (an invitation or the password reset sets it) and the role `member`: a
  joiner is never an admin nor the super admin (D-5: that role passes only through the
  super-admin handover). Created set-based (directory.services.create_members).
- A mover changes an existing member's department, manager and/or title (only the fields sent;
  `"manager": null` removes the manager), through directory.services.update_member: history, and
  a `member_moved` audit event with the values before and after.
- A leaver is a termination (offboarding/hr_sync.py): stored pending, turned into an `hr_sync` exit
  by the HR sync job — never a silent deactivation; a super admin's exit stops where the
  super-admin handover is needed, as every synced exit does.

References: a department by its id (a JSON number) or its path of names from the top
("总部/销售部": `resolve_departments`, the one function to change when departments get codes); a
manager by employee number — a member of the enterprise who has not departed, or a joiner of the
same call. Nothing of another enterprise is ever found: it is answered as not existing.

All or nothing: `check` validates every row and writes nothing; `receive` writes only if every row
is clean, in one transaction (the enterprise's audit chain locked first, as every door). A refusal
found while writing (a door's rule, a row written meanwhile) rolls everything back and is reported
like the others. Idempotent by external id: every row received is kept as a DirectorySyncRecord
(its kind and a digest of its values); the same row again is "already received" and changes
nothing; the same external id with other values is a row error.

Queries: the look-ups are set-based (one query for the members named, one or two for the
departments, one for the usernames, the previous records and the leavers' checks), and so are
the joiners' and leavers' writes; each mover is one `update_member` (a fixed number of queries,
plus its manager chain's depth for the loop check).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from compliance import audit
from directory import services as directory_services
from directory import table_stats
from directory.choices import DataRegion, DepartmentStatus, MemberRole, MemberStatus
from directory.models import Department, Member

from . import hr_sync, services
from .choices import DirectorySyncKind, TerminationSource
from .exceptions import ExitRefused
from .models import DirectorySyncRecord

# The body's lists, and the kind of their rows.
KINDS = {
    "joiners": DirectorySyncKind.JOINER,
    "movers": DirectorySyncKind.MOVER,
    "leavers": DirectorySyncKind.LEAVER,
}
FIELDS = {
    DirectorySyncKind.JOINER: (
        "external_id",
        "employee_number",
        "name",
        "department",
        "manager",
        "title",
        "email",
        "mobile",
        "login",
        "data_region",
    ),
    DirectorySyncKind.MOVER: ("external_id", "employee_number", "department", "manager", "title"),
    DirectorySyncKind.LEAVER: hr_sync.FIELDS,
}
MOVED_FIELDS = ("department", "manager", "title")
# One call at most (all lists together): beyond it, send several.
MAX_ROWS = hr_sync.MAX_ROWS

NEW = hr_sync.NEW
ALREADY_RECEIVED = hr_sync.ALREADY_RECEIVED
INVALID = hr_sync.INVALID

_TEXT_LENGTHS = {
    "external_id": 100,
    "employee_number": 32,
    "name": 100,
    "title": 100,
    "email": 254,
    "mobile": 32,
    "login": 100,
}
_MOBILE = re.compile(r"\+?[0-9][0-9 -]{3,30}")
_LOGIN = re.compile(r"[A-Za-z0-9._+-]+")
# Fields an HR system might send that the sync never sets: roles pass only through the doors.
_ROLE_FIELDS = ("role", "is_backup_admin", "status")


@dataclass
class SyncRow:
    """One row of the call: its list (`kind`), its position there (`index`, 0-based), its values
    as read, and what became of it (`status`: new, already_received or invalid, with `errors` by
    field, "__all__" for the row as a whole)."""

    kind: str
    index: int
    values: dict
    status: str = NEW
    errors: dict[str, list[str]] = field(default_factory=dict)
    digest: str = ""
    member: Member | None = None  # the member created, moved or leaving
    department: Department | None = None
    manager: Member | None = None  # an existing member, or the joiner row's member
    manager_row: SyncRow | None = None  # the manager is a joiner of this call
    changes: dict = field(default_factory=dict)  # a mover's fields that change
    termination: object = None
    record: DirectorySyncRecord | None = None
    checked: hr_sync.RowOutcome | None = None  # a leaver as hr_sync checked it

    def add_error(self, field_name: str, message: str) -> None:
        self.errors.setdefault(field_name, []).append(message)
        self.status = INVALID

    @property
    def external_id(self) -> str:
        return self.values.get("external_id", "")

    @property
    def list_name(self) -> str:
        return {kind: name for name, kind in KINDS.items()}[self.kind]


@dataclass
class Synced:
    """The answer of `check` and `receive`: the rows in order (joiners, movers, leavers); `error`
    refuses the call as a whole; `applied` says whether the new rows were written."""

    rows: list[SyncRow]
    error: str = ""
    applied: bool = False

    @property
    def has_errors(self) -> bool:
        return bool(self.error) or any(row.status == INVALID for row in self.rows)

    @property
    def invalid(self) -> list[SyncRow]:
        return [row for row in self.rows if row.status == INVALID]

    @property
    def new(self) -> list[SyncRow]:
        return [row for row in self.rows if row.status == NEW]

    @property
    def already_received(self) -> list[SyncRow]:
        return [row for row in self.rows if row.status == ALREADY_RECEIVED]

    def of_kind(self, kind, status=None) -> list[SyncRow]:
        return [
            row
            for row in self.rows
            if row.kind == kind and (status is None or row.status == status)
        ]


class _Refused(Exception):
    """A write refused while applying: rolls the call back (see `receive`)."""


# ---------------------------------------------------------------------------------------------
# Checking


def check(enterprise, lists: Mapping[str, list]) -> Synced:
    """Validate the call's rows for `enterprise` (see the module docstring); write nothing.
    `lists` maps "joiners", "movers" and "leavers" to lists of rows (each optional)."""
    count = sum(len(lists.get(name) or []) for name in KINDS)
    if not count:
        return Synced([], error=_("There is nothing to sync: send joiners, movers or leavers."))
    if count > MAX_ROWS:
        return Synced(
            [],
            error=_("At most %(max)d rows can be sent at once; split them.") % {"max": MAX_ROWS},
        )
    rows = [
        _clean_row(KINDS[name], index, row)
        for name in KINDS
        for index, row in enumerate(lists.get(name) or [])
    ]
    _check_duplicates(rows)
    _check_received_before(enterprise, rows)
    pending = [row for row in rows if row.status == NEW]
    _check_people(enterprise, pending)
    _check_departments(enterprise, pending)
    _check_logins(enterprise, pending)
    _check_manager_loops(pending)
    _check_leavers(enterprise, [row for row in pending if row.kind == DirectorySyncKind.LEAVER])
    return Synced(rows)


def _clean_row(kind, index: int, row) -> SyncRow:
    outcome = SyncRow(kind=kind, index=index, values={})
    if not isinstance(row, Mapping):
        outcome.add_error("__all__", _("A row must be an object with named fields."))
        return outcome
    known = FIELDS[kind]
    for name in sorted(str(key) for key in row if key in _ROLE_FIELDS):
        outcome.add_error(
            name,
            _(
                "The directory sync sets no role or status: a joiner joins as a member, and the "
                "super admin role passes only through the super-admin handover."
            ),
        )
    unknown = sorted(str(key) for key in row if key not in known and key not in _ROLE_FIELDS)
    if unknown:
        outcome.add_error(
            "__all__",
            _("Unknown fields: %(fields)s. The fields are: %(known)s.")
            % {"fields": ", ".join(unknown), "known": ", ".join(known)},
        )
    if kind == DirectorySyncKind.LEAVER:
        cleaned = hr_sync._clean_row(index, row)
        outcome.values = {name: cleaned.values.get(name) for name in hr_sync.FIELDS}
        for name, messages in cleaned.errors.items():
            if name != "__all__":  # unknown fields: said above
                for message in messages:
                    outcome.add_error(name, message)
    else:
        for name in known:
            if name not in row:
                continue
            value = row[name]
            if name == "department":
                value = _clean_department(outcome, value)
            elif name == "manager":
                value = _clean_text(outcome, name, value, max_length=32)
            else:
                value = _clean_text(outcome, name, value, max_length=_TEXT_LENGTHS.get(name, 100))
            outcome.values[name] = value
        _clean_required(outcome, kind)
        if kind == DirectorySyncKind.JOINER:
            _clean_joiner(outcome)
        elif not any(name in row for name in MOVED_FIELDS):
            outcome.add_error(
                "__all__",
                _("A mover must change at least one of: %(fields)s.")
                % {"fields": ", ".join(MOVED_FIELDS)},
            )
    outcome.digest = _digest(kind, outcome.values)
    return outcome


def _clean_text(outcome: SyncRow, name: str, value, *, max_length: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        outcome.add_error(name, _("This must be text."))
        return ""
    value = str(value).strip()
    if len(value) > max_length:
        outcome.add_error(
            name, _("This is too long: at most %(max)d characters.") % {"max": max_length}
        )
    return value


def _clean_department(outcome: SyncRow, value):
    """A department reference: an id (a JSON number) or a path of names ("总部/销售部")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        names = [name.strip() for name in value.split("/")]
        if all(names) and len(value) <= 2000:
            return "/".join(names)
    outcome.add_error(
        "department",
        _(
            "Name the department by its id (a number) or by its path of names from the top, "
            "separated by “/” (for example Head office/Sales)."
        ),
    )
    return None


def _clean_required(outcome: SyncRow, kind) -> None:
    required = ("external_id", "employee_number")
    if kind == DirectorySyncKind.JOINER:
        required += ("name", "department")
    for name in required:
        if outcome.values.get(name) in ("", None) and name not in outcome.errors:
            outcome.add_error(name, _("This field is required."))


def _clean_joiner(outcome: SyncRow) -> None:
    values = outcome.values
    email = values.get("email", "")
    if email and "email" not in outcome.errors:
        try:
            validate_email(email)
        except ValidationError:
            outcome.add_error(
                "email", _("“%(value)s” is not an e-mail address.") % {"value": email}
            )
    mobile = values.get("mobile", "")
    if mobile and "mobile" not in outcome.errors and not _MOBILE.fullmatch(mobile):
        outcome.add_error("mobile", _("“%(value)s” is not a mobile number.") % {"value": mobile})
    region = values.get("data_region", "")
    if region and region not in DataRegion.values:
        outcome.add_error(
            "data_region",
            _("“%(value)s” is not a data region: one of %(regions)s.")
            % {"value": region, "regions": ", ".join(DataRegion.values)},
        )
    login = values.get("login") or values.get("employee_number", "")
    if "login" in outcome.errors or not login:
        return
    if not _LOGIN.fullmatch(login):
        if values.get("login"):
            message = _("“%(login)s” cannot be a login: use letters, digits, “.”, “_”, “+” or “-”.")
        else:
            message = _(
                "The login defaults to the employee number, and “%(login)s” cannot be one: send "
                "a login of letters, digits, “.”, “_”, “+” or “-”."
            )
        outcome.add_error("login", message % {"login": login})
        return
    values["login"] = login.lower()


def _digest(kind, values: dict) -> str:
    """SHA-256 of the row's kind and values as read (dates as text): the same row sent again
    has the same digest."""
    canonical = json.dumps(
        {"kind": str(kind), **{name: values[name] for name in sorted(values)}},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_duplicates(rows: list[SyncRow]) -> None:
    """The same external id twice in one call: received once if the rows agree, else the later
    one is refused."""
    first: dict[str, SyncRow] = {}
    for row in rows:
        external_id = row.values.get("external_id")
        if not external_id or "external_id" in row.errors:
            continue
        earlier = first.setdefault(external_id, row)
        if earlier is row:
            continue
        if earlier.digest == row.digest and earlier.kind == row.kind:
            if row.status != INVALID:
                row.status = ALREADY_RECEIVED
        else:
            row.add_error(
                "external_id",
                _("The external id “%(id)s” is sent twice, with other values.")
                % {"id": external_id},
            )


def _check_received_before(enterprise, rows: list[SyncRow]) -> None:
    external_ids = {row.external_id for row in rows} - {""}
    before = {
        record.external_id: record
        for record in DirectorySyncRecord.objects.filter(
            enterprise=enterprise, external_id__in=external_ids
        ).select_related("member", "termination")
    }
    for row in rows:
        record = before.get(row.external_id)
        if record is None or "external_id" in row.errors:
            continue
        if record.kind == row.kind and record.digest == row.digest:
            if row.status != INVALID:
                row.status = ALREADY_RECEIVED
                row.record = record
            continue
        row.add_error(
            "external_id",
            _(
                "The row “%(id)s” was received before (a %(kind)s) with other values; a received "
                "row is not changed by sending it again."
            )
            % {"id": record.external_id, "kind": record.get_kind_display().lower()},
        )


def _check_people(enterprise, rows: list[SyncRow]) -> None:
    """The employee numbers: a joiner's is free, a mover's names a member who has not departed,
    a manager is one (or a joiner of this call). One query for all of them."""
    joiners = [row for row in rows if row.kind == DirectorySyncKind.JOINER]
    movers = [row for row in rows if row.kind == DirectorySyncKind.MOVER]
    numbers = {row.values.get("employee_number") for row in joiners + movers}
    numbers |= {row.values.get("manager") for row in joiners + movers}
    numbers -= {None, ""}
    members = {
        member.employee_number: member
        for member in Member.objects.filter(enterprise=enterprise, employee_number__in=numbers)
    }
    joining: dict[str, SyncRow] = {}
    for row in joiners:
        number = row.values.get("employee_number")
        if not number or "employee_number" in row.errors:
            continue
        if number in members:
            row.add_error(
                "employee_number",
                _("The employee number “%(number)s” is already used in the enterprise.")
                % {"number": number},
            )
        elif joining.setdefault(number, row) is not row:
            row.add_error(
                "employee_number",
                _("The employee number “%(number)s” is also in joiner %(index)d.")
                % {"number": number, "index": joining[number].index},
            )
    moving: dict[int, SyncRow] = {}
    for row in movers:
        number = row.values.get("employee_number")
        if not number or "employee_number" in row.errors:
            continue
        member = members.get(number)
        if member is None:
            row.add_error("employee_number", _no_member(number, joining))
        elif member.status == MemberStatus.DEPARTED:
            row.add_error(
                "employee_number",
                _("%(name)s (%(number)s) has departed: a departed member does not move.")
                % {"name": member.name, "number": number},
            )
        elif moving.setdefault(member.pk, row) is not row:
            row.add_error(
                "employee_number",
                _("%(number)s is also moved by mover %(index)d: one move per member and call.")
                % {"number": number, "index": moving[member.pk].index},
            )
        else:
            row.member = member
    for row in joiners + movers:
        number = row.values.get("manager")
        if not number or "manager" in row.errors:
            continue
        if number == row.values.get("employee_number"):
            row.add_error("manager", _("A member cannot be their own manager."))
        elif number in joining:
            row.manager_row = joining[number]
        elif number not in members:
            row.add_error("manager", _no_member(number, {}))
        elif members[number].status == MemberStatus.DEPARTED:
            row.add_error(
                "manager",
                _("%(name)s (%(number)s) has departed and cannot be a manager.")
                % {"name": members[number].name, "number": number},
            )
        else:
            row.manager = members[number]
    for row in movers:
        if (
            row.member is not None
            and "title" in row.values
            and row.values["title"] != (row.member.title)
        ):
            row.changes["title"] = row.values["title"]
        if row.member is not None and "manager" in row.values and not row.manager_row:
            manager_id = row.manager.pk if row.manager else None
            if manager_id != row.member.manager_id:
                row.changes["manager"] = row.manager


def _no_member(number: str, joining: dict) -> str:
    if number in joining:
        return _(
            "%(number)s is a joiner of this same call: send their move or leave in a later call."
        ) % {"number": number}
    # Another enterprise's member is not named: this one has no such employee.
    return _("No member of this enterprise has the employee number “%(number)s”.") % {
        "number": number
    }


def resolve_departments(enterprise, references) -> dict:
    """{reference: Department} for the references found among `enterprise`'s departments: ids
    (numbers), codes (the directory import's, "sales") and paths of names from the top
    ("总部/销售部"); a text that is a department's code names that department. One query for the
    ids, one for the codes, one for the paths (the departments whose name is on one of them)."""
    ids = {ref for ref in references if isinstance(ref, int)}
    paths = {ref for ref in references if isinstance(ref, str)}
    found: dict = {}
    if ids:
        for department in Department.objects.filter(enterprise=enterprise, pk__in=ids):
            found[department.pk] = department
    if paths:
        coded = Department.objects.filter(enterprise=enterprise, code__in=paths).exclude(code="")
        for department in coded:
            found[department.code] = department
        paths -= found.keys()
    if paths:
        names = {name for path in paths for name in path.split("/")}
        children = {
            (department.parent_id, department.name): department
            for department in Department.objects.filter(enterprise=enterprise, name__in=names)
        }
        for path in paths:
            department = None
            for name in path.split("/"):
                department = children.get((getattr(department, "pk", None), name))
                if department is None:
                    break
            if department is not None:
                found[path] = department
    return found


def _check_departments(enterprise, rows: list[SyncRow]) -> None:
    wanted = [row for row in rows if row.values.get("department") not in (None, "")]
    if not wanted:
        return
    departments = resolve_departments(enterprise, {row.values["department"] for row in wanted})
    for row in wanted:
        reference = row.values["department"]
        department = departments.get(reference)
        if department is None:
            row.add_error(
                "department",
                _("The enterprise has no department “%(department)s”.") % {"department": reference},
            )
        elif department.status == DepartmentStatus.DISSOLVED:
            row.add_error(
                "department",
                _("The department “%(department)s” is dissolved: nobody joins or moves into it.")
                % {"department": department.name},
            )
        else:
            row.department = department
            if (
                row.kind == DirectorySyncKind.MOVER
                and row.member is not None
                and department.pk != row.member.department_id
            ):
                row.changes["department"] = department


def _check_logins(enterprise, rows: list[SyncRow]) -> None:
    """Each joiner's login, as stored (login@code), is free and valid. One query."""
    joiners = [
        row
        for row in rows
        if row.kind == DirectorySyncKind.JOINER
        and row.values.get("login")
        and ("login" not in row.errors)
    ]
    usernames = {}
    for row in joiners:
        username = directory_services.member_username(enterprise, row.values["login"])
        try:
            UnicodeUsernameValidator()(username)
            if len(username) > 150:
                raise ValidationError("")
        except ValidationError:
            row.add_error(
                "login", _("“%(login)s” cannot be a login.") % {"login": row.values["login"]}
            )
            continue
        row.values["username"] = username
        earlier = usernames.setdefault(username, row)
        if earlier is not row:
            row.add_error(
                "login",
                _("The login “%(login)s” is also in joiner %(index)d.")
                % {"login": row.values["login"], "index": earlier.index},
            )
    if not usernames:
        return
    taken = set(
        get_user_model()
        .objects.annotate(lower_username=Lower("username"))
        .filter(lower_username__in=list(usernames))
        .values_list("lower_username", flat=True)
    )
    for username in taken:
        row = usernames[username]
        row.add_error(
            "login",
            _("The login “%(login)s” is already taken.") % {"login": row.values["login"]},
        )


def _check_manager_loops(rows: list[SyncRow]) -> None:
    """Joiners who manage each other in a circle (a loop through existing members is refused
    by update_member when a mover would close one)."""
    for row in rows:
        seen = {id(row)}
        step = row.manager_row
        while step is not None:
            if id(step) in seen:
                row.add_error(
                    "manager",
                    _("The managers of these joiners make a loop: %(number)s manages themselves.")
                    % {"number": row.values.get("employee_number")},
                )
                break
            seen.add(id(step))
            step = step.manager_row


def _check_leavers(enterprise, rows: list[SyncRow]) -> None:
    """A leaver is a termination: checked by hr_sync (an active member of this enterprise, a
    date, one termination per member; a termination already received under the same external id
    through the terminations endpoint is "already received")."""
    if not rows:
        return
    checked = hr_sync.check(enterprise, [row.values for row in rows])
    for row, outcome in zip(rows, checked.rows, strict=True):
        row.member = outcome.member
        row.termination = outcome.termination
        if outcome.status == hr_sync.INVALID:
            for name, messages in outcome.errors.items():
                for message in messages:
                    row.add_error(name, message)
        elif outcome.status == hr_sync.ALREADY_RECEIVED:
            row.status = ALREADY_RECEIVED
        row.checked = outcome


# ---------------------------------------------------------------------------------------------
# Receiving


def receive(enterprise, lists: Mapping[str, list], *, token=None, actor=None) -> Synced:
    """Apply the call's rows to `enterprise` if every row is clean; otherwise nothing (see the
    module docstring). `token`: the HR sync token it came with; `actor`: None, the system."""
    try:
        with transaction.atomic():
            # Every door of the enterprise takes turns: the second call sees what the first wrote.
            try:
                services.lock_audit_chain(enterprise.pk)
            except ExitRefused as refusal:  # the chain lost its head: nothing can be recorded
                return Synced([], error=str(refusal))
            result = check(enterprise, lists)
            if result.has_errors:
                return result
            _apply(enterprise, result, token=token, actor=actor)
            if len(result.new) >= table_stats.BULK_ROWS:
                # A large call (a first sync of the whole directory): for the planner, once
                # committed.
                table_stats.analyze(Department, get_user_model(), Member, DirectorySyncRecord)
    except _Refused as refused:
        (result,) = refused.args
        return result
    result.applied = True
    return result


def _apply(enterprise, result: Synced, *, token, actor) -> None:
    now = timezone.now()
    events: list[audit.Event] = []
    try:
        _create_joiners(enterprise, result.of_kind(DirectorySyncKind.JOINER, NEW), actor=actor)
        for row in result.of_kind(DirectorySyncKind.MOVER, NEW):
            events.extend(_move(row, token, actor=actor))
        if result.invalid:  # a mover refused by update_member: nothing is kept
            raise _Refused(result)
        leavers = result.of_kind(DirectorySyncKind.LEAVER, NEW)
        if leavers:
            checked = hr_sync.Received([row.checked for row in leavers])
            hr_sync.store(
                enterprise, checked, source=TerminationSource.API, actor=actor, token=token
            )
            for row in leavers:
                row.termination = row.checked.termination
    except directory_services.DirectoryError as error:
        # Checked above, so only a row written meanwhile by another way in (the admin's member
        # form, say) gets here.
        result.error = " ".join(error.messages)
        raise _Refused(result) from None
    except IntegrityError:
        # A row written meanwhile by another way in (the admin's member form, say).
        result.error = _(
            "The directory changed while this call was applied; nothing was written: send it again."
        )
        raise _Refused(result) from None
    records = [
        DirectorySyncRecord(
            enterprise=enterprise,
            external_id=row.external_id,
            kind=row.kind,
            digest=row.digest,
            member=row.member,
            termination=row.termination if row.kind == DirectorySyncKind.LEAVER else None,
            received_at=now,
            token=token,
        )
        for row in result.new
    ]
    bulk_create_with_history(records, DirectorySyncRecord, default_user=actor)
    by_external_id = {record.external_id: record for record in records}
    for row in result.rows:
        if row.status == NEW or row.record is None:
            row.record = by_external_id.get(row.external_id, row.record)
        if row.status == ALREADY_RECEIVED and row.record is not None and row.member is None:
            row.member = row.record.member
            row.termination = row.record.termination
    joined = [_joined_event(row, token) for row in result.of_kind(DirectorySyncKind.JOINER, NEW)]
    audit.record_many(enterprise.pk, [*joined, *events], actor=actor)


def _create_joiners(enterprise, rows: list[SyncRow], *, actor) -> None:
    if not rows:
        return
    for row in rows:
        values = row.values
        row.member = Member(
            enterprise=enterprise,
            name=values["name"],
            employee_number=values["employee_number"],
            title=values.get("title", ""),
            department=row.department,
            manager=row.manager,
            role=MemberRole.MEMBER,
            data_region=values.get("data_region") or enterprise.data_region,
            mobile=values.get("mobile", ""),
        )
    for row in rows:
        if row.manager_row is not None:
            row.member.manager = row.manager_row.member
    directory_services.create_members(
        [row.member for row in rows],
        logins=[(row.values["username"], row.values.get("email", "")) for row in rows],
        actor=actor,
    )


def _move(row: SyncRow, token, *, actor) -> list[audit.Event]:
    member = row.member
    changes = dict(row.changes)
    if row.manager_row is not None:
        changes["manager"] = row.manager_row.member
    if not changes:
        return []  # the member is where the row says already: nothing to write
    before = _moved_values(member)
    try:
        moved = directory_services.update_member(member, actor=actor, **changes)
    except directory_services.DirectoryError as error:
        for message in error.messages:
            row.add_error("__all__", message)
        return []
    row.member = moved
    after = _moved_values(moved)
    changed = [name for name in before if before[name] != after[name]]
    return [
        audit.Event(
            action="member_moved",
            object_type="member",
            object_id=moved.pk,
            member_id=moved.pk,
            data={
                "external_id": row.external_id,
                "source": "directory_sync",
                "before": {name: before[name] for name in changed},
                "after": {name: after[name] for name in changed},
                "token_id": getattr(token, "pk", None),
            },
        )
    ]


def _moved_values(member: Member) -> dict:
    return {
        "department_id": member.department_id,
        "manager_id": member.manager_id,
        "title": member.title,
    }


def _joined_event(row: SyncRow, token) -> audit.Event:
    member = row.member
    return audit.Event(
        action="member_joined",
        object_type="member",
        object_id=member.pk,
        member_id=member.pk,
        data={
            "external_id": row.external_id,
            "source": "directory_sync",
            "employee_number": member.employee_number,
            "department_id": member.department_id,
            "manager_id": member.manager_id,
            "token_id": getattr(token, "pk", None),
        },
    )
