from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

_DIRECTORY_MODELS = (
    "enterprise",
    "department",
    "member",
    "externalcontact",
    "customergroup",
    "appauthorization",
    "thirdpartybinding",
    "approvaltemplate",
    "sharedcalendar",
)
_RESOURCES = ("appauthorization", "thirdpartybinding")


def _perms(actions, models):
    return [f"{action}_{model}" for model in models for action in actions]


class DirectoryConfig(AppConfig):
    name = "directory"
    verbose_name = _("Directory")

    # Which permissions of this app each staff group holds (see directory.permissions).
    group_permissions = {
        "hr": _perms(("view", "add", "change"), _DIRECTORY_MODELS) + ["view_enterpriseaccess"],
        "it": _perms(("view",), _DIRECTORY_MODELS) + _perms(("change",), _RESOURCES),
        "compliance": _perms(("view",), _DIRECTORY_MODELS),
    }

    def ready(self):
        from . import security, sessions  # noqa: F401  (connect the login/logout receivers)
        from .permissions import sync_groups
        from .rules import register_object_permissions

        register_object_permissions()
        _translate_boolean_icons()

        # After every app's migrate (its permissions exist only from then on).
        post_migrate.connect(sync_groups, dispatch_uid="directory.sync_groups")


def _translate_boolean_icons():
    """The admin's yes/no icons say "True" and "False" in their alt text, in every language
    (Django's own `_boolean_icon` does not translate it): ours says "Yes", "No" or "Unknown" in
    the reader's language. Django's admin looks the function up at each call."""
    from django.contrib.admin.templatetags import admin_list
    from django.templatetags.static import static
    from django.utils.html import format_html
    from django.utils.translation import gettext

    def boolean_icon(field_val):
        icon = {True: "yes", False: "no", None: "unknown"}[field_val]
        alt = {True: gettext("Yes"), False: gettext("No"), None: gettext("Unknown")}[field_val]
        return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{icon}.svg"), alt)

    admin_list._boolean_icon = boolean_icon
