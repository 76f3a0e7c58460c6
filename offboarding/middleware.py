"""The emergency window's wall (超级管理员移交, grace policy).

While the old super admin is still employed — their login works — they keep their member pages
(their own exit, their team's approvals) and reach the emergency page from the home page: no wall.
The wall starts when their own exit completes (or a removal cuts their login): from then on they
sign in only through the emergency window (offboarding.backends), and such a session is marked at
login (`mark_emergency_session`). A marked session reaches only the emergency page, its report,
the language switch and logging out: any other page is a redirect to the emergency page (GET) or
403. Once the window has closed — its deadline passed, or closed by the expiry job — the session
is ended at its next request and the person is sent to the login page, told why.
"""

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from . import handover

SESSION_KEY = "exitdesk_emergency_handover"

# The views an emergency session may reach, by URL name.
EMERGENCY_VIEWS = frozenset(
    {"offboarding:emergency", "offboarding:report_stolen", "logout", "set_language"}
)


@receiver(user_logged_in, dispatch_uid="offboarding.mark_emergency_session")
def mark_emergency_session(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    if session is None:
        return
    if user.is_active:
        return  # still employed: their own pages, the emergency page linked from home
    window = handover.open_window_for(user)
    if window is not None:
        session[SESSION_KEY] = window.pk


class EmergencyWindowMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        session = getattr(request, "session", None)
        if session is None or SESSION_KEY not in session:
            return None
        window = handover.open_window_for(request.user)
        if window is None or window.pk != session[SESSION_KEY]:
            next_url = request.get_full_path()
            logout(request)
            messages.warning(request, _("Your emergency window has closed: you were logged out."))
            return redirect_to_login(next_url)
        request.emergency_handover = window
        if request.resolver_match.view_name in EMERGENCY_VIEWS:
            return None
        if request.method in ("GET", "HEAD"):
            return redirect("offboarding:emergency")
        return render(request, "offboarding/emergency_only.html", status=403)
