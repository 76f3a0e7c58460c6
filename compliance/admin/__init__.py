"""The compliance app in the admin (C-8 of issue 8): for staff with the Compliance role, scoped to
their enterprises by `EnterpriseScopedAdmin` like every other admin.

- `records.py`: work records (sealed reads, audited), exports and their records.
- `retention.py`: retention policies (with what a change would purge now) and legal holds.
- `erasure.py`: erasure requests and their transitions.
- `audit.py`: the audit trail, read-only, per member and per exit.
"""

from . import audit, erasure, records, retention  # noqa: F401  (register the admins)
