"""gunicorn's configuration: `gunicorn -c config/gunicorn.py config.wsgi`.

Environment variables:

GUNICORN_BIND     where to listen (default 127.0.0.1:8000; a unix socket: unix:/run/exitdesk/
                  gunicorn.sock). Behind a proxy on the same machine: never 0.0.0.0, or a client
                  reaching gunicorn directly could send its own X-Forwarded-For and
                  X-Forwarded-Proto.
GUNICORN_WORKERS  worker processes (default 2 × the CPUs this process may use + 1, at most 12)
GUNICORN_TIMEOUT  seconds a request may take before its worker is restarted (default 30)
LOG_FORMAT        json: the access log (and gunicorn's own lines) as one JSON object per line
LOG_LEVEL         gunicorn's own log level (default INFO)
FORWARDED_ALLOW_IPS  gunicorn's own variable: the proxies whose X-Forwarded-Proto it believes
                  (default 127.0.0.1,::1, loopback only; list the proxy's address when it runs on
                  another machine, never "*")

The access log is on, written to standard output (gunicorn's own lines to standard error): one line
per request with the client's address and the request id (config/gunicorn_logging.py); the health
probes are left out. gunicorn's control socket (for `gunicornc`) is put in systemd's
RuntimeDirectory ($RUNTIME_DIRECTORY/gunicorn.ctl) or, without one, in the system's temporary
folder as exitdesk-gunicorn-<master pid>.ctl — never under $HOME.
"""

import os
import sys
import tempfile
from pathlib import Path

# The project's modules (the logger class below) whatever folder gunicorn was started from.
_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)

from config.gunicorn_logging import ACCESS_LOG_FORMAT, AccessLogger  # noqa: E402

# The processes gunicorn starts are the web (config/process.py: application_name "exitdesk-web").
os.environ.setdefault("EXITDESK_PROCESS", "web")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


MAX_WORKERS = 12

bind = [os.environ.get("GUNICORN_BIND", "").strip() or "127.0.0.1:8000"]
workers = int(os.environ.get("GUNICORN_WORKERS", "0") or 0) or min(2 * _cpus() + 1, MAX_WORKERS)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30") or 30)

# Logs: the access log on, to standard output; gunicorn's own lines to standard error.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").strip().lower() or "info"
logger_class = AccessLogger
access_log_format = ACCESS_LOG_FORMAT

# The control socket: in the runtime directory systemd made for the service (RuntimeDirectory=;
# several are separated by ":", the first is used), else in the temporary folder, named after the
# master's pid so that two instances never share one.
_runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
if _runtime:
    control_socket = os.path.join(_runtime, "gunicorn.ctl")
else:
    control_socket = os.path.join(tempfile.gettempdir(), f"exitdesk-gunicorn-{os.getpid()}.ctl")

# forwarded_allow_ips is left at gunicorn's default, FORWARDED_ALLOW_IPS or loopback only: the
# X-Forwarded-Proto of anyone else is ignored (see the module docstring).


def child_exit(server, worker):
    """With PROMETHEUS_MULTIPROC_DIR (metrics of every worker in one scrape), a worker that exits
    leaves its gauges out of the sum."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
