"""Retention (C-2): policies that cannot lower a statutory floor, the longest retention winning
where policies overlap, the admin showing what a change would purge before it is saved, and the
retention run — in batches, leaving alone what a floor keeps, what a hold covers (a hold placed
while it runs included) and what an erasure request restricted.

Dates are the enterprise's (Asia/Shanghai): the tests travel to noon of a day there, unless a
test is about the edges of the day.
"""

import threading
import time
from datetime import date, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance import holds, retention, sealing
from compliance.choices import DocumentType, RecordCategory, RetentionAction
from compliance.exceptions import ComplianceRefused
from compliance.models import AuditEvent, LegalHold, RetentionPolicy, WorkRecord
from compliance.retention import (
    FLOORS,
    effective_rules,
    enforce_retention,
    preview,
    save_policy,
    within_floors,
)
from directory.choices import StaffRole
from offboarding import workflow
from tests import factories
from tests.compliance.conftest import records_of

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHAT, FILE = RecordCategory.CHAT, RecordCategory.FILE
APPROVAL, ATTENDANCE, EXPENSE = (
    RecordCategory.APPROVAL,
    RecordCategory.ATTENDANCE,
    RecordCategory.EXPENSE,
)
PURGE, ANONYMIZE, KEEP = RetentionAction.PURGE, RetentionAction.ANONYMIZE, RetentionAction.KEEP


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)


def make_record(member, category=CHAT, *, created: date | datetime, **fields) -> WorkRecord:
    created_at = created if isinstance(created, datetime) else noon(created)
    return WorkRecord.objects.create(
        enterprise_id=member.enterprise_id,
        owner=member,
        category=category,
        created_at=created_at,
        content=f"{category} of {member.name}",
        **fields,
    )


def exists(record) -> bool:
    return WorkRecord.objects.filter(pk=record.pk).exists()


def run_on(enterprise, day: date, **kwargs) -> dict:
    with time_machine.travel(noon(day), tick=False):
        return enforce_retention(enterprise, **kwargs)


def preview_on(enterprise, day: date, **kwargs) -> dict:
    with time_machine.travel(noon(day), tick=False):
        return preview(enterprise, **kwargs)


def audit_actions(enterprise) -> list[str]:
    return list(
        AuditEvent.objects.filter(enterprise=enterprise)
        .order_by("seq")
        .values_list("action", flat=True)
    )


@pytest.fixture
def set_policy(enterprise, compliance_user):
    """Save a policy of the enterprise through the door, as its Compliance staff."""

    def set_policy(category, keep_days, action) -> RetentionPolicy:
        policy = RetentionPolicy.objects.filter(enterprise=enterprise, category=category).first()
        policy = policy or RetentionPolicy(enterprise=enterprise, category=category)
        policy.keep_days, policy.action = keep_days, action
        return save_policy(policy, actor=compliance_user)

    return set_policy


@pytest.fixture
def colleague(enterprise):
    return factories.MemberFactory(enterprise=enterprise, name="李娜", employee_number="E100002")


# ---------------------------------------------------------------------------------------------
# The floors: the day before, of and after the last kept day


@pytest.mark.parametrize(
    ("created", "last_kept_day"),
    [
        # 6 calendar months from 31 August end on the last day of February …
        pytest.param(date(2025, 8, 31), date(2026, 2, 28), id="31-august-non-leap-year"),
        pytest.param(date(2023, 8, 31), date(2024, 2, 29), id="31-august-leap-year"),
        # … and on the same day of the month otherwise.
        pytest.param(date(2025, 3, 10), date(2025, 9, 10), id="ordinary-day"),
    ],
)
def test_a_chat_message_is_kept_six_calendar_months_whatever_a_policy_says(
    set_policy, enterprise, member, created, last_kept_day
):
    # given a chat message and the shortest chat policy the law allows: 180 days, then purge
    record = make_record(member, CHAT, created=created)
    set_policy(CHAT, 180, PURGE)
    # 180 days have passed before the last kept day: the calendar months decide
    assert created + timedelta(180) < last_kept_day

    # when the run goes on the day before and on the last kept day, then it keeps the message
    for day in (last_kept_day - timedelta(1), last_kept_day):
        assert preview_on(enterprise, day)["purge"] == 0, day
        assert run_on(enterprise, day)["purged"] == {}, day
        assert exists(record), day

    # when it goes the day after, then the message is purged
    day_after = last_kept_day + timedelta(1)
    assert preview_on(enterprise, day_after)["purge"] == 1
    assert run_on(enterprise, day_after)["purged"] == {CHAT: 1}
    assert not exists(record)


def test_the_31_august_chat_is_kept_on_28_february_and_purged_on_1_march(
    set_policy, enterprise, member
):
    # given chat messages of 31 August 2025 at the first and last minute of the enterprise's day
    early = make_record(member, CHAT, created=datetime(2025, 8, 31, 0, 1, tzinfo=SHANGHAI))
    late = make_record(member, CHAT, created=datetime(2025, 8, 31, 23, 59, tzinfo=SHANGHAI))
    set_policy(CHAT, 180, PURGE)

    # when the run goes in the last minute of 28 February there, then both are kept
    with time_machine.travel(datetime(2026, 2, 28, 23, 59, tzinfo=SHANGHAI), tick=False):
        enforce_retention(enterprise)
    assert exists(early) and exists(late)

    # when it goes in the first minute of 1 March there (still 28 February in UTC), then both go
    with time_machine.travel(datetime(2026, 3, 1, 0, 1, tzinfo=SHANGHAI), tick=False):
        assert enforce_retention(enterprise)["purged"] == {CHAT: 2}
    assert not exists(early) and not exists(late)


def test_six_calendar_months_are_never_fewer_than_180_days():
    # given the chat floor, then for every creation day of four years (two Februaries of 29 days
    # included) the last kept day is 6 calendar months on, and never sooner than 180 days on
    chat = next(floor for floor in FLOORS if floor.category == CHAT)
    day = date(2023, 1, 1)
    while day < date(2027, 1, 1):
        kept_until = chat.kept_until(day)
        assert kept_until == day + relativedelta(months=6), day
        assert kept_until >= day + timedelta(180), day
        # and the run's cut agrees: created on this day, past the floor the day after only
        # (30 and 31 March both end on 30 September: both are past on 1 October)
        assert chat.last_expired_creation_day(kept_until) < day, day
        assert chat.last_expired_creation_day(kept_until + timedelta(1)) >= day, day
        day += timedelta(1)


def test_the_chat_floor_is_the_later_of_180_days_and_6_calendar_months():
    # given a floor of 6 calendar months and 180 days, its last kept day is whichever is later:
    # with a shorter month count (as a floor might be written), the 180 days decide
    chat = next(floor for floor in FLOORS if floor.category == CHAT)
    assert chat.minimum_days == 180
    shorter = retention.Floor(CHAT, "", months=5, days=180, law="")
    created = date(2025, 8, 31)
    assert shorter.kept_until(created) == created + timedelta(180)  # 27 February 2026
    assert shorter.last_expired_creation_day(date(2026, 2, 28)) == created


@pytest.fixture
def leaves_on(completed_exit):
    """The member leaves through the exit workflow with `last_working_day` (their exit completed
    two weeks before it, as the workflow lets it): the end of their employment."""

    def leaves_on(member, last_working_day: date):
        with time_machine.travel(noon(last_working_day - timedelta(14)), tick=False):
            exit_case = completed_exit(member, last_working_day=last_working_day)
        member.refresh_from_db()
        return exit_case

    return leaves_on


# Each kind of floor: what it keeps, when its member leaves, when the record was made, and the
# floor's last kept day. Chats count from their creation; labour contracts and wage records from
# the last working day, however old they are (made 3 years before it here).
FLOOR_CASES = [
    pytest.param(
        CHAT, "", date(2024, 3, 15), date(2024, 3, 1), date(2024, 9, 1), id="chat-from-creation"
    ),
    pytest.param(
        FILE,
        DocumentType.LABOUR_CONTRACT,
        date(2024, 3, 15),
        date(2021, 3, 15),
        date(2026, 3, 15),
        id="labour-contract-from-the-last-working-day",
    ),
    pytest.param(
        FILE,
        DocumentType.LABOUR_CONTRACT,
        date(2024, 2, 29),
        date(2021, 2, 1),
        date(2026, 2, 28),
        id="labour-contract-last-working-day-29-february",
    ),
    pytest.param(
        FILE,
        DocumentType.WAGE_RECORD,
        date(2023, 6, 1),
        date(2020, 6, 1),
        date(2025, 6, 1),
        id="wage-record-from-the-last-working-day",
    ),
]


@pytest.mark.parametrize(
    ("category", "document_type", "last_working_day", "created", "last_kept_day"), FLOOR_CASES
)
def test_each_floor_keeps_its_records_through_its_last_day_in_the_run_and_the_preview(
    set_policy,
    leaves_on,
    enterprise,
    member,
    category,
    document_type,
    last_working_day,
    created,
    last_kept_day,
):
    # given policies that would purge at once (chats after 180 days, files after 30) …
    set_policy(CHAT, 180, PURGE)
    set_policy(FILE, 30, PURGE)
    # … a member who left on their last working day, and their record of the floor
    record = make_record(member, category, created=created, document_type=document_type)
    leaves_on(member, last_working_day)

    # on the day before the floor's last day, and on that day, the record is kept: the preview
    # counts nothing and the run purges nothing
    for day in (last_kept_day - timedelta(1), last_kept_day):
        assert preview_on(enterprise, day)["purge"] == 0, day
        assert run_on(enterprise, day)["purged"] == {}, day
        assert exists(record), day

    # the day after, the preview counts it and the run purges it
    day_after = last_kept_day + timedelta(1)
    assert preview_on(enterprise, day_after)["purge"] == 1
    assert run_on(enterprise, day_after)["purged"] == {category: 1}
    assert not exists(record)


@pytest.mark.parametrize("document_type", [DocumentType.LABOUR_CONTRACT, DocumentType.WAGE_RECORD])
def test_a_still_employed_colleague_s_five_year_old_contract_is_never_purged(
    set_policy, leaves_on, enterprise, member, colleague, document_type
):
    # given a file policy of 30 days, then purge, and two five-year-old files of the kind: one
    # of a colleague still employed, one of a member who left more than two years ago
    set_policy(FILE, 30, PURGE)
    five_years_ago = timezone.now() - relativedelta(years=5)
    employed = make_record(colleague, FILE, created=five_years_ago, document_type=document_type)
    departed = make_record(member, FILE, created=five_years_ago, document_type=document_type)
    leaves_on(member, timezone.localdate() - relativedelta(years=2, days=1))

    # when the preview counts and the run goes today
    assert preview(enterprise)["purge"] == 1
    assert enforce_retention(enterprise)["purged"] == {FILE: 1}

    # then only the departed member's file went: the colleague is employed, so the floor has not
    # started counting
    assert exists(employed)
    assert not exists(departed)


def test_an_undone_exit_does_not_end_the_employment(
    set_policy, leaves_on, enterprise, member, hr_user
):
    # given a member whose exit completed and was undone within the window, and their contract
    # made five years ago
    set_policy(FILE, 30, PURGE)
    five_years_ago = timezone.now() - relativedelta(years=5)
    contract = make_record(
        member, FILE, created=five_years_ago, document_type=DocumentType.LABOUR_CONTRACT
    )
    exit_case = leaves_on(member, timezone.localdate() - relativedelta(years=3))
    with time_machine.travel(exit_case.completed_at + timedelta(hours=1), tick=False):
        workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)

    # when the run goes today, then the contract is kept: the member is employed again
    assert preview(enterprise)["purge"] == 0
    assert enforce_retention(enterprise)["purged"] == {}
    assert exists(contract)


def test_within_floors_names_the_records_a_floor_keeps_today(
    enterprise, member, colleague, leaves_on
):
    # given, on 1 March 2026, chats made one day past and one day inside the chat floor …
    today = date(2026, 3, 1)
    inside, past = [], []
    chat = next(floor for floor in FLOORS if floor.category == CHAT)
    last_expired = chat.last_expired_creation_day(today)
    past.append(make_record(member, CHAT, created=last_expired))
    inside.append(make_record(member, CHAT, created=last_expired + timedelta(1)))
    # … contracts and wage records made long ago, of a member who left on the last expired day
    # of their floor (past), of one who left the day after (inside), and of a colleague still
    # employed (inside)
    left_later = factories.MemberFactory(enterprise=enterprise, name="王芳")
    for floor in FLOORS:
        if floor.counts_from != retention.EMPLOYMENT_END:
            continue
        fields = {"document_type": floor.document_type, "created": date(2015, 1, 1)}
        past.append(make_record(member, floor.category, **fields))
        inside.append(make_record(left_later, floor.category, **fields))
        inside.append(make_record(colleague, floor.category, **fields))
    contract_floor = next(floor for floor in FLOORS if floor.counts_from == "employment_end")
    ended = contract_floor.last_expired_creation_day(today)
    leaves_on(member, ended)
    leaves_on(left_later, ended + timedelta(1))
    # and an ordinary file and an approval record of long ago, which no floor keeps
    past.append(make_record(member, FILE, created=date(2020, 1, 1)))
    past.append(make_record(member, APPROVAL, created=date(2020, 1, 1)))

    # then within_floors names exactly the ones inside
    kept = set(
        WorkRecord.objects.filter(within_floors(enterprise, today=today)).values_list(
            "pk", flat=True
        )
    )
    assert kept == {record.pk for record in inside}


def test_an_anonymized_contract_counts_from_its_creation(set_policy, enterprise, member):
    # given a labour contract that no longer names its member, made two years and a day ago
    set_policy(FILE, 30, PURGE)
    made = timezone.localdate() - relativedelta(years=2, days=1)
    contract = make_record(member, FILE, created=made, document_type=DocumentType.LABOUR_CONTRACT)
    WorkRecord.objects.filter(pk=contract.pk).update(owner=None, content="")

    # then the run purges it: without a member there is no employment to wait for
    assert enforce_retention(enterprise)["purged"] == {FILE: 1}


# ---------------------------------------------------------------------------------------------
# Policies: no floor lowered


def test_a_chat_policy_below_the_floor_is_refused_and_nothing_is_saved(enterprise, compliance_user):
    # when Compliance saves a chat policy of 179 days
    with pytest.raises(ComplianceRefused) as refused:
        save_policy(
            RetentionPolicy(enterprise=enterprise, category=CHAT, keep_days=179, action=PURGE),
            actor=compliance_user,
        )

    # then it is refused beside "keep at least", naming the law, and nothing is saved
    assert refused.value.field == "keep_days"
    assert "Cybersecurity Law Art. 21" in str(refused.value)
    assert "180" in str(refused.value)
    assert not RetentionPolicy.objects.exists()
    assert not RetentionPolicy.history.exists()
    assert audit_actions(enterprise) == []


def test_a_policy_on_every_category_must_keep_chats_as_long_as_the_floor(
    enterprise, compliance_user
):
    # when the policy on every category says 100 days
    with pytest.raises(ComplianceRefused) as refused:
        save_policy(
            RetentionPolicy(enterprise=enterprise, category="", keep_days=100, action=PURGE),
            actor=compliance_user,
        )

    # then it is refused: it covers chat messages too
    assert refused.value.field == "keep_days"
    assert "every category" in str(refused.value)
    assert "Cybersecurity Law Art. 21" in str(refused.value)
    assert not RetentionPolicy.objects.exists()


def test_lowering_a_saved_chat_policy_below_the_floor_changes_nothing(
    set_policy, enterprise, compliance_user
):
    # given a chat policy of 365 days
    policy = set_policy(CHAT, 365, PURGE)
    events = audit_actions(enterprise)

    # when it is changed to 90 days
    policy.keep_days = 90
    with pytest.raises(ComplianceRefused):
        save_policy(policy, actor=compliance_user)

    # then the saved policy still says 365, with no new history or audit event
    assert RetentionPolicy.objects.get(pk=policy.pk).keep_days == 365
    assert RetentionPolicy.history.filter(id=policy.pk).count() == 1
    assert audit_actions(enterprise) == events


def test_file_and_other_policies_may_say_fewer_days(set_policy):
    # files (the 2-year floor holds anyway), attendance, expenses and approvals have no floor of
    # their own a policy must respect
    assert set_policy(FILE, 30, PURGE).pk
    assert set_policy(ATTENDANCE, 0, PURGE).pk
    assert set_policy(EXPENSE, 90, ANONYMIZE).pk
    assert set_policy(APPROVAL, 3650, KEEP).pk
    # and chat or every category at exactly 180 days is enough
    assert set_policy(CHAT, 180, PURGE).pk
    assert set_policy("", 180, ANONYMIZE).pk


def test_saving_a_policy_writes_history_and_an_audit_event(set_policy, enterprise, compliance_user):
    # when a policy is added, then changed, then saved unchanged
    policy = set_policy(CHAT, 365, PURGE)
    set_policy(CHAT, 400, ANONYMIZE)
    set_policy(CHAT, 400, ANONYMIZE)

    # then its history names the user, once per change, and so does the audit trail
    history = RetentionPolicy.history.filter(id=policy.pk).order_by("history_date")
    assert [(row.keep_days, row.history_user) for row in history] == [
        (365, compliance_user),
        (400, compliance_user),
    ]
    events = AuditEvent.objects.filter(enterprise=enterprise, action="retention_policy_saved")
    assert [event.data for event in events.order_by("seq")] == [
        {"before": None, "after": {"category": CHAT, "keep_days": 365, "action": PURGE}},
        {
            "before": {"category": CHAT, "keep_days": 365, "action": PURGE},
            "after": {"category": CHAT, "keep_days": 400, "action": ANONYMIZE},
        },
    ]
    assert {event.actor_id for event in events} == {compliance_user.pk}


def test_only_compliance_staff_of_the_enterprise_save_its_policies(
    enterprise, hr_user, other_compliance_user
):
    for actor in (hr_user, other_compliance_user, None):
        with pytest.raises(ComplianceRefused) as refused:
            save_policy(
                RetentionPolicy(enterprise=enterprise, category=CHAT, keep_days=365, action=PURGE),
                actor=actor,
            )
        assert "Compliance" in str(refused.value)
    assert not RetentionPolicy.objects.exists()


def test_a_second_policy_of_the_same_category_is_refused(set_policy, enterprise, compliance_user):
    set_policy(CHAT, 365, PURGE)
    with pytest.raises(ComplianceRefused) as refused:
        save_policy(
            RetentionPolicy(enterprise=enterprise, category=CHAT, keep_days=400, action=PURGE),
            actor=compliance_user,
        )
    assert refused.value.field == "category"
    assert RetentionPolicy.objects.get().keep_days == 365


def test_deleting_a_policy_is_audited_and_its_records_are_kept(
    set_policy, enterprise, member, compliance_user
):
    policy = set_policy(ATTENDANCE, 30, PURGE)
    record = make_record(member, ATTENDANCE, created=date(2020, 1, 1))

    retention.delete_policy(policy, actor=compliance_user)

    assert not RetentionPolicy.objects.exists()
    assert audit_actions(enterprise)[-1] == "retention_policy_deleted"
    enforce_retention(enterprise)
    assert exists(record)  # no policy: kept


# ---------------------------------------------------------------------------------------------
# Overlapping policies: the longest retention wins


def policy(category, keep_days, action):
    return RetentionPolicy(category=category, keep_days=keep_days, action=action)


def test_effective_rules_take_the_longest_policy_then_the_more_protective_action():
    rules = effective_rules(
        [
            policy(CHAT, 200, ANONYMIZE),
            policy("", 400, PURGE),
            policy(FILE, 500, PURGE),
            policy(EXPENSE, 400, KEEP),
            policy(ATTENDANCE, 400, ANONYMIZE),
        ]
    )
    assert {category: (rule.keep_days, rule.action) for category, rule in rules.items()} == {
        CHAT: (400, PURGE),  # the every-category policy is longer
        FILE: (500, PURGE),  # its own is longer
        APPROVAL: (400, PURGE),  # only the every-category policy
        EXPENSE: (400, KEEP),  # equal days: keep before purge
        ATTENDANCE: (400, ANONYMIZE),  # equal days: anonymize before purge
    }
    # without a policy, a category is kept: it has no rule
    assert effective_rules([policy(CHAT, 200, PURGE)]).keys() == {CHAT}


def test_a_keep_policy_is_the_longest_retention_whatever_its_days():
    # given chats kept (for good) after 200 days, and every category purged after 400 days
    rules = effective_rules([policy(CHAT, 200, KEEP), policy("", 400, PURGE)])
    # then chats are kept: keeping for good is longer than 400 days
    assert (rules[CHAT].keep_days, rules[CHAT].action) == (200, KEEP)
    assert (rules[EXPENSE].keep_days, rules[EXPENSE].action) == (400, PURGE)


def test_where_policies_overlap_the_longest_retention_wins(set_policy, enterprise, member):
    # given chat kept 200 days then anonymized, and every category kept 400 days then purged
    set_policy(CHAT, 200, ANONYMIZE)
    set_policy("", 400, PURGE)
    today = date(2026, 6, 1)
    chat_300 = make_record(member, CHAT, created=today - timedelta(300))
    chat_450 = make_record(member, CHAT, created=today - timedelta(450))
    expense_300 = make_record(member, EXPENSE, created=today - timedelta(300))
    expense_450 = make_record(member, EXPENSE, created=today - timedelta(450))

    # when the run goes
    counts = run_on(enterprise, today)

    # then the 300-day chat is kept whole (not anonymized: 400 days win), the 450-day ones go
    assert counts["purged"] == {CHAT: 1, EXPENSE: 1}
    assert counts["anonymized"] == {}
    chat_300.refresh_from_db()
    assert chat_300.owner == member and chat_300.anonymized_at is None
    assert exists(expense_300)
    assert not exists(chat_450) and not exists(expense_450)


def test_a_longer_category_policy_beats_a_shorter_every_category_one(
    set_policy, enterprise, member
):
    # given every category purged after 180 days, chats anonymized after 365
    set_policy("", 180, PURGE)
    set_policy(CHAT, 365, ANONYMIZE)
    today = date(2026, 6, 1)
    chat_300 = make_record(member, CHAT, created=today - timedelta(300))
    chat_400 = make_record(member, CHAT, created=today - timedelta(400))
    file_300 = make_record(member, FILE, created=today - timedelta(300))

    counts = run_on(enterprise, today)

    assert counts == {
        "purged": {FILE: 1},
        "anonymized": {CHAT: 1},
        "whole_enterprise_held": False,
        "erasures_finished": 0,
    }
    assert exists(chat_300) and not exists(file_300)
    chat_400.refresh_from_db()
    assert chat_400.anonymized_at is not None


def test_on_equal_days_the_more_protective_action_wins(set_policy, enterprise, member):
    set_policy(CHAT, 365, PURGE)
    set_policy("", 365, ANONYMIZE)
    today = date(2026, 6, 1)
    chat = make_record(member, CHAT, created=today - timedelta(400))

    run_on(enterprise, today)

    chat.refresh_from_db()
    assert chat.anonymized_at is not None


def test_without_a_policy_records_are_kept(enterprise, member):
    old = [make_record(member, category, created=date(2015, 1, 1)) for category in RecordCategory]
    assert run_on(enterprise, date(2026, 6, 1))["purged"] == {}
    assert all(exists(record) for record in old)


# ---------------------------------------------------------------------------------------------
# The run: what it does, and what it leaves


def test_anonymizing_removes_the_owner_and_every_copy_of_the_content(
    set_policy, enterprise, member, compliance_user
):
    # given sealed and unsealed expenses past a 30-day anonymize policy
    today = date(2026, 6, 1)
    records_of(member, 2, category=EXPENSE, created_at=noon(today - timedelta(60)))
    sealing.seal_member_records(member, actor=compliance_user)
    records_of(member, 1, category=EXPENSE, created_at=noon(today - timedelta(60)))
    set_policy(EXPENSE, 30, ANONYMIZE)

    counts = run_on(enterprise, today)

    # then all three are anonymized: no owner, no content, no sealed bytes
    assert counts["anonymized"] == {EXPENSE: 3}
    for record in WorkRecord.objects.filter(category=EXPENSE):
        assert record.owner_id is None
        assert record.owner_pseudonym == ""
        assert record.content == ""
        assert record.sealed_content is None
        assert record.anonymized_at is not None
    # a second run finds nothing left to do
    assert run_on(enterprise, today)["anonymized"] == {}


def test_running_twice_does_nothing_the_second_time(set_policy, enterprise, member, colleague):
    today = date(2026, 6, 1)
    set_policy(ATTENDANCE, 30, PURGE)
    set_policy(EXPENSE, 30, ANONYMIZE)
    for person in (member, colleague):
        records_of(person, 3, category=ATTENDANCE, created_at=noon(today - timedelta(31)))
        records_of(person, 2, category=EXPENSE, created_at=noon(today - timedelta(31)))

    first = run_on(enterprise, today)
    second = run_on(enterprise, today)

    assert first["purged"] == {ATTENDANCE: 6} and first["anonymized"] == {EXPENSE: 4}
    assert second["purged"] == {} and second["anonymized"] == {}
    assert WorkRecord.objects.filter(category=EXPENSE).count() == 4


def test_each_run_writes_one_audit_event_with_its_counts(set_policy, enterprise, member):
    today = date(2026, 6, 1)
    set_policy(ATTENDANCE, 30, PURGE)
    records_of(member, 5, category=ATTENDANCE, created_at=noon(today - timedelta(40)))

    run_on(enterprise, today, batch_size=2)  # three batches, one event

    events = AuditEvent.objects.filter(enterprise=enterprise, action="retention_enforced")
    assert events.count() == 1
    assert events.get().data == {
        "today": "2026-06-01",
        "purged": {ATTENDANCE: 5},
        "anonymized": {},
        "whole_enterprise_held": False,
    }
    assert events.get().actor_id is None  # the system


def test_the_run_works_through_every_batch(set_policy, enterprise, member, colleague):
    # given 11 records due, every other one (6) of a held member, in batches of 2
    today = date(2026, 6, 1)
    set_policy(ATTENDANCE, 30, PURGE)
    for days in range(40, 51):
        make_record(member if days % 2 else colleague, ATTENDANCE, created=today - timedelta(days))
    holds.place_hold(
        enterprise,
        member=colleague,
        reason="劳动仲裁",
        starts_on=date(2026, 1, 1),
        actor=_compliance(enterprise),
    )

    counts = run_on(enterprise, today, batch_size=2)

    assert counts["purged"] == {ATTENDANCE: 5}
    assert set(WorkRecord.objects.values_list("owner_id", flat=True)) == {colleague.pk}
    assert WorkRecord.objects.count() == 6


def _compliance(enterprise):
    """Another Compliance user of the enterprise."""
    return factories.StaffFactory(enterprise=enterprise, role=StaffRole.COMPLIANCE)


def test_restricted_records_are_left_to_the_erasure_request(set_policy, enterprise, member):
    today = date(2026, 6, 1)
    set_policy(ATTENDANCE, 30, PURGE)
    restricted = make_record(
        member, ATTENDANCE, created=today - timedelta(60), restricted_at=noon(today)
    )
    free = make_record(member, ATTENDANCE, created=today - timedelta(60))

    assert preview_on(enterprise, today)["purge"] == 1
    run_on(enterprise, today)

    assert exists(restricted) and not exists(free)


def test_the_run_finishes_restricted_erasures_at_the_end(set_policy, enterprise, compliance_user):
    calls = []

    def finish_restricted(enterprise, *, actor):
        calls.append((enterprise.pk, actor))
        return 3

    with mock.patch("compliance.erasure.finish_restricted", finish_restricted):
        counts = enforce_retention(enterprise, actor=compliance_user)
    assert calls == [(enterprise.pk, compliance_user)]
    assert counts["erasures_finished"] == 3


def test_the_run_leaves_other_enterprises_alone(set_policy, enterprise, member, other_enterprise):
    today = date(2026, 6, 1)
    set_policy(ATTENDANCE, 30, PURGE)
    stranger = factories.MemberFactory(enterprise=other_enterprise)
    theirs = make_record(stranger, ATTENDANCE, created=today - timedelta(60))

    run_on(enterprise, today)

    assert exists(theirs)


# ---------------------------------------------------------------------------------------------
# Legal holds beat retention


@pytest.fixture
def due_records(set_policy, member, colleague):
    """Attendance records of both members, past a 30-day purge policy on 1 June 2026."""
    set_policy(ATTENDANCE, 30, PURGE)
    created_at = noon(date(2026, 6, 1) - timedelta(60))
    return {
        member: records_of(member, 3, category=ATTENDANCE, created_at=created_at),
        colleague: records_of(colleague, 2, category=ATTENDANCE, created_at=created_at),
    }


def test_a_hold_on_a_member_keeps_their_records(
    due_records, enterprise, member, colleague, compliance_user
):
    # given a hold on the member
    with time_machine.travel(noon(date(2026, 5, 1)), tick=False):
        holds.place_hold(enterprise, member=member, reason="劳动仲裁取证", actor=compliance_user)

    # then the preview and the run leave the member's records, and purge the colleague's
    assert preview_on(enterprise, date(2026, 6, 1))["purge"] == 2
    counts = run_on(enterprise, date(2026, 6, 1))

    assert counts["purged"] == {ATTENDANCE: 2}
    assert all(exists(record) for record in due_records[member])
    assert not any(exists(record) for record in due_records[colleague])


def test_a_hold_on_the_whole_enterprise_keeps_everything(due_records, enterprise, compliance_user):
    with time_machine.travel(noon(date(2026, 5, 1)), tick=False):
        holds.place_hold(enterprise, reason="监管调查", actor=compliance_user)

    summary = preview_on(enterprise, date(2026, 6, 1))
    counts = run_on(enterprise, date(2026, 6, 1))

    assert summary["purge"] == 0 and summary["whole_enterprise_held"]
    assert counts["purged"] == {} and counts["whole_enterprise_held"]
    assert WorkRecord.objects.count() == 5
    assert audit_actions(enterprise)[-1] == "retention_enforced"


def test_a_hold_that_has_ended_or_not_started_does_not_keep_anything(
    due_records, enterprise, member, colleague, compliance_user
):
    with time_machine.travel(noon(date(2026, 1, 1)), tick=False):
        holds.place_hold(
            enterprise,
            member=member,
            reason="已结案",
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 5, 31),
            actor=compliance_user,
        )
        holds.place_hold(
            enterprise,
            member=colleague,
            reason="下月起",
            starts_on=date(2026, 6, 2),
            actor=compliance_user,
        )

    assert run_on(enterprise, date(2026, 6, 1))["purged"] == {ATTENDANCE: 5}


def test_releasing_a_hold_deletes_nothing_by_itself(
    due_records, enterprise, member, compliance_user
):
    # given a hold on the member, and a run that kept their records
    day = date(2026, 6, 1)
    with time_machine.travel(noon(day), tick=False):
        hold = holds.place_hold(enterprise, member=member, reason="取证", actor=compliance_user)
    run_on(enterprise, day)
    assert WorkRecord.objects.count() == 3

    # when the hold is released
    with time_machine.travel(noon(day), tick=False):
        holds.release_hold(hold, actor=compliance_user)

    # then every record is still there, until the next run decides again
    assert WorkRecord.objects.count() == 3
    assert audit_actions(enterprise)[-1] == "hold_released"
    assert run_on(enterprise, day)["purged"] == {ATTENDANCE: 3}


def test_a_hold_placed_after_the_first_batch_wins(
    due_records, enterprise, member, colleague, compliance_user
):
    # given a run in batches of one, and a hold on the member placed right after its first
    # batch has committed (the colleague's two records come first: they are older)
    WorkRecord.objects.filter(owner=colleague).update(created_at=noon(date(2026, 1, 1)))
    real_batch = retention._run_batch
    batches = []

    def batch_then_hold(*args, **kwargs):
        outcome = real_batch(*args, **kwargs)
        batches.append(outcome.done)
        if len(batches) == 1:
            holds.place_hold(enterprise, member=member, reason="仲裁中", actor=compliance_user)
        return outcome

    # when the run goes
    with mock.patch.object(retention, "_run_batch", batch_then_hold):
        counts = run_on(enterprise, date(2026, 6, 1), batch_size=1)

    # then the first batch purged one record; after the hold, no record of the member went
    assert batches[0] == 1
    assert counts["purged"] == {ATTENDANCE: 2}
    assert all(exists(record) for record in due_records[member])
    assert not any(exists(record) for record in due_records[colleague])


def test_a_hold_on_the_enterprise_placed_mid_run_stops_it(due_records, enterprise, compliance_user):
    real_batch = retention._run_batch
    batches = []

    def batch_then_hold(*args, **kwargs):
        outcome = real_batch(*args, **kwargs)
        batches.append(outcome)
        if len(batches) == 1:
            holds.place_hold(enterprise, reason="监管调查", actor=compliance_user)
        return outcome

    with mock.patch.object(retention, "_run_batch", batch_then_hold):
        counts = run_on(enterprise, date(2026, 6, 1), batch_size=1)

    assert counts["purged"] == {ATTENDANCE: 1}
    assert counts["whole_enterprise_held"]
    assert WorkRecord.objects.count() == 4


# ---------------------------------------------------------------------------------------------
# Set-based: the run's queries do not grow with the records of a batch


def _queries_of_a_run(enterprise, member, colleague, n: int, today: date) -> int:
    records_of(member, n, category=ATTENDANCE, created_at=noon(today - timedelta(60)))
    records_of(colleague, n, category=EXPENSE, created_at=noon(today - timedelta(60)))
    with time_machine.travel(noon(today), tick=False):
        with CaptureQueriesContext(connection) as queries:
            counts = enforce_retention(enterprise)
    assert counts["purged"] == {ATTENDANCE: n} and counts["anonymized"] == {EXPENSE: n}
    return len(queries)


def test_the_query_count_of_a_run_does_not_grow_with_the_records(
    set_policy, enterprise, member, colleague, compliance_user
):
    today = date(2026, 6, 1)
    set_policy(ATTENDANCE, 30, PURGE)
    set_policy(EXPENSE, 30, ANONYMIZE)
    holds.place_hold(
        enterprise,
        member=factories.MemberFactory(enterprise=enterprise),
        reason="取证",
        actor=compliance_user,
    )

    few = _queries_of_a_run(enterprise, member, colleague, 3, today)
    many = _queries_of_a_run(enterprise, member, colleague, 40, today)

    assert many == few


def test_the_preview_is_one_counting_query(set_policy, enterprise, member):
    set_policy(ATTENDANCE, 30, PURGE)
    set_policy(EXPENSE, 30, ANONYMIZE)
    set_policy(CHAT, 180, PURGE)
    records_of(member, 20, category=ATTENDANCE, created_at=noon(date(2020, 1, 1)))
    policies = list(RetentionPolicy.objects.all())

    with CaptureQueriesContext(connection) as queries:
        summary = preview(enterprise, policies=policies)

    assert summary["purge"] == 20
    # the holds, then one count
    assert len(queries) == 2


# ---------------------------------------------------------------------------------------------
# The admin: floors shown, refusals on the form, a preview before saving


def changelist_url():
    return reverse("admin:compliance_retentionpolicy_changelist")


def add_url():
    return reverse("admin:compliance_retentionpolicy_add")


def change_url(policy):
    return reverse("admin:compliance_retentionpolicy_change", args=[policy.pk])


@pytest.fixture
def compliance_client(client, compliance_user):
    client.force_login(compliance_user)
    return client


def test_the_changelist_shows_the_statutory_floors(compliance_client, set_policy):
    set_policy(CHAT, 365, PURGE)

    response = compliance_client.get(changelist_url())

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="retention-floors"' in page
    assert "Cybersecurity Law Art. 21" in page
    assert "Labor Contract Law Art. 50" in page
    assert "6 calendar months, and never fewer than 180 days" in page
    assert "while the member is employed, then 2 years after the last working day" in page


def test_the_form_explains_the_floors_beside_keep_at_least(compliance_client):
    response = compliance_client.get(add_url())

    form = response.context["adminform"].form
    assert "at least 180 days" in str(form.fields["keep_days"].help_text)
    assert "labour contracts and wage records are still kept 2 years" in str(
        form.fields["keep_days"].help_text
    )


def test_the_admin_refuses_a_policy_below_the_floor_beside_keep_at_least(
    compliance_client, enterprise
):
    response = compliance_client.post(
        add_url(),
        {"enterprise": enterprise.pk, "category": CHAT, "keep_days": 179, "action": PURGE},
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Cybersecurity Law Art. 21" in " ".join(errors["keep_days"])
    assert "preview-purge" not in response.content.decode()  # no confirmation for a refusal
    assert not RetentionPolicy.objects.exists()


def test_adding_a_policy_shows_what_it_would_purge_and_saves_only_when_confirmed(
    compliance_client, enterprise, member, colleague
):
    # given attendance records of 10 and 100 days ago, one of a held member
    today = date(2026, 6, 1)
    records_of(member, 4, category=ATTENDANCE, created_at=noon(today - timedelta(100)))
    records_of(member, 2, category=ATTENDANCE, created_at=noon(today - timedelta(10)))
    records_of(colleague, 3, category=ATTENDANCE, created_at=noon(today - timedelta(100)))
    holds.place_hold(
        enterprise,
        member=colleague,
        reason="取证",
        starts_on=date(2026, 1, 1),
        actor=_compliance(enterprise),
    )
    data = {"enterprise": enterprise.pk, "category": ATTENDANCE, "keep_days": 30, "action": PURGE}

    # when Compliance submits an attendance policy of 30 days, then purge
    with time_machine.travel(noon(today), tick=False):
        response = compliance_client.post(add_url(), data)

    # then the page says it would purge the member's 4 old records now, and nothing is saved
    assert response.status_code == 200
    assert response.context["proposed"]["purge"] == 4
    assert response.context["current"]["purge"] == 0
    assert 'id="preview-purge">4<' in response.content.decode()
    assert 'name="_confirmed"' in response.content.decode()
    assert not RetentionPolicy.objects.exists()
    assert WorkRecord.objects.count() == 9

    # when they confirm, then the policy is saved (and still nothing is purged by saving it)
    with time_machine.travel(noon(today), tick=False):
        response = compliance_client.post(add_url(), {**data, "_confirmed": "1", "_save": "1"})
    assert response.status_code == 302
    saved = RetentionPolicy.objects.get()
    assert (saved.category, saved.keep_days, saved.action) == (ATTENDANCE, 30, PURGE)
    assert saved.history.get().history_user.username == "compliance"
    assert audit_actions(enterprise)[-1] == "retention_policy_saved"
    assert WorkRecord.objects.count() == 9


def test_changing_a_policy_previews_the_change_and_saves_nothing_until_confirmed(
    compliance_client, set_policy, enterprise, member
):
    # given chats kept 400 days then purged, and chats of 200 and 300 days ago
    today = date(2026, 6, 1)
    policy = set_policy(CHAT, 400, PURGE)
    records_of(member, 2, category=CHAT, created_at=noon(today - timedelta(200)))
    records_of(member, 3, category=CHAT, created_at=noon(today - timedelta(300)))
    events = audit_actions(enterprise)

    # when Compliance shortens it to 250 days
    shorter = {"category": CHAT, "keep_days": 250, "action": PURGE}
    with time_machine.travel(noon(today), tick=False):
        response = compliance_client.post(change_url(policy), shorter)

    # then the page shows the 3 chats it would purge now (0 as saved), and nothing changed
    assert response.context["proposed"]["purge"] == 3
    assert response.context["current"]["purge"] == 0
    assert response.context["proposed"]["categories"] == [
        {
            "category": CHAT,
            "label": RecordCategory.CHAT.label,
            "keep_days": 250,
            "action": PURGE,
            "action_label": RetentionAction.PURGE.label,
            "count": 3,
        }
    ]
    assert RetentionPolicy.objects.get(pk=policy.pk).keep_days == 400
    assert RetentionPolicy.history.filter(id=policy.pk).count() == 1
    assert audit_actions(enterprise) == events

    # when they go back instead, nothing changes either; when they confirm, it is saved
    with time_machine.travel(noon(today), tick=False):
        response = compliance_client.post(
            change_url(policy),
            {
                "category": CHAT,
                "keep_days": 250,
                "action": PURGE,
                "_confirmed": "1",
                "_continue": "1",
            },
        )
    assert response.status_code == 302
    assert response.url == change_url(policy)
    assert RetentionPolicy.objects.get(pk=policy.pk).keep_days == 250
    assert audit_actions(enterprise)[-1] == "retention_policy_saved"
    assert WorkRecord.objects.count() == 5


def test_a_confirmed_post_below_the_floor_is_still_refused(
    compliance_client, set_policy, enterprise
):
    policy = set_policy(CHAT, 400, PURGE)

    response = compliance_client.post(
        change_url(policy),
        {"category": CHAT, "keep_days": 30, "action": PURGE, "_confirmed": "1"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["keep_days"]
    assert RetentionPolicy.objects.get(pk=policy.pk).keep_days == 400


def test_hr_cannot_change_policies_and_other_enterprises_do_not_see_them(
    client, set_policy, hr_user, other_compliance_user
):
    policy = set_policy(CHAT, 400, PURGE)

    client.force_login(hr_user)
    assert client.get(changelist_url()).status_code == 403
    assert client.post(
        change_url(policy), {"category": CHAT, "keep_days": 500, "action": PURGE}
    ).status_code in (302, 403)

    client.force_login(other_compliance_user)
    response = client.post(
        change_url(policy), {"category": CHAT, "keep_days": 500, "action": PURGE}
    )
    assert response.status_code == 302  # "not found", back to the list
    assert RetentionPolicy.objects.get(pk=policy.pk).keep_days == 400


def test_deleting_a_policy_in_the_admin_goes_through_the_door(
    compliance_client, set_policy, enterprise
):
    policy = set_policy(CHAT, 400, PURGE)
    url = reverse("admin:compliance_retentionpolicy_delete", args=[policy.pk])

    response = compliance_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not RetentionPolicy.objects.exists()
    assert audit_actions(enterprise)[-1] == "retention_policy_deleted"


# ---------------------------------------------------------------------------------------------
# PostgreSQL: a hold placed by another session while the run waits for the enterprise's lock

TIMEOUT = 10  # seconds; a deadlock fails the test instead of hanging it


def _waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _thread(name, call, errors):
    def target():
        try:
            call()
        except BaseException as error:  # reported by the test, never swallowed
            errors.append(error)
        finally:
            connection.close()

    return threading.Thread(target=target, name=name, daemon=True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgresql")
def test_a_hold_placed_while_the_run_waits_for_the_lock_wins(enterprise, member, colleague):
    # given 4 of the colleague's records (older) and 3 of the member's, due to be purged
    compliance_user = _compliance(enterprise)
    save_policy(
        RetentionPolicy(enterprise=enterprise, category=ATTENDANCE, keep_days=30, action=PURGE),
        actor=compliance_user,
    )
    today = holds.local_today(enterprise)
    records_of(colleague, 4, category=ATTENDANCE, created_at=noon(today - timedelta(90)))
    records_of(member, 3, category=ATTENDANCE, created_at=noon(today - timedelta(60)))

    real_lock = holds.lock_enterprise
    between_batches, hold_has_lock, release = (threading.Event() for _ in range(3))
    run_locks = []

    def lock(enterprise_id, **options):
        name = threading.current_thread().name
        if name == "run":
            run_locks.append(enterprise_id)
            if len(run_locks) == 3:  # before the third batch: two have committed
                between_batches.set()
                assert hold_has_lock.wait(TIMEOUT)
        locked = real_lock(enterprise_id, **options)
        if name == "hold":
            hold_has_lock.set()
            release.wait(TIMEOUT)
        return locked

    errors, outcome = [], {}

    def run():
        outcome.update(enforce_retention(enterprise, batch_size=2))

    def place():
        holds.place_hold(enterprise, member=member, reason="仲裁", actor=compliance_user)

    with mock.patch.object(holds, "lock_enterprise", lock):
        run_thread = _thread("run", run, errors)
        hold_thread = _thread("hold", place, errors)
        run_thread.start()
        try:
            assert between_batches.wait(TIMEOUT), errors
            hold_thread.start()  # takes the enterprise's lock and keeps it …
            assert hold_has_lock.wait(TIMEOUT), errors
            deadline = time.monotonic() + TIMEOUT
            while _waiting_for_a_lock() == 0:  # … while the run's next batch waits for it
                assert time.monotonic() < deadline, "the run never waited for the lock"
                time.sleep(0.01)
        finally:
            release.set()
            run_thread.join(TIMEOUT)
            hold_thread.join(TIMEOUT)

    assert not run_thread.is_alive() and not hold_thread.is_alive(), "a thread hung"
    assert errors == []
    # then the two batches before the hold purged the colleague's 4 records, and the member's 3
    # (reached after the hold) are kept
    assert outcome["purged"] == {ATTENDANCE: 4}
    assert WorkRecord.objects.filter(owner=member).count() == 3
    assert not WorkRecord.objects.filter(owner=colleague).exists()
    assert LegalHold.objects.filter(member=member).exists()


def test_the_changelist_queries_do_not_grow_with_policies(compliance_client, set_policy):
    def queries_of_the_list():
        with CaptureQueriesContext(connection) as queries:
            assert compliance_client.get(changelist_url()).status_code == 200
        return len(queries)

    set_policy(CHAT, 365, PURGE)
    few = queries_of_the_list()
    for category in (FILE, APPROVAL, ATTENDANCE, EXPENSE, ""):
        set_policy(category, 400, ANONYMIZE)

    assert queries_of_the_list() == few
