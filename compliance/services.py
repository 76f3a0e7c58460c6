"""The compliance app's doors, in one place for the other apps and the jobs to call.

Each lives in the module of its subject and is re-exported here:

- retention (C-2): `enforce_retention(enterprise, *, today=None, batch_size=1000, actor=None)` — the
  retention run of one enterprise, in bounded batches (the nightly job calls it); `preview`,
  `save_policy`, `delete_policy`;
- legal holds (C-4): `place_hold`, `release_hold`;
- sealing (C-3): `seal_member_records`, `read_sealed`;
- erasure requests (C-5): `receive_erasure`, `evaluate_erasure`, `refuse_erasure`,
  `erase_now`, `finish_restricted`;
- exports (C-6): `export_records`.
"""

from .erasure import erase_now, finish_restricted
from .erasure import evaluate as evaluate_erasure
from .erasure import receive as receive_erasure
from .erasure import refuse as refuse_erasure
from .exports import export_records
from .holds import place_hold, release_hold
from .retention import delete_policy, enforce_retention, preview, save_policy
from .sealing import read_sealed, seal_member_records

__all__ = [
    "delete_policy",
    "enforce_retention",
    "erase_now",
    "evaluate_erasure",
    "export_records",
    "finish_restricted",
    "place_hold",
    "preview",
    "read_sealed",
    "receive_erasure",
    "refuse_erasure",
    "release_hold",
    "save_policy",
    "seal_member_records",
]
