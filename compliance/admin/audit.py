"""The tamper-evident audit trail in the admin (C-7): read-only, per member and per exit.

- Nobody adds, changes or deletes an event here, the superuser included: the trail is
  append-only (on PostgreSQL a trigger refuses UPDATE and DELETE as well).
- Who sees it: users holding `compliance.view_auditevent` (the Compliance role) see the events of
  the enterprises where they hold it — narrower than the tenant wall's "every enterprise granted",
  so that someone who is Compliance in one enterprise and HR in another sees only the first's.
- Per member and per exit: the filters `?member_id=…` and `?exit_id=…`, linked from the member's
  and the exit's admin pages (for users who may view the trail) and from every row.
- It reads: people by name and employee number (members as they are named now: the chain keeps
  only ids), actions and object types in words (`ACTIONS`, `OBJECT_MODELS`), the object linked to
  its own admin page when the reader may see it, the facts as labelled fields (`DATA_LABELS`; a
  code such as a state by its label).
- The change page shows the event's facts (`data`) and its personal data, decrypted with the
  member's key (`compliance.audit.personal_data`), "erased" once the key was destroyed
  (crypto-shredding), or "restricted" once the member's account was erased while the law keeps
  some of their records. Reading it is not itself audited: it is the trail's own content, not a
  sealed work record.
- Fast: no per-row queries (the enterprise is joined, the actor and the member are named by
  subqueries of the same query), no unfiltered COUNT(*), filters that read
  no table but the grants. Whether a chain is whole is `manage.py verify_audit`'s job, not a page's.
"""

import functools
import re

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

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
    "member_invitations_queued": gettext_lazy("Invitations queued for members"),
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
    # Backup admins (AB) and the directory's own changes
    "backup_admin_designated": gettext_lazy("Backup admin designated"),
    "backup_admin_designation_accepted": gettext_lazy("Backup admin designation accepted"),
    "backup_admin_designation_withdrawn": gettext_lazy("Backup admin designation withdrawn"),
    "backup_admin_withdrawn": gettext_lazy("Backup admin withdrawn"),
    "directory_imported": gettext_lazy("Directory imported"),
    "member_email_changed": gettext_lazy("Member's e-mail address changed (directory import)"),
    "member_joined": gettext_lazy("Member joined (HR system)"),
    "member_moved": gettext_lazy("Member moved (HR system)"),
}

# What each object type is, by the model it names (its admin page is linked when the reader may
# see it); a type without a model of its own by a label.
OBJECT_MODELS = {
    "member": "directory.member",
    "enterprise": "directory.enterprise",
    "exit": "offboarding.exit",
    "checklist_item": "offboarding.checklistitem",
    "inheritance_batch": "offboarding.inheritancebatch",
    "inheritance_item": "offboarding.inheritanceitem",
    "super_admin_handover": "offboarding.superadminhandover",
    "account_freeze": "offboarding.accountfreeze",
    "backup_admin_designation": "offboarding.backupadmindesignation",
    "hr_termination": "offboarding.hrtermination",
    "hr_sync_token": "offboarding.hrsynctoken",
    "work_record": "compliance.workrecord",
    "record_export": "compliance.recordexport",
    "legal_hold": "compliance.legalhold",
    "retention_policy": "compliance.retentionpolicy",
    "erasure_request": "compliance.erasurerequest",
}
OBJECT_LABELS = {
    "exit_approval": gettext_lazy("Approval step"),
}

# The facts of an event (`data`), labelled; a key not named here shows in words of its own.
DATA_LABELS = {
    "state": gettext_lazy("State"),
    "state_before": gettext_lazy("State before"),
    "from": gettext_lazy("From"),
    "to": gettext_lazy("To"),
    "before": gettext_lazy("Before"),
    "after": gettext_lazy("After"),
    "kind": gettext_lazy("Kind"),
    "reason": gettext_lazy("Reason"),
    "last_working_day": gettext_lazy("Last working day"),
    "successor_id": gettext_lazy("Successor"),
    "checklist_items": gettext_lazy("Checklist items"),
    "team": gettext_lazy("Team"),
    "position": gettext_lazy("Position"),
    "comment": gettext_lazy("Comment"),
    "note": gettext_lazy("Note"),
    "title": gettext_lazy("Title"),
    "name": gettext_lazy("Name"),
    "code": gettext_lazy("Code"),
    "count": gettext_lazy("Count"),
    "counts": gettext_lazy("Counts"),
    "category": gettext_lazy("Category"),
    "categories": gettext_lazy("Categories"),
    "keep_days": gettext_lazy("Kept for (days)"),
    "days": gettext_lazy("Days"),
    "action": gettext_lazy("Action"),
    "policy": gettext_lazy("Policy"),
    "mode": gettext_lazy("Mode"),
    "level": gettext_lazy("Level"),
    "role": gettext_lazy("Role"),
    "status": gettext_lazy("Status"),
    "login_active": gettext_lazy("Can log in"),
    "is_backup_admin": gettext_lazy("Backup admin"),
    "is_active": gettext_lazy("Active"),
    "employee_number": gettext_lazy("Employee number"),
    "external_id": gettext_lazy("External id"),
    "source": gettext_lazy("Source"),
    "format": gettext_lazy("Format"),
    "records": gettext_lazy("Records"),
    "sealed": gettext_lazy("Sealed"),
    "deadline": gettext_lazy("Deadline"),
    "grace_until": gettext_lazy("Emergency window until"),
    "due_on": gettext_lazy("Due on"),
    "until": gettext_lazy("Until"),
    "since": gettext_lazy("Since"),
    "cause": gettext_lazy("Cause"),
    "data_region": gettext_lazy("Data region"),
    "home_region": gettext_lazy("Home region"),
    "member_region": gettext_lazy("Member's region"),
    "cross_border": gettext_lazy("Across borders"),
    "law": gettext_lazy("Legal basis"),
    "whole_enterprise": gettext_lazy("Whole enterprise"),
    "token_id": gettext_lazy("Token"),
    "hold_id": gettext_lazy("Legal hold"),
    "freeze_id": gettext_lazy("Freeze"),
    "batch_id": gettext_lazy("Handover batch"),
    "batch_ids": gettext_lazy("Handover batches"),
    "member_id": gettext_lazy("Member"),
    "exit_id": gettext_lazy("Exit"),
    "promoted_id": gettext_lazy("Promoted"),
    "custodian_id": gettext_lazy("Custodian"),
    "designated_id": gettext_lazy("Designated"),
    "super_admin_id": gettext_lazy("Super admin"),
    "old_backup_ids": gettext_lazy("Backup admins before"),
    "new_backup_ids": gettext_lazy("Backup admins after"),
    "from_member_id": gettext_lazy("From member"),
    "to_member_id": gettext_lazy("To member"),
    "sessions_ended": gettext_lazy("Sessions ended"),
    "moved": gettext_lazy("Moved"),
    "moved_back": gettext_lazy("Moved back"),
    "purged": gettext_lazy("Purged"),
    "anonymized": gettext_lazy("Anonymized"),
    "error": gettext_lazy("Error"),
    "username": gettext_lazy("Username"),
    "email": gettext_lazy("E-mail"),
    "provider": gettext_lazy("Provider"),
    "department": gettext_lazy("Department"),
    "manager": gettext_lazy("Manager"),
    "job_title": gettext_lazy("Title"),
    "content": gettext_lazy("Content"),
    "factors": gettext_lazy("Factors"),
    "audit_key": gettext_lazy("Audit key"),
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

    class Media:
        css = {"all": ("compliance/admin.css",)}

    list_per_page = 50
    # Grouped per enterprise, newest first, read from the (enterprise_id, -seq) index: by the
    # enterprise's id, not its name (ordering by name sorts every event of the trail).
    ordering = ("enterprise_id", "-seq")
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
        actor = Member.objects.filter(user_id=OuterRef("actor_id"))
        member = Member.objects.filter(pk=OuterRef("member_id"))
        return self.scope(request, super().get_queryset(request), "view").annotate(
            actor_member_name=Subquery(actor.values("name")[:1]),
            actor_member_number=Subquery(actor.values("employee_number")[:1]),
            member_name=Subquery(member.values("name")[:1]),
            member_number=Subquery(member.values("employee_number")[:1]),
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

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        # One enterprise read: its name on every row says nothing, and the table fits 1366 px.
        if len(self.enterprises_where(request, "view")[:2]) < 2:
            shown = tuple(column for column in shown if column != "enterprise")
        return shown

    def changelist_view(self, request, extra_context=None):
        self._request = request
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._request = request
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=gettext_lazy("action"), ordering="action")
    def action_shown(self, event):
        return action_label(event.action)

    @admin.display(description=gettext_lazy("object"))
    def object_shown(self, event):
        label = object_type_label(event.object_type)
        if not event.object_id:
            return label
        text = f"{label} #{event.object_id}"
        url = self._object_url(event.object_type, event.object_id)
        return format_html('<a href="{}">{}</a>', url, text) if url else text

    @admin.display(description=gettext_lazy("actor"))
    def actor_shown(self, event):
        if event.actor_id is None:
            return _("the system")
        name = getattr(event, "actor_member_name", None)
        if name:
            return _person(name, getattr(event, "actor_member_number", None))
        return event.actor_name or f"#{event.actor_id}"

    @admin.display(description=gettext_lazy("member"), ordering="member_id")
    def member_link(self, event):
        if event.member_id is None:
            return "—"
        name = getattr(event, "member_name", None)
        return format_html(
            '<a href="{}?member_id={}" title="{}">{}</a>',
            self._changelist_url(),
            event.member_id,
            _("This member's audit trail"),
            _person(name, getattr(event, "member_number", None)) if name else f"#{event.member_id}",
        )

    @admin.display(description=gettext_lazy("exit"), ordering="exit_id")
    def exit_link(self, event):
        if event.exit_id is None:
            return "—"
        return format_html(
            '<a href="{}?exit_id={}" title="{}">{}</a>',
            self._changelist_url(),
            event.exit_id,
            _("This exit's audit trail"),
            _("Exit #%(id)s") % {"id": event.exit_id},
        )

    @admin.display(description=gettext_lazy("data"))
    def data_shown(self, event):
        return _pretty(event.data)

    def _object_url(self, object_type: str, object_id: str) -> str | None:
        """The admin page of the event's object, if it has one the reader may see."""
        label = OBJECT_MODELS.get(object_type)
        if label is None or not _ID.fullmatch(object_id):
            return None
        model = apps.get_model(label)
        model_admin = self.admin_site._registry.get(model)
        request = getattr(self, "_request", None)
        if model_admin is None or request is None:
            return None
        viewable = request.__dict__.setdefault("_audit_viewable_models", {})
        if label not in viewable:
            viewable[label] = model_admin.has_view_permission(request)
        if not viewable[label]:
            return None
        opts = model._meta
        try:
            return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
        except NoReverseMatch:
            return None

    @admin.display(description=gettext_lazy("personal data"))
    def personal_shown(self, event):
        if event.sealed_data is None:
            return "—"
        try:
            personal = audit.personal_data(event)
        except crypto.SealBroken:
            return _("Does not decrypt: the sealed personal data was altered.")
        except audit.PersonalDataRestricted:
            return _(
                "Restricted: the member's account was erased, and their key is kept only for "
                "the records the law still keeps. This is never shown, and goes with the key."
            )
        if personal is None:
            return _("Erased: the member's key was destroyed (crypto-shredding).")
        return _pretty(personal)

    def _changelist_url(self) -> str:
        return reverse("admin:compliance_auditevent_changelist")


def object_type_label(object_type: str) -> str:
    """An object type in words: its model's name, or its own label."""
    if object_type in OBJECT_LABELS:
        return str(OBJECT_LABELS[object_type])
    label = OBJECT_MODELS.get(object_type)
    if label is None:
        return object_type
    return capfirst(apps.get_model(label)._meta.verbose_name)


def data_label(key: str) -> str:
    if key in DATA_LABELS:
        return str(DATA_LABELS[key])
    return capfirst(key.replace("_", " "))


def _person(name: str, number: str | None) -> str:
    return f"{name} ({number})" if number else name


def _value_shown(key: str, value):
    """One value of an event's facts, in words: a code by its label, yes or no, a list joined."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dict):
        return _pretty(value)
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return ", ".join(str(_value_shown(key, item)) for item in value) or "—"
        return format_html_join(mark_safe(""), "{}", ((_pretty(item),) for item in value))
    if isinstance(value, str):
        return code_labels().get(value, value)
    return str(value)


@functools.cache
def _code_labels_by_language(language: str) -> dict[str, str]:
    from directory import choices as directory_choices
    from offboarding import choices as offboarding_choices

    from .. import choices as compliance_choices

    labels = {}
    for module in (directory_choices, offboarding_choices, compliance_choices):
        for item in vars(module).values():
            if isinstance(item, type) and issubclass(item, models.Choices):
                for value, label in item.choices:
                    if isinstance(value, str):
                        labels.setdefault(value, str(label))
    return labels


def code_labels() -> dict[str, str]:
    """Every choice of the three apps (states, kinds, roles, categories…), value → label, in the
    active language."""
    return _code_labels_by_language(get_language() or "")


def _pretty(value) -> str:
    """An event's facts as labelled fields."""
    if not isinstance(value, dict):
        return format_html('<span class="audit-value">{}</span>', _value_shown("", value))
    if not value:
        return "—"
    return format_html(
        '<dl class="audit-data">{}</dl>',
        format_html_join(
            mark_safe(""),
            "<dt>{}</dt><dd>{}</dd>",
            ((data_label(key), _value_shown(key, item)) for key, item in sorted(value.items())),
        ),
    )
