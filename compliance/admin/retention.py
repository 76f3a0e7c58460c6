"""Retention policies and legal holds in the admin (C-2, C-4), for the Compliance role.

- Retention policies: the changelist and the form show the statutory floors
  (`retention.FLOORS`); the form refuses what `retention.check_policy` refuses, beside "keep at
  least". A valid add or change is not saved at once: the page first shows how many records the
  enterprise's policies, with this one, would purge and anonymize now (`retention.preview`),
  next to what they would do as saved; the form's values ride along in hidden inputs with a
  `_confirmed` flag, and only that second POST saves (`retention.save_policy`). Deleting goes
  through `retention.delete_policy`.
- Legal holds: "Add" places one (`holds.place_hold`; the form refuses what `holds.check_place`
  refuses, beside the field). A hold is read-only afterwards; its page offers "Release" to
  Compliance staff of its enterprise: GET asks (saying what the next retention run could then
  do), POST releases (`holds.release_hold`). Releasing deletes nothing by itself. Holds are never
  deleted.

Both stand behind `EnterpriseScopedAdmin`: rows, choices and the member autocomplete are the
user's enterprises' only.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.admin import EnterpriseConstraintsForm, EnterpriseScopedAdmin, RecordAdmin
from directory.models import Member
from offboarding.selectors import person_name

from .. import holds, retention
from ..exceptions import ComplianceRefused
from ..models import LegalHold, RetentionPolicy

# The flag of the second POST of a policy change: the user saw what it would do, and confirmed.
CONFIRMED = "_confirmed"
# The buttons of Django's change form, carried through the confirmation page.
SUBMIT_BUTTONS = ("_continue", "_addanother", "_save")


def _add_refusal(form, refusal: ComplianceRefused) -> None:
    field = refusal.field if refusal.field in form.fields else None
    form.add_error(field, str(refusal))


def floors_table() -> list[dict]:
    """The statutory floors as the pages list them."""
    return [
        {
            "records": floor.records_label,
            "duration": floor.duration,
            "minimum_days": floor.minimum_days if floor.binds_policies else None,
            "law": floor.law,
        }
        for floor in retention.FLOORS
    ]


def keep_days_help() -> str:
    chat = next(floor for floor in retention.FLOORS if floor.binds_policies)
    floors = "; ".join(f"{floor.records_label}: {floor.duration}" for floor in retention.FLOORS)
    return _(
        "Statutory floors hold whatever a policy says (%(floors)s). A policy on %(records)s, or "
        "on every category, must say at least %(days)d days. A file policy may say fewer: "
        "labour contracts and wage records are still kept 2 years after the employment ends. "
        "Where a category's policy and the every-category one overlap, the longer one decides."
    ) % {"floors": floors, "records": chat.records_label.lower(), "days": chat.minimum_days}


# Retention policies


class RetentionPolicyForm(EnterpriseConstraintsForm):
    """A policy as the user types it; its rules live in `retention.check_policy`."""

    actor = None  # set by RetentionPolicyAdmin.get_form

    class Meta:
        model = RetentionPolicy
        fields = ("enterprise", "category", "keep_days", "action")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "keep_days" in self.fields:
            self.fields[
                "keep_days"
            ].help_text = (
                f"{keep_days_help()} {RetentionPolicy._meta.get_field('keep_days').help_text}"
            )
        if "action" in self.fields:
            self.fields["action"].help_text = _(
                "Keep: the records stay until a compliant deletion (an erasure request)."
            )

    def clean(self):
        cleaned_data = super().clean()
        if any(name in self.errors for name in ("enterprise", "category", "keep_days", "action")):
            return cleaned_data
        policy = RetentionPolicy(
            pk=self.instance.pk,
            enterprise=cleaned_data.get("enterprise") or self.instance.enterprise,
            category=cleaned_data.get("category", self.instance.category),
            keep_days=cleaned_data.get("keep_days", self.instance.keep_days),
            action=cleaned_data.get("action", self.instance.action),
        )
        try:
            retention.check_actor(policy.enterprise_id, self.actor)
            retention.check_policy(policy)
        except ComplianceRefused as refusal:
            _add_refusal(self, refusal)
        return cleaned_data


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(EnterpriseScopedAdmin):
    form = RetentionPolicyForm
    list_display = ("category_label", "keep_days", "action", "enterprise")
    list_display_links = ("category_label",)
    list_select_related = ("enterprise",)
    list_filter = ("action", "category", ("enterprise", admin.RelatedOnlyFieldListFilter))
    search_fields = ("enterprise__name",)
    fields = ("enterprise", "category", "keep_days", "action")

    @admin.display(description=gettext_lazy("category"), ordering="category")
    def category_label(self, policy):
        return policy.get_category_display() if policy.category else _("Every category")

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = type("RetentionPolicyForm", (self.form,), {"actor": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "floors": floors_table()}
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["floors"] = floors_table()
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Before a change is saved, the page shows what it would do now.

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and CONFIRMED not in request.POST:
            confirmation = self._confirmation(request, object_id)
            if confirmation is not None:
                return confirmation
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _confirmation(self, request, object_id):
        """The confirmation page for a valid POST; None leaves the request to Django (an invalid
        form shown again with its errors, a missing row, a refused permission)."""
        obj = None
        if object_id is None:
            if not self.has_add_permission(request):
                return None
        else:
            obj = self.get_object(request, unquote(object_id))
            if obj is None or not self.has_change_permission(request, obj):
                return None
        fieldsets = self.get_fieldsets(request, obj)
        form_class = self.get_form(
            request, obj, change=obj is not None, fields=flatten_fieldsets(fieldsets)
        )
        form = form_class(request.POST, request.FILES, instance=obj)
        if not form.is_valid():
            return None
        policy = form.save(commit=False)  # not saved: only what it would do is counted
        enterprise = policy.enterprise
        proposed = retention.preview(
            enterprise, policies=retention.policies_with(enterprise, policy)
        )
        current = retention.preview(enterprise)
        submit_name = next((name for name in SUBMIT_BUTTONS if name in request.POST), "_save")
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/compliance/retentionpolicy/confirm.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": obj,
                "form": form,
                "policy": policy,
                "policy_category": policy.get_category_display()
                if policy.category
                else _("Every category"),
                "enterprise": enterprise,
                "proposed": proposed,
                "current": current,
                "confirmed_flag": CONFIRMED,
                "submit_name": submit_name,
                "title": _("Save this retention policy?"),
                "back_url": request.get_full_path(),
            },
        )

    def save_model(self, request, obj, form, change):
        retention.save_policy(obj, actor=request.user)

    def delete_model(self, request, obj):
        retention.delete_policy(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for policy in queryset:  # a handful: one per category and enterprise
            retention.delete_policy(policy, actor=request.user)


# Legal holds


class PlaceHoldForm(EnterpriseConstraintsForm):
    """Placing a hold. Its rules live in `holds.check_place`; a refusal is shown here."""

    actor = None  # set by LegalHoldAdmin.get_form

    class Meta:
        model = LegalHold
        fields = ("enterprise", "member", "reason", "starts_on", "ends_on")

    def clean(self):
        cleaned_data = super().clean()
        enterprise = cleaned_data.get("enterprise")
        if enterprise is None or "member" in self.errors:
            return cleaned_data
        try:
            holds.check_place(
                enterprise,
                member=cleaned_data.get("member"),
                reason=cleaned_data.get("reason", ""),
                starts_on=cleaned_data.get("starts_on"),
                ends_on=cleaned_data.get("ends_on"),
                actor=self.actor,
            )
        except ComplianceRefused as refusal:
            if refusal.field not in self.errors:
                _add_refusal(self, refusal)
        return cleaned_data


class HoldStatusFilter(admin.SimpleListFilter):
    title = gettext_lazy("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (
            ("standing", gettext_lazy("Standing")),
            ("upcoming", gettext_lazy("Not started yet")),
            ("ended", gettext_lazy("Ended")),
            ("released", gettext_lazy("Released")),
        )

    def queryset(self, request, queryset):
        # Today in the time zone the request shows (the user's enterprise's, see
        # directory/middleware.py).
        today = timezone.localdate()
        unreleased = queryset.filter(released_at__isnull=True)
        if self.value() == "standing":
            return unreleased.filter(
                Q(ends_on__isnull=True) | Q(ends_on__gte=today), starts_on__lte=today
            )
        if self.value() == "upcoming":
            return unreleased.filter(starts_on__gt=today)
        if self.value() == "ended":
            return unreleased.filter(ends_on__lt=today)
        if self.value() == "released":
            return queryset.filter(released_at__isnull=False)
        return queryset


@admin.register(LegalHold)
class LegalHoldAdmin(RecordAdmin):
    list_display = (
        "__str__",
        "starts_on",
        "ends_on",
        "status",
        "placed_by_name",
        "placed_at",
        "enterprise",
    )
    list_select_related = ("member", "enterprise", "placed_by")
    list_filter = (HoldStatusFilter, ("enterprise", admin.RelatedOnlyFieldListFilter))
    search_fields = ("member__name", "member__employee_number")
    autocomplete_fields = ("member",)
    readonly_fields = (
        "enterprise",
        "member",
        "reason",
        "starts_on",
        "ends_on",
        "status",
        "placed_by_name",
        "placed_at",
        "released_by_name",
        "released_at",
    )

    @admin.display(description=gettext_lazy("status"))
    def status(self, hold):
        today = timezone.localdate(timezone=hold.enterprise.time_zone)
        if hold.released_at is not None:
            return _("Released")
        if hold.starts_on > today:
            return _("Not started yet")
        if hold.ends_on is not None and hold.ends_on < today:
            return _("Ended")
        return _("Standing")

    @admin.display(description=gettext_lazy("placed by"))
    def placed_by_name(self, hold):
        return person_name(hold.placed_by)

    @admin.display(description=gettext_lazy("released by"))
    def released_by_name(self, hold):
        return person_name(hold.released_by)

    # The add page places a hold (RecordAdmin: a hold never changes by its form).

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("enterprise", "member", "reason", "starts_on", "ends_on")
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type("PlaceHoldForm", (PlaceHoldForm,), {"actor": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "member":
            # Members of the enterprises where the user may place holds (Compliance) only.
            field.queryset = Member.objects.where_user_has_perm(request.user, self.perm("add"))
        return field

    def save_model(self, request, obj, form, change):
        hold = holds.place_hold(
            form.cleaned_data["enterprise"],
            member=form.cleaned_data.get("member"),
            reason=form.cleaned_data["reason"],
            starts_on=form.cleaned_data.get("starts_on"),
            ends_on=form.cleaned_data.get("ends_on"),
            actor=request.user,
        )
        obj.pk = hold.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # place_hold wrote everything

    def response_add(self, request, obj, post_url_continue=None):
        messages.success(
            request,
            _(
                "%(hold)s is placed: nothing it covers is purged, anonymized or erased while it "
                "stands."
            )
            % {"hold": obj},
        )
        return HttpResponseRedirect(self._change_url(obj))

    # Release: GET asks, POST does.

    def may_release(self, request, hold) -> bool:
        return request.user.has_perm(self.perm("change"), hold)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/release/",
                self.admin_site.admin_view(self.release_view),
                name="compliance_legalhold_release",
            ),
            *super().get_urls(),
        ]

    def release_view(self, request, object_id):
        hold = self.get_object(request, unquote(object_id))
        if hold is None:
            raise Http404(_("There is no such legal hold."))
        if not self.may_release(request, hold):
            raise PermissionDenied
        if request.method == "POST":
            try:
                holds.release_hold(hold, actor=request.user)
            except ComplianceRefused as refusal:
                messages.error(request, str(refusal))
            else:
                messages.success(
                    request,
                    _(
                        "%(hold)s is released. Nothing was deleted: the next retention run "
                        "decides again."
                    )
                    % {"hold": hold},
                )
            return HttpResponseRedirect(self._change_url(hold))
        if hold.released_at is not None:
            messages.warning(request, _("This hold was released already."))
            return HttpResponseRedirect(self._change_url(hold))
        held_now = retention.preview(hold.enterprise)
        released = retention.preview(hold.enterprise, without_hold=hold)
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/compliance/legalhold/release.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": hold,
                "title": _("Release %(hold)s") % {"hold": hold},
                "change_url": self._change_url(hold),
                "would_purge": released["purge"] - held_now["purge"],
                "would_anonymize": released["anonymize"] - held_now["anonymize"],
            },
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.released_at is None and self.may_release(request, obj):
            context["release_url"] = reverse("admin:compliance_legalhold_release", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _change_url(self, hold) -> str:
        return reverse("admin:compliance_legalhold_change", args=[hold.pk])
