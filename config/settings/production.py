"""Production: PostgreSQL, Redis, gunicorn. Everything comes from the environment; the secret key,
the database and the broker have no defaults here."""

from django.core.exceptions import ImproperlyConfigured

from config import observability
from config.process import name_connections

from .base import *  # noqa: F403
from .base import EMAIL_CONFIGURED, EXITDESK_PROCESS, METRICS_TOKEN, env

DEBUG = False
# No demo data (fake people with known passwords) in production: seed_demo refuses.
EXITDESK_DEMO_ALLOWED = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
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
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
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
