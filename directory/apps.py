from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

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
        # Connect the receivers: login/logout (security, sessions), the worker's heartbeat.
        from . import heartbeats, security, sessions  # noqa: F401
        from .permissions import sync_groups
        from .rules import register_object_permissions

        register_object_permissions()
        _record_task_failures()
        _translate_boolean_icons()
        _durations_in_words()

        # After every app's migrate (its permissions exist only from then on).
        post_migrate.connect(sync_groups, dispatch_uid="directory.sync_groups")


def _record_task_failures():
    """A Celery task that fails, in or outside a job run, is written where staff see it (a failed
    JobRun of its name; directory.jobs.record_task_failure)."""
    from celery.signals import task_failure

    from .jobs import on_task_failure

    task_failure.connect(on_task_failure, weak=False, dispatch_uid="directory.task_failure")


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


def _durations_in_words():
    """The admin shows a read-only duration as Python writes it ("1 day, 0:00:00"); ours say
    "24 hours" or "7 days" in the reader's language (directory.durations)."""
    from django.contrib.admin import helpers
    from django.contrib.admin.templatetags import admin_list
    from django.db import models

    from .durations import human_duration

    original = helpers.display_for_field

    def display_for_field(value, field, empty_value_display, *args, **kwargs):
        if isinstance(field, models.DurationField) and value is not None:
            return human_duration(value)
        return original(value, field, empty_value_display, *args, **kwargs)

    helpers.display_for_field = display_for_field
    admin_list.display_for_field = display_for_field


def _translated_history_names():
    """django-simple-history names each history model "historical <verbose name>", spelled once,
    at import, in whatever language was active then ("historical 企业" on an English page). Ours
    follow the reader's language. Runs when this module is imported: before any model is."""
    original = HistoricalRecords.get_meta_options

    def get_meta_options(self, model):
        options = original(self, model)
        if not self.user_set_verbose_name:
            options["verbose_name"] = format_lazy(_("historical {}"), model._meta.verbose_name)
        if not self.user_set_verbose_name_plural:
            options["verbose_name_plural"] = format_lazy(
                _("historical {}"), model._meta.verbose_name_plural
            )
        return options

    HistoricalRecords.get_meta_options = get_meta_options


_translated_history_names()
