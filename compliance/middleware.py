"""A request that needs a master key this server does not have (compliance.crypto raising
MasterKeyMissing: reading a sealed record, closing an exit, which seals) gets a page saying so,
with 503, instead of a bare 500. Whatever the request was writing is rolled back already (the
exception left its transaction). Logged once, at ERROR, for the operator."""

import logging

from django.template.response import TemplateResponse

from .crypto import MasterKeyMissing

logger = logging.getLogger(__name__)


class MasterKeyMissingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, MasterKeyMissing):
            return None
        logger.error(
            "Sealed data could not be read on %s %s: %s",
            request.method,
            request.path,
            exception,
            exc_info=exception,
        )
        response = TemplateResponse(request, "sealed_unavailable.html", status=503).render()
        # Logged above: Django's own "Service Unavailable" line would say it a second time.
        response._has_been_logged = True
        return response
