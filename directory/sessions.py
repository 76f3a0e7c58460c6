"""Which sessions each user holds, so that an exit or a freeze can end all of them at once
(成员端会话清除), whatever gave a session a new key since its login.

Django's session tables do not index sessions by user; rows of LoginSession do, written on login
and removed on logout. Three pieces keep a session and its row together:

- `SessionStore` (SESSION_ENGINE = "directory.sessions": Django's database engine): Django gives a
  session a new key on every login and password change (`cycle_key`, through
  `update_session_auth_hash`) and wherever else code asks; this store moves the session's
  LoginSession row to the new key in the same step, so the row always names the live key.
- `LiveSessionMiddleware`: a logged-in session is honoured only while a LoginSession row of its
  user names its key. Whatever ends a session's record ends the session at its next request —
  even one whose key was changed by something that does not keep the row in step (another engine,
  another store): that session is logged out rather than forgotten.
- `end_sessions(user)`: deletes every session the user's rows name, then the rows. Called inside
  the doors' transactions (freeze, removal, completion, the handover's swap, the emergency
  window's close): if the door is rolled back, so is this.
"""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.dispatch import receiver

from .models import LoginSession


class KeepsLoginSessionInStep:
    """A session store mixin: a new key for the session is a new key for its LoginSession row."""

    def cycle_key(self):
        old_key = self.session_key
        super().cycle_key()
        if old_key and old_key != self.session_key:
            LoginSession.objects.filter(session_key=old_key).update(session_key=self.session_key)


class SessionStore(KeepsLoginSessionInStep, DatabaseSessionStore):
    """Django's database session store, with the LoginSession rows kept in step."""


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


def is_on_record(session_key: str | None, user) -> bool:
    """Whether a LoginSession row of `user` names `session_key`: the session was not ended."""
    return bool(session_key) and (
        LoginSession.objects.filter(session_key=session_key, user_id=user.pk).exists()
    )


class LiveSessionMiddleware:
    """Log out a session whose record is gone (see the module docstring). After the session and
    authentication middleware; one query per request of a logged-in user."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not is_on_record(request.session.session_key, user)
        ):
            logout(request)
        return self.get_response(request)


def end_sessions(user) -> int:
    """Log `user` out everywhere. Returns how many sessions were ended."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(LoginSession.objects.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    LoginSession.objects.filter(user=user).delete()
    return len(keys)
