from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = _("Compliance")

    # Which permissions of this app each staff group holds (see directory.permissions). The
    # compliance app is the Compliance role's: HR sees the holds and erasure requests it may be
    # asked about, nothing sealed.
    group_permissions = {
        "compliance": [
            "view_workrecord",
            "view_sealed_workrecord",
            "export_workrecord",
            "view_retentionpolicy",
            "add_retentionpolicy",
            "change_retentionpolicy",
            "delete_retentionpolicy",
            "view_legalhold",
            "add_legalhold",
            "change_legalhold",
            "view_erasurerequest",
            "add_erasurerequest",
            "change_erasurerequest",
            "view_recordexport",
            "view_auditevent",
        ],
        "hr": [
            "view_legalhold",
            "view_erasurerequest",
        ],
    }

    def ready(self):
        from django.core import checks

        from directory.services import connect_audit_trail

        from . import audit
        from . import checks as master_key_checks  # noqa: F401  (registers the system checks)

        # The directory's doors write their audit events (settings, a member's data region)
        # through this; see directory/services.py.
        connect_audit_trail(audit.DirectoryTrail())
        checks.register(audit.check_audit_keys, checks.Tags.security)
