"""The tamper-evident audit trail (C-7): `manage.py verify_audit` proves each enterprise's chain
unbroken, or names the first broken event — one changed byte in any column of any event, a deleted
event, a renumbered one; crypto-shredding leaves the chain verifiable; on PostgreSQL the table
refuses UPDATE and DELETE. And the trail in the admin: read-only for everyone, the Compliance
role's, per member and per exit, its personal data decrypted (or "erased")."""

import hashlib
import hmac
import importlib
import io
import json
import re
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.apps import apps as django_apps
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance import audit, crypto, holds
from compliance.models import AuditChainHead, AuditEvent
from directory.choices import StaffRole
from directory.permissions import grant_access
from offboarding.choices import ExitKind
from offboarding.exceptions import ExitRefused
from offboarding.models import Exit
from tests import factories
from tests.compliance.conftest import audit_triggers_lifted

pytestmark = pytest.mark.django_db

REASON = "家庭原因，需回老家照顾父母"  # personal: sealed, never in `data`


# ---------------------------------------------------------------------------------------------
# Helpers


def a_chain(enterprise, member, actor, length: int = 3) -> list[AuditEvent]:
    """`length` events about `member`, each with facts and sealed personal data."""
    return [
        audit.record(
            enterprise.pk,
            actor=actor,
            action="exit_opened" if n == 1 else f"step_{n}",
            object_type="exit",
            object_id=100 + n,
            member_id=member.pk,
            exit_id=100,
            data={"kind": "voluntary", "n": n, "nested": {"ok": True, "list": [1, "二"]}},
            personal={"reason": REASON},
        )
        for n in range(1, length + 1)
    ]


def verify_audit(*args) -> tuple[int, str]:
    """Run the command; (exit status, what it printed)."""
    out = io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=out)
    except CommandError as error:
        return 1, out.getvalue() + str(error)
    return 0, out.getvalue()


def raw(sql: str, params=()) -> None:
    """Run `sql` with the audit triggers lifted, as someone with the database's owner rights."""
    with audit_triggers_lifted(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def stored(event: AuditEvent, column: str):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM compliance_auditevent WHERE id = %s", [event.pk])
        return cursor.fetchone()[0]


def other_character(text: str, index: int = -1) -> str:
    """`text` with one character changed (the last, by default), to another of the same kind."""
    index = index % len(text)
    old = text[index]
    new = {"0": "1", "9": "8"}.get(old) or ("a" if old != "a" else "b")
    if old.isdigit() and new == "a":
        new = str((int(old) + 1) % 10)
    return text[:index] + new + text[index + 1 :]


def change_one_byte(event: AuditEvent, column: str) -> None:
    """Change one byte of `column` of `event`'s row, behind the ORM's back, as a person with
    database access would."""
    table = "compliance_auditevent"
    if column == "sealed_data":
        value = bytearray(bytes(stored(event, column)))
        value[-1] ^= 0x01
        raw(f"UPDATE {table} SET sealed_data = %s WHERE id = %s", [bytes(value), event.pk])
    elif column == "data":
        cast = "::jsonb" if connection.vendor == "postgresql" else ""
        text = stored(event, "data")
        text = text if isinstance(text, str) else json.dumps(text)
        changed = text.replace("voluntary", "voluntarz", 1)
        assert changed != text
        raw(f"UPDATE {table} SET data = %s{cast} WHERE id = %s", [changed, event.pk])
    elif column == "created_at":
        if connection.vendor == "postgresql":
            raw(
                f"UPDATE {table} SET created_at = created_at + interval '1 microsecond' "
                "WHERE id = %s",
                [event.pk],
            )
        else:
            text = stored(event, "CAST(created_at AS TEXT)")  # as SQLite keeps it
            raw(
                f"UPDATE {table} SET created_at = %s WHERE id = %s",
                [other_character(text), event.pk],
            )
    elif column in ("seq", "member_id", "exit_id", "actor_id"):
        # A single digit changed: seq 2 becomes 9 (no other event has it), ids change by one.
        value = stored(event, column)
        new = 9 if column == "seq" else value + 1
        raw(f"UPDATE {table} SET {column} = %s WHERE id = %s", [new, event.pk])
    else:  # text columns: action, object_type, object_id, actor_name, prev_hash, hash
        value = stored(event, column)
        raw(
            f"UPDATE {table} SET {column} = %s WHERE id = %s",
            [other_character(value), event.pk],
        )


@pytest.fixture
def member(enterprise):
    return factories.MemberFactory(enterprise=enterprise, name="张伟")


# ---------------------------------------------------------------------------------------------
# A whole chain


def test_a_whole_chain_verifies_and_the_command_exits_0(enterprise, member, hr_user):
    # given three events
    events = a_chain(enterprise, member, hr_user)
    # when the trail is verified
    status, output = verify_audit()
    # then the chain is whole, and the command says so
    assert status == 0, output
    assert f"Enterprise {enterprise.pk} (示例科技): 3 event(s) checked, chain whole." in output
    # and the events count 1, 2, 3, each linked to the one before
    assert [event.seq for event in events] == [1, 2, 3]
    assert events[0].prev_hash == audit.GENESIS
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    head = AuditChainHead.objects.get(enterprise=enterprise)
    assert (head.seq, head.hash) == (3, events[2].hash)


def test_personal_data_is_sealed_and_never_stored_in_plaintext(enterprise, member, hr_user):
    # given an event with a reason about the member
    event = a_chain(enterprise, member, hr_user, length=1)[0]
    # then the reason is nowhere in the row as stored
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM compliance_auditevent WHERE id = %s", [event.pk])
        row = cursor.fetchone()
    dumped = repr(row) + "".join(
        bytes(value).decode("latin-1") for value in row if isinstance(value, bytes | memoryview)
    )
    assert REASON not in dumped and REASON.encode().decode("latin-1") not in dumped
    # but the member's key reads it back
    assert audit.personal_data(AuditEvent.objects.get(pk=event.pk)) == {"reason": REASON}


def test_an_empty_trail_verifies(db):
    status, output = verify_audit()
    assert status == 0
    assert "No audit events yet" in output


# ---------------------------------------------------------------------------------------------
# One changed byte, anywhere, is named

COLUMNS = [
    "action",
    "data",
    "sealed_data",
    "prev_hash",
    "hash",
    "created_at",
    "actor_name",
    "actor_id",
    "object_type",
    "object_id",
    "member_id",
    "exit_id",
    "seq",
]


@pytest.mark.parametrize("position", [0, 1, 2], ids=["first", "middle", "last"])
@pytest.mark.parametrize("column", COLUMNS)
def test_one_changed_byte_in_any_column_of_any_event_is_named_by_verify_audit(
    enterprise, member, hr_user, column, position
):
    # given a whole chain of three events
    events = a_chain(enterprise, member, hr_user)
    assert verify_audit()[0] == 0
    tampered = events[position]
    # when one byte of one column of one event is changed
    change_one_byte(tampered, column)
    # then verify_audit exits 1 and names that event
    status, output = verify_audit()
    assert status == 1, output
    assert f"event id {tampered.pk}, seq" in output, output
    assert "BROKEN" in output
    assert "1 of 1 audit chain(s) broken" in output


def test_an_edited_event_is_named_as_edited(enterprise, member, hr_user):
    events = a_chain(enterprise, member, hr_user)
    change_one_byte(events[1], "data")
    status, output = verify_audit()
    assert status == 1
    assert (
        f"BROKEN at event id {events[1].pk}, seq 2, action 'step_2' (1 event(s) before it "
        "whole): edited: its content no longer matches its hash." in output
    )


def test_a_deleted_event_in_the_middle_is_detected(enterprise, member, hr_user):
    # given three events, the middle one deleted
    events = a_chain(enterprise, member, hr_user)
    raw("DELETE FROM compliance_auditevent WHERE id = %s", [events[1].pk])
    # then the event after the gap is named, and the gap is said
    status, output = verify_audit()
    assert status == 1
    assert f"BROKEN at event id {events[2].pk}, seq 3" in output
    assert "sequence 3, expected 2. Event seq 2 is missing: deleted." in output


def test_two_deleted_events_in_the_middle_are_named_as_a_range(enterprise, member, hr_user):
    events = a_chain(enterprise, member, hr_user, length=4)
    raw("DELETE FROM compliance_auditevent WHERE id IN (%s, %s)", [events[1].pk, events[2].pk])
    status, output = verify_audit()
    assert status == 1
    assert "sequence 4, expected 2. Events seq 2 to 3 are missing: deleted." in output


def test_a_deleted_last_event_is_missing_events_after_the_last_one_left(
    enterprise, member, hr_user
):
    # given three events, the last one deleted
    events = a_chain(enterprise, member, hr_user)
    raw("DELETE FROM compliance_auditevent WHERE id = %s", [events[2].pk])
    # then the chain's end is named, as it is: an event is missing after seq 2
    status, output = verify_audit()
    assert status == 1
    assert (
        f"BROKEN after the last event, id {events[1].pk}, seq 2, action 'step_2' (2 event(s) "
        "whole): missing event(s) after seq 2: the chain's head names seq 3, so the last 1 "
        "event(s) were deleted." in output
    )
    assert "renumbered" not in output


def test_every_event_deleted_is_named_from_the_head(enterprise, member, hr_user):
    a_chain(enterprise, member, hr_user)
    raw("DELETE FROM compliance_auditevent")
    status, output = verify_audit()
    assert status == 1
    assert (
        "BROKEN after 0 whole event(s): missing event(s) after seq 0: the chain's head names "
        "seq 3, so the last 3 event(s) were deleted." in output
    )


def test_a_renumbered_event_is_named_where_it_went(enterprise, member, hr_user):
    events = a_chain(enterprise, member, hr_user)
    change_one_byte(events[1], "seq")  # seq 2 → 9
    status, output = verify_audit()
    assert status == 1
    assert f"Event seq 2 is there as event id {events[1].pk}, seq 9" in output
    assert "renumbered, and its hash does not match its content" in output


def test_a_renumbered_last_event_is_named_as_renumbered(enterprise, member, hr_user):
    events = a_chain(enterprise, member, hr_user)
    change_one_byte(events[2], "seq")  # seq 3 → 9
    status, output = verify_audit()
    assert status == 1
    assert (
        f"BROKEN at event id {events[2].pk}, seq 9, action 'step_3' (2 event(s) before it "
        "whole): sequence 9, expected 3: it follows seq 2 directly and its hash is that of seq 3, "
        "so its own number was changed (renumbered)." in output
    )


def test_an_event_rewritten_with_a_fresh_hash_breaks_the_next_link(enterprise, member, hr_user):
    # given an attacker who changes an event and recomputes its hash
    events = a_chain(enterprise, member, hr_user)
    event = AuditEvent.objects.get(pk=events[1].pk)
    event.action = "nothing_happened"
    raw(
        "UPDATE compliance_auditevent SET action = %s, hash = %s WHERE id = %s",
        [event.action, audit.compute_hash(event), event.pk],
    )
    # then the next event no longer links to it
    status, output = verify_audit()
    assert status == 1
    assert f"BROKEN at event id {events[2].pk}, seq 3" in output
    assert "its previous hash is not the previous event's" in output


# ---------------------------------------------------------------------------------------------
# The head: missing, ahead, behind


def test_a_missing_head_breaks_the_chain(enterprise, member, hr_user):
    events = a_chain(enterprise, member, hr_user)
    raw("DELETE FROM compliance_auditchainhead WHERE enterprise_id = %s", [enterprise.pk])
    status, output = verify_audit()
    assert status == 1
    assert (
        f"BROKEN after the last event, id {events[2].pk}, seq 3, action 'step_3' (3 event(s) "
        "whole): the chain's head is missing: it was deleted" in output
    )


def test_without_its_head_the_chain_takes_no_event_and_is_not_started_again(
    enterprise, member, hr_user
):
    # given a chain whose head was deleted
    a_chain(enterprise, member, hr_user)
    raw("DELETE FROM compliance_auditchainhead WHERE enterprise_id = %s", [enterprise.pk])
    # when something is recorded
    with pytest.raises(audit.ChainBroken, match="lost its chain head"):
        a_chain(enterprise, member, hr_user, length=1)
    # then no event was written and no new head begins a second chain
    assert AuditEvent.objects.filter(enterprise=enterprise).count() == 3
    assert not AuditChainHead.objects.filter(enterprise=enterprise).exists()


def test_a_head_committed_by_another_writer_after_the_look_is_not_taken_for_a_lost_one(
    enterprise, member, hr_user
):
    """The race of two first writers: one looks for the head and finds none, the other inserts it
    and commits its events before the first one goes on. The first must then join the chain, not
    report it broken."""
    # given a chain written by another writer (head and events committed)
    a_chain(enterprise, member, hr_user)
    real_look = audit._lock_head
    looks = []

    def looks_too_early(enterprise_id):
        if not looks:
            looks.append(enterprise_id)
            return None  # what the look saw before the other writer committed
        return real_look(enterprise_id)

    # when this writer looked too early, then records
    with mock.patch.object(audit, "_lock_head", looks_too_early):
        audit.record(enterprise.pk, actor=hr_user, action="after", object_type="test")
    # then its event follows the others on the one chain
    assert looks
    chain = AuditEvent.objects.filter(enterprise=enterprise).order_by("seq")
    assert list(chain.values_list("seq", flat=True)) == [1, 2, 3, 4]
    assert all(check.whole for check in audit.verify(enterprise.pk))


def test_a_head_moved_ahead_names_the_missing_events(enterprise, member, hr_user):
    a_chain(enterprise, member, hr_user)
    raw("UPDATE compliance_auditchainhead SET seq = 5 WHERE enterprise_id = %s", [enterprise.pk])
    status, output = verify_audit()
    assert status == 1
    assert (
        "missing event(s) after seq 3: the chain's head names seq 5, so the last 2 event(s) "
        "were deleted." in output
    )


def test_a_head_behind_its_events_is_said(enterprise, member, hr_user):
    events = a_chain(enterprise, member, hr_user)
    raw(
        "UPDATE compliance_auditchainhead SET seq = 2, hash = %s WHERE enterprise_id = %s",
        [events[1].hash, enterprise.pk],
    )
    status, output = verify_audit()
    assert status == 1
    assert (
        f"BROKEN after the last event, id {events[2].pk}, seq 3, action 'step_3' (3 event(s) "
        "whole): the chain's head is behind its events: it names seq 2, the last event is seq "
        "3" in output
    )


def test_a_head_with_another_hash_is_said(enterprise, member, hr_user):
    a_chain(enterprise, member, hr_user)
    raw(
        "UPDATE compliance_auditchainhead SET hash = %s WHERE enterprise_id = %s",
        ["f" * 64, enterprise.pk],
    )
    status, output = verify_audit()
    assert status == 1
    assert "the chain's head names seq 3 with another hash than that event's" in output


# ---------------------------------------------------------------------------------------------
# The keyed hash: an INSERT alone cannot forge an event

DEVELOPMENT_KEY_ID = "dev"
OTHER_SECRET = "an-attackers-guess-at-the-secret-0123456789"


def forged_event(enterprise, *, key_id: str, secret: str | None) -> AuditEvent:
    """The event an attacker with INSERT rights appends after the chain's last one: its hash a
    plain SHA-256 (`secret` None) or an HMAC with a secret of their own, naming `key_id`."""
    last = AuditEvent.objects.filter(enterprise=enterprise).order_by("-seq").first()
    event = AuditEvent(
        enterprise_id=enterprise.pk,
        seq=last.seq + 1,
        created_at=timezone.now(),
        actor_name="",
        action="exit_undone",
        object_type="exit",
        object_id="100",
        data={},
        prev_hash=last.hash,
        key_id=key_id,
    )
    payload = event.prev_hash.encode() + audit.canonical(event)
    if secret is None:
        event.hash = hashlib.sha256(payload).hexdigest()
    else:
        event.hash = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    AuditEvent.objects.bulk_create([event])  # an INSERT: no trigger refuses it
    return AuditEvent.objects.get(enterprise=enterprise, seq=event.seq)


def test_new_events_carry_the_key_id_and_an_hmac_not_a_plain_hash(enterprise, member, hr_user):
    event = a_chain(enterprise, member, hr_user, length=1)[0]
    assert event.key_id == DEVELOPMENT_KEY_ID
    payload = event.prev_hash.encode() + audit.canonical(event)
    assert event.hash != hashlib.sha256(payload).hexdigest()
    secret = settings.DEVELOPMENT_AUDIT_KEY.partition(":")[2].encode()
    assert event.hash == hmac.new(secret, payload, hashlib.sha256).hexdigest()


def test_an_appended_event_with_a_plain_hash_is_forged_even_with_the_head_moved(
    enterprise, member, hr_user
):
    # given a whole chain
    a_chain(enterprise, member, hr_user)
    # when an attacker who can INSERT appends an event hashed the old way, plain SHA-256, and
    # moves the head on to it (the writer's own advance, which the trigger lets through)
    forged = forged_event(enterprise, key_id="", secret=None)
    AuditChainHead.objects.filter(enterprise=enterprise).update(seq=forged.seq, hash=forged.hash)
    # then verify_audit names it forged
    status, output = verify_audit()
    assert status == 1
    assert (
        f"BROKEN at event id {forged.pk}, seq 4, action 'exit_undone' (3 event(s) before it "
        "whole): forged: it has a plain SHA-256 hash, but every event after seq 0 is hashed with "
        "an audit key." in output
    )


@pytest.mark.parametrize("key_id", [DEVELOPMENT_KEY_ID, "k2"], ids=["our-key-id", "invented"])
def test_an_appended_event_with_an_hmac_of_the_wrong_key_is_forged(
    enterprise, member, hr_user, key_id
):
    a_chain(enterprise, member, hr_user)
    forged = forged_event(enterprise, key_id=key_id, secret=OTHER_SECRET)
    status, output = verify_audit()
    assert status == 1
    assert (
        f"BROKEN at event id {forged.pk}, seq 4, action 'exit_undone' (3 event(s) before it "
        "whole): forged: it was appended after the chain's head (seq 3) with a hash that no "
        "audit key made." in output
    )


def test_events_under_the_old_key_verify_after_a_new_key_is_added(
    enterprise, member, hr_user, settings
):
    # given events under the old key
    old_key = settings.EXITDESK_AUDIT_KEYS[0]
    before = a_chain(enterprise, member, hr_user, length=2)
    # when a new key is put first (rotation), the old one kept after it
    settings.EXITDESK_AUDIT_KEYS = ["2027:" + "n" * 40, old_key]
    after = a_chain(enterprise, member, hr_user, length=2)
    # then new events are hashed with the new key, and the whole chain verifies
    assert [event.key_id for event in before + after] == ["dev", "dev", "2027", "2027"]
    status, output = verify_audit()
    assert status == 0, output
    assert "4 event(s) checked, chain whole." in output
    # and without the old key the events it hashed cannot be verified: the command says which key
    settings.EXITDESK_AUDIT_KEYS = ["2027:" + "n" * 40]
    status, output = verify_audit()
    assert status == 1
    assert (
        f"BROKEN at event id {before[0].pk}, seq 1, action 'exit_opened' (0 event(s) before it "
        "whole): its hash names audit key 'dev', which EXITDESK_AUDIT_KEYS does not hold" in output
    )


def test_events_from_before_the_keys_verify_up_to_the_heads_mark(enterprise, member, hr_user):
    # given a chain written before the chain was keyed: plain SHA-256, no key id, and the head's
    # mark where keyed events begin (as the migration sets it)
    events = a_chain(enterprise, member, hr_user)
    prev_hash = audit.GENESIS
    for event in events:
        event = AuditEvent.objects.get(pk=event.pk)
        event.key_id, event.prev_hash = "", prev_hash
        event.hash = audit.compute_hash(event)
        raw(
            "UPDATE compliance_auditevent SET key_id = '', prev_hash = %s, hash = %s WHERE id = %s",
            [event.prev_hash, event.hash, event.pk],
        )
        prev_hash = event.hash
    raw(
        "UPDATE compliance_auditchainhead SET hash = %s, legacy_until = 3 WHERE enterprise_id = %s",
        [prev_hash, enterprise.pk],
    )
    assert verify_audit()[0] == 0
    # when the chain goes on: keyed events after the unkeyed ones
    later = a_chain(enterprise, member, hr_user, length=1)[0]
    assert later.key_id == DEVELOPMENT_KEY_ID
    assert verify_audit()[0] == 0
    # and an unkeyed event after them is forged
    forged = forged_event(enterprise, key_id="", secret=None)
    status, output = verify_audit()
    assert status == 1
    assert f"event id {forged.pk}, seq 5" in output
    assert "forged: it has a plain SHA-256 hash, but every event after seq 3" in output


def test_the_migration_marks_the_existing_events_as_unkeyed(enterprise, member, hr_user):
    migration = importlib.import_module("compliance.migrations.0003_audit_key_id_and_legacy_until")
    a_chain(enterprise, member, hr_user)
    with audit_triggers_lifted():
        migration.mark_unkeyed_events(django_apps, None)
    assert AuditChainHead.objects.get(enterprise=enterprise).legacy_until == 3


@pytest.mark.parametrize(
    "keys, message",
    [
        ([], "EXITDESK_AUDIT_KEYS is empty"),
        (["no-colon-here-and-long-enough-to-be-a-secret"], 'is not "id:secret"'),
        (["k1:short"], "the secret of key 'k1' is shorter than 32 characters"),
        (["k1:" + "a" * 32, "k1:" + "b" * 32], "names key 'k1' twice"),
    ],
)
def test_verify_audit_says_what_is_wrong_with_the_keys(
    enterprise, member, hr_user, settings, keys, message
):
    a_chain(enterprise, member, hr_user, length=1)
    settings.EXITDESK_AUDIT_KEYS = keys
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("verify_audit", stdout=io.StringIO())


# ---------------------------------------------------------------------------------------------
# Chains of enterprises, and the command's input


def test_the_chains_of_two_enterprises_are_independent(enterprise, member, hr_user):
    # given a chain in each of two enterprises
    other = factories.EnterpriseFactory(name="另一家公司")
    elsewhere = factories.MemberFactory(enterprise=other)
    ours = a_chain(enterprise, member, hr_user)
    theirs = a_chain(other, elsewhere, None, length=2)
    # then each counts from 1 and starts from the genesis hash
    assert [event.seq for event in theirs] == [1, 2]
    assert theirs[0].prev_hash == audit.GENESIS
    # when the other enterprise's chain is tampered with
    change_one_byte(theirs[1], "actor_name" if theirs[1].actor_name else "action")
    # then our chain is still whole, theirs is named broken
    status, output = verify_audit()
    assert status == 1
    assert f"Enterprise {enterprise.pk} (示例科技): 3 event(s) checked, chain whole." in output
    assert f"Enterprise {other.pk} (另一家公司): BROKEN at event id {theirs[1].pk}" in output
    assert "1 of 2 audit chain(s) broken" in output
    # and verifying ours alone exits 0
    assert verify_audit("--enterprise", str(enterprise.pk))[0] == 0
    assert verify_audit("--enterprise", str(other.pk))[0] == 1
    # and an event of ours never names theirs as its previous one
    assert {event.prev_hash for event in ours}.isdisjoint({event.hash for event in theirs})


@pytest.mark.parametrize(
    "value, message",
    [
        ("abc", "--enterprise takes an enterprise's numeric id; 'abc' is not one."),
        ("1.5", "--enterprise takes an enterprise's numeric id; '1.5' is not one."),
        ("999999", "There is no enterprise with id 999999."),
    ],
)
def test_a_malformed_or_unknown_enterprise_is_a_clear_error(db, value, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("verify_audit", "--enterprise", value, stdout=io.StringIO())


# ---------------------------------------------------------------------------------------------
# Crypto-shredding


def test_crypto_shredding_erases_personal_data_and_the_chain_still_verifies(
    enterprise, member, hr_user
):
    # given events with the member's personal data, and another member's
    events = a_chain(enterprise, member, hr_user)
    other = factories.MemberFactory(enterprise=enterprise)
    kept = a_chain(enterprise, other, hr_user, length=1)[0]
    # when the member's key is destroyed (their erasure)
    assert crypto.destroy_key(member.pk) is True
    # then their personal data can never be read again, the other member's can
    for event in events:
        assert audit.personal_data(AuditEvent.objects.get(pk=event.pk)) is None
    assert audit.personal_data(kept) == {"reason": REASON}
    # and the chain is whole: the sealed bytes were hashed, not the plaintext
    status, output = verify_audit()
    assert status == 0, output
    assert "4 event(s) checked, chain whole" in output
    # and an event written after the erasure keeps no personal data at all
    later = audit.record(
        enterprise.pk,
        actor=None,
        action="later",
        object_type="member",
        member_id=member.pk,
        personal={"reason": REASON},
    )
    assert later.sealed_data is None
    assert verify_audit()[0] == 0


# ---------------------------------------------------------------------------------------------
# Chains checked side by side (--jobs)


def two_chains_the_second_edited(hr_user):
    """Two enterprises' chains of three events; the second's middle event edited. Returns the
    edited event."""
    chains = []
    for name in ("甲公司", "乙公司"):
        enterprise = factories.EnterpriseFactory(name=name)
        chains.append(a_chain(enterprise, factories.MemberFactory(enterprise=enterprise), hr_user))
    with transaction.atomic():  # the triggers are lifted for one transaction
        change_one_byte(chains[1][1], "data")
    return chains[1][1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgresql")
def test_chains_checked_in_several_processes_are_reported_as_one_process_reports_them(hr_user):
    # given two chains, the second one edited
    edited = two_chains_the_second_edited(hr_user)
    # when they are verified in two processes, and in one
    with mock.patch.object(
        audit, "_verify_in_processes", wraps=audit._verify_in_processes
    ) as in_processes:
        side_by_side = verify_audit("--jobs", "2")
    one_by_one = verify_audit("--jobs", "1")
    # then two processes checked them, and said the same, line by line, in enterprise order
    assert in_processes.call_count == 1
    assert side_by_side == one_by_one
    status, output = side_by_side
    assert status == 1
    assert output.index("(甲公司): 3 event(s) checked, chain whole.") < output.index(
        f"(乙公司): BROKEN at event id {edited.pk}, seq 2"
    )
    assert "1 of 2 audit chain(s) broken" in output
    # and this process reads the database again afterwards
    assert AuditEvent.objects.count() == 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgresql")
@pytest.mark.parametrize(
    "tamper",
    [None, "edit 5", "delete 3", "delete 4", "delete 7", "head back"],
    ids=[
        "whole",
        "edited-in-second-part",
        "deleted-at-part-end",
        "deleted-at-part-start",
        "deleted-last",
        "head-behind",
    ],
)
def test_a_long_chain_checked_in_parts_is_reported_as_one_process_reports_it(
    monkeypatch, enterprise, member, hr_user, tamper
):
    # given a chain of 7 events, checked in two parts (seq 1 to 3, and 4 on) by two processes
    monkeypatch.setattr(audit, "SEGMENT_EVENTS", 3)
    events = a_chain(enterprise, member, hr_user, length=7)
    # when it is tampered with (or not)
    with transaction.atomic():  # the triggers are lifted for one transaction
        if tamper and tamper.startswith("edit"):
            change_one_byte(events[int(tamper.split()[1]) - 1], "data")
        elif tamper and tamper.startswith("delete"):
            gone = events[int(tamper.split()[1]) - 1]
            raw("DELETE FROM compliance_auditevent WHERE id = %s", [gone.pk])
        elif tamper == "head back":
            raw(
                "UPDATE compliance_auditchainhead SET seq = 6, hash = %s WHERE enterprise_id = %s",
                [events[5].hash, enterprise.pk],
            )
    # then the parts, put together, say what one process says
    with mock.patch.object(audit, "_verify_one", wraps=audit._verify_one) as from_the_start:
        side_by_side = verify_audit("--jobs", "2")
    assert side_by_side == verify_audit("--jobs", "1")
    if tamper is None:
        assert side_by_side[0] == 0
        assert "7 event(s) checked, chain whole." in side_by_side[1]
        from_the_start.assert_not_called()  # the parts proved it whole
    else:
        assert side_by_side[0] == 1


def test_inside_a_transaction_the_chains_are_checked_in_this_process(hr_user):
    # given two chains written in a transaction that other processes cannot see (the test's)
    edited = two_chains_the_second_edited(hr_user)
    # when they are verified with --jobs 2
    with mock.patch.object(audit, "_verify_in_processes") as in_processes:
        status, output = verify_audit("--jobs", "2")
    # then this process checked them itself, with the same result
    in_processes.assert_not_called()
    assert (status, output) == verify_audit("--jobs", "1")
    assert f"BROKEN at event id {edited.pk}, seq 2" in output


def test_jobs_takes_at_least_one_process(db):
    status, output = verify_audit("--jobs", "0")
    assert status == 1
    assert "--jobs takes a number of processes, at least 1." in output


# ---------------------------------------------------------------------------------------------
# PostgreSQL: the table refuses UPDATE and DELETE


@pytest.mark.usefixtures("postgresql")
def test_on_postgresql_the_audit_table_refuses_update_and_delete(enterprise, member, hr_user):
    events = a_chain(enterprise, member, hr_user)
    for attempt in (
        lambda: AuditEvent.objects.filter(pk=events[1].pk).update(action="changed"),
        lambda: AuditEvent.objects.filter(pk=events[1].pk).delete(),
        lambda: AuditEvent.objects.all().delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE compliance_auditevent SET hash = 'x' WHERE id = %s", [events[0].pk]
            )
    # then nothing changed
    assert AuditEvent.objects.count() == 3
    assert verify_audit()[0] == 0


def test_on_any_database_a_head_is_inserted_only_at_the_beginning_of_its_chain(
    enterprise, member, hr_user
):
    # given an enterprise whose chain has not started yet
    assert not AuditChainHead.objects.filter(enterprise=enterprise).exists()
    # when someone who can insert rows starts its head far along, or marks every event to come as
    # written before the keys (so that a plain SHA-256, which anyone computes, would verify)
    for values in (
        {"seq": 0, "hash": audit.GENESIS, "legacy_until": 10**9},
        {"seq": 5, "hash": audit.GENESIS, "legacy_until": 0},
        {"seq": 0, "hash": "f" * 64, "legacy_until": 0},
    ):
        with pytest.raises(DatabaseError, match="starts at the beginning"), transaction.atomic():
            AuditChainHead.objects.create(enterprise=enterprise, **values)
    # then no head was written, and the writer still starts the chain at its beginning
    assert not AuditChainHead.objects.filter(enterprise=enterprise).exists()
    a_chain(enterprise, member, hr_user, length=2)
    head = AuditChainHead.objects.get(enterprise=enterprise)
    assert (head.seq, head.legacy_until) == (2, 0)
    assert verify_audit()[0] == 0


def test_on_any_database_events_refuse_update_and_delete_and_the_head_refuses_delete(
    enterprise, member, hr_user
):
    # (SQLite by triggers too, since migration 0004; the suite runs this on either database)
    events = a_chain(enterprise, member, hr_user)
    refusals = [
        ("append-only", lambda: AuditEvent.objects.filter(pk=events[1].pk).update(action="x")),
        ("append-only", lambda: AuditEvent.objects.filter(pk=events[2].pk).delete()),
        ("kept for good", lambda: AuditChainHead.objects.filter(enterprise=enterprise).delete()),
        # the head is never set back, nor pointed at an event that is not there
        (
            "only advances",
            lambda: AuditChainHead.objects.filter(enterprise=enterprise).update(
                seq=2, hash=events[1].hash
            ),
        ),
        (
            "only advances",
            lambda: AuditChainHead.objects.filter(enterprise=enterprise).update(seq=4),
        ),
        (
            "only advances",
            lambda: AuditChainHead.objects.filter(enterprise=enterprise).update(legacy_until=3),
        ),
    ]
    for message, attempt in refusals:
        with pytest.raises(DatabaseError, match=message), transaction.atomic():
            attempt()
    # then nothing changed, and the writer still advances the head
    assert AuditEvent.objects.count() == 3
    a_chain(enterprise, member, hr_user, length=1)
    assert AuditChainHead.objects.get(enterprise=enterprise).seq == 4
    assert verify_audit()[0] == 0


def test_a_door_of_an_enterprise_without_its_chain_head_refuses_and_changes_nothing(
    enterprise, member, hr_user, open_exit_for
):
    # given an enterprise whose chain head was deleted (behind the triggers' back)
    a_chain(enterprise, member, hr_user)
    raw("DELETE FROM compliance_auditchainhead WHERE enterprise_id = %s", [enterprise.pk])
    # when HR opens an exit
    with pytest.raises(ExitRefused, match="lost its chain head"):
        open_exit_for(member, kind=ExitKind.PASSIVE)
    # then nothing was opened, and no second chain begins
    assert not Exit.objects.filter(member=member).exists()
    assert AuditEvent.objects.filter(enterprise=enterprise).count() == 3
    assert not AuditChainHead.objects.filter(enterprise=enterprise).exists()


# ---------------------------------------------------------------------------------------------
# The admin


@pytest.fixture
def compliance_client(client, compliance_user):
    client.force_login(compliance_user)
    return client


def changelist(**params) -> str:
    url = reverse("admin:compliance_auditevent_changelist")
    if params:
        url += "?" + "&".join(f"{key}={value}" for key, value in params.items())
    return url


def change_page(event) -> str:
    return reverse("admin:compliance_auditevent_change", args=[event.pk])


def rows_of(response) -> list[int]:
    return [event.pk for event in response.context["cl"].result_list]


def test_compliance_reads_its_enterprises_trail_and_no_other(
    compliance_client, enterprise, member, hr_user
):
    # given events here and in another enterprise
    ours = a_chain(enterprise, member, hr_user)
    other = factories.EnterpriseFactory(name="另一家公司")
    theirs = a_chain(other, factories.MemberFactory(enterprise=other), None, length=1)
    # then the changelist lists ours only
    response = compliance_client.get(changelist())
    assert response.status_code == 200
    assert sorted(rows_of(response)) == sorted(event.pk for event in ours)
    # and their event's page is "not found"
    response = compliance_client.get(change_page(theirs[0]))
    assert response.status_code == 302  # Django's "doesn't exist", back to the index
    assert compliance_client.get(change_page(theirs[0]), follow=True).status_code == 200


def test_a_member_who_acted_is_named_as_they_are_now_and_only_by_id_in_the_chain(
    compliance_client, enterprise, member, hr_user
):
    # given an event about 张伟 by his manager (a member) and one by HR
    manager = factories.MemberFactory(enterprise=enterprise, name="李娜")
    (by_manager,) = a_chain(enterprise, member, manager.user, length=1)
    (by_hr,) = a_chain(enterprise, member, hr_user, length=1)

    # then the chain keeps the manager's id but not her name (hers to have erased); HR's stays
    assert (by_manager.actor_id, by_manager.actor_name) == (manager.user.pk, "")
    assert by_hr.actor_name == hr_user.get_username()
    # and the trail names her as she is now, in the same query as the rows
    with CaptureQueriesContext(connection) as queries:
        page = compliance_client.get(changelist()).content.decode()
    assert "李娜" in page
    assert len(queries) < 15
    manager.name = "a3f1c0d2e4b59687"  # what an erasure leaves
    manager.save(update_fields=["name"])
    page = compliance_client.get(changelist()).content.decode()
    assert "李娜" not in page
    assert "a3f1c0d2e4b59687" in page


def test_a_user_who_is_compliance_in_one_enterprise_and_hr_in_another_reads_only_the_first(
    client, compliance_user, enterprise, member, hr_user
):
    other = factories.EnterpriseFactory(name="另一家公司")
    grant_access(user=compliance_user, enterprise=other, role=StaffRole.HR)
    ours = a_chain(enterprise, member, hr_user, length=1)
    a_chain(other, factories.MemberFactory(enterprise=other), None, length=1)
    client.force_login(compliance_user)
    assert rows_of(client.get(changelist())) == [ours[0].pk]


def test_hr_and_it_do_not_see_the_trail(client, hr_user, it_user, enterprise, member):
    event = a_chain(enterprise, member, hr_user, length=1)[0]
    for user in (hr_user, it_user):
        client.force_login(user)
        assert client.get(changelist()).status_code == 403
        assert client.get(change_page(event)).status_code in (403, 302)


def test_the_trail_filters_per_member_per_exit_and_per_action(
    compliance_client, enterprise, member, hr_user
):
    # given events of two members and two exits
    mine = a_chain(enterprise, member, hr_user, length=2)
    other = factories.MemberFactory(enterprise=enterprise)
    theirs = audit.record(
        enterprise.pk,
        actor=None,
        action="exit_closed",
        object_type="exit",
        object_id=7,
        member_id=other.pk,
        exit_id=7,
    )
    # then each filter shows its own
    assert sorted(rows_of(compliance_client.get(changelist(member_id=member.pk)))) == sorted(
        event.pk for event in mine
    )
    assert rows_of(compliance_client.get(changelist(exit_id=7))) == [theirs.pk]
    assert rows_of(compliance_client.get(changelist(action="exit_closed"))) == [theirs.pk]
    assert rows_of(compliance_client.get(changelist(action="exit_opened"))) == [mine[0].pk]
    # and the search box takes a member's or an exit's id
    assert rows_of(compliance_client.get(changelist(q=7))) == [theirs.pk]
    # and a malformed id is an error on the page, never a 500
    for params in ({"member_id": "abc"}, {"exit_id": "1" * 30}, {"enterprise": "x"}):
        response = compliance_client.get(changelist(**params))
        assert response.status_code == 302 and "e=1" in response.url


def test_the_change_page_shows_the_facts_and_the_decrypted_personal_data(
    compliance_client, enterprise, member, hr_user
):
    event = a_chain(enterprise, member, hr_user, length=1)[0]
    response = compliance_client.get(change_page(event))
    assert response.status_code == 200
    content = response.content.decode()
    # the facts as labelled fields, codes by their labels, not raw JSON
    assert "<dt>Kind</dt><dd>Voluntary (member leaves)</dd>" in content
    assert "<dt>Ok</dt><dd>Yes</dd>" in content
    assert '"kind"' not in content
    assert REASON in content  # personal data, decrypted for the reader
    assert event.hash in content and event.prev_hash in content
    # once the member's key is destroyed, the page says so
    crypto.destroy_key(member.pk)
    content = compliance_client.get(change_page(event)).content.decode()
    assert REASON not in content
    assert "Erased: the member&#x27;s key was destroyed (crypto-shredding)." in content


def test_reading_an_event_is_not_itself_an_event(compliance_client, enterprise, member, hr_user):
    event = a_chain(enterprise, member, hr_user, length=1)[0]
    compliance_client.get(change_page(event))
    compliance_client.get(changelist())
    assert AuditEvent.objects.count() == 1


def test_nobody_adds_changes_or_deletes_an_event_in_the_admin_not_even_a_superuser(
    client, enterprise, member, hr_user
):
    event = a_chain(enterprise, member, hr_user, length=1)[0]
    superuser = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    assert client.get(changelist()).status_code == 200
    page = client.get(change_page(event))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get(reverse("admin:compliance_auditevent_add")).status_code == 403
    delete = reverse("admin:compliance_auditevent_delete", args=[event.pk])
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.post(change_page(event), {"action": "changed"}).status_code == 403
    bulk = client.post(
        changelist(), {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=event.pk, action="exit_opened").exists()
    assert client.get(reverse("admin:compliance_auditevent_history", args=[event.pk])).status_code
    assert verify_audit()[0] == 0


def test_the_changelist_queries_do_not_grow_with_the_trail(
    compliance_client, enterprise, member, hr_user
):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert compliance_client.get(changelist()).status_code == 200
        return len(queries)

    a_chain(enterprise, member, hr_user, length=2)
    few = count()
    a_chain(enterprise, factories.MemberFactory(enterprise=enterprise), None, length=30)
    assert count() == few


def test_the_exit_and_member_pages_link_to_their_trail_for_compliance_only(
    client, compliance_user, hr_user, enterprise, member, open_exit_for
):
    exit_case = open_exit_for(member)
    exit_page = reverse("admin:offboarding_exit_change", args=[exit_case.pk])
    member_page = reverse("admin:directory_member_change", args=[member.pk])
    # Compliance sees the links
    client.force_login(compliance_user)
    content = client.get(exit_page).content.decode()
    assert f"{changelist()}?exit_id={exit_case.pk}" in content
    content = client.get(member_page).content.decode()
    assert f"{changelist()}?member_id={member.pk}" in content
    # and following the exit's link lists its events
    trail = client.get(changelist(exit_id=exit_case.pk))
    assert [event.action for event in trail.context["cl"].result_list] == ["exit_opened"]
    # HR, who may not read the trail, sees neither
    client.force_login(hr_user)
    assert "?exit_id=" not in client.get(exit_page).content.decode()
    assert "?member_id=" not in client.get(member_page).content.decode()


def test_events_list_newest_first_within_the_enterprise(
    compliance_client, enterprise, member, hr_user
):
    events = a_chain(enterprise, member, hr_user)
    assert rows_of(compliance_client.get(changelist())) == [event.pk for event in events][::-1]


def test_a_chain_of_events_a_day_apart_verifies(enterprise, member, hr_user):
    start = timezone.now()
    for day in range(3):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            a_chain(enterprise, member, hr_user, length=1)
    assert verify_audit()[0] == 0


def test_the_list_reads_as_sentences_with_names_and_links(
    compliance_client, enterprise, member, compliance_user
):
    # given: a compliance officer, a member with a login, placed a legal hold on the member
    actor = factories.MemberFactory(
        enterprise=enterprise, name="李人事", employee_number="E100002", user=compliance_user
    )
    hold = holds.place_hold(enterprise, member=member, reason="诉讼", actor=actor.user)
    # when
    page = compliance_client.get(changelist()).content.decode()
    # then: people by name and number, the action and the object in words, the object linked
    assert f"{member.name} ({member.employee_number})" in page
    assert "李人事 (E100002)" in page
    assert "Legal hold placed" in page
    assert "hold_placed" not in page.split("<tbody>")[1].split("</tbody>")[0]
    hold_url = reverse("admin:compliance_legalhold_change", args=[hold.pk])
    assert f'<a href="{hold_url}">Legal hold #{hold.pk}</a>' in page
    # one enterprise read: no enterprise column
    assert "column-enterprise" not in page


def test_the_list_costs_the_same_queries_however_many_rows(
    compliance_client, enterprise, member, hr_user
):
    a_chain(enterprise, member, hr_user, length=2)
    with CaptureQueriesContext(connection) as few:
        compliance_client.get(changelist())
    a_chain(enterprise, factories.MemberFactory(enterprise=enterprise), hr_user, length=20)
    with CaptureQueriesContext(connection) as many:
        compliance_client.get(changelist())
    assert len(many) == len(few)


# ---------------------------------------------------------------------------------------------
# Verification reads rows, not events


def test_verification_spells_every_event_exactly_as_it_was_hashed(enterprise, member, hr_user):
    # given events of every shape: with and without an actor, personal data, odd characters, a
    # time on a whole second, and one written before the chain was keyed (no key id)
    odd = 'quote " backslash \\ newline \n tab \t 二 😀 \u2028'
    events = a_chain(enterprise, member, hr_user)
    with time_machine.travel(timezone.now().replace(microsecond=0), tick=False):
        events += audit.record_many(
            enterprise.pk,
            [
                audit.Event(action=odd, object_type="member", object_id=odd, data={odd: [odd]}),
                audit.Event(
                    action="x",
                    object_type="exit",
                    member_id=member.pk,
                    data={"float": 1.5, "big": 2**53 + 1, "none": None, "empty": {}},
                    personal={"name": odd},
                ),
            ],
            actor=None,
        )
    raw("UPDATE compliance_auditevent SET key_id = '' WHERE id = %s", [events[0].pk])
    # when verification reads them as rows, in chunks
    chunks = list(audit.verify_rows(enterprise.pk, chunk_size=2))
    # then each row spells the bytes its hash is taken of: its previous hash and the bytes
    # `canonical` gives for the event as stored
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    for pk, hash_, seq, prev_hash, key_id, payload in [row for chunk in chunks for row in chunk]:
        event = AuditEvent.objects.get(pk=pk)
        assert payload == event.prev_hash.encode() + audit.canonical(event)
        assert (hash_, seq, prev_hash, key_id) == (
            event.hash,
            event.seq,
            event.prev_hash,
            event.key_id,
        )
    # and so does `canonical_row`, given the event's columns
    for event in AuditEvent.objects.filter(enterprise=enterprise):
        columns = AuditEvent.objects.filter(pk=event.pk).values_list(*audit.VERIFY_COLUMNS).get()
        assert audit.canonical_row(*columns) == audit.canonical(event)


def test_a_long_whole_chain_is_verified_without_reading_its_events_one_by_one(
    enterprise, member, hr_user, django_assert_max_num_queries
):
    # given a chain of 300 events, some with personal data
    audit.record_many(
        enterprise.pk,
        [
            audit.Event(
                action="step",
                object_type="exit",
                object_id=n,
                member_id=member.pk,
                data={"n": n},
                personal={"reason": REASON} if n % 3 == 0 else None,
            )
            for n in range(300)
        ],
        actor=hr_user,
    )
    # when it is verified, then every event holds as read in chunks: no event is read again
    with django_assert_max_num_queries(12):
        (check,) = audit.verify(enterprise.pk, chunk_size=50)
    assert check.whole and check.checked == 300
