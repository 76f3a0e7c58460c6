"""Notifications (offboarding/notifications.py): each door tells the right person, in the
enterprise's language, with an absolute link to the page where the thing is done; nothing when
the door's transaction rolls back; sent by e-mail and through Apprise to the IM group robots; a
failed send retried, then shown as failed with its error, and retried from the admin."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from compliance import erasure
from compliance.models import AuditEvent
from directory import services as directory_services
from directory.choices import MemberStatus, StaffRole
from directory.models import JobRun
from offboarding import handover, inheritance, notifications, tasks, workflow
from offboarding.choices import (
    ExitKind,
    HandoverState,
    InheritanceStatus,
    NotificationChannel,
    NotificationEvent,
    NotificationStatus,
)
from offboarding.models import GroupRobot, InheritanceItem, Notification, SuperAdminHandover
from tests import factories

pytestmark = pytest.mark.django_db

SITE = "https://exitdesk.example.cn"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.EXITDESK_SITE_URL = SITE


@pytest.fixture
def english(enterprise):
    enterprise.language = "en"
    enterprise.save()
    return enterprise


def notes(**filters) -> list[Notification]:
    return list(Notification.objects.filter(**filters).order_by("pk"))


# ---------------------------------------------------------------------------------------------
# A tiny robot: an HTTP endpoint in a thread, which Apprise's json:// posts to


class _Robot(BaseHTTPRequestHandler):
    status = 200

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", 0))
        self.server.received.append((self.path, json.loads(self.rfile.read(length) or b"{}")))
        self.send_response(self.server.status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def robot_endpoint():
    """A local HTTP endpoint; `.received` lists (path, JSON) of each POST; `.status` answers."""
    server = HTTPServer(("127.0.0.1", 0), _Robot)
    server.received = []
    server.status = 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def robot_for(enterprise, server, *, hr_user, name="HR 群") -> GroupRobot:
    host, port = server.server_address
    return notifications.save_robot(
        GroupRobot(enterprise=enterprise, name=name),
        actor=hr_user,
        url=f"json://{host}:{port}/robot",
    )


# ---------------------------------------------------------------------------------------------
# Each door tells the right person, in the right language, with the right link


def test_a_submitted_exit_tells_the_manager_in_english_with_the_link_to_the_approval(
    english, member, manager, open_exit_for, django_capture_on_commit_callbacks
):
    # given a draft exit in an enterprise that writes English
    exit_case = open_exit_for(member)
    # when the member submits it
    with django_capture_on_commit_callbacks() as queued:
        workflow.submit(exit_case, actor=member.user)
    # then the manager, who decides the first step, is told by e-mail, in English
    [note] = notes(event=NotificationEvent.STEP_WAITING)
    assert (note.recipient, note.recipient_member, note.channel) == (
        manager.user,
        manager,
        NotificationChannel.EMAIL,
    )
    assert note.language == "en"
    assert note.subject == f"The exit of {member.name} waits for your approval"
    assert "Step 1 of the approval (Direct manager) waits for your decision." in note.body
    # with the absolute link to the page where they approve it
    assert note.link == f"{SITE}/approvals/{exit_case.pk}/"
    # queued for the worker once the submit committed
    assert note.status == NotificationStatus.QUEUED
    assert len(queued) == 1


def test_a_submitted_exit_tells_the_manager_in_chinese_when_the_enterprise_writes_chinese(
    enterprise, member, manager, open_exit_for
):
    workflow.submit(open_exit_for(member), actor=member.user)
    [note] = notes(event=NotificationEvent.STEP_WAITING)
    assert note.language == "zh-hans"
    assert note.subject == f"{member.name} 的离职等待您审批"


def test_a_step_hr_decides_tells_every_hr_user_and_the_group_robot(
    english, member, manager, hr_user, open_exit_for, robot_endpoint
):
    # given HR's group robot and an exit waiting for the manager
    robot = robot_for(english, robot_endpoint, hr_user=hr_user)
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    # when the manager approves, the second step (HR) waits
    workflow.approve(exit_case, actor=manager.user)
    # then HR is told by e-mail and in the group, with the link to the exit's admin page
    waiting = notes(event=NotificationEvent.STEP_WAITING, recipient_member__isnull=True)
    assert [(n.channel, n.recipient, n.robot) for n in waiting] == [
        (NotificationChannel.EMAIL, hr_user, None),
        (NotificationChannel.GROUP, None, robot),
    ]
    assert {n.link for n in waiting} == {
        SITE + reverse("admin:offboarding_exit_change", args=[exit_case.pk])
    }


def test_the_member_is_told_when_their_exit_is_approved(
    english, member, open_exit_for, approve_every_step
):
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    approve_every_step(exit_case)
    [note] = notes(event=NotificationEvent.EXIT_APPROVED)
    assert note.recipient == member.user
    assert note.subject == "Your exit was approved"
    assert note.link == f"{SITE}/me/exit/"


def test_the_member_is_told_when_their_exit_is_rejected_with_the_reason(
    english, member, manager, open_exit_for
):
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    workflow.reject(exit_case, actor=manager.user, reason="Project deadline first")
    [note] = notes(event=NotificationEvent.EXIT_REJECTED)
    assert note.recipient == member.user
    assert note.body.endswith("The reason given: Project deadline first")


def test_the_member_is_told_when_their_exit_is_completed(english, member, completed_exit):
    completed_exit(member)
    [note] = notes(event=NotificationEvent.EXIT_COMPLETED)
    assert note.recipient == member.user
    assert note.link == ""  # their login is closed: nothing to open


def test_the_successor_is_told_what_arrived_and_hr_what_did_not_fit(
    english, member, manager, hr_user, exit_in_handover
):
    # given a successor who may look after 1 contact more, and a member with 3
    english.customer_limit_per_member = 1
    english.save()
    factories.ExternalContactFactory.create_batch(3, enterprise=english, owner=member)
    factories.CustomerGroupFactory(enterprise=english, owner=member)
    exit_case = exit_in_handover(member)
    # when HR hands everything over to the manager
    batch = inheritance.inherit(exit_case, actor=hr_user, successor=manager)
    # then the manager is told what they received
    [arrived] = notes(event=NotificationEvent.RESOURCES_ARRIVED)
    assert arrived.recipient == manager.user
    assert "External contact × 1" in arrived.body and "Customer group × 1" in arrived.body
    # and HR that two contacts stay with the member, with the link to the batch
    [full] = notes(event=NotificationEvent.INHERITANCE_FULL)
    assert full.recipient == hr_user
    assert full.body.startswith(f"2 external contacts of {member.name} stay with them")
    assert full.link == SITE + reverse("admin:offboarding_inheritancebatch_change", args=[batch.pk])


def test_a_reassignment_tells_the_new_successor_only(
    english, member, manager, stranger, hr_user, exit_in_handover
):
    english.customer_limit_per_member = 1
    english.save()
    factories.ExternalContactFactory.create_batch(2, enterprise=english, owner=member)
    batch = inheritance.inherit(exit_in_handover(member), actor=hr_user, successor=manager)
    Notification.objects.all().delete()
    inheritance.reassign_full_items(batch, actor=hr_user, successor=stranger)
    assert [(n.event, n.recipient) for n in notes()] == [
        (NotificationEvent.RESOURCES_ARRIVED, stranger.user)
    ]


def test_hr_is_told_when_a_customer_declines_the_handover(
    english, member, manager, hr_user, exit_in_handover
):
    factories.ExternalContactFactory(enterprise=english, owner=member)
    batch = inheritance.inherit(exit_in_handover(member), actor=hr_user, successor=manager)
    item = InheritanceItem.objects.get(batch=batch, status=InheritanceStatus.WAITING)
    inheritance.refuse_item(item, actor=None, reason="不想换人")
    [note] = notes(event=NotificationEvent.INHERITANCE_REFUSED)
    assert note.recipient == hr_user
    assert member.name in note.body and manager.name in note.body
    assert "不想换人" not in note.body  # the customer's reason is personal data: not sent around


def test_the_new_super_admin_is_told_they_were_named_with_the_link_to_confirm(
    english, super_admin, open_exit_for
):
    new_admin = factories.MemberFactory(enterprise=english, name="Li Si")
    open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    handover.request_handover(
        super_admin, actor=super_admin.user, new_admin=new_admin, password=factories.PASSWORD
    )
    [note] = notes(event=NotificationEvent.HANDOVER_NAMED)
    assert note.recipient == new_admin.user
    assert note.subject == f"You are named the new super admin of {english.name}"
    assert note.link == f"{SITE}/me/handover/"


def test_compliance_is_told_of_an_erasure_request_and_its_due_date(
    english, member, hr_user, compliance_user
):
    directory_services.change_status(member, actor=hr_user, status=MemberStatus.DEPARTED)
    request = erasure.receive(member, actor=compliance_user)
    [note] = notes(event=NotificationEvent.ERASURE_RECEIVED)
    assert note.recipient == compliance_user
    assert request.due_on.isoformat() in note.subject
    assert note.link == SITE + reverse("admin:compliance_erasurerequest_change", args=[request.pk])


# ---------------------------------------------------------------------------------------------
# Nothing when the door's transaction rolls back, nor when it refuses


def test_a_door_rolled_back_leaves_no_notification_and_queues_nothing(
    member, open_exit_for, django_capture_on_commit_callbacks
):
    exit_case = open_exit_for(member)
    with django_capture_on_commit_callbacks() as queued:
        with pytest.raises(RuntimeError), transaction.atomic():
            workflow.submit(exit_case, actor=member.user)
            assert Notification.objects.exists()  # written inside the door's transaction
            raise RuntimeError("something after the door failed")
    assert not Notification.objects.exists()
    assert queued == []


def test_a_refused_door_tells_nobody(member, stranger, open_exit_for):
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    Notification.objects.all().delete()
    with pytest.raises(workflow.ExitRefused):
        workflow.approve(exit_case, actor=stranger.user)
    assert not Notification.objects.exists()


def test_each_notification_is_handed_to_the_worker_after_commit(
    member, open_exit_for, django_capture_on_commit_callbacks, monkeypatch
):
    sent_to_worker = []
    monkeypatch.setattr(tasks.send_notification, "delay", sent_to_worker.append)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.submit(open_exit_for(member), actor=member.user)
    assert sent_to_worker == [n.pk for n in notes()]
    assert mail.outbox == []  # the worker sends, not the door


# ---------------------------------------------------------------------------------------------
# Sending: e-mail, and the group robot through the real Apprise


def test_an_email_notification_is_sent_once_with_its_link(english, member, manager, open_exit_for):
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    [note] = notes()
    # when the worker's task runs (twice: a delivery repeated by the broker)
    tasks.send_notification.apply(args=[note.pk])
    tasks.send_notification.apply(args=[note.pk])
    # then one mail went to the manager, with the link
    [sent] = mail.outbox
    assert sent.to == [manager.user.email]
    assert sent.subject == note.subject
    assert f"{SITE}/approvals/{exit_case.pk}/" in sent.body
    note.refresh_from_db()
    assert (note.status, note.attempts, note.last_error) == (NotificationStatus.SENT, 1, "")
    assert note.sent_at is not None


def test_a_group_notification_reaches_the_robot_through_apprise(
    english, member, manager, hr_user, open_exit_for, robot_endpoint
):
    # given HR's robot at a local endpoint, and a step waiting for HR
    robot_for(english, robot_endpoint, hr_user=hr_user)
    workflow.approve(workflow.submit(open_exit_for(member), actor=member.user), actor=manager.user)
    [note] = notes(channel=NotificationChannel.GROUP)
    # when the worker sends it
    tasks.send_notification.apply(args=[note.pk])
    # then Apprise posted it to the robot: the subject as title, the body and the link as message
    [(path, payload)] = robot_endpoint.received
    assert path == "/robot"
    assert payload["title"] == note.subject
    assert note.body in payload["message"] and note.link in payload["message"]
    note.refresh_from_db()
    assert note.status == NotificationStatus.SENT


def test_a_failed_send_is_retried_then_shown_as_failed_with_the_error(
    english, member, manager, hr_user, open_exit_for, robot_endpoint
):
    # given a robot that answers every post with an error
    robot_endpoint.status = 500
    robot_for(english, robot_endpoint, hr_user=hr_user)
    workflow.approve(workflow.submit(open_exit_for(member), actor=member.user), actor=manager.user)
    [note] = notes(channel=NotificationChannel.GROUP)
    # when the first try fails, it waits for a retry, the error kept
    assert notifications.deliver(note.pk) is True
    note.refresh_from_db()
    assert (note.status, note.attempts) == (NotificationStatus.RETRYING, 1)
    assert "500" in note.last_error
    # when the task runs with its retries (eager: the waits skipped)
    tasks.send_notification.apply(args=[note.pk])
    # then every try reached the robot, and it stays in the log as failed, with the error
    note.refresh_from_db()
    assert note.status == NotificationStatus.FAILED
    assert note.attempts == notifications.MAX_ATTEMPTS
    assert len(robot_endpoint.received) == notifications.MAX_ATTEMPTS
    assert "500" in note.last_error


def test_a_mail_without_an_address_fails_with_the_reason(english, member, open_exit_for):
    workflow.submit(open_exit_for(member), actor=member.user)
    [note] = notes()
    note.recipient.email = ""
    note.recipient.save()
    tasks.send_notification.apply(args=[note.pk])
    note.refresh_from_db()
    assert note.status == NotificationStatus.FAILED
    assert note.last_error == "there is no e-mail address to send it to."


# ---------------------------------------------------------------------------------------------
# The log and the robots in the admin


def failed_note(enterprise, member) -> Notification:
    return Notification.objects.create(
        enterprise=enterprise,
        event=NotificationEvent.STEP_WAITING,
        channel=NotificationChannel.EMAIL,
        recipient=member.user,
        recipient_member=member,
        language="en",
        subject="The exit waits",
        body="…",
        link=f"{SITE}/approvals/1/",
        status=NotificationStatus.FAILED,
        attempts=5,
        last_error="SMTPServerDisconnected: Connection unexpectedly closed",
    )


def test_the_log_shows_a_failed_notification_with_its_error_to_hr_of_its_enterprise_only(
    client, enterprise, member, hr_user
):
    note = failed_note(enterprise, member)
    other_hr = factories.StaffFactory(
        username="other-hr", enterprise=factories.EnterpriseFactory(), role=StaffRole.HR
    )
    client.force_login(hr_user)
    page = client.get(reverse("admin:offboarding_notification_change", args=[note.pk]))
    assert "SMTPServerDisconnected: Connection unexpectedly closed" in page.content.decode()
    listing = client.get(reverse("admin:offboarding_notification_changelist"))
    assert "The exit waits" in listing.content.decode()
    client.force_login(other_hr)
    listing = client.get(reverse("admin:offboarding_notification_changelist"))
    assert "The exit waits" not in listing.content.decode()


def test_hr_retries_a_failed_notification_from_the_log(
    client, enterprise, member, hr_user, django_capture_on_commit_callbacks, monkeypatch
):
    note = failed_note(enterprise, member)
    sent_to_worker = []
    monkeypatch.setattr(tasks.send_notification, "delay", sent_to_worker.append)
    client.force_login(hr_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:offboarding_notification_changelist"),
            {"action": "retry_failed", "_selected_action": [note.pk]},
            follow=True,
        )
    assert "1 notification queued again." in response.content.decode()
    note.refresh_from_db()
    assert note.status == NotificationStatus.QUEUED
    assert sent_to_worker == [note.pk]
    assert AuditEvent.objects.filter(action="notifications_retried", actor_id=hr_user.pk).exists()


def test_compliance_reads_the_log_but_may_not_retry(client, enterprise, member, compliance_user):
    note = failed_note(enterprise, member)
    client.force_login(compliance_user)
    page = client.get(reverse("admin:offboarding_notification_changelist"))
    assert page.status_code == 200
    assert "retry_failed" not in page.content.decode()
    client.post(
        reverse("admin:offboarding_notification_changelist"),
        {"action": "retry_failed", "_selected_action": [note.pk]},
    )
    note.refresh_from_db()
    assert note.status == NotificationStatus.FAILED


def test_hr_adds_a_group_robot_whose_address_is_sealed_and_never_shown_back(
    client, enterprise, hr_user
):
    client.force_login(hr_user)
    response = client.post(
        reverse("admin:offboarding_grouprobot_add"),
        {
            "enterprise": enterprise.pk,
            "name": "人事群",
            "url": "wecombot://SECRETKEY123",
            "active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    robot = GroupRobot.objects.get()
    assert (robot.platform, robot.url_hint) == ("wecom", "wecombot://S...3/")
    assert b"SECRETKEY123" not in bytes(robot.sealed_url)
    assert notifications.robot_url(robot) == "wecombot://SECRETKEY123"
    page = client.get(reverse("admin:offboarding_grouprobot_change", args=[robot.pk]))
    assert "SECRETKEY123" not in page.content.decode()
    assert robot.url_hint in page.content.decode()
    event = AuditEvent.objects.get(action="group_robot_saved")
    assert "SECRETKEY123" not in json.dumps(event.data)
    assert robot.history.count() == 1


def test_a_robot_address_of_another_kind_is_refused(client, enterprise, hr_user):
    client.force_login(hr_user)
    response = client.post(
        reverse("admin:offboarding_grouprobot_add"),
        {"enterprise": enterprise.pk, "name": "x", "url": "https://example.com/hook"},
    )
    assert "Give the robot&#x27;s address as wecombot://KEY" in response.content.decode()
    assert not GroupRobot.objects.exists()


def test_changing_a_robot_without_an_address_keeps_the_old_one(client, enterprise, hr_user):
    robot = notifications.save_robot(
        GroupRobot(enterprise=enterprise, name="人事群"), actor=hr_user, url="feishu://TOKEN1"
    )
    client.force_login(hr_user)
    client.post(
        reverse("admin:offboarding_grouprobot_change", args=[robot.pk]),
        {"name": "人事群（新）", "url": ""},
    )
    robot.refresh_from_db()
    assert (robot.name, robot.active) == ("人事群（新）", False)
    assert notifications.robot_url(robot) == "feishu://TOKEN1"


# ---------------------------------------------------------------------------------------------
# The reminder job


@pytest.fixture
def grace_window(enterprise, super_admin, open_exit_for):
    """A confirmed grace-policy handover whose emergency window closes in 3 days."""
    new_admin = factories.MemberFactory(enterprise=enterprise, name="李四")
    exit_case = open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    return SuperAdminHandover.objects.create(
        enterprise=enterprise,
        exit_case=exit_case,
        from_member=super_admin,
        to_member=new_admin,
        state=HandoverState.DONE,
        confirmed_at=timezone.now(),
        grace_until=timezone.now() + timedelta(days=3),
    )


def test_the_old_super_admin_is_warned_once_a_day_before_their_window_closes(
    english, super_admin, grace_window
):
    # two days before: nothing yet
    notifications.send_reminders()
    assert not notes(event=NotificationEvent.GRACE_CLOSING)
    # within the last day: warned, with the link to the emergency page
    with time_machine.travel(timezone.now() + timedelta(days=2, hours=1)):
        notifications.send_reminders()
        notifications.send_reminders()
    [note] = notes(event=NotificationEvent.GRACE_CLOSING)
    assert note.recipient == super_admin.user
    assert note.link == f"{SITE}/me/emergency/"
    # and each run wrote its job run, the warning counted in the enterprise
    runs = JobRun.objects.filter(job=notifications.JOB).order_by("pk")
    assert [run.status for run in runs] == ["succeeded"] * 3
    assert runs[1].counts == {str(english.pk): {"grace_warnings": 1}}


def test_compliance_is_reminded_of_an_erasure_due_within_three_days(
    english, member, hr_user, compliance_user
):
    directory_services.change_status(member, actor=hr_user, status=MemberStatus.DEPARTED)
    request = erasure.receive(member, actor=compliance_user)
    notifications.send_reminders()
    assert not notes(event=NotificationEvent.ERASURE_DUE)
    # two days before its due date: reminded
    days_left = (request.due_on - timezone.localdate()).days
    with time_machine.travel(timezone.now() + timedelta(days=days_left - 2)):
        notifications.send_reminders()
    [note] = notes(event=NotificationEvent.ERASURE_DUE)
    assert note.recipient == compliance_user


def test_a_notification_lost_on_the_way_to_the_worker_is_queued_again(
    english, member, open_exit_for, monkeypatch
):
    workflow.submit(open_exit_for(member), actor=member.user)
    [note] = notes()
    sent_to_worker = []
    monkeypatch.setattr(tasks.send_notification, "delay", sent_to_worker.append)
    notifications.send_reminders()
    assert sent_to_worker == []  # still fresh: the worker may have it
    with time_machine.travel(timezone.now() + timedelta(minutes=20)):
        notifications.send_reminders()
    assert sent_to_worker == [note.pk]


def test_the_reminder_job_is_scheduled_every_quarter_hour_by_its_migration():
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    # the data migration's own function (a transactional test elsewhere in the run may have
    # flushed the rows `migrate` wrote)
    PeriodicTask.objects.filter(name=notifications.JOB).delete()
    importlib.import_module("offboarding.migrations.0015_send_reminders_schedule").create_schedule(
        apps, None
    )
    task = PeriodicTask.objects.get(name=notifications.JOB)
    assert (task.task, task.interval.every, task.interval.period) == (
        "offboarding.send_reminders",
        15,
        "minutes",
    )
