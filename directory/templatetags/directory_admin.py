from django import template

from directory.models import Enterprise

register = template.Library()


@register.simple_tag(takes_context=True)
def enterprises_without_backup_admin(context):
    """Enterprises the user works on that have no active backup admin (权限真空期风险, D-5)."""
    request = context["request"]
    return list(
        Enterprise.objects.visible_to(request.user).without_backup_admin().only("pk", "name")[:20]
    )
