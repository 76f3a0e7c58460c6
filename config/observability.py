"""Optional error tracking (Sentry) and metrics (Prometheus), both off unless configured.

- `SENTRY_DSN` turns on sentry-sdk with its Django and Celery integrations: unhandled errors and
  ERROR log lines of every process are sent there, without personal data (`send_default_pii`
  off: no user names, addresses, cookies or request bodies). `SENTRY_ENVIRONMENT` (default
  "production") and `SENTRY_RELEASE` label them; `SENTRY_TRACES_SAMPLE_RATE` (default 0) sends
  that share of requests and tasks as performance traces.
- `METRICS_TOKEN` turns on django-prometheus: its middlewares count requests, answers and their
  time, its database wrappers count queries and errors, and `/metrics` answers a scrape that sends
  `Authorization: Bearer <token>` (401 without it, 403 with another; 404 while metrics are off).
"""

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse

PROMETHEUS_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}


def init_sentry(
    dsn: str,
    *,
    environment: str = "production",
    release: str | None = None,
    traces_sample_rate: float = 0.0,
    process_kind: str | None = None,
    transport=None,
) -> bool:
    """Start sentry-sdk when `dsn` is given; True if it was started."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    options = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        environment=environment,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        **options,
    )
    if process_kind:
        # On the global scope: every thread's and request's events carry it.
        sentry_sdk.get_global_scope().set_tag("process", process_kind)
    return True


def with_metrics(installed_apps: list, middleware: list) -> tuple[list, list]:
    """INSTALLED_APPS and MIDDLEWARE with django-prometheus's app and its two middlewares (the
    first and the last)."""
    return (
        [*installed_apps, "django_prometheus"],
        [
            "django_prometheus.middleware.PrometheusBeforeMiddleware",
            *middleware,
            "django_prometheus.middleware.PrometheusAfterMiddleware",
        ],
    )


def count_queries(databases: dict) -> None:
    """Swap Django's PostgreSQL and SQLite backends for django-prometheus's wrappers of them
    (which count queries); any other backend is left as it is."""
    for settings_dict in databases.values():
        engine = settings_dict.get("ENGINE", "")
        settings_dict["ENGINE"] = PROMETHEUS_ENGINES.get(engine, engine)


def metrics_view(request):
    """Prometheus's scrape, behind METRICS_TOKEN."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        response = HttpResponse("A bearer token is required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return HttpResponse("Wrong token.\n", status=403)
    from django_prometheus.exports import ExportToDjangoView

    return ExportToDjangoView(request)
