"""The overdue-jobs check of the readiness endpoint (django-health-check): a scheduled job that has
not succeeded within its expected interval (directory.jobs.overdue_jobs) makes the check report a
warning naming it; the admin home says the same in the reader's language."""

import dataclasses
import datetime

from asgiref.sync import sync_to_async
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning

from .jobs import overdue_jobs


@dataclasses.dataclass
class OverdueJobsCheck(HealthCheck):
    """Every enabled scheduled job has succeeded within its expected interval."""

    timeout = datetime.timedelta(seconds=5)

    async def run(self) -> None:
        # In the request's thread, on its connection, like the other checks (directory/health.py).
        try:
            overdue = await sync_to_async(overdue_jobs)(timezone.now())
        except Exception as error:
            raise ServiceUnavailable("the job runs could not be read") from error
        if overdue:
            raise ServiceWarning("; ".join(_sentence(job) for job in overdue))


def _sentence(job) -> str:
    since = job.last_succeeded.isoformat(timespec="seconds") if job.last_succeeded else "never"
    return (
        f"{job.job} has not succeeded since {since}; "
        f"expected every {int(job.expected.total_seconds())}s"
    )
