"""The directory in the admin. Interface only: rules live in models (clean, constraints) and in
services.

`EnterpriseScopedAdmin` is the tenant wall every enterprise-owned model's admin stands behind (the
offboarding and compliance admins use it too): a staff user sees, picks and saves only rows of the
enterprises granted to them; a superuser sees all.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .choices import StaffRole
from .models import (
    AppAuthorization,
    ApprovalTemplate,
    CustomerGroup,
    Department,
    Enterprise,
    EnterpriseAccess,
    ExternalContact,
    Member,
    SharedCalendar,
    ThirdPartyBinding,
)
from .permissions import grant_access


class EnterpriseConstraintsForm(forms.ModelForm):
    """Checks the constraints that name `enterprise` when the enterprise is not a field of the
    form (read-only on a change page, absent from list_editable). Django skips every constraint
    naming a field the form lacks, and the database would then answer a duplicate with a 500."""

    def validate_unique(self):
        super().validate_unique()
        if "enterprise" in self.fields or self.instance.enterprise_id is None:
            return
        failed = set(self.errors)
        for constraint in _enterprise_constraints(self._meta.model):
            try:
                constraint.validate(self._meta.model, self.instance, exclude=failed)
            except ValidationError as error:
                self.add_error(None, error)


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


class EnterpriseScopedAdmin(SimpleHistoryAdmin):
    """Rows, choices and autocomplete results limited to the user's enterprises.

    Groups give permissions across enterprises, but a person may be HR in one enterprise and IT
    in another: `editing_roles` names the roles that may add, change and delete rows here, checked
    against the row's own enterprise. Staff granted the enterprise in another role only see.
    """

    form = EnterpriseConstraintsForm

    # The path from this model to its enterprise, for the queryset filter.
    enterprise_lookup = "enterprise"
    # Staff roles that may edit rows (None: any role the enterprise was granted in).
    editing_roles: tuple[str, ...] | None = None

    def editable_enterprises(self, request):
        return Enterprise.objects.visible_to(request.user, roles=self.editing_roles)

    def _may_edit(self, request, obj) -> bool:
        if obj is None or self.editing_roles is None or request.user.is_superuser:
            return True
        enterprise_id = obj.pk if self.enterprise_lookup == "pk" else obj.enterprise_id
        return self.editable_enterprises(request).filter(pk=enterprise_id).exists()

    def has_add_permission(self, request, *args):
        if not super().has_add_permission(request, *args):
            return False
        return (
            self.editing_roles is None
            or request.user.is_superuser
            or self.editable_enterprises(request).exists()
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_edit(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(
            **{f"{self.enterprise_lookup}__in": Enterprise.objects.visible_to(request.user)}
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if related is Enterprise:
            kwargs["queryset"] = self.editable_enterprises(request)
        elif hasattr(related._default_manager, "visible_to"):
            kwargs["queryset"] = related._default_manager.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", EnterpriseConstraintsForm)
        return super().get_changelist_form(request, **kwargs)

    def get_changelist_formset(self, request, **kwargs):
        kwargs.setdefault("formset", EnterpriseConstraintsFormSet)
        return super().get_changelist_formset(request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        # Moving a row to another enterprise would cut every link it has: never offered.
        if obj is not None and "enterprise" not in readonly:
            readonly += ("enterprise",)
        return readonly

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        enterprises = list(self.editable_enterprises(request)[:2])
        if len(enterprises) == 1:
            initial.setdefault("enterprise", enterprises[0].pk)
        return initial


@admin.register(Enterprise)
class EnterpriseAdmin(EnterpriseScopedAdmin):
    enterprise_lookup = "pk"
    editing_roles = (StaffRole.HR,)
    list_display = ("name", "data_region", "time_zone", "undo_window", "backup_admin")
    list_filter = ("data_region",)
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).with_backup_admin_flag()

    @admin.display(boolean=True, description=_("backup admin"), ordering="has_backup_admin")
    def backup_admin(self, obj):
        return obj.has_backup_admin

    def get_readonly_fields(self, request, obj=None):
        return ()

    def has_add_permission(self, request):
        # A new tenant is created by the operator, who then grants staff access to it.
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(Department)
class DepartmentAdmin(EnterpriseScopedAdmin):
    editing_roles = (StaffRole.HR,)
    list_display = ("name", "parent", "head", "status", "pending_since", "enterprise")
    list_select_related = ("parent", "head", "enterprise")
    list_filter = ("status", ("enterprise", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name",)
    autocomplete_fields = ("parent", "head")
    readonly_fields = ("pending_since",)


class MemberAddForm(EnterpriseConstraintsForm):
    """Adding a member creates their login too: staff never pick from every user of the system."""

    username = forms.CharField(label=_("username"), max_length=150)
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
            "is_backup_admin",
            "data_region",
        )

    def clean_username(self):
        username = self.cleaned_data["username"]
        if services.username_taken(username):
            raise forms.ValidationError(_("This username is already taken."))
        return username


@admin.register(Member)
class MemberAdmin(EnterpriseScopedAdmin):
    editing_roles = (StaffRole.HR,)
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
        "role",
        "is_backup_admin",
        "data_region",
        ("enterprise", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("name", "employee_number", "user__username", "department__name")
    autocomplete_fields = ("department", "manager")
    readonly_fields = ("user", "joined_at")
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("enterprise", "user", "name", "employee_number", "title")}),
        (_("Organisation"), {"fields": ("department", "manager", "data_region")}),
        (_("Administration"), {"fields": ("role", "is_backup_admin", "status", "joined_at")}),
    )
    add_fieldsets = (
        (None, {"fields": ("enterprise", "username", "email", "name", "employee_number", "title")}),
        (_("Organisation"), {"fields": ("department", "manager", "data_region")}),
        (_("Administration"), {"fields": ("role", "is_backup_admin")}),
    )

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = MemberAddForm
            kwargs["fields"] = None
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        services.create_member(
            obj,
            username=form.cleaned_data["username"],
            email=form.cleaned_data.get("email", ""),
            actor=request.user,
        )

    def has_delete_permission(self, request, obj=None):
        # Members leave through an exit, which keeps their records; they are never deleted.
        return False


class OwnedResourceAdmin(EnterpriseScopedAdmin):
    editing_roles = (StaffRole.HR,)
    list_display = ("name", "owner", "enterprise", "created_at")
    list_select_related = ("owner", "enterprise")
    list_filter = (("enterprise", admin.RelatedOnlyFieldListFilter),)
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
    editing_roles = (StaffRole.HR, StaffRole.IT)
    list_display = ("name", "scopes", "owner", "enterprise", "created_at")


@admin.register(ThirdPartyBinding)
class ThirdPartyBindingAdmin(OwnedResourceAdmin):
    editing_roles = (StaffRole.HR, StaffRole.IT)
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


admin.site.site_header = _("Exitdesk")
admin.site.site_title = _("Exitdesk")
admin.site.index_title = _("Employee exits, end to end")
