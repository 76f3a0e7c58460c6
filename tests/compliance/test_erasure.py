"""Erasure requests (数据删除权, C-5): a departed member's request is erased in the enterprise's
mode (the whole account, chosen categories, or a level), is restricted while a legal hold or a
statutory floor stands and finished by the retention run once it lifts, destroys the member's
key (crypto-shredding) while the audit chain still verifies, refuses bad input changing nothing,
and is due one calendar month after it is received — with overdue requests highlighted in the
admin, which Compliance uses behind the tenant wall."""

import threading
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance import audit, crypto, erasure, holds, sealing
from compliance.choices import DocumentType, ErasureLevel, ErasureState, RecordCategory
from compliance.exceptions import ComplianceRefused
from compliance.models import AuditEvent, ErasureRequest, MemberDataKey, RecordExport, WorkRecord
from directory import services as directory_services
from directory.choices import ErasureMode, MemberStatus
from directory.models import Enterprise, Member
from tests import factories
from tests.compliance.conftest import records_of

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A fixed "now" for the tests that count days: 10 March 2025, 10:00 in Shanghai.
MARCH_10 = datetime(2025, 3, 10, 10, 0, tzinfo=SHANGHAI)

# Categories no statutory floor keeps (chat is kept ≥ 6 months; contracts and wages 2 years).
UNFLOORED = (RecordCategory.ATTENDANCE, RecordCategory.EXPENSE, RecordCategory.APPROVAL)


# ---------------------------------------------------------------------------------------------
# Helpers


def use_mode(enterprise, mode: str) -> Enterprise:
    Enterprise.objects.filter(pk=enterprise.pk).update(erasure_mode=mode)
    enterprise.refresh_from_db()
    return enterprise


def fresh(erasure_request) -> ErasureRequest:
    return ErasureRequest.objects.get(pk=erasure_request.pk)


def key_destroyed(member) -> bool:
    row = MemberDataKey.objects.filter(member=member).first()
    return row is not None and row.wrapped_key is None


def chains_whole() -> bool:
    return all(check.whole for check in audit.verify())


def actions_of(member) -> list[str]:
    return list(
        AuditEvent.objects.filter(member_id=member.pk)
        .order_by("seq")
        .values_list("action", flat=True)
    )


def state_of_everything(member) -> dict:
    """What a refused door must leave as it was."""
    return {
        "requests": list(
            ErasureRequest.objects.filter(member=member).values_list("pk", "state", "blockers")
        ),
        "request_history": ErasureRequest.history.filter(member_id=member.pk).count(),
        "records": list(
            WorkRecord.objects.order_by("pk").values_list(
                "pk", "owner_id", "content", "sealed_content", "restricted_at"
            )
        ),
        "key": list(MemberDataKey.objects.filter(member=member).values_list("wrapped_key")),
        "events": AuditEvent.objects.count(),
        "name": Member.objects.get(pk=member.pk).name,
    }


@pytest.fixture
def departed(member, hr_user):
    """The member, departed (what completing their exit does to them)."""
    directory_services.change_status(member, actor=hr_user, status=MemberStatus.DEPARTED)
    member.refresh_from_db()
    return member


@pytest.fixture
def unfloored_records(departed):
    """Two records of each category no floor keeps, sealed like a departed member's."""
    for category in UNFLOORED:
        records_of(departed, 2, category=category)
    sealing.seal_member_records(departed, actor=None)
    return WorkRecord.objects.filter(owner=departed)


# ---------------------------------------------------------------------------------------------
# Each mode erases what it should


def test_account_mode_erases_every_record_the_key_and_the_name(
    departed, unfloored_records, compliance_user
):
    # given a WeCom enterprise and a departed member with sealed records
    use_mode(departed.enterprise, ErasureMode.ACCOUNT)
    user = get_user_model().objects.get(pk=departed.user_id)
    get_user_model().objects.filter(pk=user.pk).update(first_name="伟", last_name="张")
    request = erasure.receive(departed, actor=compliance_user)

    # when Compliance evaluates the request and nothing blocks it
    request = erasure.evaluate(request, actor=compliance_user)

    # then it is erased: every record, the data key, the name (history too), the login's details
    assert request.state == ErasureState.ERASED
    assert request.erased_count == 6
    assert not WorkRecord.objects.filter(owner=departed).exists()
    assert key_destroyed(departed)
    placeholder = f"已删除用户 #{departed.pk}"
    assert Member.objects.get(pk=departed.pk).name == placeholder
    assert set(Member.history.filter(id=departed.pk).values_list("name", flat=True)) == {
        placeholder
    }
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.email) == ("", "", "")
    # …each step is in the request's history and the audit trail, which still verifies
    assert list(
        ErasureRequest.history.filter(id=request.pk)
        .order_by("history_id")
        .values_list("history_change_reason", flat=True)
    ) == ["receive", "evaluate", "erase"]
    assert actions_of(departed)[-3:] == ["erasure_received", "erasure_evaluated", "erasure_erased"]
    assert chains_whole()


def test_modules_mode_erases_only_the_chosen_categories(
    departed, unfloored_records, compliance_user
):
    # given a DingTalk enterprise; the member asks to erase their attendance and expenses
    use_mode(departed.enterprise, ErasureMode.MODULES)
    request = erasure.receive(
        departed,
        actor=compliance_user,
        categories=[RecordCategory.EXPENSE, RecordCategory.ATTENDANCE],
    )
    assert request.categories == [RecordCategory.ATTENDANCE, RecordCategory.EXPENSE]

    # when it is evaluated
    request = erasure.evaluate(request, actor=compliance_user)

    # then those categories are gone; the approval records stay, sealed and still readable
    assert request.state == ErasureState.ERASED
    assert request.erased_count == 4
    left = list(WorkRecord.objects.filter(owner=departed))
    assert {record.category for record in left} == {RecordCategory.APPROVAL}
    assert not key_destroyed(departed)
    assert "工作记录内容" in sealing.read_sealed(left[0], actor=compliance_user)
    # …and the member's name is theirs still: only the account mode erases it
    assert Member.objects.get(pk=departed.pk).name == "张伟"


def test_modules_mode_destroys_the_key_once_nothing_of_the_member_remains(
    departed, unfloored_records, compliance_user
):
    use_mode(departed.enterprise, ErasureMode.MODULES)
    request = erasure.receive(departed, actor=compliance_user, categories=list(UNFLOORED))

    request = erasure.evaluate(request, actor=compliance_user)

    assert request.erased_count == 6
    assert not WorkRecord.objects.filter(owner=departed).exists()
    assert key_destroyed(departed)


def test_level_anonymize_keeps_the_records_without_their_owner_or_content(
    departed, unfloored_records, compliance_user
):
    use_mode(departed.enterprise, ErasureMode.LEVELS)
    ids = list(unfloored_records.values_list("pk", flat=True))
    request = erasure.receive(departed, actor=compliance_user, level=ErasureLevel.ANONYMIZE)

    request = erasure.evaluate(request, actor=compliance_user)

    assert request.state == ErasureState.ERASED
    rows = WorkRecord.objects.filter(pk__in=ids)
    assert rows.count() == 6  # kept, for the enterprise's statistics
    for record in rows:
        assert record.owner_id is None
        assert record.owner_pseudonym == ""
        assert record.content == ""
        assert record.sealed_content is None
        assert record.anonymized_at is not None
    assert key_destroyed(departed)


def test_level_pseudonymize_keeps_one_person_s_records_linkable(
    departed, unfloored_records, compliance_user
):
    use_mode(departed.enterprise, ErasureMode.LEVELS)
    ids = list(unfloored_records.values_list("pk", flat=True))
    request = erasure.receive(departed, actor=compliance_user, level=ErasureLevel.PSEUDONYMIZE)

    erasure.evaluate(request, actor=compliance_user)

    rows = WorkRecord.objects.filter(pk__in=ids)
    assert set(rows.values_list("owner_id", "content", "sealed_content")) == {(None, "", None)}
    # one pseudonym for all of them, which names nobody without the secret key
    pseudonyms = set(rows.values_list("owner_pseudonym", flat=True))
    assert pseudonyms == {erasure.pseudonym(departed.pk)}
    assert len(pseudonyms.pop()) == 16
    assert erasure.pseudonym(departed.pk) != erasure.pseudonym(departed.pk + 1)
    # pseudonymous data is still personal data: its key is not shredded
    assert not key_destroyed(departed)


def test_a_later_deletion_reaches_the_pseudonymized_records(
    departed, unfloored_records, compliance_user
):
    # given records pseudonymized by an earlier request
    use_mode(departed.enterprise, ErasureMode.LEVELS)
    first = erasure.receive(departed, actor=compliance_user, level=ErasureLevel.PSEUDONYMIZE)
    erasure.evaluate(first, actor=compliance_user)

    # when the member then asks for deletion
    second = erasure.receive(departed, actor=compliance_user, level=ErasureLevel.DELETE)
    second = erasure.evaluate(second, actor=compliance_user)

    # then the pseudonymized records are deleted too
    assert second.erased_count == 6
    assert not WorkRecord.objects.filter(owner_pseudonym=erasure.pseudonym(departed.pk)).exists()


def test_level_delete_deletes_the_rows_and_the_key(departed, unfloored_records, compliance_user):
    use_mode(departed.enterprise, ErasureMode.LEVELS)
    request = erasure.receive(departed, actor=compliance_user, level=ErasureLevel.DELETE)

    request = erasure.evaluate(request, actor=compliance_user)

    assert request.erased_count == 6
    assert not WorkRecord.objects.filter(enterprise=departed.enterprise).exists()
    assert key_destroyed(departed)


def test_a_member_who_left_through_the_exit_workflow_is_erased(
    member, completed_exit, compliance_user
):
    # given a member who left the enterprise by completing their exit
    records_of(member, 3, category=RecordCategory.EXPENSE)
    exit_case = completed_exit(member)
    member.refresh_from_db()
    assert member.status == MemberStatus.DEPARTED

    # while the exit can still be undone, a request is refused: an undo would bring back a
    # member whose data is gone
    with pytest.raises(ComplianceRefused, match="can still be undone until") as refused:
        erasure.receive(member, actor=compliance_user)
    assert refused.value.field == "member"
    assert not ErasureRequest.objects.exists()

    # when, after the undo window, their request is received and evaluated
    with time_machine.travel(exit_case.undo_deadline + timedelta(minutes=1), tick=False):
        request = erasure.evaluate(
            erasure.receive(member, actor=compliance_user), actor=compliance_user
        )

    # then their records are gone
    assert request.state == ErasureState.ERASED
    assert request.erased_count == 3


# ---------------------------------------------------------------------------------------------
# Restricted by a floor or a hold, finished when it lifts


def test_a_floor_restricts_the_request_until_the_retention_run_after_it(departed, compliance_user):
    with time_machine.travel(MARCH_10, tick=False):
        # given recent chat messages (kept ≥ 6 months) and expenses of the departed member
        chats = records_of(departed, 2, category=RecordCategory.CHAT)
        records_of(departed, 1, category=RecordCategory.EXPENSE)
        chat_contents = {chat.content for chat in chats}
        request = erasure.receive(departed, actor=compliance_user)

        # when the request is evaluated
        request = erasure.evaluate(request, actor=compliance_user)

        # then it is restricted: the floor is named, what it keeps is marked and kept as it was,
        # and what no floor keeps (the expense) is erased at once
        assert request.state == ErasureState.RESTRICTED
        assert [blocker["code"] for blocker in request.blockers] == [erasure.RETENTION_FLOOR]
        floor = request.blockers[0]
        assert floor["count"] == 2
        assert floor["until"] == "2025-09-10"
        assert "Cybersecurity Law Art. 21" in floor["message"]
        assert not WorkRecord.objects.filter(restricted_at__isnull=True).exists()
        assert set(WorkRecord.objects.values_list("content", flat=True)) == chat_contents
        assert request.erased_count == 1
        assert not key_destroyed(departed)
        assert actions_of(departed)[-1] == "erasure_restricted"
        event = AuditEvent.objects.filter(member_id=departed.pk).order_by("-seq").first()
        assert event.data["erased"] == 1
        assert event.data["kept"][0]["until"] == "2025-09-10"

    # when the retention run comes on the floor's last day, nothing changes yet
    with time_machine.travel(datetime(2025, 9, 10, 23, 0, tzinfo=SHANGHAI), tick=False):
        assert erasure.finish_restricted(departed.enterprise) == 0
        assert fresh(request).state == ErasureState.RESTRICTED

    # …and the day after, it finishes the request
    with time_machine.travel(datetime(2025, 9, 11, 1, 0, tzinfo=SHANGHAI), tick=False):
        assert erasure.finish_restricted(departed.enterprise) == 1

    request = fresh(request)
    assert request.state == ErasureState.ERASED
    assert request.blockers == []
    assert request.erased_count == 3
    assert not WorkRecord.objects.filter(pk__in=[chat.pk for chat in chats]).exists()
    assert key_destroyed(departed)
    assert chains_whole()


@pytest.fixture
def leaves_on(completed_exit):
    """The member leaves through the exit workflow on `last_working_day` (their exit completed two
    weeks before it): the end of their employment."""

    def leaves_on(member, last_working_day: date, **fields):
        with time_machine.travel(noon(last_working_day - timedelta(14)), tick=False):
            exit_case = completed_exit(member, last_working_day=last_working_day, **fields)
        member.refresh_from_db()
        return exit_case

    return leaves_on


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)


def test_a_labour_contract_floor_restricts_the_request_two_years_after_the_last_working_day(
    member, leaves_on, compliance_user
):
    # given a member who left on 10 March 2025, and their labour contract of 2019
    records_of(
        member,
        1,
        category=RecordCategory.FILE,
        document_type=DocumentType.LABOUR_CONTRACT,
        created_at=noon(date(2019, 3, 1)),
    )
    leaves_on(member, date(2025, 3, 10))

    with time_machine.travel(noon(date(2025, 4, 1)), tick=False):
        request = erasure.evaluate(
            erasure.receive(member, actor=compliance_user), actor=compliance_user
        )

    # then the request is restricted until two years after the last working day
    assert request.state == ErasureState.RESTRICTED
    assert request.blockers[0]["until"] == "2027-03-10"
    assert "Labor Contract Law Art. 50" in request.blockers[0]["message"]
    assert "after the employment ends" in request.blockers[0]["message"]


def test_a_member_marked_departed_without_an_exit_keeps_their_contract_without_a_last_day(
    departed, compliance_user
):
    # given a member departed without a completed exit (no last working day recorded), and a
    # labour contract of theirs made five years ago
    records_of(
        departed,
        1,
        category=RecordCategory.FILE,
        document_type=DocumentType.LABOUR_CONTRACT,
        created_at=timezone.now() - timedelta(days=5 * 366),
    )

    request = erasure.evaluate(
        erasure.receive(departed, actor=compliance_user), actor=compliance_user
    )

    # then the floor keeps it, and says that it has not started counting
    assert request.state == ErasureState.RESTRICTED
    assert request.blockers[0]["until"] is None
    assert "which no completed exit records yet" in request.blockers[0]["message"]


# Each kind of floor: what it keeps, the member's last working day, when the record was made, and
# the floor's last kept day (chats from their creation, contracts and wages from the last day).
FLOOR_CASES = [
    pytest.param(
        RecordCategory.CHAT, "", date(2024, 3, 15), date(2024, 3, 1), date(2024, 9, 1), id="chat"
    ),
    pytest.param(
        RecordCategory.FILE,
        DocumentType.LABOUR_CONTRACT,
        date(2024, 3, 15),
        date(2021, 3, 15),
        date(2026, 3, 15),
        id="labour-contract",
    ),
    pytest.param(
        RecordCategory.FILE,
        DocumentType.WAGE_RECORD,
        date(2023, 6, 1),
        date(2020, 6, 1),
        date(2025, 6, 1),
        id="wage-record",
    ),
]


@pytest.mark.parametrize(
    ("category", "document_type", "last_working_day", "created", "last_kept_day"), FLOOR_CASES
)
def test_each_floor_blocks_the_erasure_through_its_last_day(
    member,
    leaves_on,
    compliance_user,
    category,
    document_type,
    last_working_day,
    created,
    last_kept_day,
):
    # given a member who left, their record of the floor, and their request
    records_of(member, 1, category=category, document_type=document_type, created_at=noon(created))
    leaves_on(member, last_working_day)
    with time_machine.travel(noon(last_kept_day - timedelta(1)), tick=False):
        request = erasure.receive(member, actor=compliance_user)

    # then the floor blocks it on the day before its last day and on that day …
    for day in (last_kept_day - timedelta(1), last_kept_day):
        found = erasure.blockers(request, today=day)
        assert [(b["code"], b["until"]) for b in found] == [
            (erasure.RETENTION_FLOOR, last_kept_day.isoformat())
        ], day
    # … and no more the day after
    assert erasure.blockers(request, today=last_kept_day + timedelta(1)) == []

    # and so do the doors: evaluated on the last day it is restricted, the retention run's
    # finishing on the day after erases it
    with time_machine.travel(noon(last_kept_day), tick=False):
        assert erasure.evaluate(request, actor=compliance_user).state == ErasureState.RESTRICTED
        assert erasure.finish_restricted(member.enterprise) == 0
    with time_machine.travel(noon(last_kept_day + timedelta(1)), tick=False):
        assert erasure.finish_restricted(member.enterprise) == 1
    assert fresh(request).state == ErasureState.ERASED
    assert not WorkRecord.objects.filter(owner=member).exists()


def test_a_hold_restricts_the_request_until_it_is_released(
    departed, unfloored_records, compliance_user
):
    # given a legal hold on the departed member
    hold = holds.place_hold(
        departed.enterprise, member=departed, reason="劳动仲裁案件证据保全", actor=compliance_user
    )
    request = erasure.receive(departed, actor=compliance_user)

    # when the request is evaluated
    request = erasure.evaluate(request, actor=compliance_user)

    # then it is restricted by the hold: the records are marked, stored and protected only
    assert request.state == ErasureState.RESTRICTED
    assert [blocker["code"] for blocker in request.blockers] == [erasure.LEGAL_HOLD]
    assert "legal hold on this member" in request.blockers[0]["message"]
    assert unfloored_records.count() == 6
    assert not unfloored_records.filter(restricted_at__isnull=True).exists()
    assert all(record.is_sealed for record in unfloored_records)

    # …a retention run while the hold stands leaves it restricted
    assert erasure.finish_restricted(departed.enterprise) == 0
    assert fresh(request).state == ErasureState.RESTRICTED

    # when the hold is released, nothing is erased by that alone…
    holds.release_hold(hold, actor=compliance_user)
    assert fresh(request).state == ErasureState.RESTRICTED
    assert WorkRecord.objects.filter(owner=departed).count() == 6

    # …the next retention run finishes the request
    assert erasure.finish_restricted(departed.enterprise) == 1
    request = fresh(request)
    assert request.state == ErasureState.ERASED
    assert not WorkRecord.objects.filter(owner=departed).exists()
    assert actions_of(departed)[-1] == "erasure_erased"


def test_a_hold_on_the_whole_enterprise_restricts_too(departed, unfloored_records, compliance_user):
    holds.place_hold(departed.enterprise, reason="监管调查", actor=compliance_user)

    request = erasure.evaluate(
        erasure.receive(departed, actor=compliance_user), actor=compliance_user
    )

    assert request.state == ErasureState.RESTRICTED
    assert request.blockers[0]["whole_enterprise"] is True
    assert "whole enterprise" in request.blockers[0]["message"]


def test_a_retention_run_twice_over_a_standing_blocker_changes_nothing_more(
    departed, unfloored_records, compliance_user
):
    # given a request restricted by a hold that still stands
    holds.place_hold(departed.enterprise, member=departed, reason="诉讼", actor=compliance_user)
    request = erasure.evaluate(
        erasure.receive(departed, actor=compliance_user), actor=compliance_user
    )
    before = state_of_everything(departed)

    # when the retention run comes twice
    assert erasure.finish_restricted(departed.enterprise) == 0
    assert erasure.finish_restricted(departed.enterprise) == 0

    # then nothing changed: no history row, no audit event, no record
    assert state_of_everything(departed) == before
    assert fresh(request).state == ErasureState.RESTRICTED


def test_a_blocker_that_changes_is_brought_up_to_date(departed, compliance_user):
    # given a request restricted by a hold and by recent chats
    with time_machine.travel(MARCH_10, tick=False):
        records_of(departed, 1, category=RecordCategory.CHAT)
        hold = holds.place_hold(
            departed.enterprise, member=departed, reason="诉讼", actor=compliance_user
        )
        request = erasure.evaluate(
            erasure.receive(departed, actor=compliance_user), actor=compliance_user
        )
        assert [b["code"] for b in request.blockers] == [
            erasure.LEGAL_HOLD,
            erasure.RETENTION_FLOOR,
        ]

        # when the hold is released and the retention run comes while the floor stands
        holds.release_hold(hold, actor=compliance_user)
        assert erasure.finish_restricted(departed.enterprise) == 0

    # then the request is still restricted, by the floor alone now
    request = fresh(request)
    assert request.state == ErasureState.RESTRICTED
    assert [b["code"] for b in request.blockers] == [erasure.RETENTION_FLOOR]
    assert actions_of(departed)[-1] == "erasure_still_restricted"


# ---------------------------------------------------------------------------------------------
# Crypto-shredding


def test_after_crypto_shredding_nothing_sealed_can_be_read_and_the_chain_verifies(
    departed, compliance_user
):
    # given a departed member's sealed records, and audit events holding their personal data
    records_of(departed, 3, category=RecordCategory.EXPENSE)
    sealing.seal_member_records(departed, actor=None)
    record = WorkRecord.objects.filter(owner=departed).first()
    backup = WorkRecord(  # the record as a backup taken before the erasure holds it
        pk=record.pk,
        enterprise_id=record.enterprise_id,
        owner_id=record.owner_id,
        category=record.category,
        sealed_content=bytes(record.sealed_content),
    )
    assert "工作记录内容" in sealing.read_sealed(backup, actor=compliance_user)
    hold = holds.place_hold(
        departed.enterprise, member=departed, reason="张伟的劳动仲裁", actor=compliance_user
    )
    hold_event = AuditEvent.objects.get(action="hold_placed", member_id=departed.pk)
    assert audit.personal_data(hold_event) == {"reason": "张伟的劳动仲裁"}
    holds.release_hold(hold, actor=compliance_user)

    # when the request is erased (its key destroyed)
    request = erasure.evaluate(
        erasure.receive(departed, actor=compliance_user), actor=compliance_user
    )
    assert request.state == ErasureState.ERASED

    # then the key is gone: the backup's ciphertext cannot be decrypted…
    with pytest.raises(crypto.KeyDestroyed):
        crypto.data_key(departed.pk, create=False)
    with pytest.raises(ComplianceRefused, match="key was destroyed"):
        sealing.read_sealed(backup, actor=compliance_user)
    # …the personal data of the member's earlier audit events is unreadable…
    assert audit.personal_data(AuditEvent.objects.get(pk=hold_event.pk)) is None
    # …and every chain is still whole
    assert chains_whole()
    # …and nothing is sealed for the member again
    records_of(departed, 1, category=RecordCategory.EXPENSE)
    assert sealing.seal_member_records(departed, actor=None) == 0


# ---------------------------------------------------------------------------------------------
# Erasing a held member is refused, changing nothing


def test_erasing_a_held_member_now_is_refused_and_changes_nothing(
    departed, unfloored_records, compliance_user
):
    # given a received request of a member under a legal hold
    holds.place_hold(departed.enterprise, member=departed, reason="证据保全", actor=compliance_user)
    request = erasure.receive(departed, actor=compliance_user)
    before = state_of_everything(departed)

    # when Compliance tries to erase now
    with pytest.raises(ComplianceRefused) as refused:
        erasure.erase_now(request, actor=compliance_user)

    # then the message says why, and nothing changed
    assert "张伟 is under a legal hold" in str(refused.value)
    assert state_of_everything(departed) == before
    assert fresh(request).state == ErasureState.RECEIVED

    # …the same once the request is restricted
    request = erasure.evaluate(request, actor=compliance_user)
    before = state_of_everything(departed)
    with pytest.raises(ComplianceRefused, match="under a legal hold"):
        erasure.erase_now(request, actor=compliance_user)
    assert state_of_everything(departed) == before


def test_erasing_now_within_a_floor_is_refused_naming_the_floor(departed, compliance_user):
    records_of(departed, 1, category=RecordCategory.CHAT)
    request = erasure.receive(departed, actor=compliance_user)
    before = state_of_everything(departed)

    with pytest.raises(ComplianceRefused, match="statutory retention floor"):
        erasure.erase_now(request, actor=compliance_user)

    assert state_of_everything(departed) == before


def test_erasing_a_restricted_request_now_once_the_hold_is_released(
    departed, unfloored_records, compliance_user
):
    hold = holds.place_hold(
        departed.enterprise, member=departed, reason="证据保全", actor=compliance_user
    )
    request = erasure.evaluate(
        erasure.receive(departed, actor=compliance_user), actor=compliance_user
    )
    holds.release_hold(hold, actor=compliance_user)

    request = erasure.erase_now(request, actor=compliance_user)

    assert request.state == ErasureState.ERASED
    assert request.erased_count == 6


# ---------------------------------------------------------------------------------------------
# Refusals


def test_a_member_who_has_not_left_cannot_ask(member, compliance_user):
    with pytest.raises(ComplianceRefused, match="has not left the enterprise") as refused:
        erasure.receive(member, actor=compliance_user)
    assert refused.value.field == "member"
    assert not ErasureRequest.objects.exists()
    assert not AuditEvent.objects.filter(action="erasure_received").exists()


def test_only_compliance_of_the_enterprise_records_a_request(
    departed, hr_user, other_compliance_user
):
    for actor in (hr_user, other_compliance_user, None):
        with pytest.raises(ComplianceRefused, match="Only Compliance staff"):
            erasure.receive(departed, actor=actor)
    assert not ErasureRequest.objects.exists()


@pytest.mark.parametrize(
    ("mode", "arguments", "field", "message"),
    [
        (ErasureMode.MODULES, {}, "categories", "Choose the categories"),
        (ErasureMode.MODULES, {"categories": ["salary"]}, "categories", "salary is not a"),
        (ErasureMode.LEVELS, {}, "level", "Choose the erasure level"),
        (ErasureMode.LEVELS, {"level": "shred"}, "level", "Choose the erasure level"),
    ],
)
def test_a_request_without_what_the_mode_asks_for_is_refused(
    departed, compliance_user, mode, arguments, field, message
):
    use_mode(departed.enterprise, mode)
    with pytest.raises(ComplianceRefused, match=message) as refused:
        erasure.receive(departed, actor=compliance_user, **arguments)
    assert refused.value.field == field
    assert not ErasureRequest.objects.exists()


def test_a_second_open_request_is_refused(departed, compliance_user):
    first = erasure.receive(departed, actor=compliance_user)

    with pytest.raises(ComplianceRefused, match="already has an open erasure request"):
        erasure.receive(departed, actor=compliance_user)

    # …but once the first is refused, the member may ask again
    erasure.refuse(first, actor=compliance_user, reason="身份无法核实")
    assert erasure.receive(departed, actor=compliance_user).state == ErasureState.RECEIVED


def test_refusing_needs_a_reason_which_is_kept_and_sealed_in_the_trail(departed, compliance_user):
    request = erasure.receive(departed, actor=compliance_user)

    with pytest.raises(ComplianceRefused, match="Say why") as refused:
        erasure.refuse(request, actor=compliance_user, reason="  ")
    assert refused.value.field == "reason"
    assert fresh(request).state == ErasureState.RECEIVED

    request = erasure.refuse(request, actor=compliance_user, reason="身份无法核实")
    assert request.state == ErasureState.REFUSED
    assert request.refusal_reason == "身份无法核实"
    event = AuditEvent.objects.get(action="erasure_refused")
    assert event.data == {}
    assert audit.personal_data(event) == {"reason": "身份无法核实"}


def test_a_decided_request_is_not_decided_again(departed, unfloored_records, compliance_user):
    request = erasure.evaluate(
        erasure.receive(departed, actor=compliance_user), actor=compliance_user
    )
    before = state_of_everything(departed)

    with pytest.raises(ComplianceRefused, match="is Erased: it cannot be evaluated now"):
        erasure.evaluate(request, actor=compliance_user)
    with pytest.raises(ComplianceRefused, match="it cannot be refused now"):
        erasure.refuse(request, actor=compliance_user, reason="太晚了")
    with pytest.raises(ComplianceRefused, match="it cannot be erased now"):
        erasure.erase_now(request, actor=compliance_user)
    with pytest.raises(ComplianceRefused, match="Only Compliance staff"):
        erasure.erase_now(request, actor=None)

    assert state_of_everything(departed) == before


# ---------------------------------------------------------------------------------------------
# Due dates


@pytest.mark.parametrize(
    ("received", "due_on"),
    [
        (datetime(2025, 3, 10, 10, 0, tzinfo=SHANGHAI), date(2025, 4, 10)),
        # one calendar month from 31 January ends on the last day of February
        (datetime(2025, 1, 31, 9, 0, tzinfo=SHANGHAI), date(2025, 2, 28)),
        (datetime(2024, 1, 31, 9, 0, tzinfo=SHANGHAI), date(2024, 2, 29)),
        # 31 January 17:00 UTC is already 1 February in Shanghai, the enterprise's day
        (datetime(2025, 1, 31, 17, 0, tzinfo=ZoneInfo("UTC")), date(2025, 3, 1)),
    ],
)
def test_a_request_is_due_one_calendar_month_after_its_local_day(
    departed, compliance_user, received, due_on
):
    with time_machine.travel(received, tick=False):
        request = erasure.receive(departed, actor=compliance_user)
    assert request.due_on == due_on


def test_an_open_request_is_overdue_the_day_after_its_due_date(
    departed, unfloored_records, compliance_user
):
    with time_machine.travel(MARCH_10, tick=False):
        request = erasure.receive(departed, actor=compliance_user)
    open_requests = ErasureRequest.objects.all()

    # on its due date it is not overdue…
    with time_machine.travel(datetime(2025, 4, 10, 23, 30, tzinfo=SHANGHAI), tick=False):
        assert not erasure.is_overdue(fresh(request))
        assert not erasure.overdue(open_requests).exists()

    # …the day after, in the enterprise's time zone, it is
    with time_machine.travel(datetime(2025, 4, 11, 0, 30, tzinfo=SHANGHAI), tick=False):
        assert erasure.is_overdue(fresh(request))
        assert list(erasure.overdue(open_requests)) == [fresh(request)]
        # …until it is decided
        erasure.evaluate(request, actor=compliance_user)
        assert not erasure.is_overdue(fresh(request))
        assert not erasure.overdue(open_requests).exists()


# ---------------------------------------------------------------------------------------------
# The admin


def add_url():
    return reverse("admin:compliance_erasurerequest_add")


def changelist_url():
    return reverse("admin:compliance_erasurerequest_changelist")


def change_url(request):
    return reverse("admin:compliance_erasurerequest_change", args=[request.pk])


def action_url(action, request):
    return reverse(f"admin:compliance_erasurerequest_{action}", args=[request.pk])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def compliance_client(client, compliance_user):
    client.force_login(compliance_user)
    return client


def test_compliance_records_a_request_on_the_add_page(
    compliance_client, departed, unfloored_records
):
    # given a DingTalk enterprise: the add page says so and offers the categories as checkboxes
    use_mode(departed.enterprise, ErasureMode.MODULES)
    page = compliance_client.get(add_url())
    assert page.status_code == 200
    text = page.content.decode()
    assert "Chosen categories (DingTalk)" in text
    assert 'type="checkbox" name="categories" value="attendance"' in text
    assert 'name="level"' not in text

    # when Compliance records the member's request for their expenses
    response = compliance_client.post(
        add_url(), {"member": departed.pk, "categories": [RecordCategory.EXPENSE]}
    )

    # then the request is received, and its page opens with its due date
    request = ErasureRequest.objects.get()
    assert request.state == ErasureState.RECEIVED
    assert request.mode == ErasureMode.MODULES
    assert request.categories == [RecordCategory.EXPENSE]
    assert response.status_code == 302
    assert response.url == change_url(request)
    assert "is recorded; it is due on" in messages_of(response)[0]


def test_the_add_page_shows_the_door_s_refusal_beside_its_field(compliance_client, departed):
    use_mode(departed.enterprise, ErasureMode.MODULES)
    active = factories.MemberFactory(enterprise=departed.enterprise, name="李娜")

    # a member who has not left
    response = compliance_client.post(add_url(), {"member": active.pk, "categories": ["chat"]})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["member"] == [
        "李娜 has not left the enterprise: only a departed member's data is erased on request."
    ]

    # no category chosen
    response = compliance_client.post(add_url(), {"member": departed.pk})
    assert "Choose the categories" in response.context["adminform"].form.errors["categories"][0]
    assert not ErasureRequest.objects.exists()


def test_the_evaluate_button_asks_then_erases(
    compliance_client, compliance_user, departed, unfloored_records
):
    request = erasure.receive(departed, actor=compliance_user)

    # the change page offers Evaluate, Erase now and Refuse
    page = compliance_client.get(change_url(request))
    assert [button["name"] for button in page.context["action_buttons"]] == [
        erasure.EVALUATE,
        erasure.ERASE_NOW,
        erasure.REFUSE,
    ]
    assert action_url("evaluate", request) in page.content.decode()

    # GET asks, and changes nothing
    confirm = compliance_client.get(action_url("evaluate", request))
    assert confirm.status_code == 200
    assert "6 records are in the request’s scope." in confirm.content.decode()
    assert fresh(request).state == ErasureState.RECEIVED

    # POST does
    response = compliance_client.post(action_url("evaluate", request))
    assert response.status_code == 302
    assert fresh(request).state == ErasureState.ERASED
    assert "6 records were erased." in messages_of(response)[0]
    # …and an erased request offers no button
    assert compliance_client.get(change_url(request)).context["action_buttons"] == []


def test_the_evaluate_confirmation_shows_what_is_erased_and_what_is_kept(
    compliance_client, compliance_user, departed, unfloored_records
):
    request = erasure.receive(departed, actor=compliance_user)
    text = compliance_client.get(action_url("evaluate", request)).content.decode()
    assert (
        "Erased at once, for good (Delete): 6 records. Kept by the law, stored and protected "
        "only: 0 records." in text
    )
    assert 'id="erasure-preview"' in text
    assert 'id="erasure-preview-account"' in text  # the enterprise erases whole accounts
    assert fresh(request).state == ErasureState.RECEIVED
    # under a legal hold the same page says nothing would be erased
    holds.place_hold(departed.enterprise, member=departed, reason="证据保全", actor=compliance_user)
    text = compliance_client.get(action_url("evaluate", request)).content.decode()
    assert "A legal hold stands: nothing is erased." in text
    assert 'id="erasure-preview-account"' not in text
    assert fresh(request).state == ErasureState.RECEIVED
    assert unfloored_records.count() == 6


def test_a_restricted_request_shows_its_blockers_and_erase_now_is_refused(
    compliance_client, compliance_user, departed, unfloored_records
):
    holds.place_hold(departed.enterprise, member=departed, reason="证据保全", actor=compliance_user)
    request = erasure.evaluate(
        erasure.receive(departed, actor=compliance_user), actor=compliance_user
    )

    page = compliance_client.get(change_url(request))
    text = page.content.decode()
    assert 'id="erasure-blockers"' in text
    assert "A legal hold on this member stands since" in text
    assert [button["name"] for button in page.context["action_buttons"]] == [erasure.ERASE_NOW]

    before = state_of_everything(departed)
    response = compliance_client.post(action_url("erase_now", request))
    assert response.status_code == 302
    assert "张伟 is under a legal hold" in messages_of(response)[0]
    assert state_of_everything(departed) == before


def test_refusing_on_its_page_needs_a_reason(compliance_client, compliance_user, departed):
    request = erasure.receive(departed, actor=compliance_user)

    response = compliance_client.post(action_url("refuse", request), {"reason": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert fresh(request).state == ErasureState.RECEIVED

    response = compliance_client.post(action_url("refuse", request), {"reason": "身份无法核实"})
    assert response.status_code == 302
    assert fresh(request).state == ErasureState.REFUSED


def test_overdue_requests_are_highlighted_and_filtered(
    compliance_client, compliance_user, departed, enterprise
):
    with time_machine.travel(MARCH_10, tick=False):
        late = erasure.receive(departed, actor=compliance_user)
    other = factories.MemberFactory(enterprise=enterprise, status=MemberStatus.DEPARTED)
    on_time = erasure.receive(other, actor=compliance_user)

    page = compliance_client.get(changelist_url())
    text = page.content.decode()
    # the stylesheet is a file (CSP: no inline style), and only the late request is marked
    assert "compliance/admin.css" in text
    assert text.count('class="erasure-overdue"') == 1
    assert "overdue" in text

    overdue_only = compliance_client.get(changelist_url(), {"overdue": "yes"})
    assert list(overdue_only.context["cl"].result_list) == [late]
    not_overdue = compliance_client.get(changelist_url(), {"overdue": "no"})
    assert list(not_overdue.context["cl"].result_list) == [on_time]
    counted = compliance_client.get(changelist_url(), {"_facets": "True"})
    assert "Overdue (1)" in counted.content.decode()

    # …and the late request's own page says so too
    assert 'class="erasure-overdue"' in compliance_client.get(change_url(late)).content.decode()


def test_the_changelist_query_count_does_not_grow_with_rows(
    compliance_client, compliance_user, enterprise
):
    def requests(n):
        for _ in range(n):
            departed = factories.MemberFactory(enterprise=enterprise, status=MemberStatus.DEPARTED)
            erasure.receive(departed, actor=compliance_user)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert compliance_client.get(changelist_url()).status_code == 200
        return len(captured)

    requests(2)
    few = queries()
    requests(5)
    assert queries() == few


def test_another_enterprise_s_compliance_sees_nothing(
    client, other_compliance_user, compliance_user, departed
):
    request = erasure.receive(departed, actor=compliance_user)
    client.force_login(other_compliance_user)

    for action in erasure.ACTIONS:
        assert client.get(action_url(action, request)).status_code == 404
        assert client.post(action_url(action, request), {"reason": "x"}).status_code == 404
    page = client.get(change_url(request))
    assert page.status_code == 302 and page.url == reverse("admin:index")
    assert list(client.get(changelist_url()).context["cl"].result_list) == []
    # …and cannot record a request for a member of another enterprise
    response = client.post(add_url(), {"member": departed.pk, "level": "delete"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["member"]
    assert fresh(request).state == ErasureState.RECEIVED
    assert ErasureRequest.objects.count() == 1


def test_hr_reads_requests_but_presses_no_button(client, hr_user, compliance_user, departed):
    request = erasure.receive(departed, actor=compliance_user)
    client.force_login(hr_user)

    page = client.get(change_url(request))
    assert page.status_code == 200
    assert page.context["action_buttons"] == []
    assert client.post(action_url("evaluate", request)).status_code == 403
    assert fresh(request).state == ErasureState.RECEIVED


# ---------------------------------------------------------------------------------------------
# At the same moment (PostgreSQL: SQLite has no row locks to wait on)

TIMEOUT = 10  # seconds; a deadlock fails the test instead of hanging it


def _waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction the statistics are a snapshot taken once: take a new one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _in_a_thread(call) -> tuple[threading.Thread, dict]:
    outcome = {}

    def target():
        try:
            outcome["result"] = call()
        except ComplianceRefused as refused:
            outcome["refused"] = str(refused)
        except BaseException as error:  # reported by the test, never swallowed
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def _until_waiting(count: int) -> None:
    """Until `count` sessions wait for a lock (the threads have come to the locked row)."""
    deadline = time.monotonic() + TIMEOUT
    while _waiting_for_a_lock() < count:
        assert time.monotonic() < deadline, "the other threads never waited for the lock"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_a_hold_placed_while_an_erasure_waits_wins(
    postgresql, departed, unfloored_records, compliance_user
):
    request = erasure.receive(departed, actor=compliance_user)

    # given a hold being placed (its transaction holds the enterprise's lock)…
    with transaction.atomic():
        holds.place_hold(
            departed.enterprise, member=departed, reason="证据保全", actor=compliance_user
        )
        # …when the erasure is evaluated at that moment, it waits for the lock
        thread, outcome = _in_a_thread(lambda: erasure.evaluate(request, actor=compliance_user))
        _until_waiting(1)
    thread.join(TIMEOUT)

    # then it sees the hold once it goes on: restricted, nothing erased
    assert "error" not in outcome, outcome
    assert outcome["result"].state == ErasureState.RESTRICTED
    assert WorkRecord.objects.filter(owner=departed).count() == 6
    assert not key_destroyed(departed)


@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_erase_once(
    postgresql, departed, unfloored_records, compliance_user
):
    request = erasure.receive(departed, actor=compliance_user)

    # given two evaluations arriving while the enterprise is locked (a hold, a retention batch)
    with transaction.atomic():
        holds.lock_enterprise(departed.enterprise_id)
        first, first_outcome = _in_a_thread(
            lambda: erasure.evaluate(request, actor=compliance_user)
        )
        second, second_outcome = _in_a_thread(
            lambda: erasure.evaluate(request, actor=compliance_user)
        )
        _until_waiting(2)
    first.join(TIMEOUT)
    second.join(TIMEOUT)

    # then exactly one erased; the other was told the request is erased already
    outcomes = [first_outcome, second_outcome]
    assert not any("error" in outcome for outcome in outcomes), outcomes
    assert sorted("result" in outcome for outcome in outcomes) == [False, True]
    refused = next(outcome["refused"] for outcome in outcomes if "refused" in outcome)
    assert refused == "This erasure request is Erased: it cannot be evaluated now."
    assert AuditEvent.objects.filter(action="erasure_erased").count() == 1


# ---------------------------------------------------------------------------------------------
# Account mode reaches every free text about the member


def tables_holding(text: str) -> list[str]:
    """Every `table.column` of the database whose value holds `text` (each column read as text:
    history tables, logs, lockout records and the audit trail included: its personal data is
    sealed with the member's key, and a member who acted is named there by id only)."""
    found = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                cursor.execute(
                    f"SELECT COUNT(*) FROM {quote(table)} "
                    f"WHERE CAST({quote(column.name)} AS TEXT) LIKE %s",
                    [f"%{text}%"],
                )
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column.name}")
    return found


REASON = "家里有事想回老家发展，甲方乙方都知道"
REJECTED_REASON = "交接未完成，请补充说明家中情况"
COMMENT = "同意，祝张伟在老家一切顺利"
NOTE = "张伟的门禁卡已收回，电脑已归还"
HOLD_REASON = "劳动仲裁（张伟诉公司）证据保全"
FREEZE_REASON = "张伟的账号疑似被盗用"
TERMINATION_REASON = "合同到期不续签（张伟本人同意）"
REFUSAL = "张伟的请求在撤销期内提出"
LEGAL_BASIS = "张伟本人书面同意向新加坡子公司提供其工作记录"
CUSTOMER_REFUSAL = "客户表示只认张伟本人"


@pytest.fixture
def member_with_words(
    member,
    open_exit_for,
    ready_to_complete,
    hr_user,
    it_user,
    compliance_user,
):
    """A member whose words and whose colleagues' words about them are everywhere: a rejected
    exit, a completed one with its approval comment and checklist notes, a hold placed and
    released, a freeze and an HR termination of theirs, an admin log entry naming them, and a
    lockout record of their username."""
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from offboarding import services as offboarding_services
    from offboarding import workflow
    from offboarding.models import AccountFreeze, HRTermination, InheritanceBatch, InheritanceItem

    rejected = workflow.submit(open_exit_for(member, reason=REJECTED_REASON), actor=member.user)
    workflow.reject(rejected, actor=hr_user, reason=REJECTED_REASON)
    exit_case = workflow.submit(open_exit_for(member, reason=REASON), actor=member.user)
    while exit_case.state == "pending_approval":
        step = exit_case.approvals.filter(decision="pending").order_by("position").first()
        actor = step.assignee.user if step.assignee else hr_user
        exit_case = workflow.approve(exit_case, actor=actor, comment=COMMENT, step=step.position)
    staff = {"hr": hr_user, "it": it_user}
    for item in exit_case.checklist.filter(auto_check="", signed_off_at__isnull=True):
        offboarding_services.sign_off_item(item, actor=staff[item.team], note=NOTE)
    exit_case = ready_to_complete(exit_case)
    exit_case = workflow.complete(exit_case, actor=hr_user)
    hold = holds.place_hold(
        member.enterprise, member=member, reason=HOLD_REASON, actor=compliance_user
    )
    holds.release_hold(hold, actor=compliance_user)
    # A freeze (of an admin account, earlier) and a termination sent by the HR system, as their
    # doors store them.
    AccountFreeze.objects.create(
        enterprise=member.enterprise,
        member=member,
        reason=FREEZE_REASON,
        frozen_by=hr_user,
        before={"role": "admin", "is_backup_admin": False, "login_active": True},
        unfrozen_at=timezone.now(),
    )
    HRTermination.objects.create(
        enterprise=member.enterprise,
        external_id="HR-1",
        employee_number=member.employee_number,
        member=member,
        last_working_day=exit_case.last_working_day,
        reason=TERMINATION_REASON,
        source="api",
        state="failed",
        error=f"{member.name} already has an exit in progress.",
    )
    # A customer who declined the handover of one of their contacts, with the reason HR noted.
    batch = InheritanceBatch.objects.create(
        enterprise=member.enterprise, exit_case=exit_case, from_member=member, created_by=hr_user
    )
    InheritanceItem.objects.create(
        batch=batch,
        resource_type="external_contact",
        resource_id=1,
        successor=factories.MemberFactory(enterprise=member.enterprise),
        status="refused",
        refusal_reason=CUSTOMER_REFUSAL,
    )
    LogEntry.objects.create(
        user=hr_user,
        content_type=ContentType.objects.get_for_model(Member),
        object_id=str(member.pk),
        object_repr=str(Member.objects.get(pk=member.pk)),
        action_flag=CHANGE,
        change_message="[]",
    )
    from axes.models import AccessLog

    AccessLog.objects.create(
        username=member.user.username, ip_address="10.0.0.8", user_agent="test"
    )
    # An export of their records across regions, with the legal basis Compliance wrote.
    RecordExport.objects.create(
        enterprise=member.enterprise,
        member=member,
        format="csv",
        record_count=0,
        cross_border=True,
        legal_basis=LEGAL_BASIS,
        exported_by=compliance_user,
    )
    member.refresh_from_db()
    return exit_case


def test_account_mode_leaves_no_plaintext_of_the_member_in_any_table(
    member, member_with_words, compliance_user
):
    # given a WeCom enterprise and a departed member whose words are in many tables
    use_mode(member.enterprise, ErasureMode.ACCOUNT)
    user = get_user_model().objects.get(pk=member.user_id)
    words = [
        REASON,
        REJECTED_REASON,
        COMMENT,
        NOTE,
        HOLD_REASON,
        FREEZE_REASON,
        TERMINATION_REASON,
        REFUSAL,
        LEGAL_BASIS,
        "张伟",
        user.username,
        user.email,
    ]
    # an earlier request refused with a reason naming them
    with time_machine.travel(member_with_words.undo_deadline + timedelta(minutes=1), tick=False):
        erasure.refuse(
            erasure.receive(member, actor=compliance_user), actor=compliance_user, reason=REFUSAL
        )
        for text in words:
            assert tables_holding(text), text  # the test sees them

        # when their new request is evaluated and nothing blocks it
        request = erasure.evaluate(
            erasure.receive(member, actor=compliance_user), actor=compliance_user
        )

    # then it is erased, and none of the words is left in any table, history tables included
    assert request.state == ErasureState.ERASED
    for text in words:
        assert tables_holding(text) == [], text
    # the login is named by the member's pseudonym and can never be used again
    user.refresh_from_db()
    assert user.username == erasure.pseudonym(member.pk)
    assert not user.has_usable_password()
    assert not user.is_active
    # the texts are replaced, the rows stay (ids, dates, states)
    exit_case = member_with_words
    exit_case.refresh_from_db()
    assert exit_case.reason == erasure.ERASED_TEXT
    assert exit_case.state == "completed"
    assert set(exit_case.history.values_list("reason", flat=True)) == {erasure.ERASED_TEXT}
    assert chains_whole()


def test_account_mode_twice_over_a_standing_floor_changes_nothing_more(
    member, member_with_words, compliance_user
):
    # given a request restricted by a labour contract's floor, its free texts erased already
    use_mode(member.enterprise, ErasureMode.ACCOUNT)
    records_of(member, 1, category=RecordCategory.FILE, document_type=DocumentType.LABOUR_CONTRACT)
    with time_machine.travel(member_with_words.undo_deadline + timedelta(minutes=1), tick=False):
        request = erasure.evaluate(
            erasure.receive(member, actor=compliance_user), actor=compliance_user
        )
        assert request.state == ErasureState.RESTRICTED
        before = state_of_everything(member)
        member_history = Member.history.filter(id=member.pk).count()

        # when the retention run comes twice, then nothing changes
        assert erasure.finish_restricted(member.enterprise) == 0
        assert erasure.finish_restricted(member.enterprise) == 0
    assert state_of_everything(member) == before
    assert Member.history.filter(id=member.pk).count() == member_history


def test_a_floor_restricts_only_what_the_law_keeps_and_the_rest_of_the_account_goes(
    member, member_with_words, compliance_user, client
):
    # given a WeCom enterprise, a departed member with a labour contract and expenses
    use_mode(member.enterprise, ErasureMode.ACCOUNT)
    contract = records_of(
        member, 1, category=RecordCategory.FILE, document_type=DocumentType.LABOUR_CONTRACT
    )[0]
    records_of(member, 2, category=RecordCategory.EXPENSE)
    user = get_user_model().objects.get(pk=member.user_id)
    username = user.username

    # when their request is evaluated while the contract's floor stands
    with time_machine.travel(member_with_words.undo_deadline + timedelta(minutes=1), tick=False):
        request = erasure.evaluate(
            erasure.receive(member, actor=compliance_user), actor=compliance_user
        )

    # then it ends restricted, not erased: the contract is kept, stored and protected only …
    assert request.state == ErasureState.RESTRICTED
    assert list(WorkRecord.objects.filter(owner=member).values_list("pk", flat=True)) == [
        contract.pk
    ]
    assert WorkRecord.objects.get(pk=contract.pk).restricted_at is not None
    assert not key_destroyed(member)
    # … and everything else of the account is gone now: the expenses, the free texts, the name
    # and the username
    assert request.erased_count == 2
    for text in (REASON, COMMENT, NOTE, "张伟", username):
        assert tables_holding(text) == [], text
    # the audit event names what the law keeps
    event = AuditEvent.objects.filter(member_id=member.pk).order_by("-seq").first()
    assert event.action == "erasure_restricted"
    assert event.data["kept"] == [
        {
            "code": erasure.RETENTION_FLOOR,
            "category": "file",
            "document_type": "labour_contract",
            "count": 1,
            "until": (member_with_words.last_working_day + relativedelta(years=2)).isoformat(),
        }
    ]
    assert event.data["erased"] == 2 and event.data["account"] is True
    # and so does the request's page
    client.force_login(compliance_user)
    text = client.get(change_url(request)).content.decode()
    assert "Labor Contract Law Art. 50" in text
    assert "The law keeps only what is listed here" in text
    assert "2 records were erased already." in text
    assert "The member&#x27;s name, free texts and login were erased already" in text
    # and the audit trail's sealed copies of their words, under the key kept for the contract,
    # are never shown again: not on the events' pages, not through the reader
    worded = AuditEvent.objects.filter(member_id=member.pk, sealed_data__isnull=False)
    assert worded.filter(action__in=["exit_opened", "approval_step_approved"]).exists()
    for event in worded:
        with pytest.raises(audit.PersonalDataRestricted):
            audit.personal_data(event)
        page = client.get(reverse("admin:compliance_auditevent_change", args=[event.pk]))
        assert page.status_code == 200
        shown = page.content.decode()
        assert "Restricted: the member&#x27;s account was erased" in shown
        for words in (REASON, COMMENT, REJECTED_REASON):
            assert words not in shown, (event.action, words)


def test_a_hold_keeps_the_member_s_words_until_it_is_released(
    member, member_with_words, compliance_user
):
    # given a WeCom enterprise and a hold on the departed member
    use_mode(member.enterprise, ErasureMode.ACCOUNT)
    records_of(member, 1, category=RecordCategory.EXPENSE)
    with time_machine.travel(member_with_words.undo_deadline + timedelta(minutes=1), tick=False):
        hold = holds.place_hold(
            member.enterprise, member=member, reason="诉讼", actor=compliance_user
        )
        request = erasure.evaluate(
            erasure.receive(member, actor=compliance_user), actor=compliance_user
        )

        # then it is restricted and nothing is erased: the hold keeps everything of the member
        assert request.state == ErasureState.RESTRICTED
        assert tables_holding(REASON)
        assert "legal hold keeps everything" in erasure.restricted_summary(request)

        # when the hold is released, the next retention run erases it all
        holds.release_hold(hold, actor=compliance_user)
        assert erasure.finish_restricted(member.enterprise) == 1
    assert tables_holding(REASON) == []


def test_a_hold_released_while_a_floor_stands_erases_the_rest_at_the_next_run(
    member, member_with_words, compliance_user
):
    # given a WeCom enterprise, a departed member with a labour contract and an expense, and a
    # request restricted by a hold and the contract's floor
    use_mode(member.enterprise, ErasureMode.ACCOUNT)
    (contract,) = records_of(
        member, 1, category=RecordCategory.FILE, document_type=DocumentType.LABOUR_CONTRACT
    )
    records_of(member, 1, category=RecordCategory.EXPENSE)
    with time_machine.travel(member_with_words.undo_deadline + timedelta(minutes=1), tick=False):
        hold = holds.place_hold(
            member.enterprise, member=member, reason="诉讼", actor=compliance_user
        )
        request = erasure.evaluate(
            erasure.receive(member, actor=compliance_user), actor=compliance_user
        )
        assert [b["code"] for b in request.blockers] == [
            erasure.LEGAL_HOLD,
            erasure.RETENTION_FLOOR,
        ]
        assert tables_holding(REASON)

        # when the hold is released and the retention run comes while the floor stands
        holds.release_hold(hold, actor=compliance_user)
        assert erasure.finish_restricted(member.enterprise) == 0

    # then the request stays restricted by the floor alone, and everything else went: the
    # expense, the free texts, the name
    request = fresh(request)
    assert request.state == ErasureState.RESTRICTED
    assert [b["code"] for b in request.blockers] == [erasure.RETENTION_FLOOR]
    assert list(WorkRecord.objects.filter(owner=member).values_list("pk", flat=True)) == [
        contract.pk
    ]
    assert request.erased_count == 1
    for text in (REASON, COMMENT, NOTE, "张伟"):
        assert tables_holding(text) == [], text
    event = AuditEvent.objects.filter(member_id=member.pk).order_by("-seq").first()
    assert event.action == "erasure_still_restricted"
    assert (event.data["erased"], event.data["account"]) == (1, True)
