"""Work records in the admin (C-1, C-3, C-6): Compliance lists them, reads sealed ones (each read
audited, never shown to HR or IT, never across enterprises), and exports one member's records
through the action, with a legal basis across regions."""

import json

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance import sealing
from compliance.choices import RecordCategory
from compliance.models import AuditEvent, RecordExport, WorkRecord
from directory.choices import DataRegion
from tests import factories
from tests.compliance.conftest import records_of

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:compliance_workrecord_changelist"


def change_url(record):
    return reverse("admin:compliance_workrecord_change", args=[record.pk])


def sealed_url(record):
    return reverse("admin:compliance_workrecord_sealed", args=[record.pk])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def sealed_record(member):
    (record,) = records_of(member, 1, content="离职前与客户的最后沟通")
    sealing.seal_member_records(member, actor=None)
    record.refresh_from_db()
    return record


# --- the list and the change page ---------------------------------------------------------------


def test_compliance_lists_records_and_finds_them_by_owner(client, compliance_user, member):
    records_of(member, 2)
    other = factories.MemberFactory(enterprise=member.enterprise, name="李娜")
    records_of(other, 1, category=RecordCategory.EXPENSE)
    client_for(client, compliance_user)

    listed = client.get(reverse(CHANGELIST))
    by_name = client.get(reverse(CHANGELIST), {"q": "李娜"})
    by_number = client.get(reverse(CHANGELIST), {"q": member.employee_number})

    assert listed.status_code == 200
    assert listed.context["cl"].result_count == 3
    assert [r.owner_id for r in by_name.context["cl"].result_list] == [other.pk]
    assert {r.owner_id for r in by_number.context["cl"].result_list} == {member.pk}


def test_the_list_does_not_grow_queries_with_rows(client, compliance_user, member):
    client_for(client, compliance_user)
    records_of(member, 2)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse(CHANGELIST))
    for _ in range(5):
        records_of(factories.MemberFactory(enterprise=member.enterprise), 4)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse(CHANGELIST))

    assert len(many) == len(few)


def test_another_enterprises_records_are_not_listed(client, other_compliance_user, member):
    records_of(member, 2)

    response = client_for(client, other_compliance_user).get(reverse(CHANGELIST))

    assert response.context["cl"].result_count == 0


def test_records_change_only_through_the_services(client, compliance_user, member):
    (record,) = records_of(member, 1)
    client_for(client, compliance_user)

    assert client.get(reverse("admin:compliance_workrecord_add")).status_code == 403
    response = client.post(change_url(record), {"content": "改过的内容"})
    assert response.status_code == 403
    assert client.post(
        reverse("admin:compliance_workrecord_delete", args=[record.pk])
    ).status_code in (403, 404)
    record.refresh_from_db()
    assert record.content.endswith("工作记录内容")


def test_the_change_page_shows_unsealed_content(client, compliance_user, member):
    (record,) = records_of(member, 1, content="本周的考勤已经确认")

    response = client_for(client, compliance_user).get(change_url(record))

    page = response.content.decode()
    assert "本周的考勤已经确认" in page
    assert 'id="read-sealed-button"' not in page


def test_the_change_page_of_a_sealed_record_says_when_it_was_sealed(
    client, compliance_user, sealed_record
):
    response = client_for(client, compliance_user).get(change_url(sealed_record))
    page = response.content.decode()

    assert "Sealed on" in page
    assert "离职前与客户的最后沟通" not in page
    assert response.context["sealed_url"] == sealed_url(sealed_record)
    assert 'id="read-sealed-button"' in page


def test_the_history_page_works_without_a_history_table(client, compliance_user, sealed_record):
    client_for(client, compliance_user)

    history = reverse("admin:compliance_workrecord_history", args=[sealed_record.pk])
    version = reverse("admin:compliance_workrecord_simple_history", args=[sealed_record.pk, 1])

    assert client.get(history).status_code == 200
    assert client.get(version).status_code == 404
    assert client.post(version).status_code == 405


# --- reading sealed content ---------------------------------------------------------------------


def test_reading_sealed_content_asks_first_and_changes_nothing(
    client, compliance_user, sealed_record
):
    response = client_for(client, compliance_user).get(sealed_url(sealed_record))

    assert response.status_code == 200
    page = response.content.decode()
    assert "recorded in the audit trail" in page
    assert "离职前与客户的最后沟通" not in page
    assert not AuditEvent.objects.filter(action="sealed_record_read").exists()


def test_reading_sealed_content_shows_it_and_records_the_read(
    client, compliance_user, sealed_record
):
    response = client_for(client, compliance_user).post(sealed_url(sealed_record))

    assert response.status_code == 200
    assert "离职前与客户的最后沟通" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action="sealed_record_read")
    assert event.object_id == str(sealed_record.pk)
    assert event.actor_id == compliance_user.pk
    # shown, never stored: the row still holds no plaintext
    sealed_record.refresh_from_db()
    assert sealed_record.content == ""


@pytest.mark.parametrize("user_fixture", ["hr_user", "it_user"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_hr_and_it_may_not_read_sealed_content(
    client, request, user_fixture, method, sealed_record
):
    user = request.getfixturevalue(user_fixture)

    response = getattr(client_for(client, user), method)(sealed_url(sealed_record))

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="sealed_record_read").exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_enterprises_compliance_gets_not_found(
    client, other_compliance_user, method, sealed_record
):
    response = getattr(client_for(client, other_compliance_user), method)(sealed_url(sealed_record))

    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="sealed_record_read").exists()


@pytest.mark.parametrize("user_fixture", ["hr_user", "it_user"])
def test_hr_and_it_do_not_see_work_records(client, request, user_fixture, sealed_record):
    user = request.getfixturevalue(user_fixture)
    client_for(client, user)

    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(change_url(sealed_record)).status_code == 403


def test_an_unsealed_record_has_nothing_to_read(client, compliance_user, member):
    (record,) = records_of(member, 1)

    response = client_for(client, compliance_user).post(sealed_url(record))

    assert response.status_code == 302
    assert response["Location"] == change_url(record)
    assert not AuditEvent.objects.filter(action="sealed_record_read").exists()


def test_a_moved_ciphertext_is_a_message_not_an_error(client, compliance_user, member):
    first, second = records_of(member, 2)
    sealing.seal_member_records(member, actor=None)
    first.refresh_from_db()
    WorkRecord.objects.filter(pk=second.pk).update(sealed_content=first.sealed_content)

    response = client_for(client, compliance_user).post(sealed_url(second))

    assert response.status_code == 302
    assert any("does not decrypt" in message for message in messages_of(response))


# --- the export action --------------------------------------------------------------------------


def export_post(client, records, **fields):
    data = {
        "action": "export_selected",
        helpers.ACTION_CHECKBOX_NAME: [record.pk for record in records],
        **fields,
    }
    return client.post(reverse(CHANGELIST), data)


@pytest.fixture
def abroad(member):
    """The member works from Singapore; the enterprise's home region is mainland China."""
    member.data_region = DataRegion.SG
    member.save(update_fields=["data_region"])
    return member


def test_the_export_action_asks_for_format_and_legal_basis(client, compliance_user, abroad):
    records = records_of(abroad, 3)

    response = export_post(client_for(client, compliance_user), records)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/compliance/workrecord/export.html"
    page = response.content.decode()
    assert "Export 3 records of" in page
    assert "legal basis is required" in page
    assert not RecordExport.objects.exists()


def test_exporting_across_regions_without_a_legal_basis_is_refused_on_the_form(
    client, compliance_user, abroad
):
    records = records_of(abroad, 3)
    events_before = AuditEvent.objects.count()

    response = export_post(
        client_for(client, compliance_user), records, post="yes", format="csv", legal_basis=" "
    )

    assert response.status_code == 200
    assert "record the legal basis" in str(response.context["form"].errors["legal_basis"])
    assert not RecordExport.objects.exists()
    assert AuditEvent.objects.count() == events_before


def test_exporting_with_a_legal_basis_downloads_the_file(client, compliance_user, abroad):
    records = records_of(abroad, 3)

    response = export_post(
        client_for(client, compliance_user),
        records,
        post="yes",
        format="json",
        legal_basis="员工本人书面同意（2024-05-01）",
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    rows = json.loads(response.content)
    assert [(row["id"], row["content"]) for row in rows] == [
        (record.pk, record.content) for record in records
    ]
    export = RecordExport.objects.get()
    assert export.cross_border
    assert export.legal_basis == "员工本人书面同意（2024-05-01）"
    assert export.exported_by == compliance_user


def test_an_export_of_two_members_is_refused_with_a_message(client, compliance_user, member):
    other = factories.MemberFactory(enterprise=member.enterprise)
    records = records_of(member, 1) + records_of(other, 1)

    response = export_post(client_for(client, compliance_user), records, post="yes", format="csv")

    assert response.status_code == 302
    assert any("one member" in message for message in messages_of(response))
    assert not RecordExport.objects.exists()


def test_records_of_another_enterprise_cannot_be_exported(client, other_compliance_user, member):
    records = records_of(member, 2)

    response = export_post(
        client_for(client, other_compliance_user), records, post="yes", format="csv"
    )

    # outside the wall the selection is empty: nothing to act on
    assert response.status_code == 302
    assert not RecordExport.objects.exists()


def test_the_record_exports_are_listed_read_only(client, compliance_user, abroad):
    records = records_of(abroad, 2)
    client_for(client, compliance_user)
    export_post(client, records, post="yes", format="csv", legal_basis="合同约定")
    export = RecordExport.objects.get()

    listed = client.get(reverse("admin:compliance_recordexport_changelist"))
    page = client.get(reverse("admin:compliance_recordexport_change", args=[export.pk]))

    assert listed.context["cl"].result_count == 1
    assert "合同约定" in page.content.decode()
    assert client.get(reverse("admin:compliance_recordexport_add")).status_code == 403


def test_the_export_action_does_not_grow_queries_with_records(client, compliance_user, member):
    client_for(client, compliance_user)
    few_records = records_of(member, 2)
    export_post(client, few_records, post="yes", format="csv")  # the session's first reads
    with CaptureQueriesContext(connection) as few:
        export_post(client, few_records, post="yes", format="csv")
    many_records = few_records + records_of(member, 30, category=RecordCategory.APPROVAL)
    with CaptureQueriesContext(connection) as many:
        response = export_post(client, many_records, post="yes", format="csv")

    assert response.status_code == 200
    assert len(many) == len(few)


# --- restricted records: stored and protected, never read nor exported -------------------------

RESTRICTED = "This record is restricted"


@pytest.fixture
def restricted_records(member, hr_user, compliance_user):
    """A departed member's recent chats, one sealed and one not, restricted by their erasure
    request (the chat floor still keeps them)."""
    from compliance import erasure
    from directory import services as directory_services
    from directory.choices import MemberStatus

    (sealed,) = records_of(member, 1, content="离职前与客户的最后沟通")
    sealing.seal_member_records(member, actor=None)
    (unsealed,) = records_of(member, 1, content="尚未封存的聊天内容")
    directory_services.change_status(member, actor=hr_user, status=MemberStatus.DEPARTED)
    request = erasure.evaluate(
        erasure.receive(member, actor=compliance_user), actor=compliance_user
    )
    assert request.state == "restricted"
    sealed.refresh_from_db()
    unsealed.refresh_from_db()
    assert sealed.restricted_at is not None and unsealed.restricted_at is not None
    return sealed, unsealed


def test_a_restricted_record_s_page_shows_why_and_no_content(
    client, compliance_user, restricted_records
):
    sealed, unsealed = restricted_records
    client_for(client, compliance_user)

    for record in (sealed, unsealed):
        page = client.get(change_url(record)).content.decode()
        assert RESTRICTED in page
        assert "离职前与客户的最后沟通" not in page
        assert "尚未封存的聊天内容" not in page
        assert 'id="read-sealed-button"' not in page


def test_a_restricted_record_s_sealed_content_is_not_read(
    client, compliance_user, restricted_records
):
    sealed, _unsealed = restricted_records
    client_for(client, compliance_user)

    for method in (client.get, client.post):
        response = method(sealed_url(sealed))
        assert response.status_code == 302
        assert any(RESTRICTED in message for message in messages_of(response))
        assert "离职前与客户的最后沟通" not in response.content.decode()
    assert not AuditEvent.objects.filter(action="sealed_record_read").exists()


def test_the_list_shows_restricted_records_without_their_content(
    client, compliance_user, restricted_records
):
    client_for(client, compliance_user)

    page = client.get(reverse(CHANGELIST), {"restricted": "yes"}).content.decode()

    assert page.count('name="_selected_action"') == 2
    assert "离职前与客户的最后沟通" not in page
    assert "尚未封存的聊天内容" not in page


def test_restricted_records_are_not_exported(client, compliance_user, restricted_records):
    response = export_post(
        client_for(client, compliance_user), restricted_records, post="yes", format="json"
    )

    assert response.status_code == 302
    assert any("2 of these records are restricted" in message for message in messages_of(response))
    assert not RecordExport.objects.exists()
    assert not AuditEvent.objects.filter(action="records_exported").exists()
