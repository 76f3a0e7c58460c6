"""Which sessions each user holds, so that an exit or a freeze can end all of them at once.

Django's session tables do not index sessions by user; rows of LoginSession do, written on login
and removed on logout. `end_sessions` works with any session engine.
"""

from importlib import import_module

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from .models import LoginSession


@receiver(user_logged_in, dispatch_uid="directory.remember_session")
def remember_session(sender, request, user, **kwargs):
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        LoginSession.objects.get_or_create(session_key=session_key, defaults={"user": user})


@receiver(user_logged_out, dispatch_uid="directory.forget_session")
def forget_session(sender, request, user, **kwargs):
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        LoginSession.objects.filter(session_key=session_key).delete()


def end_sessions(user) -> int:
    """Log `user` out everywhere. Returns how many sessions were ended."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(LoginSession.objects.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    LoginSession.objects.filter(user=user).delete()
    return len(keys)
