"""The exit workflow's data: Exit (a protected FSM), its approval steps, its checklist, and the
resignation inheritance (离职继承) of what the member owns: batches and their items.

The transition methods on Exit only move the state and set the fields that belong to the move;
every caller goes through offboarding/workflow.py, which locks, checks, saves and records history.
"""

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from directory.choices import HandoverPolicy
from directory.models import Enterprise, EnterpriseScoped, Member
from directory.trigram import trigram_index

from . import rules
from .choices import (
    OPEN_HANDOVER_STATES,
    OPEN_STATES,
    REMOVABLE_KINDS,
    ApproverKind,
    AutoCheck,
    BackupDesignationState,
    Decision,
    DirectorySyncKind,
    ExitKind,
    ExitState,
    HandoverState,
    InheritanceStatus,
    NotificationChannel,
    NotificationEvent,
    NotificationStatus,
    ResourceType,
    RobotPlatform,
    Team,
    TerminationSource,
    TerminationState,
    checklist_title,
)
from .querysets import ExitQuerySet


class ApprovalChainStep(EnterpriseScoped):
    """One step of an enterprise's approval chain; the chain is the steps in `position` order."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="approval_chain",
        verbose_name=_("enterprise"),
    )
    position = models.PositiveSmallIntegerField(_("position"))
    approver = models.CharField(_("approver"), max_length=32, choices=ApproverKind.choices)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("approval chain step")
        verbose_name_plural = _("approval chain")
        ordering = ["enterprise", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "position"],
                name="approval_chain_position_unique",
                violation_error_message=_("Two steps of the chain cannot share a position."),
            )
        ]

    def __str__(self):
        return f"{self.position}. {self.get_approver_display()}"


class ChecklistTemplateItem(EnterpriseScoped):
    """An item of an enterprise's exit checklist; each new exit copies the template."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="checklist_template",
        verbose_name=_("enterprise"),
    )
    position = models.PositiveSmallIntegerField(_("position"))
    code = models.SlugField(_("code"), max_length=40)
    title = models.CharField(_("title"), max_length=200)
    team = models.CharField(_("owning team"), max_length=8, choices=Team.choices)
    auto_check = models.CharField(
        _("checked automatically"),
        max_length=32,
        choices=AutoCheck.choices,
        blank=True,
        help_text=_("Leave empty for an item a person of the owning team signs off."),
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("checklist template item")
        verbose_name_plural = _("checklist template")
        ordering = ["enterprise", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "code"],
                name="checklist_template_code_unique",
                violation_error_message=_("The checklist already has an item with this code."),
            )
        ]

    def __str__(self):
        return self.title_shown

    @property
    def title_shown(self) -> str:
        """The title in the reader's language for a default item (offboarding.choices)."""
        return checklist_title(self.code, self.title)


class Exit(FSMModelMixin, EnterpriseScoped):
    """One departure of one member (X-1)."""

    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, related_name="exits", verbose_name=_("enterprise")
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="exits", verbose_name=_("member")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=ExitKind.choices)
    reason = models.TextField(_("reason"), blank=True)
    last_working_day = models.DateField(_("last working day"))
    successor = models.ForeignKey(
        Member,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="succeeding_exits",
        verbose_name=_("successor"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="requested_exits",
        verbose_name=_("requested by"),
    )
    state = FSMField(
        _("state"),
        default=ExitState.DRAFT,
        choices=ExitState.choices,
        protected=True,
        db_index=True,
    )
    rejection_reason = models.TextField(_("rejection reason"), blank=True)
    hr_signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("HR sign-off by"),
    )
    hr_signed_off_at = models.DateTimeField(_("HR sign-off at"), null=True, blank=True)
    it_signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("IT sign-off by"),
    )
    it_signed_off_at = models.DateTimeField(_("IT sign-off at"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    undo_deadline = models.DateTimeField(_("undo deadline"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # What completion changed, so that undo can put it back exactly.
    before_completion = models.JSONField(_("state before completion"), default=dict, blank=True)
    # Whether the member's login was active when a removal cut it (None: no removal), so that
    # cancelling the exit, or undoing it after completion, gives it back exactly.
    login_before_removal = models.BooleanField(
        _("login active before the removal"), null=True, blank=True
    )
    # The automatic checklist checks (AutoCheck value → passed) as they were when the exit
    # completed, written by the completing door: a completed, closed or reverted exit shows its
    # checklist as it ended, not as today's data would check it. None: not completed yet.
    checks_at_end = models.JSONField(_("automatic checks at the end"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()
    objects = ExitQuerySet.as_manager()

    same_enterprise_fields = ("member", "successor")

    class Meta:
        verbose_name = _("exit")
        verbose_name_plural = _("exits")
        ordering = ["-created_at"]
        permissions = [
            ("remove_member", _("Can remove a member (passive exit)")),
            ("undo_exit", _("Can undo a completed exit")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(state__in=OPEN_STATES),
                name="one_open_exit_per_member",
                violation_error_message=_("This member already has an exit in progress."),
            ),
            models.CheckConstraint(
                condition=~Q(successor=models.F("member")),
                name="exit_successor_is_not_the_member",
                violation_error_message=_("A member cannot succeed themselves."),
            ),
        ]

    def __str__(self):
        return _("Exit of %(member)s") % {"member": self.member}

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def undo_window_has_ended(self) -> bool:
        return self.undo_deadline is not None and timezone.now() >= self.undo_deadline

    # Transitions: only the move and its own fields. Callers: offboarding/workflow.py.

    @transition(
        field=state,
        source=ExitState.DRAFT,
        target=ExitState.PENDING_APPROVAL,
        permission=rules.fsm(rules.can_submit),
    )
    def submit(self):
        self.submitted_at = timezone.now()

    @transition(
        field=state,
        source=ExitState.PENDING_APPROVAL,
        target=ExitState.HANDOVER,
        permission=rules.fsm(rules.is_current_approver),
    )
    def approve(self):
        pass

    @transition(
        field=state,
        source=ExitState.PENDING_APPROVAL,
        target=ExitState.REJECTED,
        permission=rules.fsm(rules.is_current_approver),
    )
    def reject(self, *, reason: str):
        self.rejection_reason = reason

    @transition(
        field=state,
        source=[ExitState.DRAFT, ExitState.PENDING_APPROVAL, ExitState.HANDOVER],
        target=ExitState.CANCELLED,
        permission=rules.fsm(rules.can_cancel),
    )
    def cancel(self):
        pass

    @transition(
        field=state,
        source=ExitState.DRAFT,
        target=ExitState.HANDOVER,
        permission=rules.fsm(rules.can_remove),
        conditions=[lambda exit_case: exit_case.kind in REMOVABLE_KINDS],
    )
    def remove(self):
        pass

    @transition(
        field=state,
        source=ExitState.HANDOVER,
        target=ExitState.COMPLETED,
        permission=rules.fsm(rules.can_complete),
    )
    def complete(self):
        self.completed_at = timezone.now()
        self.undo_deadline = self.completed_at + self.enterprise.undo_window

    @transition(
        field=state,
        source=ExitState.COMPLETED,
        target=ExitState.REVERTED,
        permission=rules.fsm(rules.can_undo),
    )
    def undo(self):
        pass

    @transition(
        field=state,
        source=ExitState.COMPLETED,
        target=ExitState.CLOSED,
        permission=rules.fsm(rules.can_close),
        conditions=[lambda exit_case: exit_case.undo_window_has_ended],
    )
    def close(self):
        self.closed_at = timezone.now()


class ExitApproval(models.Model):
    """One step of one exit's approval, copied from the enterprise's chain at submit."""

    exit_case = models.ForeignKey(
        Exit, on_delete=models.CASCADE, related_name="approvals", verbose_name=_("exit")
    )
    position = models.PositiveSmallIntegerField(_("position"))
    approver = models.CharField(_("approver"), max_length=32, choices=ApproverKind.choices)
    # Who decides, resolved at submit; empty (or no longer active): HR of the enterprise decides.
    assignee = models.ForeignKey(
        Member,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_approvals",
        verbose_name=_("assigned to"),
    )
    decision = models.CharField(
        _("decision"), max_length=16, choices=Decision.choices, default=Decision.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    # Why HR gave the step to another approver (offboarding.workflow.reassign_step); the earlier
    # assignees and reasons are in the step's history.
    reassign_reason = models.TextField(_("reason for reassignment"), blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")
        ordering = ["exit_case", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["exit_case", "position"], name="exit_approval_position_unique"
            )
        ]

    def __str__(self):
        return f"{self.position}. {self.get_approver_display()}: {self.get_decision_display()}"

    @property
    def enterprise_id(self):
        """The exit's enterprise: the tenant wall and the object permissions ask it."""
        return self.exit_case.enterprise_id


class ChecklistItem(models.Model):
    """One item of one exit's checklist: done when its automatic check passes, or when signed."""

    exit_case = models.ForeignKey(
        Exit, on_delete=models.CASCADE, related_name="checklist", verbose_name=_("exit")
    )
    position = models.PositiveSmallIntegerField(_("position"))
    code = models.SlugField(_("code"), max_length=40)
    title = models.CharField(_("title"), max_length=200)
    team = models.CharField(_("owning team"), max_length=8, choices=Team.choices)
    auto_check = models.CharField(
        _("checked automatically"), max_length=32, choices=AutoCheck.choices, blank=True
    )
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("signed off by"),
    )
    signed_off_at = models.DateTimeField(_("signed off at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist")
        ordering = ["exit_case", "position"]
        constraints = [
            models.UniqueConstraint(fields=["exit_case", "code"], name="checklist_item_code_unique")
        ]

    def __str__(self):
        return self.title_shown

    @property
    def title_shown(self) -> str:
        """The title in the reader's language for a default item (offboarding.choices)."""
        return checklist_title(self.code, self.title)

    @property
    def enterprise_id(self):
        """The exit's enterprise: the tenant wall and the object permissions ask it."""
        return self.exit_case.enterprise_id

    @property
    def is_signed_off(self) -> bool:
        return self.signed_off_at is not None


class InheritanceBatch(EnterpriseScoped):
    """One handover of a leaving member's resources to their successors (离职继承, X-5).

    Written only by offboarding/inheritance.py; `successors` records, per resource type, the id of
    the member who received it; `undone_at` is set when undoing the exit gave everything back.
    """

    exit_case = models.ForeignKey(
        Exit,
        on_delete=models.CASCADE,
        related_name="inheritance_batches",
        verbose_name=_("exit"),
    )
    from_member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="+", verbose_name=_("leaving member")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("handed over by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Resource type (ResourceType value) → id of the member who received that type.
    successors = models.JSONField(_("successors by resource type"), default=dict, blank=True)
    undone_at = models.DateTimeField(_("given back at"), null=True, blank=True)

    history = HistoricalRecords()

    same_enterprise_fields = ("exit_case", "from_member")

    class Meta:
        verbose_name = _("inheritance batch")
        verbose_name_plural = _("inheritance batches")
        ordering = ["-created_at"]

    def __str__(self):
        return _("Handover of %(member)s") % {"member": self.from_member}


class InheritanceItem(models.Model):
    """One resource of one batch: to whom it went, and where its handover stands."""

    batch = models.ForeignKey(
        InheritanceBatch, on_delete=models.CASCADE, related_name="items", verbose_name=_("batch")
    )
    resource_type = models.CharField(
        _("resource type"), max_length=32, choices=ResourceType.choices
    )
    resource_id = models.BigIntegerField(_("resource id"))
    successor = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="inherited_items",
        verbose_name=_("successor"),
    )
    status = models.CharField(_("status"), max_length=16, choices=InheritanceStatus.choices)
    # For a waiting item: when the customer's acceptance period ends (the settle job's key).
    settles_at = models.DateTimeField(_("settles at"), null=True, blank=True)
    refusal_reason = models.TextField(_("refusal reason"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("inherited resource")
        verbose_name_plural = _("inherited resources")
        ordering = ["batch", "resource_type", "resource_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "resource_type", "resource_id"],
                name="inheritance_item_unique_per_batch",
                violation_error_message=_("This resource is already in this handover."),
            )
        ]
        indexes = [
            models.Index(fields=["status", "settles_at"], name="inheritance_item_settle"),
        ]

    def __str__(self):
        # The customer's (or group's…) name, as people know it: annotated by the lists
        # (`inheritance.with_resource_names`), else read here.
        name = getattr(self, "resource_name", None)
        if name is None:
            resource = self.resource_model.objects.filter(pk=self.resource_id).only("name").first()
            name = resource.name if resource is not None else None
        if name is None:  # the resource is gone
            return f"{self.get_resource_type_display()} #{self.resource_id}"
        return f"{name} ({self.get_resource_type_display()})"

    @property
    def resource_model(self):
        """The directory model of the resource (resource type "external_contact" → the model
        "externalcontact")."""
        return apps.get_model("directory", self.resource_type.replace("_", ""))

    @property
    def enterprise_id(self):
        """The batch's enterprise: the tenant wall and the object permissions ask it."""
        return self.batch.enterprise_id


class AccountFreeze(EnterpriseScoped):
    """An admin account frozen because it was stolen (管理员账号被盗, H-3), and its unfreezing.

    The record keeps what the freeze changed, so that unfreezing gives back the login as it was;
    the member's own rows carry the history of their status and role.
    """

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="account_freezes",
        verbose_name=_("enterprise"),
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="freezes", verbose_name=_("frozen member")
    )
    reason = models.TextField(_("reason"))
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("frozen by"),
    )
    frozen_at = models.DateTimeField(_("frozen at"), default=timezone.now)
    # The backup admin who became super admin, when the frozen account was the super admin.
    promoted = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("promoted to super admin"),
    )
    # What the freeze changed: {"role": …, "is_backup_admin": …, "login_active": …}.
    before = models.JSONField(_("state before the freeze"), default=dict)
    unfrozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("unfrozen by"),
    )
    unfrozen_at = models.DateTimeField(_("unfrozen at"), null=True, blank=True)

    history = HistoricalRecords()

    same_enterprise_fields = ("member", "promoted")

    class Meta:
        verbose_name = _("account freeze")
        verbose_name_plural = _("account freezes")
        ordering = ["-frozen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(unfrozen_at__isnull=True),
                name="one_standing_freeze_per_member",
                violation_error_message=_("This account is frozen already."),
            )
        ]

    def __str__(self):
        return _("Freeze of %(member)s") % {"member": self.member}


class SuperAdminHandover(EnterpriseScoped):
    """The leaving super admin's handover of the role (超级管理员移交, H-1, H-2).

    Written only by offboarding/handover.py. The leaving super admin names the new one (and, with
    the custody policy, a custodian who holds the role meanwhile) and re-enters their password; the
    new one confirms with an authenticator code; the roles swap in one transaction. With the grace
    policy the old super admin then has an emergency window until `grace_until`.
    """

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="super_admin_handovers",
        verbose_name=_("enterprise"),
    )
    exit_case = models.ForeignKey(
        Exit,
        on_delete=models.PROTECT,
        related_name="super_admin_handovers",
        verbose_name=_("exit"),
    )
    policy = models.CharField(
        _("policy"), max_length=16, choices=HandoverPolicy.choices, default=HandoverPolicy.GRACE
    )
    state = models.CharField(
        _("state"),
        max_length=32,
        choices=HandoverState.choices,
        default=HandoverState.AWAITING_CONFIRMATION,
    )
    from_member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="+", verbose_name=_("leaving super admin")
    )
    to_member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="super_admin_handovers_received",
        verbose_name=_("new super admin"),
    )
    custodian = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("custodian"),
    )
    # The custodian's role before the custody, given back when the new super admin accepts:
    # {"role": …, "is_backup_admin": …}.
    custodian_before = models.JSONField(_("custodian before the custody"), default=dict)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    # Grace policy: the old super admin's emergency window ends at `grace_until`; the expiry job
    # (or an earlier close) sets `grace_closed_at`.
    grace_until = models.DateTimeField(_("emergency window until"), null=True, blank=True)
    grace_closed_at = models.DateTimeField(_("emergency window closed at"), null=True, blank=True)
    # The freeze the old super admin ran from the emergency page, reporting the new account stolen.
    stolen_report = models.ForeignKey(
        AccountFreeze,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reported stolen"),
    )
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("withdrawn by"),
    )
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    history = HistoricalRecords()

    same_enterprise_fields = ("exit_case", "from_member", "to_member", "custodian")

    class Meta:
        verbose_name = _("super admin handover")
        verbose_name_plural = _("super admin handovers")
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise"],
                condition=Q(state__in=OPEN_HANDOVER_STATES),
                name="one_open_super_admin_handover_per_enterprise",
                violation_error_message=_(
                    "The enterprise's super admin role is being handed over already."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(from_member=models.F("to_member")),
                name="super_admin_handover_to_another_member",
                violation_error_message=_("The new super admin must be another member."),
            ),
        ]
        indexes = [
            models.Index(fields=["grace_closed_at", "grace_until"], name="handover_grace_window"),
        ]

    def __str__(self):
        return _("Super admin handover of %(member)s") % {"member": self.from_member}

    @property
    def grace_window_open(self) -> bool:
        return (
            self.grace_until is not None
            and self.grace_closed_at is None
            and timezone.now() < self.grace_until
        )


class BackupAdminDesignation(EnterpriseScoped):
    """The super admin's designation of the enterprise's backup admin (AB角, H-3).

    Written only by offboarding/backup.py. The backup admin is the super admin's choice, never
    HR's: the super admin names the member and re-enters their password; the member enrols their
    authenticator and accepts with their password and its code; only then is the member's
    `is_backup_admin` set (the previous backup admin losing it in the same transaction).
    """

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="backup_designations",
        verbose_name=_("enterprise"),
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="backup_designations",
        verbose_name=_("designated member"),
    )
    super_admin = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="+", verbose_name=_("designated by")
    )
    state = models.CharField(
        _("state"),
        max_length=32,
        choices=BackupDesignationState.choices,
        default=BackupDesignationState.AWAITING_ACCEPTANCE,
    )
    designated_at = models.DateTimeField(_("designated at"), default=timezone.now)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    # The members who were the backup admin until this designation was accepted (their ids).
    replaced = models.JSONField(_("backup admins replaced"), default=list)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("withdrawn by"),
    )
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    history = HistoricalRecords()

    same_enterprise_fields = ("member", "super_admin")

    class Meta:
        verbose_name = _("backup admin designation")
        verbose_name_plural = _("backup admin designations")
        ordering = ["-designated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise"],
                condition=Q(state=BackupDesignationState.AWAITING_ACCEPTANCE),
                name="one_open_backup_designation_per_enterprise",
                violation_error_message=_(
                    "A backup admin designation is waiting for its member's acceptance already."
                ),
            ),
        ]

    def __str__(self):
        return _("Backup admin designation of %(member)s") % {"member": self.member}


class HRTermination(EnterpriseScoped):
    """A termination sent by the enterprise's HR system (HR sync, J-5: 钉钉「支持HR系统自动同步」),
    through the CSV import of the admin or `POST /api/hr/terminations`.

    Written only by offboarding/hr_sync.py: `receive` stores it `pending` (once per external id:
    the HR system may send the same termination again), the job `sync_pending` turns it into an
    `hr_sync` exit (`synced`, pointing to it) or says why it could not (`failed`, with the error).
    """

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="hr_terminations",
        verbose_name=_("enterprise"),
    )
    external_id = models.CharField(_("external id"), max_length=100)
    employee_number = models.CharField(_("employee number"), max_length=32)
    # The member the employee number named when the termination was received.
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="hr_terminations", verbose_name=_("member")
    )
    last_working_day = models.DateField(_("last working day"))
    reason = models.TextField(_("reason"), blank=True)
    source = models.CharField(_("source"), max_length=8, choices=TerminationSource.choices)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("received by"),
    )
    token = models.ForeignKey(
        "HRSyncToken",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="terminations",
        verbose_name=_("token"),
    )
    state = models.CharField(
        _("state"),
        max_length=8,
        choices=TerminationState.choices,
        default=TerminationState.PENDING,
        db_index=True,
    )
    exit_case = models.ForeignKey(
        Exit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="hr_terminations",
        verbose_name=_("exit"),
    )
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    history = HistoricalRecords()

    same_enterprise_fields = ("member", "exit_case", "token")

    class Meta:
        verbose_name = _("HR termination")
        verbose_name_plural = _("HR terminations")
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "external_id"],
                name="hr_termination_external_id_unique_per_enterprise",
                violation_error_message=_(
                    "A termination with this external id was already received."
                ),
            ),
            models.UniqueConstraint(
                fields=["exit_case"],
                name="hr_termination_one_per_exit",
                violation_error_message=_("This exit comes from another termination already."),
            ),
        ]

    def __str__(self):
        return f"{self.external_id} ({self.employee_number})"


class HRSyncToken(EnterpriseScoped):
    """A token the enterprise's HR system sends to `POST /api/hr/terminations`
    (`Authorization: Bearer <token>`). Only its SHA-256 is stored: the token is shown once, when
    it is created in the admin. A revoked token is refused from then on."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="hr_sync_tokens",
        verbose_name=_("enterprise"),
    )
    name = models.CharField(_("name"), max_length=100)
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("revoked by"),
    )

    history = HistoricalRecords(excluded_fields=["token_hash", "last_used_at"])

    class Meta:
        verbose_name = _("HR sync token")
        verbose_name_plural = _("HR sync tokens")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class DirectorySyncRecord(EnterpriseScoped):
    """A row of `POST /api/hr/directory` (a joiner, a mover or a leaver), received once per
    external id: sent again with the same values it is answered "already received" and changes
    nothing; with other values it is refused. Written only by offboarding/directory_sync.py.

    Only a digest of the row is kept (SHA-256 of its values, as the sync read them), never the
    values themselves: a joiner's name, e-mail and mobile live on the member and the login, where
    an erasure (C-5) finds them."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="directory_sync_records",
        verbose_name=_("enterprise"),
    )
    external_id = models.CharField(_("external id"), max_length=100)
    kind = models.CharField(_("kind"), max_length=8, choices=DirectorySyncKind.choices)
    digest = models.CharField(_("digest of the row"), max_length=64)
    # The member created (joiner), moved (mover) or leaving (leaver).
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="directory_sync_records",
        verbose_name=_("member"),
    )
    # A leaver's termination, which the HR sync job turns into an `hr_sync` exit.
    termination = models.ForeignKey(
        HRTermination,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="directory_sync_records",
        verbose_name=_("HR termination"),
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    token = models.ForeignKey(
        "HRSyncToken",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="directory_sync_records",
        verbose_name=_("token"),
    )

    history = HistoricalRecords()

    same_enterprise_fields = ("member", "termination", "token")

    class Meta:
        verbose_name = _("directory sync record")
        verbose_name_plural = _("directory sync records")
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "external_id"],
                name="directory_sync_external_id_unique_per_enterprise",
                violation_error_message=_("A row with this external id was already received."),
            ),
        ]

    def __str__(self):
        return f"{self.external_id} ({self.get_kind_display()})"


class GroupRobot(EnterpriseScoped):
    """An IM group robot of the enterprise (企业微信/钉钉/飞书 群机器人) that team notifications are
    posted to (offboarding/notifications.py). Its Apprise URL holds the robot's key or token: it
    is stored only sealed with the master key (`sealed_url`), never shown back; `url_hint` is
    Apprise's own masked form of it (`wecombot://a...c`). Written only by
    `notifications.save_robot`, from the admin."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="group_robots",
        verbose_name=_("enterprise"),
    )
    name = models.CharField(_("name"), max_length=100)
    platform = models.CharField(
        _("platform"), max_length=16, choices=RobotPlatform.choices, editable=False
    )
    sealed_url = models.BinaryField(_("sealed URL"), editable=False)
    url_hint = models.CharField(_("URL (masked)"), max_length=300, editable=False)
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Only active robots are sent notifications.")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(excluded_fields=["sealed_url"])

    class Meta:
        verbose_name = _("group robot")
        verbose_name_plural = _("group robots")
        ordering = ["enterprise", "name"]

    def __str__(self):
        return self.name


class Notification(EnterpriseScoped):
    """One notification to one recipient through one channel, as it was rendered (in the
    enterprise's language) and where its delivery stands (offboarding/notifications.py).

    Written in the transaction of the door that caused it — a door rolled back leaves none — and
    sent after commit by the Celery task `offboarding.send_notification`, which retries a failed
    send with backoff; one that failed every try stays `failed`, with the error, until HR retries
    it from the admin."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("enterprise"),
    )
    event = models.CharField(_("event"), max_length=32, choices=NotificationEvent.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=NotificationChannel.choices)
    # E-mail: the person (a member's login or a staff user); group: the robot.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    recipient_member = models.ForeignKey(
        Member,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("recipient (member)"),
    )
    robot = models.ForeignKey(
        GroupRobot,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("group robot"),
    )
    # What it is about: "exit", "inheritance_batch", "super_admin_handover", "erasure_request"…
    object_type = models.CharField(_("about"), max_length=32, blank=True)
    object_id = models.PositiveBigIntegerField(_("about (id)"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=10)
    subject = models.CharField(_("subject"), max_length=300)
    body = models.TextField(_("body"))
    link = models.URLField(_("link"), max_length=500, blank=True)
    status = models.CharField(
        _("status"),
        max_length=8,
        choices=NotificationStatus.choices,
        default=NotificationStatus.QUEUED,
        db_index=True,
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    same_enterprise_fields = ("recipient_member", "robot")

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["enterprise", "-created_at"], name="notification_by_enterprise"),
            models.Index(fields=["event", "object_type", "object_id"], name="notification_about"),
            # The admin's search.
            trigram_index("subject", name="notification_subject_trgm"),
        ]

    def __str__(self):
        return self.subject
