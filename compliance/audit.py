"""The tamper-evident audit trail (C-7): one append-only hash chain per enterprise.

- `record(...)` / `record_many(...)` append events in the caller's transaction: the writer locks
  the enterprise's chain head (`AuditChainHead`), so events are chained one after another, and a
  change rolled back takes its events with it. A door writes its events last, so it holds the
  head only for the append and its commit: the doors of one enterprise run side by side and take
  turns only there.
- `lock_doors(enterprise_id, shared=...)` is the first lock of every door (offboarding/services.py,
  "Lock order"): a transaction-scoped advisory lock per enterprise on PostgreSQL. The frequent
  doors that lock only their own rows (sign-offs, approvals) take it shared and run side by side;
  the doors that lock several people's rows (handover, removal, completion, erasure…) take it
  exclusive and take turns with every other door of the enterprise, as all doors once did. It
  also refuses a door of a chain that lost its head before the door changes anything.
- hash = HMAC-SHA256(audit key, previous hash + canonical JSON of the event): every column but the
  surrogate id (the key's id included), keys sorted, no spaces, UTF-8. The first event's previous
  hash is 64 zeros. The audit keys come from the environment (`EXITDESK_AUDIT_KEYS`, "id:secret",
  newest first), never from the database: whoever can only write rows cannot make an event that
  verifies. A new event is hashed with the first key and carries its id (`key_id`); an older one
  verifies with the key it names, so adding a key (rotation) re-hashes nothing — but every key an
  event names must stay configured.
- Events written before the chain was keyed carry no key id and a plain SHA-256 hash; they verify
  as such up to the head's `legacy_until` (set once by the migration that introduced the keys).
  A plain event after it is a forgery.
- The head names the last event. It is never deleted: a door of an enterprise whose chain has
  events but no head refuses (`ChainBroken`) rather than start a new chain; triggers refuse its
  DELETE and any UPDATE but an advance to an event of its chain (migration 0004).
- Personal data (names, reasons, anything about a person) goes in `personal`: it is encrypted with
  the member's data key (compliance.crypto) *before* hashing, so destroying the key
  (crypto-shredding) leaves the chain verifiable. Without a member, personal data is not accepted.
  Once the member's account was erased (C-5), it is never read again: when the law still keeps
  some of their records (the request ended restricted), their key is kept for those records, and
  the personal data of their events is restricted like them (`PersonalDataRestricted`) until the
  key goes with the last of them.
- `verify(enterprise_id=None)` recomputes every chain and says how the first break breaks it (an
  event deleted, renumbered, edited or forged, the head missing, ahead or behind);
  `manage.py verify_audit` prints it.
"""

import base64
import copy
import hashlib
import hmac
import json
import multiprocessing
import multiprocessing.util
import re
from dataclasses import dataclass, field
from datetime import UTC
from functools import cache, partial
from itertools import chain

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.core.signals import setting_changed
from django.db import connection, connections, transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy

from directory.choices import ErasureMode
from directory.services import DirectoryError

from . import crypto
from .choices import ErasureState
from .exceptions import ComplianceRefused
from .models import AuditChainHead, AuditEvent, ErasureRequest

GENESIS = "0" * 64
# The key id of an event written before the chain was keyed (plain SHA-256).
UNKEYED = ""
KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
MIN_SECRET_LENGTH = 32


class ChainBroken(ComplianceRefused):
    """The enterprise's audit chain cannot take another event (its head is missing): the door
    refuses, changing nothing, rather than start the chain again."""


def parse_keys(values) -> dict[str, bytes]:
    """EXITDESK_AUDIT_KEYS as {key id: secret}, newest first. Raises ImproperlyConfigured when the
    list is empty or an entry is not "id:secret" with a secret of at least 32 characters."""
    keys: dict[str, bytes] = {}
    for value in values:
        if not value:
            continue
        key_id, colon, secret = value.partition(":")
        if not colon or not KEY_ID.fullmatch(key_id):
            raise ImproperlyConfigured(
                'EXITDESK_AUDIT_KEYS holds an entry that is not "id:secret" (an id of 1 to 32 '
                "letters, digits, '.', '_' or '-')."
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise ImproperlyConfigured(
                f"EXITDESK_AUDIT_KEYS: the secret of key {key_id!r} is shorter than "
                f"{MIN_SECRET_LENGTH} characters."
            )
        if key_id in keys:
            raise ImproperlyConfigured(f"EXITDESK_AUDIT_KEYS names key {key_id!r} twice.")
        keys[key_id] = secret.encode()
    if not keys:
        raise ImproperlyConfigured(
            'EXITDESK_AUDIT_KEYS is empty: set it to one or more "id:secret" keys (see README).'
        )
    return keys


def check_audit_keys(app_configs=None, **kwargs):
    """System check: EXITDESK_AUDIT_KEYS is set and well formed (`manage.py check`)."""
    from django.core.checks import Error

    try:
        parse_keys(settings.EXITDESK_AUDIT_KEYS)
    except ImproperlyConfigured as error:
        return [Error(str(error), id="compliance.E001")]
    return []


@cache
def _keys() -> dict[str, "hmac.HMAC"]:
    """One HMAC object per configured key, keyed already: each hash copies it (cheap)."""
    return {
        key_id: hmac.new(secret, digestmod=hashlib.sha256)
        for key_id, secret in parse_keys(settings.EXITDESK_AUDIT_KEYS).items()
    }


@cache
def _secrets() -> dict[str, bytes]:
    """The configured keys' secrets, for one-shot HMACs (`hmac.digest`) while verifying."""
    return parse_keys(settings.EXITDESK_AUDIT_KEYS)


def forget_keys() -> None:
    """Read EXITDESK_AUDIT_KEYS again on next use (after the settings changed)."""
    _keys.cache_clear()
    _secrets.cache_clear()


@receiver(setting_changed)
def _audit_keys_changed(*, setting, **kwargs):
    if setting == "EXITDESK_AUDIT_KEYS":
        forget_keys()


class DirectoryTrail:
    """The audit trail as the directory's doors reach it (directory.services.connect_audit_trail:
    the directory cannot import this app). Connected by ComplianceConfig.ready."""

    def lock(self, enterprise_id: int) -> None:
        try:
            lock_doors(enterprise_id)
        except ChainBroken as broken:
            raise DirectoryError(str(broken)) from None

    def record(self, enterprise_id: int, *, actor, **event) -> None:
        record(enterprise_id, actor=actor, **event)

    def record_many(self, enterprise_id: int, events: list[dict], *, actor) -> None:
        record_many(enterprise_id, [Event(**event) for event in events], actor=actor)


def current_key_id() -> str:
    """The id of the key new events are hashed with: the first of EXITDESK_AUDIT_KEYS."""
    return next(iter(_keys()))


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
    if not connection.in_atomic_block:  # called alone: in a transaction of its own
        with transaction.atomic():
            return record_many(enterprise_id, events, actor=actor)
    # Everything that does not need the head is read before it is locked: the head is held from
    # then to the end of the caller's transaction, and the other doors of the enterprise wait.
    actor_id = getattr(actor, "pk", None)
    actor_name = _name_of(actor)
    # The members' data keys, for the personal data: fetched (and created) all at once.
    keys: dict[int, bytes | None] = crypto.data_keys(
        {event.member_id for event in events if event.personal and event.member_id}
    )
    key_id = current_key_id()
    # No savepoint of its own (two more round trips while the head is held): the head is locked
    # before anything is written, so a refusal (ChainBroken) leaves nothing behind.
    head = lock_chain(enterprise_id)
    now = timezone.now()
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
            key_id=key_id,
        )
        row.hash = compute_hash(row)
        prev_hash = row.hash
        rows.append(row)
    head.seq, head.hash = seq, prev_hash
    if connection.vendor == "postgresql" and len(rows) <= PIPELINED_EVENTS:
        _append_pipelined(head, rows)
    else:
        AuditEvent.objects.bulk_create(rows)
        head.save(update_fields=["seq", "hash"])
    return rows


# A door's few events are written with the head's advance in one round trip (`_append_pipelined`);
# a batch of more (an import, the benchmark's seeding) through bulk_create.
PIPELINED_EVENTS = 50
_EVENT_FIELDS = [field for field in AuditEvent._meta.concrete_fields if not field.primary_key]
_INSERT_EVENTS = "INSERT INTO {table} ({columns}) VALUES {values} RETURNING {pk}"
_ADVANCE_HEAD = "UPDATE {table} SET seq = %s, hash = %s WHERE enterprise_id = %s"


def _append_pipelined(head: AuditChainHead, rows: list[AuditEvent]) -> None:
    """Insert the events and advance the head in one round trip to PostgreSQL (psycopg's
    pipeline mode: both statements sent, then both answers read), while the head is held. The
    head's trigger sees the events: the UPDATE runs after the INSERT, in order."""
    quote = connection.ops.quote_name
    placeholders = "(" + ", ".join(["%s"] * len(_EVENT_FIELDS)) + ")"
    insert = _INSERT_EVENTS.format(
        table=quote(AuditEvent._meta.db_table),
        columns=", ".join(quote(field.column) for field in _EVENT_FIELDS),
        values=", ".join([placeholders] * len(rows)),
        pk=quote(AuditEvent._meta.pk.column),
    )
    params = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for row in rows
        for field in _EVENT_FIELDS
    ]
    advance = _ADVANCE_HEAD.format(table=quote(AuditChainHead._meta.db_table))
    with connection.cursor() as inserting, connection.cursor() as advancing:
        with connection.connection.pipeline():
            inserting.execute(insert, params)
            advancing.execute(advance, [head.seq, head.hash, head.enterprise_id])
        for row, (pk,) in zip(rows, inserting.fetchall(), strict=True):
            row.pk = pk
            row._state.adding = False


# The class id of the doors' advisory locks (two-int form: class, enterprise id). The one-bigint
# form (the beat's lock, directory/beat_lock.py) is a separate key space.
DOORS_LOCK_CLASS = 0x45584954  # "EXIT"


def lock_doors(enterprise_id: int, *, shared: bool = False) -> None:
    """The first lock of a door of the enterprise, held until its transaction ends.

    Exclusive (the default): the door takes turns with every other door of the enterprise — the
    doors that lock several rows of several kinds (members, handovers, exits) in orders no rule
    can fix. Shared: the door runs beside the other shared doors; it must lock only rows of its
    own (its exit, its items) FOR NO KEY UPDATE, and write its events last (see the module
    docstring). A transaction that holds it shared cannot ask for it exclusive: two such would
    wait for each other, so that is refused as a programming error. Shared is asked for by a door
    that is its own transaction; inside a larger one, the door takes it exclusive.

    On PostgreSQL an advisory lock; elsewhere (SQLite serialises every writer) nothing to lock.
    Raises ChainBroken when the enterprise's chain lost its head, before the door writes."""
    if shared and len(connection.atomic_blocks) > 1:
        # Inside a larger transaction (a batch of doors, a test): a shared lock taken now would be
        # held to its end, and a later exclusive door in it would wait for the other sessions'
        # shared locks while holding its own. Such a transaction takes turns instead.
        shared = False
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if not shared and len(connection.atomic_blocks) > 1:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND classid = %s AND objid = %s "
                    "AND mode = 'ShareLock' AND granted",
                    [DOORS_LOCK_CLASS, enterprise_id],
                )
                if cursor.fetchone()[0]:
                    raise RuntimeError(
                        "An exclusive door was called inside a shared door of the same "
                        "enterprise: take the exclusive lock from the start."
                    )
            function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
            # The lock, then whether the chain lost its head, in one round trip.
            cursor.execute(
                f"SELECT {function}(%s, %s), "
                f"EXISTS (SELECT 1 FROM {_HEAD_TABLE} WHERE enterprise_id = %s), "
                f"EXISTS (SELECT 1 FROM {_EVENT_TABLE} WHERE enterprise_id = %s)",
                [DOORS_LOCK_CLASS, enterprise_id, enterprise_id, enterprise_id],
            )
            _locked, has_head, has_events = cursor.fetchone()
            lost = has_events and not has_head
    else:
        lost = (
            not AuditChainHead.objects.filter(enterprise_id=enterprise_id).exists()
            and AuditEvent.objects.filter(enterprise_id=enterprise_id).exists()
        )
    if lost:  # a head is never deleted, so one seen stays; one being inserted has no events yet
        raise ChainBroken(str(_HEAD_LOST))


_HEAD_TABLE = AuditChainHead._meta.db_table
_EVENT_TABLE = AuditEvent._meta.db_table
_HEAD_LOST = gettext_lazy(
    "The enterprise's audit trail has lost its chain head, so nothing more can be "
    "recorded and nothing was changed. Ask the operator to run verify_audit and "
    "restore the head from a backup."
)


_READ_HEAD = f"SELECT seq, hash, legacy_until FROM {_HEAD_TABLE} WHERE enterprise_id = %s"


def _lock_head(enterprise_id: int) -> AuditChainHead | None:
    """The enterprise's head, locked, or None when none is seen: one plain statement (a
    queryset's own machinery costs more than the query, while the other doors may be waiting)."""
    with connection.cursor() as cursor:
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        cursor.execute(_READ_HEAD + lock, [enterprise_id])
        found = cursor.fetchone()
    if found is None:
        return None
    seq, hash_, legacy_until = found
    head = AuditChainHead(
        enterprise_id=enterprise_id, seq=seq, hash=hash_, legacy_until=legacy_until
    )
    head._state.adding = False
    return head


def lock_chain(enterprise_id: int) -> AuditChainHead:
    """Lock the enterprise's chain head, in the caller's transaction, until it ends: its events
    follow one another. Taken by `record_many`, when a door writes its events, last.

    Raises ChainBroken when the enterprise has events but no head: its chain is not started again
    (a new head would hide the deletion); nothing can be recorded until the head is restored."""
    head = _lock_head(enterprise_id)
    if head is not None:
        return head
    locked = AuditChainHead.objects.select_for_update()
    # No head seen: either the enterprise's first event, or a writer who is inserting the head at
    # this moment (its row is not visible yet), or a head that was lost. The insert waits for such
    # a writer to commit and then does nothing; the head read after it tells the three apart. Only
    # a head started here, at zero, over events already written, is a lost one (in a savepoint, so
    # that nothing of the refused new head stays in the caller's transaction).
    with transaction.atomic():
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(enterprise_id=enterprise_id, seq=0, hash=GENESIS)],
            ignore_conflicts=True,
        )
        head = locked.get(enterprise_id=enterprise_id)
        if head.seq == 0 and AuditEvent.objects.filter(enterprise_id=enterprise_id).exists():
            raise ChainBroken(str(_HEAD_LOST))
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
    """The actor's name as hashed into the chain: a staff user's (accountability), never a
    member's. A member's name and username are theirs to have erased (C-5), and a hashed column
    can never change, so an event by a member keeps only their id; the admin names them as they
    are now (after an erasure, by their pseudonym)."""
    if actor is None:
        return ""
    try:
        actor.member  # noqa: B018 (a member's login: a reverse one-to-one, cached on the user)
    except ObjectDoesNotExist:
        return actor.get_full_name() or actor.get_username()
    return ""


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
            # The key's id is part of the content; an event written before the keys, which has
            # none, keeps the spelling it was hashed with.
            **({"key": event.key_id} if event.key_id else {}),
        }
    ).encode()


_string = json.encoder.encode_basestring  # how json.dumps spells a str (ensure_ascii=False)
# `_canonical_json`'s encoder, built once (json.dumps builds one per call given these options).
_canonical_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode
_int = int.__repr__  # how json.dumps spells an int


def canonical_row(
    enterprise_id,
    seq,
    created_at,
    actor_id,
    actor_name,
    action,
    object_type,
    object_id,
    member_id,
    exit_id,
    data,
    sealed_data,
    prev_hash,
    key_id,
) -> bytes:
    """`canonical` of an event given as its column values (VERIFY_COLUMNS' order, without the id
    and hash), spelled directly: the same bytes, without building the event or a dict of it. The
    keys are written in their sorted order."""
    at = (  # spelled by the database already (`_verify_one` on PostgreSQL), or a datetime
        created_at
        if created_at.__class__ is str
        else created_at.astimezone(UTC).isoformat(timespec="microseconds")
    )
    sealed = (
        "null" if sealed_data is None else '"' + base64.b64encode(bytes(sealed_data)).decode() + '"'
    )
    key = f',"key":{_string(key_id)}' if key_id else ""
    return (
        f'{{"action":{_string(action)},"actor":{_string(actor_name)},'
        f'"actor_id":{"null" if actor_id is None else _int(actor_id)},"at":"{at}",'
        f'"data":{_canonical_encode(data)},"enterprise":{_int(enterprise_id)},'
        f'"exit_id":{"null" if exit_id is None else _int(exit_id)}{key},'
        f'"member_id":{"null" if member_id is None else _int(member_id)},'
        f'"object_id":{_string(object_id)},"object_type":{_string(object_type)},'
        f'"prev":{_string(prev_hash)},"sealed":{sealed},"seq":{_int(seq)}}}'
    ).encode()


class UnknownKey(Exception):
    """The event names an audit key that EXITDESK_AUDIT_KEYS does not hold."""


def compute_hash(event: AuditEvent, *, keys: dict | None = None) -> str:
    """The event's hash: HMAC-SHA256 with the key it names, or a plain SHA-256 for an event
    written before the chain was keyed. Raises UnknownKey for a key that is not configured."""
    payload = event.prev_hash.encode() + canonical(event)
    if not event.key_id:
        return hashlib.sha256(payload).hexdigest()
    keyed = (_keys() if keys is None else keys).get(event.key_id)
    if keyed is None:
        raise UnknownKey(event.key_id)
    mac = keyed.copy()
    mac.update(payload)
    return mac.hexdigest()


class PersonalDataRestricted(Exception):
    """The member's account was erased while the law keeps some of their records: the personal
    data of their events is stored and protected only, never read (C-5)."""


def account_erased(member_id: int) -> bool:
    """Whether an erasure of `member_id`'s account has run (erased, or restricted to what the
    law keeps)."""
    return ErasureRequest.objects.filter(
        member_id=member_id,
        mode=ErasureMode.ACCOUNT,
        state__in=(ErasureState.ERASED, ErasureState.RESTRICTED),
    ).exists()


def personal_data(event: AuditEvent) -> dict | None:
    """The event's personal data, decrypted; None when it has none or the key was destroyed.
    Raises PersonalDataRestricted once the member's account was erased (the key is then kept
    only for the records the law still keeps)."""
    if event.sealed_data is None or event.member_id is None:
        return None
    try:
        key = crypto.data_key(event.member_id, create=False)
    except crypto.KeyDestroyed:
        return None
    if account_erased(event.member_id):
        raise PersonalDataRestricted(event.member_id)
    plain = crypto.unseal(
        key, event.sealed_data, associated_data=_associated(event.enterprise_id, event.seq)
    )
    return json.loads(plain)


@dataclass
class ChainCheck:
    """The verification of one enterprise's chain: how many events were whole and, if the chain
    is broken, the event it names (`broken`, None when no event is left to name), whether the
    break lies after it, at the chain's end (`at_end`), and one sentence saying what happened."""

    enterprise_id: int
    checked: int
    broken: AuditEvent | None = None
    reason: str = ""
    at_end: bool = False

    @property
    def whole(self) -> bool:
        return not self.reason


# The columns `canonical_row` takes, in its order.
VERIFY_COLUMNS = (
    "enterprise_id",
    "seq",
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "member_id",
    "exit_id",
    "data",
    "sealed_data",
    "prev_hash",
    "key_id",
)


def verify(
    enterprise_id: int | None = None, *, chunk_size: int = 5000, jobs: int = 1
) -> list[ChainCheck]:
    """Recompute each enterprise's chain (or one's). A chain is whole when its events count 1, 2,
    3… each names the previous event's hash, each hash is that of its own content under the key it
    names (plain SHA-256 only up to the head's `legacy_until`), and the head names the last event.
    Otherwise the check names the first break and says what it is.

    With `jobs` > 1, up to that many processes check the chains side by side, one database
    connection each (`_verify_in_processes`); the checks come back in enterprise order, the same
    as one process gives."""
    heads = AuditChainHead.objects.order_by("enterprise_id")
    if enterprise_id is not None:
        heads = heads.filter(enterprise_id=enterprise_id)
    enterprises = set(heads.values_list("enterprise_id", flat=True))
    events_of = AuditEvent.objects.order_by("enterprise_id").values_list("enterprise_id", flat=True)
    if enterprise_id is not None:
        events_of = events_of.filter(enterprise_id=enterprise_id)
    enterprises |= set(events_of.distinct())
    keys = _keys() if enterprises else {}
    enterprises = sorted(enterprises)
    if jobs > 1 and enterprises and _may_verify_in_processes():
        return _verify_in_processes(enterprises, chunk_size, jobs)
    return [_verify_one(pk, chunk_size, keys) for pk in enterprises]


def _may_verify_in_processes() -> bool:
    """Whether other processes see what this one sees: on PostgreSQL, outside any transaction
    (events written in an open transaction, a test's for one, are this connection's alone), where
    processes can be forked."""
    return (
        connection.vendor == "postgresql"
        and not any(other.in_atomic_block for other in connections.all(initialized_only=True))
        and "fork" in multiprocessing.get_all_start_methods()
    )


# A chain of at least twice as many events is checked in parts side by side (`_segments`).
SEGMENT_EVENTS = 20_000


def _verify_in_processes(enterprises: list[int], chunk_size: int, jobs: int) -> list[ChainCheck]:
    """`verify` in `jobs` processes: the chains side by side, and a long chain's parts too. A part
    only proves that its events hold, given where the part before it ends; the parts of a chain
    that all hold and join up make it whole up to the head's check, done here. Any other chain,
    where something breaks, is checked again from its start in this process, so that its break
    is named exactly as one process names it."""
    heads = AuditChainHead.objects.in_bulk(enterprises, field_name="enterprise_id")
    tasks = [
        (enterprise_id, segment)
        for enterprise_id in enterprises
        for segment in _segments(heads.get(enterprise_id), jobs)
    ]
    keys = _keys()
    if len(tasks) < 2:  # one chain, in one part: nothing to do side by side
        return [_verify_one(enterprise_id, chunk_size, keys) for enterprise_id in enterprises]
    # The connections are closed before forking: each process opens its own (one socket shared by
    # two processes would mix their queries); this one opens its own again on next use.
    connections.close_all()
    pool = multiprocessing.get_context("fork").Pool(
        min(jobs, len(tasks)), initializer=_verifier_started
    )
    try:
        results = pool.map(partial(_verify_task, chunk_size=chunk_size), tasks, 1)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    parts: dict[int, list] = {}
    for (enterprise_id, _segment), result in zip(tasks, results, strict=True):
        parts.setdefault(enterprise_id, []).append(result)
    checks = []
    for enterprise_id in enterprises:
        if isinstance(parts[enterprise_id][0], ChainCheck):  # checked whole in one process
            checks.append(parts[enterprise_id][0])
            continue
        walk = _joined(parts[enterprise_id])
        if walk is None:
            checks.append(_verify_one(enterprise_id, chunk_size, keys))
        else:
            checks.append(_at_the_end(enterprise_id, heads[enterprise_id], walk))
    return checks


def _segments(head: AuditChainHead | None, jobs: int) -> list:
    """The parts a chain is checked in: [None] for the whole chain in one process, or the
    (after, upto, head's seq, head's legacy_until) of each part, split by sequence number: every
    number lies in one part (the first has no lower bound, the last no upper one)."""
    if head is None:
        return [None]
    count = min(jobs, head.seq // SEGMENT_EVENTS)
    if count < 2:
        return [None]
    bounds = [None, *(head.seq * n // count for n in range(1, count))]
    return [
        (after, upto, head.seq, head.legacy_until)
        for after, upto in zip(bounds, [*bounds[1:], None], strict=True)
    ]


def _verify_task(task, chunk_size: int):
    enterprise_id, segment = task
    if segment is None:
        return _verify_one(enterprise_id, chunk_size, _keys())
    return _verify_segment(enterprise_id, chunk_size, *segment)


def _verify_segment(enterprise_id, chunk_size, after, upto, head_seq, legacy_until):
    """Walk the events numbered after `after` and up to `upto`, assuming the chain whole up to
    `after`: the first must follow the one event numbered `after` (or be the chain's first).
    Returns (after, upto, the hash it started from, the walk at its end), or None when an event
    does not hold."""
    if after is None:
        start = GENESIS
    else:
        hashes = AuditEvent.objects.filter(enterprise_id=enterprise_id, seq=after)
        hashes = list(hashes.values_list("hash", flat=True)[:2])
        if len(hashes) != 1:
            return None
        start = hashes[0]
    expected_seq = 1 if after is None else after + 1
    walk = _Walk(head_seq, legacy_until, _keys(), expected_seq=expected_seq, prev_hash=start)
    rows = chain.from_iterable(verify_rows(enterprise_id, chunk_size, after=after, upto=upto))
    if walk.through(rows) is not None:
        return None
    walk.secrets = None  # not sent back
    return (after, upto, start, walk)


def _joined(parts) -> "_Walk | None":
    """The walk at the end of a chain checked in `parts` (`_verify_segment`'s results, in order),
    if each held and each began where the one before it ended: its last event numbered `upto`
    and hashed as the next one's start. None otherwise."""
    for before, part in zip([None, *parts[:-1]], parts, strict=True):
        if part is None:
            return None
        if before is not None:
            _after, upto, _start, walk = before
            if walk.expected_seq != upto + 1 or walk.prev_hash != part[2]:
                return None
    return parts[-1][3]


def _verifier_started() -> None:
    # Closed when the process ends, after its last chain: the database sees a clean goodbye.
    multiprocessing.util.Finalize(None, connections.close_all, exitpriority=10)


# What `verify_rows` reads on PostgreSQL: the columns `canonical` spells, as the database stores
# them, with the time spelled as `canonical` spells it (UTC, ISO 8601, microseconds) — a string
# is read much faster than a timestamp with its time zone — and `data` as its JSON text.
_VERIFY_SQL = (
    "SELECT id, hash, seq, prev_hash, key_id, action, actor_name, actor_id, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), "
    "data, enterprise_id, exit_id, member_id, object_id, object_type, sealed_data "
    "FROM {table} WHERE enterprise_id = %s{where} ORDER BY seq"
)
_KEY = ',"key":'  # the key id's entry, present only in an event that names a key
# A JSON text read into the values `json.loads` gives (its scanner, without the checks around
# it: PostgreSQL spells a jsonb value as exactly one JSON value).
_scan_json = json.scanner.make_scanner(json.JSONDecoder())
# `_canonical_json` of a value as a list of strings, the encoder built once and without the
# check for circular values (a value read from JSON has none).
_encode_json = (
    json.encoder.c_make_encoder(
        None, json.JSONEncoder().default, _string, None, ":", ",", True, False, True
    )
    if json.encoder.c_make_encoder is not None
    else lambda value, _level: (_canonical_encode(value),)
)


def verify_rows(enterprise_id: int, chunk_size: int = 5000, *, after=None, upto=None):
    """The enterprise's events in order, in lists of up to `chunk_size` tuples (id, hash, seq,
    previous hash, key id, payload): the payload is what the event's hash is taken of, its
    previous hash + `canonical`'s bytes, spelled from the row. Read from a server-side cursor.
    Only the events numbered after `after` and up to `upto`, when given.

    On PostgreSQL the bytes are spelled here from the columns as read (`data` from its JSON text),
    in one comprehension per chunk: no model, no converter, no call per row. Should this spelling
    ever differ from `canonical`'s, the event's hash fails and `_verify_one` reads the event again
    and asks `_event_break`, which hashes `canonical`'s bytes: a spelling can cost time, never a
    wrong verdict (tests/compliance/test_audit.py checks that the two are the same bytes)."""
    if connection.vendor != "postgresql":
        yield from _verify_rows_orm(enterprise_id, chunk_size, after, upto)
        return
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    where, params = "", [enterprise_id]
    if after is not None:
        where, params = f"{where} AND seq > %s", [*params, after]
    if upto is not None:
        where, params = f"{where} AND seq <= %s", [*params, upto]
    sql = _VERIFY_SQL.format(table=table, where=where)
    string, scan, encode, b64 = _string, _scan_json, _encode_json, base64.b64encode
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            # `canonical_row`'s spelling, written out once per chunk rather than called per row:
            # the keys in their sorted order, every string escaped as json.dumps escapes it.
            yield [
                (
                    pk,
                    hash_,
                    seq,
                    prev,
                    key_id,
                    (
                        f'{prev}{{"action":{string(action)},"actor":{string(actor_name)},'
                        f'"actor_id":{"null" if actor_id is None else actor_id},"at":"{at}",'
                        f'"data":{"".join(encode(scan(data, 0)[0], 0))},'
                        f'"enterprise":{enterprise},'
                        f'"exit_id":{"null" if exit_id is None else exit_id}'
                        f"{_KEY + string(key_id) if key_id else ''},"
                        f'"member_id":{"null" if member_id is None else member_id},'
                        f'"object_id":{string(object_id)},"object_type":{string(object_type)},'
                        f'"prev":{string(prev)},'
                        f'"sealed":{"null" if sealed is None else string(b64(sealed).decode())},'
                        f'"seq":{seq}}}'
                    ).encode(),
                )
                for (
                    pk,
                    hash_,
                    seq,
                    prev,
                    key_id,
                    action,
                    actor_name,
                    actor_id,
                    at,
                    data,
                    enterprise,
                    exit_id,
                    member_id,
                    object_id,
                    object_type,
                    sealed,
                ) in rows
            ]


def _verify_rows_orm(enterprise_id: int, chunk_size: int, after: int, upto):
    """`verify_rows` elsewhere than on PostgreSQL: the columns through the ORM, each event's
    bytes spelled by `canonical_row`."""
    events = AuditEvent.objects.filter(enterprise_id=enterprise_id)
    if after is not None:
        events = events.filter(seq__gt=after)
    if upto is not None:
        events = events.filter(seq__lte=upto)
    rows = (
        events.order_by("seq")
        .values_list("pk", "hash", *VERIFY_COLUMNS)
        .iterator(chunk_size=chunk_size)
    )
    chunk = []
    for pk, hash_, *columns in rows:
        seq, prev, key_id = columns[1], columns[12], columns[13]
        chunk.append((pk, hash_, seq, prev, key_id, prev.encode() + canonical_row(*columns)))
        if len(chunk) == chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _verify_one(enterprise_id: int, chunk_size: int, keys: dict) -> ChainCheck:
    head = AuditChainHead.objects.filter(enterprise_id=enterprise_id).first()
    # Without its head, the chain's last event and where the keys began are unknown: the events are
    # checked as far as they go, and the missing head is the break if nothing breaks before it.
    head_seq = None if head is None else head.seq
    legacy_until = float("inf") if head is None else head.legacy_until
    walk = _Walk(head_seq, legacy_until, keys, expected_seq=1, prev_hash=GENESIS)
    rows = chain.from_iterable(verify_rows(enterprise_id, chunk_size))
    # An event that does not hold is read again as a model instance, and `_event_break` says
    # what breaks; if nothing does (a spelling of its bytes that differs), the walk goes on.
    while (stopped := walk.through(rows)) is not None:
        event = AuditEvent.objects.get(pk=stopped)
        reason = _event_break(
            event, walk.expected_seq, walk.prev_hash, head_seq, legacy_until, keys
        )
        if reason:
            return ChainCheck(enterprise_id, walk.expected_seq - 1, event, reason)
        walk.expected_seq, walk.prev_hash, walk.last_pk = walk.expected_seq + 1, event.hash, stopped
    return _at_the_end(enterprise_id, head, walk)


class _Walk:
    """Where a chain's check stands: the sequence number the next event must have, the hash it
    must name as its previous one, and the id of the last event that held."""

    def __init__(self, head_seq, legacy_until, keys: dict, *, expected_seq: int, prev_hash: str):
        self.head_seq, self.legacy_until = head_seq, legacy_until
        # The secrets of the keys this verification holds (`keys`: the configured ones).
        self.secrets = {key_id: secret for key_id, secret in _secrets().items() if key_id in keys}
        self.expected_seq, self.prev_hash, self.last_pk = expected_seq, prev_hash, None

    def through(self, rows) -> int | None:
        """Walk `rows` (`verify_rows`' tuples) while each event holds: its number and previous
        hash follow, its key may hash it, and its hash is that of its payload. Returns the id of
        the first event that does not hold (the walk stands just before it), or None at the end
        of the rows."""
        expected_seq, prev_hash, last_pk = self.expected_seq, self.prev_hash, self.last_pk
        head_seq, legacy_until, secrets = self.head_seq, self.legacy_until, self.secrets
        sha256, hmac_digest = hashlib.sha256, hmac.digest
        stopped = None
        for pk, hash_, seq, prev, key_id, payload in rows:
            holds = (
                seq == expected_seq
                and (head_seq is None or seq <= head_seq)
                and prev == prev_hash
                and (key_id or seq <= legacy_until)
            )
            if holds:
                if not key_id:
                    holds = sha256(payload).hexdigest() == hash_
                elif (secret := secrets.get(key_id)) is not None:
                    holds = hmac_digest(secret, payload, "sha256").hex() == hash_
                else:
                    holds = False
            if not holds:
                stopped = pk
                break
            expected_seq, prev_hash, last_pk = expected_seq + 1, hash_, pk
        self.expected_seq, self.prev_hash, self.last_pk = expected_seq, prev_hash, last_pk
        return stopped


def _at_the_end(enterprise_id: int, head: AuditChainHead | None, walk: _Walk) -> ChainCheck:
    """The check of a chain whose every event held (`walk` stands after the last one): whole if
    the head names that last event."""
    check = ChainCheck(enterprise_id, walk.expected_seq - 1)
    last = None if walk.last_pk is None else AuditEvent.objects.get(pk=walk.last_pk)
    last_seq, prev_hash = walk.expected_seq - 1, walk.prev_hash
    if head is None:
        if last is not None:
            check.broken, check.at_end = last, True
            check.reason = (
                "the chain's head is missing: it was deleted, so nothing says which event is the "
                "last and the doors of this enterprise refuse until it is restored"
            )
        return check
    if head.seq > last_seq:
        check.broken, check.at_end = last, True
        check.reason = (
            f"missing event(s) after seq {last_seq}: the chain's head names seq {head.seq}, so "
            f"the last {head.seq - last_seq:,} event(s) were deleted"
        )
    elif head.seq < last_seq:
        check.broken, check.at_end = last, True
        check.reason = (
            f"the chain's head is behind its events: it names seq {head.seq}, the last event is "
            f"seq {last_seq}; the events after seq {head.seq} were written past the writer, or "
            "the head was set back"
        )
    elif head.hash != prev_hash:
        check.broken, check.at_end = last, True
        check.reason = (
            f"the chain's head names seq {head.seq} with another hash than that event's: the "
            "head, or that event, was replaced"
        )
    return check


def _event_break(event, expected_seq, prev_hash, head_seq, legacy_until, keys) -> str:
    """Why `event` breaks the chain where it stands (the previous event's hash `prev_hash`), or
    "" if it does not."""
    appended = head_seq is not None and event.seq > head_seq
    if event.seq != expected_seq:
        return _gap(event, expected_seq, prev_hash, keys, head_seq if appended else None)
    if appended and not _hash_holds(event, keys):
        return _forged(head_seq)
    if event.prev_hash != prev_hash:
        return "its previous hash is not the previous event's: the event before it was rewritten"
    if not event.key_id and event.seq > legacy_until:
        return (
            f"forged: it has a plain SHA-256 hash, but every event after seq {legacy_until:,} is "
            "hashed with an audit key"
        )
    if event.key_id and event.key_id not in keys:
        return (
            f"its hash names audit key {event.key_id!r}, which EXITDESK_AUDIT_KEYS does not hold: "
            "forged, or that key was removed from the list (add it back to verify the event)"
        )
    if compute_hash(event, keys=keys) != event.hash:
        return "edited: its content no longer matches its hash"
    return ""


def _forged(head_seq: int) -> str:
    # Past the head, with a hash no configured key made: written around the writer, which
    # advances the head in the same transaction as its events.
    return (
        f"forged: it was appended after the chain's head (seq {head_seq}) with a hash that no "
        "audit key made"
    )


def _hash_holds(event, keys) -> bool:
    try:
        return compute_hash(event, keys=keys) == event.hash
    except UnknownKey:
        return False


def _gap(event, expected_seq, prev_hash, keys, appended_after) -> str:
    """The event's sequence number is not the next one: the event itself was renumbered, or
    forged past the head (`appended_after`: the head's seq, when the event lies past it), or the
    event(s) before it were deleted or renumbered."""
    where = f"sequence {event.seq}, expected {expected_seq}"
    if event.prev_hash == prev_hash:
        as_it_was = copy.copy(event)
        as_it_was.seq = expected_seq
        if _hash_holds(as_it_was, keys):
            return (
                f"{where}: it follows seq {expected_seq - 1} directly and its hash is that of "
                f"seq {expected_seq}, so its own number was changed (renumbered)"
            )
    if appended_after is not None and not _hash_holds(event, keys):
        return _forged(appended_after)
    moved = (
        AuditEvent.objects.filter(enterprise_id=event.enterprise_id, hash=event.prev_hash)
        .exclude(pk=event.pk)
        .first()
    )
    if moved is not None:
        line = (
            f"{where}. Event seq {event.seq - 1} is there as event id {moved.pk}, seq "
            f"{moved.seq}, action {moved.action!r}: renumbered"
        )
        if not _hash_holds(moved, keys):
            line += ", and its hash does not match its content"
        return line
    if event.seq - expected_seq == 1:
        return f"{where}. Event seq {expected_seq} is missing: deleted"
    return f"{where}. Events seq {expected_seq} to {event.seq - 1} are missing: deleted"
