"""Notifications through a real `celery worker` (Redis broker, PostgreSQL): the reminder job sent
by name warns the old super admin whose emergency window closes within a day and records its job
run; the worker then sends what the job queued on commit — the warning by e-mail, and a group
notification lost on its way to the broker, posted by the real Apprise to a local robot."""

import threading
from datetime import timedelta
from http.server import HTTPServer

import pytest
from django.utils import timezone

from directory.choices import JobStatus
from directory.models import JobRun
from offboarding import notifications
from offboarding.choices import (
    ExitKind,
    HandoverState,
    NotificationChannel,
    NotificationEvent,
    NotificationStatus,
)
from offboarding.models import GroupRobot, Notification, SuperAdminHandover
from tests import factories
from tests.integration.conftest import wait_for
from tests.integration.test_workers import TASK_TIMEOUT, answer
from tests.offboarding.test_notifications import _Robot

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def robot_server():
    server = HTTPServer(("127.0.0.1", 0), _Robot)
    server.received = []
    server.status = 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_reminder_job_through_a_worker_warns_and_the_worker_sends(
    start_worker, sender, enterprise, super_admin, hr_user, open_exit_for, robot_server
):
    # given an old super admin whose emergency window closes in two hours
    new_admin = factories.MemberFactory(enterprise=enterprise, name="李四")
    handover = SuperAdminHandover.objects.create(
        enterprise=enterprise,
        exit_case=open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN),
        from_member=super_admin,
        to_member=new_admin,
        state=HandoverState.DONE,
        confirmed_at=timezone.now(),
        grace_until=timezone.now() + timedelta(hours=2),
    )
    # and a group notification queued an hour ago that never reached the broker
    host, port = robot_server.server_address
    robot = notifications.save_robot(
        GroupRobot(enterprise=enterprise, name="HR 群"),
        actor=hr_user,
        url=f"json://{host}:{port}/hr",
    )
    lost = Notification.objects.create(
        enterprise=enterprise,
        event=NotificationEvent.STEP_WAITING,
        channel=NotificationChannel.GROUP,
        robot=robot,
        language="zh-hans",
        subject="张三 的离职等待您审批",
        body="审批第 2 步（HR）等待您的决定。",
        link="http://localhost:8000/admin/",
        updated_at=timezone.now() - timedelta(hours=1),
    )
    worker = start_worker("notifications")

    # when the reminder job is sent by name, as the beat does every 15 minutes
    written = answer(sender, "offboarding.send_reminders", worker)

    # then it warned the old super admin and queued the lost one again, and recorded its run
    assert written == 2
    warning = Notification.objects.get(event=NotificationEvent.GRACE_CLOSING, object_id=handover.pk)
    assert warning.recipient == super_admin.user
    [run] = JobRun.objects.filter(job=notifications.JOB)
    assert run.status == JobStatus.SUCCEEDED
    assert run.counts == {str(enterprise.pk): {"grace_warnings": 1, "queued_again": 1}}
    # and the worker sent both: the warning by e-mail, the lost one to the robot through Apprise
    for note in (warning, lost):
        wait_for(
            lambda note=note: (
                Notification.objects.get(pk=note.pk).status == NotificationStatus.SENT
            ),
            timeout=TASK_TIMEOUT,
            what=f"notification {note.pk} to be sent",
            logs=[worker.log],
        )
    [(path, payload)] = robot_server.received
    assert (path, payload["title"]) == ("/hr", "张三 的离职等待您审批")
