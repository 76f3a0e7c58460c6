"""Which kind of Exitdesk process this is: web, worker, beat or manage.

`EXITDESK_PROCESS` says it (the systemd units and `config/gunicorn.py` set it); without it the
kind is guessed from the command line: gunicorn → web, `celery … worker` → worker, `celery … beat`
→ beat, `manage.py …` → manage; anything else (a test run, a Python shell) is "other".

The kind names the process's PostgreSQL connections (`application_name` "exitdesk-web", …), so
that web, worker and beat are told apart in `pg_stat_activity`.
"""

import os
import sys
from collections.abc import Sequence

from django.core.exceptions import ImproperlyConfigured

KINDS = ("web", "worker", "beat", "manage")
OTHER = "other"


def guess_kind(argv: Sequence[str]) -> str:
    """The kind of process started with the command line `argv` (sys.argv)."""
    if not argv:
        return OTHER
    program = argv[0].replace("\\", "/")
    name = program.rsplit("/", 1)[-1]
    # `python -m gunicorn` / `python -m celery` run the package's __main__.py.
    if name == "__main__.py":
        name = program.rsplit("/", 2)[-2] if program.count("/") else name
    if name.startswith("gunicorn"):
        return "web"
    if name.startswith("celery"):
        for word in argv[1:]:
            if word in ("worker", "beat"):
                return word
        return OTHER
    if name == "manage.py" or name == "django-admin":
        return "manage"
    return OTHER


def process_kind(environ=None, argv: Sequence[str] | None = None) -> str:
    """`EXITDESK_PROCESS` if set (one of KINDS), else the kind guessed from the command line."""
    environ = os.environ if environ is None else environ
    given = environ.get("EXITDESK_PROCESS", "").strip()
    if given:
        if given not in KINDS:
            raise ImproperlyConfigured(
                f"EXITDESK_PROCESS is {given!r}; it must be one of {', '.join(KINDS)}."
            )
        return given
    return guess_kind(sys.argv if argv is None else argv)


def name_connections(databases: dict, kind: str) -> None:
    """Give every PostgreSQL connection of `databases` (the DATABASES setting) the
    application_name "exitdesk-<kind>", keeping the OPTIONS already there."""
    for settings_dict in databases.values():
        if "postgresql" in settings_dict.get("ENGINE", ""):
            settings_dict.setdefault("OPTIONS", {})["application_name"] = f"exitdesk-{kind}"
