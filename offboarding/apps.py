from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OffboardingConfig(AppConfig):
    name = "offboarding"
    verbose_name = _("Exits")

    # Which permissions of this app each staff group holds (see directory.permissions).
    group_permissions = {
        "hr": [
            "view_exit",
            "add_exit",
            "change_exit",
            "remove_member",
            "undo_exit",
            "view_approvalchainstep",
            "add_approvalchainstep",
            "change_approvalchainstep",
            "delete_approvalchainstep",
            "view_checklisttemplateitem",
            "add_checklisttemplateitem",
            "change_checklisttemplateitem",
            "delete_checklisttemplateitem",
            "view_inheritancebatch",
            "view_inheritanceitem",
            "view_accountfreeze",
            "add_accountfreeze",
            "view_superadminhandover",
            # HR sync (J-5): the terminations received, the CSV import, the API tokens.
            "view_hrtermination",
            "add_hrtermination",
            "view_hrsynctoken",
            "add_hrsynctoken",
            "change_hrsynctoken",
            # The directory sync's received rows (read-only).
            "view_directorysyncrecord",
            # Notifications: the log (and its retry action), the IM group robots.
            "view_notification",
            "change_notification",
            "view_grouprobot",
            "add_grouprobot",
            "change_grouprobot",
        ],
        "it": [
            "view_exit",
            "change_exit",
            "view_checklisttemplateitem",
            "view_inheritancebatch",
            "view_inheritanceitem",
            "view_accountfreeze",
            "view_superadminhandover",
        ],
        "compliance": [
            "view_exit",
            "view_inheritancebatch",
            "view_inheritanceitem",
            "view_accountfreeze",
            "view_superadminhandover",
            "view_notification",
        ],
    }

    def ready(self):
        from directory.invitations import batch_finished

        from . import middleware  # noqa: F401  (connect the emergency window's login receiver)
        from .notifications import invitations_finished

        # The staff user who queued a batch of invitations is told how it went.
        batch_finished.connect(
            invitations_finished, weak=False, dispatch_uid="offboarding.invitations_finished"
        )
