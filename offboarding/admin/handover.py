"""Frozen admin accounts (管理员账号被盗, H-3) and super-admin handovers (H-1) in the admin.

"Add" is the emergency action: HR names the stolen admin account and says why; the save is
`handover.freeze_account`, which freezes it and, for the super admin, promotes the backup admin in
the same transaction. A record is read-only afterwards; its page offers "Unfreeze" to whoever may
(`handover.unfreeze_account` decides: the enterprise's super admin, or a superuser). Behind
`EnterpriseScopedAdmin`, like every admin of an enterprise's rows.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

from directory.admin import ReadOnlyRecordAdmin, RecordAdmin
from directory.choices import MemberRole, MemberStatus

from .. import handover
from ..exceptions import ExitRefused
from ..models import AccountFreeze, SuperAdminHandover
from ..selectors import person_name

# The field the freeze's confirmation page posts: without it, the add form's POST only shows what
# the freeze would do.
CONFIRMED = "freeze_confirmed"


class FreezeForm(forms.ModelForm):
    """The emergency action. Its rules live in `handover.check_freeze`; a refusal is shown here."""

    actor = None  # set by AccountFreezeAdmin.get_form

    class Meta:
        model = AccountFreeze
        fields = ("member", "reason")

    def clean(self):
        cleaned_data = super().clean()
        if self.errors:
            return cleaned_data
        try:
            handover.check_freeze(
                cleaned_data["member"], actor=self.actor, reason=cleaned_data.get("reason", "")
            )
        except ExitRefused as refusal:
            field = refusal.field if refusal.field in self.fields else None
            self.add_error(field, str(refusal))
        return cleaned_data


@admin.register(AccountFreeze)
class AccountFreezeAdmin(RecordAdmin):
    list_display = ("member", "frozen_at", "frozen_by_name", "promoted", "unfrozen_at")
    list_select_related = ("member", "promoted", "frozen_by", "enterprise")
    list_filter = (("unfrozen_at", admin.EmptyFieldListFilter),)
    search_fields = ("member__name", "member__employee_number")
    autocomplete_fields = ("member",)
    # Each fact once: the people by name, the state before the freeze as labelled fields.
    readonly_fields = (
        "enterprise",
        "member",
        "reason_shown",
        "frozen_by_name",
        "frozen_at",
        "promoted",
        "before_shown",
        "unfrozen_by_name",
        "unfrozen_at",
    )

    def get_fields(self, request, obj=None):
        return ("member", "reason") if obj is None else self.readonly_fields

    @admin.display(description=gettext_lazy("reason for the freeze"))
    def reason_shown(self, freeze):
        return freeze.reason

    @admin.display(description=gettext_lazy("before the freeze"))
    def before_shown(self, freeze):
        before = freeze.before or {}
        labels = {
            "role": _("Role"),
            "login_active": _("Could log in"),
            "is_backup_admin": _("Backup admin"),
        }
        shown = []
        for key, value in before.items():
            if key == "role":
                value = MemberRole(value).label if value in MemberRole.values else value
            elif isinstance(value, bool):
                value = _("Yes") if value else _("No")
            shown.append((labels.get(key, key.replace("_", " ")), value))
        if not shown:
            return "—"
        return format_html(
            '<dl class="freeze-before">{}</dl>',
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", shown),
        )

    @admin.display(description=gettext_lazy("frozen by"))
    def frozen_by_name(self, freeze):
        return person_name(freeze.frozen_by)

    @admin.display(description=gettext_lazy("unfrozen by"))
    def unfrozen_by_name(self, freeze):
        return person_name(freeze.unfrozen_by)

    # The add page is the freeze (RecordAdmin: the record never changes by its form). Its POST
    # first shows what the freeze will do; only the confirmation's POST freezes.

    def add_view(self, request, form_url="", extra_context=None):
        if request.method == "POST" and request.POST.get(CONFIRMED) != "1":
            form = self.get_form(request)(request.POST)
            if self.has_add_permission(request) and form.is_valid():
                return self._freeze_confirmation(request, form)
        return super().add_view(request, form_url, extra_context)

    def _freeze_confirmation(self, request, form):
        member = form.cleaned_data["member"]
        promoted = None
        if member.is_active_super_admin:
            promoted, _refusal = handover.takeover_on_report_of(member)
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/offboarding/accountfreeze/freeze_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Freeze the account of %(member)s?") % {"member": member.name},
                "member": member,
                "promoted": promoted,
                "reason": form.cleaned_data["reason"],
                "form": form,
                "confirmed": CONFIRMED,
                "open_handovers": handover.open_handovers_naming(member),
            },
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type("FreezeForm", (FreezeForm,), {"actor": request.user})
        form = super().get_form(request, obj, change=change, **kwargs)
        if "reason" in form.base_fields:
            form.base_fields["reason"].label = capfirst(_("reason for the freeze"))
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "member":
            field.queryset = field.queryset.filter(
                status=MemberStatus.ACTIVE, role__in=(MemberRole.ADMIN, MemberRole.SUPER_ADMIN)
            )
        return field

    def save_model(self, request, obj, form, change):
        freeze = handover.freeze_account(
            form.cleaned_data["member"], actor=request.user, reason=form.cleaned_data["reason"]
        )
        obj.pk = freeze.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # freeze_account wrote everything

    def response_add(self, request, obj, post_url_continue=None):
        if obj.promoted_id:
            messages.warning(
                request,
                _(
                    "%(member)s is frozen and logged out everywhere; %(promoted)s is the super "
                    "admin now."
                )
                % {"member": obj.member.name, "promoted": obj.promoted.name},
            )
        else:
            messages.warning(
                request,
                _("%(member)s is frozen and logged out everywhere.") % {"member": obj.member.name},
            )
        return HttpResponseRedirect(self._change_url(obj))

    # Unfreeze: GET asks, POST does.

    def get_urls(self):
        return [
            path(
                "<path:object_id>/unfreeze/",
                self.admin_site.admin_view(self.unfreeze_view),
                name="offboarding_accountfreeze_unfreeze",
            ),
            *super().get_urls(),
        ]

    def unfreeze_view(self, request, object_id):
        freeze = self.get_object(request, unquote(object_id))
        if freeze is None:
            raise Http404(_("There is no such account freeze."))
        if not handover.may_unfreeze(request.user, freeze):
            raise PermissionDenied
        if request.method == "POST":
            try:
                handover.unfreeze_account(freeze, actor=request.user)
            except ExitRefused as refusal:
                messages.error(request, str(refusal))
            else:
                messages.success(
                    request, _("%(member)s is unfrozen.") % {"member": freeze.member.name}
                )
            return HttpResponseRedirect(self._change_url(freeze))
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/offboarding/accountfreeze/unfreeze.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": freeze,
                "title": _("Unfreeze %(member)s") % {"member": freeze.member.name},
                "change_url": self._change_url(freeze),
            },
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.unfrozen_at is None and handover.may_unfreeze(request.user, obj):
            context["unfreeze_url"] = reverse(
                "admin:offboarding_accountfreeze_unfreeze", args=[obj.pk]
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _change_url(self, freeze) -> str:
        return reverse("admin:offboarding_accountfreeze_change", args=[freeze.pk])


@admin.register(SuperAdminHandover)
class SuperAdminHandoverAdmin(ReadOnlyRecordAdmin):
    """The super-admin handovers (超级管理员移交): read-only records for HR, IT and Compliance of
    the enterprise. They are written by the leaving super admin and the new one on their own pages
    (offboarding/views.py), never here."""

    list_display = (
        "from_member",
        "to_member",
        "policy",
        "state",
        "requested_at",
        "confirmed_at",
        "grace_until",
    )
    list_select_related = ("from_member", "to_member", "enterprise")
    list_filter = ("state", "policy")
    search_fields = ("from_member__name", "to_member__name")
    fields = (
        "enterprise",
        "exit_case",
        "policy",
        "state",
        "from_member",
        "to_member",
        "custodian",
        "requested_by_name",
        "requested_at",
        "confirmed_at",
        "grace_until",
        "grace_closed_at",
        "stolen_report",
        "withdrawn_by_name",
        "withdrawn_at",
    )
    readonly_fields = fields

    @admin.display(description=gettext_lazy("requested by"))
    def requested_by_name(self, record):
        return person_name(record.requested_by)

    @admin.display(description=gettext_lazy("withdrawn by"))
    def withdrawn_by_name(self, record):
        return person_name(record.withdrawn_by)


# django-otp registers its devices in the admin: their secrets and QR codes, for every user of
# every enterprise, past the tenant wall. Exitdesk's people enrol on their own handover page only.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)
