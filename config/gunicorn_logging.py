"""gunicorn's logs in the application's format (config/gunicorn.py sets `logger_class`).

- The access log: one line per request, with the time (ISO 8601, UTC), the client's address (and
  the `X-Forwarded-For` the proxy sent), the request, status, size, duration and the request id
  the application answered with (`X-Request-ID`, directory/request_log.py), so a request is found
  in both logs by that id. key=value text, or a JSON object per line with `LOG_FORMAT=json`.
- The health probes (/healthz, /readyz) are not written to the access log: a load balancer asks
  every few seconds. The application still logs a probe that fails (config/logging.py).
- gunicorn's own lines (gunicorn.error: workers started, timeouts) are rendered like the
  application's lines.
"""

import json
import logging
import os
from datetime import UTC, datetime

from gunicorn.glogging import Logger

from config import logging as exitdesk_logging

PROBE_PATHS = frozenset({"/healthz", "/readyz"})

# The key=value access line (LOG_FORMAT=console); `%({x-request-id}o)s` is the response's header.
ACCESS_LOG_FORMAT = (
    "%(t)s [info     ] [gunicorn.access] request client=%(h)s "
    'forwarded_for=%({x-forwarded-for}i)s request="%(r)s" status=%(s)s bytes=%(B)s '
    'duration_ms=%(M)s request_id=%({x-request-id}o)s referer="%(f)s" user_agent="%(a)s"'
)


def log_format() -> str:
    return os.environ.get("LOG_FORMAT", "console").strip().lower() or "console"


def is_probe(environ) -> bool:
    return (environ.get("PATH_INFO") or "").rstrip("/") in PROBE_PATHS


class AccessLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        formatter = exitdesk_logging.stdlib_formatter(log_format())
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter)

    def now(self):
        """The access line's time, as the application's lines give it."""
        return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")

    def access(self, resp, req, environ, request_time):
        if is_probe(environ) or not self.access_log_enabled:
            return
        if log_format() != "json":
            super().access(resp, req, environ, request_time)
            return
        atoms = self.atoms(resp, req, environ, request_time)
        line = {
            "timestamp": atoms["t"],
            "level": "info",
            "logger": "gunicorn.access",
            "event": "request",
            "client": atoms["h"],
            "forwarded_for": atoms.get("{x-forwarded-for}i"),
            "method": atoms["m"],
            "path": atoms["U"],
            "query": atoms["q"] or None,
            "protocol": atoms["H"],
            "status": int(str(atoms["s"])[:3]) if str(atoms["s"])[:3].isdigit() else atoms["s"],
            "bytes": atoms["B"],
            "duration_ms": atoms["M"],
            "request_id": atoms.get("{x-request-id}o"),
            "referer": atoms["f"] if atoms["f"] != "-" else None,
            "user_agent": atoms["a"] if atoms["a"] != "-" else None,
        }
        try:
            self.access_log.log(logging.INFO, json.dumps(line, ensure_ascii=False))
        except Exception:
            self.exception("Could not write the access log line")
