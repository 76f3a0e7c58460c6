"""The probes: `/healthz` (the process is alive) and `/readyz` (everything it needs answers).

- `/healthz`: 200 "ok", without touching the database or anything else.
- `/readyz`: the checks of settings.READINESS_CHECKS (django-health-check's `HealthCheck` classes:
  its Database and Cache, and ours below: migrations applied, the broker, the master keys, beat's
  and the workers' heartbeats). 200 when every one passes, else 503. The answer names each check
  and whether it passed — plain text, or JSON when asked (`Accept: application/json` or
  `?format=json`) — and nothing else: no host, no error text, nothing about an enterprise. What
  failed and why is added only for a request carrying `Authorization: Bearer <HEALTH_CHECK_TOKEN>`
  (when that setting is set), and always by `manage.py health_check readyz --no-http` on the server.

`ProbeMiddleware`, first in MIDDLEWARE, answers both paths itself: before the host check (a load
balancer probes with its own address as Host), the HTTPS redirect, sessions, the language. Django
logs nothing for them (not even a 503); a change of /readyz's verdict is logged once by this
process, at WARNING when it fails and INFO when it passes again.
"""

import asyncio
import dataclasses
import json
import logging
import secrets
import typing

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, HttpResponseNotAllowed
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.views import HealthCheckView

from . import heartbeats

logger = logging.getLogger(__name__)

PROBE_PATHS = ("/healthz", "/readyz")


# -- our checks -----------------------------------------------------------------------------------
# Each runs in the request's thread (sync_to_async, thread-sensitive): the database checks use the
# request's connection, and no thread is left holding one.


@dataclasses.dataclass
class Migrations(HealthCheck):
    """Every migration of this code is applied to the database."""

    alias: str = DEFAULT_DB_ALIAS

    async def run(self):
        await sync_to_async(self._run)()

    def _run(self):
        executor = MigrationExecutor(connections[self.alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            raise ServiceUnavailable(f"{len(plan)} migration(s) not applied: run migrate")


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker (CELERY_BROKER_URL) takes a connection."""

    connect_timeout: float = dataclasses.field(default=2.0, repr=False)

    def run(self):
        from config.celery import app

        try:
            with app.connection_for_write(settings.CELERY_BROKER_URL) as connection:
                connection.ensure_connection(max_retries=0, timeout=self.connect_timeout)
        except Exception as error:  # kombu raises its own, the transport's or OSError
            raise ServiceUnavailable(
                f"the broker does not take a connection ({type(error).__name__})"
            ) from error


@dataclasses.dataclass
class MasterKeys(HealthCheck):
    """EXITDESK_MASTER_KEYS is valid and unwraps the stored data keys (compliance.crypto)."""

    async def run(self):
        from compliance import crypto

        problem = await sync_to_async(crypto.master_key_problem)()
        if problem:
            raise ServiceUnavailable(problem)


@dataclasses.dataclass
class _Heartbeat(HealthCheck):
    kind: typing.ClassVar[str]
    setting: typing.ClassVar[str]

    async def run(self):
        seen = await sync_to_async(heartbeats.latest)(self.kind)
        if seen is None:
            raise ServiceUnavailable(f"no {self.kind} has ever been seen")
        age = (timezone.now() - seen).total_seconds()
        if age > getattr(settings, self.setting):
            raise ServiceUnavailable(f"{self.kind} not seen for {age:.0f} s")


@dataclasses.dataclass
class Beat(_Heartbeat):
    """The beat process ticked within READINESS_BEAT_MAX_AGE seconds."""

    kind: typing.ClassVar[str] = "beat"
    setting: typing.ClassVar[str] = "READINESS_BEAT_MAX_AGE"


@dataclasses.dataclass
class Worker(_Heartbeat):
    """At least one worker was seen within READINESS_WORKER_MAX_AGE seconds."""

    kind: typing.ClassVar[str] = "worker"
    setting: typing.ClassVar[str] = "READINESS_WORKER_MAX_AGE"


# -- the views ------------------------------------------------------------------------------------


def healthz(request):
    """The process is alive: it answers. Nothing else is looked at."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return HttpResponse("ok\n", content_type="text/plain; charset=utf-8")


def check_name(check: HealthCheck) -> str:
    return type(check).__name__


class ReadinessView(HealthCheckView):
    """`/readyz`: django-health-check's view, with the checks of settings.READINESS_CHECKS and our
    answer (503 on failure; details only for the token)."""

    http_method_names = ["get", "head"]
    _last_failing: typing.ClassVar[tuple[str, ...] | None] = None

    @property
    def checks(self):
        return settings.READINESS_CHECKS

    async def get(self, request, *args, **kwargs):
        with self.get_executor() as executor:
            self.results = await asyncio.gather(
                *(check.get_result(executor) for check in self.get_checks())
            )
        failing = tuple(
            check_name(r.check) for r in self.results if r.error and not _only_warns(r.error)
        )
        self._log_change(failing)
        return self.answer(request, failing)

    def answer(self, request, failing) -> HttpResponse:
        details = self.may_see_details(request)
        checks = {}
        for result in self.results:
            if result.error is None:
                checks[check_name(result.check)] = "ok"
            elif _only_warns(result.error):
                # A warning (an overdue job): said, but the process is ready all the same.
                checks[check_name(result.check)] = (
                    f"warning: {result.error.message}" if details else "warning"
                )
            else:
                checks[check_name(result.check)] = (
                    f"failed: {result.error.message}" if details else "failed"
                )
        warned = any(r.error and _only_warns(r.error) for r in self.results)
        status = "unavailable" if failing else "warning" if warned else "ok"
        accept = request.headers.get("Accept", "")
        if request.GET.get("format") == "json" or "application/json" in accept:
            body = json.dumps({"status": status, "checks": checks}, indent=2) + "\n"
            content_type = "application/json"
        else:
            body = f"{status}\n" + "".join(f"{name}: {state}\n" for name, state in checks.items())
            content_type = "text/plain; charset=utf-8"
        return HttpResponse(body, content_type=content_type, status=503 if failing else 200)

    @staticmethod
    def may_see_details(request) -> bool:
        token = settings.HEALTH_CHECK_TOKEN
        given = request.headers.get("Authorization", "")
        return bool(token) and secrets.compare_digest(given.encode(), f"Bearer {token}".encode())

    @classmethod
    def _log_change(cls, failing: tuple[str, ...]) -> None:
        if failing == cls._last_failing:
            return
        if failing:
            logger.warning("Not ready: %s failed", ", ".join(failing))
        elif cls._last_failing is not None:
            logger.info("Ready again")
        cls._last_failing = failing


def _only_warns(error) -> bool:
    return isinstance(error, ServiceWarning)


_readyz = ReadinessView.as_view()


def readyz(request):
    """ReadinessView, called from sync code (the middleware)."""
    return async_to_sync(_readyz)(request)


class ProbeMiddleware:
    """Answers /healthz and /readyz before any other middleware (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/healthz":
            response = healthz(request)
        elif request.path_info == "/readyz":
            response = readyz(request)
        else:
            return self.get_response(request)
        add_never_cache_headers(response)
        response._has_been_logged = True  # Django's "Service Unavailable: /readyz": not for probes
        return response
