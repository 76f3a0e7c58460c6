"""Legal holds (C-4): placed and released only by Compliance staff of the enterprise, each with an
audit event; standing between their dates until released; and in the admin, placed from "Add"
(refusals beside the field), read-only afterwards, released from a confirmation page. Releasing
deletes nothing by itself. (That a hold beats the retention run, a hold placed mid-run included,
is in test_retention.py.)"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance import audit, holds
from compliance.choices import RecordCategory, RetentionAction
from compliance.exceptions import ComplianceRefused
from compliance.models import AuditEvent, LegalHold, RetentionPolicy, WorkRecord
from compliance.retention import save_policy
from directory.choices import StaffRole
from directory.permissions import grant_access
from tests import factories
from tests.compliance.conftest import records_of

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 6, 1)


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def on_1_june_2026():
    with time_machine.travel(noon(TODAY), tick=False):
        yield


def events_of(enterprise, action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(enterprise=enterprise, action=action).order_by("seq"))


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# ---------------------------------------------------------------------------------------------
# The doors


def test_placing_a_hold_on_a_member_is_recorded_with_its_reason_sealed(
    enterprise, member, compliance_user
):
    hold = holds.place_hold(
        enterprise, member=member, reason=" 劳动仲裁取证 ", actor=compliance_user
    )

    assert (hold.member, hold.reason, hold.starts_on, hold.ends_on) == (
        member,
        "劳动仲裁取证",
        TODAY,
        None,
    )
    assert hold.placed_by == compliance_user
    assert hold.history.get().history_user == compliance_user
    [event] = events_of(enterprise, "hold_placed")
    assert event.member_id == member.pk and event.actor_id == compliance_user.pk
    # the reason is about a person: sealed with their key, not in the plain data
    assert "reason" not in event.data
    assert audit.personal_data(event) == {"reason": "劳动仲裁取证"}
    assert audit.verify(enterprise.pk)[0].whole


def test_a_hold_on_the_whole_enterprise_keeps_its_reason_in_plain_data(enterprise, compliance_user):
    hold = holds.place_hold(
        enterprise, reason="监管调查", ends_on=date(2026, 12, 31), actor=compliance_user
    )

    assert hold.member is None
    [event] = events_of(enterprise, "hold_placed")
    assert event.data == {
        "whole_enterprise": True,
        "starts_on": "2026-06-01",
        "ends_on": "2026-12-31",
        "reason": "监管调查",
    }


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"reason": "  "}, "reason", "Say why"),
        (
            {"starts_on": date(2026, 6, 10), "ends_on": date(2026, 6, 9)},
            "ends_on",
            "cannot end before it starts",
        ),
    ],
)
def test_a_hold_without_a_reason_or_ending_before_it_starts_is_refused(
    enterprise, member, compliance_user, fields, field, words
):
    fields = {"reason": "取证", **fields}
    with pytest.raises(ComplianceRefused) as refused:
        holds.place_hold(enterprise, member=member, actor=compliance_user, **fields)

    assert refused.value.field == field
    assert words in str(refused.value)
    assert not LegalHold.objects.exists()
    assert not AuditEvent.objects.exists()


def test_only_compliance_staff_of_the_enterprise_place_holds(
    enterprise, member, hr_user, other_compliance_user
):
    for actor in (hr_user, other_compliance_user, None):
        with pytest.raises(ComplianceRefused) as refused:
            holds.place_hold(enterprise, member=member, reason="取证", actor=actor)
        assert "Only Compliance staff" in str(refused.value)
    assert not LegalHold.objects.exists()


def test_a_member_of_another_enterprise_cannot_be_held_here(
    enterprise, other_enterprise, compliance_user
):
    stranger = factories.MemberFactory(enterprise=other_enterprise)
    with pytest.raises(ComplianceRefused) as refused:
        holds.place_hold(enterprise, member=stranger, reason="取证", actor=compliance_user)
    assert refused.value.field == "member"
    assert not LegalHold.objects.exists()


def test_releasing_a_hold_is_recorded_and_deletes_nothing(enterprise, member, compliance_user):
    # given a held member with records
    records_of(member, 3, category=RecordCategory.CHAT)
    hold = holds.place_hold(enterprise, member=member, reason="取证", actor=compliance_user)

    # when the hold is released
    released = holds.release_hold(hold, actor=compliance_user)

    # then it is released by the user, audited, and every record is still there
    assert released.released_by == compliance_user and released.released_at is not None
    assert [event.member_id for event in events_of(enterprise, "hold_released")] == [member.pk]
    assert WorkRecord.objects.filter(owner=member).count() == 3
    assert holds.blocking_hold(member) is None


def test_a_hold_is_released_once_and_only_by_compliance(
    enterprise, member, compliance_user, hr_user
):
    hold = holds.place_hold(enterprise, member=member, reason="取证", actor=compliance_user)

    with pytest.raises(ComplianceRefused):
        holds.release_hold(hold, actor=hr_user)
    holds.release_hold(hold, actor=compliance_user)
    with pytest.raises(ComplianceRefused) as refused:
        holds.release_hold(hold, actor=compliance_user)

    assert "released already" in str(refused.value)
    assert len(events_of(enterprise, "hold_released")) == 1


def test_a_hold_stands_from_its_first_to_its_last_day(enterprise, member, compliance_user):
    hold = holds.place_hold(
        enterprise,
        member=member,
        reason="取证",
        starts_on=date(2026, 6, 10),
        ends_on=date(2026, 6, 20),
        actor=compliance_user,
    )

    def standing_on(day):
        return holds.blocking_hold(member, today=day)

    assert standing_on(date(2026, 6, 9)) is None
    assert standing_on(date(2026, 6, 10)) == hold
    assert standing_on(date(2026, 6, 20)) == hold
    assert standing_on(date(2026, 6, 21)) is None
    assert holds.coverage(enterprise, today=date(2026, 6, 15)) == (False, {member.pk})


def test_a_hold_on_the_enterprise_covers_every_member(enterprise, member, compliance_user):
    hold = holds.place_hold(enterprise, reason="监管调查", actor=compliance_user)

    assert holds.blocking_hold(member) == hold
    assert holds.coverage(enterprise) == (True, set())


# ---------------------------------------------------------------------------------------------
# The admin


def changelist_url():
    return reverse("admin:compliance_legalhold_changelist")


def add_url():
    return reverse("admin:compliance_legalhold_add")


def change_url(hold):
    return reverse("admin:compliance_legalhold_change", args=[hold.pk])


def release_url(hold):
    return reverse("admin:compliance_legalhold_release", args=[hold.pk])


@pytest.fixture
def compliance_client(client, compliance_user):
    client.force_login(compliance_user)
    return client


@pytest.fixture
def hold(enterprise, member, compliance_user):
    return holds.place_hold(enterprise, member=member, reason="劳动仲裁取证", actor=compliance_user)


def test_compliance_places_a_hold_from_the_add_page(
    compliance_client, enterprise, member, compliance_user
):
    response = compliance_client.post(
        add_url(),
        {
            "enterprise": enterprise.pk,
            "member": member.pk,
            "reason": "劳动仲裁取证",
            "starts_on": "2026-06-01",
            "ends_on": "",
        },
    )

    hold = LegalHold.objects.get()
    assert response.status_code == 302
    assert response.url == change_url(hold)
    assert (hold.member, hold.reason, hold.placed_by) == (member, "劳动仲裁取证", compliance_user)
    assert len(events_of(enterprise, "hold_placed")) == 1
    assert any("is placed" in message for message in messages_of(response))


def test_the_add_page_shows_a_refusal_beside_its_field(compliance_client, enterprise, member):
    response = compliance_client.post(
        add_url(),
        {
            "enterprise": enterprise.pk,
            "member": member.pk,
            "reason": "取证",
            "starts_on": "2026-06-10",
            "ends_on": "2026-06-01",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["ends_on"] == ["A hold cannot end before it starts."]
    assert not LegalHold.objects.exists()


def test_a_member_of_another_enterprise_of_the_same_user_is_refused_beside_member(
    compliance_client, compliance_user, enterprise, other_enterprise
):
    # given a user who is Compliance in both enterprises
    grant_access(user=compliance_user, enterprise=other_enterprise, role=StaffRole.COMPLIANCE)
    stranger = factories.MemberFactory(enterprise=other_enterprise, name="赵六")

    response = compliance_client.post(
        add_url(),
        {
            "enterprise": enterprise.pk,
            "member": stranger.pk,
            "reason": "取证",
            "starts_on": "2026-06-01",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["member"]
    assert len(errors) == 1 and "belongs to another enterprise" in errors[0]
    assert not LegalHold.objects.exists()


def test_members_offered_are_those_of_the_users_compliance_enterprises(
    compliance_client, compliance_user, enterprise, member, other_enterprise
):
    # given a member of an enterprise where the user is HR, not Compliance
    grant_access(user=compliance_user, enterprise=other_enterprise, role=StaffRole.HR)
    stranger = factories.MemberFactory(enterprise=other_enterprise, name="赵六")

    response = compliance_client.get(add_url())
    form = response.context["adminform"].form
    assert set(form.fields["member"].queryset) == {member}

    response = compliance_client.post(
        add_url(), {"member": stranger.pk, "reason": "取证", "starts_on": "2026-06-01"}
    )
    assert "member" in response.context["adminform"].form.errors
    assert not LegalHold.objects.exists()


def test_the_member_autocomplete_lists_only_the_users_enterprises(
    compliance_client, member, other_enterprise
):
    factories.MemberFactory(enterprise=other_enterprise, name="张三丰")

    response = compliance_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "compliance",
            "model_name": "legalhold",
            "field_name": "member",
            "term": "张",
        },
    )

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(member.pk)]


def test_a_hold_is_read_only_after_it_is_placed(compliance_client, hold):
    response = compliance_client.get(change_url(hold))

    assert response.status_code == 200
    assert 'name="reason"' not in response.content.decode()
    assert 'id="release-button"' in response.content.decode()
    response = compliance_client.post(change_url(hold), {"reason": "改了"})
    assert response.status_code == 403
    assert LegalHold.objects.get(pk=hold.pk).reason == "劳动仲裁取证"


def test_releasing_from_the_admin_asks_first_then_releases_and_deletes_nothing(
    compliance_client, set_attendance_policy, hold, member, enterprise
):
    # given 2 of the held member's records past the attendance policy
    records_of(
        member, 2, category=RecordCategory.ATTENDANCE, created_at=noon(TODAY - timedelta(60))
    )

    # when Compliance presses "Release", then a page asks first, saying what the next run could do
    response = compliance_client.get(release_url(hold))
    assert response.status_code == 200
    assert response.context["would_purge"] == 2
    assert 'id="release-purge">2<' in response.content.decode()
    assert LegalHold.objects.get(pk=hold.pk).released_at is None

    # when they confirm, then the hold is released, audited, and the records are still there
    response = compliance_client.post(release_url(hold))
    assert response.status_code == 302
    assert LegalHold.objects.get(pk=hold.pk).released_at is not None
    assert len(events_of(enterprise, "hold_released")) == 1
    assert WorkRecord.objects.filter(owner=member).count() == 2
    assert any("Nothing was deleted" in message for message in messages_of(response))

    # and a released hold offers no "Release"
    response = compliance_client.get(change_url(hold))
    assert 'id="release-button"' not in response.content.decode()


@pytest.fixture
def set_attendance_policy(enterprise, compliance_user):
    """Attendance records kept 30 days, then purged."""
    return save_policy(
        RetentionPolicy(
            enterprise=enterprise,
            category=RecordCategory.ATTENDANCE,
            keep_days=30,
            action=RetentionAction.PURGE,
        ),
        actor=compliance_user,
    )


def test_releasing_twice_says_so(compliance_client, hold, compliance_user):
    holds.release_hold(hold, actor=compliance_user)

    response = compliance_client.post(release_url(hold))

    assert response.status_code == 302
    assert "This hold was released already." in messages_of(response)
    assert len(events_of(hold.enterprise, "hold_released")) == 1


def test_hr_sees_holds_but_neither_places_nor_releases_them(client, hr_user, hold, member):
    client.force_login(hr_user)

    assert client.get(changelist_url()).status_code == 200
    response = client.get(change_url(hold))
    assert response.status_code == 200
    assert 'id="release-button"' not in response.content.decode()
    assert client.get(release_url(hold)).status_code == 403
    assert client.post(release_url(hold)).status_code == 403
    assert client.get(add_url()).status_code == 403
    assert LegalHold.objects.get(pk=hold.pk).released_at is None


def test_another_enterprise_does_not_see_the_hold(client, other_compliance_user, hold):
    client.force_login(other_compliance_user)

    assert hold.pk not in [row.pk for row in client.get(changelist_url()).context["cl"].result_list]
    assert client.get(release_url(hold)).status_code == 404
    assert client.post(release_url(hold)).status_code == 404
    assert LegalHold.objects.get(pk=hold.pk).released_at is None


def test_the_list_filters_standing_and_released_holds(
    compliance_client, enterprise, member, compliance_user
):
    colleague = factories.MemberFactory(enterprise=enterprise, name="李娜")
    standing = holds.place_hold(enterprise, member=member, reason="取证", actor=compliance_user)
    released = holds.place_hold(enterprise, member=colleague, reason="已结", actor=compliance_user)
    holds.release_hold(released, actor=compliance_user)
    ended = holds.place_hold(
        enterprise,
        reason="旧案",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 3, 1),
        actor=compliance_user,
    )
    upcoming = holds.place_hold(
        enterprise, reason="下月", starts_on=date(2026, 7, 1), actor=compliance_user
    )

    def listed(status):
        response = compliance_client.get(changelist_url(), {"status": status})
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert listed("standing") == {standing.pk}
    assert listed("released") == {released.pk}
    assert listed("ended") == {ended.pk}
    assert listed("upcoming") == {upcoming.pk}


def test_the_changelist_queries_do_not_grow_with_holds(
    compliance_client, enterprise, compliance_user
):
    def queries_of_the_list():
        with CaptureQueriesContext(connection) as queries:
            assert compliance_client.get(changelist_url()).status_code == 200
        return len(queries)

    for _ in range(2):
        member = factories.MemberFactory(enterprise=enterprise)
        holds.place_hold(enterprise, member=member, reason="取证", actor=compliance_user)
    few = queries_of_the_list()
    for _ in range(8):
        member = factories.MemberFactory(enterprise=enterprise)
        holds.place_hold(enterprise, member=member, reason="取证", actor=compliance_user)

    assert queries_of_the_list() == few
