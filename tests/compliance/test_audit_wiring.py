"""Every existing door writes the audit trail (C-7): the eight transitions and each approval step,
opening an exit, the sign-offs, inheritance (one event per batch, never per resource), the
super-admin handover, the emergency freeze — each with the right actor, member and exit, in the
same transaction as the change, and personal data only sealed. Closing an exit seals the member's
records (C-3). Concurrent writers never fork an enterprise's chain (PostgreSQL)."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from django_otp.oath import totp

from compliance import audit, sealing
from compliance.models import AuditEvent, WorkRecord
from directory.choices import HandoverPolicy, MemberRole, StaffRole
from directory.models import ExternalContact, Member
from offboarding import handover, inheritance, services, workflow
from offboarding.choices import ExitKind, InheritanceStatus, ResourceType, Team
from offboarding.exceptions import ExitRefused
from offboarding.models import Exit, InheritanceItem
from tests import factories
from tests.compliance.conftest import records_of
from tests.conftest import refreshed

pytestmark = pytest.mark.django_db

# Free text about people: sealed in the events' personal data, never in their `data`.
OPEN_REASON = "家庭原因，需回老家照顾父母"
REJECT_REASON = "项目交接计划不完整"
REFUSAL_REASON = "客户希望继续由原销售对接"
STOLEN_REASON = "新账号在凌晨从境外登录"
FREEZE_REASON = "管理员账号疑似被盗"
NOTE = "已核对"
FREE_TEXT = (OPEN_REASON, REJECT_REASON, REFUSAL_REASON, STOLEN_REASON, FREEZE_REASON, NOTE)


def code_for(member: Member) -> str:
    """The code `member`'s authenticator app shows now."""
    device = handover.enrolment_device(member.user)
    code = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift
    )
    return f"{code:0{device.digits}d}"


def trail_after(enterprise, seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(enterprise=enterprise, seq__gt=seq).order_by("seq"))


def last_seq(enterprise) -> int:
    return AuditEvent.objects.filter(enterprise=enterprise).order_by("-seq").first().seq


# ---------------------------------------------------------------------------------------------
# The world the walk runs in


@dataclass
class World:
    enterprise: object
    hr: object
    it: object
    boss: Member  # 王总, the super admin, leaves first (exit A)
    new_admin: Member  # 李四, named the new super admin
    backup: Member  # 备用, the backup admin, promoted when 李四's account is reported stolen
    manager: Member  # inherits 王总's contacts, up to the limit
    stranger: Member  # takes what did not fit
    leaver: Member  # 赵六, removed by HR (exit B), then undone
    heir: Member  # 钱七, named by 备用 (exits C and D)
    ready_to_complete: Callable
    exits: dict = field(default_factory=dict)
    things: dict = field(default_factory=dict)

    def exit(self, key: str) -> Exit:
        return self.exits[key]


@pytest.fixture
def world(enterprise, hr_user, it_user, ready_to_complete) -> World:
    enterprise.handover_policy = HandoverPolicy.GRACE
    enterprise.customer_limit_per_member = 3
    enterprise.save()
    member = factories.MemberFactory
    w = World(
        enterprise=enterprise,
        hr=hr_user,
        it=it_user,
        boss=factories.SuperAdminFactory(enterprise=enterprise, name="王总"),
        new_admin=member(enterprise=enterprise, name="李四", role=MemberRole.ADMIN),
        backup=member(
            enterprise=enterprise, name="备用", role=MemberRole.ADMIN, is_backup_admin=True
        ),
        manager=member(enterprise=enterprise, name="李经理"),
        stranger=member(enterprise=enterprise, name="路人"),
        leaver=member(enterprise=enterprise, name="赵六"),
        heir=member(enterprise=enterprise, name="钱七"),
        ready_to_complete=ready_to_complete,
    )
    for owner, count in ((w.boss, 4), (w.leaver, 1)):
        ExternalContact.objects.bulk_create(
            ExternalContact(enterprise=enterprise, owner=owner, name=f"客户{n}")
            for n in range(count)
        )
    records_of(w.boss, 3)
    for person in (w.boss, w.backup):
        person.user.set_password(factories.PASSWORD)
        person.user.save()
    return w


# ---------------------------------------------------------------------------------------------
# The doors, in the order the walk opens them


def open_exit(key, who, kind, actor, reason=""):
    def run(w: World):
        w.exits[key] = services.open_exit(
            member=getattr(w, who),
            kind=kind,
            last_working_day=services.local_today(w.enterprise) + timedelta(days=14),
            reason=reason,
            actor=getattr(w, actor).user if actor in ("boss", "backup") else getattr(w, actor),
        )

    return run


def request_handover(key, who, to):
    def run(w: World):
        w.things[f"handover {key}"] = handover.request_handover(
            getattr(w, who),
            actor=getattr(w, who).user,
            new_admin=getattr(w, to),
            password=factories.PASSWORD,
        )

    return run


def confirm_handover(w: World):
    proof = handover.prove_password_to_confirm(
        w.things["handover A"], actor=w.new_admin.user, password=factories.PASSWORD
    )
    handover.confirm_handover(
        w.things["handover A"],
        actor=w.new_admin.user,
        token=code_for(w.new_admin),
        password_proof=proof,
    )


def report_stolen(w: World):
    w.things["freeze of 李四"] = handover.report_stolen(
        w.things["handover A"], actor=w.boss.user, reason=STOLEN_REASON
    )


def unfreeze(w: World):
    handover.unfreeze_account(w.things["freeze of 李四"], actor=w.backup.user)


def submit(key, by):
    def run(w: World):
        w.exits[key] = workflow.submit(w.exit(key), actor=getattr(w, by).user)

    return run


def approve_both_steps(w: World):
    # 王总 has no manager: HR decides both steps.
    for _ in range(2):
        w.exits["A"] = workflow.approve(w.exit("A"), actor=w.hr, comment="同意")


def inherit(key, successor):
    def run(w: World):
        w.things[f"batch {key}"] = inheritance.inherit(
            w.exit(key), actor=w.hr, successor=getattr(w, successor)
        )

    return run


def reassign(w: World):
    inheritance.reassign_full_items(w.things["batch A"], actor=w.hr, successor=w.stranger)


def refuse_one(w: World):
    item = InheritanceItem.objects.filter(
        batch=w.things["batch A"], status=InheritanceStatus.WAITING
    ).first()
    inheritance.refuse_item(item, actor=w.hr, reason=REFUSAL_REASON)


def settle_after_the_acceptance_period(w: World):
    later = timezone.now() + w.enterprise.customer_acceptance_period + timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        assert inheritance.settle_waiting() == 3


def sign_off_everything(key):
    def run(w: World):
        w.exits[key] = w.ready_to_complete(w.exit(key))

    return run


def complete(key):
    def run(w: World):
        w.exits[key] = workflow.complete(w.exit(key), actor=w.hr)

    return run


def after_the_grace_period():
    return timezone.now() + timedelta(days=8)


def close_grace_windows(w: World):
    with time_machine.travel(after_the_grace_period(), tick=False):
        assert handover.close_grace_windows() == 1


def close_a(w: World):
    with time_machine.travel(after_the_grace_period(), tick=False):
        w.exits["A"] = workflow.close(w.exit("A"), actor=None)


def remove_b(w: World):
    w.exits["B"] = workflow.remove(w.exit("B"), actor=w.hr)


def undo_b(w: World):
    w.exits["B"] = workflow.undo(w.exit("B"), actor=w.hr, password=factories.PASSWORD)


def reject_c(w: World):
    w.exits["C"] = workflow.reject(w.exit("C"), actor=w.hr, reason=REJECT_REASON)


def withdraw_d(w: World):
    handover.withdraw_handover(w.things["handover D"], actor=w.hr)


def cancel_d(w: World):
    w.exits["D"] = workflow.cancel(w.exit("D"), actor=w.backup.user)


def freeze_new_admin(w: World):
    handover.freeze_account(refreshed_member(w.new_admin), actor=w.hr, reason=FREEZE_REASON)


def refreshed_member(member: Member) -> Member:
    return Member.objects.get(pk=member.pk)


# ---------------------------------------------------------------------------------------------
# What each door writes: (action, actor, member, exit), actor and member by their World names,
# the exit by its key ("-": none). "system" is the system (actor None).


def sign_offs(key: str, who: str) -> Callable[[World], list[tuple]]:
    def expected(w: World) -> list[tuple]:
        staff = {Team.HR: "hr", Team.IT: "it"}
        items = w.exit(key).checklist.filter(auto_check="")
        return [("checklist_item_signed_off", staff[item.team], who, key) for item in items] + [
            ("exit_review_signed_off", "hr", who, key),
            ("exit_review_signed_off", "it", who, key),
        ]

    return expected


STEPS = [
    # Exit A: the super admin 王总 leaves, handing the role to 李四 (grace policy).
    (
        "open A",
        open_exit("A", "boss", ExitKind.VOLUNTARY_ADMIN, "boss", OPEN_REASON),
        [("exit_opened", "boss", "boss", "A")],
    ),
    (
        "request handover",
        request_handover("A", "boss", "new_admin"),
        [("super_admin_handover_requested", "boss", "boss", "A")],
    ),
    (
        "confirm handover",
        confirm_handover,
        [("super_admin_handover_confirmed", "new_admin", "boss", "A")],
    ),
    (
        "report stolen",
        report_stolen,
        [
            ("account_reported_stolen", "boss", "new_admin", "A"),
            ("account_frozen", "boss", "new_admin", "-"),
        ],
    ),
    ("unfreeze", unfreeze, [("account_unfrozen", "backup", "new_admin", "-")]),
    ("submit A", submit("A", "boss"), [("exit_submitted", "boss", "boss", "A")]),
    (
        "approve A",
        approve_both_steps,
        [
            ("approval_step_approved", "hr", "boss", "A"),
            ("approval_step_approved", "hr", "boss", "A"),
            ("exit_approved", "hr", "boss", "A"),
        ],
    ),
    ("inherit A", inherit("A", "manager"), [("resources_inherited", "hr", "boss", "A")]),
    ("reassign", reassign, [("inheritance_reassigned", "hr", "boss", "A")]),
    ("refuse", refuse_one, [("inheritance_item_refused", "hr", "boss", "A")]),
    (
        "settle",
        settle_after_the_acceptance_period,
        [("inheritance_settled", "system", "boss", "A")],
    ),
    ("sign off A", sign_off_everything("A"), sign_offs("A", "boss")),
    ("complete A", complete("A"), [("exit_completed", "hr", "boss", "A")]),
    (
        "grace window ends",
        close_grace_windows,
        [("emergency_window_closed", "system", "boss", "A")],
    ),
    (
        "close A",
        close_a,
        [("records_sealed", "system", "boss", "A"), ("exit_closed", "system", "boss", "A")],
    ),
    # Exit B: HR removes 赵六, hands his contact over, completes, then undoes it all.
    (
        "open B",
        open_exit("B", "leaver", ExitKind.PASSIVE, "hr"),
        [("exit_opened", "hr", "leaver", "B")],
    ),
    ("remove B", remove_b, [("member_removed", "hr", "leaver", "B")]),
    ("inherit B", inherit("B", "stranger"), [("resources_inherited", "hr", "leaver", "B")]),
    ("sign off B", sign_off_everything("B"), sign_offs("B", "leaver")),
    ("complete B", complete("B"), [("exit_completed", "hr", "leaver", "B")]),
    (
        "undo B",
        undo_b,
        [
            ("exit_undone", "hr", "leaver", "B"),
            ("inheritance_given_back", "hr", "leaver", "B"),
        ],
    ),
    # Exits C and D: 备用, super admin since the freeze, names 钱七; C is rejected, D cancelled.
    (
        "open C",
        open_exit("C", "backup", ExitKind.VOLUNTARY_ADMIN, "backup"),
        [("exit_opened", "backup", "backup", "C")],
    ),
    (
        "request handover C",
        request_handover("C", "backup", "heir"),
        [("super_admin_handover_requested", "backup", "backup", "C")],
    ),
    ("submit C", submit("C", "backup"), [("exit_submitted", "backup", "backup", "C")]),
    (
        "reject C",
        reject_c,
        [
            ("approval_step_rejected", "hr", "backup", "C"),
            ("exit_rejected", "hr", "backup", "C"),
            ("super_admin_handover_withdrawn", "hr", "backup", "C"),
        ],
    ),
    (
        "open D",
        open_exit("D", "backup", ExitKind.VOLUNTARY_ADMIN, "backup"),
        [("exit_opened", "backup", "backup", "D")],
    ),
    (
        "request handover D",
        request_handover("D", "backup", "heir"),
        [("super_admin_handover_requested", "backup", "backup", "D")],
    ),
    ("withdraw D", withdraw_d, [("super_admin_handover_withdrawn", "hr", "backup", "D")]),
    ("cancel D", cancel_d, [("exit_cancelled", "backup", "backup", "D")]),
    # The emergency freeze, straight from HR.
    ("freeze", freeze_new_admin, [("account_frozen", "hr", "new_admin", "-")]),
]


def as_ids(w: World, expected: list[tuple]) -> list[tuple]:
    def actor_id(name):
        if name == "system":
            return None
        person = getattr(w, name)
        return person.user_id if isinstance(person, Member) else person.pk

    return [
        (action, actor_id(actor), getattr(w, member).pk, None if key == "-" else w.exit(key).pk)
        for action, actor, member, key in expected
    ]


def test_every_door_writes_its_event_with_its_actor_member_and_exit(world):
    w = world
    audit.record(w.enterprise.pk, actor=None, action="start", object_type="test")
    for name, run, expected in STEPS:
        # when a door is opened
        before = last_seq(w.enterprise)
        run(w)
        # then it wrote exactly its events, in order, each naming who, about whom, which exit
        written = [
            (event.action, event.actor_id, event.member_id, event.exit_id)
            for event in trail_after(w.enterprise, before)
        ]
        wanted = as_ids(w, expected(w) if callable(expected) else expected)
        assert written == wanted, name

    # and each exit's trail reads as its story
    def actions(**where) -> list[str]:
        events = AuditEvent.objects.filter(enterprise=w.enterprise, **where).order_by("seq")
        return list(events.values_list("action", flat=True))

    signed = ["checklist_item_signed_off"] * 5 + ["exit_review_signed_off"] * 2
    assert actions(exit_id=w.exit("A").pk) == [
        "exit_opened",
        "super_admin_handover_requested",
        "super_admin_handover_confirmed",
        "account_reported_stolen",
        "exit_submitted",
        "approval_step_approved",
        "approval_step_approved",
        "exit_approved",
        "resources_inherited",
        "inheritance_reassigned",
        "inheritance_item_refused",
        "inheritance_settled",
        *signed,
        "exit_completed",
        "emergency_window_closed",
        "records_sealed",
        "exit_closed",
    ]
    assert actions(exit_id=w.exit("B").pk) == [
        "exit_opened",
        "member_removed",
        "resources_inherited",
        *signed,
        "exit_completed",
        "exit_undone",
        "inheritance_given_back",
    ]
    assert actions(member_id=w.new_admin.pk) == [
        "account_reported_stolen",
        "account_frozen",
        "account_unfrozen",
        "account_frozen",
    ]
    assert actions(member_id=w.backup.pk)[-4:] == [
        "exit_opened",
        "super_admin_handover_requested",
        "super_admin_handover_withdrawn",
        "exit_cancelled",
    ]
    # and no free text about a person is in any event's facts, only sealed
    events = AuditEvent.objects.filter(enterprise=w.enterprise).order_by("seq")
    for event in events:
        facts = json.dumps(event.data, ensure_ascii=False)
        assert not any(text in facts for text in FREE_TEXT), (event.action, facts)
    sealed = {event.action: audit.personal_data(event) for event in events if event.sealed_data}
    assert sealed["exit_opened"] == {"reason": OPEN_REASON}
    assert sealed["approval_step_rejected"] == {"comment": REJECT_REASON}
    assert sealed["inheritance_item_refused"] == {"reason": REFUSAL_REASON}
    assert sealed["account_reported_stolen"] == {"reason": STOLEN_REASON}
    assert sealed["account_frozen"] == {"reason": FREEZE_REASON}
    assert sealed["checklist_item_signed_off"] == {"note": NOTE}
    # and the chain is whole
    assert all(check.whole for check in audit.verify(w.enterprise.pk))


def test_an_inheritance_batch_is_one_event_with_counts_and_item_ids(world):
    # given 王总's exit in handover, with 4 contacts and room for 3 with the manager
    w = world
    open_exit("A", "boss", ExitKind.VOLUNTARY_ADMIN, "boss")(w)
    request_handover("A", "boss", "new_admin")(w)
    confirm_handover(w)
    submit("A", "boss")(w)
    approve_both_steps(w)
    factories.CustomerGroupFactory(owner=w.boss)
    before = last_seq(w.enterprise)
    # when it is handed over
    batch = inheritance.inherit(w.exit("A"), actor=w.hr, successor=w.manager)
    # then one event says what moved, by type and status, and which items
    (event,) = trail_after(w.enterprise, before)
    assert event.action == "resources_inherited"
    assert (event.object_type, event.object_id) == ("inheritance_batch", str(batch.pk))
    assert event.data["counts"] == {
        ResourceType.CUSTOMER_GROUP: {InheritanceStatus.DONE: 1},
        ResourceType.EXTERNAL_CONTACT: {
            InheritanceStatus.WAITING: 3,
            InheritanceStatus.RECEIVER_FULL: 1,
        },
    }
    assert event.data["successors"] == {
        ResourceType.EXTERNAL_CONTACT: w.manager.pk,
        ResourceType.CUSTOMER_GROUP: w.manager.pk,
    }
    ids = sorted(batch.items.values_list("pk", flat=True))
    listed = [pk for first, last in event.data["item_id_runs"] for pk in range(first, last + 1)]
    assert listed == ids


def test_id_runs_are_exact_and_short():
    assert inheritance.id_runs([]) == []
    assert inheritance.id_runs([5, 3, 4, 9, 1]) == [[1, 1], [3, 5], [9, 9]]
    assert inheritance.id_runs(range(1000, 21000)) == [[1000, 20999]]


def test_a_refused_door_writes_no_event(world, open_exit_for):
    w = world
    exit_case = open_exit_for(w.manager)
    exit_case = workflow.submit(exit_case, actor=w.manager.user)
    before = last_seq(w.enterprise)
    # when a rejection without a reason, an approval by a stranger, a completion too early
    with pytest.raises(ExitRefused):
        workflow.reject(exit_case, actor=w.hr, reason=" ")
    with pytest.raises(ExitRefused):
        workflow.approve(exit_case, actor=w.stranger.user)
    with pytest.raises(ExitRefused):
        workflow.complete(exit_case, actor=w.hr)
    with pytest.raises(ExitRefused):
        handover.freeze_account(w.manager, actor=w.hr, reason=FREEZE_REASON)  # not an admin
    # then the trail is as it was
    assert last_seq(w.enterprise) == before


def test_an_event_rolls_back_with_its_change(world, open_exit_for, monkeypatch):
    # given a door whose change fails after its event would be written
    w = world
    exit_case = open_exit_for(w.manager)
    before = last_seq(w.enterprise)

    def fail(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(workflow, "_open_approvals", fail)
    with pytest.raises(RuntimeError):
        workflow.submit(exit_case, actor=w.manager.user)
    # then neither the change nor an event is there
    assert refreshed(exit_case).state == "draft"
    assert last_seq(w.enterprise) == before


# ---------------------------------------------------------------------------------------------
# Closing seals the member's records (C-3)


def test_closing_an_exit_seals_the_members_records_and_audits_it(
    enterprise, completed_exit, compliance_user
):
    # given a member's completed exit and their work records
    member = factories.MemberFactory(enterprise=enterprise, name="孙八")
    records = records_of(member, 5)
    exit_case = completed_exit(member)
    assert WorkRecord.objects.filter(owner=member, sealed_content__isnull=True).count() == 5
    # when the undo window has passed and the exit closes
    with time_machine.travel(exit_case.undo_deadline + timedelta(minutes=1), tick=False):
        workflow.close(exit_case, actor=None)
    # then every record is sealed: no plaintext left, only the sealed bytes
    for record in WorkRecord.objects.filter(owner=member):
        assert record.content == "" and record.sealed_content is not None
        assert record.sealed_at is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT content FROM compliance_workrecord WHERE owner_id = %s", [member.pk])
        assert {row[0] for row in cursor.fetchall()} == {""}
    # and staff with the permission read them back (audited as well)
    sealed_record = WorkRecord.objects.get(pk=records[0].pk)
    assert sealing.read_sealed(sealed_record, actor=compliance_user) == records[0].content
    # and the trail says the exit closed and the records were sealed, by the system
    events = AuditEvent.objects.filter(exit_id=exit_case.pk).order_by("seq")
    closing = [(e.action, e.actor_id, e.member_id, e.data) for e in events][-2:]
    assert closing == [
        ("records_sealed", None, member.pk, {"count": 5}),
        ("exit_closed", None, member.pk, {"from": "completed", "to": "closed"}),
    ]


def test_a_close_refused_within_the_undo_window_seals_nothing(enterprise, completed_exit):
    member = factories.MemberFactory(enterprise=enterprise)
    records_of(member, 2)
    exit_case = completed_exit(member)
    with pytest.raises(ExitRefused, match="undo window is open"):
        workflow.close(exit_case, actor=None)
    assert WorkRecord.objects.filter(owner=member, sealed_content__isnull=True).count() == 2
    assert not AuditEvent.objects.filter(action__in=("exit_closed", "records_sealed")).exists()


# ---------------------------------------------------------------------------------------------
# Concurrent writers (PostgreSQL)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgresql")
def test_concurrent_writers_never_fork_the_chain(enterprise, hr_user):
    from tests.offboarding.test_concurrency import all_at_once

    # given members who all ask to leave at the same moment, while events are written directly
    leavers = [factories.MemberFactory(enterprise=enterprise) for _ in range(4)]
    other = factories.EnterpriseFactory()

    def leave(member):
        def call():
            exit_case = services.open_exit(
                member=member,
                kind=ExitKind.VOLUNTARY,
                last_working_day=services.local_today(enterprise) + timedelta(days=14),
                reason=OPEN_REASON,
                actor=member.user,
            )
            workflow.submit(exit_case, actor=member.user)

        return call

    def write(enterprise_id, n):
        return lambda: audit.record_many(
            enterprise_id,
            [audit.Event(action=f"direct_{n}_{i}", object_type="test") for i in range(3)],
            actor=None,
        )

    for _round in range(3):
        # when they run at once (each its own connection and transaction)
        calls = [leave(member) for member in leavers] + [write(enterprise.pk, n) for n in range(3)]
        calls += [write(other.pk, n) for n in range(2)]
        outcomes = all_at_once(*calls)
        assert all(outcome.done for outcome in outcomes), outcomes
        leavers = [factories.MemberFactory(enterprise=enterprise) for _ in range(4)]

    # then each chain is whole, its sequence contiguous, every event written once
    checks = {check.enterprise_id: check for check in audit.verify()}
    assert checks[enterprise.pk].whole, checks[enterprise.pk].reason
    assert checks[other.pk].whole, checks[other.pk].reason
    ours = list(
        AuditEvent.objects.filter(enterprise=enterprise)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    assert ours == list(range(1, len(ours) + 1))
    assert len(ours) == 3 * (4 * 2 + 3 * 3)  # per round: 4 × (opened, submitted) + 3 × 3
    assert AuditEvent.objects.filter(enterprise=other).count() == 3 * 2 * 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgresql")
def test_a_freeze_and_an_unfreeze_at_once_both_write_their_events(enterprise, hr_user):
    """The race that deadlocked before every door took the audit chain first: one door holds a
    member's login row, the other, holding the chain, needs it at its commit."""
    from tests.offboarding.test_concurrency import all_at_once

    factories.StaffFactory(enterprise=enterprise, role=StaffRole.HR)
    boss = factories.SuperAdminFactory(enterprise=enterprise, name="王总")
    backup = factories.MemberFactory(
        enterprise=enterprise, role=MemberRole.ADMIN, is_backup_admin=True, name="备用"
    )
    first = handover.freeze_account(boss, actor=hr_user, reason=FREEZE_REASON)
    factories.MemberFactory(
        enterprise=enterprise, role=MemberRole.ADMIN, is_backup_admin=True, name="第二备用"
    )
    # when the new super admin unfreezes 王总 while HR freezes the new super admin
    unfreezing, freezing = all_at_once(
        lambda: handover.unfreeze_account(first, actor=backup.user),
        lambda: handover.freeze_account(
            refreshed_member(backup), actor=hr_user, reason=FREEZE_REASON
        ),
    )
    # then neither failed (one may be refused), and each done one wrote its event
    assert freezing.done, freezing
    assert unfreezing.done or unfreezing.refused, unfreezing
    actions = list(
        AuditEvent.objects.filter(enterprise=enterprise)
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions.count("account_frozen") == 2
    assert actions.count("account_unfrozen") == (1 if unfreezing.done else 0)
    assert all(check.whole for check in audit.verify(enterprise.pk))
