"""The directory in the admin. Interface only: rules live in models (clean, constraints) and in
services.

`EnterpriseScopedAdmin` is the tenant wall every enterprise-owned model's admin stands behind (the
offboarding and compliance admins use it too): a staff user sees, picks and saves only rows of the
enterprises granted to them; a superuser sees all.
"""

import functools
import re
from datetime import timedelta

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.contrib.auth import get_permission_codename
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q, Subquery
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.utils.translation import gettext_lazy as _
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask
from simple_history.admin import SimpleHistoryAdmin

from . import dissolution, invitations, mail, services, tenancy
from .admin_import import DirectoryImportMixin
from .admin_paging import EstimatedCountPaginator
from .admin_search import IndexedSearchMixin
from .autocomplete import LabelledAutocompleteSelect
from .changelist import DateDrillDownMixin
from .choices import (
    JOB_LABELS,
    DepartmentStatus,
    InvitationKind,
    InvitationOutcome,
    JobStatus,
    MemberRole,
    MemberStatus,
    job_count_label,
)
from .durations import DurationFormField, human_duration
from .jobs import mark_lost_runs
from .models import (
    AppAuthorization,
    ApprovalTemplate,
    CustomerGroup,
    Department,
    Enterprise,
    EnterpriseAccess,
    ExternalContact,
    Invitation,
    JobRun,
    Member,
    SharedCalendar,
    ThirdPartyBinding,
)
from .permissions import grant_access
from .tenancy import grants_for, roles_with_permission


def formats_localtime(moment) -> str:
    """A moment as the admin shows it: in the current time zone, localized."""
    return localize(timezone.localtime(moment))


class EnterpriseConstraintsForm(forms.ModelForm):
    """Checks every constraint of the model on the whole row, fields the form lacks included.

    Django skips a constraint that names a field missing from the form (the enterprise, read-only
    on a change page; the status, set by the workflow) and the database would then answer a
    duplicate — a second super admin, a taken employee number — with a 500. Here the row as it
    would be saved is checked against them all; a broken one is a message on the form."""

    def validate_unique(self):
        super().validate_unique()
        failed = set(self.errors) - {NON_FIELD_ERRORS}
        try:
            self.instance.validate_constraints(exclude=failed)
        except ValidationError as error:
            shown = {str(message) for errors in self.errors.values() for message in errors}
            for message in error.messages:
                if message not in shown:
                    self.add_error(None, message)
                    shown.add(message)


class EnterpriseConstraintsFormSet(forms.BaseModelFormSet):
    """list_editable: two rows of one submit may not take the same unique value either."""

    def clean(self):
        super().clean()
        model = self.model
        seen = set()
        for form in self.forms:
            if not form.is_valid():
                continue
            for constraint in _enterprise_constraints(model):
                key = (constraint.name,) + tuple(
                    getattr(form.instance, model._meta.get_field(name).attname)
                    for name in constraint.fields
                )
                if key in seen:
                    raise ValidationError(constraint.get_violation_error_message())
                seen.add(key)


def _enterprise_constraints(model):
    return [
        constraint
        for constraint in model._meta.constraints
        if "enterprise" in getattr(constraint, "fields", ())
        and getattr(constraint, "condition", None) is None
    ]


class GrantedEnterpriseFilter(admin.SimpleListFilter):
    """By enterprise, the choices being the user's granted enterprises (one small query): what
    Django's RelatedOnlyFieldListFilter offers, without reading every row of a big table for the
    enterprises its rows name. The same parameter as that filter, so that links keep working."""

    title = _("enterprise")
    parameter_name = "enterprise__id__exact"

    def lookups(self, request, model_admin):
        enterprises = model_admin.enterprises_where(request, "view").order_by("name")
        return [(str(pk), name) for pk, name in enterprises.values_list("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not re.fullmatch(r"[0-9]{1,18}", value):
            raise IncorrectLookupParameters(value)
        return queryset.filter(enterprise_id=int(value))


class EnterpriseScopedAdmin(IndexedSearchMixin, DateDrillDownMixin, SimpleHistoryAdmin):
    """The tenant wall of the admin (S-2): every page, button and URL of a model whose rows belong
    to enterprises — the history views of django-simple-history and the admin actions included.

    - Rows: a staff user sees only rows of the enterprises granted to them (directory/tenancy.py);
      anything else is answered as if it did not exist (the change page's "not found", a 404 on
      every other URL).
    - What they may do to a row follows the role they hold in the row's own enterprise
      (`user.has_perm(perm, row)`, the object permissions of directory/rules.py): someone who is
      HR in one enterprise and IT in another edits members only in the first.
    - Choices (foreign keys, autocomplete) list only rows of their enterprises.
    - History is read-only for everyone: its detail page takes no POST (its form would write the
      row back past every rule).
    """

    form = EnterpriseConstraintsForm
    # Lists of big tables are not counted row by row (directory/admin_paging.py), and a filtered
    # list does not count the whole table again for "(N total)".
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    # The path from this model to its enterprise's id, for the queryset filter.
    enterprise_lookup = "enterprise_id"

    def perm(self, action: str) -> str:
        """The permission ("app_label.codename") for `action` on this model."""
        return f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}"

    def enterprises_where(self, request, action: str):
        """The enterprises where the user may `action` ("add", "change"…) rows of this model."""
        return Enterprise.objects.where_user_has_perm(request.user, self.perm(action))

    def scope(self, request, queryset, action: str | None = None):
        """`queryset` cut to the user's enterprises (where they may `action`, if given)."""
        roles = None if action is None else roles_with_permission(self.perm(action))
        return tenancy.scope(queryset, request.user, lookup=self.enterprise_lookup, roles=roles)

    # Permissions: without a row, the groups answer (may they do it anywhere?); with a row, the
    # role held in its enterprise.

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return super().has_view_permission(request)
        user = request.user
        return user.has_perm(self.perm("view"), obj) or user.has_perm(self.perm("change"), obj)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request)
        return request.user.has_perm(self.perm("change"), obj)

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return super().has_delete_permission(request)
        return request.user.has_perm(self.perm("delete"), obj)

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request, *args) and grants_for(request.user).has_any(
            roles_with_permission(self.perm("add"))
        )

    def get_queryset(self, request):
        return self.scope(request, super().get_queryset(request))

    # Choices

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if related is Enterprise:
            kwargs["queryset"] = self.enterprises_where(request, "add")
        elif hasattr(related._default_manager, "visible_to"):
            kwargs["queryset"] = related._default_manager.visible_to(request.user)
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            # The admin's select2 picker, named by its label for screen readers.
            kwargs["widget"] = LabelledAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        enterprises = list(self.enterprises_where(request, "add")[:2])
        if len(enterprises) == 1:
            initial.setdefault("enterprise", enterprises[0].pk)
        return initial

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", EnterpriseConstraintsForm)
        return super().get_changelist_form(request, **kwargs)

    def get_changelist_formset(self, request, **kwargs):
        kwargs.setdefault("formset", EnterpriseConstraintsFormSet)
        return super().get_changelist_formset(request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if getattr(request, _HISTORY_READ_ONLY, False):
            # A past version is shown, never edited: every field it shows is read-only. (The
            # fieldsets come from the form, whose fields come from here: asked once, not again.)
            setattr(request, _HISTORY_READ_ONLY, False)
            try:
                shown = flatten_fieldsets(self.get_fieldsets(request, obj))
            finally:
                setattr(request, _HISTORY_READ_ONLY, True)
            return tuple(dict.fromkeys(readonly + tuple(shown)))
        # Moving a row to another enterprise would cut every link it has: never offered.
        if (
            obj is not None
            and self.enterprise_lookup == "enterprise_id"
            and ("enterprise" not in readonly)
        ):
            readonly += ("enterprise",)
        return readonly

    # Actions act only on the selected rows of enterprises where the user may do what the action
    # does (its `allowed_permissions`; an action that names none changes rows).

    def get_action(self, action):
        found = super().get_action(action)
        if found is None:
            return None
        func, name, description = found
        needs = [p for p in getattr(func, "allowed_permissions", ("change",)) if p in _ACTIONS]

        @functools.wraps(func)
        def within_the_wall(modeladmin, request, queryset):
            for needed in needs or ["change"]:
                queryset = modeladmin.scope(request, queryset, needed)
            return func(modeladmin, request, queryset)

        return within_the_wall, name, description

    # django-simple-history's views: scoped like the change page, and read-only.

    def _object_or_404(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(_("There is no such %(name)s.") % {"name": self.opts.verbose_name})
        return obj

    def history_view(self, request, object_id, extra_context=None):
        self._object_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        obj = self._object_or_404(request, object_id)
        history_model = self.model.history.model
        if (
            not re.fullmatch(r"[0-9]{1,18}", str(version_id))
            or not history_model.objects.filter(
                history_id=int(version_id), **{self.opts.pk.attname: obj.pk}
            ).exists()
        ):
            raise Http404(_("There is no such version."))
        setattr(request, _HISTORY_READ_ONLY, True)
        return super().history_form_view(request, str(obj.pk), version_id, extra_context)


# Standard permissions an action may name in `allowed_permissions`.
_ACTIONS = ("view", "add", "change", "delete")
# Set on a request showing a past version: every field read-only.
_HISTORY_READ_ONLY = "_exitdesk_history_read_only"


class RecordAdmin(EnterpriseScopedAdmin):
    """Rows that record what happened (a freeze, a hold, a handover's items…): written by a door,
    never changed by their form nor deleted, the superuser included. Where the add page is offered
    it is the door (its save calls the service); the record is read-only afterwards."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields


class ReadOnlyRecordAdmin(RecordAdmin):
    """Records written elsewhere (by a job, another page, an import): no add page either."""

    def has_add_permission(self, request, *args):
        return False


@admin.register(Enterprise)
class EnterpriseAdmin(EnterpriseScopedAdmin):
    enterprise_lookup = "pk"
    list_display = ("name", "code", "data_region", "time_zone", "undo_window_shown", "backup_admin")
    list_filter = ("data_region",)
    search_fields = ("name", "code")
    # Durations in hours or days, entered and shown (never "1 day, 0:00:00").
    formfield_overrides = {models.DurationField: {"form_class": DurationFormField}}

    @admin.display(description=_("undo window"), ordering="undo_window")
    def undo_window_shown(self, obj):
        return human_duration(obj.undo_window)

    def get_queryset(self, request):
        return super().get_queryset(request).with_backup_admin_flag()

    def get_readonly_fields(self, request, obj=None):
        # The code is in every member's login (name@code): set when the enterprise is created,
        # never changed by a form afterwards (that would change every login at once).
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is None else (*fields, "code")

    @admin.display(boolean=True, description=_("backup admin"), ordering="has_backup_admin")
    def backup_admin(self, obj):
        return obj.has_backup_admin

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # 权限真空期风险 (D-5): the enterprise's own page says so too, not only the admin index.
        if obj is not None and not getattr(obj, "has_backup_admin", True):
            context["no_backup_admin"] = True
            context["members_url"] = (
                f"{reverse('admin:directory_member_changelist')}"
                f"?enterprise__id__exact={obj.pk}&role__exact=admin"
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_add_permission(self, request):
        # A new tenant is created by the operator, who then grants staff access to it.
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Through the door: a changed setting is an audit event, old and new values.
        services.change_enterprise(
            obj, actor=request.user, **{name: getattr(obj, name) for name in form.changed_data}
        )


@admin.register(Department)
class DepartmentAdmin(EnterpriseScopedAdmin):
    list_display = ("name", "code", "parent", "head", "status", "pending_since", "enterprise")
    list_select_related = ("parent", "head", "enterprise")
    list_filter = ("status", ("enterprise", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "code")
    autocomplete_fields = ("parent", "head")
    # The status changes only by the nightly check (pending dissolution, active again) and by the
    # "Dissolve" button (dissolution.dissolve): never by editing the field.
    readonly_fields = ("status", "pending_since")

    # Dissolve (D-2): HR's decision, on a department the nightly check marked pending. GET asks,
    # POST does; the door refuses while anyone active is in its subtree.

    def get_urls(self):
        return [
            path(
                "<path:object_id>/dissolve/",
                self.admin_site.admin_view(self.dissolve_view),
                name="directory_department_dissolve",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if (
            obj is not None
            and obj.status == DepartmentStatus.PENDING_DISSOLUTION
            and self.has_change_permission(request, obj)
        ):
            context["dissolve_url"] = reverse("admin:directory_department_dissolve", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def dissolve_view(self, request, object_id):
        # Who may change departments nowhere is refused before the row is looked up (403 for
        # every id alike); another enterprise's department does not exist (404).
        if not self.has_change_permission(request):
            raise PermissionDenied
        department = self._object_or_404(request, object_id)
        if not self.has_change_permission(request, department):
            raise PermissionDenied
        change_url = reverse("admin:directory_department_change", args=[department.pk])
        if request.method == "POST":
            try:
                dissolution.dissolve(department, actor=request.user)
            except services.DirectoryError as refusal:
                messages.error(request, " ".join(refusal.messages))
            else:
                messages.success(
                    request,
                    gettext("%(name)s is dissolved, with every department under it.")
                    % {"name": department.name},
                )
            return HttpResponseRedirect(change_url)
        if department.status != DepartmentStatus.PENDING_DISSOLUTION:
            messages.warning(
                request,
                gettext(
                    "%(name)s is not pending dissolution: only a department the nightly check "
                    "found without active members can be dissolved."
                )
                % {"name": department.name},
            )
            return HttpResponseRedirect(change_url)
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/directory/department/dissolve.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": department,
                "title": gettext("Dissolve %(name)s") % {"name": department.name},
                "change_url": change_url,
                "subtree_size": len(dissolution.subtree_ids(department)),
                "active_members": dissolution.active_members_in_subtree(department),
            },
        )


class MemberAddForm(EnterpriseConstraintsForm):
    """Adding a member creates their login too: staff never pick from every user of the system.

    The login is typed without the enterprise: it is stored as `login@code`
    (`services.member_username`), so it is taken or free per enterprise."""

    username = forms.CharField(
        label=_("login"),
        max_length=100,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9._+-]*\Z",
                _("Letters, digits and . _ + - only, starting with a letter or a digit."),
            )
        ],
        help_text=_(
            "The member logs in with this login and the enterprise's code: login@code "
            "(e.g. zhang.wei@acme)."
        ),
    )
    email = forms.EmailField(label=_("email"), required=False)

    class Meta:
        model = Member
        fields = (
            "enterprise",
            "name",
            "employee_number",
            "title",
            "department",
            "manager",
            "role",
            "data_region",
            "mobile",
        )

    def clean(self):
        cleaned = super().clean()
        login, enterprise = cleaned.get("username"), cleaned.get("enterprise")
        if login and enterprise is not None:
            username = services.member_username(enterprise, login)
            if services.username_taken(username):
                self.add_error(
                    "username",
                    _("The login %(username)s is already taken in this enterprise.")
                    % {"username": username},
                )
            else:
                cleaned["member_username"] = username
        return cleaned


class LoginStateFilter(admin.SimpleListFilter):
    """Where each member's login stands: after an import, HR selects "No password, never
    invited" and invites them; "Last mail not sent" finds whom to try again."""

    title = _("login")
    parameter_name = "login"

    def lookups(self, request, model_admin):
        return [
            ("never_invited", _("No password, never invited")),
            ("invited", _("Invited, no password yet")),
            ("not_sent", _("Last mail not sent")),
            ("password_set", _("Password set")),
        ]

    def queryset(self, request, queryset):
        no_password = Q(user__password__startswith=UNUSABLE_PASSWORD_PREFIX)
        invited = Exists(
            Invitation.objects.filter(
                member=OuterRef("pk"),
                kind=InvitationKind.INVITATION,
                outcome=InvitationOutcome.SENT,
            )
        )
        last_outcome = Subquery(
            Invitation.objects.filter(member=OuterRef("pk"))
            .order_by("-sent_at", "-pk")
            .values("outcome")[:1]
        )
        value = self.value()
        if value == "never_invited":
            return queryset.filter(no_password).exclude(invited)
        if value == "invited":
            return queryset.filter(no_password).filter(invited)
        if value == "not_sent":
            return queryset.alias(last_outcome=last_outcome).filter(
                last_outcome=InvitationOutcome.NOT_SENT
            )
        if value == "password_set":
            return queryset.exclude(no_password)
        return queryset


@admin.register(Member)
class MemberAdmin(DirectoryImportMixin, EnterpriseScopedAdmin):
    list_display = (
        "employee_number",
        "name",
        "title",
        "department",
        "manager",
        "role",
        "is_backup_admin",
        "status",
        "data_region",
        "enterprise",
    )
    list_display_links = ("employee_number", "name")
    list_select_related = ("department", "manager", "enterprise")
    list_filter = (
        "status",
        LoginStateFilter,
        "role",
        "is_backup_admin",
        "data_region",
        ("enterprise", admin.RelatedOnlyFieldListFilter),
    )
    # The pickers (autocomplete) search the same: name, number, login, department and title.
    search_fields = ("name", "employee_number", "user__username", "department__name", "title")

    def lookup_allowed(self, lookup, value, request=None):
        # The org tree links to a department's members (a department of the user's enterprises:
        # the list is scoped whatever the filter says).
        return lookup == "department__id__exact" or super().lookup_allowed(lookup, value, request)

    autocomplete_fields = ("department", "manager")
    # Role and status change through their doors only (S-2): the exit workflow and the
    # super-admin handover; the backup-admin flag through the super admin's designation (H-3:
    # the backup admin is the super admin's choice, never HR's). The page shows them, and where
    # to go to change them.
    readonly_fields = (
        "login",
        "login_links",
        "joined_at",
        "role_and_its_door",
        "backup_admin_and_its_door",
        "status_and_its_door",
        "audit_trail",
    )
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("enterprise", "login", "name", "employee_number", "title")}),
        (_("Login"), {"fields": ("login_links",)}),
        (_("Organisation"), {"fields": ("department", "manager", "data_region", "mobile")}),
        (
            _("Administration"),
            {
                "fields": (
                    "role_and_its_door",
                    "backup_admin_and_its_door",
                    "status_and_its_door",
                    "joined_at",
                )
            },
        ),
    )
    add_fieldsets = (
        (None, {"fields": ("enterprise", "username", "email", "name", "employee_number", "title")}),
        (_("Organisation"), {"fields": ("department", "manager", "data_region", "mobile")}),
        (_("Administration"), {"fields": ("role",)}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        if request.user.has_perm("compliance.view_auditevent", obj):
            # The member's audit trail, for those who may read it in the member's enterprise.
            return (*self.fieldsets, (_("Compliance"), {"fields": ("audit_trail",)}))
        return self.fieldsets

    @admin.display(description=_("login"))
    def login(self, member):
        # The username only: the user admin is the operator's, not the enterprise staff's.
        return member.user.get_username()

    @admin.display(description=_("password"))
    def login_links(self, member):
        # HR never sees nor sets a password: the member sets it through a link mailed to them.
        # The last links sent, and the buttons to send one (a confirmation page each).
        user = member.user
        state = (
            _("The member has set a password.")
            if user.has_usable_password()
            else _("No password yet: the member sets one from their invitation.")
        )
        rows = format_html_join(
            "",
            "<li>{} · {} · {}{}</li>",
            (
                (
                    formats_localtime(invitation.sent_at),
                    invitation.get_kind_display(),
                    invitation.get_outcome_display(),
                    f" ({invitation.failure})" if invitation.failure else "",
                )
                for invitation in member.invitations.order_by("-sent_at", "-pk")[:5]
            ),
        )
        links = []
        # Only to whoever may send them (set by render_change_form): IT and Compliance, who only
        # read members, see no button that would answer 403.
        may_send = getattr(member, "_may_send_links", False)
        if may_send and member.status == MemberStatus.ACTIVE and user.is_active:
            if not user.has_usable_password():
                links.append(
                    format_html(
                        '<a href="{}" id="member-invite">{}</a>',
                        reverse("admin:directory_member_invite", args=[member.pk]),
                        _("Send the invitation"),
                    )
                )
            links.append(
                format_html(
                    '<a href="{}" id="member-send-reset-link">{}</a>',
                    reverse("admin:directory_member_send_reset_link", args=[member.pk]),
                    _("Send a password reset link"),
                )
            )
        return format_html(
            '{}<ul class="invitations">{}</ul><div class="help">{}</div>',
            state,
            rows,
            format_html_join(" · ", "{}", ((link,) for link in links)),
        )

    @admin.display(description=_("role"))
    def role_and_its_door(self, member):
        return format_html(
            '{}<div class="help">{}</div>',
            member.get_role_display(),
            _(
                "A role changes only through the super-admin handover or an admin's exit, "
                "never by editing this page."
            ),
        )

    @admin.display(description=_("backup admin"), boolean=False)
    def backup_admin_and_its_door(self, member):
        return format_html(
            '{}<div class="help">{}</div>',
            gettext("Yes") if member.is_backup_admin else gettext("No"),
            _(
                "The super admin designates the backup admin on their “Backup admin” page, and "
                "the member accepts with their password and authenticator app; never by editing "
                "this page."
            ),
        )

    @admin.display(description=_("status"))
    def status_and_its_door(self, member):
        # The exit admin belongs to the offboarding app, which builds on this one: linked by
        # URL name only, so the directory does not import it.
        try:
            exits = reverse("admin:offboarding_exit_changelist")
            open_exit = reverse("admin:offboarding_exit_add")
        except NoReverseMatch:
            return member.get_status_display()
        links = [
            format_html(
                '<a href="{}?member__id__exact={}">{}</a>',
                exits,
                member.pk,
                _("This member's exits"),
            )
        ]
        if member.status == MemberStatus.ACTIVE:
            links.append(
                format_html(
                    '<a href="{}?member={}">{}</a>', open_exit, member.pk, _("Open an exit")
                )
            )
        if member.status == MemberStatus.ACTIVE and member.role != MemberRole.MEMBER:
            # 管理员账号被盗: the emergency freeze, which promotes the backup admin if need be.
            links.append(
                format_html(
                    '<a href="{}?member={}">{}</a>',
                    reverse("admin:offboarding_accountfreeze_add"),
                    member.pk,
                    _("Freeze (account stolen)"),
                )
            )
        return format_html(
            '{}<div class="help">{} {}</div>',
            member.get_status_display(),
            _("A status changes only through an exit (or its undo), never by editing this page."),
            format_html_join(" · ", "{}", ((link,) for link in links)),
        )

    @admin.display(description=_("audit trail"))
    def audit_trail(self, member):
        # The compliance app builds on this one: linked by URL name only.
        try:
            trail = reverse("admin:compliance_auditevent_changelist")
        except NoReverseMatch:
            return "—"
        return format_html(
            '<a href="{}?member_id={}" id="member-audit-trail">{}</a>',
            trail,
            member.pk,
            _("This member's audit trail"),
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            obj._may_send_links = self.has_change_permission(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def response_add(self, request, obj, post_url_continue=None):
        messages.info(
            request,
            gettext(
                "%(name)s has no password yet: send the invitation from their page (or select "
                "them in the list and use “Invite selected members”)."
            )
            % {"name": obj.name},
        )
        return super().response_add(request, obj, post_url_continue)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = MemberAddForm
            kwargs["fields"] = None
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            # Through the door: a changed data region is an audit event, old and new values.
            services.update_member(
                obj, actor=request.user, **{name: getattr(obj, name) for name in form.changed_data}
            )
            return
        services.create_member(
            obj,
            username=form.cleaned_data["member_username"],
            email=form.cleaned_data.get("email", ""),
            actor=request.user,
        )

    def has_delete_permission(self, request, obj=None):
        # Members leave through an exit, which keeps their records; they are never deleted.
        return False

    # Invitations and reset links (directory/invitations.py): a button on the member's page
    # (GET asks, POST sends), and an action for many at once (after an import).

    actions = ["invite_selected"]

    def get_urls(self):
        return [
            path(
                "<path:object_id>/invite/",
                self.admin_site.admin_view(self.send_link_view),
                {"kind": InvitationKind.INVITATION},
                name="directory_member_invite",
            ),
            path(
                "<path:object_id>/send-reset-link/",
                self.admin_site.admin_view(self.send_link_view),
                {"kind": InvitationKind.RESET},
                name="directory_member_send_reset_link",
            ),
            *super().get_urls(),
        ]

    def send_link_view(self, request, object_id, kind):
        # Who may change members nowhere is refused before the row is looked up (403 for every
        # id alike); another enterprise's member does not exist (404).
        if not self.has_change_permission(request):
            raise PermissionDenied
        member = self._object_or_404(request, object_id)
        if not self.has_change_permission(request, member):
            raise PermissionDenied
        change_url = reverse("admin:directory_member_change", args=[member.pk])
        send = (
            invitations.invite
            if kind == InvitationKind.INVITATION
            else (invitations.send_reset_link)
        )
        if request.method == "POST":
            try:
                send(member, actor=request.user, site_url=request.build_absolute_uri("/"))
            except invitations.InvitationRefused as refused:
                messages.error(request, " ".join(refused.messages))
            except mail.MailNotSent as not_sent:
                messages.error(
                    request,
                    gettext("Not sent to %(name)s: %(reason)s")
                    % {"name": member.name, "reason": not_sent.reason},
                )
            else:
                messages.success(
                    request,
                    gettext("Sent to %(name)s at %(address)s.")
                    % {"name": member.name, "address": member.user.email},
                )
            return HttpResponseRedirect(change_url)
        try:
            invitations.check_invitation(member, actor=request.user, kind=kind)
        except invitations.InvitationRefused as refused:
            messages.warning(request, " ".join(refused.messages))
            return HttpResponseRedirect(change_url)
        request.current_app = self.admin_site.name
        if kind == InvitationKind.INVITATION:
            title = gettext("Send %(name)s their invitation") % {"name": member.name}
        else:
            title = gettext("Send %(name)s a password reset link") % {"name": member.name}
        return TemplateResponse(
            request,
            "admin/directory/member/send_link.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": member,
                "title": title,
                "kind": kind,
                "change_url": change_url,
                "address": member.user.email,
            },
        )

    @admin.action(description=_("Invite selected members"), permissions=["change"])
    def invite_selected(self, request, queryset):
        # The selection is cut to the enterprises where the user may change members (the
        # wall's get_action). Up to IN_REQUEST members are invited now, and the page says who
        # was not and why; a larger selection is queued for the workers (one query of ids,
        # whatever its size), and the page says where to see how each went.
        site_url = request.build_absolute_uri("/")
        first = list(queryset.order_by().values_list("pk", flat=True)[: invitations.IN_REQUEST + 1])
        if len(first) > invitations.IN_REQUEST:
            queued = invitations.queue_invitations(queryset, actor=request.user, site_url=site_url)
            changelist = reverse("admin:directory_member_changelist")
            messages.success(
                request,
                format_html(
                    "{} {} {}",
                    ngettext(
                        "%(count)d invitation is being sent in the background.",
                        "%(count)d invitations are being sent in the background.",
                        queued,
                    )
                    % {"count": queued},
                    format_html(
                        gettext(
                            "See how each went in the members list: "
                            '<a href="{}">Invited, no password yet</a> and '
                            '<a href="{}">Last mail not sent</a>.'
                        ),
                        f"{changelist}?login=invited",
                        f"{changelist}?login=not_sent",
                    ),
                    gettext("You will get an e-mail when they are all sent."),
                ),
            )
            return
        result = invitations.invite_many(queryset, actor=request.user, site_url=site_url)
        if result.sent:
            messages.success(
                request,
                ngettext(
                    "%(count)d member invited.", "%(count)d members invited.", len(result.sent)
                )
                % {"count": len(result.sent)},
            )
        if result.not_sent:
            messages.error(
                request,
                format_html(
                    "{}<ul>{}</ul>",
                    ngettext(
                        "%(count)d member not invited:",
                        "%(count)d members not invited:",
                        len(result.not_sent),
                    )
                    % {"count": len(result.not_sent)},
                    format_html_join(
                        "", "<li>{}: {}</li>", ((str(m), why) for m, why in result.not_sent)
                    ),
                ),
            )


class OwnedResourceAdmin(EnterpriseScopedAdmin):
    list_display = ("name", "owner", "enterprise", "created_at")
    list_select_related = ("owner", "enterprise")
    list_filter = (GrantedEnterpriseFilter,)
    search_fields = ("name", "owner__name", "owner__employee_number")
    autocomplete_fields = ("owner",)


@admin.register(ExternalContact)
class ExternalContactAdmin(OwnedResourceAdmin):
    list_display = ("name", "company", "owner", "enterprise", "created_at")
    search_fields = OwnedResourceAdmin.search_fields + ("company",)


@admin.register(CustomerGroup)
class CustomerGroupAdmin(OwnedResourceAdmin):
    list_display = ("name", "member_count", "owner", "enterprise", "created_at")


@admin.register(AppAuthorization)
class AppAuthorizationAdmin(OwnedResourceAdmin):
    list_display = ("name", "scopes", "owner", "enterprise", "created_at")


@admin.register(ThirdPartyBinding)
class ThirdPartyBindingAdmin(OwnedResourceAdmin):
    list_display = ("name", "provider", "account", "owner", "enterprise", "created_at")
    list_filter = ("provider",) + OwnedResourceAdmin.list_filter


@admin.register(ApprovalTemplate)
class ApprovalTemplateAdmin(OwnedResourceAdmin):
    list_display = ("name", "in_use", "owner", "enterprise", "created_at")
    list_filter = ("in_use",) + OwnedResourceAdmin.list_filter


@admin.register(SharedCalendar)
class SharedCalendarAdmin(OwnedResourceAdmin):
    list_display = ("name", "subscriber_count", "owner", "enterprise", "created_at")


@admin.register(EnterpriseAccess)
class EnterpriseAccessAdmin(EnterpriseScopedAdmin):
    list_display = ("user", "enterprise", "role", "granted_at")
    list_select_related = ("user", "enterprise")
    list_filter = ("role", ("enterprise", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__username", "enterprise__name")
    autocomplete_fields = ("user",)

    def has_add_permission(self, request):
        # Granting access to a tenant is the operator's decision, not the tenant staff's.
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        obj.pk = grant_access(user=obj.user, enterprise=obj.enterprise, role=obj.role).pk
        messages.info(
            request,
            _("%(user)s can now work on %(enterprise)s.")
            % {"user": obj.user, "enterprise": obj.enterprise},
        )


# Job runs (J-1 … J-5): what each periodic job did, read by every staff user. A run is not an
# enterprise's row, but its counts and errors are per enterprise: each user sees only those of the
# enterprises granted to them (a superuser sees all, and the errors of the run as a whole).


def _granted(user):
    grants = grants_for(user)
    return None if grants.all_enterprises else set(grants.enterprise_ids())


def visible_counts(run: JobRun, user) -> dict[str, dict]:
    """The run's counts per enterprise (id as text) that `user` may see."""
    granted = _granted(user)
    if granted is None:
        return dict(run.counts)
    return {key: value for key, value in run.counts.items() if _as_id(key) in granted}


def visible_errors(run: JobRun, user) -> list[dict]:
    """The run's errors `user` may see: those of their enterprises; an error of the run as a whole
    (no enterprise) is shown to a superuser in full, to others without its text."""
    granted = _granted(user)
    if granted is None:
        return list(run.errors)
    shown = []
    for error in run.errors:
        enterprise_id = error.get("enterprise")
        if enterprise_id is None:
            shown.append({"enterprise": None, "error": gettext("The run failed as a whole.")})
        elif _as_id(enterprise_id) in granted:
            shown.append(error)
    return shown


def _as_id(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def latest_failed_runs(user) -> list[JobRun]:
    """The jobs whose latest run (skipped runs aside) failed, where `user` sees an error of it:
    the warning on the admin home. One query (a row per job at most)."""
    if not grants_for(user).has_any():
        return []
    latest = (
        JobRun.objects.filter(job=OuterRef("job"))
        .exclude(status__in=(JobStatus.SKIPPED, JobStatus.RUNNING))
        .order_by("-started_at", "-pk")
        .values("pk")[:1]
    )
    failed = JobRun.objects.filter(status=JobStatus.FAILED, pk=Subquery(latest)).order_by("job")
    return [run for run in failed if visible_errors(run, user)]


LOST_WARNED_FOR = timedelta(days=1)


def recent_lost_runs(user, now=None) -> list[JobRun]:
    """The latest lost run of each job within the last day (its worker died while it ran; the
    next run took over): the warning on the admin home, for every staff user. Runs still
    `running` past their lease are marked lost first."""
    if not grants_for(user).has_any():
        return []
    now = now or timezone.now()
    mark_lost_runs(now)
    latest = (
        JobRun.objects.filter(job=OuterRef("job"), status=JobStatus.LOST)
        .order_by("-started_at", "-pk")
        .values("pk")[:1]
    )
    return list(
        JobRun.objects.filter(
            status=JobStatus.LOST, started_at__gte=now - LOST_WARNED_FOR, pk=Subquery(latest)
        ).order_by("job")
    )


def labelled_counts(counts: dict) -> list[tuple[str, int]]:
    """A run's counts of one enterprise as (what, how many), what in words."""
    return sorted((job_count_label(what), how_many) for what, how_many in counts.items())


class JobFilter(admin.SimpleListFilter):
    """By job: every job the project schedules, by its name, whether or not it has run yet."""

    title = gettext_lazy("job")
    parameter_name = "job"

    def lookups(self, request, model_admin):
        choices = [(job, label) for job, label in JOB_LABELS.items()]
        if self.value() and self.value() not in JOB_LABELS:
            choices.append((self.value(), self.value()))
        return choices

    def queryset(self, request, queryset):
        return queryset.filter(job=self.value()) if self.value() else queryset


@admin.register(JobRun)
class JobRunAdmin(DateDrillDownMixin, admin.ModelAdmin):
    """Read-only: runs are written by the jobs alone (directory/jobs.py)."""

    list_filter = ("status", JobFilter)
    search_fields = ("job",)
    date_hierarchy = "started_at"
    actions = None
    fields = ("job_shown", "status_shown", "started_at", "finished_at", "worker")
    readonly_fields = fields
    change_form_template = "admin/directory/jobrun/change_form.html"
    list_per_page = 50

    class Media:
        css = {"all": ("directory/jobs.css",)}

    def _staff(self, request) -> bool:
        return grants_for(request.user).has_any()

    def has_module_permission(self, request):
        return self._staff(request)

    def has_view_permission(self, request, obj=None):
        return self._staff(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_list_display(self, request):
        names = _EnterpriseNames(request.user)

        @admin.display(description=_("counts per enterprise"))
        def counts(run):
            shown = visible_counts(run, request.user)
            if not shown:
                return "—"
            return format_html_join(
                mark_safe("<br>"),
                "{}: {}",
                (
                    (names[key], ", ".join(f"{label} {n}" for label, n in labelled_counts(value)))
                    for key, value in sorted(shown.items())
                ),
            )

        @admin.display(description=_("errors"))
        def errors(run):
            shown = visible_errors(run, request.user)
            if not shown:
                return "—"
            return format_html_join(
                mark_safe("<br>"),
                '<span class="job-run-error">{}: {}</span>',
                ((names[error.get("enterprise")], error.get("error", "")) for error in shown),
            )

        return ("job_shown", "status_shown", "started_at", "finished_at", counts, errors)

    @admin.display(description=_("job"), ordering="job")
    def job_shown(self, run):
        return run.job_label

    @admin.display(description=_("status"), ordering="status")
    def status_shown(self, run):
        return format_html(
            '<span class="job-run-status job-run-{}">{}</span>',
            run.status,
            run.get_status_display(),
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            names = _EnterpriseNames(request.user)
            context["run_counts"] = [
                (names[key], labelled_counts(value))
                for key, value in sorted(visible_counts(obj, request.user).items())
            ]
            context["run_errors"] = [
                (names[error.get("enterprise")], error.get("error", ""))
                for error in visible_errors(obj, request.user)
            ]
        return super().render_change_form(request, context, add, change, form_url, obj)


# django-celery-beat's periodic tasks (the jobs' schedules), with a date drill-down that never
# fails (directory/changelist.py).
admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(DateDrillDownMixin, BeatPeriodicTaskAdmin):
    pass


class _EnterpriseNames:
    """Enterprise names by id (as text or number), read once, on first use, for one request."""

    def __init__(self, user):
        self.user = user
        self._names: dict[int, str] | None = None

    def __getitem__(self, key) -> str:
        if key is None or key == "all":
            return gettext("All enterprises")
        if self._names is None:
            self._names = dict(Enterprise.objects.visible_to(self.user).values_list("pk", "name"))
        enterprise_id = _as_id(key)
        return self._names.get(enterprise_id, f"#{key}")


admin.site.site_header = _("Exitdesk")
admin.site.site_title = _("Exitdesk")
admin.site.index_title = _("Employee exits, end to end")


# django-allauth's models (sign-in through a provider, directory/social.py) are not administered
# here: the providers are configured by the environment only, and the link between a provider's
# account and a member's login is made by the member's sign-in, audited.
for _allauth_model in (EmailAddress, SocialAccount, SocialApp, SocialToken):
    if admin.site.is_registered(_allauth_model):
        admin.site.unregister(_allauth_model)
