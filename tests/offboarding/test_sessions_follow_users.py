"""Sessions follow their users (成员端会话清除): ending a user's sessions ends every live one,
whatever gave it a new key since its login — a password change (Django's
`update_session_auth_hash`), a login, any `cycle_key`."""

from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from directory.choices import MemberRole
from directory.models import LoginSession
from directory.sessions import end_sessions
from offboarding import handover, workflow
from offboarding.choices import ExitKind
from tests import factories
from tests.offboarding.test_super_admin_handover import confirm, name

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
MY_EXIT = reverse("offboarding:my_exit")
EMERGENCY = reverse("offboarding:emergency")
NEW_PASSWORD = "a-thiefs-own-password-2026"


def logged_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_password(client: Client) -> str:
    """Change the logged-in user's password on Django's page, as a thief would; the session
    stays logged in under a new key. Returns that key."""
    old_key = client.session.session_key
    response = client.post(
        reverse("password_change"),
        {
            "old_password": factories.PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    new_key = client.session.session_key
    assert new_key != old_key
    assert client.get(MY_EXIT).status_code == 200  # still logged in
    return new_key


def logged_out(client: Client) -> bool:
    response = client.get(MY_EXIT)
    return response.status_code == 302 and response.url.startswith(LOGIN)


@pytest.fixture
def stolen_admin(enterprise, super_admin):
    return factories.MemberFactory(enterprise=enterprise, name="张管理", role=MemberRole.ADMIN)


def test_a_password_change_moves_the_sessions_record_to_its_new_key(stolen_admin):
    client = logged_in_client(stolen_admin.user)
    new_key = change_password(client)
    assert list(
        LoginSession.objects.filter(user=stolen_admin.user).values_list("session_key", flat=True)
    ) == [new_key]


def test_a_thief_who_changed_the_password_is_logged_out_by_the_freeze(
    stolen_admin, super_admin, hr_user
):
    # given a thief logged in as 张管理 and changed the password (the session has a new key)
    thief = logged_in_client(stolen_admin.user)
    session_key = change_password(thief)
    # when HR freezes the account
    freeze = handover.freeze_account(stolen_admin, actor=hr_user, reason="账号被盗")
    # then the thief's session is gone
    assert not Session.objects.filter(session_key=session_key).exists()
    assert logged_out(thief)
    # and stays gone when the super admin gives the account back
    handover.unfreeze_account(freeze, actor=super_admin.user)
    assert logged_out(thief)


def test_a_thief_who_changed_the_password_is_logged_out_by_a_removal(
    member, open_exit_for, hr_user
):
    # given a thief logged in as the member and changed the password
    thief = logged_in_client(member.user)
    session_key = change_password(thief)
    # when HR removes the member (the login is cut at once)
    exit_case = workflow.remove(
        open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user), actor=hr_user
    )
    # then the thief's session is gone
    assert not Session.objects.filter(session_key=session_key).exists()
    assert logged_out(thief)
    # and cancelling the exit gives the login back, not the thief's session
    workflow.cancel(exit_case, actor=hr_user)
    member.user.refresh_from_db()
    assert member.user.is_active
    assert logged_out(thief)


def test_an_old_super_admin_who_changed_their_password_does_not_escape_the_emergency_wall(
    enterprise, super_admin, exit_in_handover, ready_to_complete, hr_user
):
    new_admin = factories.MemberFactory(enterprise=enterprise, name="李四")
    exit_case = exit_in_handover(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    # given 王总, leaving, is logged in and changed their password (a new session key)
    old_admin = logged_in_client(super_admin.user)
    change_password(old_admin)
    # when the role passes to 李四 (grace policy: the emergency window opens)
    done = confirm(name(super_admin, new_admin), new_admin)
    assert done.grace_until is not None
    # then 王总's session from before is over: no page but the login
    assert logged_out(old_admin)
    # and once their exit has completed, signing in again reaches the emergency page only
    workflow.complete(ready_to_complete(exit_case), actor=hr_user)
    response = old_admin.post(
        LOGIN, {"username": super_admin.user.username, "password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    response = old_admin.get(MY_EXIT)
    assert response.status_code == 302 and response.url == EMERGENCY


def test_the_emergency_windows_close_ends_a_session_whose_key_was_rotated(
    enterprise, super_admin, exit_in_handover, ready_to_complete, hr_user
):
    new_admin = factories.MemberFactory(enterprise=enterprise, name="李四")
    exit_case = exit_in_handover(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)
    done = confirm(name(super_admin, new_admin), new_admin)
    workflow.complete(ready_to_complete(exit_case), actor=hr_user)
    # given 王总, whose exit completed, signed in during the window, and the session got a new
    # key since
    old_admin = Client()
    old_admin.post(LOGIN, {"username": super_admin.user.username, "password": factories.PASSWORD})
    store = import_module(settings.SESSION_ENGINE).SessionStore(
        session_key=old_admin.cookies[settings.SESSION_COOKIE_NAME].value
    )
    store.load()
    store.cycle_key()
    old_admin.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    assert old_admin.get(EMERGENCY).status_code == 200
    # when the window closes (its deadline moved to now, then the expiry job)
    type(done).objects.filter(pk=done.pk).update(grace_until=done.confirmed_at)
    assert handover.close_grace_windows() == 1
    # then that session is gone too
    assert not Session.objects.filter(session_key=store.session_key).exists()
    assert old_admin.get(EMERGENCY).status_code == 302


def test_a_session_whose_record_is_gone_is_logged_out(member):
    # given a session whose key changed without its record (another store, say)
    client = logged_in_client(member.user)
    LoginSession.objects.filter(user=member.user).delete()
    # then it is logged out at its next request
    assert logged_out(client)


def test_end_sessions_ends_every_session_of_the_user_and_only_theirs(member, manager):
    first, second = logged_in_client(member.user), logged_in_client(member.user)
    change_password(second)
    bystander = logged_in_client(manager.user)

    assert end_sessions(member.user) == 2

    assert logged_out(first) and logged_out(second)
    assert bystander.get(MY_EXIT).status_code == 200
