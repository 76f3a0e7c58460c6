"""What every import in the admin shares (django-import-export's two steps: the upload with its
preview, then the confirm): where a previewed file waits, and which files a confirm may take.

- `PreviewedFileStorage` (IMPORT_EXPORT_TMP_STORAGE_CLASS): an uploaded file waits for its
  confirm in Django's cache, for HR_IMPORT_PREVIEW_TIMEOUT, never in the system's temporary folder;
  it is removed at the confirm, at once when the preview offers no confirm (errors), and otherwise
  gone by itself. Reading a file that is gone raises FileNotFoundError.
- `PreviewedImportMixin` (before import-export's ImportMixin): the confirm takes only a file this
  session previewed, once; a confirm of another file, or of a file gone from the cache, is sent
  back to the upload with a message. Each admin names its own session key (`previewed_session_key`)
  and the URL of its upload (`import_url()`).
"""

import os
from uuid import uuid4

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.utils.translation import gettext as _
from import_export.tmp_storages import BaseStorage

# How many previewed files one session keeps the right to confirm.
PREVIEWS_KEPT = 10


class PreviewedFileStorage(BaseStorage):
    """Where django-import-export keeps an uploaded file between its preview and its confirm."""

    PREFIX = "exitdesk:import-preview:"

    def save(self, data):
        if not self.name:
            self.name = uuid4().hex
        timeout = int(settings.HR_IMPORT_PREVIEW_TIMEOUT.total_seconds())
        cache.set(self.PREFIX + self.name, data, timeout)

    def read(self):
        data = cache.get(self.PREFIX + (self.name or ""))
        if data is None:
            raise FileNotFoundError(self.name)
        return data

    def remove(self):
        cache.delete(self.PREFIX + (self.name or ""))


class PreviewedImportMixin:
    previewed_session_key: str

    def import_url(self) -> str:
        raise NotImplementedError

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        confirm_form = context.get("confirm_form")
        if confirm_form is not None:
            # The confirm may import this file, and only from this session.
            previewed = request.session.get(self.previewed_session_key, [])[1 - PREVIEWS_KEPT :]
            name = os.path.basename(confirm_form.initial["import_file_name"])
            request.session[self.previewed_session_key] = [*previewed, name]
        else:
            # No confirm offered (errors): the file stored for one is removed now.
            cleaned = getattr(context.get("form"), "cleaned_data", None) or {}
            stored = getattr(cleaned.get("import_file"), "tmp_storage_name", None)
            if stored:
                self.get_tmp_storage_class()(name=stored).remove()
        return response

    def process_import(self, request, **kwargs):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_import_permission(request):
            raise PermissionDenied
        name = os.path.basename(request.POST.get("import_file_name", ""))
        previewed = request.session.get(self.previewed_session_key, [])
        if not name or name not in previewed:
            messages.error(
                request,
                _("This file was not previewed here, or was imported already: upload it again."),
            )
            return HttpResponseRedirect(self.import_url())
        try:
            response = super().process_import(request, **kwargs)
        except OSError:  # the previewed file is gone from the cache
            response = None
        request.session[self.previewed_session_key] = [n for n in previewed if n != name]
        if response is None:
            messages.error(request, _("The previewed file is gone: upload it again."))
            return HttpResponseRedirect(self.import_url())
        return response
