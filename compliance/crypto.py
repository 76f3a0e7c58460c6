"""Envelope encryption (C-3): each member's data key, wrapped by the master key.

- The master key comes from the environment (`EXITDESK_MASTER_KEYS`: Fernet keys, comma-separated,
  the first one encrypts, every one decrypts: `MultiFernet`). Rotating it: put a new key first,
  keep the old ones after it, restart every process with that list, only then run
  `manage.py rotate_master_key`, and drop an old key only once no backup taken under it is kept
  (README "Master key").
- A member's data key is 32 random bytes for AES-GCM (`cryptography`), stored only wrapped
  (`MemberDataKey.wrapped_key`). `destroy_key` wipes it: whatever it sealed is unreadable for good
  (crypto-shredding).
- `seal` encrypts with a fresh random 12-byte nonce and binds `associated_data` (a record's id, an
  audit event's enterprise and sequence) into the tag: a ciphertext moved to another row does not
  decrypt there.
"""

import os
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from .models import MemberDataKey

NONCE_BYTES = 12


class KeyDestroyed(Exception):
    """The member's data key was destroyed (crypto-shredding): nothing it sealed can be read."""


class SealBroken(Exception):
    """A sealed value does not decrypt: altered, moved to another row, or sealed with another
    key."""


class MasterKeyMissing(ImproperlyConfigured):
    """EXITDESK_MASTER_KEYS is empty, holds an invalid key, or lacks the key that wrapped a data
    key: sealed data cannot be read on this server until its operator configures the key. A
    request that meets it gets a page saying so (compliance.middleware), never a bare 500."""


@cache
def _master() -> MultiFernet:
    keys = [key for key in settings.EXITDESK_MASTER_KEYS if key]
    if not keys:
        raise MasterKeyMissing(
            "EXITDESK_MASTER_KEYS is empty: set it to one or more Fernet keys (see README)."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as error:
        raise MasterKeyMissing(f"EXITDESK_MASTER_KEYS holds an invalid key: {error}") from None


def forget_master() -> None:
    """Read EXITDESK_MASTER_KEYS again on next use (after the settings changed: tests, rotation)."""
    _master.cache_clear()


def wrap(key: bytes) -> bytes:
    return _master().encrypt(key)


def unwrap(wrapped: bytes) -> bytes:
    try:
        return _master().decrypt(bytes(wrapped))
    except InvalidToken:
        raise MasterKeyMissing(
            "A member data key does not decrypt with EXITDESK_MASTER_KEYS: the key that wrapped "
            "it is missing from the list."
        ) from None


def rewrap(wrapped: bytes) -> bytes:
    """`wrapped` wrapped again by the first master key (rotation)."""
    try:
        return _master().rotate(bytes(wrapped))
    except InvalidToken:
        raise MasterKeyMissing(
            "A wrapped value does not decrypt with EXITDESK_MASTER_KEYS."
        ) from None


def master_key_problem() -> str | None:
    """What is wrong with the master keys this process has, or None: the keys are valid and
    unwrap the oldest and the newest stored data key (destroyed ones aside) and the oldest group
    robot's address. For the system check and `/readyz`; says nothing about whose keys they are.
    Raises DatabaseError when the database cannot be read."""
    forget_master()  # the settings as they are now
    try:
        _master()
    except MasterKeyMissing as error:
        return str(error)
    stored = MemberDataKey.objects.filter(wrapped_key__isnull=False)
    for row in {stored.order_by("pk").first(), stored.order_by("-pk").first()} - {None}:
        try:
            unwrap(row.wrapped_key)
        except MasterKeyMissing:
            return (
                "A stored member data key does not unwrap with EXITDESK_MASTER_KEYS: the master "
                "key that wrapped it is not in the list. Put it back (after the newest key) and "
                "restart every process; run rotate_master_key only once every process has the "
                "whole list."
            )
    robot = apps.get_model("offboarding", "GroupRobot").objects.order_by("pk").first()
    if robot is not None:
        try:
            unwrap(robot.sealed_url)
        except MasterKeyMissing:
            return (
                "A group robot's stored address does not unwrap with EXITDESK_MASTER_KEYS: the "
                "master key that wrapped it is not in the list. Put it back (after the newest "
                "key) and restart every process."
            )
    return None


def data_key(member_id: int, *, create: bool = True) -> bytes:
    """The member's data key, created on first use. Raises KeyDestroyed once it was destroyed."""
    row = MemberDataKey.objects.filter(member_id=member_id).first()
    if row is None:
        if not create:
            raise KeyDestroyed(member_id)
        with transaction.atomic():
            key = AESGCM.generate_key(bit_length=256)
            row, created = MemberDataKey.objects.get_or_create(
                member_id=member_id, defaults={"wrapped_key": wrap(key)}
            )
            if created:
                return key
    if row.wrapped_key is None:
        raise KeyDestroyed(member_id)
    return unwrap(row.wrapped_key)


def data_keys(member_ids) -> dict[int, bytes | None]:
    """The data keys of many members at once, created where missing: {member id: key, or None
    once destroyed}. Two queries whatever their number (three when some are new): what
    `data_key` does for one, for a batch of audit events about many members."""
    member_ids = set(member_ids)
    if not member_ids:
        return {}
    rows = dict(
        MemberDataKey.objects.filter(member_id__in=member_ids).values_list(
            "member_id", "wrapped_key"
        )
    )
    missing = member_ids - set(rows)
    if missing:
        MemberDataKey.objects.bulk_create(
            [
                MemberDataKey(
                    member_id=member_id, wrapped_key=wrap(AESGCM.generate_key(bit_length=256))
                )
                for member_id in sorted(missing)
            ],
            ignore_conflicts=True,  # created meanwhile by another writer: theirs is kept
        )
        rows.update(
            MemberDataKey.objects.filter(member_id__in=missing).values_list(
                "member_id", "wrapped_key"
            )
        )
    return {
        member_id: None if wrapped is None else unwrap(wrapped)
        for member_id, wrapped in rows.items()
    }


def seal(key: bytes, plaintext: str, *, associated_data: bytes) -> bytes:
    return sealer(key)(plaintext, associated_data)


def sealer(key: bytes):
    """`seal` for many values under one key: the AES-GCM object is built once (its key schedule),
    each value still gets its own random nonce. Returns a function (plaintext, associated data)
    -> nonce + ciphertext."""
    encrypt = AESGCM(key).encrypt
    urandom = os.urandom

    def seal_one(plaintext: str, associated_data: bytes) -> bytes:
        nonce = urandom(NONCE_BYTES)
        return nonce + encrypt(nonce, plaintext.encode(), associated_data)

    return seal_one


def unseal(key: bytes, sealed: bytes, *, associated_data: bytes) -> str:
    sealed = bytes(sealed)
    nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, associated_data).decode()
    except InvalidTag:
        raise SealBroken() from None


@transaction.atomic
def destroy_key(member_id: int) -> bool:
    """Crypto-shredding: wipe the member's data key. Returns whether there was one to destroy."""
    row = MemberDataKey.objects.select_for_update().filter(member_id=member_id).first()
    if row is None:
        # Nothing was ever sealed; a destroyed key keeps anything from being sealed later.
        MemberDataKey.objects.create(
            member_id=member_id, wrapped_key=None, destroyed_at=timezone.now()
        )
        return False
    if row.wrapped_key is None:
        return False
    row.wrapped_key = None
    row.destroyed_at = timezone.now()
    row.save(update_fields=["wrapped_key", "destroyed_at"])
    return True


def rotate_master_keys(batch_size: int = 500) -> int:
    """Re-wrap every data key with the first master key (MultiFernet.rotate). Returns how many."""
    master = _master()
    rotated = 0
    pending = MemberDataKey.objects.filter(wrapped_key__isnull=False).order_by("pk")
    last_pk = 0
    while True:
        with transaction.atomic():
            rows = list(pending.filter(pk__gt=last_pk).select_for_update()[:batch_size])
            if not rows:
                return rotated
            for row in rows:
                row.wrapped_key = master.rotate(bytes(row.wrapped_key))
            MemberDataKey.objects.bulk_update(rows, ["wrapped_key"])
            rotated += len(rows)
            last_pk = rows[-1].pk
