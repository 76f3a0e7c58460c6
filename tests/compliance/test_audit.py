"""The tamper-evident audit trail (C-7): `manage.py verify_audit` proves each enterprise's chain
unbroken, or names the first broken event — one changed byte in any column of any event, a deleted
event, a renumbered one; crypto-shredding leaves the chain verifiable; on PostgreSQL the table
refuses UPDATE and DELETE. And the trail in the admin: read-only for everyone, the Compliance
role's, per member and per exit, its personal data decrypted (or "erased")."""

import io
import json
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance import audit, crypto
from compliance.models import AuditChainHead, AuditEvent
from directory.choices import StaffRole
from directory.permissions import grant_access
from tests import factories

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


@contextmanager
def append_only_lifted():
    """On PostgreSQL, the append-only trigger lifted for the block, as someone with the database's
    superuser rights could (`session_replication_role = replica` fires no ordinary trigger), for
    the test's transaction only (SET LOCAL)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = origin")


def raw(sql: str, params=()) -> None:
    with append_only_lifted(), connection.cursor() as cursor:
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


def test_a_changed_hash_is_named_as_not_matching_its_content(enterprise, member, hr_user):
    events = a_chain(enterprise, member, hr_user)
    change_one_byte(events[1], "data")
    status, output = verify_audit()
    assert status == 1
    assert (
        f"BROKEN at event id {events[1].pk}, seq 2, action 'step_2' (1 event(s) before it "
        "whole): its hash does not match its content." in output
    )


def test_a_deleted_event_in_the_middle_is_detected(enterprise, member, hr_user):
    # given three events, the middle one deleted
    events = a_chain(enterprise, member, hr_user)
    raw("DELETE FROM compliance_auditevent WHERE id = %s", [events[1].pk])
    # then the event after the gap is named, and the gap is said
    status, output = verify_audit()
    assert status == 1
    assert f"BROKEN at event id {events[2].pk}, seq 3" in output
    assert "sequence 3, expected 2" in output
    assert "Event seq 2 is missing: deleted." in output


def test_a_deleted_last_event_is_detected_by_the_chain_head(enterprise, member, hr_user):
    events = a_chain(enterprise, member, hr_user)
    raw("DELETE FROM compliance_auditevent WHERE id = %s", [events[2].pk])
    status, output = verify_audit()
    assert status == 1
    assert f"event id {events[1].pk}, seq 2" in output
    assert "the chain's head names event 3, the last event is 2" in output


def test_a_renumbered_event_is_named_where_it_went(enterprise, member, hr_user):
    events = a_chain(enterprise, member, hr_user)
    change_one_byte(events[1], "seq")  # seq 2 → 9
    status, output = verify_audit()
    assert status == 1
    assert f"Event seq 2 is there as event id {events[1].pk}, seq 9" in output
    assert "renumbered, and its hash does not match its content" in output


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
    assert "voluntary" in content  # data
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
