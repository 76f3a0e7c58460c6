"""Invitations queued for a real `celery worker` (Redis broker, PostgreSQL): each chunk of a batch
queued by "Invite selected members", delivered twice through the broker, invites each member once;
the last chunk finishes the batch and queues HR's notification of the outcome."""

import pytest

from directory import invitations, tasks
from directory.choices import InvitationOutcome
from directory.models import Invitation, JobChunk, Member
from offboarding.choices import NotificationEvent
from offboarding.models import Notification
from tests import factories
from tests.directory.test_bulk_invitations import members_of
from tests.integration.test_workers import answer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_invites_each_member_of_a_queued_batch_once_and_tells_hr(
    start_worker, sender, enterprise, hr_user, monkeypatch
):
    members = [*members_of(enterprise, 25), *members_of(factories.EnterpriseFactory(), 2, 500)]
    queued = []
    monkeypatch.setattr(tasks.invite_members, "delay", lambda *args: queued.append(args))
    monkeypatch.setattr(invitations, "CHUNK_SIZE", 10)
    invitations.queue_invitations(
        Member.objects.filter(pk__in=[m.pk for m in members]), actor=hr_user, site_url="http://x/"
    )
    worker = start_worker("invitations")

    answers = [answer(sender, invitations.JOB, worker, args=args) for args in queued * 2]

    assert answers[:3] == [
        {"sent": 10, "not_sent": 0, "skipped": 0},
        {"sent": 10, "not_sent": 0, "skipped": 0},
        {"sent": 5, "not_sent": 0, "skipped": 0},
    ]
    assert answers[3:] == answers[:3]  # delivered again: counted, not sent again
    sent = Invitation.objects.filter(outcome=InvitationOutcome.SENT)
    assert sorted(sent.values_list("member_id", flat=True)) == sorted(
        m.pk for m in members if m.enterprise_id == enterprise.pk
    )
    head = JobChunk.objects.get(job=invitations.JOB, key=queued[0][0])
    assert (head.done_at is not None, head.counts["sent"]) == (True, 25)
    (note,) = Notification.objects.filter(event=NotificationEvent.INVITATIONS_SENT)
    assert note.recipient == hr_user
