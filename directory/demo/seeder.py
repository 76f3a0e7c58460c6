"""Seeder: tops an enterprise up to N members, with the departments, users and resources they need.

Speed: everything is written with bulk_create in batches, members are inserted heads first, level
by level, so every manager already has a primary key and no member row needs a second UPDATE.
Each created department, member and resource gets its "+" history row (history_user None, reason
"seed_demo") holding its final seeded state, copied by the database (write_created_history).
Passwords of seeded users are unusable (make_password(None)): hashing 20,000 real passwords would
take longer than everything else.

Idempotent: what an earlier run (or HR) created is found by name path and employee number and kept
as it is; what belongs to a particular member (the sales director's groups, say) is created only
with that member.
"""

import heapq
import random
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from tqdm import tqdm

from directory import table_stats
from directory.choices import DepartmentStatus, MemberRole, MemberStatus
from directory.models import OWNED_RESOURCE_MODELS, Department, Enterprise, Member

from . import SeedError
from .names import (
    employee_number,
    parse_employee_number,
    person_name,
    seeded_username,
    username_prefix,
)
from .plan import (
    ADMIN_DEPARTMENTS,
    BACKUP_ADMIN_DEPARTMENT,
    PlannedDepartment,
    department_count,
    plan_departments,
    staff_title,
)
from .resources import ResourcePlanner

CHANGE_REASON = "seed_demo"  # the history reason of every row the seeding creates
BATCH_SIZE = 2000


def batches(items, size=BATCH_SIZE):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def create_with_history(model, rows: list) -> None:
    """bulk_create `rows` (one batch) and write their "+" history rows."""
    model.objects.bulk_create(rows)
    write_created_history(model, rows)


_HISTORY_FIELDS = ("history_date", "history_change_reason", "history_type", "history_user")


def write_created_history(model, rows: list) -> None:
    """The "+" history rows of just-created `rows`: history_user None, reason "seed_demo".

    The same rows simple_history's bulk_history_create writes, but copied by the database from
    the rows just inserted (INSERT … SELECT … WHERE id IN …): no historical model instance per
    row, no per-value conversion in Python. That was the larger half of a 20,000-member run.
    Should a historical model ever get fields this does not know (a custom history field, say),
    simple_history writes the rows instead.
    """
    history = model.history.model
    tracked = list(history.tracked_fields)
    expected = {field.name for field in tracked} | {"history_id", *_HISTORY_FIELDS}
    if {field.name for field in history._meta.concrete_fields} != expected:
        model.history.bulk_history_create(
            rows, batch_size=BATCH_SIZE, default_change_reason=CHANGE_REASON
        )
        return
    quote = connection.ops.quote_name
    targets = [history._meta.get_field(f.name).column for f in tracked]
    targets += [history._meta.get_field(name).column for name in _HISTORY_FIELDS]
    sources = [quote(field.column) for field in tracked] + ["%s", "%s", "%s", "NULL"]
    pk = quote(model._meta.pk.column)
    now = history._meta.get_field("history_date").get_db_prep_save(timezone.now(), connection)
    # Ids per statement: as many as the database takes parameters (SQLite: 999).
    per_statement = min(BATCH_SIZE, (connection.features.max_query_params or BATCH_SIZE) - 3)
    with connection.cursor() as cursor:
        for ids in batches([row.pk for row in rows], per_statement):
            cursor.execute(
                f"INSERT INTO {quote(history._meta.db_table)} ({', '.join(map(quote, targets))}) "
                f"SELECT {', '.join(sources)} FROM {quote(model._meta.db_table)} "
                f"WHERE {pk} IN ({', '.join(['%s'] * len(ids))}) ORDER BY {pk}",
                [now, CHANGE_REASON, "+", *ids],
            )


@dataclass(eq=False)
class NewMember:
    """A member to create; `member` is its row once inserted."""

    seq: int
    surname: str
    given_name: str
    home: PlannedDepartment  # primary department
    title: str
    heads: PlannedDepartment | None = None
    role: str = MemberRole.MEMBER
    is_backup_admin: bool = False
    user: object | None = None
    member: Member | None = None

    @property
    def name(self) -> str:
        return self.surname + self.given_name

    @property
    def employee_number(self) -> str:
        return employee_number(self.seq)


class Seeder:
    """Tops `enterprise` up to `target` members. One instance per run; call run() once."""

    def __init__(self, enterprise: Enterprise, target: int, progress_file):
        self.enterprise = enterprise
        self.target = target
        self.progress_file = progress_file
        self.timings: dict[str, float] = {}  # seconds per phase
        self.existing_members = Member.objects.filter(enterprise=enterprise).count()
        self.missing = target - self.existing_members
        # Same command, same database state → same names, titles and resources.
        self.rng = random.Random(f"{CHANGE_REASON}|{enterprise.name}|{self.existing_members}")
        self.created: Counter[str] = Counter()
        self.employee_numbers: tuple[str, str] | None = None  # first and last one added

    def run(self) -> None:
        self.plan = plan_departments(self.enterprise.name, department_count(self.target))
        self.by_key = {planned.key: planned for planned in self.plan}
        self.match_existing_departments()
        self.create_departments()
        self.load_existing_heads()
        new_members = self.plan_members()
        self.create_users(new_members)
        self.create_members(new_members)
        self.set_department_heads()
        self.create_resources(new_members)
        # What was filled, for the planner (once committed): a seeded enterprise is read at once.
        table_stats.analyze(Department, get_user_model(), Member, *OWNED_RESOURCE_MODELS)

    @contextmanager
    def phase(self, description: str, total: int):
        """A progress bar for one phase (on a terminal; silent in a pipe, a log or a test)."""
        started = time.monotonic()
        with tqdm(
            total=total, desc=description, unit=" rows", file=self.progress_file, disable=None
        ) as bar:
            yield bar
        self.timings[description] = time.monotonic() - started

    # -- departments ------------------------------------------------------------------------

    def match_existing_departments(self) -> None:
        """Find the planned departments an earlier run (or HR) already created, by name path."""
        rows = Department.objects.filter(enterprise=self.enterprise).only(
            "id", "parent_id", "name", "head_id", "status"
        )
        by_id = {row.pk: row for row in rows}
        keys: dict[int, tuple[str, ...] | None] = {}

        def key_of(row):
            if row.pk not in keys:
                keys[row.pk] = None  # guards against a (corrupt) cycle
                if row.parent_id is None:
                    key = () if row.name == self.enterprise.name else None
                else:
                    parent = by_id.get(row.parent_id)
                    parent_key = key_of(parent) if parent else None
                    key = None if parent_key is None else (*parent_key, row.name)
                keys[row.pk] = key
            return keys[row.pk]

        for row in by_id.values():
            planned = self.by_key.get(key_of(row))
            if planned is not None and planned.department is None:
                planned.department = row

    def create_departments(self) -> None:
        """Create the missing planned departments, level by level so every parent has its id.

        A department needs a head, and heads come from the new members, so never plan more new
        departments than there are new members (only matters for an enterprise HR filled by hand).
        """
        missing = [planned for planned in self.plan if planned.department is None]
        missing = missing[: self.missing]
        chosen = set(map(id, missing))
        self.plan = [p for p in self.plan if p.department is not None or id(p) in chosen]
        self.by_key = {planned.key: planned for planned in self.plan}
        with self.phase("departments", len(missing)) as bar:
            for depth in sorted({planned.depth for planned in missing}):
                level = [planned for planned in missing if planned.depth == depth]
                rows = []
                for planned in level:
                    parent = self.by_key[planned.parent_key] if planned.key else None
                    rows.append(
                        Department(
                            enterprise=self.enterprise,
                            parent=parent.department if parent else None,
                            name=planned.name,
                        )
                    )
                for batch in batches(rows):
                    Department.objects.bulk_create(batch)
                    bar.update(len(batch))
                for planned, row in zip(level, rows, strict=True):
                    planned.department = row
                    planned.is_new = True
        self.created["departments"] = len(missing)

    def load_existing_heads(self) -> None:
        """Which existing departments have an active head: the managers of new members."""
        active = set(
            Department.objects.filter(
                enterprise=self.enterprise, head__status=MemberStatus.ACTIVE
            ).values_list("head_id", flat=True)
        )
        self.head_ids = {
            planned.key: planned.department.head_id
            for planned in self.plan
            if planned.department.head_id in active
        }

    def manager_id_for(self, planned: PlannedDepartment | None) -> int | None:
        """The nearest head at or above `planned` (a department may have lost its head)."""
        while planned is not None:
            head_id = self.head_ids.get(planned.key)
            if head_id is not None:
                return head_id
            planned = self.by_key.get(planned.parent_key) if planned.key else None
        return None

    # -- members ----------------------------------------------------------------------------

    def plan_members(self) -> list[NewMember]:
        """Decide who the new members are: first one head per new department, then the rest
        spread over the active planned departments, each filled in proportion to its capacity."""
        seq = self.next_employee_seq()
        has_super_admin = Member.objects.filter(enterprise=self.enterprise).super_admins().exists()
        has_backup_admin = Member.objects.filter(
            enterprise=self.enterprise, is_backup_admin=True, status=MemberStatus.ACTIVE
        ).exists()
        new_members = []
        for planned in self.plan:
            if not planned.is_new:
                continue
            member = self.new_member(seq, planned, title=planned.head_title())
            member.heads = planned
            if planned.depth == 0 and not has_super_admin:
                member.role = MemberRole.SUPER_ADMIN
                has_super_admin = True
            elif planned.name in ADMIN_DEPARTMENTS and planned.depth in (1, 2):
                member.role = MemberRole.ADMIN
            if planned.name == BACKUP_ADMIN_DEPARTMENT and not has_backup_admin:
                member.is_backup_admin = True
                has_backup_admin = True
            new_members.append(member)
            seq += 1

        counts = Counter(
            dict(
                Member.objects.filter(enterprise=self.enterprise)
                .order_by()
                .values_list("department_id")
                .annotate(n=Count("id"))
                .values_list("department_id", "n")
            )
        )
        heap = []
        for planned in self.plan:
            if planned.department.status != DepartmentStatus.ACTIVE:
                continue  # no one joins a department that is being dissolved
            count = counts[planned.department.pk] + (1 if planned.is_new else 0)
            heap.append((count / planned.capacity(), planned.index, count, planned))
        if not heap:
            raise SeedError(f"{self.enterprise} has no active department to put members in.")
        heapq.heapify(heap)
        for _ in range(self.missing - len(new_members)):
            _, index, count, planned = heapq.heappop(heap)
            new_members.append(self.new_member(seq, planned, title=staff_title(self.rng, planned)))
            seq += 1
            count += 1
            heapq.heappush(heap, (count / planned.capacity(), index, count, planned))
        self.employee_numbers = (new_members[0].employee_number, new_members[-1].employee_number)
        return new_members

    def next_employee_seq(self) -> int:
        numbers = Member.objects.filter(enterprise=self.enterprise).values_list(
            "employee_number", flat=True
        )
        parsed = [n for n in map(parse_employee_number, numbers) if n is not None]
        return max(parsed, default=0) + 1

    def new_member(self, seq: int, planned: PlannedDepartment, title: str) -> NewMember:
        surname, given = person_name(self.rng)
        return NewMember(seq=seq, surname=surname, given_name=given, home=planned, title=title)

    def create_users(self, new_members: list[NewMember]) -> None:
        """One Django user per member, with an unusable password (demo logins get real ones)."""
        User = get_user_model()
        prefix = username_prefix(self.enterprise.name)
        usernames = [seeded_username(self.enterprise.name, m.employee_number) for m in new_members]
        taken = set(usernames) & set(
            User.objects.filter(username__startswith=f"{prefix}-").values_list(
                "username", flat=True
            )
        )
        if taken:
            raise SeedError(
                f"{len(taken)} usernames this run needs already exist (e.g. {min(taken)}), "
                "left over from deleted members? Rename or delete those users first."
            )
        users = [
            User(
                username=username,
                password=make_password(None),
                # Django joins first and last name Western-style ("翔建 姜"); a Chinese full name
                # is written surname first, so it is kept whole in first_name.
                first_name=m.surname + m.given_name,
                email=f"{username}@example.com",
            )
            for m, username in zip(new_members, usernames, strict=True)
        ]
        with self.phase("users", len(users)) as bar:
            for batch in batches(users):
                User.objects.bulk_create(batch)
                bar.update(len(batch))
        for new, user in zip(new_members, users, strict=True):
            new.user = user

    def create_members(self, new_members: list[NewMember]) -> None:
        """Insert heads level by level (root first), then everyone else.

        Each head's manager is the head above, already inserted; each member's manager is the
        head of their department. So every row is final when inserted and its "+" history row
        (written in the same call) holds the final state.
        """
        heads = [m for m in new_members if m.heads is not None]
        staff = [m for m in new_members if m.heads is None]
        with self.phase("members", len(new_members)) as bar:
            for depth in sorted({m.heads.depth for m in heads}):
                level = [m for m in heads if m.heads.depth == depth]
                self.insert_members(level, self.manager_id_of_head, bar)
                for m in level:
                    self.head_ids[m.heads.key] = m.member.pk
            self.insert_members(staff, lambda m: self.manager_id_for(m.home), bar)
        self.created["members"] = len(new_members)

    def manager_id_of_head(self, new: NewMember) -> int | None:
        parent = self.by_key.get(new.heads.parent_key)
        return self.manager_id_for(parent)

    def insert_members(self, new_members: list[NewMember], manager_id_of, bar) -> None:
        for batch in batches(new_members):
            rows = [
                Member(
                    enterprise=self.enterprise,
                    user=m.user,
                    name=m.name,
                    employee_number=m.employee_number,
                    title=m.title,
                    department=m.home.department,
                    manager_id=manager_id_of(m),
                    role=m.role,
                    is_backup_admin=m.is_backup_admin,
                    data_region=m.home.region,
                )
                for m in batch
            ]
            create_with_history(Member, rows)
            for m, row in zip(batch, rows, strict=True):
                m.member = row
            bar.update(len(batch))

    def set_department_heads(self) -> None:
        """Point each new department at its head, then write the departments' "+" history."""
        new_departments = []
        for planned in self.plan:
            if planned.is_new:
                planned.department.head_id = self.head_ids[planned.key]
                new_departments.append(planned.department)
        with self.phase("department heads", len(new_departments)) as bar:
            for batch in batches(new_departments, 500):
                Department.objects.bulk_update(batch, ["head"])
                bar.update(len(batch))
            write_created_history(Department, new_departments)

    # -- owned resources (D-4) --------------------------------------------------------------

    def create_resources(self, new_members: list[NewMember]) -> None:
        planner = ResourcePlanner(
            self.rng, enterprise_id=self.enterprise.pk, enterprise_size=self.target
        )
        rows: dict[type, list] = {model: [] for model in OWNED_RESOURCE_MODELS}
        with self.phase("planning resources", len(new_members)) as bar:
            for new in new_members:
                for row in planner.resources_of(new):
                    rows[type(row)].append(row)
                bar.update()
        total = sum(len(r) for r in rows.values())
        with self.phase("owned resources", total) as bar:
            for model, model_rows in rows.items():
                for batch in batches(model_rows):
                    create_with_history(model, batch)
                    bar.update(len(batch))
                self.created[model.__name__] = len(model_rows)
