"""The exit workflow's nightly job (J-2): closing the undo windows that have ended.

`close_undo_windows()` runs under the job's lease (directory/jobs.py: one run at a time, a JobRun
row with counts and errors) and takes the enterprises whose local night has come and that it has
not done on their local date. In each, every completed exit whose undo deadline has passed goes
through the workflow's `close` door as the system (`actor=None`), which seals the departed member's
records in the same transaction (C-3).

- Bounded: the exits are read as ids, a batch at a time, in id order (keyset: `pk > last`), so
  memory stays flat however many there are; each close is its own transaction (the door's).
- Twice is harmless: a closed exit is no longer `completed`, so a second run, or a run after one
  killed half way, finds only what is still left to close.
- An exit that cannot be closed (an error, or a refusal of the door) is recorded on the run
  (`run.error`) and the others go on; it is tried again on the enterprise's next night. An exit
  that someone closed or undid in the meantime is no error: it is counted as `skipped`.
- A close that fails because this process lacks the master key that wrapped the member's data key
  (`MasterKeyMissing`: the keys were changed before every process had the new list) is recorded
  the same way, and the enterprise is left not done tonight: the next hourly run tries again, so
  the exits are closed (and their records sealed) once every process has the key.
"""

from datetime import datetime

from django.utils import timezone

from compliance.crypto import MasterKeyMissing
from directory.jobs import due_tonight, finish_enterprise, job_run
from directory.models import Enterprise

from . import workflow
from .choices import ExitState
from .exceptions import ExitRefused
from .models import Exit

JOB = "offboarding.close_undo_windows"
BATCH_SIZE = 200


def close_undo_windows(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int | None:
    """Close every completed exit past its undo deadline in the enterprises due tonight.

    Returns how many exits were closed, or None when another run of the job holds its lease (this
    one then did nothing, and its JobRun says `skipped`)."""
    now = now or timezone.now()
    closed_in_all = 0
    with job_run(JOB) as run:
        if run is None:
            return None
        for enterprise in due_tonight(JOB, now=now):
            try:
                closed, skipped, key_missing = _close_in(
                    enterprise, run=run, now=now, batch_size=batch_size
                )
            except Exception as error:  # one enterprise's failure: the others go on
                run.error(enterprise.pk, error)
                continue
            if key_missing:  # tried again at the next run of the night
                run.count(enterprise.pk, closed=closed, skipped=skipped)
            else:
                finish_enterprise(
                    run, JOB, enterprise, now=now, totals={"closed": closed, "skipped": skipped}
                )
            closed_in_all += closed
    return closed_in_all


def _close_in(
    enterprise: Enterprise, *, run, now: datetime, batch_size: int
) -> tuple[int, int, int]:
    """(closed, skipped, failed for lack of a master key) in `enterprise`."""
    due = Exit.objects.filter(enterprise=enterprise).past_undo_window(now).order_by("pk")
    closed = skipped = key_missing = 0
    last_pk = 0
    while True:
        ids = list(due.filter(pk__gt=last_pk).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return closed, skipped, key_missing
        last_pk = ids[-1]
        for exit_id in ids:
            outcome = _close_one(exit_id, enterprise=enterprise, run=run)
            closed += outcome == "closed"
            skipped += outcome == "skipped"
            key_missing += outcome == "key_missing"
        run.renew()


def _close_one(exit_id: int, *, enterprise: Enterprise, run) -> str:
    exit_case = Exit(pk=exit_id, enterprise=enterprise)
    try:
        workflow.close(exit_case, actor=None)
    except ExitRefused as refused:
        if not Exit.objects.filter(pk=exit_id, state=ExitState.COMPLETED).exists():
            return "skipped"  # closed or undone by someone else since it was read
        run.error(enterprise.pk, f"exit {exit_id}: {refused}")
        return "failed"
    except MasterKeyMissing as error:
        run.error(enterprise.pk, f"exit {exit_id}: {type(error).__name__}: {error}")
        return "key_missing"
    except Exception as error:  # recorded on the run: the other exits go on
        run.error(enterprise.pk, f"exit {exit_id}: {type(error).__name__}: {error}")
        return "failed"
    return "closed"
