"""The directory import (D-2, D-3, D-4): an enterprise's departments, members and what they own,
from HR's own file.

Three steps, each usable alone (the admin's import page calls them; see directory/admin_import.py):

- `read_tables(data, file_format)`: the file's tables. A CSV file is one table, UTF-8 (with or
  without BOM) or GBK — tried in that order; a file that is neither is refused saying so. An XLSX
  workbook may hold several sheets, one table each. A table is a department table when its header
  names `code` (and no `employee_number`), a member table when it names `employee_number`, a table
  of owned resources when it names `owner_employee_number` (its `kind` column names each row's
  kind, RESOURCE_KINDS; a resource is recognised by its kind, owner and name).
- `check(enterprise, tables)`: the whole file against the enterprise as it is now, nothing written.
  Every bad row is reported with its line in the file (the header being line 1) and each of its
  reasons; the other rows are classified new / changed / unchanged.
- `apply(enterprise, tables, actor=...)`: checks again, then writes everything in one transaction,
  or nothing when a row is bad (`ImportRefused`).

Rules kept:
- The tenant wall: the enterprise is the caller's (the one HR chose among those granted to them);
  a column naming an enterprise is ignored. A member, manager or department of another enterprise
  is never found: only this enterprise's rows and the file's are looked in.
- Idempotent: departments are recognised by their code, members by their employee number; a row
  equal to what is stored changes nothing (no history row, no update). A department of the
  enterprise that has no code yet, with the same name under the same parent as a department of
  the file, is that department: it takes the file's code (a first import over a directory built
  by hand or by bootstrap).
- Links in the same file whatever the order: a parent, head or manager may be on any line. Rows
  are written first (departments top-down, members managers-first), the department heads after.
- D-5 (super admin): a `super_admin` row is taken only for an enterprise without an active super
  admin, and only one in the file; otherwise the super admin row must be the one there is.
  A stored member's role is never changed by an import (roles change through the handover and
  the exit workflow, S-2), and neither is anyone's status. The backup-admin flag is the super
  admin's choice (H-3): a file with such a column is refused.
- Set-based: the enterprise's departments, members and the logins the file needs are read in a
  few queries, rows are written with bulk_create/bulk_update in batches, with their history rows
  (django-simple-history's bulk helpers), so the number of queries does not grow with the rows.
- Logins: a new member's login is `login@code` (directory.services.member_username), `login`
  being the file's login column or else the employee number, lowercased; it has no usable
  password until the member sets one through an invitation. A stored member's login is kept.
- E-mail addresses: a member's password links (invitation, reset link) go to their login's
  address, so whoever sets it could set the password. A stored member's address is changed only
  when their login is unclaimed and unprivileged; for a login with a password set or a linked
  sign-in account, or the super admin, the backup admin, an admin or a staff login, the address is
  kept and the row carries a notice saying why (`RowOutcome.notices`; the row is not an error).
- Audit (C-7): one "directory_imported" event per import with what it did, including each stored
  member whose data region changed (before and after), and one "member_email_changed" event per
  member whose address changed (the addresses sealed as personal data), written in the same
  transaction.
"""

import csv
import io
import re
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, Exists, OuterRef, Value, When
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from . import table_stats
from .choices import DataRegion, DepartmentStatus, MemberRole, MemberStatus
from .models import (
    AppAuthorization,
    ApprovalTemplate,
    CustomerGroup,
    Department,
    Enterprise,
    ExternalContact,
    Member,
    SharedCalendar,
    ThirdPartyBinding,
)
from .services import audit_trail, member_username

BATCH_SIZE = 2000
MAX_ROWS = 100_000  # per table
CHANGE_REASON = "directory import"

DEPARTMENTS = "departments"
MEMBERS = "members"
RESOURCES = "resources"

DEPARTMENT_COLUMNS = ("code", "name", "parent_code", "parent_path", "head_employee_number")
MEMBER_COLUMNS = (
    "employee_number",
    "name",
    "department_code",
    "manager_employee_number",
    "title",
    "email",
    "mobile",
    "role",
    "data_region",
    "login",
)
# Owned resources (D-4): one table of every kind, `kind` naming it (RESOURCE_KINDS), with the
# fields of that kind; the others are left empty.
RESOURCE_KINDS = {
    "external_contact": ExternalContact,
    "customer_group": CustomerGroup,
    "app_authorization": AppAuthorization,
    "third_party_binding": ThirdPartyBinding,
    "approval_template": ApprovalTemplate,
    "shared_calendar": SharedCalendar,
}
RESOURCE_FIELDS = {
    kind: tuple(
        field.name
        for field in model._meta.concrete_fields
        if field.name not in ("id", "enterprise", "owner", "name", "created_at")
    )
    for kind, model in RESOURCE_KINDS.items()
}
RESOURCE_COLUMNS = (
    "kind",
    "owner_employee_number",
    "name",
    *dict.fromkeys(name for fields in RESOURCE_FIELDS.values() for name in fields),
)
# Other spellings of a column HR systems use.
ALIASES = {
    "department": "department_code",
    "manager": "manager_employee_number",
    "head": "head_employee_number",
    "parent": "parent_code",
    "path": "parent_path",
    "username": "login",
    "e_mail": "email",
    "region": "data_region",
    "job_title": "title",
    "owner": "owner_employee_number",
}
# Columns a file may never carry: the backup admin is the super admin's choice (H-3).
FORBIDDEN_COLUMNS = ("is_backup_admin", "backup_admin")

NEW, CHANGED, UNCHANGED, INVALID = "new", "changed", "unchanged", "invalid"

MOBILE = re.compile(r"^\+?[0-9][0-9 \-]{2,30}$")
PATH_SEPARATOR = re.compile(r"\s*[/／]\s*")


class FileRefused(Exception):
    """The file as a whole is refused (its encoding, its columns, its size); the message says
    why in one sentence."""


class ImportRefused(Exception):
    """Apply found bad rows: nothing was written. `summary` holds them."""

    def __init__(self, summary):
        super().__init__(_("Nothing was imported: some rows have errors."))
        self.summary = summary


@dataclass
class Table:
    kind: str  # DEPARTMENTS or MEMBERS
    name: str  # the sheet's name, or "" for a CSV file
    headers: list[str]
    rows: list[dict]  # values by column name, stripped text
    lines: list[int]  # each row's line in the file (the header is line 1)


@dataclass
class RowOutcome:
    kind: str
    sheet: str
    line: int
    key: str  # the department code or employee number
    values: dict
    status: str = UNCHANGED
    errors: list[str] = field(default_factory=list)
    username: str = ""  # a new member's login, as stored
    # What the import leaves as it is although the file says otherwise, and why (not an error).
    notices: list[str] = field(default_factory=list)

    def refuse(self, message: str) -> None:
        self.errors.append(message)
        self.status = INVALID


@dataclass
class Summary:
    rows: list[RowOutcome]
    # Filled by apply().
    written: dict = field(default_factory=dict)

    @property
    def invalid(self) -> list[RowOutcome]:
        return [row for row in self.rows if row.errors]

    @property
    def noticed(self) -> list[RowOutcome]:
        """The rows with notices: what the import keeps although the file says otherwise."""
        return [row for row in self.rows if row.notices]

    def counts(self, kind: str) -> Counter:
        return Counter(row.status for row in self.rows if row.kind == kind)

    def total(self, kind: str) -> int:
        return sum(1 for row in self.rows if row.kind == kind)


# -- reading the file --------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """The text of a CSV file: UTF-8 (with or without its BOM), else GBK, else refused."""
    if data[:4] == b"PK\x03\x04":
        raise FileRefused(_("This file is an XLSX workbook, not CSV: choose the xlsx format."))
    for encoding in ("utf-8-sig", "gbk"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileRefused(
        _("The file is neither UTF-8 nor GBK text: save it as CSV in UTF-8 and upload it again.")
    )


def normalized_header(header) -> str:
    name = re.sub(r"[\s\-]+", "_", str(header or "").strip().lower())
    return ALIASES.get(name, name)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a spreadsheet's 1001.0 is the employee number 1001
    return str(value).strip()


def _table(name: str, raw_rows) -> Table | None:
    """A table from its raw rows (the first one the header); None for an empty sheet."""
    raw_rows = iter(raw_rows)
    header_row = next(raw_rows, None)
    if header_row is None or not any(_cell(value) for value in header_row):
        return None
    headers = [normalized_header(value) for value in header_row]
    forbidden = [column for column in FORBIDDEN_COLUMNS if column in headers]
    if forbidden:
        raise FileRefused(
            _(
                "The column %(column)s cannot be imported: the backup admin is the super admin's "
                "choice, designated on their own page. Remove the column."
            )
            % {"column": forbidden[0]}
        )
    if "owner_employee_number" in headers:
        kind, columns = RESOURCES, RESOURCE_COLUMNS
    elif "employee_number" in headers:
        kind, columns = MEMBERS, MEMBER_COLUMNS
    elif "code" in headers:
        kind, columns = DEPARTMENTS, DEPARTMENT_COLUMNS
    else:
        raise FileRefused(
            _(
                "%(table)s names none of the columns employee_number (members), code "
                "(departments) or owner_employee_number (owned resources) in its first line."
            )
            % {"table": _table_name(name)}
        )
    required = {
        MEMBERS: ("employee_number", "name"),
        DEPARTMENTS: ("code", "name"),
        RESOURCES: ("kind", "owner_employee_number", "name"),
    }[kind]
    missing = [column for column in required if column not in headers]
    if missing:
        raise FileRefused(
            _("%(table)s has no column %(columns)s.")
            % {"table": _table_name(name), "columns": ", ".join(missing)}
        )
    position = {column: headers.index(column) for column in columns if column in headers}
    rows, lines = [], []
    for line, values in enumerate(raw_rows, start=2):
        values = list(values)
        if not any(_cell(value) for value in values):
            continue  # a blank line
        if len(rows) >= MAX_ROWS:
            raise FileRefused(
                _("%(table)s holds more than %(max)d rows: split it.")
                % {"table": _table_name(name), "max": MAX_ROWS}
            )
        rows.append(
            {
                column: _cell(values[index]) if index < len(values) else ""
                for column, index in position.items()
            }
        )
        lines.append(line)
    return Table(kind=kind, name=name, headers=list(position), rows=rows, lines=lines)


def _table_name(name: str) -> str:
    return _("The sheet “%(name)s”") % {"name": name} if name else _("The file")


def read_tables(data: bytes, file_format: str) -> list[Table]:
    """The tables of an uploaded file ("csv" or "xlsx"); FileRefused says why it cannot be read."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data:
        raise FileRefused(_("The file is empty."))
    if file_format == "xlsx":
        tables = [table for table in _xlsx_tables(data) if table is not None]
    else:
        text = decode_text(data)
        tables = [_table("", csv.reader(io.StringIO(text, newline="")))]
    tables = [table for table in tables if table is not None]
    if not tables or not any(table.rows for table in tables):
        raise FileRefused(_("The file has no rows under its header."))
    kinds = Counter(table.kind for table in tables)
    for kind, count in kinds.items():
        if count > 1:
            raise FileRefused(
                _("The workbook has %(count)d sheets of %(kind)s: put them in one sheet.")
                % {"count": count, "kind": _kind_name(kind)}
            )
    return tables


def _xlsx_tables(data: bytes):
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is in requirements.txt
        raise FileRefused(
            _("XLSX files cannot be read on this server: upload a CSV file.")
        ) from None
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged or foreign file
        raise FileRefused(
            _("The file is not an XLSX workbook that can be read: save it again as .xlsx.")
        ) from None
    try:
        for sheet in workbook.worksheets:
            yield _table(sheet.title, sheet.iter_rows(values_only=True))
    finally:
        workbook.close()


def _kind_name(kind: str) -> str:
    return {
        DEPARTMENTS: _("departments"),
        MEMBERS: _("members"),
        RESOURCES: _("owned resources"),
    }[kind]


# -- checking -----------------------------------------------------------------------------------


class _Plan:
    """What the file would do to the enterprise: built by check(), written by apply()."""

    def __init__(self, enterprise: Enterprise, tables: list[Table]):
        self.enterprise = enterprise
        self.tables = {table.kind: table for table in tables}
        self.outcomes: list[RowOutcome] = []
        self.load()

    # The enterprise as it is: a few queries, whatever the size of the file.

    def load(self) -> None:
        enterprise = self.enterprise
        self.db_departments = {
            row["pk"]: row
            for row in Department.objects.filter(enterprise=enterprise).values(
                "pk", "code", "name", "parent_id", "head_id", "status"
            )
        }
        self.db_department_by_code = {
            row["code"]: pk for pk, row in self.db_departments.items() if row["code"]
        }
        self.db_members = {
            row["pk"]: row
            for row in Member.objects.filter(enterprise=enterprise).values(
                "pk",
                "employee_number",
                "name",
                "title",
                "mobile",
                "department_id",
                "manager_id",
                "role",
                "status",
                "data_region",
                "is_backup_admin",
                "user_id",
                "user__email",
            )
        }
        self.db_member_by_number = {
            row["employee_number"]: pk for pk, row in self.db_members.items()
        }
        self.super_admin_pk = next(
            (
                pk
                for pk, row in self.db_members.items()
                if row["role"] == MemberRole.SUPER_ADMIN and row["status"] == MemberStatus.ACTIVE
            ),
            None,
        )

    def outcome(self, table: Table, index: int, key_column: str) -> RowOutcome:
        row = table.rows[index]
        outcome = RowOutcome(
            kind=table.kind,
            sheet=table.name,
            line=table.lines[index],
            key=row.get(key_column, ""),
            values=row,
        )
        self.outcomes.append(outcome)
        return outcome

    def check(self) -> Summary:
        self.check_departments()
        self.check_members()
        self.check_department_heads()
        self.check_resources()
        order = {DEPARTMENTS: 0, MEMBERS: 1, RESOURCES: 2}
        return Summary(rows=sorted(self.outcomes, key=lambda o: (order[o.kind], o.line)))

    # Owned resources ------------------------------------------------------------------------

    def check_resources(self) -> None:
        """Each resource row: a known kind, an owner of the file or the enterprise (active), a
        name, its kind's fields. A resource is recognised by its kind, owner and name."""
        table = self.tables.get(RESOURCES)
        self.resource_rows: list[tuple[RowOutcome, str, tuple, dict]] = []
        if table is None:
            return
        present = set(table.headers)
        stored: dict[str, dict[tuple, list[dict]]] = {}
        for kind, model in RESOURCE_KINDS.items():
            by_key = defaultdict(list)
            for row in model.objects.filter(enterprise=self.enterprise).values(
                "pk", "owner_id", "name", *RESOURCE_FIELDS[kind]
            ):
                by_key[(("db", row["owner_id"]), row["name"])].append(row)
            stored[kind] = by_key
        first_line: dict[tuple, int] = {}
        for index, row in enumerate(table.rows):
            outcome = self.outcome(table, index, "owner_employee_number")
            kind = row.get("kind", "").strip().lower().replace(" ", "_").replace("-", "_")
            model = RESOURCE_KINDS.get(kind)
            if model is None:
                outcome.refuse(
                    _("Unknown kind %(kind)s: one of %(kinds)s.")
                    % {"kind": row.get("kind", ""), "kinds": ", ".join(RESOURCE_KINDS)}
                )
            name = row.get("name", "")
            if not name:
                outcome.refuse(_("The name is missing."))
            elif len(name) > 200:
                outcome.refuse(_("The name is longer than 200 characters."))
            number = row.get("owner_employee_number", "")
            owner = self.member_node(number) if number else None
            if not number:
                outcome.refuse(_("The owner's employee number is missing."))
            elif owner is None:
                outcome.refuse(
                    _("The owner %(number)s is not a member of this enterprise nor in this file.")
                    % {"number": number}
                )
            elif owner[0] == "db" and self.db_members[owner[1]]["status"] != MemberStatus.ACTIVE:
                outcome.refuse(
                    _(
                        "The owner %(number)s is not active: what a leaver owns is handed over "
                        "through their exit."
                    )
                    % {"number": number}
                )
            elif number in self.member_rows and self.member_rows[number].errors:
                outcome.refuse(
                    _("The owner %(number)s has errors (line %(line)d).")
                    % {"number": number, "line": self.member_rows[number].line}
                )
            if model is None:
                continue
            values = {}
            for field_name in RESOURCE_FIELDS[kind]:
                if field_name not in present:
                    continue
                raw = row.get(field_name, "")
                field = model._meta.get_field(field_name)
                if isinstance(field, models.BooleanField):
                    raw = _BOOLEANS.get(raw.strip().lower(), raw)
                if raw == "" and not field.blank:
                    if field.has_default():
                        continue
                    outcome.refuse(
                        _("The column %(column)s is needed for %(kind)s.")
                        % {"column": field_name, "kind": kind}
                    )
                    continue
                if raw == "" and field.has_default() and not isinstance(field, models.CharField):
                    continue
                try:
                    values[field_name] = field.clean(raw, None)
                except ValidationError as error:
                    outcome.refuse(
                        _("%(column)s: %(error)s")
                        % {"column": field_name, "error": " ".join(error.messages)}
                    )
            for field_name in RESOURCE_FIELDS[kind]:
                field = model._meta.get_field(field_name)
                if field_name not in values and not field.blank and not field.has_default():
                    if field_name not in present:
                        outcome.refuse(
                            _("The column %(column)s is needed for %(kind)s.")
                            % {"column": field_name, "kind": kind}
                        )
            if outcome.errors or owner is None:
                continue
            key = (kind, owner, name)
            if key in first_line:
                outcome.refuse(
                    _("The same resource is on line %(line)d already.") % {"line": first_line[key]}
                )
                continue
            first_line[key] = outcome.line
            existing = stored[kind].get((owner, name), [])
            if len(existing) > 1:
                outcome.refuse(
                    _(
                        "%(owner)s owns %(count)d resources of this kind named %(name)s: the "
                        "import cannot tell them apart."
                    )
                    % {"owner": number, "count": len(existing), "name": name}
                )
                continue
            if not existing:
                outcome.status = NEW
                self.resource_rows.append((outcome, kind, owner, values))
                continue
            current = existing[0]
            if any(current[name] != value for name, value in values.items()):
                outcome.status = CHANGED
                self.resource_rows.append((outcome, kind, owner, {"pk": current["pk"], **values}))

    # Departments ----------------------------------------------------------------------------

    def check_departments(self) -> None:
        table = self.tables.get(DEPARTMENTS)
        self.department_rows: dict[str, RowOutcome] = {}  # code → its (first) row
        if table is None:
            self.department_key: dict[str, tuple] = {}
            self.department_parent: dict[str, tuple | None] = {}
            return
        first_line: dict[str, int] = {}
        for index, row in enumerate(table.rows):
            outcome = self.outcome(table, index, "code")
            code, name = row.get("code", ""), row.get("name", "")
            if not code:
                outcome.refuse(_("The department code is missing."))
            elif len(code) > 64:
                outcome.refuse(_("The department code is longer than 64 characters."))
            elif code in first_line:
                outcome.refuse(
                    _("The department code %(code)s is on line %(line)d already.")
                    % {"code": code, "line": first_line[code]}
                )
            else:
                first_line[code] = outcome.line
                self.department_rows[code] = outcome
            if not name:
                outcome.refuse(_("The department name is missing."))
            elif len(name) > 200:
                outcome.refuse(_("The department name is longer than 200 characters."))
        self.resolve_parents()
        self.check_tree()

    def resolve_parents(self) -> None:
        """Each file department's parent (a node: ("db", pk) or ("file", code); None at the top)
        and its own node, the parents on any line. Repeated until nothing more resolves, so a
        parent path may name departments the file itself creates."""
        rows = self.department_rows
        key: dict[str, tuple] = {}
        parent: dict[str, tuple | None] = {}
        adopted: set[int] = set()
        pending = [code for code, outcome in rows.items() if not outcome.errors]
        for code, outcome in rows.items():
            values = outcome.values
            if values.get("parent_code") and values.get("parent_code") == code:
                outcome.refuse(_("A department cannot be its own parent."))
        pending = [code for code in pending if not rows[code].errors]
        failed: dict[str, str] = {}
        progress = True
        while pending and progress:
            progress = False
            still = []
            index = waiting = None  # built when a path is first looked up in this pass
            for code in pending:
                values = rows[code].values
                parent_code, parent_path = values.get("parent_code"), values.get("parent_path")
                if parent_code:
                    if parent_code in rows and not rows[parent_code].errors:
                        if parent_code not in key:
                            still.append(code)
                            continue
                        found = key[parent_code]
                    elif parent_code in self.db_department_by_code and parent_code not in rows:
                        found = ("db", self.db_department_by_code[parent_code])
                    elif parent_code in rows:
                        failed[code] = _(
                            "Its parent department %(code)s has errors itself (line %(line)d)."
                        ) % {"code": parent_code, "line": rows[parent_code].line}
                        continue
                    else:
                        failed[code] = _(
                            "Unknown parent department code %(code)s: it is neither in this "
                            "file nor in the enterprise."
                        ) % {"code": parent_code}
                        continue
                elif parent_path:
                    if index is None:
                        index = self.path_index(key, parent)
                        waiting = {rows[c].values["name"] for c in pending if c not in key}
                    found = self.find_path(parent_path, index, waiting)
                    if found is _WAIT:
                        still.append(code)
                        continue
                    if found is None:
                        failed[code] = _(
                            "No department at the parent path %(path)s, in this file or the "
                            "enterprise."
                        ) % {"path": parent_path}
                        continue
                else:
                    found = None
                parent[code] = found
                key[code] = self.node_of(code, rows[code].values["name"], found, adopted)
                progress = True
            pending = still
        for code in pending:
            failed[code] = self.cycle_message(code)
        for code, message in failed.items():
            rows[code].refuse(message)
        self.department_key = key
        self.department_parent = parent

    def node_of(self, code: str, name: str, parent_node, adopted: set) -> tuple:
        """The department a file row is: the enterprise's one with this code; else one without a
        code, with this name under this parent (it takes the code); else a new one."""
        if code in self.db_department_by_code:
            return ("db", self.db_department_by_code[code])
        if not hasattr(self, "_uncoded"):
            self._uncoded = defaultdict(list)
            for pk, row in self.db_departments.items():
                if not row["code"]:
                    self._uncoded[(_db_parent_node(row), row["name"])].append(pk)
        for pk in self._uncoded.get((parent_node, name), ()):
            if pk not in adopted:
                adopted.add(pk)
                return ("db", pk)
        return ("file", code)

    def find_path(self, path: str, index: dict, waiting: set):
        """The node at `path` (names from the top, "总部/研发部"), _WAIT while a department of the
        file that could be on it is not placed yet, or None. `index` maps (parent node, name) to
        the nodes placed so far; `waiting` holds the names of the file's departments not placed
        yet."""
        names = [name for name in PATH_SEPARATOR.split(path.strip(" /／")) if name]
        if not names:
            return None
        node = None
        for name in names:
            found = index.get((node, name))
            if not found:
                return _WAIT if name in waiting else None
            node = found[0]
        return node

    def path_index(self, key: dict, parent: dict) -> dict:
        """(parent node, name) → nodes: the file's departments placed so far, and the
        enterprise's departments the file does not move."""
        index = defaultdict(list)
        for code, node in key.items():
            index[(parent[code], self.department_rows[code].values["name"])].append(node)
        managed = {node[1] for node in key.values() if node[0] == "db"}
        managed |= {
            self.db_department_by_code[code]
            for code in self.department_rows
            if code in self.db_department_by_code
        }
        for pk, row in self.db_departments.items():
            if pk not in managed:
                index[(_db_parent_node(row), row["name"])].append(("db", pk))
        return index

    def cycle_message(self, code: str) -> str:
        chain, seen = [code], {code}
        current = code
        while True:
            parent_code = self.department_rows[current].values.get("parent_code")
            if not parent_code or parent_code not in self.department_rows:
                break
            chain.append(parent_code)
            if parent_code in seen:
                return _("The department tree would have a cycle: %(chain)s.") % {
                    "chain": " → ".join(chain)
                }
            seen.add(parent_code)
            current = parent_code
        if self.department_rows[code].values.get("parent_path"):
            return _(
                "No department at the parent path %(path)s, in this file or the enterprise."
            ) % {"path": self.department_rows[code].values["parent_path"]}
        return _("Its parent department is in a cycle of the department tree: %(chain)s.") % {
            "chain": " → ".join(chain)
        }

    def check_tree(self) -> None:
        """The tree after the import: no cycle through the enterprise's departments either, no
        two departments of one name under one parent, no department under a dissolved one."""
        rows, key, parent = self.department_rows, self.department_key, self.department_parent
        code_of_node = {node: code for code, node in key.items()}
        effective: dict[tuple, tuple | None] = {}
        names: dict[tuple, str] = {}
        for pk, row in self.db_departments.items():
            effective[("db", pk)] = _db_parent_node(row)
            names[("db", pk)] = row["name"]
        for code, node in key.items():
            effective[node] = parent[code]
            names[node] = rows[code].values["name"]
        for code, node in key.items():
            seen, current = [], node
            for _step in range(len(effective) + 1):
                current = effective.get(current)
                if current is None:
                    break
                if current == node:
                    chain = [code] + [code_of_node.get(n, names.get(n, "?")) for n in seen] + [code]
                    rows[code].refuse(
                        _("The department tree would have a cycle: %(chain)s.")
                        % {"chain": " → ".join(chain)}
                    )
                    break
                seen.append(current)
        siblings: dict[tuple, list[tuple]] = defaultdict(list)
        for node, parent_node in effective.items():
            siblings[(parent_node, names[node])].append(node)
        for code, node in key.items():
            outcome = rows[code]
            same = [n for n in siblings[(parent[code], names[node])] if n != node]
            for other in same:
                if other in code_of_node:
                    outcome.refuse(
                        _(
                            "Another department of the file has the same name under the same "
                            "parent (line %(line)d)."
                        )
                        % {"line": rows[code_of_node[other]].line}
                    )
                else:
                    outcome.refuse(
                        _(
                            "A department named %(name)s already exists under the same parent "
                            "(code %(code)s)."
                        )
                        % {
                            "name": names[node],
                            "code": self.db_departments[other[1]]["code"] or "—",
                        }
                    )
            parent_node = parent[code]
            if (
                parent_node is not None
                and parent_node[0] == "db"
                and self.db_departments[parent_node[1]]["status"] == DepartmentStatus.DISSOLVED
            ):
                outcome.refuse(_("Its parent department is dissolved."))
            if node[0] == "db" and self.db_departments[node[1]]["status"] == (
                DepartmentStatus.DISSOLVED
            ):
                outcome.refuse(_("This department is dissolved: an import does not revive it."))
            if not outcome.errors:
                outcome.status = self.department_status(code, node)

    def department_status(self, code: str, node: tuple) -> str:
        if node[0] == "file":
            return NEW
        row = self.db_departments[node[1]]
        values = self.department_rows[code].values
        if (
            row["code"] != code
            or row["name"] != values["name"]
            or _db_parent_node(row) != self.department_parent[code]
        ):
            return CHANGED
        return UNCHANGED  # the head is compared once members are known

    # Members --------------------------------------------------------------------------------

    def check_members(self) -> None:
        table = self.tables.get(MEMBERS)
        self.member_rows: dict[str, RowOutcome] = {}
        if table is None:
            return
        present = set(table.headers)
        self.member_columns = present
        first_line: dict[str, int] = {}
        User = get_user_model()
        validate_username = UnicodeUsernameValidator()
        logins: dict[str, RowOutcome] = {}
        super_admin_lines = []
        for index, row in enumerate(table.rows):
            outcome = self.outcome(table, index, "employee_number")
            number = row.get("employee_number", "")
            existing_pk = self.db_member_by_number.get(number)
            existing = self.db_members.get(existing_pk)
            if not number:
                outcome.refuse(_("The employee number is missing."))
            elif len(number) > 32:
                outcome.refuse(_("The employee number is longer than 32 characters."))
            elif number in first_line:
                outcome.refuse(
                    _("The employee number %(number)s is on line %(line)d already.")
                    % {"number": number, "line": first_line[number]}
                )
            else:
                first_line[number] = outcome.line
                self.member_rows[number] = outcome
            name = row.get("name", "")
            if not name:
                outcome.refuse(_("The name is missing."))
            elif len(name) > 100:
                outcome.refuse(_("The name is longer than 100 characters."))
            if existing is not None and existing["status"] != MemberStatus.ACTIVE:
                outcome.refuse(
                    _(
                        "%(name)s is not active (%(status)s): an import does not change a member "
                        "who left or is frozen."
                    )
                    % {
                        "name": existing["name"],
                        "status": MemberStatus(existing["status"]).label,
                    }
                )
            department_code = row.get("department_code", "")
            if "department_code" in present or existing is None:
                if not department_code:
                    outcome.refuse(_("The department code is missing."))
                elif department_code in self.department_rows:
                    if self.department_rows[department_code].errors:
                        outcome.refuse(
                            _("Its department %(code)s has errors (line %(line)d).")
                            % {
                                "code": department_code,
                                "line": self.department_rows[department_code].line,
                            }
                        )
                elif department_code in self.db_department_by_code:
                    pk = self.db_department_by_code[department_code]
                    if self.db_departments[pk]["status"] == DepartmentStatus.DISSOLVED:
                        outcome.refuse(
                            _("The department %(code)s is dissolved.") % {"code": department_code}
                        )
                else:
                    outcome.refuse(
                        _(
                            "Unknown department %(code)s: it is neither in this file nor in the "
                            "enterprise."
                        )
                        % {"code": department_code}
                    )
            title = row.get("title", "")
            if len(title) > 100:
                outcome.refuse(_("The job title is longer than 100 characters."))
            email = row.get("email", "")
            if email:
                try:
                    validate_email(email)
                except ValidationError:
                    outcome.refuse(
                        _("The e-mail address %(email)s is malformed.") % {"email": email}
                    )
            mobile = row.get("mobile", "")
            if mobile and not MOBILE.match(mobile):
                outcome.refuse(_("The mobile number %(mobile)s is malformed.") % {"mobile": mobile})
            role = row.get("role", "").lower()
            if role and role not in MemberRole.values:
                outcome.refuse(
                    _("Unknown role %(role)s: member, admin or super_admin.") % {"role": role}
                )
            elif role and existing is not None and role != existing["role"]:
                outcome.refuse(
                    _(
                        "%(name)s is %(role)s: a role changes only through the super-admin "
                        "handover or an admin's exit, never by an import."
                    )
                    % {"name": existing["name"], "role": MemberRole(existing["role"]).label}
                )
            elif role == MemberRole.SUPER_ADMIN and existing is None:
                super_admin_lines.append(outcome)
            region = row.get("data_region", "").upper()
            if region and region not in DataRegion.values:
                outcome.refuse(
                    _("Unknown data region %(region)s: one of %(regions)s.")
                    % {"region": region, "regions": ", ".join(DataRegion.values)}
                )
            if existing is None and self.member_rows.get(number) is outcome:
                login = (row.get("login") or number).strip().lower()
                username = member_username(self.enterprise, login)
                try:
                    validate_username(username)
                    if len(username) > 150:
                        raise ValidationError("too long")
                except ValidationError:
                    outcome.refuse(
                        _(
                            "The login %(login)s is not valid: letters, digits and @ . + - _ "
                            "only, at most 150 characters with the enterprise code."
                        )
                        % {"login": login}
                    )
                else:
                    if username in logins:
                        outcome.refuse(
                            _("The login %(login)s is on line %(line)d already.")
                            % {"login": login, "line": logins[username].line}
                        )
                    else:
                        logins[username] = outcome
                        outcome.username = username
        self.check_super_admins(super_admin_lines)
        self.check_emails()
        # The logins new members need, taken by anyone already: one query per batch.
        wanted = list(logins)
        taken = set()
        for batch in _batches(wanted):
            taken.update(
                User.objects.annotate(lowered=Lower("username"))
                .filter(lowered__in=batch)
                .values_list("lowered", flat=True)
            )
        for username in taken:
            logins[username].refuse(
                _("The login %(login)s is taken already.") % {"login": username.rsplit("@", 1)[0]}
            )
        self.check_managers()

    def check_super_admins(self, new_super_admins: list[RowOutcome]) -> None:
        if not new_super_admins:
            return
        if self.super_admin_pk is not None:
            current = self.db_members[self.super_admin_pk]
            for outcome in new_super_admins:
                outcome.refuse(
                    _(
                        "The enterprise has its super admin already (%(name)s): the role passes "
                        "only through the super-admin handover."
                    )
                    % {"name": current["name"]}
                )
        elif len(new_super_admins) > 1:
            lines = ", ".join(str(outcome.line) for outcome in new_super_admins)
            for outcome in new_super_admins:
                outcome.refuse(
                    _(
                        "Two or more super admins in the file (lines %(lines)s): an enterprise has "
                        "exactly one."
                    )
                    % {"lines": lines}
                )

    def check_emails(self) -> None:
        """A stored member's e-mail address the file changes. Their password links (an
        invitation, a reset link HR sends) go to that address: whoever sets it can set the
        password. So it is kept, with a notice saying why, when the login is claimed (a password
        set, a linked sign-in account) or privileged (the super admin, the backup admin, an
        admin, a staff login); otherwise it is changed (`email_changes`, audited at the write).
        One query per batch of such members, none when the file changes no address."""
        self.email_changes: dict[str, str] = {}  # employee number → the file's address
        wanted: dict[int, str] = {}  # login id → employee number
        for number, outcome in self.member_rows.items():
            pk = self.db_member_by_number.get(number)
            email = outcome.values.get("email", "")
            if pk is None or outcome.errors or not email:
                continue
            if email != self.db_members[pk]["user__email"]:
                wanted[self.db_members[pk]["user_id"]] = number
        if not wanted:
            return
        User = get_user_model()
        claimed = {
            "password_set": Case(
                When(password__startswith=UNUSABLE_PASSWORD_PREFIX, then=Value(False)),
                default=Value(True),
                output_field=models.BooleanField(),
            )
        }
        if apps.is_installed("allauth.socialaccount"):
            from allauth.socialaccount.models import SocialAccount

            claimed["linked"] = Exists(SocialAccount.objects.filter(user=OuterRef("pk")))
        logins = {}
        for batch in _batches(wanted):
            for row in (
                User.objects.filter(pk__in=batch)
                .annotate(**claimed)
                .values("pk", "is_staff", "is_superuser", *claimed)
            ):
                logins[row["pk"]] = row
        for user_id, number in wanted.items():
            existing = self.db_members[self.db_member_by_number[number]]
            login = logins.get(user_id, {})
            reasons = []
            if existing["role"] == MemberRole.SUPER_ADMIN:
                reasons.append(_("the member is the super admin"))
            elif existing["role"] == MemberRole.ADMIN:
                reasons.append(_("the member is an admin"))
            if existing["is_backup_admin"]:
                reasons.append(_("the member is the backup admin"))
            if login.get("is_staff") or login.get("is_superuser"):
                reasons.append(_("their login is a staff login"))
            if login.get("password_set", True):
                reasons.append(_("the member has set a password"))
            if login.get("linked"):
                reasons.append(_("the member signs in with a linked account"))
            if not reasons:
                self.email_changes[number] = self.member_rows[number].values["email"]
                continue
            self.member_rows[number].notices.append(
                _(
                    "%(number)s %(name)s: e-mail kept (%(email)s): %(reasons)s, and their "
                    "password links go only to the address they hold."
                )
                % {
                    "number": number,
                    "name": existing["name"],
                    "email": existing["user__email"] or _("no address"),
                    # Translators: between the reasons of a kept e-mail address.
                    "reasons": _(", ").join(reasons),
                }
            )

    def member_node(self, number: str):
        if number in self.member_rows:
            existing = self.db_member_by_number.get(number)
            return ("db", existing) if existing is not None else ("file", number)
        if number in self.db_member_by_number:
            return ("db", self.db_member_by_number[number])
        return None

    def check_managers(self) -> None:
        rows = self.member_rows
        manager_column = "manager_employee_number" in self.member_columns
        effective: dict[tuple, tuple | None] = {}
        for pk, row in self.db_members.items():
            manager = row["manager_id"]
            effective[("db", pk)] = ("db", manager) if manager else None
        self.member_manager: dict[str, tuple | None] = {}
        for number, outcome in rows.items():
            node = self.member_node(number)
            if not manager_column and node[0] == "db":
                self.member_manager[number] = effective[node]
                continue
            manager_number = outcome.values.get("manager_employee_number", "")
            manager = None
            if manager_number:
                if manager_number == number:
                    outcome.refuse(_("A member cannot be their own manager."))
                    continue
                manager = self.member_node(manager_number)
                if manager is None:
                    outcome.refuse(
                        _(
                            "The manager %(number)s is not a member of this enterprise nor in "
                            "this file."
                        )
                        % {"number": manager_number}
                    )
                    continue
                if manager[0] == "db" and (
                    self.db_members[manager[1]]["status"] == MemberStatus.DEPARTED
                ):
                    outcome.refuse(
                        _("The manager %(number)s has left the enterprise.")
                        % {"number": manager_number}
                    )
                    continue
                if manager_number in rows and rows[manager_number].errors:
                    pass  # reported on the manager's own line
            self.member_manager[number] = manager
            effective[node] = manager
        for number, outcome in rows.items():
            node = self.member_node(number)
            current = node
            for _step in range(len(effective) + 1):
                current = effective.get(current)
                if current is None:
                    break
                if current == node:
                    outcome.refuse(
                        _("The managers would make a loop: %(number)s would report to themselves.")
                        % {"number": number}
                    )
                    break

    def check_department_heads(self) -> None:
        """Heads are members of the file or of the enterprise (checked once members are read)."""
        self.department_head: dict[str, tuple | None] = {}
        for code, outcome in self.department_rows.items():
            number = outcome.values.get("head_employee_number", "")
            node = self.department_key.get(code)
            if not number:
                head = None
                if node is not None and node[0] == "db":
                    head_id = self.db_departments[node[1]]["head_id"]
                    head = ("db", head_id) if head_id else None
                    if "head_employee_number" in self.tables[DEPARTMENTS].headers:
                        head = None
            else:
                head = self.member_node(number)
                if head is None:
                    outcome.refuse(
                        _(
                            "The head %(number)s is not a member of this enterprise nor in this "
                            "file."
                        )
                        % {"number": number}
                    )
                    continue
                if head[0] == "db" and self.db_members[head[1]]["status"] == MemberStatus.DEPARTED:
                    outcome.refuse(
                        _("The head %(number)s has left the enterprise.") % {"number": number}
                    )
                    continue
            self.department_head[code] = head
            if (
                not outcome.errors
                and outcome.status == UNCHANGED
                and node[0] == "db"
                and head != _head_node(self.db_departments[node[1]])
            ):
                outcome.status = CHANGED
        for number, outcome in self.member_rows.items():
            if not outcome.errors:
                outcome.status = self.member_status(number)

    def member_values(self, number: str) -> dict:
        """The stored fields a member row sets (for a stored member: only the columns present)."""
        values = self.member_rows[number].values
        present = self.member_columns
        existing = self.db_members.get(self.db_member_by_number.get(number))
        result = {"name": values["name"]}
        if existing is None or "title" in present:
            result["title"] = values.get("title", "")
        if existing is None or "mobile" in present:
            result["mobile"] = values.get("mobile", "")
        region = values.get("data_region", "").upper()
        if region:
            result["data_region"] = region
        elif existing is None:
            result["data_region"] = self.enterprise.data_region
        if existing is None:
            result["role"] = values.get("role", "").lower() or MemberRole.MEMBER
        return result

    def member_status(self, number: str) -> str:
        pk = self.db_member_by_number.get(number)
        if pk is None:
            return NEW
        existing = self.db_members[pk]
        values = self.member_rows[number].values
        changed = any(existing[name] != value for name, value in self.member_values(number).items())
        department_code = values.get("department_code")
        if department_code:
            node = self.department_node(department_code)
            changed |= node != ("db", existing["department_id"])
        manager = self.member_manager.get(number)
        changed |= manager != (("db", existing["manager_id"]) if existing["manager_id"] else None)
        changed |= number in self.email_changes
        return CHANGED if changed else UNCHANGED

    def department_node(self, code: str):
        if code in self.department_key:
            return self.department_key[code]
        if code in self.db_department_by_code:
            return ("db", self.db_department_by_code[code])
        return None

    # Writing --------------------------------------------------------------------------------

    def write(self, *, actor, progress=None) -> dict:
        """Write the checked plan; the caller holds the transaction. `progress` (a tqdm bar, say)
        is told how many rows there are to write, then each batch written."""
        written = Counter()
        if progress is not None:
            progress.total = sum(1 for outcome in self.outcomes if outcome.status in (NEW, CHANGED))
            progress.refresh()

        def advance(count):
            if progress is not None:
                progress.update(count)

        department_pk: dict[tuple, int] = {("db", pk): pk for pk in self.db_departments}
        # 1. Departments: new ones top-down (a parent before its children), heads set later.
        new_departments = {
            code: node for code, node in self.department_key.items() if node[0] == "file"
        }
        depth: dict[str, int] = {}

        def depth_of(code):
            if code not in depth:
                parent = self.department_parent[code]
                depth[code] = 0 if parent is None or parent[0] == "db" else depth_of(parent[1]) + 1
            return depth[code]

        created_departments: dict[str, Department] = {}
        for level in sorted({depth_of(code) for code in new_departments}):
            rows = []
            for code in new_departments:
                if depth[code] != level:
                    continue
                parent = self.department_parent[code]
                row = Department(
                    enterprise=self.enterprise,
                    code=code,
                    name=self.department_rows[code].values["name"],
                    parent_id=department_pk[parent] if parent is not None else None,
                )
                rows.append(row)
                created_departments[code] = row
            for batch in _batches(rows):
                Department.objects.bulk_create(batch)
                advance(len(batch))
            for row in rows:
                department_pk[("file", row.code)] = row.pk
        written["departments_created"] = len(created_departments)

        # 2. Members: new ones managers first, so every row is final when inserted (one "+"
        # history row each); stored ones updated where the file changes them.
        User = get_user_model()
        member_pk: dict[tuple, int] = {("db", pk): pk for pk in self.db_members}
        new_numbers = [
            number for number, outcome in self.member_rows.items() if outcome.status == NEW
        ]
        users = []
        for number in new_numbers:
            outcome = self.member_rows[number]
            users.append(
                User(
                    username=outcome.username,
                    # Unusable, as make_password(None) makes it, without its 40 random choices
                    # per row (a third of a 20,000-member import).
                    password=UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30),
                    # A Chinese full name is written surname first: kept whole in first_name.
                    first_name=outcome.values["name"][:150],
                    email=outcome.values.get("email", ""),
                )
            )
        for batch in _batches(users):
            User.objects.bulk_create(batch)
        user_of = dict(zip(new_numbers, users, strict=True))

        level_of: dict[str, int] = {}

        def level(number):
            if number not in level_of:
                level_of[number] = 0
                manager = self.member_manager.get(number)
                if manager is not None and manager[0] == "file":
                    level_of[number] = level(manager[1]) + 1
            return level_of[number]

        for current in sorted({level(number) for number in new_numbers}):
            rows = []
            for number in new_numbers:
                if level_of[number] != current:
                    continue
                values = self.member_values(number)
                manager = self.member_manager.get(number)
                rows.append(
                    Member(
                        enterprise=self.enterprise,
                        user=user_of[number],
                        employee_number=number,
                        department_id=department_pk[
                            self.department_node(self.member_rows[number].values["department_code"])
                        ],
                        manager_id=member_pk[manager] if manager is not None else None,
                        **values,
                    )
                )
            for batch in _batches(rows):
                Member.objects.bulk_create(batch)
                write_created_history(Member, batch, actor=actor)
                advance(len(batch))
            for row in rows:
                member_pk[("file", row.employee_number)] = row.pk
        written["members_created"] = len(new_numbers)

        changes_by_pk, changed_users, region_changes, email_changes = {}, [], [], []
        for number, outcome in self.member_rows.items():
            if outcome.status != CHANGED:
                continue
            existing = self.db_members[self.db_member_by_number[number]]
            values = self.member_values(number)
            department_code = outcome.values.get("department_code")
            if department_code:
                values["department_id"] = department_pk[self.department_node(department_code)]
            manager = self.member_manager.get(number)
            values["manager_id"] = member_pk[manager] if manager is not None else None
            changes = {name: value for name, value in values.items() if existing[name] != value}
            if changes:
                changes_by_pk[existing["pk"]] = changes
                if "data_region" in changes:
                    region_changes.append(
                        {
                            "member_id": existing["pk"],
                            "before": existing["data_region"],
                            "after": changes["data_region"],
                        }
                    )
            if number in self.email_changes:
                # Only an unclaimed login's (check_emails); each change is an audit event.
                email = self.email_changes[number]
                changed_users.append(User(pk=existing["user_id"], email=email))
                email_changes.append(
                    {"member_id": existing["pk"], "before": existing["user__email"], "after": email}
                )
        if changes_by_pk:
            # One bulk update sets the same fields on every row: the others keep their values, and
            # each history row holds the member's whole state.
            fields = sorted({name for changes in changes_by_pk.values() for name in changes})
            rows = []
            for row in Member.objects.in_bulk(list(changes_by_pk)).values():
                for name, value in changes_by_pk[row.pk].items():
                    setattr(row, name, value)
                rows.append(row)
            bulk_update_with_history(
                rows,
                Member,
                [name.removesuffix("_id") for name in fields],
                batch_size=BATCH_SIZE,
                default_user=actor,
                default_change_reason=CHANGE_REASON,
            )
        # Written only while still unclaimed: a login claimed since the check (a password set
        # meanwhile) fails the import, nothing written, rather than losing its address.
        unclaimed = User.objects.filter(
            password__startswith=UNUSABLE_PASSWORD_PREFIX, is_staff=False, is_superuser=False
        )
        if apps.is_installed("allauth.socialaccount"):
            from allauth.socialaccount.models import SocialAccount

            unclaimed = unclaimed.filter(~Exists(SocialAccount.objects.filter(user=OuterRef("pk"))))
        for batch in _batches(changed_users):
            if unclaimed.bulk_update(batch, ["email"]) != len(batch):
                raise FileRefused(
                    _("The directory changed while importing; nothing was imported. Try again.")
                )
        written["members_updated"] = len(
            set(changes_by_pk) | {change["member_id"] for change in email_changes}
        )
        written["member_emails_changed"] = len(email_changes)
        advance(sum(1 for o in self.member_rows.values() if o.status == CHANGED))

        # 3. Department heads and the departments' history: new ones get their "+" row holding
        # their final state; stored ones that changed, a "~" row.
        for code, row in created_departments.items():
            head = self.department_head.get(code)
            row.head_id = member_pk[head] if head is not None else None
        rows = list(created_departments.values())
        for batch in _batches(rows):
            Department.objects.bulk_update(batch, ["head"])
        write_created_history(Department, rows, actor=actor)
        changed_departments = []
        stored = [
            node[1]
            for code, node in self.department_key.items()
            if node[0] == "db" and self.department_rows[code].status == CHANGED
        ]
        full = Department.objects.in_bulk(stored)
        for code, node in self.department_key.items():
            if node[0] != "db" or self.department_rows[code].status != CHANGED:
                continue
            row = full[node[1]]
            parent = self.department_parent[code]
            head = self.department_head.get(code)
            row.code = code
            row.name = self.department_rows[code].values["name"]
            row.parent_id = department_pk[parent] if parent is not None else None
            row.head_id = member_pk[head] if head is not None else None
            changed_departments.append(row)
        if changed_departments:
            bulk_update_with_history(
                changed_departments,
                Department,
                ["code", "name", "parent", "head"],
                batch_size=BATCH_SIZE,
                default_user=actor,
                default_change_reason=CHANGE_REASON,
            )
        written["departments_updated"] = len(changed_departments)
        advance(len(changed_departments))

        # 4. Owned resources, once their owners have ids.
        created = defaultdict(list)
        changed = defaultdict(dict)
        for outcome, kind, owner, values in self.resource_rows:
            if outcome.status == NEW:
                created[kind].append(
                    RESOURCE_KINDS[kind](
                        enterprise=self.enterprise,
                        owner_id=member_pk[owner],
                        name=outcome.values["name"],
                        **values,
                    )
                )
            else:
                values = dict(values)
                changed[kind][values.pop("pk")] = values
        for kind, rows in created.items():
            for batch in _batches(rows):
                RESOURCE_KINDS[kind].objects.bulk_create(batch)
                write_created_history(RESOURCE_KINDS[kind], batch, actor=actor)
                advance(len(batch))
        for kind, changes_by_pk in changed.items():
            model = RESOURCE_KINDS[kind]
            rows = []
            for row in model.objects.in_bulk(list(changes_by_pk)).values():
                for name, value in changes_by_pk[row.pk].items():
                    setattr(row, name, value)
                rows.append(row)
            fields = sorted({name for values in changes_by_pk.values() for name in values})
            bulk_update_with_history(
                rows,
                model,
                fields,
                batch_size=BATCH_SIZE,
                default_user=actor,
                default_change_reason=CHANGE_REASON,
            )
        written["resources_created"] = sum(len(rows) for rows in created.values())
        written["resources_updated"] = sum(len(rows) for rows in changed.values())
        advance(written["resources_updated"])
        written["data_region_changes"] = region_changes
        written["email_changes"] = email_changes
        return dict(written)


_WAIT = object()
_BOOLEANS = {
    "yes": "1",
    "y": "1",
    "是": "1",
    "no": "0",
    "n": "0",
    "否": "0",
    "true": "1",
    "false": "0",
}

_HISTORY_FIELDS = ("history_date", "history_change_reason", "history_type", "history_user")


def write_created_history(model, rows: list, *, actor) -> None:
    """The "+" history rows of just-created `rows` (by `actor`, reason "directory import").

    The rows simple_history's bulk_history_create writes, copied by the database from the rows
    just inserted (INSERT … SELECT … WHERE id IN …), as the demo seeder does: no historical
    instance per row in Python, which was half of a 20,000-member import. Should the historical
    model ever get fields this does not know, simple_history writes the rows instead.
    """
    if not rows:
        return
    history = model.history.model
    tracked = list(history.tracked_fields)
    expected = {f.name for f in tracked} | {"history_id", *_HISTORY_FIELDS}
    if {f.name for f in history._meta.concrete_fields} != expected:
        model.history.bulk_history_create(
            rows, batch_size=BATCH_SIZE, default_user=actor, default_change_reason=CHANGE_REASON
        )
        return
    quote = connection.ops.quote_name
    targets = [history._meta.get_field(f.name).column for f in tracked]
    targets += [history._meta.get_field(name).column for name in _HISTORY_FIELDS]
    sources = [quote(f.column) for f in tracked] + ["%s", "%s", "%s", "%s"]
    pk = quote(model._meta.pk.column)
    now = history._meta.get_field("history_date").get_db_prep_save(timezone.now(), connection)
    user_id = getattr(actor, "pk", None)
    per_statement = min(BATCH_SIZE, (connection.features.max_query_params or BATCH_SIZE) - 4)
    with connection.cursor() as cursor:
        for ids in _batches([row.pk for row in rows], per_statement):
            cursor.execute(
                f"INSERT INTO {quote(history._meta.db_table)} ({', '.join(map(quote, targets))}) "
                f"SELECT {', '.join(sources)} FROM {quote(model._meta.db_table)} "
                f"WHERE {pk} IN ({', '.join(['%s'] * len(ids))}) ORDER BY {pk}",
                [now, CHANGE_REASON, "+", user_id, *ids],
            )


def _db_parent_node(row) -> tuple | None:
    return ("db", row["parent_id"]) if row["parent_id"] else None


def _head_node(row) -> tuple | None:
    return ("db", row["head_id"]) if row["head_id"] else None


def _batches(items, size=BATCH_SIZE):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check(enterprise: Enterprise, tables: list[Table]) -> Summary:
    """What importing `tables` into `enterprise` would do, row by row; nothing written."""
    return _Plan(enterprise, tables).check()


def apply(enterprise: Enterprise, tables: list[Table], *, actor, progress=None) -> Summary:
    """Import `tables` into `enterprise`: all of it in one transaction, or nothing.

    Preconditions: `actor` may add and change members and departments in `enterprise` (HR of it;
    the admin checks, and so does this door); None is the system. Locks the enterprise's audit
    chain first (the lock order of every door), checks the file again against the enterprise as
    it is now, and raises ImportRefused (nothing written) when any row is bad. Side effects: the
    rows and their history (reason "directory import"), the new members' logins (no usable
    password), one audit event "directory_imported".
    """
    if actor is not None and not all(
        actor.has_perm(perm, enterprise) for perm in IMPORT_PERMISSIONS
    ):
        raise FileRefused(_("You may not import the directory of this enterprise."))
    try:
        with transaction.atomic():
            audit_trail().lock(enterprise.pk)
            plan = _Plan(enterprise, tables)
            summary = plan.check()
            if summary.invalid:
                raise ImportRefused(summary)
            written = plan.write(actor=actor, progress=progress)
            # For the planner, once committed: an imported directory is listed at once.
            table_stats.analyze(Department, get_user_model(), Member, *RESOURCE_KINDS.values())
            region_changes = written.pop("data_region_changes")
            email_changes = written.pop("email_changes")
            written["member_emails_kept"] = len(summary.noticed)
            events = [
                {
                    "action": "directory_imported",
                    "object_type": "enterprise",
                    "object_id": enterprise.pk,
                    "data": {**written, "member_data_region_changes": region_changes},
                }
            ]
            # One event per member whose address changed, as update_member audits a data
            # region: the addresses are personal data, sealed with the member's key.
            events += [
                {
                    "action": "member_email_changed",
                    "object_type": "member",
                    "object_id": change["member_id"],
                    "member_id": change["member_id"],
                    "data": {"changed": ["email"], "reason": CHANGE_REASON},
                    "personal": {
                        "before": {"email": change["before"]},
                        "after": {"email": change["after"]},
                    },
                }
                for change in email_changes
            ]
            audit_trail().record_many(enterprise.pk, events, actor=actor)
            summary.written = written
            return summary
    except IntegrityError as error:  # a row changed by someone else between check and write
        raise FileRefused(
            _("The directory changed while importing; nothing was imported. Try again.")
        ) from error


# Who may import into an enterprise: who may add and change both members and departments there.
IMPORT_PERMISSIONS = (
    "directory.add_member",
    "directory.change_member",
    "directory.add_department",
    "directory.change_department",
)
