"""Sealing (离职员工数据需加密封存, C-3): when an exit closes, the departed member's records are
encrypted with the member's own data key (compliance.crypto), and only staff with the permission
read them back, each read audited.

A record an erasure request restricted (`restricted_at`: kept only because a statutory floor or a
legal hold still applies, PIPL Art. 47 para. 2) is stored and protected, never used: it is not
read — sealed or not — nor exported (`refuse_restricted`), only erased once its blocker lapses.

A sealed record keeps nonce + AES-GCM ciphertext in `sealed_content`, bound to its id (the
associated data), and nothing of its plaintext: `content` is emptied in the same UPDATE. Records are
sealed in batches, each in its own transaction and written in one statement; sealing again seals
only what is not sealed yet.
"""

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import audit, crypto
from .exceptions import ComplianceRefused
from .models import WorkRecord

BATCH_SIZE = 5000


def associated_data(record_id: int) -> bytes:
    return f"work_record:{record_id}".encode()


def seal_member_records(
    member, *, actor, exit_id: int | None = None, record_nothing: bool = True
) -> int:
    """Seal every unsealed record `member` owns. Returns how many were sealed (0 when their key
    was destroyed: what it would seal was erased). Writes one audit event — when nothing was
    sealed, only if `record_nothing`.

    Holds no door's lock: each batch locks only its own records, and the event is written at the
    end (the audit chain's head is held only for that).

    The ids of the member's unsealed records are read first, from the owner's index (a query
    with no order to serve, so its plan does not hang on the table's statistics: ordered by id,
    it could walk the whole table's primary key). Then each batch of them locks the records that
    are still the member's and unsealed, reads only their ids and contents, seals them under one
    AES-GCM object, and writes them back in one statement (`_write_sealed`). Records written
    meanwhile are found by the next pass."""
    try:
        key = crypto.data_key(member.pk)
    except crypto.KeyDestroyed:
        return 0
    seal = crypto.sealer(key)
    sealed = 0
    unsealed = WorkRecord.objects.filter(owner=member, sealed_content__isnull=True)
    while True:
        ids = sorted(unsealed.order_by().values_list("pk", flat=True))
        sealed_in_pass = 0
        for start in range(0, len(ids), BATCH_SIZE):
            with transaction.atomic():
                rows = list(
                    unsealed.filter(pk__in=ids[start : start + BATCH_SIZE])
                    .order_by("pk")
                    .values_list("pk", "content")
                    .select_for_update()
                )
                if rows:
                    _write_sealed(
                        [(pk, seal(content, associated_data(pk))) for pk, content in rows],
                        timezone.now(),
                    )
                    sealed_in_pass += len(rows)
        sealed += sealed_in_pass
        if not sealed_in_pass:
            break
    if not sealed and not record_nothing:
        return 0
    audit.record(
        member.enterprise_id,
        actor=actor,
        action="records_sealed",
        object_type="member",
        object_id=member.pk,
        member_id=member.pk,
        exit_id=exit_id,
        data={"count": sealed},
    )
    return sealed


def _write_sealed(sealed: list[tuple[int, bytes]], now) -> None:
    """Store each (record id, sealed content), empty the content and set `sealed_at`: on
    PostgreSQL one UPDATE joined to the lists of ids and sealed values, elsewhere one prepared
    UPDATE run over every row (executemany)."""
    table = connection.ops.quote_name(WorkRecord._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Ids and values travel as two comma-separated texts (the values in hex): quoting two
            # strings is far cheaper than quoting an array of bytea element by element.
            cursor.execute(
                f"UPDATE {table} AS record SET sealed_content = decode(sealed.value, 'hex'), "
                "content = '', sealed_at = %s "
                "FROM unnest(string_to_array(%s, ',')::bigint[], string_to_array(%s, ',')) "
                "AS sealed(id, value) WHERE record.id = sealed.id",
                [
                    at,
                    ",".join([str(pk) for pk, _value in sealed]),
                    ",".join([value.hex() for _pk, value in sealed]),
                ],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET sealed_content = %s, content = '', sealed_at = %s "
                "WHERE id = %s",
                [(value, at, pk) for pk, value in sealed],
            )


def restricted_message() -> str:
    """Why a restricted record is neither read nor exported: one sentence."""
    return _(
        "This record is restricted: its member asked for their data to be erased, and it is kept "
        "only while a statutory floor or a legal hold still applies, so it can be neither read "
        "nor exported until it is erased."
    )


def refuse_restricted(record: WorkRecord) -> None:
    """Raise ComplianceRefused when `record` is restricted (see the module docstring)."""
    if record.restricted_at is not None:
        raise ComplianceRefused(restricted_message())


def may_read_sealed(user, record: WorkRecord) -> bool:
    return user is not None and user.has_perm("compliance.view_sealed_workrecord", record)


def read_sealed(record: WorkRecord, *, actor) -> str:
    """The plaintext of a sealed record, for staff holding the permission in its enterprise.
    Every read is an audit event. Raises ComplianceRefused when not allowed or not readable."""
    if not may_read_sealed(actor, record):
        raise ComplianceRefused(_("You are not allowed to read sealed records here."))
    refuse_restricted(record)
    if record.sealed_content is None:
        raise ComplianceRefused(_("This record is not sealed."))
    if record.owner_id is None:
        raise ComplianceRefused(_("This record was anonymized: its content is gone."))
    try:
        key = crypto.data_key(record.owner_id, create=False)
    except crypto.KeyDestroyed:
        raise ComplianceRefused(
            _("This record's key was destroyed (erased on request): it can never be read again.")
        ) from None
    with transaction.atomic():
        try:
            plaintext = crypto.unseal(
                key, record.sealed_content, associated_data=associated_data(record.pk)
            )
        except crypto.SealBroken:
            raise ComplianceRefused(
                _(
                    "This record's sealed content does not decrypt: it was altered or moved "
                    "from another record."
                )
            ) from None
        audit.record(
            record.enterprise_id,
            actor=actor,
            action="sealed_record_read",
            object_type="work_record",
            object_id=record.pk,
            member_id=record.owner_id,
            data={"category": record.category},
        )
    return plaintext
