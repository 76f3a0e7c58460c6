"""Invitations and password links (D-3): how a member's login gets its password.

A member is created without a usable password (`services.create_member`); the member sets one
through a link mailed to them, never through HR, who neither sees nor sets a password:

- `invite(member, actor=…, site_url=…)`: the invitation, with a one-time set-password link
  (`invitation_token_generator`: Django's password reset token with its own salt and expiry,
  INVITATION_TIMEOUT). Setting the password changes the hash the token was signed with, so the
  link dies once used. Offered while the member has no password yet; re-sent from the member's
  admin page, or for many members at once (`invite_many`, the admin action after an import).
- `send_reset_link(member, actor=…, site_url=…)`: a password reset link (Django's own token,
  PASSWORD_RESET_TIMEOUT), which HR may send any active member.

Each call is a door: it checks (InvitationRefused, with the sentence to show, changing nothing),
mails (directory/mail.py, in the enterprise's language), then records one Invitation row — sent
or not, with the reason — and, when sent, one audit event ("member_invited",
"member_reset_link_sent") in one transaction, the enterprise's audit chain locked first. A mail
that was not sent raises MailNotSent after its row is recorded: the caller shows "Not sent:
<reason>", never "sent".

The mail goes out before the row is written: no lock is held while a mail server answers.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core.mail import get_connection
from django.db import transaction
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_encode
from django.utils.translation import gettext as _

from . import mail
from .choices import InvitationKind, InvitationOutcome, MemberStatus
from .models import Invitation, Member
from .services import DirectoryError, audit_trail


class InvitationRefused(DirectoryError):
    """An invitation or reset link was refused before any mail; the message says why."""


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    """Django's password reset token (the user's id, password hash, last login and e-mail,
    signed with the secret key), with its own salt — a reset token is no invitation, nor the
    reverse — and its own expiry, INVITATION_TIMEOUT."""

    key_salt = "exitdesk.directory.invitations.InvitationTokenGenerator"

    def check_token(self, user, token):
        if not (user and token):
            return False
        try:
            ts_b36, _hash = token.split("-")
            timestamp = base36_to_int(ts_b36)
        except ValueError:
            return False
        if not any(
            constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        age = self._num_seconds(self._now()) - timestamp
        return age <= settings.INVITATION_TIMEOUT.total_seconds()


invitation_token_generator = InvitationTokenGenerator()

AUDIT_ACTIONS = {
    InvitationKind.INVITATION: "member_invited",
    InvitationKind.RESET: "member_reset_link_sent",
}


def reset_link_valid_hours() -> int:
    return max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)


def invitation_link(user, *, site_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = invitation_token_generator.make_token(user)
    return site_url.rstrip("/") + reverse("invitation", args=[uid, token])


def reset_link(user, *, site_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return site_url.rstrip("/") + reverse("password_reset_confirm", args=[uid, token])


def check_invitation(member: Member, *, actor, kind: str) -> None:
    """Raise InvitationRefused when `actor` may not mail `member` this link now (see `invite`)."""
    if actor is not None and not actor.has_perm("directory.change_member", member):
        raise InvitationRefused(_("You may not send links to members of this enterprise."))
    if member.status != MemberStatus.ACTIVE or not member.user.is_active:
        raise InvitationRefused(
            _("%(name)s is not active: only an active member's login can get a link.")
            % {"name": member.name}
        )
    if kind == InvitationKind.INVITATION and member.user.has_usable_password():
        raise InvitationRefused(
            _("%(name)s has already set a password: send them a password reset link instead.")
            % {"name": member.name}
        )


def invite(member: Member, *, actor, site_url: str, connection=None) -> Invitation:
    """Mail `member` their invitation: their login and a one-time link to set their password,
    valid INVITATION_TIMEOUT.

    Preconditions: `actor` may change the member (HR of their enterprise, a superuser; None is
    the system); the member is active, their login too, and has no password yet. Returns the
    Invitation row (sent). Raises InvitationRefused (nothing mailed, nothing written) or
    MailNotSent (the row records why).
    """
    return _mail_link(
        member,
        kind=InvitationKind.INVITATION,
        actor=actor,
        site_url=site_url,
        connection=connection,
    )


def send_reset_link(member: Member, *, actor, site_url: str, connection=None) -> Invitation:
    """Mail `member` a link to set a new password (PASSWORD_RESET_TIMEOUT): HR helps a member
    who forgot theirs without ever seeing or setting it. Preconditions as `invite`'s, except that
    the member may have a password. Same returns and raises."""
    return _mail_link(
        member, kind=InvitationKind.RESET, actor=actor, site_url=site_url, connection=connection
    )


def _mail_link(member, *, kind, actor, site_url, connection) -> Invitation:
    check_invitation(member, actor=actor, kind=kind)
    user = member.user
    if kind == InvitationKind.INVITATION:
        link, template = invitation_link(user, site_url=site_url), "mail/invitation"
    else:
        link, template = reset_link(user, site_url=site_url), "mail/password_reset"
    context = {
        "name": member.name,
        "enterprise": member.enterprise.name,
        "username": user.get_username(),
        "code": member.enterprise.code,
        "link": link,
        "login_url": site_url.rstrip("/") + reverse("login"),
        "valid_days": max(1, settings.INVITATION_TIMEOUT.days),
        "valid_hours": reset_link_valid_hours(),
    }
    try:
        mail.send(
            to=user.email,
            template=template,
            context=context,
            language=mail.language_of(user),
            about=user,
            connection=connection,
        )
    except mail.MailNotSent as not_sent:
        _record(member, kind=kind, actor=actor, failure=not_sent.reason)
        raise
    return _record(member, kind=kind, actor=actor, failure=None)


@transaction.atomic
def _record(member: Member, *, kind: str, actor, failure: str | None) -> Invitation:
    sent = failure is None
    if sent:
        audit_trail().lock(member.enterprise_id)
    invitation = Invitation.objects.create(
        enterprise_id=member.enterprise_id,
        member=member,
        kind=kind,
        outcome=InvitationOutcome.SENT if sent else InvitationOutcome.NOT_SENT,
        failure=failure or "",
        sent_by=actor,
    )
    if sent:
        audit_trail().record(
            member.enterprise_id,
            actor=actor,
            action=AUDIT_ACTIONS[kind],
            object_type="member",
            object_id=member.pk,
            member_id=member.pk,
            data={"invitation": invitation.pk},
        )
    return invitation


@dataclass
class BulkInvitation:
    """What `invite_many` did: the members invited, and those not (with the reason)."""

    sent: list[Member] = field(default_factory=list)
    not_sent: list[tuple[Member, str]] = field(default_factory=list)


def invite_many(members, *, actor, site_url: str) -> BulkInvitation:
    """Invite each member of the queryset `members` (one mail each, through one connection to
    the mail server). A member who may not be invited (InvitationRefused) or whose mail was not
    sent (MailNotSent) is reported with the reason; the others are invited."""
    result = BulkInvitation()
    connection = get_connection(fail_silently=False)
    try:
        for member in members.select_related("user", "enterprise").order_by("employee_number"):
            try:
                invite(member, actor=actor, site_url=site_url, connection=connection)
            except InvitationRefused as refused:
                result.not_sent.append((member, " ".join(refused.messages)))
            except mail.MailNotSent as not_sent:
                result.not_sent.append((member, not_sent.reason))
            else:
                result.sent.append(member)
    finally:
        try:
            connection.close()
        except Exception:  # closing a connection that never opened: nothing to report
            pass
    return result
