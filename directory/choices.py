"""The only place where the directory's status and role names are spelled."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DataRegion(models.TextChoices):
    CN = "CN", _("Mainland China")
    HK = "HK", _("Hong Kong")
    SG = "SG", _("Singapore")
    EU = "EU", _("European Union")
    US = "US", _("United States")
    JP = "JP", _("Japan")


class DepartmentStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PENDING_DISSOLUTION = "pending_dissolution", _("Pending dissolution")
    DISSOLVED = "dissolved", _("Dissolved")


class MemberRole(models.TextChoices):
    MEMBER = "member", _("Member")
    ADMIN = "admin", _("Admin")
    SUPER_ADMIN = "super_admin", _("Super admin")


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    FROZEN = "frozen", _("Frozen")
    DEPARTED = "departed", _("Departed")


class StaffRole(models.TextChoices):
    """What a staff user does for an enterprise they were granted (EnterpriseAccess)."""

    HR = "hr", _("HR")
    IT = "it", _("IT")
    COMPLIANCE = "compliance", _("Compliance")


class HandoverPolicy(models.TextChoices):
    """How the super admin role passes on when the super admin leaves (H-2): the three columns of
    the seed's comparison."""

    # WeCom: the new super admin confirms (dual verification); the old one keeps an emergency
    # window afterwards.
    GRACE = "grace", _("Confirmed, then an emergency window (WeCom)")
    # DingTalk: the new super admin confirms; the swap takes effect at once, no window.
    IMMEDIATE = "immediate", _("Confirmed, effective at once (DingTalk)")
    # Feishu: a named custodian holds the role until the permanent super admin accepts.
    CUSTODY = "custody", _("Held by a custodian until accepted (Feishu)")


class ErasureMode(models.TextChoices):
    """How an enterprise erases a departed member's personal data on request (数据删除权, C-5):
    the three platforms of the seed's comparison."""

    # WeCom: only the whole account is erased.
    ACCOUNT = "account", _("The whole account (WeCom)")
    # DingTalk: the member chooses which categories (modules) are erased.
    MODULES = "modules", _("Chosen categories (DingTalk)")
    # Feishu: the member chooses a level: anonymize, pseudonymize or delete.
    LEVELS = "levels", _("Erasure levels (Feishu)")


class JobStatus(models.TextChoices):
    """How a run of a periodic job ended (directory.models.JobRun)."""

    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    # Another run of the same job held the lease: this one did nothing.
    SKIPPED = "skipped", _("Skipped (already running)")
    # The run's lease expired while it still said `running`: its worker died (killed, machine
    # lost). Marked by the next run that takes the lease, or by the overdue-jobs check.
    LOST = "lost", _("Lost")
    # A coordinator that sent chunks to the workers: its work goes on in them, and a later run
    # finishes the night once every chunk is done (compliance/jobs.py).
    PARTIAL = "partial", _("Waiting for chunks")


class MailLanguage(models.TextChoices):
    """The languages mail to an enterprise's members is written in."""

    ZH_HANS = "zh-hans", _("Simplified Chinese")
    EN = "en", _("English")


class InvitationKind(models.TextChoices):
    INVITATION = "invitation", _("Invitation")
    RESET = "reset", _("Password reset link")


class InvitationOutcome(models.TextChoices):
    SENT = "sent", _("Sent")
    NOT_SENT = "not_sent", _("Not sent")


# The periodic jobs (config/schedule.py) by their task names, as people call them, in the order
# the job list shows them. A job not named here still shows, by its task name.
JOB_LABELS = {
    "offboarding.expire_grace_windows": _("Close ended emergency windows"),
    "offboarding.settle_inheritance": _("Settle handed-over customers"),
    "offboarding.sync_hr_terminations": _("Sync terminations from the HR system"),
    "offboarding.close_undo_windows": _("Close exits past their undo window"),
    "compliance.enforce_retention": _("Apply retention policies"),
    "compliance.enforce_retention_chunk": _("Apply retention policies (a chunk)"),
    "directory.mark_pending_dissolution": _("Mark departments pending dissolution"),
    "offboarding.send_reminders": _("Send reminders and lost notifications"),
    # Not scheduled: queued by the doors; their runs are their failures (directory.jobs).
    "offboarding.send_notification": _("Send a notification"),
    "directory.invite_members": _("Send invitations (a chunk)"),
}

# What a job's counts count (directory.jobs.Run.count), by the key the job writes.
JOB_COUNT_LABELS = {
    "closed": _("exits closed"),
    "skipped": _("exits left for later"),
    "settled": _("handed-over customers settled"),
    "windows_closed": _("emergency windows closed"),
    "synced": _("terminations that became exits"),
    "failed": _("terminations that could not become exits"),
    "marked": _("departments marked pending dissolution"),
    "unmarked": _("departments active again"),
    "chunks_sent": _("chunks sent to workers"),
    "chunks_done": _("chunks of the night done"),
    "chunks_left": _("chunks of the night left to do"),
    "chunks": _("chunks done"),
    "purged": _("records purged"),
    "anonymized": _("records anonymized"),
    "chats_within_floor_touched": _("chats within the statutory floor touched"),
    "erasures_finished": _("erasure requests finished"),
    "chats_within_floor": _("chats kept by the statutory floor"),
    "grace_warnings": _("emergency windows about to close, warned"),
    "erasure_reminders": _("erasure requests due, reminded"),
    "queued_again": _("notifications queued again"),
}


def job_label(job: str) -> str:
    return str(JOB_LABELS.get(job, job))


def job_count_label(what: str) -> str:
    return str(JOB_COUNT_LABELS.get(what, what))
