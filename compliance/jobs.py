"""The nightly retention job (J-3), split into chunks that any number of workers share.

`run_retention()` is the coordinator (the task `compliance.enforce_retention`, every 15 minutes).
It runs under the job's lease (directory/jobs.py: one run at a time, a JobRun row with counts and
errors) and takes the enterprises whose local night has come and that it has not done on their
local date. For each:

1. Plan: the enterprise's records that a policy could act on tonight are cut into aligned blocks
   of ids, `CHUNK_SIZE` ids each (ids 1–5000, 5001–10000, …; only the blocks that hold such a
   record), read as one set-based query (`chunk_ranges`). Each block is a `JobChunk` row keyed by
   the local date, the enterprise and the range ("2026-11-29:12:1-5000"), created once: a second
   run the same night finds the same keys.
2. Send every chunk of the night not yet done and not sent within the resend interval
   (`EXITDESK_CHUNK_RESEND_SECONDS`, 15 minutes by default): a chunk whose worker was killed
   (SIGKILL: its message stays unacknowledged in Redis until the broker's visibility timeout) is
   sent again by a later run of the same night. Each send is noted on the row (`sent_at`,
   `attempts`).
3. Once every chunk of the night is done (at once when they ran eagerly, else at a later run of
   the same night): finish the restricted erasure requests whose blocker lifted, record the
   night's totals and the proof on the run, and mark the enterprise done for the night — one
   transaction guarded by the NightlyMark (directory.jobs.finish_enterprise), so a run taking over
   from a lost one never counts the night twice.

An enterprise whose night hours have ended with chunks of its local date not done (a worker killed
in the last night hour) is still taken, without planning anew: its chunks are sent again and its
night finished, until its local midnight. Chunks still left after that midnight (every worker
down) are reported by the next night's first run, as an error of the enterprise, and their rows
dropped: tonight's plan covers their records again.

What the run says: for each enterprise taken, `chunks_sent` (by this run), `chunks_done` and
`chunks_left` (of the night, when the run ended). A run that leaves chunks to do ends `partial`
("Waiting for chunks"), never `succeeded`: the run that finds them all done and finishes the night
succeeds.

A chunk (`retention_chunk`) is one transaction: it claims its JobChunk row (locked, so a second
delivery waits and then finds it done), runs the retention on its id range (compliance.retention:
holds read again, floors and restricted records left alone), checks that no chat the floor keeps
was touched, and marks the row done with its counts. A chunk delivered twice does its work once; a
chunk killed half way rolls back whole, its message is delivered again (acks_late, once the
visibility timeout has passed) or a later run of the night sends it again, and it then does its work
as one clean run would.

The proof of the chat floor (工作聊天记录保存≥180天): each chunk notes the chats of its range that
the floor keeps (present, not anonymized) before its work and checks that each is still there,
untouched, after it; one touched would roll the chunk back and fail it. The run finishing an
enterprise records `chats_within_floor` (how many chats its floor keeps tonight) and
`chats_within_floor_touched` (the chunks' sum: 0) in its counts.

A chunk that fails is written as a failed JobRun of `compliance.enforce_retention_chunk` (the admin
highlights it; the task_failure handler does not write it twice); its chunk stays to do, and a
later run of the night sends it again.
"""

import functools
import logging
import operator
import os
import socket
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, ExpressionWrapper, F, Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from directory.choices import JobStatus
from directory.jobs import (
    JobTask,
    claim_chunk,
    due_tonight,
    finish_chunk,
    finish_enterprise,
    job_run,
    mark_recorded,
)
from directory.models import Enterprise, JobChunk, JobRun, NightlyMark

from .choices import RecordCategory, RetentionAction
from .erasure import finish_restricted
from .models import RetentionPolicy, WorkRecord
from .retention import effective_rules, enforce_retention, within_floors

logger = logging.getLogger(__name__)

JOB = "compliance.enforce_retention"
CHUNK_JOB = "compliance.enforce_retention_chunk"
# Ids per chunk: at 1,000 records a batch, a chunk is at most five batches — seconds, far below
# the broker's visibility timeout (config/settings/base.py).
CHUNK_SIZE = 5000


class FloorTouched(Exception):
    """A chunk touched a chat that its statutory floor keeps: the chunk is rolled back."""


def run_retention(*, now: datetime | None = None, chunk_size: int = CHUNK_SIZE) -> dict | None:
    """The coordinator (see the module docstring). Returns the run's counts per enterprise, or
    None when another run of the job holds its lease (this one then did nothing)."""
    now = now or timezone.now()
    with job_run(JOB) as run:
        if run is None:
            return None
        left = 0
        for enterprise, plan in _enterprises(now):
            try:
                left += _take(enterprise, run=run, now=now, chunk_size=chunk_size, plan=plan)
            except Exception as error:  # noqa: BLE001  (one enterprise's failure; the others go on)
                run.error(enterprise.pk, error)
        if left:
            run.ending = JobStatus.PARTIAL
        return run.row.counts


def _enterprises(now: datetime) -> list[tuple[Enterprise, bool]]:
    """The enterprises to take, each with whether to plan its chunks: those whose night has come
    and that are not done on their local date (planned), and those whose night has ended on a
    local date with chunks but not finished (a worker killed in the last night hour): their
    chunks are sent again and their night finished, until midnight, local time."""
    due = due_tonight(JOB, now=now)
    taken = [(enterprise, True) for enterprise in due]
    recent = JobChunk.objects.filter(job=JOB).filter(
        Q(done_at__isnull=True) | Q(done_at__gte=now - timedelta(days=1))
    )
    late = (
        Enterprise.objects.filter(pk__in=recent.values("enterprise_id"))
        .exclude(pk__in=[enterprise.pk for enterprise in due])
        .order_by("pk")
    )
    for enterprise in late:
        today = timezone.localtime(now, timezone=enterprise.time_zone).date()
        if not _tonight(enterprise, today).exists():
            continue
        if NightlyMark.objects.filter(job=JOB, enterprise=enterprise, local_date=today).exists():
            continue
        taken.append((enterprise, False))
    return taken


def resend_after() -> timedelta:
    """How long a chunk sent but not done waits before it is sent again."""
    return timedelta(seconds=settings.EXITDESK_CHUNK_RESEND_SECONDS)


def _take(enterprise: Enterprise, *, run, now: datetime, chunk_size: int, plan: bool) -> int:
    """Plan, send what is to send, finish the night when every chunk is done. Returns how many
    chunks of the night are left to do."""
    today = timezone.localtime(now, timezone=enterprise.time_zone).date()
    if plan:
        _report_unfinished_nights(enterprise, today=today, run=run)
        plan_chunks(enterprise, today=today, run_id=run.pk, chunk_size=chunk_size)
    # Never sent, or sent long enough ago that its worker must have died with it.
    to_send = _to_do(enterprise, today).filter(
        Q(sent_at__isnull=True) | Q(sent_at__lte=now - resend_after())
    )
    sent = 0
    for pk, key in list(to_send.values_list("pk", "key")):
        lo, hi = _range_of(key)
        enforce_retention_chunk.delay(enterprise.pk, lo, hi, today.isoformat(), run.pk)
        JobChunk.objects.filter(pk=pk).update(sent_at=now, attempts=F("attempts") + 1)
        sent += 1
        if sent % 1000 == 0:
            run.renew()
    total = _tonight(enterprise, today).count()
    left = _to_do(enterprise, today).count()
    run.count(enterprise.pk, chunks_sent=sent, chunks_done=total - left, chunks_left=left)
    if not left:
        finish_enterprise(
            run,
            JOB,
            enterprise,
            now=now,
            totals=lambda: _night_totals(enterprise, today=today),
        )
    return left


def _report_unfinished_nights(enterprise: Enterprise, *, today: date, run) -> None:
    """Chunks of an earlier local date still not done: that night was never finished (every
    worker down until its midnight). Said once, as an error of tonight's run (the admin home warns
    about it); the rows go, as tonight's plan covers their records again."""
    stale = JobChunk.objects.filter(job=JOB, enterprise=enterprise, done_at__isnull=True).exclude(
        key__startswith=f"{today.isoformat()}:"
    )
    nights = sorted({key.split(":", 1)[0] for key in stale.values_list("key", flat=True)})
    if not nights:
        return
    left = stale.count()
    run.error(
        enterprise.pk,
        ngettext(
            "The retention run of the night of %(nights)s was not finished: %(count)d chunk "
            "was never done. Tonight's run does its records again.",
            "The retention run of the night of %(nights)s was not finished: %(count)d chunks "
            "were never done. Tonight's run does their records again.",
            left,
        )
        % {"nights": ", ".join(nights), "count": left},
    )
    stale.delete()


def _acting_rules(enterprise: Enterprise):
    policies = RetentionPolicy.objects.filter(enterprise=enterprise).order_by()
    return [rule for rule in effective_rules(policies).values() if rule.acts]


def chunk_ranges(
    enterprise: Enterprise, *, today: date, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[int, int]]:
    """The id ranges (lo, hi), aligned on `chunk_size`, that hold a record of `enterprise` that a
    policy could purge or anonymize `today` (holds are read by the chunks themselves). One query,
    read as a stream: one small row per range."""
    rules = _acting_rules(enterprise)
    if not rules:
        return
    past = []
    for rule in rules:
        condition = Q(category=rule.category, created_at__lt=rule.cutoff(enterprise, today))
        if rule.action == RetentionAction.ANONYMIZE:
            condition &= Q(anonymized_at__isnull=True)
        past.append(condition)
    blocks = (
        WorkRecord.objects.filter(enterprise_id=enterprise.pk, restricted_at__isnull=True)
        .filter(functools.reduce(operator.or_, past))
        .exclude(
            within_floors(enterprise, today=today, categories=[rule.category for rule in rules])
        )
        # Integer division on both PostgreSQL and SQLite: the block an id falls in.
        .annotate(block=ExpressionWrapper((F("pk") - 1) / chunk_size, BigIntegerField()))
        .order_by("block")
        .values_list("block", flat=True)
        .distinct()
    )
    for block in blocks.iterator():
        yield block * chunk_size + 1, (block + 1) * chunk_size


def chunk_key(today: date | str, enterprise_id: int, lo: int, hi: int) -> str:
    day = today if isinstance(today, str) else today.isoformat()
    return f"{day}:{enterprise_id}:{lo}-{hi}"


def _range_of(key: str) -> tuple[int, int]:
    lo, hi = key.rsplit(":", 1)[1].split("-")
    return int(lo), int(hi)


def _tonight(enterprise: Enterprise, today: date):
    return JobChunk.objects.filter(
        job=JOB, enterprise=enterprise, key__startswith=f"{today.isoformat()}:{enterprise.pk}:"
    ).order_by("pk")


def _to_do(enterprise: Enterprise, today: date):
    return _tonight(enterprise, today).filter(done_at__isnull=True)


def plan_chunks(
    enterprise: Enterprise, *, today: date, run_id: int | None, chunk_size: int = CHUNK_SIZE
) -> int:
    """Create tonight's JobChunk rows of `enterprise` (those not created by an earlier run of the
    night), 1,000 at a time. Returns how many ranges were planned."""
    planned, rows = 0, []
    for lo, hi in chunk_ranges(enterprise, today=today, chunk_size=chunk_size):
        rows.append(
            JobChunk(
                job=JOB,
                key=chunk_key(today, enterprise.pk, lo, hi),
                enterprise=enterprise,
                run_id=run_id,
            )
        )
        if len(rows) == 1000:
            JobChunk.objects.bulk_create(rows, ignore_conflicts=True)
            planned, rows = planned + len(rows), []
    JobChunk.objects.bulk_create(rows, ignore_conflicts=True)
    return planned + len(rows)


def _night_totals(enterprise: Enterprise, *, today: date) -> dict:
    """Every chunk of the night is done: finish the erasures, and the night's totals and proof.
    Called once per enterprise and night (directory.jobs.finish_enterprise, under its mark)."""
    erasures = finish_restricted(enterprise, actor=None)
    totals = {"chunks": 0, "purged": 0, "anonymized": 0, "chats_within_floor_touched": 0}
    for counts in _tonight(enterprise, today).values_list("counts", flat=True).iterator():
        totals["chunks"] += 1
        for what in ("purged", "anonymized", "chats_within_floor_touched"):
            totals[what] += (counts or {}).get(what, 0)
    return {
        **totals,
        "erasures_finished": erasures,
        "chats_within_floor": _chats_within_floor(enterprise, today).count(),
    }


def _chats_within_floor(enterprise: Enterprise, today: date):
    """The enterprise's chats that the statutory floor keeps `today`, present and whole."""
    return WorkRecord.objects.filter(
        within_floors(enterprise, today=today, categories=[RecordCategory.CHAT]),
        enterprise_id=enterprise.pk,
        category=RecordCategory.CHAT,
        anonymized_at__isnull=True,
    )


def retention_chunk(
    enterprise_id: int, lo: int, hi: int, today: str, run_id: int | None = None
) -> dict:
    """One chunk of the night: the retention run on the records lo <= id <= hi of the enterprise,
    for its local date `today` (ISO), done at most once (see the module docstring). Returns its
    counts, or {"already_done": True} when another delivery did it."""
    key = chunk_key(today, enterprise_id, lo, hi)
    try:
        with transaction.atomic():
            if not claim_chunk(JOB, key, enterprise_id=enterprise_id, run_id=run_id):
                return {"already_done": True}
            counts = _run_chunk(enterprise_id, lo, hi, date.fromisoformat(today))
            finish_chunk(JOB, key, **counts)
        return counts
    except Exception as error:
        _record_failure(enterprise_id, key, error)
        mark_recorded(error)  # written above: the task_failure handler leaves it
        raise


def _run_chunk(enterprise_id: int, lo: int, hi: int, today: date) -> dict:
    enterprise = Enterprise.objects.get(pk=enterprise_id)
    in_range = Q(pk__gte=lo, pk__lte=hi)
    # At most `hi - lo + 1` ids: memory bounded by the chunk size.
    kept = list(
        _chats_within_floor(enterprise, today).filter(in_range).values_list("pk", flat=True)
    )
    result = enforce_retention(enterprise, today=today, id_range=(lo, hi))
    still = _chats_within_floor(enterprise, today).filter(pk__in=kept).count() if kept else 0
    touched = len(kept) - still
    if touched:
        raise FloorTouched(
            gettext(
                "The retention run touched %(count)d chat messages that the statutory floor "
                "keeps; nothing was changed."
            )
            % {"count": touched}
        )
    return {
        "purged": sum(result["purged"].values()),
        "anonymized": sum(result["anonymized"].values()),
        "whole_enterprise_held": int(result["whole_enterprise_held"]),
        "chats_within_floor": len(kept),
        "chats_within_floor_touched": touched,
    }


def _record_failure(enterprise_id: int, key: str, error: BaseException) -> None:
    """A failed chunk is a failed run of the chunk job (its own row, so that the coordinator's
    run, maybe still going on, is not rewritten), which the admin highlights. When even that
    cannot be written (the database gone), the log has it, and the chunk's own error is raised."""
    text = f"{key}: {type(error).__name__}: {error}"
    try:
        JobRun.objects.create(
            job=CHUNK_JOB,
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            worker=f"{socket.gethostname()}:{os.getpid()}",
            errors=[{"enterprise": enterprise_id, "error": text[:2000]}],
        )
    except Exception:
        logger.exception("could not record the failed retention chunk %s", text)


@shared_task(base=JobTask, name=CHUNK_JOB)
def enforce_retention_chunk(
    enterprise_id: int, lo: int, hi: int, today: str, run_id: int | None = None
) -> dict:
    """One chunk of the nightly retention job, sent by `compliance.enforce_retention`."""
    return retention_chunk(enterprise_id, lo, hi, today, run_id)
