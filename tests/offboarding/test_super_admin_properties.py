"""Random walks through every door that can move the super admin role or cut a login (hypothesis,
stateful): no 权限真空期, by construction (H-3).

Five people of one enterprise — 王总 the super admin, 备用 the backup admin (a plain member with the
flag, seeded in the data), 新人 a member, 管理 an admin, and 受邀 a member just imported whose
invitation is still open (no password yet) — and HR and IT. Under each handover
policy (grace, immediate, custody: one per walk), in any order: exits of any of them opened
(voluntary, passive, from the HR system), submitted, approved, removed, completed with everything
signed off, undone, cancelled; handovers requested (to anyone, with any custodian), confirmed with
both factors, withdrawn; accounts frozen and unfrozen; a new account reported stolen from the
emergency page; backup admins designated, accepted, withdrawn; time passing and the emergency
windows' job. Every door either does what it does or is refused (ExitRefused, or the directory's
DirectoryError for complete and undo) — nothing else escapes — and after every step the enterprise
has exactly one active super admin whose login works: active, with its password set.

Each walk runs in its own savepoint (rolled back at teardown) under a clock that only the rules
move. How many walks: the Hypothesis profile (tests/conftest.py).
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from directory.choices import HandoverPolicy, MemberRole, MemberStatus, StaffRole
from directory.models import Member
from directory.services import DirectoryError
from offboarding import backup, handover, services, workflow
from offboarding.choices import (
    OPEN_HANDOVER_STATES,
    OPEN_STATES,
    BackupDesignationState,
    ExitKind,
    ExitState,
    Team,
)
from offboarding.exceptions import ExitRefused
from offboarding.models import AccountFreeze, BackupAdminDesignation, Exit, SuperAdminHandover
from tests import factories
from tests.offboarding.test_super_admin_handover import code_for

PEOPLE = ("王总", "备用", "新人", "管理", "受邀")
REFUSALS = (ExitRefused, DirectoryError)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class SuperAdminMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.savepoint = transaction.atomic()
        self.savepoint.__enter__()
        self.travel = time_machine.travel(START, tick=False)
        self.clock = self.travel.start()

    def teardown(self):
        self.travel.stop()
        transaction.set_rollback(True)
        self.savepoint.__exit__(None, None, None)

    @initialize(policy=st.sampled_from(HandoverPolicy))
    def an_enterprise_with_its_super_admin_and_backup_admin(self, policy):
        self.enterprise = factories.EnterpriseFactory(handover_policy=policy)
        department = factories.DepartmentFactory(enterprise=self.enterprise)
        make = factories.MemberFactory
        self.people = {
            "王总": factories.SuperAdminFactory(
                enterprise=self.enterprise, department=department, name="王总"
            ),
            "备用": make(
                enterprise=self.enterprise, department=department, name="备用", is_backup_admin=True
            ),
            "新人": make(enterprise=self.enterprise, department=department, name="新人"),
            "管理": make(
                enterprise=self.enterprise,
                department=department,
                name="管理",
                role=MemberRole.ADMIN,
            ),
            "受邀": make(enterprise=self.enterprise, department=department, name="受邀"),
        }
        invited = self.people["受邀"].user
        invited.set_unusable_password()
        invited.save(update_fields=["password"])
        self.hr = factories.StaffFactory(enterprise=self.enterprise, role=StaffRole.HR)
        self.it = factories.StaffFactory(enterprise=self.enterprise, role=StaffRole.IT)

    # --- reading the world ------------------------------------------------------------------

    def member(self, who: str) -> Member:
        return Member.objects.select_related("user").get(pk=self.people[who].pk)

    def super_admin(self) -> Member | None:
        return (
            Member.objects.filter(enterprise=self.enterprise)
            .super_admins()
            .select_related("user")
            .first()
        )

    def open_exit_of(self, who: str) -> Exit | None:
        return Exit.objects.filter(member=self.people[who], state__in=OPEN_STATES).first()

    def attempt(self, door, *args, **kwargs):
        """Run a door; a refusal is an answer (and must say why), anything else escapes."""
        try:
            done = door(*args, **kwargs)
        except REFUSALS as refusal:
            assert str(refusal) or getattr(refusal, "messages", None), "a refusal says why"
            event(f"{door.__name__}: refused")
            return None
        event(f"{door.__name__}: done")  # --hypothesis-show-statistics shows what the walks did
        return done

    # --- exits ----------------------------------------------------------------------------------

    @rule(who=st.sampled_from(PEOPLE), kind=st.sampled_from(list(ExitKind)))
    def an_exit_is_opened(self, who, kind):
        member = self.member(who)
        actor = {
            ExitKind.PASSIVE: self.hr,
            ExitKind.HR_SYNC: None,
        }.get(kind, member.user)
        self.attempt(
            services.open_exit,
            member=member,
            kind=kind,
            last_working_day=services.local_today(self.enterprise) + timedelta(days=7),
            actor=actor,
        )

    @rule(who=st.sampled_from(PEOPLE), moves=st.integers(min_value=1, max_value=4))
    def the_exit_moves_on(self, who, moves):
        """A few moves forward, by whoever may: the member submits, HR decides every step (nobody
        has a manager) or removes; with everything signed off, IT completes."""
        for _move in range(moves):
            exit_case = self.open_exit_of(who)
            if exit_case is None:
                return
            if exit_case.state == ExitState.DRAFT:
                if exit_case.kind in (ExitKind.PASSIVE, ExitKind.HR_SYNC):
                    self.attempt(workflow.remove, exit_case, actor=self.hr)
                else:
                    self.attempt(workflow.submit, exit_case, actor=self.member(who).user)
            elif exit_case.state == ExitState.PENDING_APPROVAL:
                self.attempt(workflow.approve, exit_case, actor=self.hr, comment="同意")
            elif exit_case.state == ExitState.HANDOVER:
                self.sign_everything_off(exit_case)
                self.attempt(workflow.complete, exit_case, actor=self.it)

    def sign_everything_off(self, exit_case):
        for item in exit_case.checklist.filter(auto_check="", signed_off_at__isnull=True):
            actor = self.hr if item.team == Team.HR else self.it
            self.attempt(services.sign_off_item, item, actor=actor, note="ok")
        for team, actor in ((Team.HR, self.hr), (Team.IT, self.it)):
            if getattr(exit_case, f"{team}_signed_off_at") is None:
                self.attempt(services.sign_off_review, exit_case, actor=actor, team=team)

    @rule(who=st.sampled_from(PEOPLE), undo=st.booleans())
    def the_exit_is_undone_or_cancelled(self, who, undo):
        exit_case = self.open_exit_of(who)
        if exit_case is None:
            return
        if undo:
            self.attempt(workflow.undo, exit_case, actor=self.hr, password=factories.PASSWORD)
        else:
            self.attempt(workflow.cancel, exit_case, actor=self.hr)

    # --- the handover ---------------------------------------------------------------------------

    @rule(to=st.sampled_from(PEOPLE), custodian=st.sampled_from(PEOPLE))
    def the_super_admin_names_a_new_one(self, to, custodian):
        current = self.super_admin()
        if current is None:
            return
        if not Exit.objects.filter(member=current, state__in=OPEN_STATES).exists():
            # The super admin hands the role over as they leave: their exit first.
            self.attempt(
                services.open_exit,
                member=current,
                kind=ExitKind.VOLUNTARY_ADMIN,
                last_working_day=services.local_today(self.enterprise) + timedelta(days=7),
                actor=current.user,
            )
        self.attempt(
            handover.request_handover,
            current,
            actor=current.user,
            new_admin=self.member(to),
            custodian=self.member(custodian),
            password=factories.PASSWORD,
        )

    @rule()
    def the_new_super_admin_confirms_with_both_factors(self):
        pending = SuperAdminHandover.objects.filter(
            enterprise=self.enterprise, state__in=OPEN_HANDOVER_STATES
        ).first()
        if pending is None:
            return
        arriving = Member.objects.select_related("user").get(pk=pending.to_member_id)
        self.clock.shift(timedelta(seconds=31))  # a code of its own: codes are used once
        try:
            proof = handover.prove_password_to_confirm(
                pending, actor=arriving.user, password=factories.PASSWORD
            )
        except ExitRefused:
            return
        self.attempt(
            handover.confirm_handover,
            pending,
            actor=arriving.user,
            token=code_for(arriving),
            password_proof=proof,
        )

    @rule()
    def hr_withdraws_the_handover(self):
        pending = SuperAdminHandover.objects.filter(
            enterprise=self.enterprise, state__in=OPEN_HANDOVER_STATES
        ).first()
        if pending is not None:
            self.attempt(handover.withdraw_handover, pending, actor=self.hr)

    # --- freezes --------------------------------------------------------------------------------

    @rule(who=st.sampled_from(PEOPLE))
    def hr_freezes_an_account(self, who):
        self.attempt(handover.freeze_account, self.member(who), actor=self.hr, reason="账号被盗")

    @rule()
    def the_super_admin_unfreezes_an_account(self):
        current = self.super_admin()
        freeze = AccountFreeze.objects.filter(
            enterprise=self.enterprise, unfrozen_at__isnull=True
        ).first()
        if current is not None and freeze is not None:
            self.attempt(handover.unfreeze_account, freeze, actor=current.user)

    @rule()
    def the_old_super_admin_reports_the_new_account_stolen(self):
        window = (
            SuperAdminHandover.objects.filter(
                enterprise=self.enterprise, grace_until__isnull=False, grace_closed_at__isnull=True
            )
            .select_related("from_member__user")
            .first()
        )
        if window is not None:
            self.attempt(
                handover.report_stolen, window, actor=window.from_member.user, reason="异常"
            )

    # --- the backup admin -----------------------------------------------------------------------

    @rule(who=st.sampled_from(PEOPLE))
    def the_super_admin_designates_a_backup_admin(self, who):
        current = self.super_admin()
        if current is not None:
            self.attempt(
                backup.designate_backup_admin,
                current,
                actor=current.user,
                candidate=self.member(who),
                password=factories.PASSWORD,
            )

    @rule()
    def the_designated_member_accepts_with_both_factors(self):
        pending = BackupAdminDesignation.objects.filter(
            enterprise=self.enterprise, state=BackupDesignationState.AWAITING_ACCEPTANCE
        ).first()
        if pending is None:
            return
        member = Member.objects.select_related("user").get(pk=pending.member_id)
        self.clock.shift(timedelta(seconds=31))
        try:
            proof = backup.prove_password_to_accept(
                pending, actor=member.user, password=factories.PASSWORD
            )
        except ExitRefused:
            return
        self.attempt(
            backup.accept_designation,
            pending,
            actor=member.user,
            token=code_for(member),
            password_proof=proof,
        )

    @rule(standing=st.booleans())
    def the_super_admin_withdraws_the_backup_admin(self, standing):
        current = self.super_admin()
        if current is None:
            return
        if standing:
            flagged = Member.objects.filter(enterprise=self.enterprise, is_backup_admin=True)
            for member in flagged:
                self.attempt(backup.withdraw_backup_admin, member, actor=current.user)
        else:
            pending = BackupAdminDesignation.objects.filter(
                enterprise=self.enterprise, state=BackupDesignationState.AWAITING_ACCEPTANCE
            ).first()
            if pending is not None:
                self.attempt(backup.withdraw_designation, pending, actor=current.user)

    # --- time -----------------------------------------------------------------------------------

    @precondition(lambda self: hasattr(self, "enterprise"))
    @rule(days=st.sampled_from([1, 8]))
    def time_passes_and_the_windows_job_runs(self, days):
        self.clock.shift(timedelta(days=days))
        handover.close_grace_windows()

    # --- the invariant --------------------------------------------------------------------------

    @invariant()
    def exactly_one_active_super_admin_whose_login_works(self):
        if not hasattr(self, "enterprise"):
            return
        super_admins = list(
            Member.objects.filter(enterprise=self.enterprise, role=MemberRole.SUPER_ADMIN)
            .exclude(status=MemberStatus.DEPARTED)
            .select_related("user")
        )
        working = [
            member
            for member in super_admins
            if member.status == MemberStatus.ACTIVE
            and member.user.is_active
            and member.user.has_usable_password()
        ]
        assert len(working) == 1, [
            (member.name, member.status, member.user.is_active, member.user.has_usable_password())
            for member in super_admins
        ]
        assert len([m for m in super_admins if m.status == MemberStatus.ACTIVE]) == 1


@pytest.mark.django_db
def test_any_sequence_of_doors_leaves_exactly_one_super_admin_who_can_sign_in():
    run_state_machine_as_test(
        SuperAdminMachine,
        settings=settings(
            stateful_step_count=30,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
