"""Invitations and reset links (issue 14, item 4): HR mails a member a one-time set-password
link — never seeing nor setting a password — from the member's page or for many members at once;
the member sets a password and logs in with login@code or the login and the code; the link works
once and expires; a mail not sent is said so, with the reason."""

import logging
import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.messages import get_messages
from django.core import mail as outbox
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent
from directory import invitations
from directory.choices import InvitationKind, InvitationOutcome, MemberStatus, StaffRole
from directory.models import Invitation, Member
from directory.services import member_username
from tests import factories

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Lantern-Harbour-93"
REFUSING = "tests.mail_backends.RefusingBackend"
SITE = "http://testserver/"


def new_member(enterprise, login="zhang.wei", *, email="zhang.wei@example.cn", **fields):
    """A member as HR creates one: a login without a usable password."""
    user = factories.UserFactory(username=member_username(enterprise, login), email=email)
    user.set_unusable_password()
    user.save()
    return factories.MemberFactory(enterprise=enterprise, user=user, name="张伟", **fields)


def invite_url(member):
    return reverse("admin:directory_member_invite", args=[member.pk])


def reset_url(member):
    return reverse("admin:directory_member_send_reset_link", args=[member.pk])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def link_in(message) -> str:
    return re.search(r"http://testserver/accounts/\S+", message.body).group(0)


def follow_link_and_set_password(client, link, password=NEW_PASSWORD):
    """GET the link (Django moves the token into the session), then POST the new password."""
    page = client.get(link, follow=True)
    assert page.context["validlink"], "the link should work"
    form_url = page.redirect_chain[-1][0]
    return client.post(
        form_url, {"new_password1": password, "new_password2": password}, follow=True
    )


@pytest.fixture
def member(enterprise):
    return new_member(enterprise)


# --- the whole way in ------------------------------------------------------------------------


def test_an_invited_member_sets_a_password_and_logs_in_both_ways(
    client, hr_client, enterprise, member
):
    # given HR sends the invitation from the member's page
    response = hr_client.post(invite_url(member))
    assert messages_of(response) == ["Sent to 张伟 at zhang.wei@example.cn."]
    (invitation_mail,) = outbox.outbox
    assert invitation_mail.to == ["zhang.wei@example.cn"]
    # in Chinese, the enterprise's language by default, with the login to type
    assert invitation_mail.subject == "示例科技邀请您使用 Exitdesk"
    assert "张伟，您好" in invitation_mail.body
    assert member.user.username in invitation_mail.body

    # when the member follows the link and sets a password
    response = follow_link_and_set_password(client, link_in(invitation_mail))

    # then they are logged in, on the home page
    assert response.redirect_chain[-1][0] == reverse("offboarding:home")
    assert client.session[SESSION_KEY] == str(member.user.pk)
    assert "Your password is set: you are logged in." in response.content.decode()

    # and log in again with login@code, and with the login and the code
    client.logout()
    login = {"username": f"zhang.wei@{enterprise.code}", "password": NEW_PASSWORD}
    assert client.post("/accounts/login/", login).status_code == 302
    client.logout()
    login = {"username": "zhang.wei", "enterprise_code": enterprise.code, "password": NEW_PASSWORD}
    assert client.post("/accounts/login/", login).status_code == 302


def test_the_invitation_is_recorded_and_audited(hr_client, hr_user, member):
    hr_client.post(invite_url(member))

    invitation = Invitation.objects.get(member=member)
    assert (invitation.kind, invitation.outcome) == (InvitationKind.INVITATION, "sent")
    assert invitation.sent_by == hr_user
    event = AuditEvent.objects.get(action="member_invited")
    assert (event.member_id, event.actor_id) == (member.pk, hr_user.pk)
    page = hr_client.get(reverse("admin:directory_member_change", args=[member.pk]))
    assert "Invitation · Sent" in page.content.decode()


def test_the_mail_is_in_english_for_an_enterprise_that_chose_it(hr_client, enterprise, member):
    enterprise.language = "en"
    enterprise.save()

    hr_client.post(invite_url(member))

    assert outbox.outbox[0].subject == "示例科技 invites you to Exitdesk"
    assert "Hello 张伟," in outbox.outbox[0].body


def test_two_enterprises_each_invite_their_zhang_wei(client, enterprise):
    other = factories.EnterpriseFactory(name="别家公司", code="other")
    ours, theirs = new_member(enterprise), new_member(other, email="zw@other.cn")

    invitations.invite(ours, actor=None, site_url=SITE)
    invitations.invite(theirs, actor=None, site_url=SITE)
    ours_mail, theirs_mail = outbox.outbox
    follow_link_and_set_password(client, link_in(ours_mail), "Ours-Password-81")
    client.logout()
    follow_link_and_set_password(client, link_in(theirs_mail), "Theirs-Password-72")
    client.logout()

    response = client.post(
        "/accounts/login/", {"username": "zhang.wei@other", "password": "Theirs-Password-72"}
    )
    assert client.session[SESSION_KEY] == str(theirs.user.pk)
    client.logout()
    response = client.post(
        "/accounts/login/",
        {
            "username": "zhang.wei",
            "enterprise_code": enterprise.code,
            "password": "Ours-Password-81",
        },
    )
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(ours.user.pk)


# --- the link works once, and expires --------------------------------------------------------


def test_the_link_works_once(client, member):
    invitations.invite(member, actor=None, site_url=SITE)
    link = link_in(outbox.outbox[0])
    follow_link_and_set_password(client, link)
    client.logout()

    page = client.get(link, follow=True)

    assert not page.context["validlink"]
    assert "This link no longer works" in page.content.decode()


def test_the_link_expires_after_the_invitation_timeout(client, member):
    invitations.invite(member, actor=None, site_url=SITE)
    link = link_in(outbox.outbox[0])

    with time_machine.travel(timezone.now() + settings.INVITATION_TIMEOUT - timedelta(hours=1)):
        assert client.get(link, follow=True).context["validlink"]
    with time_machine.travel(timezone.now() + settings.INVITATION_TIMEOUT + timedelta(hours=1)):
        page = client.get(link, follow=True)

    assert not page.context["validlink"]


def test_an_invitation_link_is_no_reset_link(client, member):
    invitations.invite(member, actor=None, site_url=SITE)
    link = link_in(outbox.outbox[0]).replace("/accounts/invitation/", "/accounts/reset/")

    assert not client.get(link, follow=True).context["validlink"]


def test_the_link_of_a_member_who_left_does_not_work(client, member):
    invitations.invite(member, actor=None, site_url=SITE)
    member.user.is_active = False
    member.user.save()

    assert not client.get(link_in(outbox.outbox[0]), follow=True).context["validlink"]


# --- HR sends a reset link, never a password -------------------------------------------------


def test_hr_sends_a_reset_link_and_the_member_sets_a_new_password(client, hr_client, member):
    member.user.set_password("old-password-55")
    member.user.save()

    response = hr_client.post(reset_url(member))

    assert messages_of(response) == ["Sent to 张伟 at zhang.wei@example.cn."]
    (reset_mail,) = outbox.outbox
    assert reset_mail.subject == "设置新的 Exitdesk 密码"
    follow_link_and_set_password(client, link_in(reset_mail))
    member.user.refresh_from_db()
    assert member.user.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.filter(action="member_reset_link_sent", member_id=member.pk).exists()


def test_a_member_who_has_a_password_gets_a_reset_link_not_an_invitation(hr_client, member):
    member.user.set_password("old-password-55")
    member.user.save()

    response = hr_client.post(invite_url(member))

    assert messages_of(response) == [
        "张伟 has already set a password: send them a password reset link instead."
    ]
    assert outbox.outbox == []
    assert not Invitation.objects.exists()


def test_hr_still_cannot_open_the_password_form(hr_client, member):
    response = hr_client.get(reverse("admin:auth_user_password_change", args=[member.user.pk]))

    assert response.status_code == 403


def test_the_member_page_offers_links_not_passwords(hr_client, member):
    page = hr_client.get(reverse("admin:directory_member_change", args=[member.pk]))
    content = page.content.decode()

    assert invite_url(member) in content and reset_url(member) in content
    assert "/password/" not in content


@pytest.mark.parametrize("role", [StaffRole.IT, StaffRole.COMPLIANCE])
def test_a_role_that_only_reads_members_is_offered_no_link_button(client, enterprise, member, role):
    client.force_login(factories.StaffFactory(username="viewer", enterprise=enterprise, role=role))

    content = client.get(reverse("admin:directory_member_change", args=[member.pk])).content

    assert invite_url(member) not in content.decode()
    assert reset_url(member) not in content.decode()


def test_the_confirmation_page_asks_before_sending(hr_client, member):
    page = hr_client.get(invite_url(member))

    assert page.status_code == 200
    assert "It is sent to zhang.wei@example.cn." in page.content.decode()
    assert outbox.outbox == []


def test_a_departed_member_gets_no_link(hr_client, member):
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.DEPARTED)

    response = hr_client.post(reset_url(member))

    assert "is not active" in messages_of(response)[0]
    assert outbox.outbox == []


# --- not sent is said so ---------------------------------------------------------------------


def test_a_refused_mail_is_not_sent_with_the_reason_to_hr(hr_client, member, settings, caplog):
    settings.EMAIL_BACKEND = REFUSING

    with caplog.at_level(logging.WARNING, logger="directory.mail"):
        response = hr_client.post(invite_url(member))

    reason = "SMTPDataError: (550, b'5.7.1 Relaying denied')"
    assert messages_of(response) == [f"Not sent to 张伟: {reason}"]
    assert f"user {member.user.pk} not sent: {reason}" in caplog.text
    invitation = Invitation.objects.get(member=member)
    assert (invitation.outcome, invitation.failure) == (InvitationOutcome.NOT_SENT, reason)
    assert not AuditEvent.objects.filter(action="member_invited").exists()


def test_a_member_without_an_address_is_not_sent_and_hr_is_told(hr_client, enterprise):
    member = new_member(enterprise, email="")

    response = hr_client.post(invite_url(member))

    assert messages_of(response) == ["Not sent to 张伟: there is no e-mail address to send it to."]


# --- many at once, after an import -----------------------------------------------------------


def invite_selected(client, members):
    return client.post(
        reverse("admin:directory_member_changelist"),
        {"action": "invite_selected", "_selected_action": [m.pk for m in members]},
        follow=True,
    )


def test_hr_invites_the_selected_members_and_is_told_who_was_not(hr_client, enterprise):
    members = [new_member(enterprise, f"m{n}", email=f"m{n}@example.cn") for n in range(3)]
    no_address = new_member(enterprise, "nomail", email="")
    has_password = new_member(enterprise, "old", email="old@example.cn")
    has_password.user.set_password("old-password-55")
    has_password.user.save()

    response = invite_selected(hr_client, [*members, no_address, has_password])

    assert sorted(message.to[0] for message in outbox.outbox) == [
        "m0@example.cn",
        "m1@example.cn",
        "m2@example.cn",
    ]
    shown = messages_of(response)
    assert shown[0] == "3 members invited."
    assert "2 members not invited:" in shown[1]
    assert "there is no e-mail address" in shown[1] and "already set a password" in shown[1]
    assert AuditEvent.objects.filter(action="member_invited").count() == 3


def test_invite_selected_reaches_only_the_users_enterprise(hr_client, enterprise):
    ours = new_member(enterprise)
    theirs = new_member(factories.EnterpriseFactory(code="other"), email="zw@other.cn")

    invite_selected(hr_client, [ours, theirs])

    assert [message.to for message in outbox.outbox] == [["zhang.wei@example.cn"]]
    assert not Invitation.objects.filter(member=theirs).exists()


def test_invite_selected_with_the_mail_server_down_reports_each_member(
    hr_client, enterprise, settings
):
    settings.EMAIL_BACKEND = "tests.mail_backends.UnreachableBackend"
    members = [new_member(enterprise, f"m{n}", email=f"m{n}@example.cn") for n in range(2)]

    response = invite_selected(hr_client, members)

    shown = messages_of(response)
    assert shown == [shown[0]] and shown[0].startswith("2 members not invited:")
    assert shown[0].count("ConnectionRefusedError") == 2
    assert Invitation.objects.filter(outcome="not_sent").count() == 2


# --- attackers -------------------------------------------------------------------------------


def test_hr_of_another_enterprise_cannot_invite_our_member(client, member):
    other = factories.EnterpriseFactory(code="other")
    client.force_login(factories.StaffFactory(username="other-hr", enterprise=other))

    for url in (invite_url(member), reset_url(member)):
        assert client.post(url).status_code == 404
        assert client.get(url).status_code == 404
    assert outbox.outbox == []
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("role", [StaffRole.IT, StaffRole.COMPLIANCE])
def test_a_view_only_role_posting_is_refused(client, enterprise, member, role):
    client.force_login(factories.StaffFactory(username="viewer", enterprise=enterprise, role=role))

    assert client.post(invite_url(member)).status_code == 403
    assert client.post(reset_url(member)).status_code == 403
    assert outbox.outbox == []


@pytest.mark.parametrize("bad_id", ["abc", "0", "99999999999999999999", "-1"])
def test_a_malformed_id_is_not_found(hr_client, bad_id):
    url = reverse("admin:directory_member_invite", args=[bad_id])

    assert hr_client.post(url).status_code == 404


def test_the_door_refuses_an_actor_of_another_enterprise(member):
    outsider = factories.StaffFactory(
        username="outsider", enterprise=factories.EnterpriseFactory(code="x2")
    )

    with pytest.raises(invitations.InvitationRefused):
        invitations.invite(member, actor=outsider, site_url=SITE)
    assert outbox.outbox == []


def test_the_members_list_finds_whom_to_invite_and_whom_to_try_again(
    hr_client, enterprise, settings
):
    never = new_member(enterprise, "never", email="never@example.cn")
    invited = new_member(enterprise, "invited", email="invited@example.cn")
    failed = new_member(enterprise, "failed", email="failed@example.cn")
    with_password = new_member(enterprise, "pw", email="pw@example.cn")
    with_password.user.set_password("old-password-55")
    with_password.user.save()
    invitations.invite(invited, actor=None, site_url=SITE)
    settings.EMAIL_BACKEND = REFUSING
    with pytest.raises(invitations.mail.MailNotSent):
        invitations.invite(failed, actor=None, site_url=SITE)

    def listed(value):
        url = f"{reverse('admin:directory_member_changelist')}?login={value}"
        return set(hr_client.get(url).context["cl"].result_list)

    assert listed("never_invited") == {never, failed}
    assert listed("invited") == {invited}
    assert listed("not_sent") == {failed}
    assert listed("password_set") == {with_password}
    assert len(listed("nonsense")) == 4
