"""Settings shared by every environment. Everything that differs between machines is read from the
environment (django-environ); local.py, test.py and production.py only override.

Environment variables (all optional except where production.py says otherwise):

DJANGO_SECRET_KEY      secret key (production: required)
DJANGO_DEBUG           "1" for debug pages
DJANGO_ALLOWED_HOSTS   comma-separated host names (production: required)
DATABASE_URL           e.g. postgres://user:pass@host:5432/exitdesk (default: SQLite under var/)
DATABASE_MIGRATE_URL   production: the database owner's URL, for `manage.py migrate` only
CELERY_BROKER_URL      e.g. redis://127.0.0.1:6379/0 (default: embedded broker under var/)
CELERY_RESULT_BACKEND  optional; results are not needed by Exitdesk's jobs
STATIC_ROOT            the folder collectstatic fills and whitenoise serves (default staticfiles/)
TIME_ZONE              server time zone (default UTC; enterprises carry their own; logs are UTC)
LOG_LEVEL              the root log level (default INFO)
LOG_FORMAT             "console" (key=value lines, the default) or "json": config/logging.py
EXITDESK_PROCESS       web, worker, beat or manage (default: guessed from the command line):
                       config/process.py; names the PostgreSQL connections
SENTRY_DSN             turns on error tracking (sentry-sdk; off by default), with
                       SENTRY_ENVIRONMENT, SENTRY_RELEASE, SENTRY_TRACES_SAMPLE_RATE
METRICS_TOKEN          turns on Prometheus metrics at /metrics, behind this bearer token
CELERY_VISIBILITY_TIMEOUT  seconds before Redis redelivers a task a killed worker never
                       acknowledged (default 900); must exceed the longest single task
EXITDESK_CHUNK_RESEND_SECONDS  seconds before a retention chunk sent but not done is sent again
                       (default 900)
AXES_FAILURE_LIMIT     wrong passwords in a row before a login or re-entry is refused (default 5)
AXES_COOLOFF_MINUTES   minutes a locked-out user or address waits after the last try (default 30)
TRUSTED_PROXY_COUNT    proxies in front of Django that append to X-Forwarded-For (default 0)
STAFF_SESSION_IDLE_MINUTES  minutes without a request before a staff session ends (default 30)
CACHE_URL              Django's cache, e.g. redis://127.0.0.1:6379/1 (default: in-process memory;
                       production: required, shared by every web process)
API_TOKEN_FAILURE_LIMIT  wrong API tokens from one address before it is refused (default 10)
API_TOKEN_FAILURE_WINDOW_MINUTES  the window those are counted in, and the refusal's length (15)
HR_IMPORT_MAX_UPLOAD_KB  the largest CSV file the HR terminations import takes (default 2048)
DIRECTORY_IMPORT_MAX_UPLOAD_KB  the largest file the directory import takes (default 20480)
EXITDESK_MASTER_KEYS   Fernet keys that wrap members' data keys, comma-separated, newest first
                       (production: required; local and test settings use a fixed development key)
EXITDESK_AUDIT_KEYS    keys of the audit chain's HMAC, comma-separated "id:secret", newest first
                       (production: required; local and test settings use a fixed development key)
EMAIL_URL              the mail server, e.g. smtp+tls://user:password@smtp.example.cn:587
                       (django-environ: smtp://, smtp+tls://, smtp+ssl://, consolemail://,
                       dummymail://); or the EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER,
                       EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL variables (production: one
                       or the other is required; local settings: the console by default)
EMAIL_TIMEOUT          seconds before a mail server that does not answer is given up (default 10)
DEFAULT_FROM_EMAIL     the sender of invitations and password links (production: required)
SERVER_EMAIL           the sender of error reports to ADMINS (default: DEFAULT_FROM_EMAIL)
ADMINS                 who receives error reports, comma-separated "Name <address>" or addresses
INVITATION_TIMEOUT_DAYS  days an invitation's set-password link works (default 7)
PASSWORD_RESET_TIMEOUT_HOURS  hours a password reset link works (default 24)
EXITDESK_SITE_URL      the address people open Exitdesk at, e.g. https://exitdesk.example.cn: the
                       links in notifications start with it (default http://127.0.0.1:8000)
READINESS_BEAT_MAX_AGE_SECONDS, READINESS_WORKER_MAX_AGE_SECONDS  seconds without a heartbeat of
                       beat, of any worker, after which /readyz fails (default 300 each)
HEALTH_CHECK_TOKEN     a bearer token that shows why /readyz failed (default: none, never shown)
OIDC_PROVIDERS, OIDC_<ID>_*, DINGTALK_*, FEISHU_*  sign-in through an OpenID Connect provider,
                       DingTalk or Feishu, each off unless set: see config/social_login.py
"""

import logging
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from config import logging as exitdesk_logging
from config import observability
from config.process import name_connections, process_kind
from config.social_login import providers_from_env

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-development-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Its index expressions (OpClass: the trigram indexes of directory/trigram.py); harmless on
    # SQLite.
    "django.contrib.postgres",
    "axes",
    "csp",
    "simple_history",
    "django_celery_beat",
    "health_check",
    "import_export",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rules.apps.AutodiscoverRulesConfig",
    # Sign-in through OpenID Connect, DingTalk, Feishu (directory/social.py): only the providers'
    # login and callback views are mounted (config/urls.py), none of allauth's account pages.
    # Before "directory", whose admin unregisters allauth's models.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.dingtalk",
    "allauth.socialaccount.providers.feishu",
    "django_structlog",
    "directory",
    "offboarding",
    "compliance",
]

MIDDLEWARE = [
    # First: answers /healthz and /readyz itself, before the host check and the HTTPS redirect
    # (a load balancer probes with its own address as Host), and unlogged (directory/health.py).
    "directory.health.ProbeMiddleware",
    # First, so that every log line of a request carries its id (directory/request_log.py).
    "directory.request_log.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "directory.middleware.RejectNulBytesMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A session whose record end_sessions deleted is logged out, whatever changed its key.
    "directory.sessions.LiveSessionMiddleware",
    "directory.middleware.EnterpriseTimeZoneMiddleware",
    # The user's id, and a member's enterprise id, on every log line from here on.
    "directory.request_log.UserLogContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A master key missing on this server: a page saying so (503), not a bare 500.
    "compliance.middleware.MasterKeyMissingMiddleware",
    # allauth requires it (it ends a social sign-in left half-way).
    "allauth.account.middleware.AccountMiddleware",
    "directory.security.StaffIdleTimeoutMiddleware",
    "offboarding.middleware.EmergencyWindowMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as axes asks: it turns a lockout flagged during the view into the lockout page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses every authenticate() of a locked-out user or address before the others run.
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Last: lets the old super admin sign in during their emergency window even after their exit
    # deactivated the login (offboarding.handover); their session then reaches the emergency page
    # only (offboarding.middleware.EmergencyWindowMiddleware).
    "offboarding.backends.EmergencyWindowBackend",
]

# The links in notifications (offboarding/notifications.py) are absolute: a mail is read away
# from any request, so the site's own address is configured, not guessed.
EXITDESK_SITE_URL = env("EXITDESK_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# The master keys that wrap each member's data key (compliance.crypto): Fernet keys, the first
# encrypts, every one decrypts (MultiFernet). `manage.py rotate_master_key` re-wraps with the first.
EXITDESK_MASTER_KEYS = env.list("EXITDESK_MASTER_KEYS", default=[])

# The keys of the audit chain's HMAC (compliance.audit): "id:secret" each, newest first. New events
# are hashed with the first and carry its id; every key an event names must stay in the list for
# the chain to verify. Kept outside the database: whoever can only write rows cannot forge an event.
EXITDESK_AUDIT_KEYS = env.list("EXITDESK_AUDIT_KEYS", default=[])

# Whether `manage.py seed_demo` may write demo data (fake people, known passwords) here. Off unless
# a settings module turns it on: local.py and test.py do; production.py never does, whatever the
# environment says (it is not read from the environment).
EXITDESK_DEMO_ALLOWED = False

# The authenticator app shows this name beside the new super admin's code (超级管理员移交).
OTP_TOTP_ISSUER = "Exitdesk"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'exitdesk.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Which kind of process this is (web, worker, beat, manage: config/process.py); it names the
# PostgreSQL connections ("exitdesk-web", …) as seen in pg_stat_activity. production.py, which
# sets DATABASES anew, names its connections again.
EXITDESK_PROCESS = process_kind()
name_connections(DATABASES, EXITDESK_PROCESS)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` writes the static files and whitenoise serves them from.
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Security (S-5); see README "Security".
#
# django-axes counts every failed authenticate(): the pages' login, the admin login and the
# password re-entries (directory.security.confirm_password). After AXES_FAILURE_LIMIT failures in
# a row for one username, or from one address, both are refused until AXES_COOLOFF_TIME has passed
# since the last try (a try while locked out starts the cool-off again). A success clears the
# failures of its username only (directory.security.reset_failures_of_username), not its address's.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "directory.security.lockout_response"  # our page, translated
AXES_CLIENT_IP_CALLABLE = "directory.security.client_ip_address"
# A member's login is counted as the username it names, login@code, however it was typed (the
# whole, or the login and the enterprise code): directory/logins.py.
AXES_USERNAME_CALLABLE = "directory.logins.axes_username"
# The attempts name users and addresses of every enterprise, past the tenant wall: not in the
# admin. `manage.py axes_reset_username NAME` lifts a lockout early.
AXES_ENABLE_ADMIN = False
# No "AXES: BEGIN …" banner at every start, and lockout parameters only in its lines. Its log is
# kept to errors (config/logging.py): directory.security.log_failed_login writes one line per
# failed login.
AXES_VERBOSE = False

# Sign-in through what members already use (directory/social.py), each provider off unless the
# environment configures it (config/social_login.py). A provider's sign-in is matched to a
# member's existing login or refused; nothing signs up, no e-mail is sent or verified by allauth.
SOCIALACCOUNT_PROVIDERS = providers_from_env(env)
SOCIALACCOUNT_ADAPTER = "directory.social.SocialAccountAdapter"
ACCOUNT_ADAPTER = "directory.social.AccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False  # the login URL asks for a POST (a button), never a plain link
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10
# Proxies in front of Django that append the address they were called from to X-Forwarded-For.
# 0: the client is REMOTE_ADDR. Behind a proxy, REMOTE_ADDR is the proxy's: every user would share
# one address, and five wrong passwords anywhere would lock everyone out.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Sessions in the database, each kept on record per user (directory/sessions.py): a new key
# (login, password change) moves the record along, so ending a user's sessions ends every one.
SESSION_ENGINE = "directory.sessions"

# The cache: the API's failure counts (directory/throttling.py) and the HR import's previewed
# files (offboarding/admin/hr_sync.py) live there, so production needs one every web process
# shares (Redis). The default, memory of one process, is for development and the tests.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# Wrong tokens sent to the HR system's API: after this many from one address within the window,
# that address is answered 429 (even with a right token) until the window has passed.
API_TOKEN_FAILURE_LIMIT = env.int("API_TOKEN_FAILURE_LIMIT", default=10)
API_TOKEN_FAILURE_WINDOW = timedelta(
    minutes=env.int("API_TOKEN_FAILURE_WINDOW_MINUTES", default=15)
)

# The HR terminations CSV import (Exits → HR terminations → Import): the largest file it takes,
# and how long a previewed file waits for its confirm (then it is gone: upload it again).
HR_IMPORT_MAX_UPLOAD_SIZE = env.int("HR_IMPORT_MAX_UPLOAD_KB", default=2048) * 1024
HR_IMPORT_PREVIEW_TIMEOUT = timedelta(hours=1)
# The directory import (Directory → Members → Import): departments and members, CSV or XLSX. A
# 20,000-member CSV file is about 2 MB; its preview waits in the cache like the HR import's.
DIRECTORY_IMPORT_MAX_UPLOAD_SIZE = env.int("DIRECTORY_IMPORT_MAX_UPLOAD_KB", default=20480) * 1024
# The previewed file waits in the cache, not in the system's temporary folder: removed at the
# confirm, and gone by itself when the preview expires.
IMPORT_EXPORT_TMP_STORAGE_CLASS = "directory.previewed_import.PreviewedFileStorage"

# A staff user's session ends after this long without a request (members' sessions do not).
STAFF_SESSION_IDLE_TIMEOUT = timedelta(minutes=env.int("STAFF_SESSION_IDLE_MINUTES", default=30))

# Content-Security-Policy on every response (django-csp 4). No inline script or style anywhere:
# the pages' and the admin's styles are files under offboarding/static/offboarding/.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# The readiness probe, /readyz (directory/health.py): django-health-check's checks, each answering
# whether what the app needs answers. 200 when all pass, else 503 naming the failed ones; why they
# failed only for `Authorization: Bearer <HEALTH_CHECK_TOKEN>` (never without a token set), and
# from `manage.py health_check readyz --no-http` on the server.
READINESS_CHECKS = [
    "health_check.checks.Database",
    "directory.health.Migrations",
    "health_check.checks.Cache",
    "directory.health.Broker",
    "directory.health.MasterKeys",
    "directory.health.Beat",
    "directory.health.Worker",
    # A job that has not succeeded within its expected interval: a warning, still 200.
    "directory.health_jobs.OverdueJobsCheck",
]
# Seconds since the newest heartbeat of beat (it ticks at least every 5 s) and of the workers
# (every 30 s) after which /readyz fails (directory/heartbeats.py).
READINESS_BEAT_MAX_AGE = env.int("READINESS_BEAT_MAX_AGE_SECONDS", default=300)
READINESS_WORKER_MAX_AGE = env.int("READINESS_WORKER_MAX_AGE_SECONDS", default=300)
HEALTH_CHECK_TOKEN = env("HEALTH_CHECK_TOKEN", default="")

# Admin "revert to this version" would write the state field past the FSM: never offered.
SIMPLE_HISTORY_REVERT_DISABLED = True

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# django_celery_beat's scheduler, with a heartbeat at every tick (config/beat.py).
CELERY_BEAT_SCHEDULER = "config.beat:HeartbeatScheduler"
# A worker that loses the broker retries for ever (at start and later), never giving up; and
# should it exit all the same, its service manager restarts it (deploy/: Restart=always).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Redis redelivers a message that a killed worker never acknowledged once the visibility timeout
# has passed: sized to a chunk, not to a night, so a chunk lost with its worker is done again
# within minutes. It must exceed the longest single task (a retention chunk: seconds; a
# notification send: at most EMAIL_TIMEOUT and the IM channel's timeout, well under a minute; a
# nightly job run: minutes), or a task still running is delivered a second time (harmless, as
# every task is idempotent, but wasteful). A task with a countdown (a notification's retry waits
# up to an hour) is held by the worker unacknowledged: it may be delivered again after this
# timeout, and then finds its notification sent or being sent and does nothing.
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=15 * 60)
}
# A retention chunk sent but not done after this long is sent again by the coordinator
# (compliance/jobs.py), within the same night.
EXITDESK_CHUNK_RESEND_SECONDS = env.int("EXITDESK_CHUNK_RESEND_SECONDS", default=15 * 60)
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files under var/celery (no server needed, development only).
    _celery_dir = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir),
        "data_folder_out": str(_celery_dir),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }


# Mail: invitations, password links (directory/mail.py), error reports to ADMINS. EMAIL_URL
# names the server in one variable; without it the EMAIL_* variables do, one each. A send that
# fails is logged and shown to whoever asked (directory.mail.send); EMAIL_TIMEOUT keeps a server
# that does not answer from holding the page. `manage.py sendtestemail ADDRESS` tries it.
EMAIL_URL = env("EMAIL_URL", default="")
if EMAIL_URL:
    _email = env.email_url_config(EMAIL_URL)
    _email.pop("OPTIONS", None)
    EMAIL_BACKEND = _email.pop("EMAIL_BACKEND")
    EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
    EMAIL_PORT = _email.get("EMAIL_PORT") or 25
    EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
    EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
    EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
    EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
    EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or None
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
    EMAIL_HOST = env("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# Whether the environment names a mail server at all (production refuses to start without one).
EMAIL_CONFIGURED = any(env(var, default="") for var in ("EMAIL_URL", "EMAIL_HOST", "EMAIL_BACKEND"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Exitdesk <exitdesk@localhost>")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
ADMINS = [parseaddr(admin) for admin in env.list("ADMINS", default=[])]
EMAIL_SUBJECT_PREFIX = "[Exitdesk] "

# How long the links mailed to a member work: an invitation's set-password link (it also dies
# once used: setting the password changes what it was signed with), and a password reset link.
INVITATION_TIMEOUT = timedelta(days=env.int("INVITATION_TIMEOUT_DAYS", default=7))
PASSWORD_RESET_TIMEOUT = int(
    timedelta(hours=env.int("PASSWORD_RESET_TIMEOUT_HOURS", default=24)).total_seconds()
)


# Logs (config/logging.py): one configuration for every process, structlog rendering every line
# (ours, Django's, Celery's, the libraries'), key=value text or JSON (LOG_FORMAT=json); the
# request id, user and enterprise on a request's lines, the task and job run on a task's.
LOG_FORMAT = env("LOG_FORMAT", default="console").strip().lower()
LOGGING = exitdesk_logging.logging_dict(
    log_format=LOG_FORMAT, level=env("LOG_LEVEL", default="INFO")
)
exitdesk_logging.configure_structlog()
# django-structlog: the request id is ours (directory/request_log.py puts the checked or generated
# one in the header it reads); one line per request, request_finished, its start at DEBUG; the
# client's address is bound by our middleware (from trusted proxies only), not by ipware.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG
# A task carries the request id (and user) of the request that sent it; the worker's side is the
# boot step in config/celery.py.
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# The worker and beat log through LOGGING too (config/celery.py keeps Celery from replacing it).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Error tracking, off unless SENTRY_DSN is set (config/observability.py).
observability.init_sentry(
    env("SENTRY_DSN", default=""),
    environment=env("SENTRY_ENVIRONMENT", default="production"),
    release=env("SENTRY_RELEASE", default="") or None,
    traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    process_kind=EXITDESK_PROCESS,
)

# Prometheus metrics at /metrics, off unless METRICS_TOKEN is set (config/observability.py).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
if METRICS_TOKEN:
    INSTALLED_APPS, MIDDLEWARE = observability.with_metrics(INSTALLED_APPS, MIDDLEWARE)
    observability.count_queries(DATABASES)
