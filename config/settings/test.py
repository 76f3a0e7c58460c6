"""The test suite. DATABASE_URL / CELERY_BROKER_URL point it at PostgreSQL and Redis in CI."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Mail stays in memory (django.core.mail.outbox), whatever the environment says.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LANGUAGE_CODE = "en"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Serve static files from the apps directly; no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# On PostgreSQL: flush by DELETE rather than TRUNCATE between transactional tests (see the
# module), and commit without waiting for the disk — a test database lost in a crash is rebuilt
# by the next run anyway.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"]["ENGINE"] = "tests.postgresql_backend"  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"  # noqa: F405
# On SQLite: flush with the audit triggers lifted (see the module), as they refuse DELETE; the test
# database in memory, as for Django's own backend (pytest-django names it so only for that one).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["ENGINE"] = "tests.sqlite_backend"  # noqa: F405
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", ":memory:")  # noqa: F405
AXES_VERBOSE = False  # no banner and no "deleted 0 attempts" line in the test output

# A fixed development master key when the environment gives none: data sealed with it is only as
# secret as this file. Production requires EXITDESK_MASTER_KEYS (config/settings/production.py).
DEVELOPMENT_MASTER_KEY = "Luswnqr081nGIe-Z2TSmSUZ_5s9yJ5zR_Q6yGYRGGl0="
EXITDESK_MASTER_KEYS = EXITDESK_MASTER_KEYS or [DEVELOPMENT_MASTER_KEY]  # noqa: F405
# Likewise the audit chain's key: an audit trail keyed with it proves nothing against whoever reads
# this file. Production requires EXITDESK_AUDIT_KEYS.
DEVELOPMENT_AUDIT_KEY = "dev:6Yq2c3mVt9pXh0sLr4uWb8nKe1fGj5dA7zQiTo2yMxU"
EXITDESK_AUDIT_KEYS = EXITDESK_AUDIT_KEYS or [DEVELOPMENT_AUDIT_KEY]  # noqa: F405

# `manage.py seed_demo` may write demo data under these settings (never under production's).
EXITDESK_DEMO_ALLOWED = True

# A real OpenID Connect provider for the sign-in tests (tests/test_oidc_sign_in.py):
# django-oauth-toolkit, its URLs mounted by tests/oidc_urls.py only, its models kept out of the
# admin. Its signing key is generated when the tests start (tests/oidc_provider.py).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.oidc_provider.OAuth2ProviderTestConfig"]  # noqa: F405
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": "",  # set by tests/oidc_provider.py
    "PKCE_REQUIRED": True,
    "SCOPES": {"openid": "OpenID Connect", "profile": "Profile", "email": "E-mail"},
    "OAUTH2_VALIDATOR_CLASS": "tests.oidc_claims.ClaimsValidator",
}
