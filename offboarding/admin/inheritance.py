"""The handovers of leaving members' resources (离职继承) in the admin: read-only records.

They are written only by offboarding/inheritance.py, through the exit page's buttons; here HR, IT
and Compliance look them up (by member, status, resource type). Nobody adds, changes or deletes
one, the superuser included: a batch goes with its exit. Both stand behind
`EnterpriseScopedAdmin`; an item reaches its enterprise through its batch.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy

from directory.admin import EnterpriseScopedAdmin

from ..models import InheritanceBatch, InheritanceItem
from ..selectors import person_name


class ReadOnlyRecordAdmin(EnterpriseScopedAdmin):
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(InheritanceBatch)
class InheritanceBatchAdmin(ReadOnlyRecordAdmin):
    list_display = ("from_member", "exit_case", "created_at", "handed_over_by", "undone_at")
    list_select_related = ("from_member", "exit_case__member", "created_by")
    list_filter = (("undone_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("from_member__name",)
    date_hierarchy = "created_at"
    fields = (
        "enterprise",
        "exit_case",
        "from_member",
        "handed_over_by",
        "created_at",
        "successors",
        "undone_at",
    )
    readonly_fields = fields

    @admin.display(description=gettext_lazy("handed over by"))
    def handed_over_by(self, batch):
        return person_name(batch.created_by)


@admin.register(InheritanceItem)
class InheritanceItemAdmin(ReadOnlyRecordAdmin):
    enterprise_lookup = "batch__enterprise_id"

    list_display = (
        "__str__",
        "resource_type",
        "from_member",
        "successor",
        "status",
        "settles_at",
    )
    list_select_related = ("batch__from_member", "successor")
    list_filter = ("status", "resource_type")
    search_fields = ("batch__from_member__name", "successor__name")
    fields = (
        "batch",
        "resource_type",
        "resource_id",
        "successor",
        "status",
        "settles_at",
        "refusal_reason",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        # The object permissions ask the item's enterprise, which is its batch's.
        return super().get_queryset(request).select_related("batch")

    @admin.display(description=gettext_lazy("leaving member"), ordering="batch__from_member__name")
    def from_member(self, item):
        return item.batch.from_member
