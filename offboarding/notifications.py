"""Notifications: who is told what, through which channel, and the log of every one (U-2, J-3).

Who is told what (one function per event; each door calls one of them, in its transaction):

- step_waiting: the step's approver (direct manager, department head), by e-mail, linking to
  /approvals/<exit>/; a step HR decides: every HR user by e-mail and the group robots, linking to
  the exit's admin page.
- exit_approved, exit_rejected: the leaving member, by e-mail, linking to /me/exit/.
- exit_completed: the departed member, by e-mail (their login is closed: no link).
- resources_arrived: each successor who received something (inherit, reassign), by e-mail.
- inheritance_full, inheritance_refused: every HR user by e-mail and the group robots, linking
  to the inheritance batch's admin page.
- handover_named: the member named the new super admin, by e-mail, linking to /me/handover/.
- grace_closing: the old super admin, a day before their emergency window closes (the reminder
  job), by e-mail, linking to /me/emergency/.
- erasure_received, erasure_due (due within 3 days, the reminder job): every compliance user of
  the enterprise, by e-mail, linking to the request's admin page.
- invitations_sent: the staff user who queued a batch of invitations (the member admin's "Invite
  selected members" on a large selection), by e-mail once its last chunk is done, with how many
  were sent and not sent, linking to the members list's "Last mail not sent" filter
  (directory/invitations.py sends `batch_finished`; offboarding/apps.py connects it here).

Personal events go to the person by e-mail only. Team events — a step waiting for HR, a handover
that needs HR — also go to the enterprise's IM group robots (WeCom, DingTalk, Feishu group robots
through Apprise; `GroupRobot`, configured by HR in the admin, the URL sealed), where HR's team
reads them. Compliance's erasure requests name a departed person: e-mail only, never a group.

Every notification is written as a `Notification` row in the door's own transaction — rendered in
the enterprise's language (`Enterprise.language`: its members' and its staff's mail), with an
absolute link (EXITDESK_SITE_URL) to the page where the thing is done — and queued after commit
(`transaction.on_commit`) as the Celery task `offboarding.send_notification`: a door that rolls
back leaves no row and sends nothing. `deliver` claims the row (queued/retrying → sending, so two
deliveries of one task send once), sends, and records sent, or the error: `retrying` while tries
are left (the task retries with backoff), then `failed`. A failed one stays in the log, with its
error, until HR retries it (admin action, `retry`). The reminder job (`send_reminders`, every 15
minutes) warns of closing emergency windows and due erasures, once each, and queues again what
was queued but never picked up (a broker down at commit, a worker killed while sending).

The reassignment of an approval step (elsewhere) calls `notify_step_waiting(approval)` for the
new approver.
"""

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from functools import partial

import apprise
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, Value
from django.db.models.functions import Replace
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from compliance import audit, crypto
from directory import mail
from directory.choices import MemberStatus, StaffRole
from directory.invitations import JOB as INVITATIONS_JOB
from directory.jobs import job_run
from directory.models import Enterprise, JobChunk, Member

from . import rules
from .choices import (
    ExitState,
    InheritanceStatus,
    NotificationChannel,
    NotificationEvent,
    NotificationStatus,
    RobotPlatform,
)
from .exceptions import ExitRefused
from .models import Exit, ExitApproval, GroupRobot, InheritanceBatch, Notification

logger = logging.getLogger(__name__)

JOB = "offboarding.send_reminders"
# Tries of one send (the first and the retries), and the waits between them (seconds).
MAX_ATTEMPTS = 5
BACKOFF = (60, 300, 900, 3600)
GRACE_WARNING = timedelta(hours=24)  # the old super admin is warned this long before the close
ERASURE_WARNING = timedelta(days=3)  # compliance is reminded of a request due within this
LOST_AFTER = timedelta(minutes=15)  # queued (or sending) this long without news: queued again

# Which URL schemes a group robot may have, and its platform (Apprise's own schemes).
ROBOT_SCHEMES = {
    "wecombot": RobotPlatform.WECOM,
    "dingtalk": RobotPlatform.DINGTALK,
    "feishu": RobotPlatform.FEISHU,
    "json": RobotPlatform.WEBHOOK,
    "jsons": RobotPlatform.WEBHOOK,
}

# One subject and one body per event, whole sentences, so that each translates as a sentence.
MESSAGES = {
    NotificationEvent.STEP_WAITING: (
        gettext_lazy("The exit of %(member)s waits for your approval"),
        gettext_lazy(
            "%(member)s (%(number)s) is leaving; their last working day is %(day)s. Step "
            "%(position)s of the approval (%(approver)s) waits for your decision."
        ),
    ),
    NotificationEvent.EXIT_APPROVED: (
        gettext_lazy("Your exit was approved"),
        gettext_lazy(
            "%(member)s, your exit was approved. The handover of your work starts now; your last "
            "working day is %(day)s."
        ),
    ),
    NotificationEvent.EXIT_REJECTED: (
        gettext_lazy("Your exit was rejected"),
        gettext_lazy("%(member)s, your exit was rejected. The reason given: %(reason)s"),
    ),
    NotificationEvent.EXIT_COMPLETED: (
        gettext_lazy("Your exit is completed"),
        gettext_lazy(
            "%(member)s, your exit is completed and your login is closed. Thank you for your work."
        ),
    ),
    NotificationEvent.RESOURCES_ARRIVED: (
        gettext_lazy("Resources of %(member)s were handed over to you"),
        gettext_lazy(
            "%(successor)s, you now look after what %(member)s handed over to you: %(counts)s."
        ),
    ),
    NotificationEvent.INHERITANCE_FULL: (
        gettext_lazy("Contacts of %(member)s could not all be handed over"),
        gettext_lazy(
            "%(count)s external contacts of %(member)s stay with them: their successor already "
            "looks after the most contacts one member may. Give them to another successor."
        ),
    ),
    NotificationEvent.INHERITANCE_REFUSED: (
        gettext_lazy("A customer of %(member)s declined the handover"),
        gettext_lazy(
            "A customer handed over from %(member)s to %(successor)s declined the handover; they "
            "are kept as a lost customer."
        ),
    ),
    NotificationEvent.HANDOVER_NAMED: (
        gettext_lazy("You are named the new super admin of %(enterprise)s"),
        gettext_lazy(
            "%(member)s, %(old)s named you the new super admin of %(enterprise)s. Confirm the "
            "handover with your password and your authenticator code."
        ),
    ),
    NotificationEvent.GRACE_CLOSING: (
        gettext_lazy("Your emergency window closes at %(until)s"),
        gettext_lazy(
            "%(member)s, your emergency window as the former super admin of %(enterprise)s "
            "closes at %(until)s. If the new super admin's account is misused, report it before "
            "then."
        ),
    ),
    NotificationEvent.ERASURE_RECEIVED: (
        gettext_lazy("An erasure request of %(member)s is due on %(due)s"),
        gettext_lazy(
            "The erasure request of %(member)s was received; it must be carried out by %(due)s."
        ),
    ),
    NotificationEvent.ERASURE_DUE: (
        gettext_lazy("An erasure request of %(member)s is due on %(due)s"),
        gettext_lazy(
            "The erasure request of %(member)s is still open; it must be carried out by %(due)s."
        ),
    ),
    NotificationEvent.INVITATIONS_SENT: (
        gettext_lazy("Invitations: %(sent)s sent, %(not_sent)s not sent"),
        gettext_lazy(
            "The invitations you asked for to members of %(enterprise)s are done: %(sent)s sent, "
            "%(not_sent)s not sent, %(skipped)s left out (a password already set, not active, or "
            "invited meanwhile). The members list shows each member's: filter Login by “Last mail "
            "not sent” (with the reason on the member's page) or “Invited, no password yet”."
        ),
    ),
}


class NotSent(Exception):
    """A send that did not go through; the message is the reason shown in the log."""


# -- links ---------------------------------------------------------------------------------------


def absolute(path: str) -> str:
    """The absolute address of `path` on this site (EXITDESK_SITE_URL)."""
    return settings.EXITDESK_SITE_URL.rstrip("/") + path


# -- the events (called by the doors, inside their transaction) -----------------------------------


def notify_step_waiting(approval: ExitApproval) -> list[Notification]:
    """Tell whoever decides `approval` now that it waits for them: its assignee if active (their
    approval page), else HR of the enterprise (the exit's admin page), and the group robots."""
    exit_case = Exit.objects.select_related("member", "enterprise").get(pk=approval.exit_case_id)
    member = exit_case.member
    context = {
        "member": member.name,
        "number": member.employee_number,
        "day": exit_case.last_working_day.isoformat(),
        "position": approval.position,
        "approver": approval.get_approver_display,
    }
    about = ("exit", exit_case.pk)
    assignee = approval.assignee
    if assignee is not None and assignee.status == MemberStatus.ACTIVE:
        return _queue(
            exit_case.enterprise,
            NotificationEvent.STEP_WAITING,
            people=[(assignee.user, assignee)],
            context=context,
            about=about,
            path=reverse("offboarding:approval_detail", args=[exit_case.pk]),
        )
    return _queue(
        exit_case.enterprise,
        NotificationEvent.STEP_WAITING,
        people=_staff(exit_case.enterprise_id, StaffRole.HR),
        group=True,
        context=context,
        about=about,
        path=reverse("admin:offboarding_exit_change", args=[exit_case.pk]),
    )


def exit_progressed(exit_case: Exit) -> list[Notification]:
    """After a transition of the workflow: the next approval step waits (submit, approve), or the
    member is told their exit was approved, rejected or completed."""
    state = exit_case.state
    if state == ExitState.PENDING_APPROVAL:
        approval = rules.current_approval(exit_case)
        return notify_step_waiting(approval) if approval is not None else []
    event = {
        ExitState.HANDOVER: NotificationEvent.EXIT_APPROVED,
        ExitState.REJECTED: NotificationEvent.EXIT_REJECTED,
        ExitState.COMPLETED: NotificationEvent.EXIT_COMPLETED,
    }.get(state)
    if event is None:
        return []
    member = Member.objects.select_related("user").get(pk=exit_case.member_id)
    path = "" if event == NotificationEvent.EXIT_COMPLETED else reverse("offboarding:my_exit")
    return _queue(
        exit_case.enterprise,
        event,
        people=[(member.user, member)],
        context={
            "member": member.name,
            "day": exit_case.last_working_day.isoformat(),
            "reason": exit_case.rejection_reason,
        },
        about=("exit", exit_case.pk),
        path=path,
    )


def resources_handed_over(
    batch: InheritanceBatch, *, successor_ids: list[int] | None = None
) -> list[Notification]:
    """After a handover (`inherit`): each successor is told what they received, and HR what did
    not fit (`receiver_full`). After a reassignment, only `successor_ids` are told."""
    from .models import InheritanceItem  # the items' counts, one grouped query

    rows = (
        InheritanceItem.objects.filter(batch=batch)
        .values("successor_id", "resource_type", "status")
        .order_by()
        .annotate(n=Count("pk"))
    )
    received: dict[int, dict[str, int]] = defaultdict(dict)
    full = 0
    for row in rows:
        if row["status"] == InheritanceStatus.RECEIVER_FULL:
            full += row["n"]
            continue
        by_type = received[row["successor_id"]]
        by_type[row["resource_type"]] = by_type.get(row["resource_type"], 0) + row["n"]
    wanted = set(received) if successor_ids is None else set(successor_ids) & set(received)
    enterprise, leaving = batch.enterprise, batch.from_member  # loaded already by `inherit`
    queued = []
    for successor in Member.objects.filter(pk__in=wanted).select_related("user").order_by("pk"):
        queued += _queue(
            enterprise,
            NotificationEvent.RESOURCES_ARRIVED,
            people=[(successor.user, successor)],
            context={
                "member": leaving.name,
                "successor": successor.name,
                "counts": partial(_counts, received[successor.pk]),
            },
            about=("inheritance_batch", batch.pk),
            path=reverse("offboarding:home"),
        )
    if full and successor_ids is None:
        queued += _queue(
            enterprise,
            NotificationEvent.INHERITANCE_FULL,
            people=_staff(enterprise.pk, StaffRole.HR),
            group=True,
            context={"member": leaving.name, "count": full},
            about=("inheritance_batch", batch.pk),
            path=reverse("admin:offboarding_inheritancebatch_change", args=[batch.pk]),
        )
    return queued


def customer_refused(item) -> list[Notification]:
    """A customer declined the handover (`refuse_item`): HR is told, and the group robots."""
    batch = item.batch
    enterprise = Enterprise.objects.get(pk=batch.enterprise_id)
    names = dict(
        Member.objects.filter(pk__in=[batch.from_member_id, item.successor_id]).values_list(
            "pk", "name"
        )
    )
    return _queue(
        enterprise,
        NotificationEvent.INHERITANCE_REFUSED,
        people=_staff(enterprise.pk, StaffRole.HR),
        group=True,
        context={
            "member": names.get(batch.from_member_id, ""),
            "successor": names.get(item.successor_id, ""),
        },
        about=("inheritance_batch", batch.pk),
        path=reverse("admin:offboarding_inheritancebatch_change", args=[batch.pk]),
    )


def handover_named(handover) -> list[Notification]:
    """The leaving super admin named a new one (`request_handover`): the new one is told, with
    the link to the page where they confirm."""
    to_member = Member.objects.select_related("user", "enterprise").get(pk=handover.to_member_id)
    old = Member.objects.get(pk=handover.from_member_id)
    return _queue(
        to_member.enterprise,
        NotificationEvent.HANDOVER_NAMED,
        people=[(to_member.user, to_member)],
        context={
            "member": to_member.name,
            "old": old.name,
            "enterprise": to_member.enterprise.name,
        },
        about=("super_admin_handover", handover.pk),
        path=reverse("offboarding:super_admin"),
    )


def grace_closing(handover) -> list[Notification]:
    """The old super admin's emergency window closes soon (the reminder job)."""
    old = Member.objects.select_related("user", "enterprise").get(pk=handover.from_member_id)
    enterprise = old.enterprise
    return _queue(
        enterprise,
        NotificationEvent.GRACE_CLOSING,
        people=[(old.user, old)],
        context={
            "member": old.name,
            "enterprise": enterprise.name,
            "until": partial(_local_time, handover.grace_until, enterprise),
        },
        about=("super_admin_handover", handover.pk),
        path=reverse("offboarding:emergency"),
    )


def erasure_waiting(erasure_request, *, reminder: bool = False) -> list[Notification]:
    """An erasure request waits for compliance: received (`compliance.erasure.receive`), or due
    soon and still open (the reminder job)."""
    enterprise = Enterprise.objects.get(pk=erasure_request.enterprise_id)
    member = Member.objects.get(pk=erasure_request.member_id)
    return _queue(
        enterprise,
        NotificationEvent.ERASURE_DUE if reminder else NotificationEvent.ERASURE_RECEIVED,
        people=_staff(enterprise.pk, StaffRole.COMPLIANCE),
        context={"member": member.name, "due": erasure_request.due_on.isoformat()},
        about=("erasure_request", erasure_request.pk),
        path=reverse("admin:compliance_erasurerequest_change", args=[erasure_request.pk]),
    )


def invitations_finished(
    sender=None,
    *,
    enterprise_id: int,
    actor_id: int | None,
    batch: str,
    sent: int,
    not_sent: int,
    skipped: int,
    **kwargs,
) -> list[Notification]:
    """The last chunk of a batch of invitations is done (`directory.invitations.batch_finished`,
    in the transaction that finishes it): the staff user who queued it is told the outcome. A
    batch the system queued, or whose actor's login is gone or closed, tells no one."""
    if actor_id is None:
        return []
    actor = get_user_model().objects.filter(pk=actor_id, is_active=True).first()
    if actor is None:
        return []
    enterprise = Enterprise.objects.get(pk=enterprise_id)
    head = JobChunk.objects.filter(job=INVITATIONS_JOB, key=batch).values_list("pk", flat=True)
    changelist = reverse("admin:directory_member_changelist")
    return _queue(
        enterprise,
        NotificationEvent.INVITATIONS_SENT,
        people=[(actor, None)],
        context={
            "enterprise": enterprise.name,
            "sent": sent,
            "not_sent": not_sent,
            "skipped": skipped,
        },
        about=("invitation_batch", head.first()),
        path=f"{changelist}?login={'not_sent' if not_sent else 'invited'}",
    )


# -- writing and queueing -------------------------------------------------------------------------


def _staff(enterprise_id: int, role: str) -> list[tuple]:
    """The active staff users granted `enterprise_id` in `role`, as (user, None) recipients."""
    users = (
        get_user_model()
        .objects.filter(
            is_active=True,
            is_staff=True,
            enterprise_accesses__enterprise_id=enterprise_id,
            enterprise_accesses__role=role,
        )
        .distinct()
        .order_by("pk")
    )
    return [(user, None) for user in users]


def _counts(by_type: dict[str, int]) -> str:
    from .choices import ResourceType

    return _(", ").join(
        f"{ResourceType(rtype).label} × {count}" for rtype, count in sorted(by_type.items())
    )


def _local_time(moment: datetime, enterprise) -> str:
    local = timezone.localtime(moment, enterprise.time_zone)
    return f"{formats.date_format(local, 'Y-m-d H:i')} ({enterprise.time_zone})"


def _render(event: str, context: dict, language: str) -> tuple[str, str]:
    """The subject and body of `event` in `language` (lazy strings and callables in the context
    are rendered in it too)."""
    subject, body = MESSAGES[event]
    with translation.override(language):
        values = {key: value() if callable(value) else str(value) for key, value in context.items()}
        return (str(subject) % values)[:300], str(body) % values


def _queue(
    enterprise,
    event: str,
    *,
    people: list[tuple],
    context: dict,
    about: tuple[str, int],
    path: str,
    group: bool = False,
) -> list[Notification]:
    """Write one notification per person (e-mail) and, for a team event, one per active group
    robot of the enterprise; queue them for sending once the transaction commits."""
    language = enterprise.language or mail.DEFAULT_LANGUAGE
    subject, body = _render(event, context, language)
    link = absolute(path) if path else ""
    now = timezone.now()
    common = {
        "enterprise": enterprise,
        "event": event,
        "object_type": about[0],
        "object_id": about[1],
        "language": language,
        "subject": subject,
        "body": body,
        "link": link,
        "created_at": now,
        "updated_at": now,
    }
    rows = [
        Notification(
            channel=NotificationChannel.EMAIL, recipient=user, recipient_member=member, **common
        )
        for user, member in people
    ]
    if group:
        rows += [
            Notification(channel=NotificationChannel.GROUP, robot=robot, **common)
            for robot in GroupRobot.objects.filter(enterprise=enterprise, active=True).order_by(
                "pk"
            )
        ]
    if not rows:
        return []
    created = Notification.objects.bulk_create(rows)
    transaction.on_commit(partial(enqueue, [row.pk for row in created]))
    return created


def enqueue(notification_ids: list[int]) -> None:
    """Hand the notifications to the worker. A broker that does not answer is logged, not
    raised (the door has committed): the reminder job queues them again (LOST_AFTER)."""
    from .tasks import send_notification

    for pk in notification_ids:
        try:
            send_notification.delay(pk)
        except Exception as error:  # the row stays queued; the reminder job picks it up
            logger.warning("Notification %s not queued: %s", pk, mail.describe(error))


# -- sending --------------------------------------------------------------------------------------


def deliver(notification_id: int, *, final: bool = False) -> bool:
    """Send the notification once; return True when it failed and should be tried again.

    Claimed first (queued or retrying → sending, one UPDATE): a second delivery of the same task
    finds it claimed or sent and does nothing. Sent → `sent`; failed → `retrying`, or `failed`
    when `final` (the last try) — the error kept in `last_error`. No lock is held while the mail
    server or the robot answers."""
    now = timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id,
        status__in=(NotificationStatus.QUEUED, NotificationStatus.RETRYING),
    ).update(status=NotificationStatus.SENDING, attempts=F("attempts") + 1, updated_at=now)
    if not claimed:
        return False
    notification = Notification.objects.select_related("recipient", "robot").get(pk=notification_id)
    try:
        _send(notification)
    except Exception as error:
        reason = error.reason if isinstance(error, mail.MailNotSent) else str(error)
        reason = reason or mail.describe(error)
        final = final or notification.attempts >= MAX_ATTEMPTS
        Notification.objects.filter(pk=notification_id).update(
            status=NotificationStatus.FAILED if final else NotificationStatus.RETRYING,
            last_error=reason[:2000],
            updated_at=timezone.now(),
        )
        logger.warning("Notification %s not sent: %s", notification_id, reason)
        return not final
    Notification.objects.filter(pk=notification_id).update(
        status=NotificationStatus.SENT, sent_at=timezone.now(), updated_at=timezone.now()
    )
    return False


def text_of(notification: Notification) -> str:
    """What is sent: the body, then the link on a line of its own."""
    return f"{notification.body}\n\n{notification.link}" if notification.link else notification.body


def _send(notification: Notification) -> None:
    with translation.override(notification.language):
        if notification.channel == NotificationChannel.EMAIL:
            user = notification.recipient
            if user is None:
                raise NotSent(_("the recipient's login no longer exists."))
            mail.send_text(
                to=user.email,
                subject=notification.subject,
                body=text_of(notification),
                what=f"notification {notification.event}",
                about=user,
            )
            return
        robot = notification.robot
        if robot is None or not robot.active:
            raise NotSent(_("the group robot was removed or turned off."))
        post_to_robot(robot_url(robot), title=notification.subject, body=text_of(notification))


def post_to_robot(url: str, *, title: str, body: str) -> None:
    """Post one message through Apprise to the robot at `url`; raise NotSent with what Apprise
    said when it did not go through (the URL itself never in the reason)."""
    sender = apprise.Apprise()
    if not sender.add(url):
        raise NotSent(_("Apprise does not accept this robot's URL."))
    with apprise.LogCapture(level=logging.WARNING) as output:
        sent = sender.notify(title=title, body=body)
    if not sent:
        said = [line for line in output.getvalue().splitlines() if line.strip()]
        reason = said[-1] if said else _("the robot did not accept the message.")
        raise NotSent(reason.replace(url, "…"))


# -- the group robots (configured by HR) ----------------------------------------------------------


def check_robot_url(url: str) -> tuple[str, str]:
    """The platform and masked form of a robot's Apprise URL; ValidationError when it is not a
    WeCom, DingTalk or Feishu group robot (or a JSON webhook)."""
    url = (url or "").strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ROBOT_SCHEMES:
        raise ValidationError(
            _(
                "Give the robot's address as wecombot://KEY (WeCom), dingtalk://TOKEN or "
                "dingtalk://SECRET@TOKEN (DingTalk), feishu://TOKEN (Feishu) or json://host/path."
            ),
            code="scheme",
        )
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise ValidationError(_("This robot address is incomplete or malformed."), code="invalid")
    # Apprise's masked form, without its options (`?format=text&…`): what the admin shows.
    return ROBOT_SCHEMES[scheme], plugin.url(privacy=True).split("?", 1)[0][:300]


def robot_url(robot: GroupRobot) -> str:
    """The robot's URL, unsealed (for sending only; never shown)."""
    return crypto.unwrap(bytes(robot.sealed_url)).decode()


@transaction.atomic
def save_robot(robot: GroupRobot, *, actor, url: str | None = None) -> GroupRobot:
    """Add or change a group robot (HR of its enterprise). `url`, when given, is checked, sealed
    with the master key and replaces the old one; the robot's history and one audit event
    ("group_robot_saved": name, platform, the masked URL, whether it changed) record it."""
    if actor is not None and not rules.is_hr.test(actor, robot):
        raise ExitRefused(_("You are not allowed to configure this enterprise's group robots."))
    if robot.pk is None and not url:
        raise ExitRefused(_("Give the robot's address."), field="url")
    if url:
        robot.platform, robot.url_hint = check_robot_url(url)
        robot.sealed_url = crypto.wrap(url.strip().encode())
    audit.lock_doors(robot.enterprise_id)
    robot._history_user = actor
    robot._change_reason = "url" if url else "settings"
    robot.save()
    audit.record(
        robot.enterprise_id,
        actor=actor,
        action="group_robot_saved",
        object_type="group_robot",
        object_id=robot.pk,
        data={
            "name": robot.name,
            "platform": robot.platform,
            "url": robot.url_hint,
            "url_changed": bool(url),
            "active": robot.active,
        },
    )
    return robot


# -- erasure (C-5) ---------------------------------------------------------------------------------


def erase_member(member, *, old_name: str, placeholder: str) -> None:
    """Called by `compliance.erasure` (mode `account`), in its transaction: the notifications to
    the member say nothing of them any more (subject and body replaced by `placeholder`: a
    rejection's reason among them), and their name in every other notification of the
    enterprise is replaced by `placeholder`. Two UPDATEs."""
    Notification.objects.filter(recipient_member_id=member.pk).update(
        subject=placeholder, body=placeholder
    )
    if not old_name:
        return
    Notification.objects.filter(enterprise_id=member.enterprise_id).filter(
        Q(subject__contains=old_name) | Q(body__contains=old_name)
    ).update(
        subject=Replace("subject", Value(old_name), Value(placeholder)),
        body=Replace("body", Value(old_name), Value(placeholder)),
    )


# -- retrying from the admin ----------------------------------------------------------------------


@transaction.atomic
def retry(notifications, *, actor) -> int:
    """Queue the failed notifications of the queryset `notifications` again (HR, from the log);
    return how many. Each enterprise's audit trail records it ("notifications_retried")."""
    ids_by_enterprise: dict[int, list[int]] = defaultdict(list)
    for pk, enterprise_id in (
        notifications.filter(status=NotificationStatus.FAILED)
        .order_by("pk")
        .values_list("pk", "enterprise_id")
    ):
        ids_by_enterprise[enterprise_id].append(pk)
    retried = []
    for enterprise_id, ids in sorted(ids_by_enterprise.items()):
        audit.lock_doors(enterprise_id)
        Notification.objects.filter(pk__in=ids, status=NotificationStatus.FAILED).update(
            status=NotificationStatus.QUEUED, updated_at=timezone.now()
        )
        audit.record(
            enterprise_id,
            actor=actor,
            action="notifications_retried",
            object_type="notification",
            object_id=ids[0],
            data={"notifications": ids},
        )
        retried += ids
    if retried:
        transaction.on_commit(partial(enqueue, retried))
    return len(retried)


# -- the reminder job -----------------------------------------------------------------------------


def send_reminders(*, now: datetime | None = None) -> int | None:
    """Every 15 minutes (config/schedule.py): warn each old super admin whose emergency window
    closes within GRACE_WARNING, remind compliance of each erasure request due within
    ERASURE_WARNING and still waiting for them — each once (a notification about it already
    written is not written again) — and queue again the notifications lost on the way to the
    worker. Runs under the job's lease and writes a JobRun; returns how many notifications it
    wrote or queued again, or None when another run held the lease."""
    from compliance.choices import ErasureState
    from compliance.models import ErasureRequest

    from .models import SuperAdminHandover

    now = now or timezone.now()
    done = 0
    with job_run(JOB) as run:
        if run is None:
            return None
        warned = Notification.objects.filter(
            event=NotificationEvent.GRACE_CLOSING, object_type="super_admin_handover"
        ).values("object_id")
        closing = (
            SuperAdminHandover.objects.filter(
                grace_closed_at__isnull=True,
                grace_until__gt=now,
                grace_until__lte=now + GRACE_WARNING,
            )
            .exclude(pk__in=warned)
            .order_by("pk")
        )
        for handover in closing:
            done += _remind(run, handover.enterprise_id, "grace_warnings", grace_closing, handover)
        reminded = Notification.objects.filter(
            event=NotificationEvent.ERASURE_DUE, object_type="erasure_request"
        ).values("object_id")
        due = (
            ErasureRequest.objects.filter(
                state__in=(ErasureState.RECEIVED, ErasureState.EVALUATED),
                due_on__lte=(now + ERASURE_WARNING).date(),
            )
            .exclude(pk__in=reminded)
            .order_by("pk")
        )
        for erasure_request in due:
            done += _remind(
                run,
                erasure_request.enterprise_id,
                "erasure_reminders",
                partial(erasure_waiting, reminder=True),
                erasure_request,
            )
        lost = list(
            Notification.objects.filter(
                status__in=(NotificationStatus.QUEUED, NotificationStatus.SENDING),
                updated_at__lt=now - LOST_AFTER,
            )
            .order_by("pk")
            .values_list("pk", "enterprise_id")[:1000]
        )
        if lost:
            ids = [pk for pk, _enterprise in lost]
            Notification.objects.filter(pk__in=ids).update(
                status=NotificationStatus.QUEUED, updated_at=now
            )
            enqueue(ids)
            by_enterprise: dict[int, int] = defaultdict(int)
            for _pk, enterprise_id in lost:
                by_enterprise[enterprise_id] += 1
            for enterprise_id, count in sorted(by_enterprise.items()):
                run.count(enterprise_id, queued_again=count)
            done += len(ids)
    return done


def _remind(run, enterprise_id: int, counter: str, notify, about) -> int:
    try:
        with transaction.atomic():
            written = len(notify(about))
    except Exception as error:  # one reminder's failure: the others go on; tried again next run
        run.error(enterprise_id, error)
        return 0
    run.count(enterprise_id, **{counter: 1})
    return written
