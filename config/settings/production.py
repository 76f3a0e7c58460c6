"""Production: PostgreSQL, Redis, gunicorn. Everything comes from the environment; the secret key,
the database and the broker have no defaults here."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
# No demo data (fake people with known passwords) in production: seed_demo refuses.
EXITDESK_DEMO_ALLOWED = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
# Shared by every web process (the API's failure counts, the HR import's previews): Redis.
CACHES = {"default": env.cache("CACHE_URL")}
EXITDESK_MASTER_KEYS = env.list("EXITDESK_MASTER_KEYS")
EXITDESK_AUDIT_KEYS = env.list("EXITDESK_AUDIT_KEYS")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Behind the TLS-terminating proxy: login throttling by address needs the client's, not the proxy's.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
