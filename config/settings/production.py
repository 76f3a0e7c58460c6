"""Production: PostgreSQL, Redis, gunicorn. Everything comes from the environment; the secret key,
the database and the broker have no defaults here."""

import sys

from django.core.exceptions import ImproperlyConfigured

from config import observability
from config.process import name_connections

from .base import *  # noqa: F403
from .base import EMAIL_CONFIGURED, EXITDESK_PROCESS, METRICS_TOKEN, env

DEBUG = False
# No demo data (fake people with known passwords) in production: seed_demo refuses.
EXITDESK_DEMO_ALLOWED = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
# The host names people open Exitdesk at: no default here, a request for any other host is refused.
ALLOWED_HOSTS = [
    host.strip() for host in env.list("DJANGO_ALLOWED_HOSTS", default=[]) if host.strip()
]
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "Set DJANGO_ALLOWED_HOSTS to the host names people open Exitdesk at, comma-separated "
        "(e.g. exitdesk.example.cn): production answers no other host, localhost included."
    )

# The commands that change the schema: run as the database owner (DATABASE_MIGRATE_URL) when it
# is set. Every other process — web, workers, beat, the other commands — connects as the
# application's user (DATABASE_URL), who may read and write rows but owns no table, so it can
# neither drop the audit triggers nor TRUNCATE (README "Database roles"). Read from the command
# line (`manage.py migrate`, `django-admin migrate`): call_command("migrate") does not switch.
SCHEMA_COMMANDS = {"migrate"}
RUNNING_SCHEMA_COMMAND = len(sys.argv) > 1 and sys.argv[1] in SCHEMA_COMMANDS
_migrate_url = env("DATABASE_MIGRATE_URL", default="")  # not a setting: it holds a password
DATABASES = {
    "default": env.db_url_config(
        _migrate_url if RUNNING_SCHEMA_COMMAND and _migrate_url else env("DATABASE_URL")
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
# A kept connection is tested before a request uses it: after a database restart or failover the
# first request of each web process reconnects instead of answering 500.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
name_connections(DATABASES, EXITDESK_PROCESS)  # "exitdesk-web", … in pg_stat_activity
if METRICS_TOKEN:
    observability.count_queries(DATABASES)
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
# Shared by every web process (the API's failure counts, the HR import's previews): Redis.
CACHES = {"default": env.cache("CACHE_URL")}
EXITDESK_MASTER_KEYS = env.list("EXITDESK_MASTER_KEYS")
EXITDESK_AUDIT_KEYS = env.list("EXITDESK_AUDIT_KEYS")
# Members get their invitations and password links by mail: the server must be named, and the
# sender too. EMAIL_URL=dummymail:// turns mail off explicitly: every send then says "not sent:
# mail is turned off" to whoever asked (directory/mail.py).
if not EMAIL_CONFIGURED:
    raise ImproperlyConfigured(
        "Set EMAIL_URL (e.g. smtp+tls://user:password@smtp.example.cn:587) or EMAIL_HOST and "
        "the other EMAIL_* variables: members' invitations and password links are sent by mail."
    )
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL")
# The links in notifications lead here: the address people open Exitdesk at, never guessed.
EXITDESK_SITE_URL = env("EXITDESK_SITE_URL").rstrip("/")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Django redirects HTTP to HTTPS itself, unless DJANGO_SECURE_SSL_REDIRECT=0 says that the proxy
# does (deploy/nginx/exitdesk.conf answers port 80 with a redirect): then `check --deploy` is told
# not to warn about it (security.W008), and only then.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SILENCED_SYSTEM_CHECKS = [] if SECURE_SSL_REDIRECT else ["security.W008"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
# The callback addresses django-allauth gives the sign-in providers are HTTPS ones (Feishu's
# would otherwise say http:// whatever the request's scheme).
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Behind the TLS-terminating proxy: login throttling by address needs the client's, not the proxy's.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
