"""Reusable filters. Admin, views, services and jobs all read through these."""

from django.db import models
from tree_queries.query import TreeQuerySet

from .choices import DepartmentStatus, MemberRole, MemberStatus
from .tenancy import grants_for


class ScopedQuerySetMixin:
    # The path from the model to its enterprise's id.
    enterprise_lookup = "enterprise_id"

    def visible_to(self, user, roles=None):
        """Rows of the enterprises `user` may work on (the tenant wall, directory/tenancy.py);
        with `roles`, only of those where they work in one of these roles.

        The enterprise ids are known before the query (`enterprise_id IN (1, 2)`), so the
        `(enterprise, …)` indexes serve it."""
        grants = grants_for(user)
        if grants.all_enterprises:
            return self
        return self.filter(**{f"{self.enterprise_lookup}__in": grants.enterprise_ids(roles)})

    def where_user_has_perm(self, user, perm: str):
        """Rows of the enterprises where `user` holds a role that has `perm` ("app.codename")."""
        grants = grants_for(user)
        if grants.all_enterprises:
            return self
        return self.filter(
            **{f"{self.enterprise_lookup}__in": grants.enterprise_ids_with_perm(perm)}
        )


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

    def super_admins(self):
        return self.filter(role=MemberRole.SUPER_ADMIN, status=MemberStatus.ACTIVE)


class OwnedResourceQuerySet(ScopedQuerySetMixin, models.QuerySet):
    pass
