"""Security at the doors (S-5): passwords counted by django-axes, the lockout page, the client's
address behind a proxy, and the idle timeout of staff sessions. Settings in config/settings/base.py.

- `confirm_password`: a person re-enters their own password to confirm a grave action (undoing a
  completed exit). It goes through `django.contrib.auth.authenticate`, so django-axes counts a wrong
  password like a failed login and, once the user or their address is locked out, refuses even
  the right one, saying when to try again. `user.check_password` would be counted by nobody.
- `lockout_response`: axes' AXES_LOCKOUT_CALLABLE, the page a locked-out login gets (the pages'
  and the admin's): `registration/locked_out.html`, translated, saying when to try again.
- `client_ip_address`: axes' AXES_CLIENT_IP_CALLABLE, the client's address behind the proxies.
- `StaffIdleTimeoutMiddleware`: a staff user whose last request is longer ago than
  STAFF_SESSION_IDLE_TIMEOUT is logged out and sent to the login page.
- `log_failed_login`: one WARNING line per failed login or password re-entry (axes' own lines are
  kept to errors, config/logging.py); a successful login writes none.
"""

import ipaddress
import math
import zoneinfo
from datetime import datetime, timedelta

import structlog
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, get_user_model, logout
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

logger = structlog.get_logger(__name__)

# ---------------------------------------------------------------------------------------------
# Password re-entry


class PasswordRefused(Exception):
    """A password re-entry was refused. `locked_out`: refused because of too many wrong passwords
    (the message says when to try again), not because this one was wrong."""

    def __init__(self, message, *, locked_out: bool = False):
        super().__init__(message)
        self.locked_out = locked_out


def confirm_password(user, password: str, *, request) -> None:
    """Check that `password` is `user`'s own, as a login would: counted by axes, refused while the
    user or their address is locked out. Raises PasswordRefused; returns nothing when right.
    Without a request (code: tests, commands) the password is only checked.

    Call it outside any transaction that a refusal rolls back, or the failure axes just recorded
    is rolled back with it and never counts.
    """
    if request is None:
        if not user.check_password(password or ""):
            raise PasswordRefused(_("The password was not right."))
        return
    # The page that asked for the password shows the refusal itself, on its form: the lockout
    # page of `lockout_response` is for the login pages only.
    request.password_reentry = True
    authenticated = authenticate(request, username=user.get_username(), password=password or "")
    if getattr(request, "axes_locked_out", False):
        raise PasswordRefused(lockout_message(lockout_ends_at(request)), locked_out=True)
    if authenticated is None or authenticated.pk != user.pk:
        raise PasswordRefused(_("The password was not right."))
    AxesProxyHandler.reset_attempts(username=user.get_username())


@receiver(user_logged_in, dispatch_uid="directory.security.reset_failures_of_username")
def reset_failures_of_username(sender, request, user, **kwargs):
    """A successful login clears the failures counted against its username, and only those.

    axes' own AXES_RESET_ON_SUCCESS (off) would also clear every failure from the address: someone
    with a login of their own, on the same address, could then reset the count against a
    colleague's username between guesses.
    """
    AxesProxyHandler.reset_attempts(username=user.get_username())


@receiver(user_login_failed, dispatch_uid="directory.security.log_failed_login")
def log_failed_login(sender, credentials, request=None, **kwargs):
    """One line per failed login or password re-entry, after axes counted it (axes' receiver is
    connected first): the username it is counted against, the address, the failures in a row and
    whether the login is now locked out. Never the password (Django removes it from
    `credentials`)."""
    if request is None:
        return
    logger.warning(
        "login_failed",
        username=get_client_username(request, credentials),
        client_ip=getattr(request, "axes_ip_address", None) or client_ip_address(request),
        failures=getattr(request, "axes_failures_since_start", None),
        locked_out=bool(getattr(request, "axes_locked_out", False)),
        password_reentry=bool(getattr(request, "password_reentry", False)),
    )


def lockout_ends_at(request) -> datetime | None:
    """When the lockout flagged on `request` ends: one cool-off after this try (a try while locked
    out is recorded as a failure and starts the cool-off again). None: locked out until an
    administrator unlocks."""
    cool_off = get_cool_off(request)
    if not cool_off:
        return None
    return (getattr(request, "axes_attempt_time", None) or timezone.now()) + cool_off


def lockout_message(ends_at: datetime | None) -> str:
    """The sentence a locked-out person reads: the time in the current time zone, rounded up to
    the minute, and how long that is from now, so that neither is ever too early."""
    if ends_at is None:
        return _("Too many wrong passwords. Ask an administrator to unlock your account.")
    now = timezone.now()
    shown = timezone.localtime(ends_at)
    if shown.second or shown.microsecond:
        shown = shown.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if shown.date() == timezone.localtime(now).date():
        time = formats.time_format(shown, "H:i")
    else:
        time = formats.date_format(shown, "Y-m-d H:i")
    minutes = max(1, math.ceil((ends_at - now).total_seconds() / 60))
    return _("Too many wrong passwords. Try again after %(time)s (in %(duration)s).") % {
        "time": time,
        "duration": timeuntil(now + timedelta(minutes=minutes), now),
    }


def lockout_response(request, original_response=None, credentials=None):
    """axes' AXES_LOCKOUT_CALLABLE: the lockout page of the login pages (status 429).

    A page that asked for a password re-entry (`confirm_password`) keeps its own response: it
    shows the refusal on its form.
    """
    if getattr(request, "password_reentry", False) and original_response is not None:
        return original_response
    # Nobody is logged in here: the times are in the zone of the enterprise whose login was tried.
    with timezone.override(_lockout_zone(request, credentials)):
        return render(
            request,
            "registration/locked_out.html",
            {
                "message": lockout_message(lockout_ends_at(request)),
                "failure_limit": get_failure_limit(request, credentials),
                "time_zone": timezone.get_current_timezone_name(),
                "login_url": request.get_full_path(),
            },
            status=settings.AXES_HTTP_RESPONSE_CODE,
        )


def _lockout_zone(request, credentials) -> zoneinfo.ZoneInfo | None:
    """The time zone of the login tried: its member's enterprise, a staff user's enterprises, or
    the zone every enterprise shares; None (UTC) when none of these says."""
    from .logins import axes_username
    from .middleware import shared_time_zone, time_zone_for

    username = axes_username(request, credentials)
    user = get_user_model().objects.filter(username=username).first() if username else None
    zone = time_zone_for(user) if user is not None else None
    if zone is None:
        zone = shared_time_zone()
    return zoneinfo.ZoneInfo(zone) if zone else None


def client_ip_address(request) -> str | None:
    """axes' AXES_CLIENT_IP_CALLABLE: the address of the client, for locking out by address.

    Behind TRUSTED_PROXY_COUNT proxies that each append the address they were called from to
    X-Forwarded-For, the client's is that many entries from the right; entries further left were
    sent by the client and prove nothing. Without such proxies it is REMOTE_ADDR.
    """
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= count:
            try:
                return str(ipaddress.ip_address(hops[-count]))
            except ValueError:
                pass  # not written by our proxy: fall back to the connection's address
    return request.META.get("REMOTE_ADDR")


# ---------------------------------------------------------------------------------------------
# Idle timeout of staff sessions


class StaffIdleTimeoutMiddleware:
    """Log a staff user out when their previous request is more than STAFF_SESSION_IDLE_TIMEOUT
    ago, and send them to the login page (the admin's for admin pages) with a message saying why.

    The time of each staff request is kept in the session. Members are not affected: their pages
    hold nothing of other people's. Needs the session, authentication and messages middleware
    before it.
    """

    SESSION_KEY = "exitdesk_last_activity"
    # The time kept is refreshed at most once a minute, so that a busy user's requests do not
    # each write their session.
    PRECISION_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            now = timezone.now().timestamp()
            timeout = settings.STAFF_SESSION_IDLE_TIMEOUT
            last_activity = request.session.get(self.SESSION_KEY)
            if last_activity is not None and now - last_activity > timeout.total_seconds():
                return self._log_out(request, timeout)
            if last_activity is None or abs(now - last_activity) >= self.PRECISION_SECONDS:
                request.session[self.SESSION_KEY] = now
        return self.get_response(request)

    def _log_out(self, request, timeout: timedelta):
        next_url = request.get_full_path()
        logout(request)
        minutes = int(timeout.total_seconds() // 60)
        messages.warning(
            request,
            ngettext(
                "You were logged out after %(minutes)d minute of inactivity. Log in again.",
                "You were logged out after %(minutes)d minutes of inactivity. Log in again.",
                minutes,
            )
            % {"minutes": minutes},
        )
        admin_index = reverse("admin:index")
        login_url = reverse("admin:login") if next_url.startswith(admin_index) else None
        return redirect_to_login(next_url, login_url)


@receiver(user_logged_in, dispatch_uid="directory.security.start_idle_clock")
def start_idle_clock(sender, request, user, **kwargs):
    """A login counts as activity: a staff user's idle clock starts with their session."""
    session = getattr(request, "session", None)
    if session is not None and user.is_staff:
        session[StaffIdleTimeoutMiddleware.SESSION_KEY] = timezone.now().timestamp()
