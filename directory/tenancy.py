"""The tenant wall (D-1, S-2): which enterprises a user may act on, and in which role.

This is the one place that answers it. The querysets (`visible_to`), the admin
(`EnterpriseScopedAdmin`), the object permissions registered with `rules` (directory/rules.py),
the workflow's predicates (offboarding/rules.py) and the pages all ask `grants_for(user)`.

A staff user works on an enterprise only if granted it (EnterpriseAccess) in a role — HR, IT or
compliance — and only while their login is active and staff. A superuser works on every
enterprise in every role. Anyone else (members, anonymous visitors) holds no grant.

The answer is read once per user object, with one query, and kept on it: within a request
`request.user` is one object, so the admin index and a changelist ask the database once however
many times they ask the question. `forget_grants` drops it when grants change.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

_CACHE_ATTRIBUTE = "_exitdesk_grants"


@dataclass(frozen=True)
class Grants:
    """The enterprises a user may act on, with the roles held in each."""

    is_superuser: bool = False
    roles_by_enterprise: dict[int, frozenset[str]] = field(default_factory=dict)
    time_zones: dict[int, str] = field(default_factory=dict)

    @property
    def all_enterprises(self) -> bool:
        return self.is_superuser

    def enterprise_ids(self, roles: Iterable[str] | None = None) -> list[int]:
        """Ids of the enterprises granted (in one of `roles`, if given); sorted, so that the
        same question gives the same SQL. Meaningless for a superuser: check `all_enterprises`."""
        if roles is None:
            return sorted(self.roles_by_enterprise)
        wanted = set(roles)
        return sorted(eid for eid, held in self.roles_by_enterprise.items() if held & wanted)

    def roles_in(self, enterprise_id) -> frozenset[str]:
        return self.roles_by_enterprise.get(enterprise_id, frozenset())

    def has_role(self, enterprise_id, roles: Iterable[str] | None = None) -> bool:
        """Whether the user works on `enterprise_id` (in one of `roles`, if given)."""
        if enterprise_id is None:
            return False
        if self.is_superuser:
            return True
        held = self.roles_in(enterprise_id)
        if roles is None:
            return bool(held)
        return bool(held & set(roles))

    def has_any(self, roles: Iterable[str] | None = None) -> bool:
        return self.is_superuser or bool(self.enterprise_ids(roles))

    def has_perm_in(self, enterprise_id, perm: str) -> bool:
        """Whether the user holds, in `enterprise_id`, a role that has `perm`."""
        return self.has_role(enterprise_id, roles_with_permission(perm))

    def single_time_zone(self) -> str | None:
        """The time zone shared by every granted enterprise, if they share one."""
        zones = set(self.time_zones.values())
        return zones.pop() if len(zones) == 1 else None


NO_GRANTS = Grants()
ALL_GRANTS = Grants(is_superuser=True)


def grants_for(user) -> Grants:
    """What `user` may act on (see the module docstring). One query per user object."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NO_GRANTS
    cached = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    if user.is_superuser:
        grants = ALL_GRANTS
    elif not user.is_staff:
        grants = NO_GRANTS
    else:
        roles: dict[int, set[str]] = {}
        zones: dict[int, str] = {}
        rows = user.enterprise_accesses.values_list(
            "enterprise_id", "role", "enterprise__time_zone"
        )
        for enterprise_id, role, time_zone in rows:
            roles.setdefault(enterprise_id, set()).add(role)
            zones[enterprise_id] = str(time_zone)
        grants = Grants(
            roles_by_enterprise={eid: frozenset(held) for eid, held in roles.items()},
            time_zones=zones,
        )
    setattr(user, _CACHE_ATTRIBUTE, grants)
    return grants


def scope(queryset, user, *, lookup: str, roles: Iterable[str] | None = None):
    """`queryset` cut to the enterprises `user` works on (in one of `roles`, if given); `lookup`
    is the path from its model to the enterprise's id. The ids are known before the query
    (`enterprise_id IN (1, 2)`), so the `(enterprise, …)` indexes serve it. A superuser's
    queryset is left whole."""
    grants = grants_for(user)
    if grants.all_enterprises:
        return queryset
    return queryset.filter(**{f"{lookup}__in": grants.enterprise_ids(roles)})


def forget_grants(user) -> None:
    """Drop what `grants_for` kept on `user` (after a grant is added or removed)."""
    if user is not None and hasattr(user, _CACHE_ATTRIBUTE):
        delattr(user, _CACHE_ATTRIBUTE)


@functools.cache
def declared_role_permissions() -> dict[str, frozenset[str]]:
    """Every staff role with the permissions ("app_label.codename") the apps give it.

    Each app declares them in its AppConfig's `group_permissions` ({"hr": ["view_member", ...]});
    the staff groups are synced from the same declaration (directory.permissions.sync_groups), so
    what a group may do anywhere and what a role may do in one enterprise never disagree.
    """
    from django.apps import apps

    declared: dict[str, set[str]] = {}
    for config in apps.get_app_configs():
        for role, codenames in getattr(config, "group_permissions", {}).items():
            declared.setdefault(role, set()).update(f"{config.label}.{c}" for c in codenames)
    return {role: frozenset(perms) for role, perms in declared.items()}


@functools.cache
def roles_with_permission(perm: str) -> frozenset[str]:
    """The staff roles whose holders have `perm` ("app_label.codename") in their enterprise."""
    return frozenset(role for role, perms in declared_role_permissions().items() if perm in perms)
