"""Celery tasks of the directory. Thin: each calls one service function, which is idempotent and
runs under its job's lease (directory/jobs.py), or, for a queued chunk, is done at most once
(`JobChunk`). Schedules: config/schedule.py."""

from datetime import datetime

from celery import shared_task
from django.db import DatabaseError

from . import dissolution, invitations
from .jobs import JobTask


@shared_task(base=JobTask, name="directory.mark_pending_dissolution")
def mark_pending_dissolution() -> dict | None:
    """Hourly: in each enterprise whose local night has come, departments left without active
    members become pending dissolution, and those that gained one become active again (D-2, J-4).
    Returns the counts, or None when another run was going on."""
    return dissolution.mark_pending_dissolution()


@shared_task(
    name=invitations.JOB,
    autoretry_for=(DatabaseError,),
    retry_backoff=60,
    max_retries=5,
)
def invite_members(
    batch: str,
    index: int,
    enterprise_id: int,
    member_ids: list[int],
    actor_id: int | None,
    queued_at: str,
    site_url: str,
) -> dict:
    """Queued on commit by `invitations.queue_invitations` (the member admin's "Invite selected
    members" on a large selection): invite one chunk of members, each once, and finish the batch
    when it is the last. A database that fails half way is tried again after a wait: members
    already invited are skipped. Returns the chunk's counts."""
    return invitations.invite_chunk(
        batch,
        index,
        enterprise_id=enterprise_id,
        member_ids=member_ids,
        actor_id=actor_id,
        queued_at=datetime.fromisoformat(queued_at),
        site_url=site_url,
    )
