"""Staff roles as Django groups, and per-enterprise access grants.

A staff user works on an enterprise only if granted it (EnterpriseAccess); what they may do there
comes from their role: HR, IT or Compliance. Each app says which of its permissions each role gets
in its AppConfig's `group_permissions` ({"hr": ["view_member", ...]}). Two things are built from
that one declaration: the Django groups (`sync_groups`, run after every migrate), which answer
"may this user do X anywhere?" (the admin's menus and buttons), and the object permissions
registered with `rules` (directory/rules.py), which answer "may this user do X to this row?" from
the role they hold in the row's own enterprise (directory/tenancy.py).
"""

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

from .choices import StaffRole
from .models import EnterpriseAccess
from .tenancy import declared_role_permissions, forget_grants

GROUP_NAMES = {StaffRole.HR: "HR", StaffRole.IT: "IT", StaffRole.COMPLIANCE: "Compliance"}


def sync_groups(**kwargs) -> None:
    """Create the staff groups and give each exactly the permissions the apps declare."""
    declared = declared_role_permissions()
    for role in GROUP_NAMES:
        group, _ = Group.objects.get_or_create(name=GROUP_NAMES[role])
        perms = declared.get(role, ())
        if not perms:
            group.permissions.clear()
            continue
        match = Q()
        for perm in sorted(perms):
            app_label, codename = perm.split(".", 1)
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
    forget_grants(user)
    return access
