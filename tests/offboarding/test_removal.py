"""A passive removal (「通讯录」-「删除成员」) cuts the member's access at once (成员端会话清除),
while the handover goes on; cancelling the exit, or undoing it after completion, gives the login
back exactly as it was before the removal (X-2, X-8)."""

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from directory.models import LoginSession
from offboarding import workflow
from offboarding.choices import ExitKind, ExitState
from tests import factories
from tests.offboarding.conftest import history_reasons, refreshed

pytestmark = pytest.mark.django_db


@pytest.fixture
def removed(open_exit_for, member, hr_user, client):
    """The member logged in on their own page, then removed by HR."""
    client.force_login(member.user)
    session_key = client.session.session_key
    assert client.get(reverse("offboarding:my_exit")).status_code == 200
    exit_case = workflow.remove(
        open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user), actor=hr_user
    )
    return exit_case, session_key


def test_a_removal_logs_the_member_out_at_once(removed, member, client):
    exit_case, session_key = removed
    # then the exit is in handover, and the member's login and sessions are gone already
    assert refreshed(exit_case).state == ExitState.HANDOVER
    member.user.refresh_from_db()
    assert not member.user.is_active
    assert not Session.objects.filter(session_key=session_key).exists()
    assert not LoginSession.objects.filter(user=member.user).exists()
    response = client.get(reverse("offboarding:my_exit"))
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_cancelling_a_removal_gives_the_login_back(removed, member, hr_user):
    exit_case, _session_key = removed
    workflow.cancel(exit_case, actor=hr_user)
    member.user.refresh_from_db()
    assert member.user.is_active
    assert history_reasons(exit_case) == ["open", "remove", "cancel"]


def test_cancelling_the_removal_of_a_login_already_inactive_leaves_it_inactive(
    open_exit_for, member, hr_user
):
    member.user.is_active = False
    member.user.save()
    exit_case = workflow.remove(
        open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user), actor=hr_user
    )
    workflow.cancel(exit_case, actor=hr_user)
    member.user.refresh_from_db()
    assert not member.user.is_active


def test_undoing_a_completed_removal_gives_back_the_login_as_it_was_before_it(
    removed, member, hr_user, ready_to_complete
):
    exit_case, _session_key = removed
    exit_case = workflow.complete(ready_to_complete(exit_case), actor=hr_user)
    member.user.refresh_from_db()
    assert not member.user.is_active
    workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)
    member.user.refresh_from_db()
    assert member.user.is_active


def test_a_voluntary_exit_keeps_the_login_until_completion(open_exit_for, member):
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    assert refreshed(exit_case).login_before_removal is None
    member.user.refresh_from_db()
    assert member.user.is_active
