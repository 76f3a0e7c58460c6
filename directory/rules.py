"""Object permissions (S-1): `user.has_perm("directory.change_member", member)`.

Every permission an app gives a staff role (AppConfig.group_permissions) is registered here as an
object permission: a user has it on a row when they hold, in the row's own enterprise, a role that
has it. Django's ModelBackend answers the same permission without a row (from the groups); these
rules answer it for a row, so someone who is HR in one enterprise and IT in another edits members
only in the first. A superuser has every permission (Django answers that before any backend).

Registered by DirectoryConfig.ready(), once every app is loaded.
"""

import rules

from .tenancy import declared_role_permissions, grants_for


def enterprise_id_of(obj):
    """The id of the enterprise `obj` belongs to: an enterprise's own id, else its
    `enterprise_id` (a field, or a property on rows that reach it through a parent)."""
    from .models import Enterprise

    if isinstance(obj, Enterprise):
        return obj.pk
    return getattr(obj, "enterprise_id", None)


def holds_in_enterprise_of(perm: str):
    """A predicate: the user holds, in the enterprise of the row, a role that has `perm`.
    Without a row it is False, and the groups (ModelBackend) answer."""

    @rules.predicate(name=f"holds {perm} in the row's enterprise")
    def predicate(user, obj):
        if obj is None:
            return False
        return grants_for(user).has_perm_in(enterprise_id_of(obj), perm)

    return predicate


def register_object_permissions() -> None:
    perms = set().union(*declared_role_permissions().values())
    for perm in sorted(perms):
        rules.set_perm(perm, holds_in_enterprise_of(perm))
