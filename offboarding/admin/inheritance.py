"""The handovers of leaving members' resources (离职继承) in the admin: read-only records.

They are written only by offboarding/inheritance.py, through the exit page's buttons; here HR, IT
and Compliance look them up (by member, status, resource type), and HR records a customer's
refusal of a waiting contact (`inheritance.refuse_item`) from the item's page. Nobody adds,
changes or deletes one, the superuser included: a batch goes with its exit. Both stand behind
`EnterpriseScopedAdmin`; an item reaches its enterprise through its batch.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.admin import ReadOnlyRecordAdmin

from .. import inheritance, rules
from ..choices import InheritanceStatus
from ..exceptions import ExitRefused
from ..models import InheritanceBatch, InheritanceItem
from ..selectors import person_name


@admin.register(InheritanceBatch)
class InheritanceBatchAdmin(ReadOnlyRecordAdmin):
    list_display = ("from_member", "exit_case", "created_at", "handed_over_by", "undone_at")
    list_select_related = ("from_member", "exit_case__member", "created_by")
    list_filter = (("undone_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("from_member__name",)
    date_hierarchy = "created_at"
    fields = (
        "enterprise",
        "exit_case",
        "from_member",
        "handed_over_by",
        "created_at",
        "successors",
        "undone_at",
    )
    readonly_fields = fields

    @admin.display(description=gettext_lazy("handed over by"))
    def handed_over_by(self, batch):
        return person_name(batch.created_by)


@admin.register(InheritanceItem)
class InheritanceItemAdmin(ReadOnlyRecordAdmin):
    enterprise_lookup = "batch__enterprise_id"

    list_display = (
        "resource",
        "resource_type",
        "from_member",
        "successor",
        "status",
        "settles_at",
    )
    list_select_related = ("batch__from_member", "successor")
    list_filter = ("status", "resource_type")
    search_fields = ("batch__from_member__name", "successor__name")
    fields = (
        "batch",
        "resource_type",
        "resource",
        "successor",
        "status",
        "settles_at",
        "refusal_reason",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        # The object permissions ask the item's enterprise, which is its batch's; each row names
        # its resource (the customer…), read in the same query. (A select_related here makes the
        # changelist skip list_select_related: the columns' relations are named here too.)
        return inheritance.with_resource_names(
            super()
            .get_queryset(request)
            .select_related("batch__exit_case", *self.list_select_related)
        )

    @admin.display(description=gettext_lazy("resource"), ordering="resource_name")
    def resource(self, item):
        """The customer (group, app…) by name, linked to its own page."""
        if item.resource_name is None:
            return _("%(type)s #%(id)s (no longer exists)") % {
                "type": item.get_resource_type_display(),
                "id": item.resource_id,
            }
        model = item.resource_model
        url = reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_change",
            args=[item.resource_id],
        )
        return format_html('<a href="{}">{}</a>', url, item.resource_name)

    @admin.display(description=gettext_lazy("leaving member"), ordering="batch__from_member__name")
    def from_member(self, item):
        return item.batch.from_member

    # A customer declined (WeCom: within the acceptance period): HR records it, with a reason.

    def get_urls(self):
        return [
            path(
                "<path:object_id>/refuse/",
                self.admin_site.admin_view(self.refuse_view),
                name="offboarding_inheritanceitem_refuse",
            ),
            *super().get_urls(),
        ]

    def refuse_view(self, request, object_id):
        item = self.get_object(request, unquote(object_id))
        if item is None:
            raise Http404(_("There is no such inherited resource."))
        if not rules.is_hr.test(request.user, item.batch.exit_case):
            raise PermissionDenied
        form = RefusalForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                inheritance.refuse_item(
                    item, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except ExitRefused as refusal:
                messages.error(request, str(refusal))
            else:
                messages.success(
                    request,
                    _("The customer's refusal is recorded: %(item)s is kept as a lost customer.")
                    % {"item": item},
                )
            return HttpResponseRedirect(self._change_url(item))
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/offboarding/inheritanceitem/refuse.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": item,
                "form": form,
                "title": _("Record the customer's refusal"),
                "change_url": self._change_url(item),
            },
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if (
            obj is not None
            and obj.status == InheritanceStatus.WAITING
            and rules.is_hr.test(request.user, obj.batch.exit_case)
        ):
            context["refuse_url"] = reverse(
                "admin:offboarding_inheritanceitem_refuse", args=[obj.pk]
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _change_url(self, item) -> str:
        return reverse("admin:offboarding_inheritanceitem_change", args=[item.pk])


class RefusalForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why the customer declined"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("The contact stays with the successor as a lost customer."),
    )
