"""Random walks through the exit workflow (hypothesis, stateful).

Whoever acts — the member, their manager, a stranger, HR, IT or the system — in whatever order,
along with checklist and review sign-offs, resources handed over or newly owned, and time passing
the undo window: every call either does what the rules of X-2 … X-8 say it may, or is refused
and changes nothing; and the invariants below hold after every step.

Each run works inside its own savepoint (rolled back at teardown) under a frozen clock that only
time passing moves (a rule of its own, or the night that closes an exit after its undo window).
How many walks: the Hypothesis profile (tests/conftest.py), 40 in CI and 12 locally.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.db.models import Count
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from directory.choices import MemberStatus, StaffRole
from directory.models import OWNED_RESOURCE_MODELS, Member
from offboarding import services, workflow
from offboarding.choices import (
    OPEN_STATES,
    REMOVABLE_KINDS,
    Decision,
    ExitKind,
    ExitState,
    Team,
    Transition,
)
from offboarding.exceptions import ExitRefused
from offboarding.models import Exit
from tests import factories

ROLES = ("member", "manager", "stranger", "hr", "it", "system")
SIGNABLE = (ExitState.DRAFT, ExitState.PENDING_APPROVAL, ExitState.HANDOVER)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


class ExitWorkflowMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.savepoint = transaction.atomic()
        self.savepoint.__enter__()
        self.travel = time_machine.travel(START, tick=False)
        self.clock = self.travel.start()

        self.enterprise = factories.EnterpriseFactory()
        department = factories.DepartmentFactory(enterprise=self.enterprise)
        self.manager = factories.MemberFactory(enterprise=self.enterprise, department=department)
        self.member = factories.MemberFactory(
            enterprise=self.enterprise, department=department, manager=self.manager
        )
        stranger = factories.MemberFactory(enterprise=self.enterprise)
        hr = factories.StaffFactory(enterprise=self.enterprise, role=StaffRole.HR)
        it = factories.StaffFactory(enterprise=self.enterprise, role=StaffRole.IT)
        self.users = {
            "member": self.member.user,
            "manager": self.manager.user,
            "stranger": stranger.user,
            "hr": hr,
            "it": it,
            "system": None,
        }
        self.exit_case: Exit | None = None
        # What the history of each exit must hold: 1 for opening + 1 per change of the exit row.
        self.expected_history: dict[int, int] = {}

    def teardown(self):
        self.travel.stop()
        transaction.set_rollback(True)
        self.savepoint.__exit__(None, None, None)

    # --- reading the world ------------------------------------------------------------------------

    def fresh(self) -> Exit:
        return Exit.objects.get(pk=self.exit_case.pk)

    def fresh_member(self) -> Member:
        return Member.objects.select_related("user").get(pk=self.member.pk)

    def owned(self) -> int:
        """How many resources the member still owns, of every type (one query)."""
        first, *others = (
            model.objects.filter(owner=self.member).order_by().values("pk")
            for model in OWNED_RESOURCE_MODELS
        )
        return first.union(*others, all=True).count()

    def world(self) -> dict:
        """Everything any call could change."""
        exit_case = self.fresh()
        member = self.fresh_member()
        return {
            "state": exit_case.state,
            "history": exit_case.history.count(),
            "decisions": list(
                exit_case.approvals.order_by("position").values_list("decision", flat=True)
            ),
            "signed_items": exit_case.checklist.filter(signed_off_at__isnull=False).count(),
            "reviews": (exit_case.hr_signed_off_at, exit_case.it_signed_off_at),
            "member": (member.status, member.role, member.is_backup_admin),
            "user_is_active": member.user.is_active,
            "owned": self.owned(),
        }

    def current_decider(self, exit_case: Exit) -> str | None:
        step = exit_case.approvals.filter(decision=Decision.PENDING).order_by("position").first()
        if step is None:
            return None
        return "manager" if step.assignee_id == self.manager.pk else "hr"

    def nothing_blocks_completion(self, exit_case: Exit) -> bool:
        return (
            self.owned() == 0
            and not exit_case.checklist.filter(auto_check="", signed_off_at__isnull=True).exists()
            and exit_case.hr_signed_off_at is not None
            and exit_case.it_signed_off_at is not None
        )

    def may_succeed(self, transition: Transition, who: str, *, reason: str, password_ok: bool):
        """The rules of X-2 … X-8, written out independently: True or False."""
        exit_case = self.fresh()
        state = ExitState(exit_case.state)
        now = datetime.now(UTC)
        if transition == Transition.SUBMIT:
            return state == ExitState.DRAFT and who in ("member", "hr")
        if transition in (Transition.APPROVE, Transition.REJECT):
            if transition == Transition.REJECT and not reason.strip():
                return False
            return state == ExitState.PENDING_APPROVAL and who == self.current_decider(exit_case)
        if transition == Transition.CANCEL:
            return state in SIGNABLE and who in ("member", "hr")
        if transition == Transition.REMOVE:
            return state == ExitState.DRAFT and who == "hr" and exit_case.kind in REMOVABLE_KINDS
        if transition == Transition.COMPLETE:
            return (
                state == ExitState.HANDOVER
                and who in ("hr", "it")
                and self.nothing_blocks_completion(exit_case)
            )
        if transition == Transition.UNDO:
            return (
                state == ExitState.COMPLETED
                and who == "hr"
                and password_ok
                and now < exit_case.undo_deadline
            )
        assert transition == Transition.CLOSE
        return (
            state == ExitState.COMPLETED
            and who in ("hr", "system")
            and now >= exit_case.undo_deadline
        )

    # --- rules: opening an exit -------------------------------------------------------------------

    def open(self, kind: ExitKind, days_from_today: int, who: str) -> None:
        member = self.fresh_member()
        has_open_exit = Exit.objects.filter(member=member, state__in=OPEN_STATES).exists()
        expected = (
            member.status == MemberStatus.ACTIVE
            and not has_open_exit
            and (kind == ExitKind.PASSIVE or days_from_today >= 0)
        )
        exits_before = Exit.objects.filter(member=member).count()
        last_day = services.local_today(self.enterprise) + timedelta(days=days_from_today)
        try:
            exit_case = services.open_exit(
                member=member, kind=kind, last_working_day=last_day, actor=self.users[who]
            )
        except ExitRefused:
            assert not expected, "open_exit was refused although it should open an exit"
            assert Exit.objects.filter(member=member).count() == exits_before
            return
        assert expected, "open_exit opened an exit it should have refused"
        assert exit_case.checklist.count() == 12
        self.exit_case = exit_case
        self.expected_history[exit_case.pk] = 1

    @initialize(
        kind=st.sampled_from([ExitKind.VOLUNTARY, ExitKind.PASSIVE]),
        resources=st.lists(st.sampled_from(factories.OWNED_RESOURCE_FACTORIES), max_size=2),
    )
    def the_member_owns_resources_and_an_exit_is_opened(self, kind, resources):
        for factory in resources:
            factory(owner=self.member, enterprise=self.enterprise)
        self.open(kind, 7, "member" if kind == ExitKind.VOLUNTARY else "hr")

    @rule(
        kind=st.sampled_from([ExitKind.VOLUNTARY, ExitKind.PASSIVE]),
        days_from_today=st.sampled_from([-1, 0, 7]),
    )
    def open_another_exit(self, kind, days_from_today):
        self.open(kind, days_from_today, "member" if kind == ExitKind.VOLUNTARY else "hr")

    # --- rules: the transitions -------------------------------------------------------------------

    def attempt(self, transition, who, *, reason="交接未完成", password_ok=True) -> None:
        """Run `transition` as `who`, and check the outcome against the rules."""
        actor = self.users[who]
        expected = self.may_succeed(transition, who, reason=reason, password_ok=password_ok)
        before = self.world()
        extra = {
            Transition.APPROVE: {"comment": "同意"},
            Transition.REJECT: {"reason": reason},
            Transition.UNDO: {"password": factories.PASSWORD if password_ok else "wrong"},
        }.get(transition, {})
        try:
            workflow.DOORS[transition](self.exit_case, actor=actor, **extra)
        except ExitRefused as refused:
            assert expected is not True, f"{transition} by {who} was refused: {refused}"
            assert str(refused), "a refusal must say why"
            assert self.world() == before, f"the refused {transition} by {who} changed something"
            return
        assert expected is not False, f"{transition} by {who} from {before['state']} succeeded"
        after = self.world()
        if after["state"] != before["state"]:
            self.expected_history[self.exit_case.pk] += 1
            latest = self.fresh().history.order_by("-history_id").first()
            assert latest.history_change_reason == transition.value
            assert latest.history_user == actor
        else:  # an approval step that is not the last: decided, and the exit waits for the next
            assert transition == Transition.APPROVE
            assert after["decisions"].count(Decision.APPROVED) == (
                before["decisions"].count(Decision.APPROVED) + 1
            )

    @precondition(lambda self: self.exit_case is not None)
    @rule(
        attempts=st.lists(
            st.tuples(
                st.sampled_from(Transition),
                st.sampled_from(ROLES),
                st.sampled_from(["交接未完成", "  "]),
                st.booleans(),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def anyone_tries_any_transition(self, attempts):
        for transition, who, reason, password_ok in attempts:
            self.attempt(transition, who, reason=reason, password_ok=password_ok)

    @precondition(lambda self: self.exit_case is not None)
    @rule(moves=st.lists(st.sampled_from([True, True, True, False]), min_size=1, max_size=6))
    def the_people_of_the_exit_move_it_on(self, moves):
        """What the people of the exit would do next, a few moves in a row: True moves it forward
        (submit or remove, approve, clear every blocker then complete, close), False takes the
        other way (reject, complete without clearing anything, undo). Every move is still checked
        against the rules."""
        # Rules other than these pick their moves at random; these walk the exit to its later
        # states (completed, reverted, closed) often enough for the invariants there to be tested.
        for forward in moves:
            exit_case = self.fresh()
            state = exit_case.state
            if state == ExitState.DRAFT:
                passive = exit_case.kind == ExitKind.PASSIVE
                self.attempt(
                    *((Transition.REMOVE, "hr") if passive else (Transition.SUBMIT, "member"))
                )
            elif state == ExitState.PENDING_APPROVAL:
                decider = self.current_decider(exit_case)
                self.attempt(Transition.APPROVE if forward else Transition.REJECT, decider)
            elif state == ExitState.HANDOVER:
                if forward:  # they clear the pre-review's blockers first; else they just try
                    self.hand_everything_over_to_the_manager()
                    self.hr_and_it_sign_off_everything_still_open()
                self.attempt(Transition.COMPLETE, "it" if forward else "hr")
            elif state == ExitState.COMPLETED:
                if forward:  # the nightly job, once the undo window has ended
                    self.time_passes_beyond_the_undo_window()
                    self.attempt(Transition.CLOSE, "system")
                else:
                    self.attempt(Transition.UNDO, "hr")

    # --- rules: what happens besides transitions --------------------------------------------------

    def sign_item(self, who: str, position: int) -> None:
        exit_case = self.fresh()
        item = exit_case.checklist.filter(auto_check="").order_by("position")[position]
        # Team values are "hr" and "it", like the staff roles.
        expected = exit_case.state in SIGNABLE and not item.is_signed_off and who == item.team
        before = self.world()
        try:
            services.sign_off_item(item, actor=self.users[who], note="ok")
        except ExitRefused:
            assert not expected
            assert self.world() == before
            return
        assert expected
        assert self.world()["signed_items"] == before["signed_items"] + 1

    def sign_review(self, team: Team, who: str) -> None:
        exit_case = self.fresh()
        signed = getattr(exit_case, f"{team}_signed_off_at") is not None
        expected = exit_case.state in SIGNABLE and not signed and who == team
        before = self.world()
        try:
            services.sign_off_review(exit_case, actor=self.users[who], team=team)
        except ExitRefused:
            assert not expected
            assert self.world() == before
            return
        assert expected
        self.expected_history[self.exit_case.pk] += 1  # the review is saved on the exit

    @precondition(lambda self: self.exit_case is not None)
    @rule(who=st.sampled_from(ROLES[:-1]), position=st.integers(min_value=0, max_value=4))
    def someone_signs_off_a_checklist_item(self, who, position):
        self.sign_item(who, position)

    @precondition(lambda self: self.exit_case is not None)
    @rule(team=st.sampled_from(Team), who=st.sampled_from(ROLES[:-1]))
    def someone_signs_off_a_review(self, team, who):
        self.sign_review(team, who)

    @precondition(lambda self: self.exit_case is not None)
    @rule()
    def hr_and_it_sign_off_everything_still_open(self):
        exit_case = self.fresh()
        if exit_case.state not in SIGNABLE:
            return
        unsigned = exit_case.checklist.filter(auto_check="", signed_off_at__isnull=True)
        manual = list(exit_case.checklist.filter(auto_check="").order_by("position"))
        for item in unsigned:
            self.sign_item(item.team, manual.index(item))
        for team in Team:
            if getattr(self.fresh(), f"{team}_signed_off_at") is None:
                self.sign_review(team, team.value)

    @rule()
    def hand_everything_over_to_the_manager(self):
        for model in OWNED_RESOURCE_MODELS:
            model.objects.filter(owner=self.member).update(owner=self.manager)

    @precondition(lambda self: self.fresh_member().status == MemberStatus.ACTIVE)
    @rule(factory=st.sampled_from(factories.OWNED_RESOURCE_FACTORIES))
    def the_member_takes_on_a_new_resource(self, factory):
        factory(owner=self.member, enterprise=self.enterprise)

    @rule(hours=st.sampled_from([1, 23, 25]))
    def time_passes(self, hours):
        self.clock.shift(timedelta(hours=hours))

    def time_passes_beyond_the_undo_window(self):
        deadline = self.fresh().undo_deadline
        if datetime.now(UTC) < deadline:
            self.clock.move_to(deadline + timedelta(minutes=1))

    # --- invariants -------------------------------------------------------------------------------

    @invariant()
    def the_exits_are_consistent_and_the_member_matches_the_latest(self):
        exits = list(Exit.objects.filter(member=self.member).order_by("pk"))
        assert {exit_case.state for exit_case in exits} <= set(ExitState.values)
        assert sum(exit_case.state in OPEN_STATES for exit_case in exits) <= 1
        if not exits:
            return
        # The member matches the state of their latest exit.
        latest, member = exits[-1], self.fresh_member()
        if latest.state in (ExitState.COMPLETED, ExitState.CLOSED):
            assert member.status == MemberStatus.DEPARTED
            assert member.user.is_active is False
            assert latest.undo_deadline == latest.completed_at + self.enterprise.undo_window
        elif latest.state == ExitState.HANDOVER and latest.kind in REMOVABLE_KINDS:
            # A removal cut the login at once; the member stays active until completion.
            assert member.status == MemberStatus.ACTIVE
            assert member.user.is_active is (latest.login_before_removal is None)
        else:  # draft, pending approval, handover, rejected, cancelled, reverted
            assert member.status == MemberStatus.ACTIVE
            assert member.user.is_active is True

    @invariant()
    def the_history_has_one_row_per_change(self):
        counts = dict(
            Exit.history.filter(id__in=self.expected_history)
            .values_list("id")
            .annotate(rows=Count("history_id"))
        )
        assert counts == self.expected_history


@pytest.mark.django_db
def test_random_walks_through_the_workflow_keep_its_invariants():
    run_state_machine_as_test(
        ExitWorkflowMachine,
        # The number of walks, the deadline and the database come from the profile.
        settings=settings(
            stateful_step_count=15,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
