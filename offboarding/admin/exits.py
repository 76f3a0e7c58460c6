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

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Max
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from directory.admin import EnterpriseScopedAdmin
from directory.models import ExternalContact, Member
from directory.services import DirectoryError

from .. import inheritance, prereview, rules, services, workflow
from ..choices import ExitState, InheritanceStatus, ResourceType, Team, Transition
from ..exceptions import ExitRefused
from ..models import ChecklistItem, Exit, ExitApproval, InheritanceItem
from ..selectors import exit_timeline, person_name
from .forms import (
    TRANSITION_FORMS,
    ConfirmTransitionForm,
    ExitAddForm,
    InheritanceForm,
    ReassignForm,
    SignOffForm,
)

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
        self.auto_results = prereview.auto_check_results(obj.member) if obj else {}
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

    @admin.display(description="")
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


@admin.register(Exit)
class ExitAdmin(EnterpriseScopedAdmin):
    list_display = (
        "member",
        "kind",
        "state",
        "last_working_day",
        "submitted",
        "completed",
        "undo_until",
        "enterprise",
    )
    list_select_related = ("member", "enterprise")
    list_filter = ("state", "kind", ("enterprise", admin.RelatedOnlyFieldListFilter))
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

    # Changelist columns: times in each exit's enterprise time zone.

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
                if transition in transitions
            ],
            # Blockers stand in the way of submit and completion: only while those lie ahead.
            "in_progress": in_progress,
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

    def _handover(self, exit_case, *, may_reassign: bool) -> dict:
        """The exit's handover batches for its page: a fixed number of queries, however many
        resources moved (counts are aggregated by the database; lost customers are capped)."""
        enterprise = exit_case.enterprise
        batches = list(
            exit_case.inheritance_batches.select_related("created_by").order_by("created_at", "pk")
        )
        if not batches:
            return {"batches": [], "refused": [], "refused_more": 0, "waiting_note": None}
        rows = (
            InheritanceItem.objects.filter(batch__exit_case=exit_case)
            .order_by()
            .values("batch_id", "resource_type", "status")
            .annotate(count=Count("pk"), settles_at=Max("settles_at"))
        )
        by_batch: dict[int, list] = {}
        for row in rows:
            by_batch.setdefault(row["batch_id"], []).append(row)
        names = dict(
            Member.objects.filter(
                pk__in={pk for batch in batches for pk in batch.successors.values()}
            ).values_list("pk", "name")
        )
        waiting_count, waiting_until = 0, None
        shown = []
        for batch in batches:
            batch_rows = sorted(
                by_batch.get(batch.pk, []),
                key=lambda row: (
                    _type_order(row["resource_type"]),
                    list(InheritanceStatus.values).index(row["status"]),
                ),
            )
            waiting = [row for row in batch_rows if row["status"] == InheritanceStatus.WAITING]
            full = sum(
                row["count"]
                for row in batch_rows
                if row["status"] == InheritanceStatus.RECEIVER_FULL
            )
            settles_at = max((row["settles_at"] for row in waiting), default=None)
            if batch.undone_at is None and waiting:
                waiting_count += sum(row["count"] for row in waiting)
                waiting_until = max(filter(None, [waiting_until, settles_at]))
            shown.append(
                {
                    "id": batch.pk,
                    "when": _in_time_zone(batch.created_at, enterprise),
                    "by": person_name(batch.created_by),
                    "undone_at": _in_time_zone(batch.undone_at, enterprise),
                    "successors": [
                        {
                            "type": ResourceType(rtype).label,
                            "name": names.get(member_id, "?"),
                        }
                        for rtype, member_id in sorted(
                            batch.successors.items(), key=lambda pair: _type_order(pair[0])
                        )
                    ],
                    "counts": [
                        {
                            "type": ResourceType(row["resource_type"]).label,
                            "status": row["status"],
                            "status_label": InheritanceStatus(row["status"]).label,
                            "count": row["count"],
                        }
                        for row in batch_rows
                    ],
                    "settles_at": _in_time_zone(settles_at, enterprise),
                    # Where HR records a waiting customer's refusal (on the item's page).
                    "waiting_url": f"{reverse('admin:offboarding_inheritanceitem_changelist')}"
                    f"?batch__id__exact={batch.pk}&status__exact={InheritanceStatus.WAITING}"
                    if waiting and batch.undone_at is None
                    else None,
                    "receiver_full": full,
                    "reassign_url": self._exit_url("inheritance_reassign", exit_case, batch.pk)
                    if may_reassign and full and batch.undone_at is None
                    else None,
                }
            )
        refused_items = InheritanceItem.objects.filter(
            batch__exit_case=exit_case, status=InheritanceStatus.REFUSED
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
            if transition not in workflow.available_transitions(exit_case, request.user):
                messages.error(
                    request,
                    _("“%(action)s” is not open to you on this exit now.")
                    % {"action": transition.label},
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
                "Sign off the %(team)s exit review of %(member)s? "
                "The exit completes once HR and IT have both signed off."
            )
            % {"team": team.label, "member": exit_case.member.name},
            form=None,
        )

    def inheritance_view(self, request, object_id):
        """离职继承: hand everything the member owns to successors (`inheritance.inherit`)."""
        exit_case = self._exit_to_hand_over(request, object_id)
        if exit_case.state != ExitState.HANDOVER:
            return self._not_in_handover(request, exit_case)
        member = exit_case.member
        owned = inheritance.owned_counts(member)
        owned_types = [rtype for rtype in ResourceType if owned[rtype]]
        form_kwargs = {"exit_case": exit_case, "resource_types": owned_types}
        if request.method == "POST":
            form = InheritanceForm(request.POST, **form_kwargs)
            if form.is_valid():
                try:
                    batch = inheritance.inherit(
                        exit_case, actor=request.user, **form.door_arguments()
                    )
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
            default_successor=default_successor.name if default_successor else None,
            form=form,
        )

    def inheritance_reassign_view(self, request, object_id, batch_id):
        """Give the contacts a full successor could not take to someone with room."""
        exit_case = self._exit_to_hand_over(request, object_id)
        if exit_case.state != ExitState.HANDOVER:
            return self._not_in_handover(request, exit_case)
        batch = get_object_or_404(exit_case.inheritance_batches.all(), pk=batch_id)
        full = batch.items.filter(
            resource_type=ResourceType.EXTERNAL_CONTACT, status=InheritanceStatus.RECEIVER_FULL
        ).count()
        if request.method == "POST":
            form = ReassignForm(request.POST, exit_case=exit_case)
            if form.is_valid():
                successor = form.cleaned_data["successor"]
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
            form = ReassignForm(exit_case=exit_case)
        return self._render(
            request,
            exit_case,
            "transition_confirmation.html",
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
