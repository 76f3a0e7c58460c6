"""Compliance data (C-1 … C-7): work records, their retention, sealing keys, legal holds, erasure
requests, exports, and the tamper-evident audit trail.

Written only by the service modules of this app (`records`, `sealing`, `retention`, `holds`,
`erasure`, `exports`, `audit`), each in one transaction; the admin and the other apps call them.

Work records carry no django-simple-history: a history row would keep a copy of the plaintext a
seal or an erasure must remove. Their changes are recorded as audit events instead.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from directory.choices import DataRegion, ErasureMode
from directory.models import Enterprise, EnterpriseScoped, Member
from directory.trigram import trigram_index

from .choices import (
    DocumentType,
    ErasureLevel,
    ErasureState,
    ExportFormat,
    RecordCategory,
    RetentionAction,
)


class WorkRecord(EnterpriseScoped):
    """One record of a member's work (C-1): a chat message, a file, an approval record, an
    attendance punch, an expense. Its content is plaintext until sealed (then `sealed_content`
    holds nonce + AES-GCM ciphertext and `content` is empty), or anonymized."""

    # Neither foreign key has an index of its own: the composite indexes below start with each
    # (every index costs each sealing and anonymizing UPDATE a new entry).
    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="work_records",
        verbose_name=_("enterprise"),
        db_index=False,
    )
    # Null once anonymized or pseudonymized: the record no longer names its member.
    owner = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="work_records",
        verbose_name=_("owner"),
        db_index=False,
    )
    owner_pseudonym = models.CharField(_("owner pseudonym"), max_length=64, blank=True)
    category = models.CharField(_("category"), max_length=16, choices=RecordCategory.choices)
    document_type = models.CharField(
        _("document type"), max_length=32, choices=DocumentType.choices, blank=True
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    data_region = models.CharField(
        _("data region"), max_length=2, choices=DataRegion.choices, default=DataRegion.CN
    )
    content = models.TextField(_("content"), blank=True)
    sealed_content = models.BinaryField(_("sealed content"), null=True, blank=True)
    sealed_at = models.DateTimeField(_("sealed at"), null=True, blank=True)
    anonymized_at = models.DateTimeField(_("anonymized at"), null=True, blank=True)
    # An erasure request that a floor or a hold blocks: the record is stored and protected only.
    restricted_at = models.DateTimeField(_("restricted at"), null=True, blank=True)

    same_enterprise_fields = ("owner",)

    class Meta:
        verbose_name = _("work record")
        verbose_name_plural = _("work records")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("view_sealed_workrecord", _("Can read sealed work records")),
            ("export_workrecord", _("Can export work records")),
        ]
        indexes = [
            # The retention run's batches: an enterprise's records of a category, oldest first, in
            # the batch's own order (created_at, id) — read in order and stopped at the batch's
            # size whatever the table's statistics say (none, on a freshly loaded table).
            models.Index(
                fields=["enterprise", "category", "created_at", "id"], name="record_retention"
            ),
            models.Index(fields=["owner", "category"], name="record_owner"),
            # The admin's list: an enterprise's records, newest first.
            models.Index(fields=["enterprise", "-created_at", "-id"], name="record_list"),
        ]

    def __str__(self):
        return f"{self.get_category_display()} #{self.pk}"

    @property
    def is_sealed(self) -> bool:
        return self.sealed_content is not None


class MemberDataKey(models.Model):
    """A member's own data key (envelope encryption, C-3): 32 random bytes for AES-GCM, stored
    only wrapped by the master key (MultiFernet). Destroying it (crypto-shredding, C-5) leaves
    every record and audit event sealed with it unreadable for good."""

    member = models.OneToOneField(
        Member, on_delete=models.PROTECT, related_name="data_key", verbose_name=_("member")
    )
    wrapped_key = models.BinaryField(_("wrapped key"), null=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    destroyed_at = models.DateTimeField(_("destroyed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("member data key")
        verbose_name_plural = _("member data keys")

    def __str__(self):
        return _("Data key of %(member)s") % {"member": self.member}


# The longest a policy may keep records, in days: 100 years, beyond any statutory retention
# (the longest in China, for accounting archives, is 30 years). Keeping for good is the "keep"
# action; a larger number would only overflow the dates the retention run computes (S-4).
MAX_KEEP_DAYS = 36500
_at_most_keep_days = format_lazy(_("At most {days} days."), days=MAX_KEEP_DAYS)


class RetentionPolicy(EnterpriseScoped):
    """Keep an enterprise's records of a category at least `keep_days`, then purge, anonymize or
    keep them (C-2). No category: every category. The statutory floors apply whatever a policy
    says (compliance.retention.FLOORS); where policies overlap, the longest retention wins."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="retention_policies",
        verbose_name=_("enterprise"),
    )
    category = models.CharField(
        _("category"),
        max_length=16,
        choices=RecordCategory.choices,
        blank=True,
        help_text=_("Empty: every category."),
    )
    keep_days = models.PositiveIntegerField(
        _("keep at least (days)"),
        validators=[MaxValueValidator(MAX_KEEP_DAYS, message=_at_most_keep_days)],
        help_text=format_lazy(
            _("At most {days} days; to keep records for good, choose “keep”."),
            days=MAX_KEEP_DAYS,
        ),
    )
    action = models.CharField(
        _("then"), max_length=16, choices=RetentionAction.choices, default=RetentionAction.KEEP
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")
        ordering = ["enterprise", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "category"],
                name="retention_policy_unique_per_category",
                violation_error_message=_(
                    "This enterprise has a policy for this category already."
                ),
            ),
            models.CheckConstraint(
                condition=Q(keep_days__lte=MAX_KEEP_DAYS),
                name="retention_policy_keep_days_at_most_max",
                violation_error_message=format_lazy(
                    _("A policy can keep records at most {days} days."), days=MAX_KEEP_DAYS
                ),
            ),
        ]

    def __str__(self):
        category = self.get_category_display() if self.category else _("Every category")
        return f"{category}: {self.keep_days} → {self.get_action_display()}"


class LegalHold(EnterpriseScoped):
    """A legal hold (C-4) on one member's records, or on the whole enterprise's (no member):
    while it stands, nothing it covers is purged, anonymized or erased. Releasing it deletes
    nothing by itself."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="legal_holds",
        verbose_name=_("enterprise"),
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="legal_holds",
        verbose_name=_("member"),
        help_text=_("Empty: every record of the enterprise."),
    )
    reason = models.TextField(_("reason"))
    starts_on = models.DateField(_("starts on"), default=timezone.localdate)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("placed by"),
    )
    placed_at = models.DateTimeField(_("placed at"), default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("released by"),
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    history = HistoricalRecords()

    same_enterprise_fields = ("member",)

    class Meta:
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        ordering = ["-placed_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="legal_hold_ends_after_it_starts",
                violation_error_message=_("A hold cannot end before it starts."),
            )
        ]

    def __str__(self):
        who = self.member.name if self.member_id else _("the whole enterprise")
        return _("Hold on %(who)s") % {"who": who}


class ErasureRequest(FSMModelMixin, EnterpriseScoped):
    """A departed member's request to erase their personal data (数据删除权, C-5), carried out in
    the enterprise's erasure mode. Moves only through compliance/erasure.py:
    received → evaluated → erased | restricted | refused; restricted → erased once the floor or
    hold that blocked it has lifted (the retention run finishes it)."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="erasure_requests",
        verbose_name=_("enterprise"),
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="erasure_requests", verbose_name=_("member")
    )
    mode = models.CharField(_("mode"), max_length=16, choices=ErasureMode.choices)
    # Mode `modules`: the categories to erase (RecordCategory values).
    categories = models.JSONField(_("categories"), default=list, blank=True)
    # Mode `levels`: anonymize, pseudonymize or delete.
    level = models.CharField(_("level"), max_length=16, choices=ErasureLevel.choices, blank=True)
    state = FSMField(
        _("state"), default=ErasureState.RECEIVED, choices=ErasureState.choices, protected=True
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    due_on = models.DateField(_("due on"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    evaluated_at = models.DateTimeField(_("evaluated at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    # What blocks it (restricted): [{"code": …, "message": …}, …].
    blockers = models.JSONField(_("blockers"), default=list, blank=True)
    refusal_reason = models.TextField(_("refusal reason"), blank=True)
    erased_count = models.PositiveIntegerField(_("records erased"), default=0)

    history = HistoricalRecords()

    same_enterprise_fields = ("member",)

    class Meta:
        verbose_name = _("erasure request")
        verbose_name_plural = _("erasure requests")
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["enterprise", "state"], name="erasure_open")]

    def __str__(self):
        return _("Erasure request of %(member)s") % {"member": self.member}

    # The transitions only move the state; compliance/erasure.py does the rest.

    @transition(field=state, source=ErasureState.RECEIVED, target=ErasureState.EVALUATED)
    def evaluate(self):
        self.evaluated_at = timezone.now()

    @transition(
        field=state,
        source=[ErasureState.EVALUATED, ErasureState.RESTRICTED],
        target=ErasureState.ERASED,
    )
    def erase(self):
        self.decided_at = timezone.now()
        self.blockers = []

    @transition(field=state, source=ErasureState.EVALUATED, target=ErasureState.RESTRICTED)
    def restrict(self, blockers):
        self.blockers = blockers

    @transition(
        field=state,
        source=[ErasureState.RECEIVED, ErasureState.EVALUATED],
        target=ErasureState.REFUSED,
    )
    def refuse(self, reason):
        self.decided_at = timezone.now()
        self.refusal_reason = reason


class RecordExport(EnterpriseScoped):
    """An export of a member's records (C-6), kept with its legal basis: required when the
    member's data region differs from the enterprise's home region (跨境数据传输)."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="record_exports",
        verbose_name=_("enterprise"),
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="record_exports", verbose_name=_("member")
    )
    format = models.CharField(_("format"), max_length=8, choices=ExportFormat.choices)
    categories = models.JSONField(_("categories"), default=list, blank=True)
    record_count = models.PositiveIntegerField(_("records"))
    cross_border = models.BooleanField(_("across regions"), default=False)
    legal_basis = models.TextField(_("legal basis"), blank=True)
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("exported by"),
    )
    exported_at = models.DateTimeField(_("exported at"), default=timezone.now)

    same_enterprise_fields = ("member",)

    class Meta:
        verbose_name = _("record export")
        verbose_name_plural = _("record exports")
        ordering = ["-exported_at"]

    def __str__(self):
        return _("Export of %(member)s's records") % {"member": self.member}


class AuditChainHead(models.Model):
    """The newest event of an enterprise's audit chain: writers lock this row, so events are
    chained one after another (compliance/audit.py). It names the last event (`seq`, `hash`), so a
    deleted last event is seen; it is never deleted, and on PostgreSQL and SQLite a trigger refuses
    a DELETE and any UPDATE but an advance to an event of its own chain (migration 0004).

    `legacy_until`: the events up to this sequence number were written before the chain was keyed
    and carry a plain SHA-256 hash; every later one must carry an HMAC (set once by migration 0003,
    never changed)."""

    enterprise = models.OneToOneField(
        Enterprise, on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)
    legacy_until = models.BigIntegerField(_("unkeyed events until"), default=0)

    class Meta:
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain heads")

    def __str__(self):
        return f"{self.enterprise_id}: #{self.seq}"


class AuditEvent(models.Model):
    """One append-only event of an enterprise's audit trail (C-7).

    hash = HMAC-SHA256 with the audit key named by `key_id` (EXITDESK_AUDIT_KEYS) of prev_hash +
    the canonical JSON of the event; an event written before the chain was keyed has no `key_id`
    and a plain SHA-256. `seq` counts from 1 per enterprise. Personal data is in `sealed_data`,
    encrypted with the member's data key before hashing, so destroying the key leaves the chain
    verifiable. Ids of members, users and exits are plain numbers, not foreign keys: nothing
    deleted or changed elsewhere may touch an event. On PostgreSQL and SQLite a trigger refuses
    UPDATE and DELETE on the table.
    """

    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.PROTECT, related_name="+", verbose_name=_("enterprise")
    )
    seq = models.BigIntegerField(_("sequence"))
    created_at = models.DateTimeField(_("at"))
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True)
    actor_name = models.CharField(_("actor"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    member_id = models.BigIntegerField(_("member id"), null=True, blank=True)
    exit_id = models.BigIntegerField(_("exit id"), null=True, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    sealed_data = models.BinaryField(_("sealed personal data"), null=True, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)
    # Empty: written before the chain was keyed (plain SHA-256).
    key_id = models.CharField(_("audit key"), max_length=32, blank=True, default="")

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["enterprise", "-seq"]
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "seq"], name="audit_event_seq_unique")
        ]
        indexes = [
            models.Index(fields=["member_id", "seq"], name="audit_event_member"),
            models.Index(fields=["exit_id", "seq"], name="audit_event_exit"),
            # The admin's list: an enterprise's trail, newest first.
            models.Index(fields=["enterprise", "-seq"], name="audit_event_list"),
            # The admin's search by words (an action, an object type).
            trigram_index("action", name="audit_action_trgm"),
            trigram_index("object_type", name="audit_object_type_trgm"),
        ]

    def __str__(self):
        # The action in words (the trail's admin keeps the list of them).
        from .admin.audit import action_label

        return f"#{self.seq} {action_label(self.action)}"
