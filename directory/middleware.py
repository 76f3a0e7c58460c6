"""Request-wide concerns of the directory: bad bytes refused, and the enterprise's time zone.

Every time a user reads is in their enterprise's time zone (D-1), and labelled with it.

Times are stored in UTC. For each request this activates the time zone of the enterprise the user
works in: a member's own enterprise; for staff, the zone their granted enterprises share (for a
superuser, every enterprise). Someone whose enterprises lie in different zones reads UTC; pages
that list several enterprises' rows show each row's time in its own enterprise's zone where it
matters (the exit list), and every page says which zone its times are in
(`{% get_current_timezone %}`).
"""

import zoneinfo

from django.http import HttpResponseBadRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Enterprise
from .tenancy import grants_for


def time_zone_for(user) -> str | None:
    """The time zone `user` reads times in, or None for the server's (UTC)."""
    if user is None or not user.is_authenticated:
        return None
    grants = grants_for(user)
    if grants.all_enterprises:
        # A superuser reads the zone every enterprise shares (one deployment, one country: the
        # usual case), UTC only when the enterprises lie in different zones.
        zones = list(
            Enterprise.objects.order_by().values_list("time_zone", flat=True).distinct()[:2]
        )
        return str(zones[0]) if len(zones) == 1 else None
    if grants.has_any():
        return grants.single_time_zone()
    enterprise = member_enterprise(user)
    return str(enterprise[1]) if enterprise and enterprise[1] else None


_MEMBER_ENTERPRISE_ATTRIBUTE = "_exitdesk_member_enterprise"


def member_enterprise(user) -> tuple[int, str] | None:
    """The id and time zone of the enterprise `user` is a member of, or None. One query per user
    object: the time zone and the request log (directory/request_log.py) both ask."""
    if hasattr(user, _MEMBER_ENTERPRISE_ATTRIBUTE):
        return getattr(user, _MEMBER_ENTERPRISE_ATTRIBUTE)
    enterprise = (
        Enterprise.objects.filter(members__user=user).values_list("pk", "time_zone").first()
    )
    setattr(user, _MEMBER_ENTERPRISE_ATTRIBUTE, enterprise)
    return enterprise


def shared_time_zone() -> str | None:
    """The time zone every enterprise is in, if they share one."""
    zones = Enterprise.objects.order_by().values_list("time_zone", flat=True).distinct()[:2]
    zones = [str(zone) for zone in zones]
    return zones[0] if len(zones) == 1 else None


class EnterpriseTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = time_zone_for(getattr(request, "user", None))
        if zone:
            timezone.activate(zoneinfo.ZoneInfo(zone))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class RejectNulBytesMiddleware:
    """A NUL byte in a query string or a form value is refused with 400 (S-4).

    No person types one, PostgreSQL cannot store or compare one ("text fields cannot contain NUL
    bytes"), and Django's form fields refuse it only where a form reads the value: an admin
    filter or an autocomplete term would otherwise reach the database and answer 500.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            "\x00" in request.path
            or _has_nul(request.GET)
            or (request.method == "POST" and _has_nul(request.POST))
        ):
            return HttpResponseBadRequest(_("The request contains a NUL byte."))
        return self.get_response(request)


def _has_nul(query_dict) -> bool:
    return any(
        "\x00" in key or any("\x00" in value for value in values)
        for key, values in query_dict.lists()
    )
