"""The production settings (config/settings/production.py): the host names are required, a
dropped database connection costs no 500, `migrate` runs as the database owner while everything
else runs as the application's user, and the grants the README gives that user work."""

import runpy
import secrets
import sys
from io import BytesIO
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection

from tests import factories
from tests.conftest import skip_or_fail

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DATABASE_URL": "postgres://exitdesk_app:app-secret@db.internal:5432/exitdesk",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
    "EXITDESK_MASTER_KEYS": Fernet.generate_key().decode(),
    "EXITDESK_AUDIT_KEYS": f"k1:{secrets.token_urlsafe(32)}",
    "DJANGO_ALLOWED_HOSTS": "exitdesk.example.cn",
    "EMAIL_URL": "smtp+tls://exitdesk:secret@smtp.example.cn:587",
    "DEFAULT_FROM_EMAIL": "Exitdesk <exitdesk@example.cn>",
    "EXITDESK_SITE_URL": "https://exitdesk.example.cn",
}
MIGRATE_URL = "postgres://exitdesk_owner:owner-secret@db.internal:5432/exitdesk"


def production_settings(monkeypatch, argv=("manage.py", "check"), **env) -> dict:
    """The production settings module's names, read under `env` and the command line `argv`."""
    for name in ("DJANGO_ALLOWED_HOSTS", "DATABASE_MIGRATE_URL", "DJANGO_SECURE_SSL_REDIRECT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**PRODUCTION_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", list(argv))
    # base.py is read again under this environment too; the test run's own is put back after.
    monkeypatch.delitem(sys.modules, "config.settings.base")
    return runpy.run_module("config.settings.production")


# --- DJANGO_ALLOWED_HOSTS ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", " ", " , "])
def test_production_refuses_to_start_without_allowed_hosts(monkeypatch, value):
    with pytest.raises(ImproperlyConfigured, match="Set DJANGO_ALLOWED_HOSTS"):
        production_settings(monkeypatch, DJANGO_ALLOWED_HOSTS=value)


def test_production_refuses_to_start_when_allowed_hosts_is_unset(monkeypatch):
    production_settings(monkeypatch)  # with it, it starts
    monkeypatch.delitem(PRODUCTION_ENV, "DJANGO_ALLOWED_HOSTS")

    with pytest.raises(ImproperlyConfigured, match="localhost included"):
        production_settings(monkeypatch)


def test_production_answers_only_the_hosts_it_is_given(monkeypatch):
    names = production_settings(
        monkeypatch, DJANGO_ALLOWED_HOSTS="exitdesk.example.cn, hr.example.cn"
    )

    assert names["ALLOWED_HOSTS"] == ["exitdesk.example.cn", "hr.example.cn"]


# --- W008: the proxy's redirect ----------------------------------------------------------------


def test_the_redirect_check_is_silenced_only_when_the_proxy_redirects(monkeypatch):
    django_redirects = production_settings(monkeypatch)
    proxy_redirects = production_settings(monkeypatch, DJANGO_SECURE_SSL_REDIRECT="0")

    assert django_redirects["SECURE_SSL_REDIRECT"] is True
    assert django_redirects["SILENCED_SYSTEM_CHECKS"] == []
    assert proxy_redirects["SECURE_SSL_REDIRECT"] is False
    assert proxy_redirects["SILENCED_SYSTEM_CHECKS"] == ["security.W008"]


# --- DATABASE_MIGRATE_URL --------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [("manage.py", "migrate", "--noinput"), ("/usr/local/bin/django-admin", "migrate")],
)
def test_migrate_connects_as_the_owner_when_a_migrate_url_is_set(monkeypatch, argv):
    names = production_settings(monkeypatch, argv=argv, DATABASE_MIGRATE_URL=MIGRATE_URL)

    database = names["DATABASES"]["default"]
    assert (database["USER"], database["PASSWORD"]) == ("exitdesk_owner", "owner-secret")
    assert database["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize(
    "argv",
    [
        ("manage.py", "check", "--deploy"),
        ("manage.py", "showmigrations"),
        ("manage.py", "bootstrap_enterprise"),
        ("/srv/exitdesk/.venv/bin/gunicorn", "-c", "config/gunicorn.py", "config.wsgi"),
        ("/srv/exitdesk/.venv/bin/celery", "-A", "config", "worker"),
        ("/srv/exitdesk/.venv/bin/celery", "-A", "config", "beat"),
    ],
)
def test_every_other_process_connects_as_the_application_user(monkeypatch, argv):
    names = production_settings(monkeypatch, argv=argv, DATABASE_MIGRATE_URL=MIGRATE_URL)

    database = names["DATABASES"]["default"]
    assert (database["USER"], database["PASSWORD"]) == ("exitdesk_app", "app-secret")


def test_without_a_migrate_url_migrate_uses_the_database_url(monkeypatch):
    names = production_settings(monkeypatch, argv=("manage.py", "migrate"))

    assert names["DATABASES"]["default"]["USER"] == "exitdesk_app"


# --- A dropped connection --------------------------------------------------------------------


def wsgi_get(handler, path, cookies: str) -> int:
    """One request through Django's WSGI handler, as gunicorn sends it: request_started and
    request_finished close or test the kept connection (the test client skips both)."""
    environ = {"PATH_INFO": path, "HTTP_HOST": "127.0.0.1", "HTTP_COOKIE": cookies}
    environ["wsgi.input"] = BytesIO()
    setup_testing_defaults(environ)
    statuses = []
    response = handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(response)
    response.close()  # request_finished
    return int(statuses[0].split()[0])


def second_connection_params() -> dict:
    """How to open a connection of our own to the test database, beside Django's."""
    params = connection.get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold", "server_side_binding"):
        params.pop(name, None)
    return params


def drop_the_connection_of(backend_pid: int) -> None:
    """What a database restart or failover does to a web process's kept connection."""
    with psycopg.connect(**second_connection_params(), autocommit=True) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [backend_pid]).fetchone()[0]


@pytest.fixture
def kept_connection(monkeypatch, transactional_db, client):
    """Django's connection configured as production configures it, and a logged-in session's
    cookie for a page that reads the database."""
    if connection.vendor != "postgresql":
        skip_or_fail("this test needs PostgreSQL (set DATABASE_URL)")
    production = production_settings(monkeypatch)["DATABASES"]["default"]
    hr = factories.StaffFactory(username="hr-on-call", enterprise__name="示例科技")
    client.force_login(hr)
    connection.close()

    def configure(*, health_checks: bool):
        connection.close()
        monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", production["CONN_MAX_AGE"])
        monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", health_checks)
        return (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )

    yield production, configure
    connection.close()


def test_a_dropped_database_connection_costs_no_500(kept_connection):
    production, configure = kept_connection
    assert production["CONN_HEALTH_CHECKS"] is True and production["CONN_MAX_AGE"] > 0
    cookies = configure(health_checks=production["CONN_HEALTH_CHECKS"])
    handler = WSGIHandler()
    assert wsgi_get(handler, "/admin/", cookies) == 200
    kept = connection.connection.info.backend_pid  # kept open between requests

    drop_the_connection_of(kept)

    assert wsgi_get(handler, "/admin/", cookies) == 200
    assert connection.connection.info.backend_pid != kept


def test_without_health_checks_the_request_after_a_drop_fails(kept_connection, caplog):
    # The same, with the checks off: what production answered before (so the test above can fail).
    production, configure = kept_connection
    cookies = configure(health_checks=False)
    handler = WSGIHandler()
    assert wsgi_get(handler, "/admin/", cookies) == 200

    drop_the_connection_of(connection.connection.info.backend_pid)

    assert wsgi_get(handler, "/admin/", cookies) == 500
    assert wsgi_get(handler, "/admin/", cookies) == 200  # the broken connection was then closed


# --- The database roles ----------------------------------------------------------------------

ROLES_SQL = Path(settings.BASE_DIR, "deploy", "postgresql-roles.sql")


def test_the_documented_grants_let_the_app_write_rows_but_not_truncate_or_drop(postgresql):
    """deploy/postgresql-roles.sql, run for a fresh owner and application role in a transaction
    that is rolled back (roles included): a table the owner creates later (as `migrate` does) is
    open to the application's user for rows, and closed to TRUNCATE and DROP."""
    suffix = secrets.token_hex(4)
    owner, app = f"exitdesk_owner_{suffix}", f"exitdesk_app_{suffix}"
    script = ROLES_SQL.read_text().replace("exitdesk_owner", owner).replace("exitdesk_app", app)
    params = second_connection_params()
    with psycopg.connect(**params) as admin:  # a transaction, rolled back at the end
        admin.execute(script)
        admin.execute(f"SET ROLE {owner}")
        admin.execute("CREATE TABLE grants_probe (id bigserial PRIMARY KEY, note text)")
        admin.execute(f"SET ROLE {app}")

        admin.execute("INSERT INTO grants_probe (note) VALUES ('written by the app')")
        admin.execute("UPDATE grants_probe SET note = 'changed by the app'")
        assert admin.execute("SELECT note FROM grants_probe").fetchall() == [
            ("changed by the app",)
        ]
        for statement in (
            "TRUNCATE grants_probe",
            "DROP TABLE grants_probe",
            "ALTER TABLE grants_probe DISABLE TRIGGER ALL",
            "CREATE TABLE grants_intruder (id int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), admin.transaction():
                admin.execute(statement)
        admin.execute("DELETE FROM grants_probe")
        admin.execute("RESET ROLE")
        admin.rollback()

    with psycopg.connect(**params, autocommit=True) as check:
        assert check.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s)", [owner, app]
        ).fetchone() == (0,)
