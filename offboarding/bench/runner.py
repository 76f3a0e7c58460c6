"""The benchmark itself: seed, then measure each row of the table beside its limit or peer.

Order matters once: the retention run is first measured on the freshly loaded table (right
after seeding, before any ANALYZE; autovacuum is kept off that table until then on PostgreSQL),
then everything is analyzed and measured in the order of the table.
"""

import hashlib
import hmac
import inspect
import math
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from tqdm import tqdm

from compliance import audit, crypto, retention, sealing
from compliance.choices import RecordCategory, RetentionAction
from compliance.models import AuditEvent, RetentionPolicy, WorkRecord
from directory import importing
from directory.choices import MemberRole, MemberStatus, StaffRole
from directory.models import Enterprise, ExternalContact, Member
from directory.permissions import grant_access
from offboarding import inheritance, rules, services, workflow
from offboarding.choices import ExitKind, ExitState
from offboarding.models import ChecklistItem, Exit, InheritanceItem

from . import doors, seeding
from .table import Limit, Row, median, percentile

ENTERPRISE = "基准测试企业"
REFERENCE_ENTERPRISES = ("基准测试企业乙", "基准测试企业丙", "基准测试企业丁")
PROCESSES = (1, 4, 16)
SIGNABLE_PER_EXIT = 5  # the default checklist's items a person signs (the others are automatic)
HANDED_OVER = 1000  # external contacts of the member whose resources are handed over
ADMIN_GOAL_MS = 100
MEMBER_SEARCH = "王"
CONTACT_SEARCH = "华辰"


@dataclass
class Sizes:
    members: int
    contacts: int  # per member
    records: int  # per member
    events: int  # audit events added (total)
    member_records: int  # the records of the member whose exit closes
    signoffs: int  # per process
    runs: int

    @property
    def exits_per_process(self) -> int:
        return max(1, math.ceil(self.signoffs / SIGNABLE_PER_EXIT))


SCALES = {
    "S": Sizes(
        members=2_000,
        contacts=20,
        records=100,
        events=110_000,
        member_records=20_000,
        signoffs=100,
        runs=3,
    ),
    "M": Sizes(
        members=20_000,
        contacts=20,
        records=100,
        events=220_000,
        member_records=20_000,
        signoffs=100,
        runs=3,
    ),
}


class Bench:
    def __init__(self, sizes: Sizes, *, progress_file, log: Callable[[str], None]):
        self.sizes = sizes
        self.runs = sizes.runs
        self.progress_file = progress_file
        self.log = log
        self.rows: list[Row] = []
        self.postgresql = connection.vendor == "postgresql"

    # -- timing -------------------------------------------------------------------------------

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        self.log(f"measured: {row.what}")
        return row

    def timed(self, action, *, prepare=None, runs=None) -> list[float]:
        """Seconds of each of `runs` runs of `action`, `prepare` before each (not timed)."""
        seconds = []
        for _ in range(runs or self.runs):
            if prepare is not None:
                prepare()
            started = time.perf_counter()
            action()
            seconds.append(time.perf_counter() - started)
        return seconds

    def rate(self, count: int, seconds: list[float]) -> float:
        return count / median(seconds)

    @contextmanager
    def bar(self, total: int):
        interactive = hasattr(self.progress_file, "isatty") and self.progress_file.isatty()
        with tqdm(
            total=total,
            desc="seeding",
            unit=" rows",
            unit_scale=True,
            file=self.progress_file,
            disable=self.progress_file is None,
            mininterval=0.2 if interactive else 5,
            dynamic_ncols=True,
        ) as bar:
            yield bar

    # -- seeding ------------------------------------------------------------------------------

    def seed(self) -> None:
        sizes = self.sizes
        exits = PROCESSES[-1] * sizes.exits_per_process
        approvals = min(100, sizes.members // 5)
        total = (
            sizes.members
            + sizes.members * (sizes.contacts + sizes.records)
            + sizes.member_records
            + sizes.events
            + exits
            + approvals
        )
        if self.postgresql:
            with connection.cursor() as cursor:
                # Freshly loaded means never analyzed: no autovacuum on the table until measured.
                cursor.execute(
                    f"ALTER TABLE {WorkRecord._meta.db_table} SET (autovacuum_enabled = false)"
                )
        with self.bar(total) as bar:
            bar.set_description("seeding members")
            started = time.perf_counter()
            self.enterprise = seeding.seed_members(ENTERPRISE, sizes.members)
            self.seed_row("seed: members, departments, owned resources", sizes.members, started)
            bar.update(sizes.members)

            bar.set_description("seeding external contacts")
            started = time.perf_counter()
            contacts = seeding.add_contacts(
                self.enterprise, total=sizes.members * sizes.contacts, bar=bar
            )
            self.seed_row("seed: external contacts (set-based SQL)", contacts, started)

            bar.set_description("seeding work records")
            started = time.perf_counter()
            records = seeding.add_records(self.enterprise, per_member=sizes.records, bar=bar)
            self.seed_row("seed: work records (set-based SQL)", records, started)

            self.hr = self.staff(self.enterprise, "bench-hr", StaffRole.HR)
            self.it = self.staff(self.enterprise, "bench-it", StaffRole.IT)
            self.compliance = self.staff(self.enterprise, "bench-compliance", StaffRole.COMPLIANCE)
            self.plain = list(
                Member.objects.filter(
                    enterprise=self.enterprise,
                    role=MemberRole.MEMBER,
                    status=MemberStatus.ACTIVE,
                    is_backup_admin=False,
                )
                .exclude(manager=None)
                .exclude(pk__in=Member.objects.filter(headed_departments__isnull=False))
                .select_related("enterprise", "user", "manager__user")
                .order_by("-pk")
            )
            self.heavy = self.plain.pop()
            bar.set_description("seeding one member's records")
            seeding.add_member_records(self.heavy, sizes.member_records, bar=bar)

            bar.set_description("seeding audit events")
            started = time.perf_counter()
            events = seeding.add_audit_events(
                self.enterprise, count=sizes.events, member=self.heavy, actor=self.hr, bar=bar
            )
            self.seed_row("seed: audit events (audit.record_many)", events, started)

            bar.set_description("opening exits")
            started = time.perf_counter()
            self.door_exits = self.open_exits(self.enterprise, self.plain, exits, bar=bar)
            self.seed_row("seed: exits opened (services.open_exit)", exits, started)
            bar.set_description("approvals")
            self.seed_approvals(approvals, bar=bar)
            bar.set_description("seeded")

    def seed_row(self, what: str, count: int, started: float) -> None:
        seconds = time.perf_counter() - started
        self.add(
            Row(
                key=f"seed.{what.split(':')[1].split('(')[0].strip().replace(' ', '_')}",
                what=what,
                size=f"{count:,} rows",
                value=count / seconds if seconds else None,
                unit="rows/s",
                runs=1,
                note=f"{seconds:.1f} s",
            )
        )

    def staff(self, enterprise, username: str, role: StaffRole):
        user = get_user_model().objects.create_user(username=username, is_staff=True)
        grant_access(user=user, enterprise=enterprise, role=role)
        return user

    def open_exits(self, enterprise, members: list, count: int, bar=None) -> list[Exit]:
        """`count` passive exits opened by HR (drafts: their checklists can be signed)."""
        hr = get_user_model().objects.get(username=self.hr_username(enterprise))
        today = services.local_today(enterprise)
        opened = []
        for _ in range(count):
            member = members.pop()
            opened.append(
                services.open_exit(
                    member=member, kind=ExitKind.PASSIVE, last_working_day=today, actor=hr
                )
            )
            if bar is not None:
                bar.update(1)
        return opened

    def hr_username(self, enterprise) -> str:
        return "bench-hr" if enterprise.pk == self.enterprise.pk else f"bench-hr-{enterprise.pk}"

    def seed_approvals(self, count: int, bar=None) -> None:
        """Voluntary exits asked for by members and approved by their managers: each waits for
        HR's step (HR's /approvals/ lists them). The last one waits for its manager (the
        manager's page, the peer)."""
        today = services.local_today(self.enterprise)
        self.waiting_manager = None
        for index in range(count):
            member = self.plain.pop()
            exit_case = services.open_exit(
                member=member,
                kind=ExitKind.VOLUNTARY,
                last_working_day=today + timedelta(days=30),
                reason="个人发展",
                actor=member.user,
            )
            exit_case = workflow.submit(exit_case, actor=member.user)
            if index == count - 1:
                self.waiting_manager = member.manager.user
            else:
                while exit_case.state == ExitState.PENDING_APPROVAL:
                    step = rules.current_approval(exit_case)
                    if step.assignee is None or step.assignee.status != MemberStatus.ACTIVE:
                        break
                    exit_case = workflow.approve(exit_case, actor=step.assignee.user)
            if bar is not None:
                bar.update(1)

    def analyze(self) -> None:
        with connection.cursor() as cursor:
            if self.postgresql:
                cursor.execute(
                    f"ALTER TABLE {WorkRecord._meta.db_table} RESET (autovacuum_enabled)"
                )
            cursor.execute("ANALYZE")

    # -- sign-offs ----------------------------------------------------------------------------

    def signers(self, exits: list[Exit], processes: int) -> list[doors.Signer]:
        """Each process's items: `signoffs` of its own exits, up to 4 processes; beyond, the
        same total shared out (16 processes sign a quarter each), so that a run stays short."""
        per = self.sizes.exits_per_process
        count = max(SIGNABLE_PER_EXIT, self.sizes.signoffs * min(4, processes) // processes)
        signers = []
        for index in range(processes):
            mine = [exit_case.pk for exit_case in exits[index * per : (index + 1) * per]]
            item_ids = list(
                ChecklistItem.objects.filter(exit_case_id__in=mine, auto_check="")
                .order_by("exit_case_id", "position")
                .values_list("pk", flat=True)[:count]
            )
            enterprise = exits[0].enterprise
            signers.append(
                doors.Signer(
                    item_ids=item_ids,
                    hr_id=self.signer_user(enterprise, "hr", index, StaffRole.HR).pk,
                    it_id=self.signer_user(enterprise, "it", index, StaffRole.IT).pk,
                )
            )
        return signers

    def signer_user(self, enterprise, team: str, index: int, role):
        User = get_user_model()
        username = f"bench-{team}-{enterprise.pk}-{index}"
        user = User.objects.filter(username=username).first()
        return user or self.staff(enterprise, username, role)

    def sign_offs(self, signers: list[doors.Signer]) -> tuple[float, float, int]:
        """Median throughput (sign-offs per second) and p95 latency (ms) over the runs."""
        throughputs, p95s = [], []
        every = [pk for signer in signers for pk in signer.item_ids]
        for _ in range(self.runs):
            doors.reset_items(every)
            signed, wall = doors.sign_in_processes(signers)
            latencies = [latency for result in signed for latency in result.latencies]
            throughputs.append(len(latencies) / wall)
            p95s.append(percentile(latencies, 0.95) * 1000)
        doors.reset_items(every)
        return median(throughputs), median(p95s), len(every)

    def measure_sign_offs(self) -> None:
        if not self.postgresql:
            for processes in PROCESSES:
                self.add(
                    Row(
                        key=f"signoffs.{processes}_processes_one_enterprise",
                        what=signoffs_what(processes),
                        unavailable="PostgreSQL only",
                    )
                )
            self.add(
                Row(
                    key="signoffs.4_processes_4_enterprises",
                    what="sign-offs, 4 processes over 4 enterprises (reference)",
                    unavailable="PostgreSQL only",
                )
            )
            return
        # The reference: 4 processes, each in an enterprise of its own.
        per = self.sizes.exits_per_process
        reference_exits = [self.door_exits[:per]]
        for name in REFERENCE_ENTERPRISES:
            enterprise = seeding.seed_members(name, max(30, 2 * per + 10))
            self.staff(enterprise, self.hr_username(enterprise), StaffRole.HR)
            members = list(
                Member.objects.filter(
                    enterprise=enterprise, role=MemberRole.MEMBER, status=MemberStatus.ACTIVE
                )
                .exclude(manager=None)
                .select_related("enterprise")
                .order_by("pk")
            )
            reference_exits.append(self.open_exits(enterprise, members, per))
        spread = [self.signers(exits, 1)[0] for exits in reference_exits]
        reference, reference_p95, reference_count = self.sign_offs(spread)

        figures = {}
        for processes in PROCESSES:
            throughput, p95, count = self.sign_offs(self.signers(self.door_exits, processes))
            figures[processes] = throughput
            row = Row(
                key=f"signoffs.{processes}_processes_one_enterprise",
                what=signoffs_what(processes),
                size=f"{count:,} sign-offs",
                value=throughput,
                unit="/s",
                runs=self.runs,
                note=f"p95 {p95:,.0f} ms",
            )
            if processes > 1:
                row.limits.append(Limit("4 processes over 4 enterprises", reference))
            if processes == 4:
                row.limits.append(Limit("1 process", figures[1]))
                row.goal = f"≥ 1.8× of 1 process (≥ {1.8 * figures[1]:,.0f}/s)"
                row.met = throughput >= 1.8 * figures[1]
            self.add(row)
        self.add(
            Row(
                key="signoffs.4_processes_4_enterprises",
                what="sign-offs, 4 processes over 4 enterprises (reference)",
                size=f"{reference_count:,} sign-offs",
                value=reference,
                unit="/s",
                runs=self.runs,
                note=f"p95 {reference_p95:,.0f} ms",
                limits=[Limit("1 process", figures[1])],
            )
        )

    # -- retention ----------------------------------------------------------------------------

    def set_retention_policy(self) -> None:
        retention.save_policy(
            RetentionPolicy(
                enterprise=self.enterprise,
                category=RecordCategory.EXPENSE,
                keep_days=365,
                action=RetentionAction.PURGE,
            ),
            actor=self.compliance,
        )

    def retention_run(self) -> int:
        result = retention.enforce_retention(self.enterprise)
        return sum(result["purged"].values())

    def refill_purged(self) -> None:
        """The records the retention run purged, built again (the same rows)."""
        seeding.add_records(self.enterprise, per_member=self.sizes.records, purgeable_only=True)

    def hand_written_purge(self) -> int:
        """The retention run's work as one statement: the same rows (expenses past the cutoff,
        not restricted, nobody held), one DELETE … WHERE."""
        today = services.local_today(self.enterprise)
        rule = retention.effective_rules(
            RetentionPolicy.objects.filter(enterprise=self.enterprise)
        )[RecordCategory.EXPENSE]
        cutoff = rule.cutoff(self.enterprise, today)
        table = connection.ops.quote_name(WorkRecord._meta.db_table)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE enterprise_id = %s AND category = %s "
                "AND created_at < %s AND restricted_at IS NULL",
                [
                    self.enterprise.pk,
                    RecordCategory.EXPENSE,
                    connection.ops.adapt_datetimefield_value(cutoff),
                ],
            )
            return cursor.rowcount

    def measure_retention_fresh(self) -> None:
        total = WorkRecord.objects.filter(enterprise=self.enterprise).count()
        started = time.perf_counter()
        purged = self.retention_run()
        self.fresh_seconds = time.perf_counter() - started
        self.fresh_purged = purged
        self.total_records = total

    def measure_retention(self) -> None:
        purged = []

        def run():
            purged.append(self.retention_run())

        seconds = self.timed(run, prepare=self.refill_purged)
        deleted = []
        limit_seconds = self.timed(
            lambda: deleted.append(self.hand_written_purge()), prepare=self.refill_purged
        )
        size = f"{self.total_records:,} records"
        self.add(
            Row(
                key="retention.fresh",
                what="retention run, freshly loaded table (before ANALYZE)",
                size=size,
                value=self.fresh_seconds * 1000,
                unit="ms",
                runs=1,
                note=f"{self.fresh_purged:,} purged",
                limits=[
                    Limit("one DELETE … WHERE, same rows", median(limit_seconds) * 1000),
                    Limit("the run after ANALYZE", median(seconds) * 1000),
                ],
            )
        )
        self.add(
            Row(
                key="retention.analyzed",
                what="retention run, after ANALYZE",
                size=size,
                value=median(seconds) * 1000,
                unit="ms",
                runs=self.runs,
                note=f"{median(purged):,.0f} purged",
                limits=[
                    Limit(
                        "one DELETE … WHERE, same rows",
                        median(limit_seconds) * 1000,
                        note=f"{median(deleted):,.0f} deleted",
                    )
                ],
            )
        )

    def measure_door_during_retention(self) -> None:
        if not self.postgresql:
            self.add(
                Row(
                    key="door.during_retention",
                    what="a door while the retention run works (same enterprise)",
                    unavailable="PostgreSQL only",
                )
            )
            return
        signer = self.signers(self.door_exits, 1)[0]
        p50s, maxima, alone_p50s, alone_maxima = [], [], [], []
        for _ in range(self.runs):
            self.refill_purged()
            doors.reset_items(signer.item_ids)
            _purged, seconds, latencies = doors.door_during(signer, self.retention_run)
            p50s.append(percentile(latencies, 0.5) * 1000)
            maxima.append(max(latencies, default=0) * 1000)
            doors.reset_items(signer.item_ids)
            alone = doors.paced_alone(signer, min(seconds, 5))
            alone_p50s.append(percentile(alone, 0.5) * 1000)
            alone_maxima.append(max(alone, default=0) * 1000)
        doors.reset_items(signer.item_ids)
        self.add(
            Row(
                key="door.during_retention.p50",
                what="a door while the retention run works, p50",
                size="same enterprise",
                value=median(p50s),
                unit="ms",
                runs=self.runs,
                limits=[Limit("the same door without it", median(alone_p50s))],
            )
        )
        self.add(
            Row(
                key="door.during_retention.max",
                what="a door while the retention run works, max",
                size="same enterprise",
                value=median(maxima),
                unit="ms",
                runs=self.runs,
                limits=[Limit("the same door without it", median(alone_maxima))],
            )
        )

    # -- sealing, verification, closing ---------------------------------------------------------

    def measure_sealing(self) -> None:
        member = self.heavy
        count = WorkRecord.objects.filter(owner=member).count()
        seconds = self.timed(
            lambda: sealing.seal_member_records(member, actor=None),
            prepare=lambda: seeding.unseal_member_records(member),
        )
        seeding.unseal_member_records(member)
        contents = list(WorkRecord.objects.filter(owner=member).values_list("pk", "content"))
        key = crypto.data_key(member.pk)

        def seal_alone():
            for pk, content in contents:
                crypto.seal(key, content, associated_data=sealing.associated_data(pk))

        def aes_gcm():
            aes, urandom = AESGCM(key), os.urandom
            for pk, content in contents:
                nonce = urandom(12)
                aes.encrypt(nonce, content.encode(), sealing.associated_data(pk))

        seal_seconds = self.timed(seal_alone)
        aes_seconds = self.timed(aes_gcm)
        rate, limit = self.rate(count, seconds), self.rate(count, seal_seconds)
        self.add(
            Row(
                key="sealing",
                what="seal a member's records",
                size=f"{count:,} records",
                value=rate,
                unit="records/s",
                runs=self.runs,
                limits=[
                    Limit("crypto.seal alone", limit),
                    Limit("AES-GCM, one reused AESGCM object", self.rate(count, aes_seconds)),
                ],
                goal="≥ 20 % of crypto.seal",
                met=rate >= 0.2 * limit,
            )
        )

    def measure_verify(self) -> None:
        """`audit.verify` of the enterprise's chain as `verify_audit` runs it (with one process
        per core where `verify` takes `jobs`), and in one process, beside SHA-256 and
        HMAC-SHA256 of the same canonical bytes in one process."""
        pk = self.enterprise.pk
        jobs = os.cpu_count() or 1
        takes_jobs = "jobs" in inspect.signature(audit.verify).parameters
        checked = []
        one = self.timed(lambda: checked.append(self.verify(pk, 1, takes_jobs)))
        parallel = (
            self.timed(lambda: checked.append(self.verify(pk, jobs, takes_jobs)))
            if takes_jobs and jobs > 1
            else None
        )
        for check in checked:
            if not check.whole:
                raise RuntimeError(f"the audit chain does not verify: {check.reason}")
        # The bytes each event's hash is taken of: its previous hash + `canonical`'s bytes.
        rows = (
            AuditEvent.objects.filter(enterprise_id=pk)
            .order_by("seq")
            .values_list(*audit.VERIFY_COLUMNS)
            .iterator(chunk_size=5000)
        )
        payloads = [
            (columns[13], columns[12].encode() + audit.canonical_row(*columns)) for columns in rows
        ]
        secrets = audit._secrets()
        plain = [payload for _key_id, payload in payloads]

        def sha256():
            digest = hashlib.sha256
            for payload in plain:
                digest(payload).hexdigest()

        def hmac_sha256():
            digest = hmac.digest
            for key_id, payload in payloads:
                digest(secrets[key_id or next(iter(secrets))], payload, "sha256").hex()

        events = checked[-1].checked
        sha_rate = self.rate(len(plain), self.timed(sha256))
        limits = [
            Limit("SHA-256 of the same canonical bytes, 1 process", sha_rate),
            Limit(
                "HMAC-SHA256 of the same bytes (the chain's hash), 1 process",
                self.rate(len(payloads), self.timed(hmac_sha256)),
            ),
        ]
        rows = [("verify_audit.one_process", "verify_audit, 1 process", one)]
        if parallel is not None:
            rows.insert(0, ("verify_audit", f"verify_audit, --jobs {jobs} (its default)", parallel))
        else:
            rows[0] = ("verify_audit", "verify_audit (one process: no --jobs here)", one)
        for index, (key, what, seconds) in enumerate(rows):
            rate = self.rate(events, seconds)
            self.add(
                Row(
                    key=key,
                    what=what,
                    size=f"{events:,} events",
                    value=rate,
                    unit="events/s",
                    runs=self.runs,
                    limits=list(limits),
                    goal="≥ 25 % of SHA-256" if index == 0 else "",
                    met=rate >= 0.25 * sha_rate if index == 0 else None,
                )
            )

    def verify(self, enterprise_id: int, jobs: int, takes_jobs: bool):
        if takes_jobs:
            return audit.verify(enterprise_id, jobs=jobs)[0]
        return audit.verify(enterprise_id)[0]

    def prepare_close(self) -> Exit:
        """The heavy member's exit, completed and past its undo window, records unsealed."""
        if not hasattr(self, "heavy_exit"):
            self.heavy_exit = services.open_exit(
                member=self.heavy,
                kind=ExitKind.PASSIVE,
                last_working_day=services.local_today(self.enterprise),
                actor=self.hr,
            )
        now = timezone.now()
        Exit.objects.filter(pk=self.heavy_exit.pk).update(
            state=ExitState.COMPLETED,
            completed_at=now - timedelta(days=2),
            undo_deadline=now - timedelta(days=1),
            closed_at=None,
            before_completion={
                "member": {"status": "active", "role": "member", "is_backup_admin": False},
                "user": {"is_active": True},
            },
        )
        seeding.unseal_member_records(self.heavy)
        return Exit.objects.get(pk=self.heavy_exit.pk)

    def close(self) -> None:
        workflow.close(self.prepare_close(), actor=self.hr)

    def measure_close(self) -> None:
        count = WorkRecord.objects.filter(owner=self.heavy).count()
        size = f"{count:,} records"
        if not self.postgresql:
            seconds = self.timed(self.close)
            self.add(
                Row(
                    key="close",
                    what="close an exit (seals the member's records)",
                    size=size,
                    value=median(seconds) * 1000,
                    unit="ms",
                    runs=self.runs,
                )
            )
            self.add(
                Row(
                    key="close.door_waits",
                    what="another door of the enterprise during the close, max",
                    unavailable="PostgreSQL only",
                )
            )
            return
        signer = self.signers(self.door_exits, 1)[0]
        closes, maxima, alone_maxima = [], [], []
        for _ in range(self.runs):
            self.prepare_close()
            doors.reset_items(signer.item_ids)
            _answer, seconds, latencies = doors.door_during(
                signer,
                lambda: workflow.close(Exit.objects.get(pk=self.heavy_exit.pk), actor=self.hr),
            )
            closes.append(seconds * 1000)
            maxima.append(max(latencies, default=0) * 1000)
            doors.reset_items(signer.item_ids)
            alone = doors.paced_alone(signer, min(seconds, 5))
            alone_maxima.append(max(alone, default=0) * 1000)
        doors.reset_items(signer.item_ids)
        self.add(
            Row(
                key="close",
                what="close an exit (seals the member's records)",
                size=size,
                value=median(closes),
                unit="ms",
                runs=self.runs,
            )
        )
        self.add(
            Row(
                key="close.door_waits",
                what="another door of the enterprise during the close, max",
                size="same enterprise",
                value=median(maxima),
                unit="ms",
                runs=self.runs,
                limits=[Limit("the same door without it", median(alone_maxima))],
                goal="no door waits (≤ 2× without)",
                met=median(maxima) <= 2 * median(alone_maxima),
            )
        )

    # -- pages --------------------------------------------------------------------------------

    def page(self, key: str, what: str, client: Client, url: str, size: str, *, goal=True):
        connection.queries_log.clear()  # a full log (it keeps 9,000) would count nothing
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)  # the first, not timed: counts the queries
        # Now: the next request empties the log the captured queries are read from.
        count = len(queries)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        seconds = self.timed(lambda: client.get(url), runs=max(self.runs, 5))
        value = median(seconds) * 1000
        return self.add(
            Row(
                key=key,
                what=what,
                size=size,
                value=value,
                unit="ms",
                runs=max(self.runs, 5),
                queries=count,
                note=f"{len(response.content) / 1024:,.0f} KB",
                goal=f"< {ADMIN_GOAL_MS} ms" if goal else "",
                met=value < ADMIN_GOAL_MS if goal else None,
            )
        )

    def measure_pages(self) -> None:
        client = Client(SERVER_NAME="localhost")
        client.force_login(self.hr)
        # The compliance lists are Compliance's (HR does not see them).
        compliance = Client(SERVER_NAME="localhost")
        compliance.force_login(self.compliance)
        members = Member.objects.filter(enterprise=self.enterprise).count()
        events = AuditEvent.objects.filter(enterprise=self.enterprise).count()
        records = WorkRecord.objects.filter(enterprise=self.enterprise).count()
        contacts = ExternalContact.objects.filter(enterprise=self.enterprise).count()
        items = self.inheritance_items
        admin = "admin:{}_changelist".format
        last_page = max(1, math.ceil(events / 100))
        page = min(1000, last_page)
        rows = (
            ("admin.members", "admin: member list", "directory_member", "", f"{members:,} members"),
            ("admin.exits", "admin: exit list", "offboarding_exit", "", f"{members:,} members"),
            (
                "admin.inheritance_items",
                "admin: inheritance item list, 100 rows",
                "offboarding_inheritanceitem",
                "",
                f"{items:,} items",
            ),
            (
                "admin.audit_events",
                "admin: audit event list, first page",
                "compliance_auditevent",
                "",
                f"{events:,} events",
            ),
            (
                "admin.audit_events_page_1000",
                f"admin: audit event list, page {page:,}",
                "compliance_auditevent",
                f"?p={page}",
                f"{events:,} events",
            ),
            (
                "admin.work_records",
                "admin: work record list",
                "compliance_workrecord",
                "",
                f"{records:,} records",
            ),
            (
                "admin.external_contacts",
                "admin: external contact list",
                "directory_externalcontact",
                "",
                f"{contacts:,} contacts",
            ),
            (
                "admin.member_search",
                f"admin: member search q={MEMBER_SEARCH}",
                "directory_member",
                f"?q={MEMBER_SEARCH}",
                f"{members:,} members",
            ),
            (
                "admin.contact_search",
                f"admin: contact search q={CONTACT_SEARCH}",
                "directory_externalcontact",
                f"?q={CONTACT_SEARCH}",
                f"{contacts:,} contacts",
            ),
        )
        for key, what, name, query, size in rows:
            who = compliance if name.startswith("compliance_") else client
            self.page(key, what, who, reverse(admin(name)) + query, size)
        waiting = Exit.objects.filter(
            enterprise=self.enterprise, state=ExitState.PENDING_APPROVAL
        ).count()
        hr_page = self.page(
            "approvals.hr",
            "HR's /approvals/",
            client,
            reverse("offboarding:approvals"),
            f"{waiting:,} waiting",
            goal=False,
        )
        if self.waiting_manager is not None:
            manager = Client(SERVER_NAME="localhost")
            manager.force_login(self.waiting_manager)
            url = reverse("offboarding:approvals")
            seconds = self.timed(lambda: manager.get(url), runs=max(self.runs, 5))
            hr_page.limits.append(Limit("a manager's /approvals/", median(seconds) * 1000))

    # -- handing over, the directory import ------------------------------------------------------

    def measure_hand_over(self) -> None:
        leaver = self.plain.pop()
        ExternalContact.objects.bulk_create(
            ExternalContact(enterprise=self.enterprise, owner=leaver, name=f"客户{n}")
            for n in range(HANDED_OVER)
        )
        exit_case = services.open_exit(
            member=leaver,
            kind=ExitKind.PASSIVE,
            last_working_day=services.local_today(self.enterprise),
            actor=self.hr,
        )
        exit_case = workflow.remove(exit_case, actor=self.hr)
        owned = ExternalContact.objects.filter(owner=leaver).count()
        started = time.perf_counter()
        inheritance.inherit(exit_case, actor=self.hr)
        seconds = time.perf_counter() - started
        self.inheritance_items = InheritanceItem.objects.count()
        self.add(
            Row(
                key="hand_over",
                what="hand over (离职继承)",
                size=f"{owned:,} resources",
                value=seconds * 1000,
                unit="ms",
                runs=1,
            )
        )

    def measure_import(self) -> None:
        """A generated directory of as many members into an enterprise of its own: the preview
        (read and check), then the confirm (check and write); once each."""
        members = self.sizes.members
        target = Enterprise.objects.create(name=f"{ENTERPRISE} 导入", code="bench-import")
        hr = self.staff(target, "bench-import-hr", StaffRole.HR)
        departments_csv, members_csv = directory_files(members)
        size = f"{members:,} members"
        started = time.perf_counter()
        tables = importing.read_tables(departments_csv, "csv")
        tables += importing.read_tables(members_csv, "csv")
        summary = importing.check(target, tables)
        preview = time.perf_counter() - started
        if summary.invalid:
            raise RuntimeError(f"the generated directory has errors: {summary.invalid[0]}")
        started = time.perf_counter()
        tables = importing.read_tables(departments_csv, "csv")
        tables += importing.read_tables(members_csv, "csv")
        importing.apply(target, tables, actor=hr)
        confirm = time.perf_counter() - started
        for key, what, seconds in (
            ("import.preview", "directory import: preview", preview),
            ("import.confirm", "directory import: confirm", confirm),
        ):
            self.add(Row(key=key, what=what, size=size, value=seconds * 1000, unit="ms", runs=1))

    # -- all of it ----------------------------------------------------------------------------

    def run(self) -> None:
        if Enterprise.objects.filter(name=ENTERPRISE).exists():
            raise RuntimeError(f"An enterprise named {ENTERPRISE} exists already: remove it first.")
        self.seed()
        self.set_retention_policy()
        self.log("measuring: the retention run on the freshly loaded table")
        self.measure_retention_fresh()
        self.refill_purged()
        self.analyze()
        self.measure_hand_over()
        for step in (
            self.measure_sign_offs,
            self.measure_door_during_retention,
            self.measure_sealing,
            self.measure_verify,
            self.measure_close,
            self.measure_retention,
            self.measure_pages,
            self.measure_import,
        ):
            self.log(f"measuring: {step.__name__.removeprefix('measure_').replace('_', ' ')}")
            step()
        self.order_rows()

    def order_rows(self) -> None:
        """The issue's order: doors, crypto, hashing, closing, retention, lists, the rest."""
        order = (
            "signoffs.",
            "door.",
            "sealing",
            "verify_audit",
            "close",
            "retention.",
            "admin.",
            "approvals.",
            "hand_over",
            "import.",
            "seed.",
        )
        self.rows.sort(
            key=lambda row: next(
                (i for i, prefix in enumerate(order) if row.key.startswith(prefix)), len(order)
            )
        )


def signoffs_what(processes: int) -> str:
    return f"sign-offs, {processes} process{'es' if processes > 1 else ''}, one enterprise"


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
