"""The tamper-evident audit trail (C-7): one append-only hash chain per enterprise.

- `record(...)` / `record_many(...)` append events in the caller's transaction: the writer locks
  the enterprise's chain head (`AuditChainHead`), so events are chained one after another, and a
  change rolled back takes its events with it.
- hash = SHA-256(previous hash + canonical JSON of the event): every column but the surrogate id,
  keys sorted, no spaces, UTF-8. The first event's previous hash is 64 zeros.
- Personal data (names, reasons, anything about a person) goes in `personal`: it is encrypted with
  the member's data key (compliance.crypto) *before* hashing, so destroying the key
  (crypto-shredding) leaves the chain verifiable. Without a member, personal data is not accepted.
- `verify(enterprise_id=None)` recomputes every chain and names the first broken event;
  `manage.py verify_audit` prints it.
"""

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC

from django.db import transaction
from django.utils import timezone

from . import crypto
from .models import AuditChainHead, AuditEvent

GENESIS = "0" * 64


@dataclass
class Event:
    """An event to record: what happened (`action`), to which object, about which member and
    exit; `data` holds facts that are not personal, `personal` what is (sealed)."""

    action: str
    object_type: str
    object_id: object = ""
    member_id: int | None = None
    exit_id: int | None = None
    data: dict = field(default_factory=dict)
    personal: dict | None = None


def record(enterprise_id: int, *, actor, **event) -> AuditEvent:
    """Append one event (see `Event` for the keyword arguments) to the enterprise's chain."""
    return record_many(enterprise_id, [Event(**event)], actor=actor)[0]


def record_many(enterprise_id: int, events: list[Event], *, actor) -> list[AuditEvent]:
    """Append `events`, in order, to the enterprise's chain: one lock, one insert."""
    if not events:
        return []
    with transaction.atomic():
        head = lock_chain(enterprise_id)
        now = timezone.now()
        actor_id = getattr(actor, "pk", None)
        actor_name = _name_of(actor)
        keys: dict[int, bytes | None] = {}
        rows = []
        seq, prev_hash = head.seq, head.hash
        for event in events:
            seq += 1
            row = AuditEvent(
                enterprise_id=enterprise_id,
                seq=seq,
                created_at=now,
                actor_id=actor_id,
                actor_name=actor_name,
                action=event.action,
                object_type=event.object_type,
                object_id=str(event.object_id or ""),
                member_id=event.member_id,
                exit_id=event.exit_id,
                data=event.data or {},
                sealed_data=_seal_personal(enterprise_id, seq, event, keys),
                prev_hash=prev_hash,
            )
            row.hash = compute_hash(row)
            prev_hash = row.hash
            rows.append(row)
        AuditEvent.objects.bulk_create(rows)
        head.seq, head.hash = seq, prev_hash
        head.save(update_fields=["seq", "hash"])
    return rows


def lock_chain(enterprise_id: int) -> AuditChainHead:
    """Lock the enterprise's chain head, in the caller's transaction: its events, written later in
    that transaction, follow one another. A door that locks other rows too takes this first, so
    that writers of one enterprise never wait for each other in two orders."""
    locked = AuditChainHead.objects.select_for_update()
    head = locked.filter(enterprise_id=enterprise_id).first()
    if head is None:
        # The enterprise's first event: two at once insert the head once.
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(enterprise_id=enterprise_id, seq=0, hash=GENESIS)],
            ignore_conflicts=True,
        )
        head = locked.get(enterprise_id=enterprise_id)
    return head


def _seal_personal(enterprise_id: int, seq: int, event: Event, keys: dict) -> bytes | None:
    if not event.personal:
        return None
    if event.member_id is None:
        raise ValueError("Personal data in an audit event needs the member whose key seals it.")
    if event.member_id not in keys:
        try:
            keys[event.member_id] = crypto.data_key(event.member_id)
        except crypto.KeyDestroyed:
            keys[event.member_id] = None
    key = keys[event.member_id]
    if key is None:  # erased already: the personal data is not kept
        return None
    return crypto.seal(
        key, _canonical_json(event.personal), associated_data=_associated(enterprise_id, seq)
    )


def _associated(enterprise_id: int, seq: int) -> bytes:
    return f"audit:{enterprise_id}:{seq}".encode()


def _name_of(actor) -> str:
    if actor is None:
        return ""
    return actor.get_full_name() or actor.get_username()


def _canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(event: AuditEvent) -> bytes:
    """The event as hashed: every column but the id, in one fixed spelling."""
    sealed = bytes(event.sealed_data) if event.sealed_data is not None else None
    return _canonical_json(
        {
            "enterprise": event.enterprise_id,
            "seq": event.seq,
            "at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor_id": event.actor_id,
            "actor": event.actor_name,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "member_id": event.member_id,
            "exit_id": event.exit_id,
            "data": event.data,
            "sealed": base64.b64encode(sealed).decode() if sealed is not None else None,
            "prev": event.prev_hash,
        }
    ).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(event.prev_hash.encode() + canonical(event)).hexdigest()


def personal_data(event: AuditEvent) -> dict | None:
    """The event's personal data, decrypted; None when it has none or the key was destroyed."""
    if event.sealed_data is None or event.member_id is None:
        return None
    try:
        key = crypto.data_key(event.member_id, create=False)
    except crypto.KeyDestroyed:
        return None
    plain = crypto.unseal(
        key, event.sealed_data, associated_data=_associated(event.enterprise_id, event.seq)
    )
    return json.loads(plain)


@dataclass
class ChainCheck:
    enterprise_id: int
    checked: int
    broken: AuditEvent | None = None
    reason: str = ""

    @property
    def whole(self) -> bool:
        return not self.reason


def verify(enterprise_id: int | None = None, *, chunk_size: int = 2000) -> list[ChainCheck]:
    """Recompute each enterprise's chain (or one's). A chain is whole when its events count 1, 2,
    3… each names the previous event's hash, each hash is that of its own content, and the head
    names the last event. Otherwise the check names the first event that breaks it."""
    heads = AuditChainHead.objects.order_by("enterprise_id")
    if enterprise_id is not None:
        heads = heads.filter(enterprise_id=enterprise_id)
    enterprises = set(heads.values_list("enterprise_id", flat=True))
    events_of = AuditEvent.objects.order_by("enterprise_id").values_list("enterprise_id", flat=True)
    if enterprise_id is not None:
        events_of = events_of.filter(enterprise_id=enterprise_id)
    enterprises |= set(events_of.distinct())
    return [_verify_one(pk, chunk_size) for pk in sorted(enterprises)]


def _verify_one(enterprise_id: int, chunk_size: int) -> ChainCheck:
    check = ChainCheck(enterprise_id, 0)
    expected_seq, prev_hash = 1, GENESIS
    last = None
    events = AuditEvent.objects.filter(enterprise_id=enterprise_id).order_by("seq")
    for event in events.iterator(chunk_size=chunk_size):
        if event.seq != expected_seq:
            check.broken, check.reason = event, f"sequence {event.seq}, expected {expected_seq}"
            return check
        if event.prev_hash != prev_hash:
            check.broken, check.reason = event, "its previous hash is not the previous event's"
            return check
        if compute_hash(event) != event.hash:
            check.broken, check.reason = event, "its hash does not match its content"
            return check
        check.checked += 1
        expected_seq, prev_hash, last = expected_seq + 1, event.hash, event
    head = AuditChainHead.objects.filter(enterprise_id=enterprise_id).first()
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev_hash):
        check.broken = last
        check.reason = (
            f"the chain's head names event {head.seq}, the last event is {expected_seq - 1}"
        )
    return check
