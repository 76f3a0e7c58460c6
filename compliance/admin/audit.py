"""The tamper-evident audit trail in the admin (C-7): read-only, per member and per exit.

- Nobody adds, changes or deletes an event here, the superuser included: the trail is
  append-only (on PostgreSQL a trigger refuses UPDATE and DELETE as well).
- Who sees it: users holding `compliance.view_auditevent` (the Compliance role) see the events of
  the enterprises where they hold it — narrower than the tenant wall's "every enterprise granted",
  so that someone who is Compliance in one enterprise and HR in another sees only the first's.
- Per member and per exit: the filters `?member_id=…` and `?exit_id=…`, linked from the member's
  and the exit's admin pages (for users who may view the trail) and from every row.
- The change page shows the event's facts (`data`) and its personal data, decrypted with the
  member's key (`compliance.audit.personal_data`), or "erased" once the key was destroyed
  (crypto-shredding). Reading it is not itself audited: it is the trail's own content, not a
  sealed work record.
- Fast: no per-row queries (the enterprise is joined, a member who acted is named by a subquery of
  the same query), no unfiltered COUNT(*), filters that read
  no table but the grants. Whether a chain is whole is `manage.py verify_audit`'s job, not a page's.
"""

import json
import re

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import OuterRef, Q, Subquery
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.models import Member

from .. import audit, crypto
from ..models import AuditEvent
from .base import WithoutHistoryAdmin

# What each action means, for the filter and the list (an action not named here still shows, by
# its name). Spelled where it is written: offboarding/{workflow,services,inheritance,handover}.py
# compliance/{sealing,holds,retention,erasure,exports}.py and directory/{services,bootstrap}.py.
ACTIONS = {
    # The exit workflow and its sign-offs
    "exit_opened": gettext_lazy("Exit opened"),
    "exit_submitted": gettext_lazy("Exit submitted"),
    "approval_step_approved": gettext_lazy("Approval step approved"),
    "approval_step_rejected": gettext_lazy("Approval step rejected"),
    "approval_step_reassigned": gettext_lazy("Approval step reassigned by HR"),
    "approval_step_skipped": gettext_lazy("Approval step skipped by HR"),
    "exit_approved": gettext_lazy("Exit approved"),
    "exit_rejected": gettext_lazy("Exit rejected"),
    "exit_cancelled": gettext_lazy("Exit cancelled"),
    "member_removed": gettext_lazy("Member removed (passive exit)"),
    "exit_completed": gettext_lazy("Exit completed"),
    "exit_undone": gettext_lazy("Exit undone"),
    "exit_closed": gettext_lazy("Exit closed"),
    "checklist_item_signed_off": gettext_lazy("Checklist item signed off"),
    "exit_review_signed_off": gettext_lazy("Exit review signed off"),
    # Inheritance (离职继承, X-5)
    "resources_inherited": gettext_lazy("Resources handed over"),
    "inheritance_reassigned": gettext_lazy("External contacts reassigned"),
    "inheritance_item_refused": gettext_lazy("Customer declined the handover"),
    "inheritance_settled": gettext_lazy("Handover settled"),
    "inheritance_given_back": gettext_lazy("Handover given back"),
    # Super-admin handover and the emergency freeze (H-1 … H-3)
    "super_admin_handover_requested": gettext_lazy("Super admin handover requested"),
    "super_admin_handover_confirmed": gettext_lazy("Super admin handover confirmed"),
    "super_admin_handover_withdrawn": gettext_lazy("Super admin handover withdrawn"),
    "emergency_window_closed": gettext_lazy("Emergency window closed"),
    "account_reported_stolen": gettext_lazy("Account reported stolen"),
    "account_frozen": gettext_lazy("Account frozen"),
    "account_unfrozen": gettext_lazy("Account unfrozen"),
    # Compliance (C-2 … C-6)
    "records_sealed": gettext_lazy("Records sealed"),
    "sealed_record_read": gettext_lazy("Sealed record read"),
    "records_exported": gettext_lazy("Records exported"),
    "hold_placed": gettext_lazy("Legal hold placed"),
    "hold_released": gettext_lazy("Legal hold released"),
    "retention_policy_saved": gettext_lazy("Retention policy saved"),
    "retention_policy_deleted": gettext_lazy("Retention policy deleted"),
    "retention_enforced": gettext_lazy("Retention enforced"),
    "erasure_received": gettext_lazy("Erasure request received"),
    "erasure_evaluated": gettext_lazy("Erasure request evaluated"),
    "erasure_erased": gettext_lazy("Personal data erased"),
    "erasure_restricted": gettext_lazy("Erasure restricted"),
    "erasure_still_restricted": gettext_lazy("Erasure still restricted"),
    "erasure_refused": gettext_lazy("Erasure refused"),
    "master_key_rotated": gettext_lazy("Master key rotated"),
    # The first run (directory/bootstrap.py)
    "enterprise_bootstrapped": gettext_lazy("Enterprise set up (first run)"),
    # Settings that can weaken a guarantee (directory/services.py)
    "enterprise_settings_changed": gettext_lazy("Enterprise settings changed"),
    "member_data_region_changed": gettext_lazy("Member's data region changed"),
    # Logins (directory/invitations.py)
    "member_invited": gettext_lazy("Member invited"),
    "member_reset_link_sent": gettext_lazy("Password reset link sent to member"),
    # Sign-in through a provider (directory/social.py)
    "social_login_linked": gettext_lazy("Sign-in through a provider linked to member"),
    # HR sync (J-5)
    "hr_termination_received": gettext_lazy("HR termination received"),
    "hr_termination_synced": gettext_lazy("HR termination synced"),
    "hr_termination_failed": gettext_lazy("HR termination failed"),
    "hr_sync_token_created": gettext_lazy("HR sync token issued"),
    "hr_sync_token_revoked": gettext_lazy("HR sync token revoked"),
    # Notifications (offboarding/notifications.py)
    "group_robot_saved": gettext_lazy("Group robot saved"),
    "notifications_retried": gettext_lazy("Notifications retried"),
}

_ID = re.compile(r"[0-9]{1,18}")  # an id the database takes (bigint)


def action_label(action: str) -> str:
    return str(ACTIONS.get(action, action))


class ActionFilter(admin.SimpleListFilter):
    """By action: the known ones, named, without reading the table for them."""

    title = gettext_lazy("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        choices = [(action, label) for action, label in ACTIONS.items()]
        if self.value() and self.value() not in ACTIONS:  # an action this list does not know
            choices.append((self.value(), self.value()))
        return choices

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


class IdFilter(admin.SimpleListFilter):
    """By a member's or an exit's id (`?member_id=12`): the trail of one of them. It is set by
    the links of the member's and the exit's pages, and shows only once set."""

    def lookups(self, request, model_admin):
        value = self.value()
        if not value:
            return []
        return [(value, f"#{value}")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not _ID.fullmatch(value):
            raise IncorrectLookupParameters(value)
        return queryset.filter(**{self.parameter_name: int(value)})


class MemberFilter(IdFilter):
    title = gettext_lazy("member id")
    parameter_name = "member_id"


class ExitFilter(IdFilter):
    title = gettext_lazy("exit id")
    parameter_name = "exit_id"


class EnterpriseFilter(admin.SimpleListFilter):
    """By enterprise, for users who read more than one enterprise's trail: the choices are their
    grants (one small query), not the events."""

    title = gettext_lazy("enterprise")
    parameter_name = "enterprise"

    def lookups(self, request, model_admin):
        enterprises = model_admin.enterprises_where(request, "view").order_by("name")
        choices = [(str(pk), name) for pk, name in enterprises.values_list("pk", "name")]
        return choices if len(choices) > 1 or self.value() else []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not _ID.fullmatch(value):
            raise IncorrectLookupParameters(value)
        return queryset.filter(enterprise_id=int(value))


@admin.register(AuditEvent)
class AuditEventAdmin(WithoutHistoryAdmin):
    list_display = (
        "seq",
        "created_at",
        "action_shown",
        "object_shown",
        "member_link",
        "exit_link",
        "actor_shown",
        "enterprise",
    )
    list_display_links = ("seq",)
    list_select_related = ("enterprise",)
    list_filter = (ActionFilter, MemberFilter, ExitFilter, EnterpriseFilter, "created_at")
    search_fields = ("action", "object_type")
    search_help_text = gettext_lazy(
        "An action or object type (words), or a number: a member's, an exit's or an object's id."
    )
    show_full_result_count = False  # no COUNT(*) of the whole trail on every page
    list_per_page = 50
    actions = None
    fields = (
        "enterprise",
        "seq",
        "created_at",
        "actor_shown",
        "action_shown",
        "object_shown",
        "member_link",
        "exit_link",
        "data_shown",
        "personal_shown",
        "prev_hash",
        "hash",
        "key_id",
    )
    readonly_fields = fields

    # The trail is append-only: nobody adds, changes or deletes an event, the superuser included.

    def get_queryset(self, request):
        # Only the enterprises where the user may read the trail (their role there has the
        # permission), not every enterprise granted to them.
        # A member who acted is named as they are now (the chain keeps only their id: their name
        # is theirs to have erased); one correlated look-up per row shown.
        return self.scope(request, super().get_queryset(request), "view").annotate(
            actor_member_name=Subquery(
                Member.objects.filter(user_id=OuterRef("actor_id")).values("name")[:1]
            )
        )

    def get_search_results(self, request, queryset, search_term):
        """Words search the action and object type; a number is a member's, an exit's or an
        object's id (or a sequence number) — no text search over ids."""
        term = search_term.strip()
        if _ID.fullmatch(term):
            number = int(term)
            found = queryset.filter(
                Q(member_id=number) | Q(exit_id=number) | Q(object_id=term) | Q(seq=number)
            )
            return found, False
        return super().get_search_results(request, queryset, search_term)

    # Columns and fields

    @admin.display(description=gettext_lazy("action"), ordering="action")
    def action_shown(self, event):
        return action_label(event.action)

    @admin.display(description=gettext_lazy("object"))
    def object_shown(self, event):
        return f"{event.object_type} #{event.object_id}" if event.object_id else event.object_type

    @admin.display(description=gettext_lazy("actor"))
    def actor_shown(self, event):
        if event.actor_id is None:
            return _("the system")
        return (
            event.actor_name or getattr(event, "actor_member_name", None) or f"#{event.actor_id}"
        )

    @admin.display(description=gettext_lazy("member"), ordering="member_id")
    def member_link(self, event):
        if event.member_id is None:
            return "—"
        return format_html(
            '<a href="{}?member_id={}" title="{}">#{}</a>',
            self._changelist_url(),
            event.member_id,
            _("This member's audit trail"),
            event.member_id,
        )

    @admin.display(description=gettext_lazy("exit"), ordering="exit_id")
    def exit_link(self, event):
        if event.exit_id is None:
            return "—"
        return format_html(
            '<a href="{}?exit_id={}" title="{}">#{}</a>',
            self._changelist_url(),
            event.exit_id,
            _("This exit's audit trail"),
            event.exit_id,
        )

    @admin.display(description=gettext_lazy("data"))
    def data_shown(self, event):
        return _pretty(event.data)

    @admin.display(description=gettext_lazy("personal data"))
    def personal_shown(self, event):
        if event.sealed_data is None:
            return "—"
        try:
            personal = audit.personal_data(event)
        except crypto.SealBroken:
            return _("Does not decrypt: the sealed personal data was altered.")
        if personal is None:
            return _("Erased: the member's key was destroyed (crypto-shredding).")
        return _pretty(personal)

    def _changelist_url(self) -> str:
        return reverse("admin:compliance_auditevent_changelist")


def _pretty(value) -> str:
    return format_html(
        '<pre class="audit-json">{}</pre>',
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False),
    )
