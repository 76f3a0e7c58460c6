"""Reusable filters. Admin, views, services and jobs all read through these."""

from django.db import models
from tree_queries.query import TreeQuerySet

from .choices import DepartmentStatus, MemberRole, MemberStatus
from .tenancy import roles_with_permission, scope


class ScopedQuerySetMixin:
    # The path from the model to its enterprise's id.
    enterprise_lookup = "enterprise_id"

    def visible_to(self, user, roles=None):
        """Rows of the enterprises `user` may work on (the tenant wall, directory/tenancy.py);
        with `roles`, only of those where they work in one of these roles."""
        return scope(self, user, lookup=self.enterprise_lookup, roles=roles)

    def where_user_has_perm(self, user, perm: str):
        """Rows of the enterprises where `user` holds a role that has `perm` ("app.codename")."""
        return self.visible_to(user, roles=roles_with_permission(perm))


class EnterpriseQuerySet(ScopedQuerySetMixin, models.QuerySet):
    enterprise_lookup = "pk"

    def with_backup_admin_flag(self):
        member_model = self.model.members.rel.related_model
        backup = member_model.objects.filter(
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

    def not_departed(self):
        """Everyone still employed, whatever their access: active members and frozen ones (a
        frozen account is a stolen login, not someone who left). The headcount of a department
        (部门人数归零, D-2) counts these."""
        return self.exclude(status=MemberStatus.DEPARTED)

    def super_admins(self):
        return self.filter(role=MemberRole.SUPER_ADMIN, status=MemberStatus.ACTIVE)


class OwnedResourceQuerySet(ScopedQuerySetMixin, models.QuerySet):
    pass
