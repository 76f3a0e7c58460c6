"""The staff home's tag: what waits for the user and the enterprises at a glance
(compliance/todo.py), read once for the admin index."""

from django import template

from compliance.todo import staff_home as build_staff_home

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_home(context):
    request = context.get("request")
    if request is None:
        return {"staff": False}
    return build_staff_home(request.user)
