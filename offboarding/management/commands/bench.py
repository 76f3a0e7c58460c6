"""`manage.py bench`: how long the heavy paths take, and in how many queries, as a table.

Everything runs in one transaction that is rolled back at the end: the database is left as it
was. Sizes grow with `--members` and `--records` (`make bench` runs the defaults; raise them on
PostgreSQL to see a 200,000-member enterprise). Nothing here asserts a time: it is measured.

Rows:
- seeding the enterprise (members, departments, owned resources; work records);
- the admin's changelists of members and exits, as HR of the enterprise;
- handing 1,000 external contacts over (离职继承) from a removal;
- sealing one member's records, beside `crypto.seal` alone on the same records (its limit);
- the retention run of the whole enterprise under a purge policy;
- verifying the enterprise's audit chain (one event per work record added), beside HMAC-SHA256
  alone over the same canonical bytes (its limit);
- the directory import of a generated file of as many members (its preview, then its confirm)
  into a new enterprise.
"""

import hashlib
import hmac
import os
import random
import time
from contextlib import contextmanager
from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance import audit, crypto, retention, sealing
from compliance.choices import RecordCategory, RetentionAction
from compliance.demo import seed_records
from compliance.models import AuditEvent, RetentionPolicy, WorkRecord
from directory import importing
from directory.choices import MemberRole, MemberStatus, StaffRole
from directory.models import Enterprise, ExternalContact, Member
from directory.permissions import grant_access
from offboarding import inheritance, services, workflow
from offboarding.choices import ExitKind

ENTERPRISE = "基准测试企业"
CONTACTS = 1000


class Rollback(Exception):
    """Raised at the end to roll the whole benchmark back."""


class Command(BaseCommand):
    help = "Measure the heavy paths (seeding, admin lists, inheritance, sealing, retention, audit)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=2000, metavar="N")
        parser.add_argument("--records", type=int, default=5, metavar="N", help="per member")

    def handle(self, *args, members, records, **options):
        if members < 30:
            raise CommandError("--members must be at least 30 (a manager needs reports).")
        if records < 1:
            raise CommandError("--records must be at least 1.")
        if Enterprise.objects.filter(name=ENTERPRISE).exists():
            raise CommandError(f"An enterprise named {ENTERPRISE} exists already: remove it first.")
        self.rows = []
        try:
            with transaction.atomic():
                self.run(members, records)
                raise Rollback
        except Rollback:
            pass
        self.print_table(members, records)

    @contextmanager
    def measure(self, what: str, size: str, count: int | None = None):
        """Time the block; `count` items give the row a rate (items per second)."""
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            yield
            seconds = time.perf_counter() - started
        self.rows.append((what, size, seconds, len(queries), count))

    def run(self, members: int, records: int) -> None:
        with self.measure("seed the enterprise", f"{members:,} members"):
            call_command(
                "seed_demo", members=members, enterprise=ENTERPRISE, verbosity=0, stdout=StringIO()
            )
        enterprise = Enterprise.objects.get(name=ENTERPRISE)
        with self.measure("seed work records", f"{members * records:,} records"):
            seed_records(enterprise, per_member=records, rng=random.Random(1), progress=False)

        hr = self.staff(enterprise, "bench-hr", StaffRole.HR)
        compliance = self.staff(enterprise, "bench-compliance", StaffRole.COMPLIANCE)
        client = Client(SERVER_NAME="localhost")
        client.force_login(hr)
        for name, url in (
            ("admin: members list (HR)", reverse("admin:directory_member_changelist")),
            ("admin: exits list (HR)", reverse("admin:offboarding_exit_changelist")),
        ):
            with self.measure(name, f"{members:,} members"):
                response = client.get(url)
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}")

        leaver = (
            Member.objects.filter(
                enterprise=enterprise, role=MemberRole.MEMBER, status=MemberStatus.ACTIVE
            )
            .exclude(manager=None)
            .order_by("pk")
            .last()
        )
        ExternalContact.objects.bulk_create(
            ExternalContact(enterprise=enterprise, owner=leaver, name=f"客户{n}")
            for n in range(CONTACTS)
        )
        exit_case = services.open_exit(
            member=leaver,
            kind=ExitKind.PASSIVE,
            last_working_day=services.local_today(enterprise),
            actor=hr,
        )
        exit_case = workflow.remove(exit_case, actor=hr)
        owned = ExternalContact.objects.filter(owner=leaver).count()
        with self.measure("hand over (离职继承)", f"{owned:,} contacts"):
            inheritance.inherit(exit_case, actor=hr)

        sealed_member = Member.objects.filter(enterprise=enterprise).order_by("pk").first()
        WorkRecord.objects.bulk_create(
            WorkRecord(
                enterprise=enterprise,
                owner=sealed_member,
                category=RecordCategory.CHAT,
                content=f"消息 {n}",
            )
            for n in range(records * 200)
        )
        count = WorkRecord.objects.filter(owner=sealed_member).count()
        contents = list(WorkRecord.objects.filter(owner=sealed_member).values_list("pk", "content"))
        key = os.urandom(32)
        with self.measure("limit: crypto.seal alone, same records", f"{count:,} records", count):
            for pk, content in contents:
                crypto.seal(key, content, associated_data=sealing.associated_data(pk))
        with self.measure("seal one member's records", f"{count:,} records", count):
            sealing.seal_member_records(sealed_member, actor=None)

        retention.save_policy(
            RetentionPolicy(
                enterprise=enterprise,
                category=RecordCategory.EXPENSE,
                keep_days=365,
                action=RetentionAction.PURGE,
            ),
            actor=compliance,
        )
        total = WorkRecord.objects.filter(enterprise=enterprise).count()
        with self.measure("retention run (purge expenses > 1 year)", f"{total:,} records"):
            retention.enforce_retention(enterprise, today=timezone.localdate())

        # An audit trail worth verifying: one event per work record, every tenth with personal data.
        for start in range(0, members * records, 5000):
            audit.record_many(
                enterprise.pk,
                [
                    audit.Event(
                        action="bench_event",
                        object_type="member",
                        object_id=leaver.pk,
                        member_id=leaver.pk,
                        data={"n": n, "note": "基准"},
                        personal={"name": leaver.name} if n % 10 == 0 else None,
                    )
                    for n in range(start, min(start + 5000, members * records))
                ],
                actor=hr,
            )
        events = audit.verify(enterprise.pk)[0].checked
        payloads = [
            (event.key_id, event.prev_hash.encode() + audit.canonical(event))
            for event in AuditEvent.objects.filter(enterprise=enterprise).order_by("seq")
        ]
        secrets = audit._secrets()
        with self.measure("limit: HMAC-SHA256 alone, same bytes", f"{events:,} events", events):
            for key_id, payload in payloads:
                if key_id:
                    hmac.digest(secrets[key_id], payload, "sha256").hex()
                else:
                    hashlib.sha256(payload).hexdigest()
        with self.measure("verify the audit chain", f"{events:,} events", events):
            audit.verify(enterprise.pk)

        self.directory_import(members)

    def directory_import(self, members: int) -> None:
        """Import a generated directory (CSV files of departments and members) into an enterprise
        of its own: the preview (read and check), then the confirm (check and write)."""
        target = Enterprise.objects.create(name=f"{ENTERPRISE} 导入", code="bench-import")
        hr = self.staff(target, "bench-import-hr", StaffRole.HR)
        departments_csv, members_csv = directory_files(members)
        size = f"{members:,} members"
        with self.measure("directory import: preview", size):
            tables = importing.read_tables(departments_csv, "csv")
            tables += importing.read_tables(members_csv, "csv")
            summary = importing.check(target, tables)
        if summary.invalid:
            raise CommandError(f"the generated directory has errors: {summary.invalid[0]}")
        with self.measure("directory import: confirm", size):
            tables = importing.read_tables(departments_csv, "csv")
            tables += importing.read_tables(members_csv, "csv")
            importing.apply(target, tables, actor=hr)

    def staff(self, enterprise, username: str, role: StaffRole):
        user = get_user_model().objects.create_user(username=username, is_staff=True)
        grant_access(user=user, enterprise=enterprise, role=role)
        return user

    def print_table(self, members: int, records: int) -> None:
        width = max(len(row[0]) for row in self.rows)
        size_width = max(len(row[1]) for row in self.rows)
        self.stdout.write(
            f"Exitdesk benchmark on {connection.vendor} — {members:,} members, "
            f"{records} records each; rolled back afterwards.\n"
        )
        header = (
            f"{'operation':<{width}}  {'size':>{size_width}}  {'seconds':>8}  {'queries':>7}  "
            f"{'per second':>10}"
        )
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for what, size, seconds, queries, count in self.rows:
            rate = f"{count / seconds:10,.0f}" if count and seconds else ""
            self.stdout.write(
                f"{what:<{width}}  {size:>{size_width}}  {seconds:8.3f}  {queries:7d}  {rate}"
            )


def directory_files(members: int) -> tuple[bytes, bytes]:
    """A directory of `members` members as two CSV files: one department per ten members under
    ten divisions, each department's first member its head, everyone managed by their head."""
    count = max(1, members // 10)
    departments = [["code", "name", "parent_code", "head_employee_number"]]
    head_of = {}
    people = [["employee_number", "name", "department_code", "manager_employee_number", "title"]]
    for index in range(count):
        code = "HQ" if index == 0 else f"D{index}"
        parent = "" if index == 0 else ("HQ" if index <= 10 else f"D{1 + index % 10}")
        head = f"{index + 1:06d}"
        head_of[code] = head
        departments.append([code, "总部" if index == 0 else f"部门{index}", parent, head])
        people.append([head, f"负责人{index}", code, head_of.get(parent, ""), "负责人"])
    for number in range(count + 1, members + 1):
        code = "HQ" if number % count == 0 else f"D{number % count}"
        people.append([f"{number:06d}", f"员工{number}", code, head_of[code], "工程师"])

    def as_csv(rows):
        return "\n".join(",".join(row) for row in rows).encode("utf-8")

    return as_csv(departments), as_csv(people)
