"""Exits in the admin (U-2): HR's and IT's desk. Interface only: every change is a call to one
door of offboarding/workflow.py or to offboarding/services.py, which lock, check and record.

- `exits.py`: `ExitAdmin`, the exit's changelist and page with its transition buttons, pre-review,
  review, approval steps, checklist and timeline, and the views behind the buttons.
- `configuration.py`: each enterprise's approval chain and checklist template.
- `inheritance.py`: the handover batches and their items (离职继承), read-only.
- `handover.py`: frozen admin accounts (管理员账号被盗): the freeze and the unfreeze; the
  super-admin handovers (超级管理员移交), read-only.
- `hr_sync.py`: HR sync (J-5): the terminations received, their CSV import; the directory
  sync's received rows; the API tokens.
- `notifications.py`: the notifications' log (retry the failed ones) and the IM group robots.
- `forms.py`: the forms those pages post.
- `pickers.py`: the admin site's autocomplete (members by department and title, successors with
  their load of external contacts) and the successor pickers of the handover pages.

All of them stand behind `EnterpriseScopedAdmin`, the tenant wall.
"""

from .configuration import ApprovalChainStepAdmin, ChecklistTemplateItemAdmin
from .exits import ExitAdmin
from .handover import AccountFreezeAdmin, SuperAdminHandoverAdmin
from .hr_sync import DirectorySyncRecordAdmin, HRSyncTokenAdmin, HRTerminationAdmin
from .inheritance import InheritanceBatchAdmin, InheritanceItemAdmin
from .notifications import GroupRobotAdmin, NotificationAdmin

__all__ = [
    "AccountFreezeAdmin",
    "ApprovalChainStepAdmin",
    "ChecklistTemplateItemAdmin",
    "DirectorySyncRecordAdmin",
    "ExitAdmin",
    "GroupRobotAdmin",
    "HRSyncTokenAdmin",
    "HRTerminationAdmin",
    "InheritanceBatchAdmin",
    "InheritanceItemAdmin",
    "NotificationAdmin",
    "SuperAdminHandoverAdmin",
]
