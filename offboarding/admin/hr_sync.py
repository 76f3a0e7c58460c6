"""HR sync (J-5) in the admin: the terminations received, their CSV import, the API tokens.

- `HRTerminationAdmin`: read-only records (written by offboarding/hr_sync.py only), with the CSV
  import of django-import-export. Its two steps — the upload with its preview, then the confirm —
  both go through `hr_sync`: the preview is `hr_sync.check` (nothing written), the confirm is
  `hr_sync.receive`, which validates the whole file again and writes all of it or nothing. Bad
  rows are listed by their line in the file (the header is line 1); no confirm button is offered
  while there is one, and a confirm posted anyway is refused.
- The import's views are ours to guard (django-import-export lets every staff user import by
  default): only a user who may add terminations in some enterprise (HR) may open them; the rows
  go into the enterprise they choose among those where they are HR, checked again at the confirm;
  the confirm takes only a file this session previewed.
- Uploads are bounded: a file larger than HR_IMPORT_MAX_UPLOAD_SIZE is refused on the form (the
  form says the limit). A previewed file waits for its confirm in the cache
  (`directory.previewed_import.PreviewedFileStorage`, IMPORT_EXPORT_TMP_STORAGE_CLASS), never in the
  system's temporary folder: it is removed at the confirm, removed at once when the preview offers
  no confirm (errors), and otherwise gone by itself after HR_IMPORT_PREVIEW_TIMEOUT.
- `DirectorySyncRecordAdmin`: the rows `POST /api/hr/directory` received (joiners, movers,
  leavers), read-only: written by offboarding/directory_sync.py only.
- `HRSyncTokenAdmin`: "add" creates a token (`hr_sync.create_token`) and shows it once; its page
  offers "Revoke" (POST, `hr_sync.revoke_token`). Only the hash is stored.

Both stand behind `EnterpriseScopedAdmin`, the tenant wall.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import resources
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV
from import_export.forms import ConfirmImportForm, ImportForm
from import_export.results import Error, Result, RowResult

from directory.admin import EnterpriseScopedAdmin, ReadOnlyRecordAdmin
from directory.models import Enterprise
from directory.previewed_import import PreviewedImportMixin

from .. import hr_sync
from ..choices import TerminationSource
from ..models import DirectorySyncRecord, HRSyncToken, HRTermination
from ..selectors import person_name


class FileRefused(Exception):
    """A file refused as a whole (no rows, a column missing, too many rows)."""


class HRTerminationResource(resources.Resource):
    """The CSV columns: employee_number, last_working_day (YYYY-MM-DD), reason (optional),
    external_id — any order, any case, spaces for underscores; other columns are ignored.

    Not a ModelResource: rows are never saved one by one. `import_data` hands the whole file to
    `hr_sync.check` (dry run: the preview) or `hr_sync.receive` (the confirm), and turns its answer
    into django-import-export's Result for the import page."""

    def __init__(self, *, enterprise=None, user=None, **kwargs):
        super().__init__(**kwargs)
        self.enterprise = enterprise
        self.user = user

    @classmethod
    def get_display_name(cls):
        return _("HR terminations")

    def get_user_visible_fields(self):
        return [resources.Field(column_name=name) for name in hr_sync.FIELDS]

    def import_data(self, dataset, dry_run=False, raise_errors=False, **kwargs):
        result = Result()
        result.diff_headers = list(hr_sync.FIELDS)
        result.total_rows = len(dataset)
        if self.enterprise is None:  # the admin always passes one; refuse rather than guess
            result.append_base_error(Error(FileRefused(_("Choose the enterprise first."))))
            return result
        try:
            rows = _rows_of(dataset)
        except FileRefused as refusal:
            result.append_base_error(Error(refusal))
            return result
        if dry_run:
            received = hr_sync.check(self.enterprise, rows)
        else:
            received = hr_sync.receive(
                self.enterprise, rows, source=TerminationSource.CSV, actor=self.user
            )
        if received.error:
            result.append_base_error(Error(FileRefused(received.error)))
            return result
        for outcome, row in zip(received.rows, rows, strict=True):
            row_result = RowResult()
            row_result.diff = [row.get(name) or "" for name in hr_sync.FIELDS]
            line = outcome.index + 2  # the file's line: the header is line 1
            if outcome.status == hr_sync.INVALID:
                row_result.import_type = RowResult.IMPORT_TYPE_INVALID
                row_result.validation_error = _validation_error(outcome)
                result.append_invalid_row(line, row, row_result.validation_error)
            elif outcome.status == hr_sync.ALREADY_RECEIVED:
                row_result.import_type = RowResult.IMPORT_TYPE_SKIP
            else:
                row_result.import_type = RowResult.IMPORT_TYPE_NEW
            if outcome.termination is not None and outcome.termination.pk:
                row_result.object_id = outcome.termination.pk
                row_result.object_repr = str(outcome.termination)
            result.increment_row_result_total(row_result)
            result.append_row_result(row_result)
        return result


def _normalized(header) -> str:
    return str(header or "").strip().lower().replace(" ", "_").replace("-", "_")


def _rows_of(dataset) -> list[dict]:
    headers = [_normalized(header) for header in (dataset.headers or [])]
    missing = [name for name in hr_sync.REQUIRED if name not in headers]
    if missing:
        raise FileRefused(
            _("The file has no column %(columns)s. Its first line must name the columns: %(all)s.")
            % {"columns": ", ".join(missing), "all": ", ".join(hr_sync.FIELDS)}
        )
    if not len(dataset):
        raise FileRefused(_("The file has no rows under its header."))
    if len(dataset) > hr_sync.MAX_ROWS:
        raise FileRefused(
            _("A file can hold at most %(max)d terminations; split it.") % {"max": hr_sync.MAX_ROWS}
        )
    position = {name: headers.index(name) for name in hr_sync.FIELDS if name in headers}
    rows = []
    for values in dataset:
        row = {}
        for name in hr_sync.FIELDS:
            value = values[position[name]] if name in position else ""
            row[name] = "" if value is None else value
        rows.append(row)
    return rows


def _validation_error(outcome) -> forms.ValidationError:
    errors = {
        (forms.forms.NON_FIELD_ERRORS if name == "__all__" else name): messages
        for name, messages in outcome.errors.items()
    }
    return forms.ValidationError(errors)


class HRImportForm(ImportForm):
    """The upload: the file, and the enterprise it is for (among those where the user is HR)."""

    enterprise = forms.ModelChoiceField(
        queryset=Enterprise.objects.none(), label=gettext_lazy("enterprise")
    )
    field_order = ["enterprise", "resource", "import_file", "format"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["import_file"].help_text = _("At most %(size)s.") % {
            "size": filesizeformat(settings.HR_IMPORT_MAX_UPLOAD_SIZE)
        }

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        limit = settings.HR_IMPORT_MAX_UPLOAD_SIZE
        if upload is not None and upload.size > limit:
            raise forms.ValidationError(
                _("This file is %(size)s; the import takes at most %(max)s: split it.")
                % {"size": filesizeformat(upload.size), "max": filesizeformat(limit)}
            )
        return upload


class HRConfirmImportForm(ConfirmImportForm):
    enterprise = forms.ModelChoiceField(
        queryset=Enterprise.objects.none(), widget=forms.HiddenInput()
    )


@admin.register(HRTermination)
class HRTerminationAdmin(PreviewedImportMixin, ImportMixin, ReadOnlyRecordAdmin):
    previewed_session_key = "offboarding_hr_import_files"

    """Records written by hr_sync only (the import is the "add"), never changed nor deleted."""

    list_display = (
        "external_id",
        "employee_number",
        "member",
        "last_working_day",
        "state",
        "exit_case",
        "source",
        "received_at",
        "enterprise",
    )
    list_select_related = ("member", "exit_case", "enterprise")
    list_filter = ("state", "source", ("enterprise", admin.RelatedOnlyFieldListFilter))
    search_fields = ("external_id", "employee_number", "member__name")
    date_hierarchy = "received_at"
    fields = (
        "enterprise",
        "external_id",
        "employee_number",
        "member",
        "last_working_day",
        "reason",
        "source",
        "received_at",
        "received_by_name",
        "token",
        "state",
        "exit_case",
        "processed_at",
        "error",
        "removal_waits_for",
    )
    readonly_fields = fields

    resource_classes = [HRTerminationResource]
    formats = [CSV]
    import_form_class = HRImportForm
    confirm_form_class = HRConfirmImportForm
    import_template_name = "admin/offboarding/hrtermination/import.html"
    # The audit trail and each row's history record the import; no admin log rows too.
    skip_admin_log = True

    @admin.display(description=gettext_lazy("removal waits for"))
    def removal_waits_for(self, termination):
        # A synced exit is a draft until HR removes the member; a super admin's waits for the
        # super-admin handover (the pre-review's removal step).
        if termination.exit_case is None:
            return "—"
        blockers = hr_sync.removal_blockers(termination.exit_case)
        if not blockers:
            return "—"
        return format_html_join("", "<p>{}</p>", ((blocker.message,) for blocker in blockers))

    @admin.display(description=gettext_lazy("received by"))
    def received_by_name(self, termination):
        return person_name(termination.received_by) if termination.received_by else "—"

    # The import, behind the tenant wall.

    def import_enterprises(self, request):
        """The enterprises the user may import terminations into (where they are HR)."""
        return self.enterprises_where(request, "add").order_by("name")

    def has_import_permission(self, request):
        return EnterpriseScopedAdmin.has_add_permission(self, request)

    def create_import_form(self, request):
        form = super().create_import_form(request)
        enterprises = self.import_enterprises(request)
        form.fields["enterprise"].queryset = enterprises
        if form.initial.get("enterprise") is None:
            only = list(enterprises[:2])
            if len(only) == 1:
                form.initial["enterprise"] = only[0].pk
        return form

    def create_confirm_form(self, request, import_form=None):
        form = super().create_confirm_form(request, import_form)
        form.fields["enterprise"].queryset = self.import_enterprises(request)
        return form

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["enterprise"] = import_form.cleaned_data["enterprise"].pk
        return initial

    def get_import_resource_kwargs(self, request, **kwargs):
        form = kwargs.get("form")
        cleaned = getattr(form, "cleaned_data", None) or {}
        return {"enterprise": cleaned.get("enterprise"), "user": request.user}

    def get_import_data_kwargs(self, **kwargs):
        return {}

    def get_import_context_data(self, **kwargs):
        context = super().get_import_context_data(**kwargs)
        context["max_upload_size"] = filesizeformat(settings.HR_IMPORT_MAX_UPLOAD_SIZE)
        return context

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # The data changed since the preview (another import, a member who left): nothing
            # was written; the errors are shown as in the preview.
            messages.error(request, _("Nothing was imported: the file has errors now."))
            form = self.create_import_form(request)
            request.current_app = self.admin_site.name
            return TemplateResponse(
                request,
                [self.import_template_name],
                {
                    **self.admin_site.each_context(request),
                    "title": _("Import"),
                    "form": form,
                    "opts": self.opts,
                    "media": self.media + form.media,
                    "result": result,
                    "fields_list": [(_("HR terminations"), list(hr_sync.FIELDS))],
                    "import_error_display": self.import_error_display,
                },
            )
        return super().process_result(result, request)

    def add_success_message(self, result, request):
        messages.success(
            request,
            _(
                "%(new)d terminations received, %(already)d received before. The HR sync job "
                "turns the new ones into exits."
            )
            % {
                "new": result.totals[RowResult.IMPORT_TYPE_NEW],
                "already": result.totals[RowResult.IMPORT_TYPE_SKIP],
            },
        )

    def import_url(self) -> str:
        return reverse("admin:offboarding_hrtermination_import")


class HRSyncTokenAddForm(forms.ModelForm):
    class Meta:
        model = HRSyncToken
        fields = ("enterprise", "name")


@admin.register(HRSyncToken)
class HRSyncTokenAdmin(EnterpriseScopedAdmin):
    list_display = (
        "name",
        "enterprise",
        "created_by_name",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_select_related = ("enterprise", "created_by")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name",)
    readonly_fields = (
        "enterprise",
        "name",
        "created_by_name",
        "created_at",
        "last_used_at",
        "revoked_at",
        "revoked_by_name",
    )

    @admin.display(description=gettext_lazy("created by"))
    def created_by_name(self, token):
        return person_name(token.created_by) if token.created_by else "—"

    @admin.display(description=gettext_lazy("revoked by"))
    def revoked_by_name(self, token):
        return person_name(token.revoked_by) if token.revoked_by else "—"

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the terminations it sent point to it

    def get_fields(self, request, obj=None):
        return ("enterprise", "name") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = HRSyncTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        token, raw = hr_sync.create_token(
            form.cleaned_data["enterprise"], name=form.cleaned_data["name"], actor=request.user
        )
        obj.pk = token.pk
        obj.refresh_from_db()
        request._hr_sync_token = raw  # shown once by response_add, never stored

    def save_related(self, request, form, formsets, change):
        pass  # create_token wrote everything

    def log_addition(self, request, obj, message):
        pass  # the audit trail records it

    def response_add(self, request, obj, post_url_continue=None):
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/offboarding/hrsynctoken/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": obj,
                "title": _("HR sync token created"),
                "token": request._hr_sync_token,
                "endpoint": request.build_absolute_uri(reverse("offboarding:api_hr_terminations")),
                "directory_endpoint": request.build_absolute_uri(
                    reverse("offboarding:api_hr_directory")
                ),
                "change_url": self._change_url(obj),
            },
        )

    # Revoke: POST only, by who may change the token in its enterprise.

    def get_urls(self):
        return [
            path(
                "<path:object_id>/revoke/",
                self.admin_site.admin_view(self.revoke_view),
                name="offboarding_hrsynctoken_revoke",
            ),
            *super().get_urls(),
        ]

    def revoke_view(self, request, object_id):
        """GET shows what revoking does; POST revokes."""
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        # Refused before the row is looked up to whoever may revoke no token anywhere (the same
        # answer for every id); a token of an enterprise where the user may not is "not found".
        if not super().has_change_permission(request):
            raise PermissionDenied
        token = self.get_object(request, unquote(object_id))
        if token is None or not request.user.has_perm(self.perm("change"), token):
            raise Http404(_("There is no such HR sync token."))
        if request.method == "GET":
            if token.revoked_at is not None:
                messages.info(
                    request, _("The token “%(name)s” was revoked already.") % {"name": token.name}
                )
                return HttpResponseRedirect(self._change_url(token))
            request.current_app = self.admin_site.name
            return TemplateResponse(
                request,
                "admin/offboarding/hrsynctoken/revoke.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "original": token,
                    "title": _("Revoke the token “%(name)s”?") % {"name": token.name},
                    "change_url": self._change_url(token),
                },
            )
        if hr_sync.revoke_token(token, actor=request.user):
            messages.success(request, _("The token “%(name)s” is revoked.") % {"name": token.name})
        else:
            messages.info(
                request, _("The token “%(name)s” was revoked already.") % {"name": token.name}
            )
        return HttpResponseRedirect(self._change_url(token))

    def has_change_permission(self, request, obj=None):
        # Nothing on a token's page is edited: revoking is its one change, by its own button.
        return False if obj is not None else super().has_change_permission(request)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if (
            obj is not None
            and obj.revoked_at is None
            and request.user.has_perm(self.perm("change"), obj)
        ):
            context["revoke_url"] = reverse("admin:offboarding_hrsynctoken_revoke", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _change_url(self, token) -> str:
        return reverse("admin:offboarding_hrsynctoken_change", args=[token.pk])


@admin.register(DirectorySyncRecord)
class DirectorySyncRecordAdmin(ReadOnlyRecordAdmin):
    """The directory sync's received rows: what each external id was and whom it touched (a
    leaver's termination links to its exit). Written by directory_sync only; never changed nor
    deleted, the superuser included."""

    list_display = (
        "external_id",
        "kind",
        "member",
        "termination",
        "received_at",
        "token",
        "enterprise",
    )
    list_select_related = ("member", "termination", "token", "enterprise")
    list_filter = ("kind", ("enterprise", admin.RelatedOnlyFieldListFilter))
    search_fields = ("external_id", "member__employee_number", "member__name")
    date_hierarchy = "received_at"
    fields = (
        "enterprise",
        "external_id",
        "kind",
        "member",
        "termination",
        "received_at",
        "token",
        "digest",
    )
    readonly_fields = fields
