"""The one logging configuration of every Exitdesk process (web, worker, beat, manage.py).

structlog renders every line, ours (`structlog.get_logger`, django-structlog's request and task
lines) and everyone else's (`logging.getLogger(__name__)` in our code, Django, Celery, axes) alike:
the standard library's records pass through structlog's `ProcessorFormatter` and its
`foreign_pre_chain`. Each line carries:

- `timestamp` (ISO 8601, UTC), `level`, `logger`, `event` (the message);
- in a web request: `request_id` (the `X-Request-ID` the request came with when it is a sane
  token, else a new one; sent back in the response's `X-Request-ID`), `ip`, `user_id` and, for a
  member, `enterprise_id` (directory/request_log.py);
- in a Celery task: `task`, `task_id`, the `request_id` of the request that sent it, and
  `job_run_id` inside a job run (directory/jobs.py);
- anything bound with `structlog.contextvars.bind_contextvars`.

`LOG_FORMAT=json` writes one JSON object per line; otherwise lines are key=value text
(structlog's console renderer without colours). `LOG_LEVEL` sets the root level (INFO).
"""

import logging

import structlog

FORMATS = ("console", "json")

# Requests answered at these paths (the health probes, the metrics scrape) are not logged at INFO:
# a load balancer asks every few seconds. A 4xx or 5xx answer is still logged (WARNING, ERROR).
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _timestamper():
    return structlog.processors.TimeStamper(fmt="iso", utc=True)


def _shared_processors() -> list:
    """What every line gets, whether structlog's or the standard library's."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        _timestamper(),
    ]


def renderer(log_format: str):
    if log_format == "json":
        return structlog.processors.JSONRenderer(sort_keys=False, ensure_ascii=False)
    # "2026-12-05T01:02:03.456789Z [info     ] [logger] message key=value key=value"
    console = structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0, sort_keys=True)
    first = ("timestamp", "level", "logger", "logger_name", "event")
    columns = console.columns
    console.columns = [c for key in first for c in columns if c.key == key] + [
        c for c in columns if c.key not in first
    ]
    return console


def formatter_processors(log_format: str) -> list:
    processors = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if log_format == "json":
        # A traceback as a string field of the JSON object, not as lines beside it (and without
        # the frames' local variables, which may hold a password).
        processors.append(structlog.processors.format_exc_info)
    processors.append(renderer(log_format))
    return processors


def configure_structlog() -> None:
    """structlog's own loggers hand their event to the standard library's handlers, which render
    it (see `logging_dict`)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class QuietPathsFilter(logging.Filter):
    """Drops django-structlog's INFO-and-below lines about a request to one of QUIET_PATHS."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or not isinstance(record.msg, dict):
            return True
        request = record.msg.get("request")
        if not isinstance(request, str):
            return True
        path = request.partition(" ")[2].partition("?")[0]
        return path.rstrip("/") not in QUIET_PATHS


def logging_dict(*, log_format: str = "console", level: str = "INFO") -> dict:
    """The LOGGING setting."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"quiet_paths": {"()": QuietPathsFilter}},
        "formatters": {
            "structured": {"()": stdlib_formatter, "log_format": log_format},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structured"},
        },
        "root": {"handlers": ["console"], "level": level.upper()},
        "loggers": {
            # One line per request (request_finished); request_started is at DEBUG.
            "django_structlog.middlewares.request": {"filters": ["quiet_paths"]},
            # django-axes writes several INFO and WARNING lines per login; we write one per
            # failed login (directory.security.log_failed_login) and none for a success.
            "axes": {"level": "ERROR"},
            # Django's "Not Found" and "Forbidden" lines come after the request's own
            # request_finished line (WARNING for a 4xx), without its request id: errors only.
            "django.request": {"level": "ERROR"},
            # django-health-check logs every failed check of every probe with its traceback;
            # /readyz logs each change of its verdict once instead (directory/health.py).
            "health_check": {"level": "ERROR"},
        },
    }


def stdlib_formatter(log_format: str) -> logging.Formatter:
    """A formatter that renders standard library records as the LOGGING setting does (for
    handlers set up outside it: gunicorn's own)."""
    return structlog.stdlib.ProcessorFormatter(
        processors=formatter_processors(log_format), foreign_pre_chain=_shared_processors()
    )
