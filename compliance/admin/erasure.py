"""Erasure requests (数据删除权, C-5) in the admin: the Compliance desk. Interface only: every
change is a door of compliance/erasure.py, which locks, checks, acts and records.

- The add page records a departed member's request (`erasure.receive`): the enterprise's mode is
  shown, the categories (mode `modules`) are checkboxes, the level (mode `levels`) a choice; the
  form asks the door's own checks (`erasure.check_receive`), so a refusal stands beside its field.
- The changelist shows each request's due date; open requests past it are highlighted (the CSS of
  compliance/static/compliance/admin.css, loaded by `Media`: the Content-Security-Policy allows no
  inline style) and filtered by "overdue".
- The change page is read-only, with a button for each action the request's state allows now
  (Evaluate, Erase now, Refuse) and the blockers of a restricted request. A button's URL shows a
  confirmation page on GET and runs the door on POST (`get_urls()`).

Behind `EnterpriseScopedAdmin`: another enterprise's request is answered as if it did not exist,
on every page and URL of this module.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from directory.admin import EnterpriseConstraintsForm, EnterpriseScopedAdmin
from directory.choices import ErasureMode
from directory.models import Member
from offboarding.selectors import person_name

from .. import erasure, holds
from ..choices import ErasureLevel, ErasureState, RecordCategory
from ..exceptions import ComplianceRefused
from ..models import ErasureRequest
from ..retention import within_floors

TEMPLATES = "admin/compliance/erasurerequest"

# Each action's button and what it does, in words, on its confirmation page.
ACTION_LABELS = {
    erasure.EVALUATE: gettext_lazy("Evaluate"),
    erasure.ERASE_NOW: gettext_lazy("Erase now"),
    erasure.REFUSE: gettext_lazy("Refuse"),
}
ACTION_QUESTIONS = {
    erasure.EVALUATE: gettext_lazy(
        "Evaluate the erasure request of %(member)s? If no legal hold and no statutory "
        "retention floor stands in the way, the data is erased at once and cannot be brought "
        "back; otherwise the request is restricted: what the law keeps is only stored and "
        "protected until the blocker lifts, then erased by the retention run, and under "
        "statutory floors alone the rest is erased at once."
    ),
    erasure.ERASE_NOW: gettext_lazy(
        "Erase the data of %(member)s now? This cannot be undone. It is refused, changing "
        "nothing, while a legal hold or a statutory retention floor stands in the way."
    ),
    erasure.REFUSE: gettext_lazy(
        "Refuse the erasure request of %(member)s? Say why: the member is given this reason."
    ),
}
ACTION_DONE = {
    erasure.EVALUATE: gettext_lazy("The erasure request of %(member)s is now %(state)s."),
    erasure.ERASE_NOW: gettext_lazy("The erasure request of %(member)s is now %(state)s."),
    erasure.REFUSE: gettext_lazy("The erasure request of %(member)s is refused."),
}
assert set(ACTION_LABELS) == set(ACTION_QUESTIONS) == set(ACTION_DONE) == set(erasure.ACTIONS)


def _in_time_zone(moment, enterprise):
    return formats.localize(timezone.localtime(moment, enterprise.time_zone))


def _due(erasure_request):
    due_on = formats.date_format(erasure_request.due_on)
    if erasure.is_overdue(erasure_request):
        return format_html('<span class="erasure-overdue">{} ({})</span>', due_on, _("overdue"))
    return due_on


class ErasureRequestAddForm(EnterpriseConstraintsForm):
    """Recording a request. Its rules are the door's (`erasure.check_receive`): a refusal is
    shown beside the field it is about."""

    actor = None  # set by ErasureRequestAdmin.get_form

    categories = forms.MultipleChoiceField(
        label=gettext_lazy("Categories"),
        choices=RecordCategory.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy(
            "Mode “chosen categories”: the categories the member asks to erase."
        ),
    )
    level = forms.ChoiceField(
        label=gettext_lazy("Level"),
        choices=[("", "---------"), *ErasureLevel.choices],
        required=False,
        help_text=gettext_lazy("Mode “erasure levels”: how the member asks their data be erased."),
    )

    class Meta:
        model = ErasureRequest
        fields = ("member", "categories", "level")

    def clean(self):
        cleaned_data = super().clean()
        member = cleaned_data.get("member")
        if self.errors or member is None:
            return cleaned_data
        try:
            erasure.check_receive(
                member,
                actor=self.actor,
                categories=cleaned_data.get("categories") or [],
                level=cleaned_data.get("level") or "",
            )
        except ComplianceRefused as refusal:
            field = refusal.field if refusal.field in self.fields else None
            self.add_error(field, str(refusal))
        return cleaned_data


class OverdueFilter(admin.SimpleListFilter):
    title = gettext_lazy("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return (("yes", _("Overdue")), ("no", _("Not overdue")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return erasure.overdue(queryset)
        if self.value() == "no":
            return queryset.exclude(pk__in=erasure.overdue(queryset).values("pk"))
        return queryset


@admin.register(ErasureRequest)
class ErasureRequestAdmin(EnterpriseScopedAdmin):
    list_display = ("member", "mode", "state", "received", "due", "erased_count", "enterprise")
    list_select_related = ("member", "enterprise")
    list_filter = (
        OverdueFilter,
        "state",
        "mode",
        ("enterprise", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("member__name", "member__employee_number")
    date_hierarchy = "received_at"
    list_per_page = 50
    autocomplete_fields = ("member",)
    fields = (
        "enterprise",
        "member",
        "mode",
        "chosen_categories",
        "level",
        "state",
        "received",
        "due",
        "requested_by_name",
        "evaluated",
        "decided",
        "refusal_reason",
        "erased_count",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ("compliance/admin.css",)}

    # Columns and read-only fields: times in the request's enterprise time zone.

    @admin.display(description=gettext_lazy("received at"), ordering="received_at")
    def received(self, erasure_request):
        return self._local(erasure_request.received_at, erasure_request)

    @admin.display(description=gettext_lazy("evaluated at"), ordering="evaluated_at")
    def evaluated(self, erasure_request):
        return self._local(erasure_request.evaluated_at, erasure_request)

    @admin.display(description=gettext_lazy("decided at"), ordering="decided_at")
    def decided(self, erasure_request):
        return self._local(erasure_request.decided_at, erasure_request)

    def _local(self, moment, erasure_request):
        if moment is None:
            return self.get_empty_value_display()
        return _in_time_zone(moment, erasure_request.enterprise)

    @admin.display(description=gettext_lazy("due on"), ordering="due_on")
    def due(self, erasure_request):
        return _due(erasure_request)

    @admin.display(description=gettext_lazy("recorded by"))
    def requested_by_name(self, erasure_request):
        return person_name(erasure_request.requested_by)

    @admin.display(description=gettext_lazy("categories"))
    def chosen_categories(self, erasure_request):
        labels = dict(RecordCategory.choices)
        return ", ".join(str(labels.get(value, value)) for value in erasure_request.categories)

    # Permissions: a request is a record. The add page is `receive`; it changes only through the
    # buttons (the doors), and is never deleted.

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False  # the page is read-only; its buttons are the doors
        return super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def _may_act(self, request, erasure_request) -> bool:
        return super().has_change_permission(request, erasure_request) and erasure.may_act(
            request.user, erasure_request
        )

    # The add page: recording a request

    def get_fields(self, request, obj=None):
        if obj is not None:
            # Only what this request has: its mode's choice, its refusal. (Its blockers are in
            # the panel above the fields.)
            hidden = set()
            if obj.mode != ErasureMode.MODULES:
                hidden.add("chosen_categories")
            if obj.mode != ErasureMode.LEVELS:
                hidden.add("level")
            if obj.state != ErasureState.REFUSED:
                hidden.add("refusal_reason")
            return [field for field in self.fields if field not in hidden]
        modes = self._modes(request)
        fields = ["member"]
        if ErasureMode.MODULES in modes:
            fields.append("categories")
        if ErasureMode.LEVELS in modes:
            fields.append("level")
        return fields

    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return super().get_fieldsets(request, obj)
        description = format_html_join(
            "",
            "<p>{}</p>",
            (
                (
                    _("%(enterprise)s erases in the mode: %(mode)s.")
                    % {
                        "enterprise": enterprise.name,
                        "mode": enterprise.get_erasure_mode_display(),
                    },
                )
                for enterprise in self._enterprises(request)
            ),
        )
        return ((None, {"fields": self.get_fields(request), "description": description}),)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type(
                "ErasureRequestAddForm", (ErasureRequestAddForm,), {"actor": request.user}
            )
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        # Members are added and edited on their own pages, not from a request's form.
        if isinstance(getattr(formfield, "widget", None), RelatedFieldWidgetWrapper):
            formfield.widget.can_add_related = False
            formfield.widget.can_change_related = False
        return formfield

    def _enterprises(self, request):
        return list(self.enterprises_where(request, "add").order_by("name")[:20])

    def _modes(self, request) -> set[str]:
        return {enterprise.erasure_mode for enterprise in self._enterprises(request)}

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied  # unreachable: the change page is read-only
        received = erasure.receive(
            form.cleaned_data["member"],
            actor=request.user,
            categories=form.cleaned_data.get("categories") or [],
            level=form.cleaned_data.get("level") or "",
        )
        obj.pk = received.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # receive wrote everything

    def response_add(self, request, obj, post_url_continue=None):
        messages.success(
            request,
            _("The erasure request of %(member)s is recorded; it is due on %(date)s.")
            % {"member": obj.member.name, "date": formats.date_format(obj.due_on)},
        )
        return HttpResponseRedirect(self._change_url(obj))

    # The change page: the request where it stands, and its buttons

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not add:
            may_act = self._may_act(request, obj)
            context.update(
                {
                    "erasure_panel": True,
                    "overdue": erasure.is_overdue(obj),
                    "due": _due(obj),
                    "blockers": [erasure.describe(blocker) for blocker in obj.blockers],
                    "restricted_summary": erasure.restricted_summary(obj)
                    if obj.state == ErasureState.RESTRICTED
                    else "",
                    "action_buttons": [
                        {
                            "name": action,
                            "label": ACTION_LABELS[action],
                            "url": self._action_url(action, obj),
                        }
                        for action in (erasure.available_actions(obj) if may_act else ())
                    ],
                    "time_zone": obj.enterprise.time_zone,
                }
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # The buttons' URLs: GET shows a confirmation page, POST runs the door.

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/evaluate/",
                wrap(self.action_view),
                {"action": erasure.EVALUATE},
                name="compliance_erasurerequest_evaluate",
            ),
            path(
                "<path:object_id>/erase-now/",
                wrap(self.action_view),
                {"action": erasure.ERASE_NOW},
                name="compliance_erasurerequest_erase_now",
            ),
            path(
                "<path:object_id>/refuse/",
                wrap(self.action_view),
                {"action": erasure.REFUSE},
                name="compliance_erasurerequest_refuse",
            ),
            *super().get_urls(),
        ]

    def action_view(self, request, object_id, action):
        erasure_request = self.get_object(request, unquote(object_id))
        if erasure_request is None:
            raise Http404(_("There is no such erasure request."))
        if not self._may_act(request, erasure_request):
            raise PermissionDenied
        member_name = erasure_request.member.name
        form = RefusalForm(request.POST or None) if action == erasure.REFUSE else None
        if request.method == "POST":
            if form is None or form.is_valid():
                try:
                    erasure_request = self._run(action, erasure_request, request, form)
                except ComplianceRefused as refusal:
                    if form is None:
                        messages.error(request, str(refusal))
                        return HttpResponseRedirect(self._change_url(erasure_request))
                    field = refusal.field if refusal.field in form.fields else None
                    form.add_error(field, str(refusal))
                else:
                    messages.success(request, self._done(action, erasure_request))
                    return HttpResponseRedirect(self._change_url(erasure_request))
        elif action not in erasure.available_actions(erasure_request):
            messages.error(
                request,
                _("“%(action)s” is not open on this erasure request now: it is %(state)s.")
                % {
                    "action": ACTION_LABELS[action],
                    "state": erasure_request.get_state_display(),
                },
            )
            return HttpResponseRedirect(self._change_url(erasure_request))
        request.current_app = self.admin_site.name
        response = TemplateResponse(
            request,
            f"{TEMPLATES}/confirm.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": erasure_request,
                "change_url": self._change_url(erasure_request),
                "title": _("%(action)s: %(request)s")
                % {"action": ACTION_LABELS[action], "request": erasure_request},
                "action": ACTION_LABELS[action],
                "action_name": action,
                "question": ACTION_QUESTIONS[action] % {"member": member_name},
                "blockers": [erasure.describe(b) for b in erasure.blockers(erasure_request)]
                if action != erasure.REFUSE
                else [],
                "scope": erasure.records_in_scope(erasure_request).count()
                if action != erasure.REFUSE
                else None,
                # What the button would erase and keep now, by category (evaluate, erase now).
                "preview": _preview(erasure_request) if action != erasure.REFUSE else None,
                "form": form,
            },
        )
        with timezone.override(erasure_request.enterprise.time_zone):
            return response.render()

    def _run(self, action, erasure_request, request, form):
        if action == erasure.EVALUATE:
            return erasure.evaluate(erasure_request, actor=request.user)
        if action == erasure.ERASE_NOW:
            return erasure.erase_now(erasure_request, actor=request.user)
        return erasure.refuse(
            erasure_request, actor=request.user, reason=form.cleaned_data["reason"]
        )

    def _done(self, action, erasure_request) -> str:
        # The member's name as it is now: an erased account's is gone, and is not repeated here.
        member_name = (
            Member.objects.filter(pk=erasure_request.member_id).values_list("name", flat=True).get()
        )
        message = ACTION_DONE[action] % {
            "member": member_name,
            "state": erasure_request.get_state_display(),
        }
        if erasure_request.state == ErasureState.ERASED:
            count = erasure_request.erased_count
            message += " " + ngettext(
                "%(count)d record was erased.", "%(count)d records were erased.", count
            ) % {"count": count}
        elif erasure_request.state == ErasureState.RESTRICTED:
            message += " " + " ".join(
                [erasure.describe(blocker) for blocker in erasure_request.blockers]
                + [erasure.restricted_summary(erasure_request)]
            )
        return message

    def _change_url(self, erasure_request) -> str:
        return reverse("admin:compliance_erasurerequest_change", args=[quote(erasure_request.pk)])

    def _action_url(self, action, erasure_request) -> str:
        # The URL names end in the action's name (see get_urls).
        return reverse(
            f"admin:compliance_erasurerequest_{action}", args=[quote(erasure_request.pk)]
        )


def _preview(erasure_request) -> dict:
    """What evaluating (or erasing) the request would do if run now, read-only: per category, the
    records in scope, those erased at once and those the law keeps; whether the account (name,
    free texts, login) goes too. A legal hold keeps everything; a statutory floor keeps its
    records and the rest is erased at once (compliance/erasure.py `_erase_unkept`)."""
    enterprise = erasure_request.enterprise
    found = erasure.blockers(erasure_request)
    held = any(blocker["code"] == erasure.LEGAL_HOLD for blocker in found)
    scope = erasure.records_in_scope(erasure_request)
    today = holds.local_today(enterprise)
    kept_condition = within_floors(enterprise, today=today)
    totals = dict(scope.order_by().values_list("category").annotate(n=Count("pk")))
    kept = (
        totals
        if held
        else dict(
            scope.filter(kept_condition).order_by().values_list("category").annotate(n=Count("pk"))
        )
    )
    rows = [
        {
            "category": RecordCategory(category).label,
            "total": totals[category],
            "kept": kept.get(category, 0),
            "erased": totals[category] - kept.get(category, 0),
        }
        for category in RecordCategory.values
        if totals.get(category)
    ]
    if erasure_request.mode == ErasureMode.LEVELS and erasure_request.level:
        how = ErasureLevel(erasure_request.level).label
    else:
        how = ErasureLevel.DELETE.label
    return {
        "rows": rows,
        "erased": sum(row["erased"] for row in rows),
        "kept": sum(row["kept"] for row in rows),
        "held": held,
        "how": how,
        "account": erasure_request.mode == ErasureMode.ACCOUNT and not held,
    }


class RefusalForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why the request is refused"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("The member is given this reason."),
    )
