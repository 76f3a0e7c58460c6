"""Reusable filters. Admin, views, services and jobs all read through these."""

from django.db import models
from tree_queries.query import TreeQuerySet

from .choices import DepartmentStatus, MemberRole, MemberStatus


def granted_enterprise_ids(user, roles=None):
    """Ids of the enterprises granted to `user` (as one of `roles`, if given), as a subquery (no
    joins, no duplicates)."""
    from .models import EnterpriseAccess

    grants = EnterpriseAccess.objects.filter(user=user)
    if roles is not None:
        grants = grants.filter(role__in=roles)
    return grants.values("enterprise_id")


class ScopedQuerySetMixin:
    enterprise_lookup = "enterprise"

    def for_enterprise(self, enterprise):
        return self.filter(**{self.enterprise_lookup: enterprise})

    def visible_to(self, user, roles=None):
        """Rows of the enterprises `user` may work on (tenant separation, D-1); with `roles`, only
        of those where they work in one of these roles (HR, IT, compliance)."""
        if user.is_superuser:
            return self
        if not user.is_authenticated or not user.is_staff:
            return self.none()
        granted = granted_enterprise_ids(user, roles)
        return self.filter(**{f"{self.enterprise_lookup}__in": granted})


class EnterpriseQuerySet(ScopedQuerySetMixin, models.QuerySet):
    enterprise_lookup = "pk"

    def with_backup_admin_flag(self):
        from .models import Member

        backup = Member.objects.filter(
            enterprise=models.OuterRef("pk"), is_backup_admin=True, status=MemberStatus.ACTIVE
        )
        return self.annotate(has_backup_admin=models.Exists(backup))

    def without_backup_admin(self):
        return self.with_backup_admin_flag().filter(has_backup_admin=False)


class DepartmentQuerySet(ScopedQuerySetMixin, TreeQuerySet):
    def active(self):
        return self.filter(status=DepartmentStatus.ACTIVE)


class MemberQuerySet(ScopedQuerySetMixin, models.QuerySet):
    def active(self):
        return self.filter(status=MemberStatus.ACTIVE)

    def super_admins(self):
        return self.filter(role=MemberRole.SUPER_ADMIN, status=MemberStatus.ACTIVE)

    def admins(self):
        return self.filter(role__in=[MemberRole.ADMIN, MemberRole.SUPER_ADMIN])


class OwnedResourceQuerySet(ScopedQuerySetMixin, models.QuerySet):
    def owned_by(self, member):
        return self.filter(owner=member)
