"""What the compliance admins share."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.utils.translation import gettext as _

from directory.admin import ReadOnlyRecordAdmin


class WithoutHistoryAdmin(ReadOnlyRecordAdmin):
    """A read-only admin of rows that keep no django-simple-history table (work records, exports,
    audit events): nobody adds, changes or deletes one here (ReadOnlyRecordAdmin); "History" is
    Django's own log (empty), and there are no past versions.

    Who may read the model nowhere is refused before any row is looked up — 403 for every id
    alike, as the change page does; another enterprise's row is a 404."""

    object_history_template = None  # Django's own history page

    def history_view(self, request, object_id, extra_context=None):
        self._refuse_unless_reader(request)
        self._object_or_404(request, object_id)
        return admin.ModelAdmin.history_view(self, request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):  # as every history page: read-only
            return HttpResponseNotAllowed(["GET"])
        self._refuse_unless_reader(request)
        raise Http404(_("There is no such version."))

    def _refuse_unless_reader(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
