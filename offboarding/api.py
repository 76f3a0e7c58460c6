"""The HR system's JSON endpoint (J-5): `POST /api/hr/terminations`.

    Authorization: Bearer <token>
    {"terminations": [{"employee_number": "E000123", "last_working_day": "2026-11-30",
                       "reason": "合同到期", "external_id": "HR-2026-0042"}, ...]}

The token (one enterprise's, managed in the admin, stored hashed) is the only credential: a session
cookie alone gets 401 — and, the token being the credential, no CSRF check applies. All or nothing:
a malformed body or any bad row is a 400 that lists why (each row by its index), and nothing is
written. Sending a termination again is harmless: it is reported as already received.

Answers, always JSON: 201 when something new was received, 200 when all of it had been before,
400 (`{"error": …, "rows": [{"index", "external_id", "errors"}]}`), 401 (`{"error": …}`, with
`WWW-Authenticate: Bearer`), 405 for any method but POST, 413 for a body over MAX_BODY bytes,
429 (with `Retry-After`, in seconds) once an address has sent API_TOKEN_FAILURE_LIMIT wrong
tokens within API_TOKEN_FAILURE_WINDOW: every request from it, a right token's too, until the
window has passed (directory.throttling.API_TOKENS). A token is 32 random bytes, which no
guessing reaches; the throttle keeps a guesser from trying, and from loading the database.

A body is at most MAX_BODY bytes and MAX_NESTING levels of objects and lists deep: the answer to
a deeper one (which would exhaust Python's recursion while parsed or read) is a 400 saying so.
"""

import json

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt

from directory.security import client_ip_address
from directory.throttling import API_TOKENS

from . import hr_sync
from .choices import TerminationSource

MAX_BODY = 2 * 1024 * 1024  # bytes: MAX_ROWS rows fit well within
# Levels of objects and lists: {"terminations": [{…}]} is 3; a little room for a wrong shape to
# be answered with its own message.
MAX_NESTING = 5


class BodyRefused(Exception):
    """The body cannot be read as the endpoint's JSON: the message says why."""


def nesting(value) -> int:
    """How many levels of objects and lists `value` has (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_NESTING:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_body(raw: bytes):
    """The JSON of `raw`, refused (BodyRefused) when it is not JSON or is nested too deeply."""
    too_deep = _(
        "The body is nested too deeply: at most %(levels)d levels of objects and lists."
    ) % {"levels": MAX_NESTING}
    try:
        body = json.loads(raw.decode("utf-8"))
    except RecursionError as error:
        raise BodyRefused(too_deep) from error
    except (UnicodeDecodeError, ValueError) as error:
        raise BodyRefused(_("The body is not valid JSON: %(error)s") % {"error": error}) from error
    if nesting(body) > MAX_NESTING:
        raise BodyRefused(too_deep)
    return body


def _error(status: int, message: str, **extra) -> JsonResponse:
    response = JsonResponse({"error": message, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="exitdesk"'
    return response


def _too_many(seconds: int) -> JsonResponse:
    response = _error(
        429,
        ngettext(
            "Too many wrong tokens from this address: try again in %(seconds)d second.",
            "Too many wrong tokens from this address: try again in %(seconds)d seconds.",
            seconds,
        )
        % {"seconds": seconds},
    )
    response["Retry-After"] = str(seconds)
    return response


def _bearer(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _space, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@csrf_exempt
def hr_terminations(request):
    """Receive the HR system's terminations (see the module docstring)."""
    if request.method != "POST":
        response = _error(405, _("Only POST is allowed here."))
        response["Allow"] = "POST"
        return response
    address = client_ip_address(request)
    wait = API_TOKENS.retry_after(address)
    if wait:
        return _too_many(wait)
    raw_token = _bearer(request)
    if not raw_token:
        return _error(401, _("Send the enterprise's HR sync token: Authorization: Bearer <token>."))
    token = hr_sync.authenticate_token(raw_token)
    if token is None:
        API_TOKENS.failed(address)
        return _error(401, _("This token is not valid, or was revoked."))

    length = request.headers.get("Content-Length") or "0"
    if not length.isdigit() or int(length) > MAX_BODY:
        return _error(413, _("The body is too large: send fewer terminations at once."))
    try:
        body = parse_body(request.body)
    except BodyRefused as refusal:
        return _error(400, str(refusal))
    if not isinstance(body, dict) or not isinstance(body.get("terminations"), list):
        return _error(
            400,
            _(
                'The body must be a JSON object with a list of terminations: {"terminations": '
                "[...]}."
            ),
        )
    unknown = sorted(str(key) for key in body if key != "terminations")
    if unknown:
        return _error(400, _("Unknown keys: %(keys)s.") % {"keys": ", ".join(unknown)})

    result = hr_sync.receive(
        token.enterprise, body["terminations"], source=TerminationSource.API, token=token
    )
    if result.has_errors:
        return _error(
            400,
            result.error
            or _("Nothing was received: %(count)d of the terminations have errors.")
            % {"count": len(result.invalid)},
            rows=[
                {
                    "index": row.index,
                    "external_id": row.values.get("external_id", ""),
                    "errors": row.errors,
                }
                for row in result.invalid
            ],
        )
    created = result.new
    answer = {
        "created": len(created),
        "already_received": len(result.already_received),
        "terminations": [
            {
                "index": row.index,
                "external_id": row.values["external_id"],
                "id": row.termination.pk if row.termination else None,
                "status": row.status,
            }
            for row in result.rows
        ],
    }
    return JsonResponse(answer, status=201 if created else 200)
