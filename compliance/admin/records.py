"""Work records, their sealed reads and their exports in the admin (C-1, C-3, C-6).

- Work records are read-only here: they change only through the services (sealing, retention,
  erasure). The change page never shows sealed bytes ("sealed on …" instead) and shows content
  only while a record is unsealed. A restricted record (an erasure request keeps it only while a
  statutory floor or a legal hold applies) shows no content at all, sealed or not, only why; its
  sealed content cannot be read and it cannot be exported. The list never loads any content.
- "Read sealed content" (`<id>/sealed/`): GET asks, saying the read is recorded in the audit
  trail; POST reads it (`sealing.read_sealed`, audited) and shows the plaintext on the page only,
  never stored and never cached. Only for users who may read sealed records in the record's
  enterprise (`sealing.may_read_sealed`); others get 403, another enterprise's record is 404.
- The action "Export records (CSV/JSON)" asks for the format and, across regions, the legal basis,
  then calls `exports.export_records`: one member's records per export.
- Record exports: read-only records of who exported what, when, and on which legal basis.

Behind `EnterpriseScopedAdmin`, like every admin of an enterprise's rows. Neither model keeps a
django-simple-history table (a copy of a record's plaintext would outlive its seal), so their
history pages are Django's own log and there are no past versions to show.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.models import Member
from directory.tenancy import grants_for, roles_with_permission

from .. import crypto, exports, sealing
from ..choices import ExportFormat, RecordCategory
from ..exceptions import ComplianceRefused
from ..models import RecordExport, WorkRecord
from .base import WithoutHistoryAdmin


class SealedFilter(admin.SimpleListFilter):
    title = gettext_lazy("sealed")
    parameter_name = "sealed"

    def lookups(self, request, model_admin):
        return (("yes", _("Sealed")), ("no", _("Not sealed")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(sealed_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(sealed_at__isnull=True)
        return queryset


class AnonymizedFilter(admin.SimpleListFilter):
    title = gettext_lazy("anonymized")
    parameter_name = "anonymized"

    def lookups(self, request, model_admin):
        return (("yes", _("Anonymized")), ("no", _("Not anonymized")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(anonymized_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(anonymized_at__isnull=True)
        return queryset


class RestrictedFilter(admin.SimpleListFilter):
    title = gettext_lazy("restricted")
    parameter_name = "restricted"

    def lookups(self, request, model_admin):
        return (("yes", _("Restricted")), ("no", _("Not restricted")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(restricted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(restricted_at__isnull=True)
        return queryset


class ExportForm(forms.Form):
    """The export's questions; its rules are `exports.check_export`'s."""

    format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=ExportFormat.choices,
        initial=ExportFormat.CSV,
        widget=forms.RadioSelect,
    )
    legal_basis = forms.CharField(
        label=gettext_lazy("Legal basis"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Required when the records leave the enterprise's home region: "
            "the consent, contract or assessment the transfer rests on. Kept with the export."
        ),
    )


@admin.register(WorkRecord)
class WorkRecordAdmin(WithoutHistoryAdmin):
    list_display = (
        "__str__",
        "owner_shown",
        "category",
        "document_type",
        "created_at",
        "data_region",
        "is_sealed",
        "is_anonymized",
        "is_restricted",
    )
    list_select_related = ("owner",)
    # Per enterprise, newest first, read from the (enterprise, -created_at, -id) index.
    ordering = ("enterprise_id", "-created_at", "-id")
    list_filter = (
        "category",
        "document_type",
        "data_region",
        SealedFilter,
        AnonymizedFilter,
        RestrictedFilter,
        "created_at",
    )
    search_fields = ("owner__name", "=owner__employee_number")
    # Counting every record of a large enterprise twice per page is slow; once is enough.
    show_full_result_count = False
    actions = ("export_selected",)
    fields = (
        "enterprise",
        "owner_shown",
        "category",
        "document_type",
        "created_at",
        "data_region",
        "content_shown",
        "anonymized_at",
        "restricted_at",
    )
    readonly_fields = fields

    @admin.display(description=gettext_lazy("owner"), ordering="owner__name")
    def owner_shown(self, record):
        if record.owner_id is not None:
            return record.owner
        return record.owner_pseudonym or "—"

    @admin.display(description=gettext_lazy("sealed"), boolean=True, ordering="sealed_at")
    def is_sealed(self, record):
        # sealed_at, not the sealed bytes: the list never loads those (see get_queryset).
        return record.sealed_at is not None

    @admin.display(description=gettext_lazy("anonymized"), boolean=True, ordering="anonymized_at")
    def is_anonymized(self, record):
        return record.anonymized_at is not None

    @admin.display(description=gettext_lazy("restricted"), boolean=True, ordering="restricted_at")
    def is_restricted(self, record):
        return record.restricted_at is not None

    @admin.display(description=gettext_lazy("content"))
    def content_shown(self, record):
        # A restricted record is stored, never used: not even its plaintext, if unsealed.
        if record.restricted_at is not None:
            return sealing.restricted_message()
        # Never the sealed bytes: whoever may read them asks on the "Read sealed content" page.
        if record.is_sealed:
            if record.sealed_at is None:
                return _("Sealed.")
            return _("Sealed on %(date)s.") % {
                "date": formats.date_format(timezone.localtime(record.sealed_at), "DATETIME_FORMAT")
            }
        return record.content or "—"

    def get_queryset(self, request):
        # The list never loads the content, sealed or not: it shows none of it.
        queryset = super().get_queryset(request)
        if getattr(request, "resolver_match", None) and request.resolver_match.url_name == (
            "compliance_workrecord_changelist"
        ):
            queryset = queryset.defer("content", "sealed_content")
        return queryset

    # Read sealed content: GET asks, POST reads (audited) and shows it.

    def get_urls(self):
        return [
            path(
                "<path:object_id>/sealed/",
                self.admin_site.admin_view(self.sealed_view),
                name="compliance_workrecord_sealed",
            ),
            *super().get_urls(),
        ]

    def sealed_view(self, request, object_id):
        record = self.get_object(request, unquote(object_id))
        if record is None:
            raise Http404(_("There is no such work record."))
        if not sealing.may_read_sealed(request.user, record):
            raise PermissionDenied
        change_url = reverse("admin:compliance_workrecord_change", args=[record.pk])
        if not record.is_sealed:
            messages.info(request, _("This record is not sealed: its content is on its page."))
            return HttpResponseRedirect(change_url)
        if record.owner_id is None:
            messages.error(request, _("This record was anonymized: its content is gone."))
            return HttpResponseRedirect(change_url)
        if record.restricted_at is not None:
            messages.error(request, sealing.restricted_message())
            return HttpResponseRedirect(change_url)
        plaintext = None
        if request.method == "POST":
            try:
                plaintext = sealing.read_sealed(record, actor=request.user)
            except ComplianceRefused as refusal:
                messages.error(request, str(refusal))
                return HttpResponseRedirect(change_url)
            except crypto.SealBroken:
                messages.error(
                    request,
                    _(
                        "This record's sealed content does not decrypt: it was altered or moved "
                        "from another record."
                    ),
                )
                return HttpResponseRedirect(change_url)
        request.current_app = self.admin_site.name
        response = TemplateResponse(
            request,
            "admin/compliance/workrecord/sealed.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": record,
                "title": _("Read sealed content"),
                "change_url": change_url,
                "plaintext": plaintext,
            },
        )
        # The plaintext is shown, never kept: not by a cache, not by the browser's.
        add_never_cache_headers(response)
        patch_cache_control(response, no_store=True)
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if (
            obj is not None
            and obj.is_sealed
            and obj.restricted_at is None
            and sealing.may_read_sealed(request.user, obj)
        ):
            context["sealed_url"] = reverse("admin:compliance_workrecord_sealed", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Export: an intermediate page asks the format and the legal basis; one member per export.

    def has_export_permission(self, request):
        return grants_for(request.user).has_any(roles_with_permission(exports.EXPORT_PERMISSION))

    @admin.action(
        description=gettext_lazy("Export records (CSV/JSON)"),
        permissions=("view", "export"),
    )
    def export_selected(self, request, queryset):
        owners = list(queryset.order_by().values_list("owner_id", flat=True).distinct()[:2])
        if None in owners:
            self.message_user(
                request,
                _("Anonymized records belong to no member any more: they cannot be exported."),
                messages.ERROR,
            )
            return None
        if len(owners) != 1:
            self.message_user(
                request,
                _("Select the records of one member: an export holds one member's records."),
                messages.ERROR,
            )
            return None
        member = Member.objects.select_related("enterprise").get(pk=owners[0])
        form = ExportForm(request.POST if "post" in request.POST else None)
        try:
            check = exports.plan_export(member, queryset, actor=request.user)
        except ComplianceRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return None
        if form.is_bound and form.is_valid():
            try:
                export, content, filename = exports.export_records(
                    member,
                    queryset,
                    actor=request.user,
                    format=form.cleaned_data["format"],
                    legal_basis=form.cleaned_data["legal_basis"],
                )
            except ComplianceRefused as refusal:
                field = refusal.field if refusal.field in form.fields else None
                form.add_error(field, str(refusal))
            else:
                content_type = (
                    "text/csv; charset=utf-8"
                    if export.format == ExportFormat.CSV
                    else "application/json; charset=utf-8"
                )
                response = HttpResponse(content, content_type=content_type)
                response["Content-Disposition"] = content_disposition_header(
                    as_attachment=True, filename=filename
                )
                add_never_cache_headers(response)
                patch_cache_control(response, no_store=True)
                return response
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/compliance/workrecord/export.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Export records"),
                "form": form,
                "member": member,
                "check": check,
                "action_name": "export_selected",
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "may_read_sealed": request.user.has_perm(
                    "compliance.view_sealed_workrecord", member
                ),
            },
        )


@admin.register(RecordExport)
class RecordExportAdmin(WithoutHistoryAdmin):
    """What was exported, by whom, when, and on which legal basis: written only by
    `exports.export_records`."""

    list_display = (
        "member",
        "exported_by_name",
        "exported_at",
        "format",
        "record_count",
        "cross_border",
    )
    list_select_related = ("member", "exported_by")
    list_filter = ("format", "cross_border", "exported_at")
    search_fields = ("member__name", "=member__employee_number")
    fields = (
        "enterprise",
        "member",
        "exported_by_name",
        "exported_at",
        "format",
        "category_names",
        "record_count",
        "cross_border",
        "legal_basis",
    )
    readonly_fields = fields

    @admin.display(description=gettext_lazy("categories"))
    def category_names(self, export):
        """The exported categories by their names ("Chat"), not the stored codes."""
        labels = dict(RecordCategory.choices)
        names = [str(labels.get(code, code)) for code in export.categories or []]
        return ", ".join(names) or "—"

    @admin.display(description=gettext_lazy("exported by"), ordering="exported_by__username")
    def exported_by_name(self, export):
        user = export.exported_by
        if user is None:
            return "—"
        return user.get_full_name() or user.get_username()
