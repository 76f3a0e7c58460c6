"""Web, worker and beat are told apart in PostgreSQL's pg_stat_activity by their
application_name (config/process.py)."""

import json
import os
import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from config.process import guess_kind, name_connections, process_kind


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["/srv/exitdesk/.venv/bin/gunicorn", "-c", "config/gunicorn.py", "config.wsgi"], "web"),
        (["/usr/lib/python3/site-packages/gunicorn/__main__.py", "config.wsgi"], "web"),
        (["/srv/exitdesk/.venv/bin/celery", "-A", "config", "worker", "-l", "info"], "worker"),
        (["celery", "-A", "config", "beat", "--loglevel=info"], "beat"),
        (["/usr/lib/python3/site-packages/celery/__main__.py", "-A", "config", "beat"], "beat"),
        (["celery", "-A", "config", "inspect", "ping"], "other"),
        (["manage.py", "migrate", "--noinput"], "manage"),
        (["/srv/exitdesk/manage.py", "runserver"], "manage"),
        (["/srv/exitdesk/.venv/bin/pytest", "tests"], "other"),
        ([], "other"),
    ],
)
def test_the_kind_is_guessed_from_the_command_line(argv, kind):
    assert guess_kind(argv) == kind


def test_exitdesk_process_says_which_kind_whatever_the_command_line():
    assert process_kind({"EXITDESK_PROCESS": "beat"}, ["gunicorn", "config.wsgi"]) == "beat"
    assert process_kind({}, ["gunicorn", "config.wsgi"]) == "web"


def test_an_unknown_exitdesk_process_is_refused():
    with pytest.raises(ImproperlyConfigured, match="EXITDESK_PROCESS"):
        process_kind({"EXITDESK_PROCESS": "webserver"}, [])


def test_postgresql_connections_are_named_and_keep_their_options():
    databases = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "OPTIONS": {"options": "-c synchronous_commit=off"},
        },
        "other": {"ENGINE": "django.db.backends.sqlite3"},
    }

    name_connections(databases, "worker")

    assert databases["default"]["OPTIONS"] == {
        "options": "-c synchronous_commit=off",
        "application_name": "exitdesk-worker",
    }
    assert "OPTIONS" not in databases["other"]


def test_the_connection_carries_the_process_kind_in_pg_stat_activity(postgresql):
    with connection.cursor() as cursor:
        cursor.execute("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        [name] = cursor.fetchone()

    assert name == f"exitdesk-{settings.EXITDESK_PROCESS}"
    # The test settings' own option is still applied beside it.
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "off"


def production_databases(**more) -> dict:
    """The DATABASES the production settings make from the environment (nothing connects)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DATABASE_URL": "postgres://exitdesk:secret@db.internal:5432/exitdesk",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "CACHE_URL": "redis://127.0.0.1:6379/1",
        "EXITDESK_MASTER_KEYS": Fernet.generate_key().decode(),
        "EXITDESK_AUDIT_KEYS": f"k1:{secrets.token_urlsafe(32)}",
        "DJANGO_ALLOWED_HOSTS": "exitdesk.example.cn",
        "EMAIL_URL": "smtp+tls://exitdesk:secret@smtp.example.cn:587",
        "DEFAULT_FROM_EMAIL": "Exitdesk <exitdesk@example.cn>",
        "EXITDESK_SITE_URL": "https://exitdesk.example.cn",
        **more,
    }
    if "METRICS_TOKEN" not in more:
        env.pop("METRICS_TOKEN", None)
    script = (
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'], default=str))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_names_its_connections_by_process_kind():
    database = production_databases(EXITDESK_PROCESS="worker")

    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["OPTIONS"]["application_name"] == "exitdesk-worker"


def test_production_with_metrics_counts_queries():
    database = production_databases(EXITDESK_PROCESS="web", METRICS_TOKEN="t0ken")

    assert database["ENGINE"] == "django_prometheus.db.backends.postgresql"
    assert database["OPTIONS"]["application_name"] == "exitdesk-web"
