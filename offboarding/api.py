"""The HR system's JSON endpoints (J-5): `POST /api/hr/terminations`, and `POST /api/hr/directory`
(joiners, movers and leavers: offboarding/directory_sync.py), which share everything below but
the body's shape — the token, the throttle, the limits, the answers.

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

from . import directory_sync, hr_sync
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


def _authenticated_body(request, *, too_large: str):
    """What both endpoints do before reading their rows: POST only, the throttle of wrong tokens,
    the token, the body's size and nesting. Returns (token, body) or the JsonResponse refusing."""
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
        return _error(413, too_large)
    try:
        body = parse_body(request.body)
    except BodyRefused as refusal:
        return _error(400, str(refusal))
    return token, body


@csrf_exempt
def hr_terminations(request):
    """Receive the HR system's terminations (see the module docstring)."""
    answer = _authenticated_body(
        request, too_large=_("The body is too large: send fewer terminations at once.")
    )
    if isinstance(answer, JsonResponse):
        return answer
    token, body = answer
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
            or ngettext(
                "Nothing was received: %(count)d of the terminations has errors.",
                "Nothing was received: %(count)d of the terminations have errors.",
                len(result.invalid),
            )
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


@csrf_exempt
def hr_directory(request):
    """Receive the HR system's joiners, movers and leavers (offboarding/directory_sync.py).

    Answers as `hr_terminations`: 201 when something new was applied, 200 when every row had been
    received before, 400 with each bad row by its list and index (nothing written), 401, 405,
    413, 429."""
    answer = _authenticated_body(
        request, too_large=_("The body is too large: send fewer rows at once.")
    )
    if isinstance(answer, JsonResponse):
        return answer
    token, body = answer
    lists = tuple(directory_sync.KINDS)
    if not isinstance(body, dict) or not all(
        isinstance(body.get(name, []), list) for name in lists
    ):
        return _error(
            400,
            _(
                "The body must be a JSON object with lists of joiners, movers and leavers: "
                '{"joiners": [...], "movers": [...], "leavers": [...]}.'
            ),
        )
    unknown = sorted(str(key) for key in body if key not in lists)
    if unknown:
        return _error(400, _("Unknown keys: %(keys)s.") % {"keys": ", ".join(unknown)})

    result = directory_sync.receive(token.enterprise, body, token=token)
    if result.has_errors:
        return _error(
            400,
            result.error
            or ngettext(
                "Nothing was applied: %(count)d of the rows has errors.",
                "Nothing was applied: %(count)d of the rows have errors.",
                len(result.invalid),
            )
            % {"count": len(result.invalid)},
            rows=[
                {
                    "list": row.list_name,
                    "index": row.index,
                    "external_id": row.external_id,
                    "errors": row.errors,
                }
                for row in result.invalid
            ],
        )
    answer = {
        "created": len(result.new),
        "already_received": len(result.already_received),
    }
    for name, kind in directory_sync.KINDS.items():
        answer[name] = [
            {
                "index": row.index,
                "external_id": row.external_id,
                "status": row.status,
                "member": row.member.pk if row.member else None,
                **(
                    {"termination": getattr(row.termination, "pk", None)}
                    if kind == directory_sync.DirectorySyncKind.LEAVER
                    else {}
                ),
            }
            for row in result.of_kind(kind)
        ]
    return JsonResponse(answer, status=201 if result.new else 200)
