"""`manage.py seed_demo --members N`: a believable Chinese enterprise for demos and benchmarks.

What it builds (all of it reproducible: every random choice comes from a seeded random.Random):

- an enterprise (default 示例科技有限公司, data region CN, Asia/Shanghai);
- a department tree 公司 → 中心 → 部门 → 小组, about one department per ten members, each with a
  head;
- members with Chinese names, employee numbers E000001…, job titles, direct managers (a member
  reports to their department's head, a head to the head of the department above), exactly one
  active super admin, one backup admin (AB角) and a few admins;
- the resources members own (D-4): external contacts and customer groups (mostly sales), app
  authorizations (R&D, IT), third-party bindings (CRM, finance and HR systems), approval templates
  (HR, finance, 行政), shared calendars (department heads) — and the spec's case: the 销售总监 who
  owns exactly 5 customer groups and a few hundred external contacts.

Running it again with the same enterprise tops it up to N members and never duplicates anything.
All of it runs in one transaction. `-v 2` prints the time of each phase.

--records N gives every member who has none yet N work records (compliance.demo.seed_records):
chat lines, files, approvals, attendance and expenses spread over about three years, in the same
transaction.

--demo-logins also ensures the logins admin, hr, it, compliance (staff, no enterprise code) and
manager@demo, employee@demo, superadmin@demo, backupadmin@demo (members: name@code) and prints them
with their passwords and where to log in.

This module is the interface only: the seeding itself is in the directory.demo package.
"""

import random
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from directory.choices import DataRegion
from directory.demo import SeedError
from directory.demo.logins import DEMO_PASSWORDS, DemoLogin, ensure_demo_logins
from directory.demo.seeder import CHANGE_REASON, Seeder
from directory.models import OWNED_RESOURCE_MODELS, Enterprise, Member, new_enterprise_code

DEFAULT_ENTERPRISE = "示例科技有限公司"
DEMO_CODE = "demo"  # the default enterprise's code, in its members' logins
MAX_MEMBERS = 1_000_000
MAX_RECORDS_PER_MEMBER = 10_000


class Command(BaseCommand):
    help = (
        "Create or top up a believable demo enterprise: departments, members, managers, admins "
        "and the resources members own. Idempotent: never duplicates, only adds what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members",
            type=int,
            required=True,
            metavar="N",
            help="how many members the enterprise should have (tops up, never removes)",
        )
        parser.add_argument(
            "--enterprise",
            default=DEFAULT_ENTERPRISE,
            metavar="NAME",
            help=f"the enterprise's name (default {DEFAULT_ENTERPRISE})",
        )
        parser.add_argument(
            "--records",
            type=int,
            default=0,
            metavar="N",
            help="work records per member, for members who have none yet (default 0)",
        )
        parser.add_argument(
            "--demo-logins",
            action="store_true",
            help=f"also ensure the logins {', '.join(DEMO_PASSWORDS)} and print them",
        )

    def handle(self, *args, members, enterprise, records, demo_logins, verbosity, **options):
        if not getattr(settings, "EXITDESK_DEMO_ALLOWED", False):
            # Demo data (invented people, logins with published passwords) never reaches a real
            # organisation's database: only the local and test settings allow it.
            raise CommandError(
                _(
                    "seed_demo writes invented people and logins with published passwords: it "
                    "runs only under the development or test settings (EXITDESK_DEMO_ALLOWED), "
                    "never under %(settings)s. A real organisation starts with "
                    "bootstrap_enterprise."
                )
                % {"settings": settings.SETTINGS_MODULE or "these settings"}
            )
        self.verbosity = verbosity
        name = (enterprise or "").strip()
        if members is None or members < 1:
            raise CommandError(f"--members must be at least 1 (got {members}).")
        if members > MAX_MEMBERS:
            raise CommandError(f"--members must be at most {MAX_MEMBERS:,} (got {members:,}).")
        if records is None or records < 0:
            raise CommandError(f"--records must be at least 0 (got {records}).")
        if records > MAX_RECORDS_PER_MEMBER:
            raise CommandError(
                f"--records must be at most {MAX_RECORDS_PER_MEMBER:,} (got {records:,})."
            )
        if not name:
            raise CommandError("--enterprise must not be empty.")
        max_length = Enterprise._meta.get_field("name").max_length
        if len(name) > max_length:
            raise CommandError(f"--enterprise must be at most {max_length} characters.")

        started = time.monotonic()
        seeder = None
        try:
            # One transaction: a failure anywhere leaves the database exactly as it was.
            with transaction.atomic():
                target, created = self.get_or_create_enterprise(name)
                existing = Member.objects.filter(enterprise=target).count()
                if existing < members:
                    # tqdm writes to the raw stream: OutputWrapper would end each redraw with "\n".
                    seeder = Seeder(target, members, progress_file=self.stderr._out)
                    seeder.run()
                records_started = time.monotonic()
                records_added = self.seed_records(target, records) if records else 0
                records_seconds = time.monotonic() - records_started
                logins_started = time.monotonic()
                logins = ensure_demo_logins(target) if demo_logins else []
                demo_exits = self.seed_exits(target) if demo_logins else []
                logins_seconds = time.monotonic() - logins_started  # password hashing, mostly
                commit_started = time.monotonic()
        except SeedError as error:
            raise CommandError(str(error)) from error
        # Reported once committed: the commit runs the deferred foreign-key checks, part of the
        # time seeding takes.
        seconds = time.monotonic() - started - logins_seconds - records_seconds
        if seeder is None:
            self.stdout.write(
                f"{target} already has {existing:,} members (asked for {members:,}): "
                "nothing to add."
            )
        else:
            seeder.timings["commit"] = time.monotonic() - commit_started
            self.report(target, created, existing, seeder, seconds)
        if records:
            self.stdout.write(
                f"  Work records added: {records_added:,} ({records:,} per member without any) "
                f"in {records_seconds:.1f} s."
            )
        if logins:
            self.print_logins(logins)
        if demo_exits:
            self.stdout.write("")
            self.stdout.write(self.style.MIGRATE_HEADING("Demo exits (what waits for whom)"))
            for line in demo_exits:
                self.stdout.write(f"  {line}")

    def seed_exits(self, enterprise: Enterprise) -> list[str]:
        # Exits through the workflow's doors, so that something waits for each demo login; the
        # higher apps build them, imported here where they are used (as for the records).
        from compliance.demo import seed_ended_hold
        from offboarding.demo import seed_exits

        return seed_exits(enterprise) + seed_ended_hold(enterprise)

    def seed_records(self, enterprise: Enterprise, per_member: int) -> int:
        # The compliance app builds its own demo data; imported here, where it is used, so the
        # directory app does not depend on it anywhere else.
        from compliance.demo import seed_records

        return seed_records(
            enterprise,
            per_member=per_member,
            rng=random.Random(f"{CHANGE_REASON}|records|{enterprise.name}"),
            progress=self.stderr._out,
        )

    def get_or_create_enterprise(self, name: str) -> tuple[Enterprise, bool]:
        # Locked, so two seeds of the same enterprise at once queue up instead of colliding.
        enterprise = Enterprise.objects.select_for_update().filter(name=name).first()
        if enterprise is not None:
            return enterprise, False
        enterprise = Enterprise(
            name=name,
            code=DEMO_CODE if name == DEFAULT_ENTERPRISE else new_enterprise_code(),
            data_region=DataRegion.CN,
            time_zone="Asia/Shanghai",
        )
        enterprise._change_reason = CHANGE_REASON  # read by simple_history's post_save
        enterprise.save()
        return enterprise, True

    def report(self, enterprise, created, existing, seeder, seconds) -> None:
        counts = seeder.created
        if created:
            action = f"Created {enterprise}"
        else:
            action = f"Topped up {enterprise} (it had {existing:,} members)"
        first, last = seeder.employee_numbers
        self.stdout.write(
            self.style.SUCCESS(
                f"{action}: added {counts['members']:,} members ({first}–{last}) "
                f"and {counts['departments']:,} departments in {seconds:.1f} s."
            )
        )
        owned = ", ".join(
            f"{counts[model.__name__]:,} {model._meta.verbose_name_plural}"
            for model in OWNED_RESOURCE_MODELS
        )
        self.stdout.write(f"  Owned resources added: {owned}.")
        total = Member.objects.filter(enterprise=enterprise).count()
        self.stdout.write(f"  {enterprise} now has {total:,} members.")
        if self.verbosity >= 2:
            for phase, phase_seconds in seeder.timings.items():
                self.stdout.write(f"  {phase}: {phase_seconds:.1f} s")

    def print_logins(self, logins: list[DemoLogin]) -> None:
        """One line per login: username, password, where to log in, who it is."""
        username_width = max(len(login.username) for login in logins)
        password_width = max(len(login.password) for login in logins)
        url_width = max(len(login.url) for login in logins)
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Demo logins"))
        for login in logins:
            self.stdout.write(
                f"  {login.username:<{username_width}}  password {login.password:<{password_width}}"
                f"  {login.url:<{url_width}}  {login.who}"
            )
        self.stdout.write(
            "  Members log in with name@code (manager@demo), or the name and the enterprise code."
        )
