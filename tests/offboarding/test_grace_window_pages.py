"""The grace policy's emergency window without dead ends (H-2): while the old super admin is still
employed they keep their member pages and reach the emergency page from home; the wall starts
when their own exit completes. The emergency page says what a report does (who is promoted), or
that it cannot freeze anything when no backup admin can take over. Naming the backup admin as the
new super admin warns first."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from directory.choices import MemberRole
from offboarding import tasks, workflow
from offboarding.choices import Decision, ExitKind
from offboarding.models import SuperAdminHandover
from tests import factories
from tests.offboarding.test_super_admin_handover import confirm, name

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
HOME = reverse("offboarding:home")
MY_EXIT = reverse("offboarding:my_exit")
APPROVALS = reverse("offboarding:approvals")
EMERGENCY = reverse("offboarding:emergency")
SUPER_ADMIN_PAGE = reverse("offboarding:super_admin")


def text(response) -> str:
    return response.content.decode()


def log_in(client: Client, member):
    return client.post(LOGIN, {"username": member.user.username, "password": factories.PASSWORD})


@pytest.fixture
def new_admin(enterprise, super_admin):
    return factories.MemberFactory(enterprise=enterprise, name="李四")


@pytest.fixture
def backup_admin(enterprise, super_admin):
    return factories.MemberFactory(
        enterprise=enterprise, name="备用管理员", role=MemberRole.ADMIN, is_backup_admin=True
    )


@pytest.fixture
def report_of_the_old_admin(enterprise, super_admin, open_exit_for):
    """A member of 王总's team, whose exit waits on 王总's approval."""
    report = factories.MemberFactory(enterprise=enterprise, manager=super_admin, name="小赵")
    return workflow.submit(open_exit_for(report), actor=report.user)


@pytest.fixture
def swapped(super_admin, new_admin, exit_in_handover):
    """王总's exit is in handover and the role passed to 李四 (grace policy): the window is open,
    王总 still employed."""
    exit_case = exit_in_handover(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    done = confirm(name(super_admin, new_admin), new_admin)
    return exit_case, SuperAdminHandover.objects.get(pk=done.pk)


def test_the_old_admin_still_employed_keeps_their_pages_and_reaches_the_emergency_page(
    client, swapped, super_admin, report_of_the_old_admin
):
    exit_case, handed = swapped
    log_in(client, super_admin)
    home = client.get(HOME)
    assert home.status_code == 200
    assert 'id="emergency-tile"' in text(home)
    assert client.get(MY_EXIT).status_code == 200
    inbox = client.get(APPROVALS)
    assert inbox.status_code == 200 and "小赵" in text(inbox)
    # they approve their team's exit
    detail = reverse("offboarding:approval_detail", args=[report_of_the_old_admin.pk])
    response = client.post(detail, {"decision": "approve", "comment": "", "step": 1})
    assert response.status_code == 302
    first = report_of_the_old_admin.approvals.get(position=1)
    assert first.decision == Decision.APPROVED
    # and the emergency page says their pages stay theirs until the exit completes
    page = client.get(EMERGENCY)
    assert page.status_code == 200
    assert "While you are still employed you keep your own pages" in text(page)


def test_the_wall_starts_when_their_exit_completes(
    client, swapped, super_admin, ready_to_complete, hr_user
):
    exit_case, handed = swapped
    log_in(client, super_admin)
    assert client.get(MY_EXIT).status_code == 200
    workflow.complete(ready_to_complete(exit_case), actor=hr_user)
    # their session ended with the exit; signing in again opens the emergency page only
    assert client.get(MY_EXIT).url.startswith(LOGIN)
    log_in(client, super_admin)
    response = client.get(MY_EXIT)
    assert (response.status_code, response.url) == (302, EMERGENCY)
    assert "your exit has completed" in text(client.get(EMERGENCY))


def test_after_the_deadline_an_employed_old_admin_just_loses_the_emergency_page(
    client, swapped, super_admin
):
    exit_case, handed = swapped
    log_in(client, super_admin)
    with time_machine.travel(handed.grace_until + timedelta(minutes=1), tick=False):
        assert tasks.expire_grace_windows() == 1
        home = client.get(HOME)
        assert home.status_code == 200  # still logged in
        assert 'id="emergency-tile"' not in text(home)
        assert client.get(EMERGENCY).status_code == 404
        assert client.get(MY_EXIT).status_code == 200


def test_the_emergency_page_names_who_takes_over(client, swapped, super_admin, backup_admin):
    log_in(client, super_admin)
    page = text(client.get(EMERGENCY))
    assert "the backup admin, 备用管理员, becomes the super admin" in page
    assert 'id="no-takeover"' not in page


def test_without_a_backup_admin_the_emergency_page_promises_nothing(client, swapped, super_admin):
    log_in(client, super_admin)
    page = text(client.get(EMERGENCY))
    assert 'id="no-takeover"' in page
    assert "the enterprise has no active backup admin to take over" in page
    assert "becomes the super admin" not in page
    assert reverse("offboarding:report_stolen") not in page  # no form that would be refused


def test_naming_the_backup_admin_warns_before_the_handover_starts(
    super_admin, backup_admin, open_exit_for
):
    open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    client = Client()
    client.force_login(super_admin.user)
    posted = {"new_admin": backup_admin.employee_number, "password": factories.PASSWORD}
    response = client.post(SUPER_ADMIN_PAGE, posted)
    assert response.status_code == 200
    assert 'id="backup-successor-warning"' in text(response)
    assert "Once they are the super admin the enterprise has no backup admin" in text(response)
    assert not SuperAdminHandover.objects.exists()
    # ticked: the handover starts, and the backup admin's confirmation warns them too
    response = client.post(SUPER_ADMIN_PAGE, {**posted, "backup_understood": "on"})
    assert response.status_code == 302
    pending = SuperAdminHandover.objects.get()
    assert pending.to_member == backup_admin
    backup_client = Client()
    backup_client.force_login(backup_admin.user)
    page = backup_client.get(reverse("offboarding:confirm_handover", args=[pending.pk]))
    assert 'id="backup-successor-warning"' in text(page)


def test_naming_someone_else_asks_nothing_more(super_admin, new_admin, open_exit_for):
    open_exit_for(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    client = Client()
    client.force_login(super_admin.user)
    response = client.post(
        SUPER_ADMIN_PAGE, {"new_admin": new_admin.employee_number, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert SuperAdminHandover.objects.get().to_member == new_admin
