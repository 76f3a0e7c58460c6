"""Notifications in the admin: the log, read-only with a "retry" action for failed ones, and the
enterprise's IM group robots (offboarding/notifications.py).

- `NotificationAdmin`: every notification written — to whom, what (as it was rendered, in the
  recipient's language), the link, where its delivery stands, the attempts and the last error.
  Nobody adds, changes or deletes one; HR retries failed ones (`notifications.retry`).
- `GroupRobotAdmin`: HR adds and changes the robots. The robot's address holds its key: it is
  typed in a password field, sealed on save (`notifications.save_robot`, with its audit event and
  history) and never shown back — only Apprise's masked form (`wecombot://a...c`). Left empty on
  a change, the address is kept.

Both stand behind `EnterpriseScopedAdmin`, the tenant wall.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from compliance.admin.base import WithoutHistoryAdmin
from directory.admin import EnterpriseConstraintsForm, EnterpriseScopedAdmin

from .. import notifications
from ..exceptions import ExitRefused
from ..models import GroupRobot, Notification
from ..selectors import person_name


@admin.register(Notification)
class NotificationAdmin(WithoutHistoryAdmin):
    list_display = (
        "created_at",
        "event",
        "recipient_name",
        "channel",
        "status",
        "attempts",
        "sent_at",
        "enterprise",
    )
    list_select_related = ("enterprise", "recipient", "recipient_member", "robot")
    list_filter = ("status", "event", "channel", "created_at")
    search_fields = ("subject", "recipient_member__name", "recipient__username")
    date_hierarchy = "created_at"
    fields = (
        "enterprise",
        "event",
        "channel",
        "recipient_name",
        "language_name",
        "subject",
        "body",
        "link",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "updated_at",
        "sent_at",
    )
    readonly_fields = fields
    actions = ("retry_failed",)

    @admin.display(description=gettext_lazy("recipient"))
    def recipient_name(self, notification):
        if notification.robot_id:
            return notification.robot
        if notification.recipient_member_id:
            return notification.recipient_member.name
        return person_name(notification.recipient)

    @admin.display(description=gettext_lazy("language"))
    def language_name(self, notification):
        names = dict(settings.LANGUAGES)
        return names.get(notification.language, notification.language)

    def has_retry_permission(self, request):
        return request.user.has_perm("offboarding.change_notification")

    @admin.action(
        description=gettext_lazy("Retry the selected failed notifications"),
        permissions=("retry",),
    )
    def retry_failed(self, request, queryset):
        # The wall's wrapper (EnterpriseScopedAdmin.get_action) has cut `queryset` to the
        # enterprises where the user may change notifications (HR).
        retried = notifications.retry(queryset, actor=request.user)
        if retried:
            messages.success(
                request,
                ngettext(
                    "%(count)d notification queued again.",
                    "%(count)d notifications queued again.",
                    retried,
                )
                % {"count": retried},
            )
        else:
            messages.warning(request, _("None of the selected notifications had failed."))


class GroupRobotForm(EnterpriseConstraintsForm):
    url = forms.CharField(
        label=gettext_lazy("robot address"),
        required=False,
        strip=True,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=gettext_lazy(
            "wecombot://KEY (WeCom), dingtalk://TOKEN or dingtalk://SECRET@TOKEN (DingTalk), "
            "feishu://TOKEN (Feishu). Kept sealed and never shown again; on a change, leave it "
            "empty to keep the current one."
        ),
    )

    class Meta:
        model = GroupRobot
        fields = ("enterprise", "name", "active")

    def clean_url(self):
        url = self.cleaned_data.get("url", "")
        if not url and self.instance.pk is None:
            raise forms.ValidationError(_("Give the robot's address."))
        if url:
            notifications.check_robot_url(url)
        return url


@admin.register(GroupRobot)
class GroupRobotAdmin(EnterpriseScopedAdmin):
    form = GroupRobotForm
    list_display = ("name", "enterprise", "platform", "url_hint", "active", "updated_at")
    list_select_related = ("enterprise",)
    list_filter = ("platform", "active")
    search_fields = ("name",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("enterprise", "name", "url", "active")
        return ("enterprise", "name", "platform", "url_hint", "url", "active")

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly += ("platform", "url_hint")
        return tuple(dict.fromkeys(readonly))

    @admin.display(description=gettext_lazy("robot address"))
    def url(self, robot):
        # A past version (read-only history page) shows the address masked, as the list does.
        return robot.url_hint

    def has_delete_permission(self, request, obj=None):
        # Turned off (active), never deleted: the log names the robots it posted to.
        return False

    def save_model(self, request, obj, form, change):
        try:
            notifications.save_robot(obj, actor=request.user, url=form.cleaned_data.get("url"))
        except ExitRefused as refusal:
            raise PermissionDenied(str(refusal)) from refusal
