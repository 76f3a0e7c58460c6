"""Exports of a member's work records, CSV or JSON (跨境数据传输, C-6).

- `plan_export(member, records, *, actor)` says what an export would be (how many records,
  whether it crosses regions, how many are sealed) before the legal basis is asked.
- `check_export(member, records, *, actor, legal_basis)` says whether an export may go ahead and
  raises `ComplianceRefused` (changing nothing) when not: the actor needs
  `compliance.export_workrecord` in the member's enterprise; every record must be the member's;
  and when the member's data region, or any selected record's, differs from the enterprise's home
  region the export crosses regions and needs a legal basis (`field="legal_basis"`).
- `export_records(member, records, *, actor, format, legal_basis)` checks, then writes the file
  and, in one transaction, the `RecordExport` row (with the legal basis) and one audit event
  ("records_exported": counts, format, whether it crossed regions and how many sealed records it
  decrypted in `data`; the legal basis in `personal`, sealed with the member's key).

Every CSV cell that a spreadsheet would read as a formula — one beginning with `=`, `+`, `-`, `@`,
a tab or a carriage return — is written with a single quote before it (`neutralise_cell`, the
OWASP advice against CSV injection): a record's content such as `=HYPERLINK(…)` opens as text. The
JSON export carries the values as they are (no spreadsheet reads JSON as formulas).

Restricted records (an erasure request keeps them only while a statutory floor or a legal hold
applies) are never exported: a selection holding one is refused, saying why.

Sealed records are exported decrypted only for an actor who may read sealed records
(`sealing.may_read_sealed`); each one decrypted counts as a sealed read, named by the export's
audit event (`sealed_read`). Anyone else gets "[sealed]" in their place. Records whose key was
destroyed (erased on request) read "[erased]".

The records are read set-based (one query, streamed by `iterator`), the member's data key once.
"""

import csv
import io
import json
import re
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import audit, crypto, sealing
from .choices import ExportFormat
from .exceptions import ComplianceRefused
from .models import RecordExport

EXPORT_PERMISSION = "compliance.export_workrecord"
CHUNK_SIZE = 2000

# In place of content the export does not carry.
SEALED_PLACEHOLDER = "[sealed]"
ERASED_PLACEHOLDER = "[erased]"
BROKEN_PLACEHOLDER = "[seal broken]"

COLUMNS = (
    "id",
    "employee_number",
    "owner",
    "category",
    "document_type",
    "created_at",
    "data_region",
    "sealed",
    "sealed_at",
    "content",
)


@dataclass(frozen=True)
class ExportCheck:
    """What an allowed export would be: how many records, and whether it crosses regions."""

    record_count: int
    cross_border: bool
    sealed_count: int


def plan_export(member, records, *, actor) -> ExportCheck:
    """What exporting `records` (a WorkRecord queryset) as `member`'s records would be, before
    the legal basis is asked. Raises ComplianceRefused when it may not happen at all; reads only
    (two small queries)."""
    if actor is None or not actor.has_perm(EXPORT_PERMISSION, member):
        raise ComplianceRefused(_("You are not allowed to export this member's records."))
    records = records.order_by()
    if records.exclude(owner_id=member.pk).exists():
        raise ComplianceRefused(
            _("Export one member's records at a time: the selection holds other records.")
        )
    enterprise = member.enterprise
    counts = records.aggregate(
        total=Count("pk"),
        elsewhere=Count("pk", filter=~Q(data_region=enterprise.data_region)),
        sealed=Count("pk", filter=Q(sealed_content__isnull=False)),
        restricted=Count("pk", filter=Q(restricted_at__isnull=False)),
    )
    if not counts["total"]:
        raise ComplianceRefused(_("There are no records to export."))
    if counts["restricted"]:
        raise ComplianceRefused(
            ngettext(
                "%(count)d of these records is restricted: its member asked for their data to "
                "be erased, and it is kept only while a statutory floor or a legal hold still "
                "applies, so it cannot be exported.",
                "%(count)d of these records are restricted: their member asked for their data to "
                "be erased, and they are kept only while a statutory floor or a legal hold still "
                "applies, so they cannot be exported.",
                counts["restricted"],
            )
            % {"count": counts["restricted"]}
        )
    return ExportCheck(
        record_count=counts["total"],
        cross_border=member.data_region != enterprise.data_region or counts["elsewhere"] > 0,
        sealed_count=counts["sealed"],
    )


def check_export(member, records, *, actor, legal_basis: str) -> ExportCheck:
    """Whether `actor` may export `records` (a WorkRecord queryset) as `member`'s records with
    this legal basis. Raises ComplianceRefused with the reason; reads only."""
    check = plan_export(member, records, actor=actor)
    if check.cross_border and not (legal_basis or "").strip():
        raise ComplianceRefused(
            _(
                "These records leave the enterprise's home region (%(home)s): record the legal "
                "basis of the transfer."
            )
            % {"home": member.enterprise.get_data_region_display()},
            field="legal_basis",
        )
    return check


def export_records(
    member, records, *, actor, format: str, legal_basis: str = ""
) -> tuple[RecordExport, bytes, str]:
    """Export `records` (a WorkRecord queryset of `member`'s records) as CSV or JSON.

    Preconditions: those of `check_export`, and a known format. Side effects, in one
    transaction: a `RecordExport` row and its audit event ("records_exported"). Returns the
    export row, the file's bytes and a file name."""
    if format not in ExportFormat.values:
        raise ComplianceRefused(_("Choose CSV or JSON."), field="format")
    legal_basis = (legal_basis or "").strip()
    check = check_export(member, records, actor=actor, legal_basis=legal_basis)
    with transaction.atomic():
        rows, stats = _rows(member, records, actor=actor)
        exported_at = timezone.now()
        export = RecordExport.objects.create(
            enterprise_id=member.enterprise_id,
            member=member,
            format=format,
            categories=sorted(stats["categories"]),
            record_count=len(rows),
            cross_border=check.cross_border,
            legal_basis=legal_basis,
            exported_by=actor,
            exported_at=exported_at,
        )
        audit.record(
            member.enterprise_id,
            actor=actor,
            action="records_exported",
            object_type="record_export",
            object_id=export.pk,
            member_id=member.pk,
            data={
                "format": format,
                "count": len(rows),
                "categories": sorted(stats["categories"]),
                "cross_border": check.cross_border,
                "member_region": member.data_region,
                "home_region": member.enterprise.data_region,
                "sealed_read": stats["sealed_read"],
                "sealed_withheld": stats["sealed_withheld"],
            },
            personal={"legal_basis": legal_basis} if legal_basis else None,
        )
    content = _as_csv(rows) if format == ExportFormat.CSV else _as_json(rows)
    return export, content, _file_name(member, exported_at, format)


def _rows(member, records, *, actor) -> tuple[list[dict], dict]:
    """The exported rows, oldest first, and what they hold. One query, streamed."""
    zone = member.enterprise.time_zone
    stats = {"categories": set(), "sealed_read": 0, "sealed_withheld": 0}
    may_read = None  # asked at the first sealed record (every record is of one enterprise)
    key = None
    key_destroyed = False
    rows = []
    queryset = (
        records.defer(None)  # a queryset that deferred the content (the admin's list) loads it
        .filter(owner_id=member.pk)
        .order_by("created_at", "pk")
        .only(
            "pk",
            "enterprise_id",
            "owner_id",
            "category",
            "document_type",
            "created_at",
            "data_region",
            "content",
            "sealed_content",
            "sealed_at",
            "restricted_at",
        )
    )
    for record in queryset.iterator(chunk_size=CHUNK_SIZE):
        # Restricted since the check (an erasure evaluated meanwhile): the export is refused.
        sealing.refuse_restricted(record)
        stats["categories"].add(record.category)
        content = record.content
        if record.sealed_content is not None:
            if may_read is None:
                may_read = sealing.may_read_sealed(actor, record)
            if not may_read:
                content = SEALED_PLACEHOLDER
                stats["sealed_withheld"] += 1
            else:
                if key is None and not key_destroyed:
                    try:
                        key = crypto.data_key(member.pk, create=False)
                    except crypto.KeyDestroyed:
                        key_destroyed = True
                if key_destroyed:
                    content = ERASED_PLACEHOLDER
                else:
                    try:
                        content = crypto.unseal(
                            key,
                            record.sealed_content,
                            associated_data=sealing.associated_data(record.pk),
                        )
                    except crypto.SealBroken:
                        content = BROKEN_PLACEHOLDER
                    else:
                        stats["sealed_read"] += 1
        rows.append(
            {
                "id": record.pk,
                "employee_number": member.employee_number,
                "owner": member.name,
                "category": record.category,
                "document_type": record.document_type,
                "created_at": record.created_at.astimezone(zone).isoformat(),
                "data_region": record.data_region,
                "sealed": record.sealed_content is not None,
                "sealed_at": (
                    record.sealed_at.astimezone(zone).isoformat() if record.sealed_at else None
                ),
                "content": content,
            }
        )
    return rows, stats


# What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    """`value` as a spreadsheet shows it as text: a string that would start a formula gets a
    single quote in front. Anything else is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _as_csv(rows: list[dict]) -> bytes:
    """UTF-8 with a byte-order mark, so Excel reads the Chinese right; no cell is a formula."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        row = {**row, "sealed": "yes" if row["sealed"] else "no"}
        writer.writerow({name: neutralise_cell(value) for name, value in row.items()})
    return buffer.getvalue().encode("utf-8-sig")


def _as_json(rows: list[dict]) -> bytes:
    return json.dumps(rows, ensure_ascii=False, indent=2).encode("utf-8")


def _file_name(member, exported_at, format: str) -> str:
    number = re.sub(r"[^A-Za-z0-9_-]+", "-", member.employee_number).strip("-") or str(member.pk)
    stamp = exported_at.astimezone(member.enterprise.time_zone).strftime("%Y%m%d-%H%M%S")
    return f"work-records-{number}-{stamp}.{format}"
