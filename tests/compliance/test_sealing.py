"""Sealing (离职员工数据需加密封存, C-3): after a seal no plaintext is left in the database, a
ciphertext reads only in its own row, every read is audited, and the master key rotates without
losing a record."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from compliance import crypto, sealing
from compliance.choices import RecordCategory
from compliance.exceptions import ComplianceRefused
from compliance.models import AuditEvent, MemberDataKey, WorkRecord
from offboarding import notifications
from offboarding.models import GroupRobot
from tests import factories
from tests.compliance.conftest import records_of

pytestmark = pytest.mark.django_db


def every_category(member, n=2):
    records = []
    for category in RecordCategory.values:
        records += records_of(member, n, category=category)
    return records


def raw_dump_of_work_records() -> str:
    """The work-record table as a dump would hold it: every column of every row, as text."""
    table = WorkRecord._meta.db_table
    if connection.vendor == "postgresql":
        chunks = []
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY (SELECT * FROM {table}) TO STDOUT") as copy:
                for chunk in copy:
                    chunks.append(bytes(chunk))
        return b"".join(chunks).decode("utf-8", errors="replace")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        rows = cursor.fetchall()
    return "\n".join("\t".join(map(as_text, row)) for row in rows)


def as_text(value) -> str:
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def test_sealing_leaves_no_plaintext_in_the_database(member):
    # given records of every category, their texts in the table
    records = every_category(member)
    texts = [record.content for record in records]
    assert all(text in raw_dump_of_work_records() for text in texts)

    # when the member's records are sealed
    sealed = sealing.seal_member_records(member, actor=None)

    # then every record is sealed…
    assert sealed == len(records)
    # …and neither the content nor the sealed bytes hold any of the texts
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT content, sealed_content FROM {WorkRecord._meta.db_table} WHERE owner_id = %s",
            [member.pk],
        )
        rows = cursor.fetchall()
    assert len(rows) == len(records)
    for content, sealed_content in rows:
        assert content == ""
        sealed_bytes = bytes(sealed_content)
        for text in texts:
            assert text.encode() not in sealed_bytes
    # …nor does the whole table, dumped column by column
    dump = raw_dump_of_work_records()
    for text in texts:
        assert text not in dump
        assert "工作记录内容" not in dump


def test_sealing_twice_seals_nothing_more(member):
    records_of(member, 3)
    sealing.seal_member_records(member, actor=None)

    assert sealing.seal_member_records(member, actor=None) == 0
    assert WorkRecord.objects.filter(owner=member, sealed_content__isnull=True).count() == 0


def test_a_sealed_record_decrypts_only_with_its_own_id(member, compliance_user):
    # given two sealed records
    first, second = records_of(member, 2)
    sealing.seal_member_records(member, actor=None)
    first.refresh_from_db()
    second.refresh_from_db()
    key = crypto.data_key(member.pk)
    assert crypto.unseal(
        key, first.sealed_content, associated_data=sealing.associated_data(first.pk)
    ) == (f"{RecordCategory.CHAT} {member.pk}-0: 工作记录内容")

    # when the first one's ciphertext is moved into the second row
    WorkRecord.objects.filter(pk=second.pk).update(sealed_content=first.sealed_content)
    second.refresh_from_db()

    # then it does not decrypt there
    moved = second.sealed_content
    with pytest.raises(crypto.SealBroken):
        crypto.unseal(key, moved, associated_data=sealing.associated_data(second.pk))


def test_reading_a_sealed_record_is_audited(member, compliance_user):
    # given a sealed record
    (record,) = records_of(member, 1, content="与客户的谈判记录")
    sealing.seal_member_records(member, actor=None)
    record.refresh_from_db()

    # when Compliance reads it
    plaintext = sealing.read_sealed(record, actor=compliance_user)

    # then they see it, and the audit trail names who read which record
    assert plaintext == "与客户的谈判记录"
    event = AuditEvent.objects.get(action="sealed_record_read")
    assert event.object_id == str(record.pk)
    assert event.member_id == member.pk
    assert event.actor_id == compliance_user.pk


@pytest.mark.parametrize("role", ["hr", "it"])
def test_hr_and_it_may_not_read_sealed_records(member, role):
    user = factories.StaffFactory(enterprise=member.enterprise, role=role)
    (record,) = records_of(member, 1)
    sealing.seal_member_records(member, actor=None)
    record.refresh_from_db()

    with pytest.raises(ComplianceRefused):
        sealing.read_sealed(record, actor=user)

    assert not AuditEvent.objects.filter(action="sealed_record_read").exists()


# --- master key rotation ------------------------------------------------------------------------


@pytest.fixture
def master_keys(settings):
    """Set EXITDESK_MASTER_KEYS for the test; the cached master key is dropped each time, and
    again at the end (before `settings` puts the old list back)."""

    def master_keys(*keys):
        settings.EXITDESK_MASTER_KEYS = list(keys)
        crypto.forget_master()

    yield master_keys
    crypto.forget_master()


def rotate(**kwargs):
    out = StringIO()
    call_command("rotate_master_key", stdout=out, **kwargs)
    return out.getvalue()


def test_rotate_master_key_rewraps_every_data_key(member, compliance_user, master_keys):
    # given two members' sealed records, their keys wrapped by the old master key
    old_key = django_settings.EXITDESK_MASTER_KEYS[0]
    other = factories.MemberFactory(enterprise=member.enterprise)
    (record,) = records_of(member, 1, content="旧主密钥下封存的内容")
    records_of(other, 1)
    sealing.seal_member_records(member, actor=None)
    sealing.seal_member_records(other, actor=None)
    record.refresh_from_db()

    # and a group robot whose address is wrapped by the old master key too
    robot = GroupRobot.objects.create(
        enterprise=member.enterprise,
        name="HR 群",
        platform="webhook",
        url_hint="json://localhost/…",
        sealed_url=crypto.wrap(b"json://localhost:8080/hook"),
    )

    # when a new master key goes first, the old one after it, and the command runs
    new_key = Fernet.generate_key().decode()
    master_keys(new_key, old_key)
    output = rotate()

    # then both data keys and the robot's address are re-wrapped, the rotation is in the audit
    # trail, and the old key is said to be kept for the backups taken under it
    assert "Re-wrapped 2 data key(s) and 1 group robot address(es)" in output
    assert "as long as such a backup is kept" in output
    assert AuditEvent.objects.filter(action="master_key_rotated", data__count=2).count() == 1

    # and with the new key alone, the sealed record still reads, and so does the robot's address
    master_keys(new_key)
    assert sealing.read_sealed(record, actor=compliance_user) == "旧主密钥下封存的内容"
    robot.refresh_from_db()
    assert notifications.robot_url(robot) == "json://localhost:8080/hook"


def test_rotate_master_key_without_the_key_of_a_robots_address_changes_nothing(
    enterprise, master_keys
):
    robot = GroupRobot.objects.create(
        enterprise=enterprise,
        name="IT 群",
        platform="webhook",
        url_hint="json://…",
        sealed_url=crypto.wrap(b"json://localhost:8080/hook"),
    )
    master_keys(Fernet.generate_key().decode())
    with pytest.raises(CommandError, match=f"group robot address.*robots {robot.pk}"):
        rotate()


def test_rotate_master_key_without_the_old_key_changes_nothing(member, master_keys):
    # given a data key wrapped by the current master key
    records_of(member, 1)
    sealing.seal_member_records(member, actor=None)
    wrapped_before = bytes(MemberDataKey.objects.get(member=member).wrapped_key)

    # when the list holds only a new key, the one that wrapped it missing
    master_keys(Fernet.generate_key().decode())

    # then the command says which member's key does not unwrap, and changes nothing
    with pytest.raises(CommandError, match=f"do not unwrap.*members {member.pk}"):
        rotate()
    assert bytes(MemberDataKey.objects.get(member=member).wrapped_key) == wrapped_before
    assert not AuditEvent.objects.filter(action="master_key_rotated").exists()


def test_rotate_master_key_with_no_master_key_is_a_clear_error(master_keys):
    master_keys()

    with pytest.raises(CommandError, match="EXITDESK_MASTER_KEYS is empty"):
        rotate()


# --- the audit keys rotate alongside ------------------------------------------------------------


def test_rotate_master_key_says_which_audit_keys_the_events_need(member, settings):
    # given events under the development audit key, then a new audit key put first
    records_of(member, 1)
    sealing.seal_member_records(member, actor=None)
    old_audit_key = settings.EXITDESK_AUDIT_KEYS[0]
    settings.EXITDESK_AUDIT_KEYS = ["2027:" + "n" * 40, old_audit_key]

    output = rotate()

    # then the command says which key new events use and which keys the events need
    assert "New audit events are hashed with audit key '2027'." in output
    # (the rotation's own event is the first under the new key)
    assert "Audit events name key(s) '2027' (1), 'dev' (1): keep each in" in output
    event = AuditEvent.objects.get(action="master_key_rotated")
    assert (event.key_id, event.data["audit_key"]) == ("2027", "2027")


def test_rotate_master_key_without_an_audit_key_the_events_need_changes_nothing(member, settings):
    records_of(member, 1)
    sealing.seal_member_records(member, actor=None)
    wrapped_before = bytes(MemberDataKey.objects.get(member=member).wrapped_key)
    settings.EXITDESK_AUDIT_KEYS = ["2027:" + "n" * 40]  # the old audit key dropped

    with pytest.raises(CommandError, match="name audit key\\(s\\) 'dev', which"):
        rotate()
    assert bytes(MemberDataKey.objects.get(member=member).wrapped_key) == wrapped_before
    assert not AuditEvent.objects.filter(action="master_key_rotated").exists()


def test_a_restricted_sealed_record_is_not_read(member, compliance_user):
    # given a sealed record that an erasure request restricted
    (record,) = records_of(member, 1, content="仲裁期间保留的聊天")
    sealing.seal_member_records(member, actor=None)
    WorkRecord.objects.filter(pk=record.pk).update(restricted_at=record.created_at)
    record.refresh_from_db()

    # when Compliance reads it, then it is refused, saying why, and no read is recorded
    with pytest.raises(ComplianceRefused, match="This record is restricted"):
        sealing.read_sealed(record, actor=compliance_user)
    assert not AuditEvent.objects.filter(action="sealed_record_read").exists()


def test_sealing_in_several_batches_seals_every_record_under_its_own_nonce_and_id(
    member, compliance_user, monkeypatch
):
    # given 25 records of the member, another member's record, and batches of 10
    records = records_of(member, 25)
    other = records_of(factories.MemberFactory(enterprise=member.enterprise), 1)[0]
    monkeypatch.setattr(sealing, "BATCH_SIZE", 10)
    # when they are sealed
    assert sealing.seal_member_records(member, actor=None) == 25
    # then each record holds its own nonce and decrypts to its text under its own id only
    nonces = set()
    for record in records:
        stored = WorkRecord.objects.get(pk=record.pk)
        assert stored.content == "" and stored.sealed_at is not None
        nonces.add(bytes(stored.sealed_content)[: crypto.NONCE_BYTES])
        assert sealing.read_sealed(stored, actor=compliance_user) == record.content
    assert len(nonces) == 25
    # …and the other member's record is untouched
    other_now = WorkRecord.objects.get(pk=other.pk)
    assert other_now.sealed_content is None and other_now.content == other.content
