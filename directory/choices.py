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
