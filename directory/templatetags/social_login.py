"""The "Sign in with …" buttons of the providers this deployment configured
(directory/social.py)."""

from django import template

from directory.social import login_buttons, provider_name

register = template.Library()


@register.simple_tag(takes_context=True)
def social_login_buttons(context) -> list[dict]:
    request = context.get("request")
    return login_buttons(request) if request is not None else []


@register.filter
def provider_label(provider) -> str:
    """A provider's name as the buttons say it (DingTalk and Feishu translated)."""
    return provider_name(provider)
