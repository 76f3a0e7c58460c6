"""The admin home's warning about periodic jobs whose latest run failed."""

from django import template

from directory.admin import latest_failed_runs

register = template.Library()


@register.simple_tag(takes_context=True)
def failed_job_runs(context):
    """The latest runs that failed, one per job, whose errors the user may see."""
    return latest_failed_runs(context["request"].user)
