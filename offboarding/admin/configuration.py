"""Each enterprise's approval chain and checklist template in the admin."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext as _

from directory.admin import EnterpriseScopedAdmin

from .. import services
from ..choices import DEFAULT_APPROVAL_CHAIN, DEFAULT_CHECKLIST
from ..models import ApprovalChainStep, ChecklistTemplateItem
from .forms import CopyDefaultChecklistForm


class EnterpriseTemplateAdmin(EnterpriseScopedAdmin):
    """Rows an enterprise configures, edited in place on the changelist."""

    list_select_related = ("enterprise",)
    list_per_page = 100
    # The chain and the checklist are HR's to configure; rows are edited in place on the list,
    # and the list's form edits every row it shows: to someone who may change rows somewhere the
    # list shows only the enterprises where they may (HR), to the others where they may look.

    def get_queryset(self, request):
        action = "change" if super().has_change_permission(request) else "view"
        return self.scope(request, super().get_queryset(request), action)

    def enterprises_without_rows(self, request):
        """The user's enterprises that have no row of this model (they use the default)."""
        rows = self.model.objects.filter(enterprise=OuterRef("pk"))
        return list(
            self.enterprises_where(request, "change")
            .filter(~Exists(rows))
            .only("pk", "name")
            .order_by("name")[:50]
        )


@admin.register(ApprovalChainStep)
class ApprovalChainStepAdmin(EnterpriseTemplateAdmin):
    list_display = ("__str__", "position", "approver", "enterprise")
    list_editable = ("position", "approver")
    list_filter = (("enterprise", admin.RelatedOnlyFieldListFilter), "approver")
    ordering = ("enterprise__name", "position")
    search_fields = ("enterprise__name",)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "default_chain": [approver.label for approver in DEFAULT_APPROVAL_CHAIN],
            "enterprises_on_default": self.enterprises_without_rows(request),
        }
        return super().changelist_view(request, extra_context)


@admin.register(ChecklistTemplateItem)
class ChecklistTemplateItemAdmin(EnterpriseTemplateAdmin):
    list_display = ("code", "position", "title", "team", "auto_check", "enterprise")
    list_editable = ("position", "title", "team", "auto_check")
    list_filter = (("enterprise", admin.RelatedOnlyFieldListFilter), "team")
    ordering = ("enterprise__name", "position")
    search_fields = ("code", "title", "enterprise__name")

    def get_urls(self):
        return [
            path(
                "copy-default/",
                self.admin_site.admin_view(self.copy_default_view),
                name="offboarding_checklisttemplateitem_copy_default",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "default_size": len(DEFAULT_CHECKLIST),
            "enterprises_on_default": self.enterprises_without_rows(request),
            "may_copy_default": self.has_add_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def copy_default_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CopyDefaultChecklistForm(request.POST, user=request.user)
        changelist = reverse("admin:offboarding_checklisttemplateitem_changelist")
        if not form.is_valid():
            raise Http404(_("There is no such enterprise."))
        enterprise = form.cleaned_data["enterprise"]
        created = services.copy_default_checklist(enterprise, actor=request.user)
        if created:
            messages.success(
                request,
                _("%(enterprise)s now has its own checklist: the %(count)d default items.")
                % {"enterprise": enterprise, "count": created},
            )
        else:
            messages.warning(
                request,
                _("%(enterprise)s already has checklist items; nothing was copied.")
                % {"enterprise": enterprise},
            )
        return HttpResponseRedirect(f"{changelist}?enterprise__id__exact={enterprise.pk}")
