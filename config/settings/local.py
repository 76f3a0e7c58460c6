"""Development on one machine: SQLite and the embedded broker, unless the environment says
otherwise."""

from .base import *  # noqa: F403
from .base import EMAIL_CONFIGURED, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# Serve static files from the apps directly; no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# A fixed development master key when the environment gives none: data sealed with it is only as
# secret as this file. Production requires EXITDESK_MASTER_KEYS (config/settings/production.py).
DEVELOPMENT_MASTER_KEY = "Luswnqr081nGIe-Z2TSmSUZ_5s9yJ5zR_Q6yGYRGGl0="
EXITDESK_MASTER_KEYS = EXITDESK_MASTER_KEYS or [DEVELOPMENT_MASTER_KEY]  # noqa: F405
# Likewise the audit chain's key: an audit trail keyed with it proves nothing against whoever reads
# this file. Production requires EXITDESK_AUDIT_KEYS.
DEVELOPMENT_AUDIT_KEY = "dev:6Yq2c3mVt9pXh0sLr4uWb8nKe1fGj5dA7zQiTo2yMxU"
EXITDESK_AUDIT_KEYS = EXITDESK_AUDIT_KEYS or [DEVELOPMENT_AUDIT_KEY]  # noqa: F405

# Mail is printed where `make run` runs (invitations, password links) unless the environment names
# a server (EMAIL_URL or the EMAIL_* variables).
if not EMAIL_CONFIGURED:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# `manage.py seed_demo` may write demo data under these settings (never under production's).
EXITDESK_DEMO_ALLOWED = True
