"""The old super admin's way in during their emergency window (超级管理员移交, grace policy).

With the WeCom policy the old super admin keeps an emergency window after the handover, even once
their exit has completed and deactivated their login. Django's ModelBackend refuses every inactive
user; this backend, after it, authenticates an inactive user only while they hold an open window,
and keeps their session alive only as long (`get_user` asks again on every request). Where such a
session may go is the middleware's affair: the emergency page only.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from . import handover


class EmergencyWindowBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        user_model = get_user_model()
        if username is None:
            username = kwargs.get(user_model.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            return None
        # Only the case ModelBackend refuses: an inactive login with an open window.
        if user.is_active or handover.open_window_for(user) is None:
            return None
        return user if user.check_password(password) else None

    def user_can_authenticate(self, user):
        return user.is_active or handover.open_window_for(user) is not None

    # Permissions: none. The emergency page asks for none, and ModelBackend grants an inactive
    # user none either.
    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        return set()

    def get_all_permissions(self, user_obj, obj=None):
        return set()

    def has_perm(self, user_obj, perm, obj=None):
        return False

    def has_module_perms(self, user_obj, app_label):
        return False
