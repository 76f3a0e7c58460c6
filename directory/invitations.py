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

Many members at once (the member admin's "Invite selected members"): a selection of up to
IN_REQUEST members is invited in the request (`invite_many`), each not sent shown with its reason
on the page. A larger one — thousands after an import, every member of an enterprise with
"select all" — is queued (`queue_invitations`): one batch per enterprise where the actor may
change members, its member ids read by one query, split in chunks of CHUNK_SIZE, each chunk a
Celery task (`directory.invite_members`) queued once the transaction commits; one audit event per
enterprise ("member_invitations_queued"). The worker (`invite_chunk`) calls `invite` for each
member of its chunk through one mail connection, skipping members with an invitation (sent or
not) since the batch was queued: a chunk delivered twice mails no one twice. Each chunk is a
`JobChunk` row (done at most once, with its counts); when the last chunk of a batch is done, its
head row (the batch) is finished with the totals and `batch_finished` is sent: the exit app
notifies the actor ("Invitations: N sent, M not sent", offboarding/notifications.py). Meanwhile
the members list's login filter ("Invited, no password yet", "Last mail not sent") shows how each
went.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_encode
from django.utils.translation import gettext as _

from . import mail
from .choices import InvitationKind, InvitationOutcome, MemberStatus
from .jobs import finish_chunk
from .models import Enterprise, Invitation, JobChunk, Member
from .services import DirectoryError, audit_trail

logger = logging.getLogger(__name__)

# A selection up to this size is invited in the request (each member's outcome on the page); a
# larger one is queued for the workers.
IN_REQUEST = 20
# Members per queued task: one mail connection each, a few seconds to a minute of a worker.
CHUNK_SIZE = 200
JOB = "directory.invite_members"

# Sent when the last chunk of a queued batch is done, inside the transaction that finishes it:
# `enterprise_id`, `actor_id` (None: the system), `batch` (its key) and the totals `sent`,
# `not_sent`, `skipped`. The exit app's notifications tell the actor (offboarding/apps.py).
batch_finished = Signal()


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


# -- many members, queued for the workers -----------------------------------------------------


def queue_invitations(members, *, actor, site_url: str, chunk_size: int | None = None) -> int:
    """Queue the invitation of each member of the queryset `members` for the workers; return how
    many members were queued.

    Members of an enterprise where `actor` may not change members are left out (the tenant wall;
    None is the system). The ids are read by one query, never the members themselves, so a
    selection of a whole enterprise ("select all") costs one list of ids. Per enterprise: one
    batch (a head `JobChunk` and one per chunk of `chunk_size` ids, CHUNK_SIZE unless given) and
    one audit event ("member_invitations_queued"), in one transaction; the chunks' tasks are
    queued once it commits. Nothing is mailed here: see `invite_chunk`."""
    queued_at = timezone.now()
    chunk_size = chunk_size or CHUNK_SIZE
    enterprises = {
        enterprise.pk: enterprise
        for enterprise in Enterprise.objects.filter(
            pk__in=members.order_by().values("enterprise_id")
        )
        if actor is None or actor.has_perm("directory.change_member", enterprise)
    }
    ids_by_enterprise: dict[int, list[int]] = {pk: [] for pk in enterprises}
    rows = (
        members.filter(enterprise_id__in=list(enterprises))
        .order_by("enterprise_id", "pk")
        .values_list("enterprise_id", "pk")
    )
    for enterprise_id, pk in rows.iterator(chunk_size=5000):
        ids_by_enterprise[enterprise_id].append(pk)
    tasks = []
    with transaction.atomic():
        for enterprise_id, ids in sorted(ids_by_enterprise.items()):
            if not ids:
                continue
            batch = f"{enterprise_id}:{uuid.uuid4().hex}"
            chunks = [ids[at : at + chunk_size] for at in range(0, len(ids), chunk_size)]
            audit_trail().lock(enterprise_id)
            JobChunk.objects.bulk_create(
                [
                    JobChunk(
                        job=JOB,
                        key=batch,
                        enterprise_id=enterprise_id,
                        counts={
                            "members": len(ids),
                            "chunks": len(chunks),
                            "actor": getattr(actor, "pk", None),
                        },
                        sent_at=queued_at,
                    ),
                    *(
                        JobChunk(
                            job=JOB,
                            key=f"{batch}:{index}",
                            enterprise_id=enterprise_id,
                            sent_at=queued_at,
                            attempts=1,
                        )
                        for index in range(len(chunks))
                    ),
                ]
            )
            audit_trail().record(
                enterprise_id,
                actor=actor,
                action="member_invitations_queued",
                object_type="enterprise",
                object_id=enterprise_id,
                data={"batch": batch, "members": len(ids), "chunks": len(chunks)},
            )
            tasks += [
                (
                    batch,
                    index,
                    enterprise_id,
                    chunk,
                    getattr(actor, "pk", None),
                    queued_at.isoformat(),
                    site_url,
                )
                for index, chunk in enumerate(chunks)
            ]
        if tasks:
            transaction.on_commit(partial(enqueue, tasks))
    return sum(len(ids) for ids in ids_by_enterprise.values())


def enqueue(tasks: list[tuple]) -> None:
    """Hand the chunks to the workers. A broker that does not answer is logged, not raised (the
    batch is committed): its members stay "never invited" in the members list, and inviting
    them again queues them again."""
    from .tasks import invite_members

    for args in tasks:
        try:
            invite_members.delay(*args)
        except Exception as error:  # the batch stays unfinished; HR sees who was not invited
            logger.warning(
                "Invitations %s:%s not queued: %s", args[0], args[1], mail.describe(error)
            )


def invite_chunk(
    batch: str,
    index: int,
    *,
    enterprise_id: int,
    member_ids: list[int],
    actor_id: int | None,
    queued_at: datetime,
    site_url: str,
) -> dict:
    """One chunk of a queued batch (the task `directory.invite_members`): `invite` each member
    of `member_ids` in `enterprise_id` through one mail connection, as `actor_id` (None: the
    system), and return the chunk's counts (sent, not_sent, skipped).

    A member with an invitation since `queued_at` — sent, or not sent and recorded so — is
    skipped: a chunk delivered twice mails no one twice and records no failure twice, and a
    member invited meanwhile from their page is not mailed again (one not sent is invited again
    from the members list's "Last mail not sent"). `invite` itself refuses a member who has set a
    password or is not active, or one the actor may no longer change. The counts are read back
    from the Invitation rows, so a chunk run again after a worker was killed half way still
    counts what the first run sent. The chunk is then marked done (`JobChunk`, once) and, when it
    was the batch's last, the batch is finished (`finish_batch`)."""
    actor = None
    if actor_id is not None:
        actor = get_user_model().objects.filter(pk=actor_id).first()
    if actor_id is None or actor is not None:  # an actor since deleted invites no one
        already = Invitation.objects.filter(
            member=OuterRef("pk"), kind=InvitationKind.INVITATION, sent_at__gte=queued_at
        )
        members = (
            Member.objects.filter(pk__in=member_ids, enterprise_id=enterprise_id)
            .exclude(Exists(already))
            .select_related("user", "enterprise")
            .order_by("employee_number", "pk")
        )
        connection = get_connection(fail_silently=False)
        try:
            for member in members:
                try:
                    invite(member, actor=actor, site_url=site_url, connection=connection)
                except (InvitationRefused, mail.MailNotSent):
                    pass  # recorded by `invite` (not sent), or refused: counted below
        finally:
            try:
                connection.close()
            except Exception:  # closing a connection that never opened: nothing to report
                pass
    counts = chunk_counts(member_ids, enterprise_id=enterprise_id, queued_at=queued_at)
    finish_chunk(JOB, f"{batch}:{index}", **counts)
    finish_batch(batch)
    return counts


def chunk_counts(member_ids: list[int], *, enterprise_id: int, queued_at: datetime) -> dict:
    """How the invitations of `member_ids` went since `queued_at`: sent (an invitation sent),
    not_sent (only invitations not sent), skipped (none: refused, a password already set, not
    active, or not of the enterprise). One query."""
    outcomes: dict[int, set[str]] = {}
    for member_id, outcome in Invitation.objects.filter(
        enterprise_id=enterprise_id,
        member_id__in=member_ids,
        kind=InvitationKind.INVITATION,
        sent_at__gte=queued_at,
    ).values_list("member_id", "outcome"):
        outcomes.setdefault(member_id, set()).add(outcome)
    sent = sum(1 for seen in outcomes.values() if InvitationOutcome.SENT in seen)
    not_sent = len(outcomes) - sent
    return {"sent": sent, "not_sent": not_sent, "skipped": len(set(member_ids)) - len(outcomes)}


def finish_batch(batch: str) -> bool:
    """Finish the batch `batch` if each of its chunks is done: its head row gets the totals and
    its finishing time, and `batch_finished` is sent, in one transaction with the head locked —
    two chunks ending at once finish it once. Whether this call finished it."""
    with transaction.atomic():
        head = JobChunk.objects.select_for_update().filter(job=JOB, key=batch).first()
        if head is None or head.done_at is not None:
            return False
        keys = [f"{batch}:{index}" for index in range(head.counts.get("chunks", 0))]
        chunks = list(
            JobChunk.objects.filter(job=JOB, key__in=keys).values_list("done_at", "counts")
        )
        if len(chunks) < len(keys) or any(done_at is None for done_at, _counts in chunks):
            return False
        totals = {
            name: sum(counts.get(name, 0) for _done_at, counts in chunks)
            for name in ("sent", "not_sent", "skipped")
        }
        head.done_at = timezone.now()
        head.counts = {**head.counts, **totals}
        head.save(update_fields=["done_at", "counts"])
        actor_id = head.counts.get("actor")
        batch_finished.send(
            sender=JobChunk,
            enterprise_id=head.enterprise_id,
            actor_id=actor_id,
            batch=batch,
            **totals,
        )
    return True
