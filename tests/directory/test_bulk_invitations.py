"""Inviting many members at once: after an import, HR selects thousands of members and runs
"Invite selected members". The page answers at once — the mails are sent by the workers, in
chunks, each member once however often a chunk is delivered — and HR learns how it went from the
members list's login filter and from the notification mailed when the last chunk is done."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core import mail as outbox
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent
from directory import invitations, tasks
from directory.choices import InvitationOutcome, StaffRole
from directory.models import Invitation, JobChunk, Member
from directory.services import member_username
from offboarding import tasks as offboarding_tasks
from offboarding.choices import NotificationEvent
from offboarding.models import Notification
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:directory_member_changelist")
MANY = invitations.IN_REQUEST + 5


def new_member(enterprise, number, *, email=None):
    """A member as the import creates one: a login without a usable password."""
    login = f"m{number}"
    user = factories.UserFactory(
        username=member_username(enterprise, login),
        email=f"{login}@{enterprise.code}.example.cn" if email is None else email,
    )
    user.set_unusable_password()
    user.save()
    return factories.MemberFactory(
        enterprise=enterprise, user=user, name=f"员工{number}", employee_number=f"E{number:05d}"
    )


def members_of(enterprise, count, start=0):
    return [new_member(enterprise, number) for number in range(start, start + count)]


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def queued(monkeypatch):
    """The chunk tasks queued for the workers (the arguments of each `delay`)."""
    calls = []
    monkeypatch.setattr(tasks.invite_members, "delay", lambda *args: calls.append(args))
    return calls


@pytest.fixture
def queue(queued, django_capture_on_commit_callbacks):
    """Queue the invitation of `members` as `actor`, as the admin action does, and commit."""

    def queue(members, actor):
        with django_capture_on_commit_callbacks(execute=True):
            return invitations.queue_invitations(
                Member.objects.filter(pk__in=[m.pk for m in members]),
                actor=actor,
                site_url="http://x/",
            )

    return queue


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(invitations, "CHUNK_SIZE", 10)


def invite_selected(client, capture, data, url=CHANGELIST):
    with capture(execute=True):
        return client.post(url, {"action": "invite_selected", **data}, follow=True)


def run(chunks):
    """The workers take each queued chunk (a real run of the task, as a worker does)."""
    for args in chunks:
        result = tasks.invite_members.apply(args=args)
        assert result.successful(), result.traceback


def test_many_members_are_queued_and_the_page_answers_before_any_mail(
    hr_client, enterprise, queued, small_chunks, django_capture_on_commit_callbacks
):
    members = members_of(enterprise, MANY)

    response = invite_selected(
        hr_client,
        django_capture_on_commit_callbacks,
        {"_selected_action": [member.pk for member in members]},
    )

    assert response.status_code == 200
    assert outbox.outbox == []  # nothing sent in the request
    assert not Invitation.objects.exists()
    (shown,) = messages_of(response)
    assert shown.startswith(f"{MANY} invitations are being sent in the background.")
    assert f'href="{CHANGELIST}?login=invited"' in shown
    assert "Last mail not sent" in shown
    # three chunks of at most 10, every member in exactly one
    assert [len(args[3]) for args in queued] == [10, 10, 5]
    assert sorted(pk for args in queued for pk in args[3]) == sorted(m.pk for m in members)
    event = AuditEvent.objects.get(action="member_invitations_queued")
    assert (event.enterprise_id, event.data["members"]) == (enterprise.pk, MANY)


def test_the_workers_invite_each_member_once_and_record_those_not_sent(
    hr_client, hr_user, enterprise, queued, small_chunks, django_capture_on_commit_callbacks
):
    members = members_of(enterprise, MANY)
    no_address = new_member(enterprise, 900, email="")
    has_password = new_member(enterprise, 901)
    has_password.user.set_password("old-password-55")
    has_password.user.save()
    selected = [*members, no_address, has_password]
    invite_selected(
        hr_client,
        django_capture_on_commit_callbacks,
        {"_selected_action": [member.pk for member in selected]},
    )

    with django_capture_on_commit_callbacks(execute=False) as notified:
        run(queued)
        run(queued)  # every chunk delivered twice

    assert sorted(message.to[0] for message in outbox.outbox) == sorted(
        member.user.email for member in members
    )
    assert Invitation.objects.filter(outcome=InvitationOutcome.SENT).count() == MANY
    not_sent = Invitation.objects.get(outcome=InvitationOutcome.NOT_SENT)
    assert (not_sent.member, not_sent.failure) == (
        no_address,
        "there is no e-mail address to send it to.",
    )
    assert not Invitation.objects.filter(member=has_password).exists()
    assert AuditEvent.objects.filter(action="member_invited").count() == MANY
    # HR finds the one not sent with the members list's filter
    page = hr_client.get(CHANGELIST + "?login=not_sent")
    assert list(page.context["cl"].result_list) == [no_address]
    # and is told once, when the last chunk is done
    (note,) = Notification.objects.filter(event=NotificationEvent.INVITATIONS_SENT)
    assert note.recipient == hr_user
    assert len(notified) == 1


def test_hr_is_mailed_the_outcome_in_the_enterprises_language(
    hr_client, hr_user, enterprise, queued, monkeypatch, django_capture_on_commit_callbacks
):
    enterprise.language = "en"
    enterprise.save()
    members = [*members_of(enterprise, MANY), new_member(enterprise, 900, email="")]
    invite_selected(
        hr_client,
        django_capture_on_commit_callbacks,
        {"_selected_action": [member.pk for member in members]},
    )
    sent_to_worker = []
    monkeypatch.setattr(offboarding_tasks.send_notification, "delay", sent_to_worker.append)

    with django_capture_on_commit_callbacks(execute=True):
        run(queued)
    outbox.outbox.clear()
    offboarding_tasks.send_notification.apply(args=sent_to_worker)

    (note,) = Notification.objects.filter(event=NotificationEvent.INVITATIONS_SENT)
    assert note.subject == f"Invitations: {MANY} sent, 1 not sent"
    assert f"{MANY} sent, 1 not sent, 0 left out" in note.body
    assert note.link.endswith(f"{CHANGELIST}?login=not_sent")
    (message,) = outbox.outbox
    assert message.to == [hr_user.email]
    assert message.subject == f"Invitations: {MANY} sent, 1 not sent"


def test_the_batch_is_finished_once_whichever_chunk_ends_last(
    hr_user, enterprise, queued, queue, small_chunks
):
    members = members_of(enterprise, MANY)
    queue(members, hr_user)
    queued.reverse()  # the last chunk first

    for args in queued:
        assert not Notification.objects.exists()
        run([args])
    run(queued)

    head = JobChunk.objects.get(job=invitations.JOB, key=queued[0][0])
    assert head.done_at is not None
    assert {k: head.counts[k] for k in ("sent", "not_sent", "skipped")} == {
        "sent": MANY,
        "not_sent": 0,
        "skipped": 0,
    }
    assert Notification.objects.filter(event=NotificationEvent.INVITATIONS_SENT).count() == 1


def test_a_chunk_run_again_after_its_worker_was_killed_mails_only_those_left(
    hr_user, enterprise, queued, queue, monkeypatch
):
    members = members_of(enterprise, 6)
    queue(members, hr_user)
    (args,) = queued
    # the first delivery dies after three mails
    real_invite, calls = invitations.invite, []

    def dying_invite(member, **kwargs):
        if len(calls) == 3:
            raise SystemExit("worker killed")
        calls.append(member)
        return real_invite(member, **kwargs)

    monkeypatch.setattr(invitations, "invite", dying_invite)
    with pytest.raises(SystemExit):
        tasks.invite_members(*args)
    monkeypatch.setattr(invitations, "invite", real_invite)

    run([args])

    assert sorted(message.to[0] for message in outbox.outbox) == sorted(
        member.user.email for member in members
    )
    head = JobChunk.objects.get(job=invitations.JOB, key=args[0])
    assert head.counts["sent"] == 6


def test_a_member_invited_before_the_batch_is_invited_again_but_not_one_invited_since(
    hr_user, enterprise, queued, queue
):
    earlier, since = members_of(enterprise, 2)
    with time_machine.travel(timezone.now() - timedelta(days=3)):
        invitations.invite(earlier, actor=hr_user, site_url="http://x/")
    queue([earlier, since], hr_user)
    invitations.invite(since, actor=hr_user, site_url="http://x/")  # from their page, meanwhile
    outbox.outbox.clear()

    run(queued)

    assert [message.to[0] for message in outbox.outbox] == [earlier.user.email]


# --- the tenant wall ---------------------------------------------------------------------------


def test_select_all_invites_only_members_of_the_users_enterprise(
    hr_client, enterprise, queued, django_capture_on_commit_callbacks
):
    ours = members_of(enterprise, MANY)
    other = factories.EnterpriseFactory(code="other")
    theirs = members_of(other, 3, start=500)

    response = invite_selected(
        hr_client,
        django_capture_on_commit_callbacks,
        {"select_across": "1", "index": "0", "_selected_action": [ours[0].pk]},
    )
    run(queued)

    assert messages_of(response)[0].startswith(f"{MANY} invitations are being sent")
    assert {args[2] for args in queued} == {enterprise.pk}
    assert len(outbox.outbox) == MANY
    assert not Invitation.objects.filter(member__in=theirs).exists()


def test_hr_of_one_enterprise_selecting_members_of_another_invites_none_of_them(
    hr_client, enterprise, queued, django_capture_on_commit_callbacks
):
    ours = members_of(enterprise, MANY)
    other = factories.EnterpriseFactory(code="other")
    theirs = members_of(other, 3, start=500)

    invite_selected(
        hr_client,
        django_capture_on_commit_callbacks,
        {"_selected_action": [member.pk for member in [*ours, *theirs]]},
    )
    run(queued)

    assert sorted(pk for args in queued for pk in args[3]) == sorted(m.pk for m in ours)
    assert not Invitation.objects.filter(member__in=theirs).exists()
    assert not any("other.example.cn" in message.to[0] for message in outbox.outbox)


def test_select_all_by_hr_of_one_enterprise_and_it_of_another_invites_only_the_first(
    hr_client, hr_user, enterprise, queued, django_capture_on_commit_callbacks
):
    ours = members_of(enterprise, MANY)
    other = factories.EnterpriseFactory(code="other")
    factories.GrantFactory(user=hr_user, enterprise=other, role=StaffRole.IT)
    theirs = members_of(other, 3, start=500)
    listed = hr_client.get(CHANGELIST)
    assert {m.enterprise_id for m in listed.context["cl"].result_list} == {enterprise.pk, other.pk}

    response = invite_selected(
        hr_client,
        django_capture_on_commit_callbacks,
        {"select_across": "1", "index": "0", "_selected_action": [theirs[0].pk]},
    )
    run(queued)

    assert messages_of(response)[0].startswith(f"{MANY} invitations are being sent")
    assert sorted(message.to[0] for message in outbox.outbox) == sorted(
        member.user.email for member in ours
    )
    assert not Invitation.objects.filter(member__in=theirs).exists()
    event = AuditEvent.objects.get(action="member_invitations_queued")
    assert event.enterprise_id == enterprise.pk


def test_a_chunk_naming_members_of_another_enterprise_mails_none_of_them(
    hr_user, enterprise, queued, queue
):
    ours = members_of(enterprise, 2)
    other = factories.EnterpriseFactory(code="other")
    theirs = members_of(other, 2, start=500)
    queue(ours, hr_user)
    (args,) = queued
    forged = (args[0], args[1], other.pk, [m.pk for m in theirs], *args[4:])  # their enterprise
    mixed = (*args[:3], [m.pk for m in [*ours, *theirs]], *args[4:])  # ours, with theirs

    run([forged, mixed])

    assert not Invitation.objects.filter(member__in=theirs).exists()
    assert len(outbox.outbox) == 2


def test_hr_who_lost_the_enterprise_before_the_workers_ran_invites_no_one(
    hr_user, enterprise, queued, queue
):
    members = members_of(enterprise, 3)
    queue(members, hr_user)
    hr_user.enterprise_accesses.all().delete()

    run(queued)

    assert outbox.outbox == []
    assert not Invitation.objects.exists()


# --- cost -----------------------------------------------------------------------------------


def test_a_chunks_queries_grow_by_a_fixed_number_per_member(hr_user, enterprise, queued, queue):
    def queries_of_a_chunk(count, start):
        members = members_of(enterprise, count, start=start)
        queued.clear()
        queue(members, hr_user)
        with CaptureQueriesContext(connection) as queries:
            run(queued)
        return len(queries)

    five, fifteen = queries_of_a_chunk(5, 0), queries_of_a_chunk(15, 100)

    per_member = (fifteen - five) / 10
    assert per_member <= 8, f"{per_member} queries per member"
    assert five - 5 * per_member <= 20  # and a fixed few per chunk
