"""The only place where the compliance app's categories, actions and states are spelled."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RecordCategory(models.TextChoices):
    """The five categories of work records (C-1)."""

    CHAT = "chat", _("Chat messages")
    FILE = "file", _("Files")
    APPROVAL = "approval", _("Approval records")
    ATTENDANCE = "attendance", _("Attendance")
    EXPENSE = "expense", _("Expenses")


class DocumentType(models.TextChoices):
    """What a file is, where the law keeps some files longer (Labor Contract Law Art. 50)."""

    LABOUR_CONTRACT = "labour_contract", _("Labour contract")
    WAGE_RECORD = "wage_record", _("Wage record")


class RetentionAction(models.TextChoices):
    """What happens to a record once it is older than its policy's minimum age (C-2)."""

    PURGE = "purge", _("Purge")
    ANONYMIZE = "anonymize", _("Anonymize")
    KEEP = "keep", _("Keep")


class ErasureState(models.TextChoices):
    RECEIVED = "received", _("Received")
    EVALUATED = "evaluated", _("Evaluated")
    ERASED = "erased", _("Erased")
    RESTRICTED = "restricted", _("Restricted (stored and protected only)")
    REFUSED = "refused", _("Refused")


class ErasureLevel(models.TextChoices):
    """Feishu's erasure levels (the enterprise's mode `levels`)."""

    ANONYMIZE = "anonymize", _("Anonymize")
    PSEUDONYMIZE = "pseudonymize", _("Pseudonymize")
    DELETE = "delete", _("Delete")


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON"
