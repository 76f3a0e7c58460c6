"""The directory import in the admin (Directory → Members → Import): HR's file of departments and
members, through django-import-export's two steps, the rules in directory/importing.py.

- The upload with its preview: `importing.check` (nothing written) — how many rows of each kind,
  which are new, changed or unchanged, and every bad row by its line with each reason. No confirm
  button is offered while a row is bad; the file is then removed at once.
- The confirm: `importing.apply`, which checks the whole file again and writes all of it in one
  transaction, or nothing.
- Notices (stored members' e-mail addresses kept, see importing.check_emails): listed by sheet and
  line under the preview's counts, and repeated in the messages after the confirm.
- While a file is checked or imported (synchronously: a large one takes a while), the form's
  submit button is disabled and a status with an indeterminate progress bar says so
  (static/directory/import_progress.js; no inline script under the Content-Security-Policy).
- The tenant wall: the import's views are ours to guard (django-import-export lets every staff
  user import by default). Only a user who may add and change members and departments in some
  enterprise (HR) may open them; the rows go into the enterprise they choose among those, checked
  again at the confirm (and by the door itself); an enterprise column in the file is ignored. The
  confirm takes only a file this session previewed.
- Uploads are bounded by DIRECTORY_IMPORT_MAX_UPLOAD_SIZE; a previewed file waits for its confirm
  in the cache (IMPORT_EXPORT_TMP_STORAGE_CLASS), never in the system's temporary folder.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from import_export import resources
from import_export.admin import ImportMixin
from import_export.formats import base_formats
from import_export.forms import ConfirmImportForm, ImportForm
from import_export.results import Error, Result

from . import importing
from .models import Enterprise
from .previewed_import import PreviewedImportMixin
from .tenancy import grants_for, roles_with_permission

# The files this session previewed, which its confirm may import (a list in the session).
# How many rows of each list the preview shows (the counts are always whole).
PREVIEW_ROWS = 200
# How many of the import's notices (e-mail addresses kept) the message after the confirm repeats.
MESSAGE_NOTICES = 20


class UploadedFile:
    """What the formats hand the resource: the file's bytes, read by importing.read_tables (which
    decodes CSV itself: UTF-8, then GBK)."""

    def __init__(self, data, file_format: str):
        self.data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        # A workbook uploaded with the CSV format chosen is still read as a workbook.
        self.file_format = "xlsx" if self.data[:4] == b"PK\x03\x04" else file_format

    def __len__(self):
        return len(self.data)


class DirectoryCSV(base_formats.CSV):
    def create_dataset(self, in_stream):
        return UploadedFile(in_stream, "csv")

    def is_binary(self):
        return True  # bytes all the way: the encoding is found by importing.decode_text


class DirectoryXLSX(base_formats.XLSX):
    def create_dataset(self, in_stream):
        return UploadedFile(in_stream, "xlsx")

    @classmethod
    def is_available(cls):
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            return False
        return True

    def can_import(self):
        # Without openpyxl the format is not offered (tablib would refuse it with an exception).
        return self.is_available()

    def can_export(self):
        return False


class DirectoryResource(resources.Resource):
    """Not a ModelResource: rows are never saved one by one. `import_data` hands the whole file to
    `importing.check` (dry run: the preview) or `importing.apply` (the confirm) and turns the
    answer into django-import-export's Result, with the summary for the preview page."""

    def __init__(self, *, enterprise=None, user=None, **kwargs):
        super().__init__(**kwargs)
        self.enterprise = enterprise
        self.user = user

    @classmethod
    def get_display_name(cls):
        return _("Directory (departments and members)")

    def get_user_visible_fields(self):
        return [
            resources.Field(column_name=name)
            for name in dict.fromkeys(
                (
                    *importing.DEPARTMENT_COLUMNS,
                    *importing.MEMBER_COLUMNS,
                    *importing.RESOURCE_COLUMNS,
                )
            )
        ]

    def import_data(self, dataset, dry_run=False, raise_errors=False, **kwargs):
        result = Result()
        result.diff_headers = []
        result.directory_summary = None
        if self.enterprise is None:  # the admin always passes one; refuse rather than guess
            result.append_base_error(
                Error(importing.FileRefused(_("Choose the enterprise first.")))
            )
            return result
        try:
            tables = importing.read_tables(dataset.data, dataset.file_format)
            if dry_run:
                summary = importing.check(self.enterprise, tables)
            else:
                summary = importing.apply(self.enterprise, tables, actor=self.user)
        except importing.FileRefused as refusal:
            result.append_base_error(Error(refusal))
            return result
        except importing.ImportRefused as refusal:
            summary = refusal.summary
        result.directory_summary = summary
        result.total_rows = len(summary.rows)
        for outcome in summary.invalid:
            result.append_invalid_row(
                outcome.line,
                outcome.values,
                forms.ValidationError([forms.ValidationError(e) for e in outcome.errors]),
            )
        return result


class DirectoryImportForm(ImportForm):
    """The upload: the file, and the enterprise it is for (among those where the user is HR)."""

    enterprise = forms.ModelChoiceField(
        queryset=Enterprise.objects.none(), label=gettext_lazy("enterprise")
    )
    field_order = ["enterprise", "resource", "import_file", "format"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["import_file"].help_text = _("At most %(size)s.") % {
            "size": filesizeformat(settings.DIRECTORY_IMPORT_MAX_UPLOAD_SIZE)
        }

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        limit = settings.DIRECTORY_IMPORT_MAX_UPLOAD_SIZE
        if upload is not None and upload.size > limit:
            raise forms.ValidationError(
                _("This file is %(size)s; the import takes at most %(max)s: split it.")
                % {"size": filesizeformat(upload.size), "max": filesizeformat(limit)}
            )
        return upload


class DirectoryConfirmImportForm(ConfirmImportForm):
    enterprise = forms.ModelChoiceField(
        queryset=Enterprise.objects.none(), widget=forms.HiddenInput()
    )


def import_enterprises(user):
    """The enterprises `user` may import the directory into: where they may add and change both
    members and departments (HR)."""
    queryset = Enterprise.objects.all()
    for perm in importing.IMPORT_PERMISSIONS:
        queryset = queryset & Enterprise.objects.where_user_has_perm(user, perm)
    return queryset.order_by("name")


def may_import_somewhere(user) -> bool:
    grants = grants_for(user)
    roles = None
    for perm in importing.IMPORT_PERMISSIONS:
        held = roles_with_permission(perm)
        roles = held if roles is None else roles & held
    return grants.has_any(roles)


class DirectoryImportMixin(PreviewedImportMixin, ImportMixin):
    previewed_session_key = "directory_import_files"

    """The member admin's "Import" button and its two views, behind the tenant wall."""

    resource_classes = [DirectoryResource]
    formats = [DirectoryCSV, DirectoryXLSX]
    import_form_class = DirectoryImportForm
    confirm_form_class = DirectoryConfirmImportForm
    import_template_name = "admin/directory/member/import.html"
    # The audit trail and each row's history record the import; no admin log rows too.
    skip_admin_log = True

    def has_import_permission(self, request):
        return may_import_somewhere(request.user)

    def create_import_form(self, request):
        form = super().create_import_form(request)
        enterprises = import_enterprises(request.user)
        form.fields["enterprise"].queryset = enterprises
        if form.initial.get("enterprise") is None:
            only = list(enterprises[:2])
            if len(only) == 1:
                form.initial["enterprise"] = only[0].pk
        return form

    def create_confirm_form(self, request, import_form=None):
        form = super().create_confirm_form(request, import_form)
        form.fields["enterprise"].queryset = import_enterprises(request.user)
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
        context["max_upload_size"] = filesizeformat(settings.DIRECTORY_IMPORT_MAX_UPLOAD_SIZE)
        context["department_columns"] = importing.DEPARTMENT_COLUMNS
        context["member_columns"] = importing.MEMBER_COLUMNS
        context["resource_columns"] = importing.RESOURCE_COLUMNS
        context["resource_kinds"] = tuple(importing.RESOURCE_KINDS)
        return context

    def import_action(self, request, **kwargs):
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        result = context.get("result")
        if result is not None:
            context.update(_summary_context(result))
        return response

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # The directory changed since the preview (another import, a member who left):
            # nothing was written; the errors are shown as in the preview.
            messages.error(request, _("Nothing was imported: the file has errors now."))
            form = self.create_import_form(request)
            request.current_app = self.admin_site.name
            return TemplateResponse(
                request,
                [self.import_template_name],
                {
                    **self.admin_site.each_context(request),
                    **self.get_import_context_data(),
                    **_summary_context(result),
                    "title": _("Import"),
                    "form": form,
                    "opts": self.opts,
                    "media": self.media + form.media,
                    "result": result,
                    "import_error_display": self.import_error_display,
                },
            )
        return super().process_result(result, request)

    def add_success_message(self, result, request):
        written = result.directory_summary.written
        messages.success(
            request,
            _(
                "Directory imported: %(departments_created)d departments created, "
                "%(departments_updated)d changed; %(members_created)d members created, "
                "%(members_updated)d changed; %(resources_created)d owned resources created, "
                "%(resources_updated)d changed. New members have no password yet: invite them."
            )
            % {
                "departments_created": written.get("departments_created", 0),
                "departments_updated": written.get("departments_updated", 0),
                "members_created": written.get("members_created", 0),
                "members_updated": written.get("members_updated", 0),
                "resources_created": written.get("resources_created", 0),
                "resources_updated": written.get("resources_updated", 0),
            },
        )
        noticed = result.directory_summary.noticed
        for line in notice_lines(noticed[:MESSAGE_NOTICES]):
            messages.warning(request, line)
        if len(noticed) > MESSAGE_NOTICES:
            messages.warning(
                request,
                ngettext(
                    "And %(count)d more e-mail address kept, as the preview listed.",
                    "And %(count)d more e-mail addresses kept, as the preview listed.",
                    len(noticed) - MESSAGE_NOTICES,
                )
                % {"count": len(noticed) - MESSAGE_NOTICES},
            )

    def import_url(self) -> str:
        return reverse("admin:directory_member_import")


def notice_lines(rows) -> list[str]:
    """Each notice of `rows` as one line of text, by its sheet and line."""
    lines = []
    for row in rows:
        for notice in row.notices:
            if row.sheet:
                where = _("Sheet %(sheet)s, line %(line)d") % {"sheet": row.sheet, "line": row.line}
            else:
                where = _("Line %(line)d") % {"line": row.line}
            lines.append(f"{where}: {notice}")
    return lines


def _summary_context(result) -> dict:
    summary = getattr(result, "directory_summary", None)
    if summary is None:
        return {}
    kinds = []
    for kind, label in (
        (importing.DEPARTMENTS, _("Departments")),
        (importing.MEMBERS, _("Members")),
        (importing.RESOURCES, _("Owned resources")),
    ):
        total = summary.total(kind)
        if not total:
            continue
        counts = summary.counts(kind)
        kinds.append(
            {
                "label": label,
                "total": total,
                "new": counts[importing.NEW],
                "changed": counts[importing.CHANGED],
                "unchanged": counts[importing.UNCHANGED],
                "invalid": counts[importing.INVALID],
            }
        )
    invalid = summary.invalid
    shown = [row for row in summary.rows if row.status in (importing.NEW, importing.CHANGED)]
    noticed = summary.noticed
    return {
        "import_notice_rows": noticed[:PREVIEW_ROWS],
        "import_notice_more": max(0, len(noticed) - PREVIEW_ROWS),
        "import_kinds": kinds,
        "import_invalid_rows": invalid[:PREVIEW_ROWS],
        "import_invalid_more": max(0, len(invalid) - PREVIEW_ROWS),
        "import_preview_rows": shown[:PREVIEW_ROWS],
        "import_preview_more": max(0, len(shown) - PREVIEW_ROWS),
    }
