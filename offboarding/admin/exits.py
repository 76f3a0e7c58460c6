"""Exits in the admin (U-2): HR's and IT's desk. Interface only: every change is a call to one
door of offboarding/workflow.py or to offboarding/services.py, which lock, check and record.

- `ExitAdmin`: the changelist; the add page opens an exit through `services.open_exit`; the change
  page is read-only (the state is protected) and shows the transition buttons the user may press
  now, the pre-review's blockers (X-6), the joint HR/IT review, the approval steps, the checklist,
  the handover of the member's resources (离职继承: each batch, with counts by resource type and
  status) and a timeline of the exit's history. Buttons go to admin URLs of their own
  (`get_urls()`): a GET shows a confirmation page and changes nothing; a POST runs the door and
  comes back with its message. HR hands resources over (`inheritance.inherit`) and reassigns
  contacts a full successor could not take (`inheritance.reassign_full_items`) the same way.
- `ApprovalChainStepAdmin`, `ChecklistTemplateItemAdmin`: each enterprise's approval chain and
  checklist template, with what an enterprise without its own uses (the defaults).

All of them stand behind `EnterpriseScopedAdmin`, the tenant wall: another enterprise's exit is
answered as if it did not exist, on every page and every URL of this module.
"""

from collections import defaultdict

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import BooleanField, Case, Count, Exists, Max, OuterRef, Value, When
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import formats, timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET

from directory.admin import EnterpriseScopedAdmin
from directory.models import CustomerGroup, ExternalContact, Member
from directory.services import DirectoryError

from .. import diagram, inheritance, org_tree, prereview, rules, services, todo, workflow
from ..choices import ExitState, InheritanceStatus, ResourceType, Team, Transition, WaitingStep
from ..exceptions import ExitRefused
from ..models import ChecklistItem, Exit, ExitApproval, InheritanceItem
from ..selectors import exit_timeline, person_name
from .forms import (
    TRANSITION_FORMS,
    ConfirmTransitionForm,
    ExitAddForm,
    InheritanceForm,
    ReassignForm,
    ReassignStepForm,
    SignOffForm,
    StepReasonForm,
)
from .pickers import successor_label

TEMPLATES = "admin/offboarding/exit"


def _audit_trail_url(request, exit_case) -> str | None:
    """The exit's audit trail (compliance), for users who may read it in the exit's enterprise.
    Linked by URL name only: the compliance app builds on this one."""
    if not request.user.has_perm("compliance.view_auditevent", exit_case):
        return None
    try:
        return reverse("admin:compliance_auditevent_changelist") + f"?exit_id={exit_case.pk}"
    except NoReverseMatch:
        return None


def _in_time_zone(moment, enterprise):
    """`moment` in the enterprise's time zone (times are stored in UTC, shown where it works)."""
    if moment is None:
        return None
    return formats.localize(timezone.localtime(moment, enterprise.time_zone))


def _refusal(error) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


# Refusals the doors may raise. DirectoryError: complete and undo write the member through
# directory.services, whose refusals are not ExitRefused; a message, not a 500, either way.
REFUSALS = (ExitRefused, DirectoryError)


# What each button does, in words, on its confirmation page.
TRANSITION_QUESTIONS = {
    Transition.SUBMIT: gettext_lazy(
        "Submit the exit of %(member)s for approval? The enterprise's approval chain starts."
    ),
    Transition.APPROVE: gettext_lazy("Approve your step of the exit of %(member)s?"),
    Transition.REJECT: gettext_lazy("Reject the exit of %(member)s? Say why."),
    Transition.CANCEL: gettext_lazy(
        "Cancel the exit of %(member)s? The member stays in the enterprise as they are."
    ),
    Transition.REMOVE: gettext_lazy(
        "Remove %(member)s from the enterprise (passive exit)? Their login is deactivated and "
        "all their sessions end at once; the exit goes straight to handover, without the "
        "approval chain. Cancelling the exit gives the login back."
    ),
    Transition.COMPLETE: gettext_lazy(
        "Complete the exit of %(member)s? They become departed, their login is deactivated and "
        "all their sessions end; the enterprise's data stays. The exit can be undone within "
        "the undo window."
    ),
    Transition.UNDO: gettext_lazy(
        "Undo the exit of %(member)s? The member, their role and their login come back as they "
        "were before completion."
    ),
    Transition.CLOSE: gettext_lazy(
        "Close the exit of %(member)s for good? After this it can no longer be undone."
    ),
}

# The order of the buttons: the way forward first, the ways out last.
BUTTON_ORDER = (
    Transition.SUBMIT,
    Transition.APPROVE,
    Transition.REMOVE,
    Transition.COMPLETE,
    Transition.CLOSE,
    Transition.REJECT,
    Transition.UNDO,
    Transition.CANCEL,
)
assert set(BUTTON_ORDER) == set(Transition)

# The pre-review step whose blockers the confirmation page lists.
TRANSITION_PREREVIEW = {
    Transition.SUBMIT: prereview.SUBMIT,
    Transition.REMOVE: prereview.REMOVE,
    Transition.COMPLETE: prereview.COMPLETE,
}

# How many lost customers (refused items) the exit page names; the rest are counted.
REFUSED_SHOWN = 50


# ---------------------------------------------------------------------------------------------
# The Exit page


class ReadOnlyExitInline(admin.TabularInline):
    """A part of the exit shown on its page; it changes only through the workflow and services.

    Seeing it goes with seeing the exit (the staff groups hold no permission on the part's model).
    """

    extra = 0
    can_delete = False
    show_change_link = False
    related_select = ()
    template = "admin/offboarding/exit/readonly_tabular.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.related_select)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("offboarding.view_exit")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ApprovalInline(ReadOnlyExitInline):
    model = ExitApproval
    fields = (
        "position",
        "approver",
        "decider",
        "decision",
        "decided_by_name",
        "decided_at",
        "comment",
        "reassign_reason",
    )
    readonly_fields = fields
    related_select = ("assignee", "decided_by")

    @admin.display(description=gettext_lazy("assigned to"))
    def decider(self, approval):
        # Nobody assigned (no manager, no department head found at submit): HR decides the step.
        return str(approval.assignee) if approval.assignee else _("HR")

    @admin.display(description=gettext_lazy("decided by"))
    def decided_by_name(self, approval):
        return person_name(approval.decided_by)


class ChecklistInline(ReadOnlyExitInline):
    model = ChecklistItem
    fields = (
        "position",
        "title_shown",
        "team",
        "checked_how",
        "done",
        "signed_off",
        "note",
        "sign_off",
    )
    readonly_fields = fields
    related_select = ("signed_off_by",)

    @admin.display(description=gettext_lazy("title"))
    def title_shown(self, item):
        return item.title_shown

    def get_formset(self, request, obj=None, **kwargs):
        # Evaluated once per page, not once per item: the automatic checks (a few counts) and
        # which teams' items this user may sign off.
        if obj is None:
            self.auto_results = {}
        elif obj.checks_at_end is not None:
            # Completed (closed, reverted): the checks as they were then, not today's data.
            self.auto_results = defaultdict(bool, obj.checks_at_end)
        else:
            self.auto_results = prereview.auto_check_results(obj.member)
        self.signing_teams = _signing_teams(request, obj) if obj else set()
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description=gettext_lazy("checked"))
    def checked_how(self, item):
        if item.auto_check:
            return _("Automatically: %(check)s") % {"check": item.get_auto_check_display()}
        return _("Signed off by %(team)s") % {"team": item.get_team_display()}

    @admin.display(description=gettext_lazy("done"), boolean=True)
    def done(self, item):
        return prereview.item_is_done(item, self.auto_results)

    @admin.display(description=gettext_lazy("signed off"))
    def signed_off(self, item):
        if not item.is_signed_off:
            return ""
        return _("%(user)s, %(when)s") % {
            "user": person_name(item.signed_off_by),
            "when": formats.localize(timezone.template_localtime(item.signed_off_at)),
        }

    @admin.display(description=gettext_lazy("Sign-off"))
    def sign_off(self, item):
        if item.auto_check or item.is_signed_off or item.team not in self.signing_teams:
            return ""
        url = reverse(
            "admin:offboarding_exit_sign_off_item", args=[quote(item.exit_case_id), item.pk]
        )
        return format_html('<a class="button" href="{}">{}</a>', url, _("Sign off"))


def _signing_teams(request, exit_case) -> set[str]:
    """The teams whose checklist items and review `request.user` may sign off on this exit now."""
    if exit_case.state not in services.SIGNABLE_STATES:
        return set()
    return {team for team in Team if rules.signs_for(request.user, exit_case, team)}


class WaitingFilter(admin.SimpleListFilter):
    """Open exits by the step they wait for (offboarding/todo.py); "hr" and "it": every exit in
    handover whose HR's (IT's) checklist items or review are not signed off, whatever comes first.
    The links of the staff home lead here."""

    title = gettext_lazy("waiting for")
    parameter_name = "waiting"

    def lookups(self, request, model_admin):
        return (
            *WaitingStep.choices,
            ("hr", gettext_lazy("HR's sign-offs (any step)")),
            ("it", gettext_lazy("IT's sign-offs (any step)")),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value in WaitingStep.values:
            return queryset.filter(waiting_step=value)
        if value in ("hr", "it"):
            return queryset.filter(state=ExitState.HANDOVER, **{f"{value}_pending": True})
        return queryset


@admin.register(Exit)
class ExitAdmin(EnterpriseScopedAdmin):
    list_display = (
        "member",
        "kind",
        "state",
        "waiting",
        "last_working_day",
        "submitted",
        "completed",
        "undo_until",
        "enterprise",
    )
    list_select_related = ("member", "enterprise")
    list_filter = (
        "state",
        WaitingFilter,
        "kind",
        ("enterprise", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("member__name", "member__employee_number")
    date_hierarchy = "created_at"
    list_per_page = 50
    autocomplete_fields = ("member", "successor")
    inlines = (ApprovalInline, ChecklistInline)
    readonly_fields = ("requested_by_name",)

    add_fieldsets = ((None, {"fields": ExitAddForm.Meta.fields}),)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "enterprise",
                    "member",
                    "kind",
                    "state",
                    "reason",
                    "last_working_day",
                    "successor",
                    "requested_by_name",
                )
            },
        ),
        (
            gettext_lazy("Dates"),
            {
                "fields": (
                    "created_at",
                    "submitted_at",
                    "completed_at",
                    "undo_deadline",
                    "closed_at",
                )
            },
        ),
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        # People are added and edited on their own pages, not from an exit's form.
        if isinstance(getattr(formfield, "widget", None), RelatedFieldWidgetWrapper):
            formfield.widget.can_add_related = False
            formfield.widget.can_change_related = False
        return formfield

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == "offboarding_exit_changelist":
            # The "waiting for" column and filter: computed in the rows' own query.
            queryset = todo.with_waiting_step(queryset, names=True)
        return queryset

    # Changelist columns: times in each exit's enterprise time zone.

    @admin.display(description=gettext_lazy("waiting for"))
    def waiting(self, exit_case):
        return todo.waiting_on(exit_case) if hasattr(exit_case, "waiting_step") else ""

    @admin.display(description=gettext_lazy("submitted at"), ordering="submitted_at")
    def submitted(self, exit_case):
        return _in_time_zone(exit_case.submitted_at, exit_case.enterprise)

    @admin.display(description=gettext_lazy("completed at"), ordering="completed_at")
    def completed(self, exit_case):
        return _in_time_zone(exit_case.completed_at, exit_case.enterprise)

    @admin.display(description=gettext_lazy("undo deadline"), ordering="undo_deadline")
    def undo_until(self, exit_case):
        return _in_time_zone(exit_case.undo_deadline, exit_case.enterprise)

    @admin.display(description=gettext_lazy("requested by"))
    def requested_by_name(self, exit_case):
        return person_name(exit_case.requested_by)

    # Permissions: an exit is a record. It changes through the workflow only, and only a
    # superuser deletes one.

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False  # the page is read-only; its buttons are the workflow's doors
        return super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def _may_act(self, request, exit_case) -> bool:
        """Whether the user works on this exit's enterprise's exits (HR and IT do; compliance only
        reads). Who may run which transition on it is the workflow's question."""
        return super().has_change_permission(request, exit_case)

    # The add page: opening an exit

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        fieldsets = self.fieldsets
        if obj.state == ExitState.REJECTED:
            fieldsets += ((gettext_lazy("Rejection"), {"fields": ("rejection_reason",)}),)
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return super().get_readonly_fields(request, obj)

    def get_inlines(self, request, obj):
        if obj is None:
            return ()  # the checklist is copied when the exit is opened
        if not obj.approvals.exists():
            return (ChecklistInline,)  # not submitted (or a passive exit): no approval steps
        return self.inlines

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type("ExitAddForm", (ExitAddForm,), {"actor": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied  # unreachable: the change page is read-only
        opened = services.open_exit(
            member=form.cleaned_data["member"],
            kind=form.cleaned_data["kind"],
            last_working_day=form.cleaned_data["last_working_day"],
            reason=form.cleaned_data["reason"],
            successor=form.cleaned_data["successor"],
            actor=request.user,
        )
        obj.pk = opened.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # open_exit wrote the checklist; the exit has no other relations to save

    def response_post_save_add(self, request, obj):
        # Straight to the new exit's page: its pre-review and checklist are what HR needs next.
        return HttpResponseRedirect(self._change_url(obj))

    # The change page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        exit_case = getattr(response, "context_data", None) and response.context_data.get(
            "original"
        )
        if exit_case is not None and not response.is_rendered:
            # Every time on the page is shown in the enterprise's time zone.
            with timezone.override(exit_case.enterprise.time_zone):
                response.render()
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not add:
            context.update(self._exit_page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _exit_page_context(self, request, exit_case) -> dict:
        may_act = self._may_act(request, exit_case)
        transitions = workflow.available_transitions(exit_case, request.user) if may_act else []
        signing_teams = _signing_teams(request, exit_case) if may_act else set()
        enterprise = exit_case.enterprise
        in_progress = exit_case.state in services.SIGNABLE_STATES
        may_hand_over = (
            may_act
            and exit_case.state == ExitState.HANDOVER
            and rules.is_hr.test(request.user, exit_case)
        )
        handover = self._handover(exit_case, may_reassign=may_hand_over)
        return {
            "exit_panel": True,
            "exit_diagram": mark_safe(
                diagram.marked_svg(
                    exit_case.state,
                    label=_("States of an exit; this one is %(state)s.")
                    % {"state": exit_case.get_state_display()},
                )
            ),
            "time_zone": enterprise.time_zone,
            "undo_deadline": _in_time_zone(exit_case.undo_deadline, enterprise),
            "undo_window_open": exit_case.state == ExitState.COMPLETED
            and not exit_case.undo_window_has_ended,
            # Undone: when and by whom. "Ended" is said only of a window that has ended.
            "undone": _undone(exit_case) if exit_case.state == ExitState.REVERTED else None,
            "undo_window_ended": exit_case.state != ExitState.REVERTED
            and exit_case.undo_window_has_ended,
            "transition_buttons": [
                {
                    "name": transition.value,
                    "label": transition.label,
                    "url": self._exit_url("transition", exit_case, transition.value),
                }
                for transition in BUTTON_ORDER
                if transition in transitions and _offered(exit_case, transition)
            ],
            # Blockers stand in the way of submit and completion: only while those lie ahead.
            "in_progress": in_progress,
            # The checklist's automatic checks are those kept when the exit completed.
            "checks_kept_at": _in_time_zone(exit_case.completed_at, enterprise)
            if exit_case.checks_at_end is not None
            else None,
            "blockers": [
                {"message": blocker.message, "blocks": _blocked_steps(blocker)}
                for blocker in (prereview.prereview(exit_case) if in_progress else [])
            ],
            # Waiting customers do not block completion: a note, not a blocker.
            "prereview_notes": [handover["waiting_note"]]
            if in_progress and handover["waiting_note"]
            else [],
            "inheritance_url": self._exit_url("inheritance", exit_case) if may_hand_over else None,
            "handover": handover,
            "super_admin_handovers": [
                {
                    "record": record,
                    "url": reverse("admin:offboarding_superadminhandover_change", args=[record.pk]),
                }
                for record in exit_case.super_admin_handovers.select_related(
                    "to_member", "custodian"
                )
            ],
            "reviews": [
                self._review(exit_case, team, signing_teams) for team in (Team.HR, Team.IT)
            ],
            "blocked_step": self._blocked_step(request, exit_case) if may_act else None,
            "timeline": exit_timeline(exit_case),
            "audit_trail_url": _audit_trail_url(request, exit_case),
        }

    def _review(self, exit_case, team, signing_teams) -> dict:
        prefix = "hr" if team == Team.HR else "it"
        signed_at = getattr(exit_case, f"{prefix}_signed_off_at")
        return {
            "team": team.label,
            "signed_by": person_name(getattr(exit_case, f"{prefix}_signed_off_by")),
            "signed_at": signed_at,
            "url": self._exit_url("sign_off_review", exit_case, team.value)
            if signed_at is None and team in signing_teams
            else None,
        }

    def _blocked_step(self, request, exit_case) -> dict | None:
        """The waiting approval step whose approver cannot act, with HR's ways out (reassign,
        skip); None when no step waits on such an approver or the user is not HR."""
        if exit_case.state != ExitState.PENDING_APPROVAL:
            return None
        current = rules.current_approval(exit_case)
        if current is None or current.assignee is None:
            return None
        why = workflow.why_cannot_act(current.assignee)
        if why is None or not rules.is_hr.test(request.user, exit_case):
            return None
        return {
            "position": current.position,
            "approver": current.get_approver_display(),
            "why": workflow.cannot_act_message(current.assignee, why),
            "reassign_url": self._exit_url("reassign_step", exit_case, current.position),
            "skip_url": self._exit_url("skip_step", exit_case, current.position),
        }

    def _handover(self, exit_case, *, may_reassign: bool) -> dict:
        """The exit's handover batches for its page: a fixed number of queries, however many
        resources moved (counts are aggregated by the database; lost customers are capped).

        Each row names who holds the resources now: a reassignment shows its new successor. A
        given-back batch shows what the undo left (given back, not given back, never moved), not
        the statuses it had before, and no waiting deadline."""
        enterprise = exit_case.enterprise
        batches = list(
            exit_case.inheritance_batches.select_related("created_by").order_by("created_at", "pk")
        )
        if not batches:
            return {"batches": [], "refused": [], "refused_more": 0, "waiting_note": None}
        live_ids = [batch.pk for batch in batches if batch.undone_at is None]
        undone_ids = [batch.pk for batch in batches if batch.undone_at is not None]
        by_batch: dict[int, list] = {}
        if live_ids:
            for row in (
                InheritanceItem.objects.filter(batch_id__in=live_ids)
                .order_by()
                .values("batch_id", "resource_type", "status", "successor_id")
                .annotate(count=Count("pk"), settles_at=Max("settles_at"))
            ):
                by_batch.setdefault(row["batch_id"], []).append(row)
        if undone_ids:
            for row in _given_back_rows(undone_ids):
                by_batch.setdefault(row["batch_id"], []).append(row)
        names = dict(
            Member.objects.filter(
                pk__in={pk for batch in batches for pk in batch.successors.values()}
                | {row["successor_id"] for rows in by_batch.values() for row in rows}
            ).values_list("pk", "name")
        )
        waiting_count, waiting_until = 0, None
        shown = []
        for batch in batches:
            batch_rows = sorted(
                by_batch.get(batch.pk, []),
                key=lambda row: (
                    _type_order(row["resource_type"]),
                    ROW_ORDER.index(row["status"]),
                    names.get(row["successor_id"], ""),
                ),
            )
            waiting = [row for row in batch_rows if row["status"] == InheritanceStatus.WAITING]
            full = sum(
                row["count"]
                for row in batch_rows
                if row["status"] == InheritanceStatus.RECEIVER_FULL
            )
            settles_at = max((row["settles_at"] for row in waiting), default=None)
            if waiting:
                waiting_count += sum(row["count"] for row in waiting)
                waiting_until = max(filter(None, [waiting_until, settles_at]))
            shown.append(
                {
                    "id": batch.pk,
                    "when": _in_time_zone(batch.created_at, enterprise),
                    "by": person_name(batch.created_by),
                    "undone_at": _in_time_zone(batch.undone_at, enterprise),
                    "successors": _successors_shown(batch, batch_rows, names),
                    "counts": [
                        {
                            "type": ResourceType(row["resource_type"]).label,
                            "status": row["status"],
                            "status_label": ROW_LABELS[row["status"]],
                            # Who holds them: nobody new for what never moved or came back.
                            "successor": names.get(row["successor_id"], "")
                            if row["status"] in HELD_BY_SUCCESSOR
                            else "",
                            "count": row["count"],
                        }
                        for row in batch_rows
                    ],
                    "settles_at": _in_time_zone(settles_at, enterprise),
                    # Where HR records a waiting customer's refusal (on the item's page).
                    "waiting_url": f"{reverse('admin:offboarding_inheritanceitem_changelist')}"
                    f"?batch__id__exact={batch.pk}&status__exact={InheritanceStatus.WAITING}"
                    if waiting
                    else None,
                    "receiver_full": 0 if batch.undone_at else full,
                    "reassign_url": self._exit_url("inheritance_reassign", exit_case, batch.pk)
                    if may_reassign and full and batch.undone_at is None
                    else None,
                }
            )
        # A given-back batch's lost customers came back with the rest: only live batches'.
        refused_items = InheritanceItem.objects.filter(
            batch__exit_case=exit_case,
            batch__undone_at__isnull=True,
            status=InheritanceStatus.REFUSED,
        )
        refused = list(refused_items.select_related("successor").order_by("pk")[:REFUSED_SHOWN])
        contacts = ExternalContact.objects.in_bulk([item.resource_id for item in refused])
        waiting_note = None
        if waiting_count:
            waiting_note = ngettext(
                "%(count)d external contact is waiting for the customer's acceptance until "
                "%(when)s; this does not block completion.",
                "%(count)d external contacts are waiting for the customers' acceptance until "
                "%(when)s; this does not block completion.",
                waiting_count,
            ) % {"count": waiting_count, "when": _in_time_zone(waiting_until, enterprise)}
        return {
            "batches": shown,
            "refused": [
                {
                    "contact": str(contacts[item.resource_id])
                    if item.resource_id in contacts
                    else f"#{item.resource_id}",
                    "url": reverse(
                        "admin:directory_externalcontact_change", args=[item.resource_id]
                    )
                    if item.resource_id in contacts
                    else None,
                    "successor": item.successor.name,
                    "reason": item.refusal_reason,
                }
                for item in refused
            ],
            "refused_more": max(0, refused_items.count() - len(refused))
            if len(refused) == REFUSED_SHOWN
            else 0,
            "waiting_note": waiting_note,
        }

    # The buttons' URLs: GET shows a confirmation page, POST runs the door.

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("org-tree/", wrap(self.org_tree_view), name="offboarding_org_tree"),
            path(
                "<path:object_id>/transition/<str:name>/",
                wrap(self.transition_view),
                name="offboarding_exit_transition",
            ),
            path(
                "<path:object_id>/checklist/<int:item_id>/sign-off/",
                wrap(self.sign_off_item_view),
                name="offboarding_exit_sign_off_item",
            ),
            path(
                "<path:object_id>/review/<str:name>/sign-off/",
                wrap(self.sign_off_review_view),
                name="offboarding_exit_sign_off_review",
            ),
            path(
                "<path:object_id>/approval/<int:position>/reassign/",
                wrap(self.reassign_step_view),
                name="offboarding_exit_reassign_step",
            ),
            path(
                "<path:object_id>/approval/<int:position>/skip/",
                wrap(self.skip_step_view),
                name="offboarding_exit_skip_step",
            ),
            path(
                "<path:object_id>/inheritance/",
                wrap(self.inheritance_view),
                name="offboarding_exit_inheritance",
            ),
            path(
                "<path:object_id>/inheritance/<int:batch_id>/reassign/",
                wrap(self.inheritance_reassign_view),
                name="offboarding_exit_inheritance_reassign",
            ),
            *super().get_urls(),
        ]

    @method_decorator(require_GET)
    def org_tree_view(self, request):
        """The org tree of one enterprise the user works on (offboarding/org_tree.py)."""
        enterprises = list(org_tree.enterprises_for(request.user))
        chosen = request.GET.get("enterprise")
        enterprise = next((e for e in enterprises if str(e.pk) == chosen), None)
        if enterprise is None and enterprises:
            enterprise = enterprises[0]
        # Times (pending since…) in the enterprise's own time zone.
        zone = enterprise.time_zone if enterprise else timezone.get_current_timezone()
        with timezone.override(zone):
            return TemplateResponse(
                request,
                "admin/offboarding/org_tree.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Org tree"),
                    "enterprises": enterprises,
                    "enterprise": enterprise,
                    "roots": org_tree.org_tree(enterprise) if enterprise else [],
                    "members_url": reverse("admin:directory_member_changelist"),
                },
            ).render()

    def transition_view(self, request, object_id, name):
        exit_case = self._exit_to_act_on(request, object_id)
        if name not in Transition.values:
            raise Http404(_("There is no such transition."))
        transition = Transition(name)
        form_class = TRANSITION_FORMS.get(transition, ConfirmTransitionForm)
        if request.method == "POST":
            form = form_class(request.POST)
            if form.is_valid():
                arguments = form.door_arguments()
                if transition == Transition.UNDO:
                    # The password re-entry is counted by django-axes, which needs the request.
                    arguments["request"] = request
                try:
                    # A refusal's times (when to try the password again) in the enterprise's zone.
                    with timezone.override(exit_case.enterprise.time_zone):
                        exit_case = workflow.DOORS[transition](
                            exit_case, actor=request.user, **arguments
                        )
                except REFUSALS as error:
                    if not form.visible_fields():
                        messages.error(request, _refusal(error))
                        return HttpResponseRedirect(self._change_url(exit_case))
                    # What the person typed (a comment, a reason) is shown again with the refusal,
                    # beside the field it is about; a password is not shown again.
                    field = getattr(error, "field", None)
                    form.add_error(field if field in form.fields else None, _refusal(error))
                else:
                    messages.success(request, self._transition_done(exit_case, transition))
                    return HttpResponseRedirect(self._change_url(exit_case))
        else:
            if transition == Transition.CLOSE and _close_waits_for_the_window(request, exit_case):
                messages.error(request, workflow.not_closable_yet(exit_case))
                return HttpResponseRedirect(self._change_url(exit_case))
            if transition not in workflow.available_transitions(exit_case, request.user):
                messages.error(
                    request,
                    _("“%(action)s” is not open to you on this exit now.")
                    % {"action": transition.label},
                )
                return HttpResponseRedirect(self._change_url(exit_case))
            if not _offered(exit_case, transition):
                messages.error(
                    request,
                    _("The undo window ended at %(deadline)s: this exit can no longer be undone.")
                    % {"deadline": _in_time_zone(exit_case.undo_deadline, exit_case.enterprise)},
                )
                return HttpResponseRedirect(self._change_url(exit_case))
            current = rules.current_approval(exit_case)
            form = form_class(initial={"step": current.position if current else None})
        step = TRANSITION_PREREVIEW.get(transition)
        return self._render(
            request,
            exit_case,
            "transition_confirmation.html",
            title=_("%(action)s: %(exit)s") % {"action": transition.label, "exit": exit_case},
            action=transition.label,
            transition=transition.value,
            question=TRANSITION_QUESTIONS[transition] % {"member": exit_case.member.name},
            blockers=prereview.blockers_for(exit_case, step) if step else [],
            warning=_early_completion_warning(exit_case)
            if transition == Transition.COMPLETE
            else None,
            undo_until=_in_time_zone(exit_case.undo_deadline, exit_case.enterprise)
            if transition == Transition.UNDO
            else None,
            form=form,
        )

    def sign_off_item_view(self, request, object_id, item_id):
        exit_case = self._exit_to_act_on(request, object_id)
        item = get_object_or_404(exit_case.checklist.all(), pk=item_id)
        if request.method == "POST":
            form = SignOffForm(request.POST)
            if form.is_valid():
                try:
                    services.sign_off_item(item, actor=request.user, note=form.cleaned_data["note"])
                except ExitRefused as error:
                    messages.error(request, str(error))
                else:
                    messages.success(
                        request, _("“%(title)s” is signed off.") % {"title": item.title_shown}
                    )
                return HttpResponseRedirect(self._change_url(exit_case))
        else:
            form = SignOffForm()
        return self._render(
            request,
            exit_case,
            "sign_off.html",
            title=_("Sign off “%(title)s”") % {"title": item.title_shown},
            action=_("Sign off"),
            question=_("Sign off “%(title)s” for the exit of %(member)s, as %(team)s?")
            % {
                "title": item.title_shown,
                "member": exit_case.member.name,
                "team": item.get_team_display(),
            },
            form=form,
        )

    def sign_off_review_view(self, request, object_id, name):
        exit_case = self._exit_to_act_on(request, object_id)
        if name not in Team.values:
            raise Http404(_("There is no such review."))
        team = Team(name)
        if request.method == "POST":
            try:
                exit_case = services.sign_off_review(exit_case, actor=request.user, team=team)
            except ExitRefused as error:
                messages.error(request, str(error))
            else:
                messages.success(
                    request, _("The %(team)s review is signed off.") % {"team": team.label}
                )
            return HttpResponseRedirect(self._change_url(exit_case))
        return self._render(
            request,
            exit_case,
            "sign_off.html",
            title=_("Sign off the %(team)s review") % {"team": team.label},
            action=_("Sign off"),
            question=_(
                "Sign off the %(team)s exit review of %(member)s? Your name and the time are "
                "recorded on the exit and in the audit trail, and a sign-off cannot be withdrawn. "
                "The exit can be completed once HR and IT have both signed off and every "
                "checklist item is done."
            )
            % {"team": team.label, "member": exit_case.member.name},
            form=None,
        )

    def reassign_step_view(self, request, object_id, position):
        """HR gives the waiting step whose approver cannot act to another approver."""
        exit_case, approval = self._step_to_unblock(request, object_id, position)
        if approval is None:
            return HttpResponseRedirect(self._change_url(exit_case))
        form = ReassignStepForm(_posted(request), exit_case=exit_case)
        if request.method == "POST" and form.is_valid():
            try:
                approval = workflow.reassign_step(
                    exit_case, actor=request.user, step=position, **form.door_arguments()
                )
            except ExitRefused as error:
                field = getattr(error, "field", None)
                form.add_error(field if field in form.fields else None, _refusal(error))
            else:
                messages.success(
                    request,
                    _("Step %(position)s now waits for %(name)s.")
                    % {"position": position, "name": approval.assignee.name},
                )
                return HttpResponseRedirect(self._change_url(exit_case))
        return self._render(
            request,
            exit_case,
            "transition_confirmation.html",
            title=_("Reassign step %(position)s: %(exit)s")
            % {"position": position, "exit": exit_case},
            action=_("Reassign the step"),
            question=self._unblock_question(approval)
            + " "
            + _(
                "Reassign step %(position)s (%(approver)s) to another approver? The step leaves "
                "%(name)s's approvals and waits for the approver you choose; the reason stays on "
                "the step and in the audit trail."
            )
            % {
                "position": position,
                "approver": approval.get_approver_display(),
                "name": approval.assignee.name,
            },
            form=form,
        )

    def skip_step_view(self, request, object_id, position):
        """HR skips the waiting step whose approver cannot act."""
        exit_case, approval = self._step_to_unblock(request, object_id, position)
        if approval is None:
            return HttpResponseRedirect(self._change_url(exit_case))
        form = StepReasonForm(_posted(request))
        if request.method == "POST" and form.is_valid():
            try:
                exit_case = workflow.skip_step(
                    exit_case, actor=request.user, step=position, **form.door_arguments()
                )
            except ExitRefused as error:
                field = getattr(error, "field", None)
                form.add_error(field if field in form.fields else None, _refusal(error))
            else:
                messages.success(
                    request,
                    _("Step %(position)s is skipped; the exit of %(member)s is now %(state)s.")
                    % {
                        "position": position,
                        "member": exit_case.member.name,
                        "state": exit_case.get_state_display(),
                    },
                )
                return HttpResponseRedirect(self._change_url(exit_case))
        following = exit_case.approvals.filter(position__gt=position).order_by("position").first()
        if following is None:
            then = _(
                "It is the last step: the exit is approved and moves to handover, as if the "
                "step had been approved."
            )
        else:
            then = _("Step %(position)s (%(approver)s) decides next.") % {
                "position": following.position,
                "approver": following.get_approver_display(),
            }
        return self._render(
            request,
            exit_case,
            "transition_confirmation.html",
            title=_("Skip step %(position)s: %(exit)s") % {"position": position, "exit": exit_case},
            action=_("Skip the step"),
            question=self._unblock_question(approval)
            + " "
            + _(
                "Skip step %(position)s (%(approver)s) of the exit of %(member)s? Nobody approves "
                "it; the step is recorded as skipped by you, with your reason."
            )
            % {
                "position": position,
                "approver": approval.get_approver_display(),
                "member": exit_case.member.name,
            }
            + " "
            + then,
            form=form,
        )

    def _step_to_unblock(self, request, object_id, position):
        """The exit (HR only: 403 for anyone else) and its step at `position`, if it is the
        waiting step and its approver cannot act; otherwise a message and (exit, None)."""
        exit_case = self._exit_to_hand_over(request, object_id)
        approval = (
            exit_case.approvals.select_related("assignee__user").filter(position=position).first()
        )
        if approval is None:
            raise Http404(_("There is no such approval step."))
        current = rules.current_approval(exit_case)
        if (
            exit_case.state != ExitState.PENDING_APPROVAL
            or current is None
            or current.position != position
            or approval.assignee is None
            or workflow.why_cannot_act(approval.assignee) is None
        ):
            messages.error(
                request,
                _(
                    "Step %(position)s does not wait on an approver who cannot act: there is "
                    "nothing to reassign or skip."
                )
                % {"position": position},
            )
            return exit_case, None
        return exit_case, approval

    def _unblock_question(self, approval) -> str:
        why = workflow.why_cannot_act(approval.assignee)
        return workflow.cannot_act_message(approval.assignee, why)

    def inheritance_view(self, request, object_id):
        """离职继承: hand everything the member owns to successors (`inheritance.inherit`).

        The page names what moves (the external contacts and customer groups, paged) and, before
        anything is written, warns when the chosen successor has no room for every contact: HR
        chooses another one, or confirms, and what does not fit stays `receiver_full`."""
        exit_case = self._exit_to_hand_over(request, object_id)
        if exit_case.state != ExitState.HANDOVER:
            return self._not_in_handover(request, exit_case)
        member = exit_case.member
        owned = inheritance.owned_counts(member)
        owned_types = [rtype for rtype in ResourceType if owned[rtype]]
        form_kwargs = {
            "exit_case": exit_case,
            "resource_types": owned_types,
            "admin_site": self.admin_site,
            "contacts_moving": owned[ResourceType.EXTERNAL_CONTACT],
        }
        warning = None
        if request.method == "POST":
            form = InheritanceForm(request.POST, **form_kwargs)
            if form.is_valid():
                arguments = form.door_arguments()
                warning = inheritance.handover_warning(exit_case, **arguments)
                if not _over_limit_confirmed(request, warning):
                    pass  # shown again with the warning; nothing is written
                else:
                    warning = None
                    try:
                        batch = inheritance.inherit(exit_case, actor=request.user, **arguments)
                    except ExitRefused as error:
                        field = getattr(error, "field", None)
                        form.add_error(field if field in form.fields else None, _refusal(error))
                    else:
                        messages.success(request, _handed_over(batch, member))
                        return HttpResponseRedirect(self._change_url(exit_case))
        else:
            form = InheritanceForm(**form_kwargs)
        default_successor = exit_case.successor or member.manager
        return self._render(
            request,
            exit_case,
            "inheritance.html",
            title=_("Hand over resources: %(exit)s") % {"exit": exit_case},
            action=_("Hand over resources"),
            question=_(
                "Hand everything %(member)s owns over to their successors? Ownership moves at "
                "once; external contacts wait for the customers' acceptance period."
            )
            % {"member": member.name},
            owned=[{"type": rtype.label, "count": owned[rtype]} for rtype in ResourceType],
            owns_anything=bool(owned_types),
            default_successor=successor_label(
                inheritance.with_contact_load(
                    Member.objects.select_related("department").filter(pk=default_successor.pk)
                ).get()
            )
            if default_successor
            else None,
            moving_lists=[
                _paged(
                    request,
                    "contacts_page",
                    ExternalContact.objects.filter(owner_id=member.pk),
                    title=_("External contacts that move"),
                    list_id="inheritance-contacts",
                ),
                _paged(
                    request,
                    "groups_page",
                    CustomerGroup.objects.filter(owner_id=member.pk),
                    title=_("Customer groups that move"),
                    list_id="inheritance-groups",
                ),
            ],
            over_limit=_over_limit_context(warning, member),
            form=form,
        )

    def inheritance_reassign_view(self, request, object_id, batch_id):
        """Give the contacts a full successor could not take to someone with room; the page
        names them (paged) and warns, before anything is written, when the one chosen has no
        room for all of them."""
        exit_case = self._exit_to_hand_over(request, object_id)
        if exit_case.state != ExitState.HANDOVER:
            return self._not_in_handover(request, exit_case)
        batch = get_object_or_404(exit_case.inheritance_batches.all(), pk=batch_id)
        full_items = batch.items.filter(
            resource_type=ResourceType.EXTERNAL_CONTACT, status=InheritanceStatus.RECEIVER_FULL
        )
        full = full_items.count()
        form_kwargs = {
            "exit_case": exit_case,
            "admin_site": self.admin_site,
            "contacts_moving": full,
        }
        warning = None
        if request.method == "POST":
            form = ReassignForm(request.POST, **form_kwargs)
            if form.is_valid():
                successor = form.cleaned_data["successor"]
                warning = inheritance.over_limit(successor=successor, moving=full)
                if warning and warning["room"] and not _over_limit_confirmed(request, warning):
                    pass  # shown again with the warning; nothing is written
                else:
                    warning = None
                    try:
                        moved = inheritance.reassign_full_items(
                            batch, actor=request.user, successor=successor
                        )
                    except ExitRefused as error:
                        form.add_error("successor", _refusal(error))
                    else:
                        messages.success(
                            request,
                            ngettext(
                                "%(count)d external contact went to %(name)s.",
                                "%(count)d external contacts went to %(name)s.",
                                moved,
                            )
                            % {"count": moved, "name": successor.name},
                        )
                        return HttpResponseRedirect(self._change_url(exit_case))
        else:
            form = ReassignForm(**form_kwargs)
        return self._render(
            request,
            exit_case,
            "inheritance_reassign.html",
            title=_("Reassign external contacts: %(exit)s") % {"exit": exit_case},
            action=_("Reassign external contacts"),
            question=ngettext(
                "%(count)d external contact of %(member)s did not fit: its successor already "
                "looks after as many as one member may. Who takes it?",
                "%(count)d external contacts of %(member)s did not fit: their successor already "
                "looks after as many as one member may. Who takes them?",
                full,
            )
            % {"count": full, "member": exit_case.member.name},
            moving_lists=[
                _paged(
                    request,
                    "contacts_page",
                    ExternalContact.objects.filter(
                        pk__in=full_items.order_by().values("resource_id"),
                        owner_id=exit_case.member_id,
                    ),
                    title=_("External contacts that move"),
                    list_id="inheritance-contacts",
                )
            ],
            over_limit=_over_limit_context(warning, exit_case.member),
            form=form,
        )

    def _exit_to_hand_over(self, request, object_id):
        """The exit whose member's resources HR hands over: behind the same wall as the other
        buttons; only HR of its enterprise (403 for anyone else who works on exits)."""
        exit_case = self._exit_to_act_on(request, object_id)
        if not rules.is_hr.test(request.user, exit_case):
            raise PermissionDenied
        return exit_case

    def _not_in_handover(self, request, exit_case):
        messages.error(
            request,
            _("Resources are handed over only while the exit is in handover; it is %(state)s.")
            % {"state": exit_case.get_state_display()},
        )
        return HttpResponseRedirect(self._change_url(exit_case))

    def _exit_to_act_on(self, request, object_id):
        """The exit, if it is in the user's enterprises (else 404, as for any hidden row) and the
        user works on exits; whether they may do this to it is the workflow's question."""
        exit_case = self.get_object(request, unquote(object_id))
        if exit_case is None:
            raise Http404(_("There is no such exit."))
        if not self._may_act(request, exit_case):
            raise PermissionDenied
        return exit_case

    def _render(self, request, exit_case, template, **context):
        request.current_app = self.admin_site.name
        response = TemplateResponse(
            request,
            f"{TEMPLATES}/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "exit_case": exit_case,
                "change_url": self._change_url(exit_case),
                "time_zone": exit_case.enterprise.time_zone,
                **context,
            },
        )
        with timezone.override(exit_case.enterprise.time_zone):
            return response.render()

    def _transition_done(self, exit_case, transition) -> str:
        if transition == Transition.APPROVE and exit_case.state == ExitState.PENDING_APPROVAL:
            return _("Your approval is recorded; the next step of the approval chain decides now.")
        return _("“%(action)s” done: the exit of %(member)s is now %(state)s.") % {
            "action": transition.label,
            "member": exit_case.member.name,
            "state": exit_case.get_state_display(),
        }

    def _change_url(self, exit_case) -> str:
        return reverse("admin:offboarding_exit_change", args=[quote(exit_case.pk)])

    def _exit_url(self, action, exit_case, *args) -> str:
        return reverse(f"admin:offboarding_exit_{action}", args=[quote(exit_case.pk), *args])


def _close_waits_for_the_window(request, exit_case) -> bool:
    """Whether the user may close this exit and only its open undo window stands in the way."""
    return (
        exit_case.state == ExitState.COMPLETED
        and not exit_case.undo_window_has_ended
        and rules.can_close.test(request.user, exit_case)
    )


def _offered(exit_case, transition) -> bool:
    """Whether the button is offered: undo only while its window is open (the door refuses after
    it too; the button is not offered to be refused)."""
    return transition != Transition.UNDO or not exit_case.undo_window_has_ended


def _early_completion_warning(exit_case) -> str | None:
    """Completing before the last working day: said on the confirmation page, before it runs."""
    today = services.local_today(exit_case.enterprise)
    if exit_case.last_working_day is None or exit_case.last_working_day <= today:
        return None
    days = (exit_case.last_working_day - today).days
    return ngettext(
        "The last working day of %(member)s is %(day)s, %(days)d day from now. Completing now "
        "ends their access before it: their login is deactivated today.",
        "The last working day of %(member)s is %(day)s, %(days)d days from now. Completing now "
        "ends their access before it: their login is deactivated today.",
        days,
    ) % {
        "member": exit_case.member.name,
        "day": formats.date_format(exit_case.last_working_day, "Y-m-d"),
        "days": days,
    }


def _posted(request):
    return request.POST if request.method == "POST" else None


def _undone(exit_case) -> dict | None:
    """When and by whom the exit was undone, from its history (the undo door's change reason)."""
    record = (
        exit_case.history.filter(history_change_reason=Transition.UNDO.value)
        .select_related("history_user")
        .order_by("-history_id")
        .first()
    )
    if record is None:
        return None
    return {
        "when": _in_time_zone(record.history_date, exit_case.enterprise),
        "by": person_name(record.history_user),
    }


# How many names of what moves the handover pages show at a time.
MOVING_PER_PAGE = 50


def _paged(request, parameter, resources, *, title, list_id) -> dict:
    """One page of `resources` (contacts or groups, by name) for a handover page, with the links
    to the other pages keeping the other lists' page numbers."""
    paginator = Paginator(resources.order_by("name", "pk").only("name"), MOVING_PER_PAGE)
    page = paginator.get_page(request.GET.get(parameter))

    def link(number):
        query = request.GET.copy()
        query[parameter] = number
        return f"?{query.urlencode()}"

    return {
        "title": title,
        "id": list_id,
        "count": paginator.count,
        "page": page,
        "previous_url": link(page.previous_page_number()) if page.has_previous() else None,
        "next_url": link(page.next_page_number()) if page.has_next() else None,
    }


def _over_limit_confirmed(request, warning) -> bool:
    """Whether HR confirmed handing over to the successor the warning is about (the box ticked
    on the page that warned about that same successor)."""
    if warning is None:
        return True
    return request.POST.get("confirm_over_limit") == str(warning["successor_id"])


def _over_limit_context(warning, member) -> dict | None:
    if warning is None:
        return None
    if warning["room"]:
        fit = ngettext(
            "Only %(room)d of the %(moving)d external contacts would fit: %(left)d would stay "
            "with %(member)s and block completion until reassigned.",
            "Only %(room)d of the %(moving)d external contacts would fit: %(left)d would stay "
            "with %(member)s and block completion until reassigned.",
            warning["room"],
        )
    else:
        fit = _(
            "None of the %(moving)d external contacts would fit: all %(left)d would stay with "
            "%(member)s and block completion until reassigned."
        )
    return {
        "successor_id": warning["successor_id"],
        "name": warning["name"],
        "message": ngettext(
            "%(name)s already looks after %(held)d external contact; the limit is %(limit)d.",
            "%(name)s already looks after %(held)d external contacts; the limit is %(limit)d.",
            warning["held"],
        )
        % warning
        + " "
        + fit % {**warning, "member": member.name},
    }


# What a given-back batch's items came to (see `_given_back_rows`), beside the item statuses.
GIVEN_BACK = "given_back"
NOT_GIVEN_BACK = "not_given_back"
NEVER_MOVED = "never_moved"
ROW_LABELS = {
    **{status.value: status.label for status in InheritanceStatus},
    GIVEN_BACK: gettext_lazy("Given back by the undo"),
    NOT_GIVEN_BACK: gettext_lazy("Not given back: no longer with its successor"),
    NEVER_MOVED: gettext_lazy("Never moved: the successor had reached the limit"),
}
ROW_ORDER = [*InheritanceStatus.values, GIVEN_BACK, NOT_GIVEN_BACK, NEVER_MOVED]
# The rows whose resources a successor holds now.
HELD_BY_SUCCESSOR = {
    InheritanceStatus.DONE,
    InheritanceStatus.WAITING,
    InheritanceStatus.REFUSED,
    NOT_GIVEN_BACK,
}


def _given_back_rows(batch_ids) -> list[dict]:
    """What the undo left of the given-back batches `batch_ids`, counted by the database: per
    batch, type and successor, how many resources are back with the leaving member, how many
    are not (a successor had passed them on), and how many never moved (did not fit)."""
    back = Case(
        *[
            When(
                resource_type=rtype.value,
                then=Exists(
                    model.objects.filter(
                        pk=OuterRef("resource_id"), owner_id=OuterRef("batch__from_member_id")
                    )
                ),
            )
            for rtype, model in inheritance.RESOURCE_MODELS.items()
        ],
        default=Value(False),
        output_field=BooleanField(),
    )
    rows = (
        InheritanceItem.objects.filter(batch_id__in=batch_ids)
        .annotate(back=back)
        .order_by()
        .values("batch_id", "resource_type", "status", "successor_id", "back")
        .annotate(count=Count("pk"))
    )
    merged: dict[tuple, dict] = {}
    for row in rows:
        if row["status"] == InheritanceStatus.RECEIVER_FULL:
            outcome = NEVER_MOVED
        else:
            outcome = GIVEN_BACK if row["back"] else NOT_GIVEN_BACK
        successor_id = row["successor_id"] if outcome == NOT_GIVEN_BACK else None
        key = (row["batch_id"], row["resource_type"], outcome, successor_id)
        entry = merged.setdefault(
            key,
            {
                "batch_id": row["batch_id"],
                "resource_type": row["resource_type"],
                "status": outcome,
                "successor_id": successor_id,
                "count": 0,
                "settles_at": None,
            },
        )
        entry["count"] += row["count"]
    return list(merged.values())


def _successors_shown(batch, rows, names) -> list[dict]:
    """Who received each resource type: the successors holding the batch's items now (a
    reassignment's new successor included), else those the batch named."""
    holders: dict[str, list[str]] = {}
    for row in rows:
        if row["status"] in HELD_BY_SUCCESSOR and row["status"] != NOT_GIVEN_BACK:
            name = names.get(row["successor_id"], "?")
            holders.setdefault(row["resource_type"], [])
            if name not in holders[row["resource_type"]]:
                holders[row["resource_type"]].append(name)
    for rtype, member_id in batch.successors.items():
        holders.setdefault(rtype, [names.get(member_id, "?")])
    return [
        {"type": ResourceType(rtype).label, "name": ", ".join(holders[rtype])}
        for rtype in sorted(holders, key=_type_order)
    ]


def _type_order(rtype) -> int:
    return list(ResourceType.values).index(rtype)


def _handed_over(batch, member) -> str:
    """What a handover moved, by status: the message HR reads after it."""
    counts = dict(
        batch.items.order_by().values_list("status").annotate(count=Count("pk")).order_by()
    )
    summary = ", ".join(
        _("%(status)s: %(count)d") % {"status": status.label, "count": counts[status]}
        for status in InheritanceStatus
        if counts.get(status)
    )
    return _("The resources of %(member)s are handed over (%(summary)s).") % {
        "member": member.name,
        "summary": summary,
    }


def _blocked_steps(blocker) -> list[str]:
    return [
        Transition(step).label
        for step in (prereview.SUBMIT, prereview.REMOVE, prereview.COMPLETE)
        if step in blocker.blocks
    ]
