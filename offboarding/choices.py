"""The only place where the exit workflow's states, kinds and step names are spelled."""

import functools

from django.db import models
from django.utils.translation import gettext_lazy as _


class ExitState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    HANDOVER = "handover", _("Handover")
    COMPLETED = "completed", _("Completed")
    CLOSED = "closed", _("Closed")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    REVERTED = "reverted", _("Reverted")


# An exit in one of these states still holds the member: at most one per member (a constraint).
OPEN_STATES = (
    ExitState.DRAFT,
    ExitState.PENDING_APPROVAL,
    ExitState.HANDOVER,
    ExitState.COMPLETED,
)


class ExitKind(models.TextChoices):
    VOLUNTARY = "voluntary", _("Voluntary (member leaves)")
    VOLUNTARY_ADMIN = "voluntary_admin", _("Voluntary (an admin leaves)")
    PASSIVE = "passive", _("Passive (removed by an admin)")
    HR_SYNC = "hr_sync", _("From the HR system")


# Kinds whose exit an admin may move straight to handover (remove), without the approval chain:
# the removal decided by an admin, and the termination already decided in the HR system.
REMOVABLE_KINDS = (ExitKind.PASSIVE, ExitKind.HR_SYNC)


class Transition(models.TextChoices):
    """The workflow's doors, by the name of the function in offboarding/workflow.py."""

    SUBMIT = "submit", _("Submit")
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")
    CANCEL = "cancel", _("Cancel")
    REMOVE = "remove", _("Remove member")
    COMPLETE = "complete", _("Complete")
    UNDO = "undo", _("Undo")
    CLOSE = "close", _("Close for good")


class ApproverKind(models.TextChoices):
    DIRECT_MANAGER = "direct_manager", _("Direct manager")
    DEPARTMENT_HEAD = "department_head", _("Department head")
    HR = "hr", _("HR")


DEFAULT_APPROVAL_CHAIN = (ApproverKind.DIRECT_MANAGER, ApproverKind.HR)


class Decision(models.TextChoices):
    PENDING = "pending", _("Waiting")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    # HR skipped the step because its approver could not act (offboarding.workflow.skip_step).
    SKIPPED = "skipped", _("Skipped by HR")


class Team(models.TextChoices):
    HR = "hr", _("HR")
    IT = "it", _("IT")


class AutoCheck(models.TextChoices):
    """Checklist items the system verifies from the data instead of a person signing them off."""

    EXTERNAL_CONTACTS = "external_contacts", _("Owns no external contacts")
    CUSTOMER_GROUPS = "customer_groups", _("Owns no customer groups")
    APP_AUTHORIZATIONS = "app_authorizations", _("Holds no self-built app authorizations")
    THIRD_PARTY_BINDINGS = "third_party_bindings", _("Holds no third-party app bindings")
    APPROVAL_TEMPLATES = "approval_templates", _("Owns no approval templates")
    SHARED_CALENDARS = "shared_calendars", _("Owns no shared calendars")
    ADMIN_RIGHTS = "admin_rights", _("Holds no admin role")


# The 12 items of spec X-4, in order: (code, title, owning team, automatic check or "").
DEFAULT_CHECKLIST = (
    ("external_contacts", _("External contacts handed over"), Team.HR, AutoCheck.EXTERNAL_CONTACTS),
    ("customer_groups", _("Customer groups handed over"), Team.HR, AutoCheck.CUSTOMER_GROUPS),
    (
        "app_authorizations",
        _("Self-built app authorizations transferred or rebound"),
        Team.IT,
        AutoCheck.APP_AUTHORIZATIONS,
    ),
    (
        "third_party_bindings",
        _("Third-party app bindings (CRM…) re-authorized"),
        Team.IT,
        AutoCheck.THIRD_PARTY_BINDINGS,
    ),
    (
        "approval_templates",
        _("Approval templates transferred"),
        Team.HR,
        AutoCheck.APPROVAL_TEMPLATES,
    ),
    (
        "shared_calendars",
        _("Shared calendars transferred or cleaned up"),
        Team.IT,
        AutoCheck.SHARED_CALENDARS,
    ),
    ("work_files", _("Work files handed over"), Team.HR, ""),
    ("attendance", _("Attendance (clock-in) records archived"), Team.HR, ""),
    ("reimbursements", _("Expense claims closed"), Team.HR, ""),
    ("admin_rights", _("Admin rights handed over"), Team.IT, AutoCheck.ADMIN_RIGHTS),
    ("chat_retention", _("Chat records put under retention"), Team.IT, ""),
    ("account_access", _("Account access revoked"), Team.IT, ""),
)


def checklist_title(code: str, title: str) -> str:
    """A checklist item's title as shown: a default item whose title nobody changed reads in the
    reader's language (it was stored in the language of whoever copied it); any other as stored."""
    default = _DEFAULT_TITLES.get(code)
    if default is not None and title in _default_spellings(code):
        return str(default)
    return title


_DEFAULT_TITLES = {code: title for code, title, _team, _check in DEFAULT_CHECKLIST}


@functools.cache
def _default_spellings(code: str) -> frozenset[str]:
    """The default title of `code` in every language (English is the source), and as earlier
    versions spelled it: whichever it was stored in."""
    from django.conf import settings
    from django.utils import translation

    spellings = set(_EARLIER_SPELLINGS.get(code, ()))
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            spellings.add(str(_DEFAULT_TITLES[code]))
    return frozenset(spellings)


# Default titles as earlier versions wrote them (items copied then still read in both languages).
_EARLIER_SPELLINGS = {
    "attendance": ("Attendance (打卡) records archived", "考勤（打卡）记录已归档"),
    "reimbursements": ("Reimbursements (报销) closed", "报销已结清"),
}


class ResourceType(models.TextChoices):
    """The kinds of resource a member owns and a successor inherits (离职继承, X-5): one per model
    of directory.models.OWNED_RESOURCE_MODELS."""

    EXTERNAL_CONTACT = "external_contact", _("External contact")
    CUSTOMER_GROUP = "customer_group", _("Customer group")
    APP_AUTHORIZATION = "app_authorization", _("Self-built app authorization")
    THIRD_PARTY_BINDING = "third_party_binding", _("Third-party app binding")
    APPROVAL_TEMPLATE = "approval_template", _("Approval template")
    SHARED_CALENDAR = "shared_calendar", _("Shared calendar")


class InheritanceStatus(models.TextChoices):
    """Where one inherited resource stands (X-5)."""

    # Moved to the successor, final.
    DONE = "done", _("Handed over")
    # Moved to the successor; the customer may still decline until the acceptance period ends.
    WAITING = "waiting", _("Waiting for the customer")
    # The customer declined: kept with the successor as a lost customer; no longer blocks the exit.
    REFUSED = "refused", _("Declined by the customer")
    # Not moved: the successor already looks after as many contacts as one member may.
    RECEIVER_FULL = "receiver_full", _("Successor has reached the limit")


class HandoverState(models.TextChoices):
    """Where a super-admin handover (超级管理员移交, H-1) stands."""

    # Named by the leaving super admin; waits for the new one's authenticator code.
    AWAITING_CONFIRMATION = "awaiting_confirmation", _("Waiting for the new super admin")
    # Custody policy: the custodian holds the role until the new super admin accepts.
    IN_CUSTODY = "in_custody", _("Held by the custodian")
    # The new super admin confirmed and holds the role.
    DONE = "done", _("Done")
    # Withdrawn before the new super admin confirmed.
    WITHDRAWN = "withdrawn", _("Withdrawn")


# A handover in one of these states still waits for the new super admin: one per enterprise.
OPEN_HANDOVER_STATES = (HandoverState.AWAITING_CONFIRMATION, HandoverState.IN_CUSTODY)


class BackupDesignationState(models.TextChoices):
    """Where the super admin's designation of a backup admin (AB角, H-3) stands."""

    # Named by the super admin; waits for the member to enrol their authenticator and accept.
    AWAITING_ACCEPTANCE = "awaiting_acceptance", _("Waiting for the member to accept")
    # Accepted: the member became the backup admin (the previous one lost the flag).
    ACCEPTED = "accepted", _("Accepted")
    # Withdrawn by the super admin before the member accepted.
    WITHDRAWN = "withdrawn", _("Withdrawn")


class TerminationSource(models.TextChoices):
    """How the HR system sent a termination (offboarding.models.HRTermination)."""

    CSV = "csv", _("CSV import")
    API = "api", _("JSON API")


class DirectorySyncKind(models.TextChoices):
    """What a row of the HR system's directory sync was (offboarding.models.DirectorySyncRecord)."""

    JOINER = "joiner", _("Joiner")
    MOVER = "mover", _("Mover")
    LEAVER = "leaver", _("Leaver")


class TerminationState(models.TextChoices):
    """Where a termination from the HR system stands: waiting for the sync job, turned into an
    `hr_sync` exit, or refused by it (with the reason)."""

    PENDING = "pending", _("Pending")
    SYNCED = "synced", _("Synced")
    FAILED = "failed", _("Failed")


class WaitingStep(models.TextChoices):
    """What an open exit waits for now, and so whom (offboarding/todo.py): the exit list's
    "waiting on" column, the homes' to-do lists and the dashboard's counts. One step per exit, the
    first in this order that applies."""

    # Draft: its member (a voluntary exit) or HR (a removal, a termination) submits or removes it.
    SUBMISSION = "submission", _("Submission")
    # Pending approval: the current step's approver (HR when nobody active is assigned).
    APPROVAL = "approval", _("Approval")
    # Handover of a super admin: the new super admin is named and confirms (H-1).
    SUPER_ADMIN_HANDOVER = "super_admin_handover", _("Super admin handover")
    # Handover: the member still holds the admin role or is the backup admin.
    ADMIN_RIGHTS = "admin_rights", _("Admin rights to hand over")
    # Handover: the member still owns resources, or a successor was full (离职继承).
    RESOURCES = "resources", _("Resources to hand over")
    # Handover: checklist items or the review of HR, of IT, or of both, not signed off yet.
    HR_AND_IT_SIGN_OFF = "hr_and_it_sign_off", _("HR and IT sign-offs")
    HR_SIGN_OFF = "hr_sign_off", _("HR sign-off")
    IT_SIGN_OFF = "it_sign_off", _("IT sign-off")
    # Handover with nothing left: HR or IT completes it.
    COMPLETION = "completion", _("Completion")
    # Completed: it can be undone until the deadline, then the nightly job closes it.
    UNDO_WINDOW = "undo_window", _("Undo window")


class NotificationEvent(models.TextChoices):
    """What a notification tells its recipient (offboarding/notifications.py)."""

    STEP_WAITING = "step_waiting", _("An approval step waits for you")
    EXIT_APPROVED = "exit_approved", _("Your exit was approved")
    EXIT_REJECTED = "exit_rejected", _("Your exit was rejected")
    EXIT_COMPLETED = "exit_completed", _("Your exit was completed")
    RESOURCES_ARRIVED = "resources_arrived", _("Resources handed over to you")
    INHERITANCE_REFUSED = "inheritance_refused", _("A customer declined the handover")
    INHERITANCE_FULL = "inheritance_full", _("A successor could not take every contact")
    HANDOVER_NAMED = "handover_named", _("You are named the new super admin")
    GRACE_CLOSING = "grace_closing", _("Your emergency window closes soon")
    ERASURE_RECEIVED = "erasure_received", _("An erasure request was received")
    ERASURE_DUE = "erasure_due", _("An erasure request is due soon")
    INVITATIONS_SENT = "invitations_sent", _("Invitations you asked for were sent")


class NotificationChannel(models.TextChoices):
    """How a notification travels: a personal e-mail, or the enterprise's IM group robot."""

    EMAIL = "email", _("E-mail")
    GROUP = "group", _("Group robot")


class NotificationStatus(models.TextChoices):
    """Where a notification stands: queued (waiting for the worker), sending, sent, retrying
    (a send failed; the worker tries again later), failed (every try failed: HR may retry it)."""

    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    RETRYING = "retrying", _("Retrying")
    FAILED = "failed", _("Failed")


class RobotPlatform(models.TextChoices):
    """The IM platform of a group robot, read from its Apprise URL's scheme."""

    WECOM = "wecom", _("WeCom group robot")
    DINGTALK = "dingtalk", _("DingTalk group robot")
    FEISHU = "feishu", _("Feishu group robot")
    WEBHOOK = "webhook", _("JSON webhook")
