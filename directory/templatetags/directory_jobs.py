"""The admin home's warnings about periodic jobs: latest runs that failed, runs lost."""

from django import template

from directory.admin import latest_failed_runs, recent_lost_runs

register = template.Library()


@register.simple_tag(takes_context=True)
def failed_job_runs(context):
    """The latest runs that failed, one per job, whose errors the user may see."""
    return latest_failed_runs(context["request"].user)


@register.simple_tag(takes_context=True)
def lost_job_runs(context):
    """The latest lost run of each job within the last day."""
    return recent_lost_runs(context["request"].user)
