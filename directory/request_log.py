"""Who and which request each log line of a web request belongs to (config/logging.py).

`RequestLogMiddleware` (first in MIDDLEWARE, so that every line of the request carries it) is
django-structlog's request middleware with our request id: the `X-Request-ID` the request came
with when it is a sane token (1 to 64 letters, digits, `.`, `_`, `-`, as a proxy such as nginx
sends its `$request_id`), else a new one; either way sent back in the response's `X-Request-ID`,
where gunicorn's access log reads it. It logs one `request_finished` line per request (INFO, 4xx
WARNING, 5xx ERROR) and binds the client's address as the login throttling sees it
(`directory.security.client_ip_address`: `X-Forwarded-For` only from the trusted proxies).

`UserLogContextMiddleware` (after the authentication) binds `user_id` and, for a member, the
`enterprise_id` of their enterprise: read with the query that finds their time zone, which the
request makes anyway (`directory.middleware.member_enterprise`). For staff the enterprise is the
object's, which no middleware knows: the user id says who.
"""

import re
import uuid

import structlog
from django_structlog.middlewares import RequestMiddleware

from .middleware import member_enterprise
from .security import client_ip_address

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_from(value: str | None) -> str:
    """The request id to use for a request whose `X-Request-ID` header is `value`."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestLogMiddleware(RequestMiddleware):
    sync_capable = True
    async_capable = False

    def __call__(self, request):
        request.request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        # django-structlog takes the request id from this header (DJANGO_STRUCTLOG_TRUST_UPSTREAM_
        # REQUEST_ID): it now holds the checked or generated one.
        request.META["HTTP_X_REQUEST_ID"] = request.request_id
        request.__dict__.pop("headers", None)  # HttpRequest.headers is cached from META
        response = super().__call__(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    @classmethod
    def bind_ip(cls, request) -> None:
        structlog.contextvars.bind_contextvars(ip=client_ip_address(request))


class UserLogContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            context = {"user_id": user.pk}
            if not (user.is_staff or user.is_superuser):
                enterprise = member_enterprise(user)
                if enterprise is not None:
                    context["enterprise_id"] = enterprise[0]
            structlog.contextvars.bind_contextvars(**context)
        return self.get_response(request)
