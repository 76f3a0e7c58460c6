"""The directory: enterprises (tenants), their department trees, members and what members own.

Every row belongs to exactly one enterprise. Foreign keys between enterprise-scoped rows must stay
inside one enterprise; `EnterpriseScoped.clean()` checks that for every such key, so the admin and
every form show a field error instead of saving a cross-enterprise link.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords
from timezone_field import TimeZoneField
from tree_queries.models import TreeNode

from .choices import (
    DataRegion,
    DepartmentStatus,
    ErasureMode,
    HandoverPolicy,
    InvitationKind,
    InvitationOutcome,
    JobStatus,
    MailLanguage,
    MemberRole,
    MemberStatus,
    StaffRole,
    job_label,
)
from .querysets import (
    DepartmentQuerySet,
    EnterpriseQuerySet,
    MemberQuerySet,
    OwnedResourceQuerySet,
)
from .trigram import trigram_index

# The longest each of an enterprise's periods may be (S-4: a duration past these is a form error,
# and the database refuses it too). The seed's own values are far below: WeCom's undo window is
# 24 hours (误操作退出), its customers answer a handover within 24 hours, and its emergency window
# (应急操作窗口) is 7 days.
# - Undo window: 30 days. Sealing (C-3) and the member's erasure request (C-5, due within a
#   month) both wait for it to close; a mistaken exit is noticed within a month or not at all.
# - Customer acceptance period: 30 days. Until it ends a customer's contact is neither the
#   leaver's nor settled with the successor; a month is thirty times WeCom's day.
# - Emergency window: 30 days. The old super admin can still sign in during it (H-2): a month is
#   four times WeCom's week, and every day more is a day more for a stolen old account.
MAX_UNDO_WINDOW = timedelta(days=30)
MAX_CUSTOMER_ACCEPTANCE_PERIOD = timedelta(days=30)
MAX_HANDOVER_GRACE_PERIOD = timedelta(days=30)


def at_most_days(limit: timedelta):
    """The sentence that says a duration's maximum ("At most 30 days."), translated lazily."""
    return format_lazy(_("At most {days} days."), days=limit.days)


# An enterprise's code names it in its members' logins ("zhang.wei@acme"): usernames are unique
# per enterprise, not across them. Lower-case letters, digits and hyphens, starting with a letter.
ENTERPRISE_CODE = RegexValidator(
    r"^[a-z][a-z0-9-]{1,31}\Z",
    _(
        "2 to 32 lower-case letters, digits or hyphens, starting with a letter (it is typed in "
        "every member's login)."
    ),
)


def new_enterprise_code() -> str:
    """A code for an enterprise created without one; the operator may change it before members
    log in."""
    return f"e{secrets.token_hex(4)}"


class Enterprise(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        default=new_enterprise_code,
        validators=[ENTERPRISE_CODE],
        help_text=_(
            "Short code typed in the members' logins (name@code), e.g. acme. Lower-case letters, "
            "digits and hyphens."
        ),
    )
    data_region = models.CharField(
        _("home data region"), max_length=2, choices=DataRegion.choices, default=DataRegion.CN
    )
    time_zone = TimeZoneField(_("time zone"), default="Asia/Shanghai", use_pytz=False)
    undo_window = models.DurationField(
        _("undo window"),
        default=timedelta(hours=24),
        validators=[
            MaxValueValidator(MAX_UNDO_WINDOW, message=at_most_days(MAX_UNDO_WINDOW)),
        ],
        help_text=format_lazy(
            _("How long after completion an exit can still be undone; at most {days} days."),
            days=MAX_UNDO_WINDOW.days,
        ),
    )
    customer_acceptance_period = models.DurationField(
        _("customer acceptance period"),
        default=timedelta(hours=24),
        validators=[
            MaxValueValidator(
                MAX_CUSTOMER_ACCEPTANCE_PERIOD,
                message=at_most_days(MAX_CUSTOMER_ACCEPTANCE_PERIOD),
            ),
        ],
        help_text=format_lazy(
            _(
                "How long a customer may decline being handed over to a successor (WeCom: 24 "
                "hours); zero: the handover is final at once; at most {days} days."
            ),
            days=MAX_CUSTOMER_ACCEPTANCE_PERIOD.days,
        ),
    )
    customer_limit_per_member = models.PositiveIntegerField(
        _("external contacts per member"),
        default=20000,
        help_text=_(
            "How many external contacts one member may look after; a successor at the limit "
            "cannot receive more."
        ),
    )
    handover_policy = models.CharField(
        _("super admin handover policy"),
        max_length=16,
        choices=HandoverPolicy.choices,
        default=HandoverPolicy.GRACE,
        help_text=_("How the super admin role passes on when the super admin leaves."),
    )
    handover_grace_period = models.DurationField(
        _("emergency window"),
        default=timedelta(days=7),
        validators=[
            MaxValueValidator(
                MAX_HANDOVER_GRACE_PERIOD, message=at_most_days(MAX_HANDOVER_GRACE_PERIOD)
            ),
        ],
        help_text=format_lazy(
            _(
                "With the WeCom policy: how long the old super admin may still sign in to the "
                "emergency page after the handover (WeCom: 7 days); at most {days} days."
            ),
            days=MAX_HANDOVER_GRACE_PERIOD.days,
        ),
    )
    erasure_mode = models.CharField(
        _("erasure mode"),
        max_length=16,
        choices=ErasureMode.choices,
        default=ErasureMode.ACCOUNT,
        help_text=_("How a departed member's request to erase their data is carried out."),
    )
    language = models.CharField(
        _("language of mail"),
        max_length=10,
        choices=MailLanguage.choices,
        default=MailLanguage.ZH_HANS,
        help_text=_("The language of the invitations and password links mailed to its members."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()
    objects = EnterpriseQuerySet.as_manager()

    class Meta:
        verbose_name = _("enterprise")
        verbose_name_plural = _("enterprises")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(undo_window__gte=timedelta(0)),
                name="enterprise_undo_window_not_negative",
                violation_error_message=_("The undo window cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(customer_acceptance_period__gte=timedelta(0)),
                name="enterprise_customer_acceptance_period_not_negative",
                violation_error_message=_("The customer acceptance period cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(handover_grace_period__gte=timedelta(0)),
                name="enterprise_handover_grace_period_not_negative",
                violation_error_message=_("The emergency window cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(undo_window__lte=MAX_UNDO_WINDOW),
                name="enterprise_undo_window_at_most_max",
                violation_error_message=format_lazy(
                    _("The undo window can be at most {days} days."), days=MAX_UNDO_WINDOW.days
                ),
            ),
            models.CheckConstraint(
                condition=Q(customer_acceptance_period__lte=MAX_CUSTOMER_ACCEPTANCE_PERIOD),
                name="enterprise_customer_acceptance_period_at_most_max",
                violation_error_message=format_lazy(
                    _("The customer acceptance period can be at most {days} days."),
                    days=MAX_CUSTOMER_ACCEPTANCE_PERIOD.days,
                ),
            ),
            models.CheckConstraint(
                condition=Q(handover_grace_period__lte=MAX_HANDOVER_GRACE_PERIOD),
                name="enterprise_handover_grace_period_at_most_max",
                violation_error_message=format_lazy(
                    _("The emergency window can be at most {days} days."),
                    days=MAX_HANDOVER_GRACE_PERIOD.days,
                ),
            ),
        ]

    def __str__(self):
        return self.name


class EnterpriseScoped(models.Model):
    """A row that belongs to one enterprise, and whose links must stay inside it."""

    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, related_name="+", verbose_name=_("enterprise")
    )

    # Foreign keys (field names) that must point into the same enterprise.
    same_enterprise_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def clean(self):
        super().clean()
        errors = {}
        for name in self.same_enterprise_fields:
            related_id = getattr(self, f"{name}_id")
            if related_id is None or self.enterprise_id is None:
                continue
            related = getattr(self, name)
            if related.enterprise_id != self.enterprise_id:
                errors[name] = _("%(object)s belongs to another enterprise.") % {"object": related}
        if errors:
            raise ValidationError(errors)


class Department(EnterpriseScoped, TreeNode):
    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="departments",
        verbose_name=_("enterprise"),
    )
    name = models.CharField(_("name"), max_length=200)
    # The department's code in the organisation's own directory (HR's system, WeCom, DingTalk):
    # the directory import recognises a department by it. Optional; unique in the enterprise.
    code = models.CharField(
        _("code"),
        max_length=64,
        blank=True,
        help_text=_("The department's code in your organisation's directory, used by the import."),
    )
    head = models.ForeignKey(
        "Member",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="headed_departments",
        verbose_name=_("department head"),
    )
    status = models.CharField(
        _("status"),
        max_length=32,
        choices=DepartmentStatus.choices,
        default=DepartmentStatus.ACTIVE,
        db_index=True,
    )
    pending_since = models.DateTimeField(_("pending dissolution since"), null=True, blank=True)

    history = HistoricalRecords()
    objects = DepartmentQuerySet.as_manager(with_tree_fields=False)

    same_enterprise_fields = ("parent", "head")

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=DepartmentStatus.PENDING_DISSOLUTION)
                | Q(pending_since__isnull=False),
                name="department_pending_has_since",
                violation_error_message=_("A department pending dissolution needs its date."),
            ),
            models.UniqueConstraint(
                fields=["enterprise", "parent", "name"],
                name="department_name_unique_under_parent",
                violation_error_message=_("A department with this name already exists here."),
            ),
            models.UniqueConstraint(
                fields=["enterprise", "name"],
                condition=Q(parent__isnull=True),
                name="department_root_name_unique",
                violation_error_message=_("A top-level department with this name already exists."),
            ),
            models.UniqueConstraint(
                fields=["enterprise", "code"],
                condition=~Q(code=""),
                name="department_code_unique_per_enterprise",
                violation_error_message=_(
                    "This department code is already used in the enterprise."
                ),
            ),
        ]

    def __str__(self):
        return self.name


class Member(EnterpriseScoped):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="member",
        verbose_name=_("user"),
    )
    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, related_name="members", verbose_name=_("enterprise")
    )
    name = models.CharField(_("name"), max_length=100)
    employee_number = models.CharField(_("employee number"), max_length=32)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    mobile = models.CharField(_("mobile"), max_length=32, blank=True)
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name=_("primary department"),
    )
    manager = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports",
        verbose_name=_("direct manager"),
    )
    role = models.CharField(
        _("role"), max_length=16, choices=MemberRole.choices, default=MemberRole.MEMBER
    )
    is_backup_admin = models.BooleanField(
        _("backup admin"),
        default=False,
        help_text=_("The B of AB-role administration: takes over if the super admin is lost."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=MemberStatus.choices, default=MemberStatus.ACTIVE
    )
    data_region = models.CharField(
        _("data region"), max_length=2, choices=DataRegion.choices, default=DataRegion.CN
    )
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)

    history = HistoricalRecords()
    objects = MemberQuerySet.as_manager()

    same_enterprise_fields = ("department", "manager")

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["employee_number"]
        indexes = [
            models.Index(fields=["enterprise", "status"]),
            # The admin's search (and every list that finds a member by name or number).
            trigram_index("name", name="member_name_trgm"),
            trigram_index("employee_number", name="member_number_trgm"),
            trigram_index("title", name="member_title_trgm"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "employee_number"],
                name="member_employee_number_unique_per_enterprise",
                violation_error_message=_(
                    "This employee number is already used in the enterprise."
                ),
            ),
            models.UniqueConstraint(
                fields=["enterprise"],
                condition=Q(role=MemberRole.SUPER_ADMIN, status=MemberStatus.ACTIVE),
                name="one_active_super_admin_per_enterprise",
                violation_error_message=_("The enterprise already has an active super admin."),
            ),
            models.CheckConstraint(
                condition=~Q(manager=models.F("pk")),
                name="member_not_own_manager",
                violation_error_message=_("A member cannot be their own manager."),
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.employee_number})"

    @property
    def is_active_super_admin(self) -> bool:
        return self.role == MemberRole.SUPER_ADMIN and self.status == MemberStatus.ACTIVE

    def clean(self):
        super().clean()
        message = self.super_admin_change_error()
        if message:
            raise ValidationError(message)
        if self.pk is not None and self.manager_id is not None and self._manages_upward():
            raise ValidationError(
                {
                    "manager": _("This would make a loop: %(manager)s reports to this member.")
                    % {"manager": self.manager}
                }
            )

    def super_admin_change_error(self) -> str | None:
        """Why saving this member as it is would leave its enterprise without a super admin (D-5),
        or None. The database allows at most one active super admin (a partial unique constraint);
        this refuses the change that would leave none, with a message a person understands."""
        if self.pk is None or self.is_active_super_admin:
            return None
        if not Member.objects.filter(pk=self.pk).super_admins().exists():
            return None
        return _(
            "%(name)s is the enterprise's only active super admin. Hand the super admin role to "
            "someone else first; an enterprise can never be left without one."
        ) % {"name": self.name}

    def _manages_upward(self, limit: int = 200) -> bool:
        """Whether this member appears in their new manager's chain of managers (a loop)."""
        manager_id = self.manager_id
        for _step in range(limit):
            if manager_id is None:
                return False
            if manager_id == self.pk:
                return True
            manager_id = (
                Member.objects.filter(pk=manager_id).values_list("manager_id", flat=True).first()
            )
        return True  # deeper than any real organisation: treat as a loop


class OwnedResource(EnterpriseScoped):
    """Something a member owns that must be handed over when they leave (D-4)."""

    owner = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner")
    )
    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = OwnedResourceQuerySet.as_manager()

    same_enterprise_fields = ("owner",)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self):
        return self.name


class ExternalContact(OwnedResource):
    """外部联系人: a customer the member looks after."""

    owner = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="external_contacts", verbose_name=_("owner")
    )
    company = models.CharField(_("company"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("external contact")
        verbose_name_plural = _("external contacts")
        ordering = ["name"]
        # The admin's list: an enterprise's contacts by name (the list adds -id to break ties).
        indexes = [
            models.Index(fields=["enterprise", "name", "-id"], name="contact_list"),
            # The admin's search.
            trigram_index("name", name="contact_name_trgm"),
            trigram_index("company", name="contact_company_trgm"),
        ]


class CustomerGroup(OwnedResource):
    """客户群: a group chat with customers, owned by one member."""

    owner = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="customer_groups", verbose_name=_("owner")
    )
    member_count = models.PositiveIntegerField(_("members in the group"), default=0)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("customer group")
        verbose_name_plural = _("customer groups")
        ordering = ["name"]
        # The admin's search.
        indexes = [trigram_index("name", name="customer_group_name_trgm")]


class AppAuthorization(OwnedResource):
    """自建应用授权: a self-built app authorized with the member's account."""

    owner = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="app_authorizations",
        verbose_name=_("owner"),
    )
    scopes = models.CharField(_("scopes"), max_length=200, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("app authorization")
        verbose_name_plural = _("app authorizations")
        ordering = ["name"]


class ThirdPartyBinding(OwnedResource):
    """A third-party app (a CRM, say) authorized with the member's account: to re-authorize."""

    owner = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="third_party_bindings",
        verbose_name=_("owner"),
    )
    provider = models.CharField(_("provider"), max_length=100)
    account = models.CharField(_("account"), max_length=200, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("third-party binding")
        verbose_name_plural = _("third-party bindings")
        ordering = ["name"]


class ApprovalTemplate(OwnedResource):
    """审批模板 the member created; left behind, it breaks the approvals that use it."""

    owner = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="approval_templates",
        verbose_name=_("owner"),
    )
    in_use = models.BooleanField(_("in use"), default=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("approval template")
        verbose_name_plural = _("approval templates")
        ordering = ["name"]


class SharedCalendar(OwnedResource):
    """共享日历 the member created; transferred or cleaned up when they leave."""

    owner = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="shared_calendars",
        verbose_name=_("owner"),
    )
    subscriber_count = models.PositiveIntegerField(_("subscribers"), default=0)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("shared calendar")
        verbose_name_plural = _("shared calendars")
        ordering = ["name"]


OWNED_RESOURCE_MODELS = (
    ExternalContact,
    CustomerGroup,
    AppAuthorization,
    ThirdPartyBinding,
    ApprovalTemplate,
    SharedCalendar,
)


class EnterpriseAccess(models.Model):
    """Grants a staff user work on one enterprise, as HR, IT or compliance (tenant separation)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="enterprise_accesses",
        verbose_name=_("staff user"),
    )
    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, related_name="accesses", verbose_name=_("enterprise")
    )
    role = models.CharField(_("works as"), max_length=16, choices=StaffRole.choices)
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("enterprise access")
        verbose_name_plural = _("enterprise accesses")
        ordering = ["enterprise__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "enterprise", "role"],
                name="enterprise_access_unique",
                violation_error_message=_("This user already has this access."),
            )
        ]

    def __str__(self):
        return f"{self.user} → {self.enterprise} ({self.get_role_display()})"


class Invitation(EnterpriseScoped):
    """One mail of a set-password link to a member (directory/invitations.py): an invitation, or
    a password reset link HR sent. Written by the door, sent or not, and never changed: the rows
    of a member are the history of their invitations."""

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("member")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=InvitationKind.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=InvitationOutcome.choices)
    # Why it was not sent, as the mail server said (the address left out).
    failure = models.TextField(_("reason not sent"), blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by"),
    )
    sent_at = models.DateTimeField(_("at"), default=timezone.now)

    same_enterprise_fields = ("member",)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-sent_at", "-pk"]
        indexes = [models.Index(fields=["member", "kind", "-sent_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} {self.member} {self.sent_at:%Y-%m-%d %H:%M}"


class LoginSession(models.Model):
    """A session a user logged in with (see directory/sessions.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions"
    )
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("login session")
        verbose_name_plural = _("login sessions")

    def __str__(self):
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M}"


class JobRun(models.Model):
    """One run of a periodic job (J-1 … J-5): when, how it ended, what it did per enterprise, and
    what went wrong. Written by directory/jobs.py; HR reads them in the admin."""

    job = models.CharField(_("job"), max_length=64, db_index=True)
    status = models.CharField(
        _("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.RUNNING
    )
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Enterprise id (as text) → {what: how many}.
    counts = models.JSONField(_("counts per enterprise"), default=dict, blank=True)
    # [{"enterprise": id or None, "error": text}, …]
    errors = models.JSONField(_("errors"), default=list, blank=True)
    worker = models.CharField(_("worker"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-started_at", "-pk"]
        indexes = [
            models.Index(fields=["job", "-started_at"], name="job_run_latest"),
            # The admin's search.
            trigram_index("job", name="job_run_job_trgm"),
        ]

    def __str__(self):
        # In the reader's time zone, like every other time they read.
        started = timezone.localtime(self.started_at)
        return f"{self.job_label} {started:%Y-%m-%d %H:%M}"

    @property
    def job_label(self) -> str:
        """The job as people call it, in the active language."""
        return job_label(self.job)


class JobLease(models.Model):
    """Who runs a job now: one row per job, held until `expires_at` and renewed while the run goes
    on. Two beats or two workers starting the same job: the second finds the lease held and skips;
    a run killed half way leaves a lease that expires, and the next run takes over."""

    job = models.CharField(_("job"), max_length=64, primary_key=True)
    run = models.ForeignKey(JobRun, on_delete=models.SET_NULL, null=True, related_name="+")
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        verbose_name = _("job lease")
        verbose_name_plural = _("job leases")

    def __str__(self):
        return self.job


class JobChunk(models.Model):
    """One chunk of a chunked job (a range of ids of one enterprise; a part of a batch of
    invitations, whose head row is the batch itself), done at most once: a chunk task delivered
    twice finds it done and does nothing."""

    job = models.CharField(_("job"), max_length=64)
    # The chunk's name, unique within its job and night: e.g. "2026-11-29:12:1-5000".
    key = models.CharField(_("key"), max_length=200)
    run = models.ForeignKey(JobRun, on_delete=models.SET_NULL, null=True, related_name="chunks")
    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, related_name="+", verbose_name=_("enterprise")
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    # When the coordinator last sent it to the workers, and how many times: a chunk not done
    # long after its last send (its worker killed) is sent again the same night.
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("times sent"), default=0)

    class Meta:
        verbose_name = _("job chunk")
        verbose_name_plural = _("job chunks")
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="job_chunk_unique")]

    def __str__(self):
        return f"{self.job} {self.key}"


class NightlyMark(models.Model):
    """A nightly job was done for an enterprise on one of its local dates: the hourly schedule
    takes each enterprise once a night, when its own night has come."""

    job = models.CharField(_("job"), max_length=64)
    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, related_name="+", verbose_name=_("enterprise")
    )
    local_date = models.DateField(_("local date"))
    done_at = models.DateTimeField(_("done at"), default=timezone.now)

    class Meta:
        verbose_name = _("nightly mark")
        verbose_name_plural = _("nightly marks")
        constraints = [
            models.UniqueConstraint(
                fields=["job", "enterprise", "local_date"], name="nightly_mark_unique"
            )
        ]

    def __str__(self):
        return f"{self.job} {self.enterprise_id} {self.local_date}"


class Heartbeat(models.Model):
    """A process of the deployment was seen alive (directory/heartbeats.py): one row per process
    name, updated in place. A worker writes it about every 30 seconds, beat at every tick; `/readyz`
    reports beat or the workers as not seen when the newest row of their kind is too old. Rows of
    processes gone for a day are deleted."""

    KINDS = [("web", "web"), ("worker", "worker"), ("beat", "beat")]

    name = models.CharField(_("process name"), max_length=200, primary_key=True)
    kind = models.CharField(_("process kind"), max_length=16, choices=KINDS)
    seen_at = models.DateTimeField(_("seen at"), db_index=True)

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self):
        return f"{self.kind} {self.name}"
