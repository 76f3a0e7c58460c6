"""Staff roles as Django groups, and per-enterprise access grants.

A staff user works on an enterprise only if granted it (EnterpriseAccess); what they may do there
comes from their group: HR, IT or Compliance. Each app says which of its permissions each group gets
in its AppConfig's `group_permissions` ({"hr": ["view_member", ...]}); `sync_groups` (run after
every migrate) makes the groups match, so an app added later extends the groups without this module
knowing it.
"""

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

from .choices import StaffRole
from .models import EnterpriseAccess

GROUP_NAMES = {StaffRole.HR: "HR", StaffRole.IT: "IT", StaffRole.COMPLIANCE: "Compliance"}


def _codenames_by_role() -> dict[str, list[tuple[str, str]]]:
    wanted: dict[str, list[tuple[str, str]]] = {role: [] for role in GROUP_NAMES}
    for config in apps.get_app_configs():
        for role, codenames in getattr(config, "group_permissions", {}).items():
            wanted[role].extend((config.label, codename) for codename in codenames)
    return wanted


def sync_groups(**kwargs) -> None:
    """Create the staff groups and give each exactly the permissions the apps declare."""
    for role, pairs in _codenames_by_role().items():
        group, _ = Group.objects.get_or_create(name=GROUP_NAMES[role])
        if not pairs:
            group.permissions.clear()
            continue
        match = Q()
        for app_label, codename in pairs:
            match |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(match))


@transaction.atomic
def grant_access(*, user, enterprise, role: str) -> EnterpriseAccess:
    """Let a staff user work on `enterprise` as `role` (and put them in that role's group)."""
    access, _ = EnterpriseAccess.objects.get_or_create(user=user, enterprise=enterprise, role=role)
    group, _ = Group.objects.get_or_create(name=GROUP_NAMES[role])
    user.groups.add(group)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return access
