"""launchui settings. Every value a deployment changes comes from an environment variable (README)."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from launchui.env import (
    env_bool,
    env_choice,
    env_fernet_key,
    env_git_hosts,
    env_int,
    env_json_object,
    env_list,
    env_str,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("LAUNCHUI_DATA_DIR", str(BASE_DIR / "data"))).resolve()

SECRET_KEY = secret_key(DATA_DIR)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "launchui.accounts",
    "launchui.projects",
    "launchui.launch",
    "launchui.artifacts",
    "launchui.jobs",
    "launchui.wire",
    "launchui.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "launchui.web.errors.refuse_nul_bytes",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "launchui.urls"
WSGI_APPLICATION = "launchui.wsgi.application"

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
                "launchui.web.context_processors.launchui",
            ],
        },
    },
]


def _database() -> dj_database_url.DBConfig:
    url = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'launchui.sqlite3'}"
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        # WAL lets the web process read while the worker writes.
        # timeout: how long a writer waits for the lock before "database is locked"; Python's default 5 s
        # was shorter than a busy machine's p99 with 50 runs streaming at once (bench/runs_scale.py).
        config["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 20}
        config["CONN_MAX_AGE"] = 0
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, with a health check that sends no SELECT 1 when the server has not written to the
        # connection since its last use (launchui/core/postgresql/base.py).
        config["ENGINE"] = "launchui.core.postgresql"
        options = config.setdefault("OPTIONS", {})
        if env_bool("DATABASE_PREPARED_STATEMENTS", True):
            # Server-side binding lets psycopg prepare a statement it has run twice on a connection, sparing
            # PostgreSQL its planning (half the database CPU of an agent call, README Performance). Set it false
            # behind a transaction-pooling pgbouncer older than 1.21, which cannot keep prepared statements.
            options.update(server_side_binding=True, prepare_threshold=2)
        if env_bool("DATABASE_POOL", False):
            # psycopg's pool (psycopg-pool); it replaces CONN_MAX_AGE, which Django refuses beside it.
            options["pool"] = {"min_size": 1, "max_size": env_int("DATABASE_POOL_MAX_SIZE", 8, minimum=1)}
            config["CONN_MAX_AGE"] = 0
    # A kept connection is checked before each request reuses it: after a database restart the request
    # reconnects instead of failing with "the connection is closed".
    config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-axes first: it refuses a locked-out username or address before any password is checked. The wire
# authenticates with API keys (launchui.wire.auth), never through these backends.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "launch"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Artifact and job files, stored by content digest through Django's storage API. Any Django storage backend
# can replace the data directory, e.g. django-storages' S3 backend with its options as JSON.
STORAGES = {
    "default": {
        "BACKEND": env_str("LAUNCHUI_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": env_json_object("LAUNCHUI_STORAGE_OPTIONS") or {"location": str(DATA_DIR / "files")},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Celery: a broker that needs no server by default (kombu's filesystem transport), Redis in production.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("in", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu's default is ./control, relative to wherever the worker was started.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660, minimum=1)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A worker reserves only the message it runs (acked when the build ends), so a long build never hides a
# queued one from an idle worker, and a message whose worker died is delivered again.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Keep retrying the broker for ever (at start and after a Redis restart) instead of exiting.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A build keeps running when the broker connection drops: its message may come again, and finds the build
# already claimed (build_run), so cancelling it would only waste the work done.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A web request that cannot reach the broker gives up after about a second: the build is kept and sent
# later by the worker's build sweeper (builds_resend_stale in launchui/jobs/services.py).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands an unacked message to another worker after visibility_timeout. It must exceed the longest
    # a build can hold its message (the hard time limit), or a running build's message would be delivered
    # twice; recovery from a dead worker does not wait for it (the sweeper's lease does that).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 300}

# launchui's own settings.
LAUNCHUI_SIGNUP_ENABLED = env_bool("LAUNCHUI_SIGNUP_ENABLED", True)
# The public address agents use; shown in the "start an agent" command. Empty: taken from the request.
LAUNCHUI_BASE_URL = env_str("LAUNCHUI_BASE_URL", "").rstrip("/")
# An agent reports status every ~20 s and polls every 10 s; three missed status intervals make it Offline.
LAUNCHUI_AGENT_OFFLINE_AFTER = env_int("LAUNCHUI_AGENT_OFFLINE_AFTER", 60, minimum=1)
# A run whose file stream has been silent this long is shown Crashed (its process died without finishing).
LAUNCHUI_RUN_CRASHED_AFTER = env_int("LAUNCHUI_RUN_CRASHED_AFTER", 300, minimum=1)
# A run whose watchers (its agent, every 10 s while the process lives; the run's own stop check, every 15 s)
# have not asked RunStoppedStatus this long, and that never completed, has lost its process: Crashed.
LAUNCHUI_RUN_UNWATCHED_AFTER = env_int("LAUNCHUI_RUN_UNWATCHED_AFTER", 25, minimum=1)
# A popped item that the agent has not acked within this many seconds goes back to its place in the queue.
LAUNCHUI_LEASE_SECONDS = env_int("LAUNCHUI_LEASE_SECONDS", 60, minimum=1)
# Each web process remembers an authenticated API key this many seconds, so most agent calls cost no query;
# it is also how long a key revoked (or a user deactivated) in another process may still be accepted. 0: off.
LAUNCHUI_API_KEY_CACHE_SECONDS = env_int("LAUNCHUI_API_KEY_CACHE_SECONDS", 10, minimum=0)
# Jobs: limits on uploaded code, the Python version when a job names none, git.
LAUNCHUI_MAX_CODE_BYTES = env_int("LAUNCHUI_MAX_CODE_BYTES", 100 * 1024 * 1024, minimum=1)
LAUNCHUI_MAX_CODE_FILES = env_int("LAUNCHUI_MAX_CODE_FILES", 5000, minimum=1)
LAUNCHUI_DEFAULT_PYTHON = env_str("LAUNCHUI_DEFAULT_PYTHON", "3.11")
LAUNCHUI_GIT_TIMEOUT = env_int("LAUNCHUI_GIT_TIMEOUT", 300, minimum=1)
# Seconds a git server has to accept a connection and answer; also how long a transfer may stall.
LAUNCHUI_GIT_CONNECT_TIMEOUT = env_int("LAUNCHUI_GIT_CONNECT_TIMEOUT", 10, minimum=1)
# Builds never reach loopback, link-local, private or this server's own addresses, except these.
LAUNCHUI_GIT_ALLOWED_HOSTS = env_git_hosts("LAUNCHUI_GIT_ALLOWED_HOSTS")
# Builds and their worker: a running build renews its lease every third of LAUNCHUI_BUILD_LEASE_SECONDS; when
# the lease runs out the worker is taken for dead, and the build is queued again until it has run
# LAUNCHUI_BUILD_MAX_ATTEMPTS times, then failed. Every worker sweeps every LAUNCHUI_BUILD_SWEEP_SECONDS:
# it sends builds whose task could not be sent, and again those queued LAUNCHUI_BUILD_RESEND_SECONDS ago.
LAUNCHUI_BUILD_LEASE_SECONDS = env_int("LAUNCHUI_BUILD_LEASE_SECONDS", 60, minimum=2)
LAUNCHUI_BUILD_MAX_ATTEMPTS = env_int("LAUNCHUI_BUILD_MAX_ATTEMPTS", 2, minimum=1)
LAUNCHUI_BUILD_SWEEP_SECONDS = env_int("LAUNCHUI_BUILD_SWEEP_SECONDS", 15, minimum=1)
LAUNCHUI_BUILD_RESEND_SECONDS = env_int("LAUNCHUI_BUILD_RESEND_SECONDS", 300, minimum=1)
# A CA bundle for git servers with a private certificate authority.
LAUNCHUI_GIT_SSL_CA_FILE = env_str("LAUNCHUI_GIT_SSL_CA_FILE", "")
# Fernet key for stored git credentials; derived from SECRET_KEY when unset.
LAUNCHUI_ENCRYPTION_KEY = env_fernet_key("LAUNCHUI_ENCRYPTION_KEY")
DATA_UPLOAD_MAX_NUMBER_FILES = LAUNCHUI_MAX_CODE_FILES
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Largest artifact file the wandb client may PUT; streamed to storage, so it costs disk, not memory.
LAUNCHUI_MAX_UPLOAD_BYTES = env_int("LAUNCHUI_MAX_UPLOAD_BYTES", 5 * 1024**3, minimum=1)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
LAUNCHUI_PAGE_SIZE = env_int("LAUNCHUI_PAGE_SIZE", 50, minimum=1)
# Artifact download URLs are bearer tokens: the wandb client uses each right after asking for it.
LAUNCHUI_DOWNLOAD_URL_MAX_AGE = env_int("LAUNCHUI_DOWNLOAD_URL_MAX_AGE", 300, minimum=1)

# Django's database sessions, read with a compiled statement (launchui/accounts/sessions.py).
SESSION_ENGINE = "launchui.accounts.sessions"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # HSTS only makes sense when the site is reached over HTTPS; Django sends it on secure requests only.
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)

# Content-Security-Policy (django-csp): scripts and styles from our own static files only, so an injected
# <script> or style attribute does nothing. Templates therefore carry no inline script, handler or style.
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

# Sign-in lockout (django-axes): a username, and separately a client address, with this many failed
# sign-ins is refused for the cool-off time. Staff unlock in the admin (Access attempts) or with
# manage.py axes_reset_username / axes_reset_ip.
AXES_FAILURE_LIMIT = env_int("LAUNCHUI_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("LAUNCHUI_LOGIN_COOLOFF", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "launchui.web.client_ip.client_ip"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    },
}
