"""Settings: every value comes from the environment (see `.env.example`).

The defaults make the embedded run work (SQLite, a development secret); with
`DJANGO_ENV=production` the secrets have no defaults and the process refuses to start
without them, and the security settings that `manage.py check --deploy` asks for are on.
"""

from datetime import timedelta
from pathlib import Path

import csp.constants
import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise environ.ImproperlyConfigured(
        f"DJANGO_ENV must be 'development' or 'production', not {DJANGO_ENV!r}"
    )
PRODUCTION = DJANGO_ENV == "production"

_DEVELOPMENT_SECRET_KEY = "development-only-secret-key-never-use-in-production"
_DEVELOPMENT_MEMBER_ID_HASH_KEY = "development-only-member-id-hash-key"


def _production_secret(name: str, *, min_length: int) -> str:
    """A secret from the environment, refused if missing, a published default, short or low in entropy.

    A key of few distinct characters (`aaaa…`, `abab…`) is guessable whatever its length; a
    random key of this length has dozens. The message says how to make a good one.
    """
    value = env.str(name)
    how = f"generate one with: python -c 'import secrets; print(secrets.token_urlsafe({min_length + 18}))'"
    if value in {_DEVELOPMENT_SECRET_KEY, _DEVELOPMENT_MEMBER_ID_HASH_KEY} or value.startswith(
        "django-insecure-"
    ):
        raise environ.ImproperlyConfigured(f"{name} is a published development default; {how}")
    if len(value) < min_length:
        raise environ.ImproperlyConfigured(f"{name} must be at least {min_length} characters; {how}")
    if len(set(value)) < 16:
        raise environ.ImproperlyConfigured(f"{name} must have at least 16 distinct characters; {how}")
    return value


if PRODUCTION:
    # No defaults: a production process without its secrets, or with weak ones, must not start.
    SECRET_KEY = _production_secret("SECRET_KEY", min_length=50)
    MEMBER_ID_HASH_KEY = _production_secret("MEMBER_ID_HASH_KEY", min_length=32)
    if SECRET_KEY == MEMBER_ID_HASH_KEY:
        raise environ.ImproperlyConfigured("MEMBER_ID_HASH_KEY must not be the same as SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
else:
    SECRET_KEY = env.str("SECRET_KEY", default=_DEVELOPMENT_SECRET_KEY)
    MEMBER_ID_HASH_KEY = env.str("MEMBER_ID_HASH_KEY", default=_DEVELOPMENT_MEMBER_ID_HASH_KEY)
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

DEBUG = env.bool("DEBUG", default=False)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Our apps come first so their management commands (e.g. our `auditlogflush`,
    # which enforces the retention floor) take precedence over third-party ones.
    "hedis_portal",
    "members",
    "ratings",
    "gaps",
    "predictions",
    "interventions",
    "console",
    "synthetic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "auditlog",
    "axes",
    "django_tasks",
    "django_tasks_db",
]

# The unit of access control. The project package sits below the domain apps (README,
# Architecture), so it names the contract model by setting, as Django's auth names the user model.
CONTRACT_MODEL = "members.Contract"

# Background jobs (hedis_portal/jobs.py) through Django's Tasks API: the database backend and its
# `manage.py db_worker` by default (`make run` starts one), RQ workers on Redis at scale
# (TASKS_BACKEND=rq, `manage.py rqworker default`; docs/scaling.md); tests run each job at once
# (TASKS_BACKEND=immediate).
TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
_tasks_backend = env.str("TASKS_BACKEND", default="database")
TASKS = {"default": {"BACKEND": TASK_BACKENDS[_tasks_backend]}}
# /health/ready answers 503 when the databases have not answered within this many seconds.
HEALTH_READY_SECONDS = env.float("HEALTH_READY_SECONDS", default=2.5)

# A running job writes a heartbeat this often; one silent for JOB_LEASE_SECONDS lost its worker.
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=2.0)
JOB_LEASE_SECONDS = env.int("JOB_LEASE_SECONDS", default=60)
# Work still running this long after its time limit, between progress points, is interrupted.
JOB_OVERRUN_GRACE_SECONDS = env.float("JOB_OVERRUN_GRACE_SECONDS", default=10.0)
# Time limits per job kind in seconds, over each kind's default: JOB_TIME_LIMITS=optimize=900,forecast=300
JOB_TIME_LIMITS = {kind: float(seconds) for kind, seconds in env.dict("JOB_TIME_LIMITS", default={}).items()}
if _tasks_backend == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    # run_job goes to RQ's queue "default" on TASKS_REDIS_URL. RQ's own time limit per job (180 s
    # unless set) would fail a long optimizer run from outside, so it only backs up the jobs' limits:
    # it comes after the longest (the optimizer's hour, or more in JOB_TIME_LIMITS) and its grace.
    _longest_job = max([3600.0, *JOB_TIME_LIMITS.values()])
    RQ_QUEUES = {
        "default": {
            "URL": env.str("TASKS_REDIS_URL", default="redis://127.0.0.1:6379/0"),
            "DEFAULT_TIMEOUT": int(_longest_job + JOB_OVERRUN_GRACE_SECONDS + 60),
        }
    }
    # Workers run each task through django-tasks-rq's job class, so `rqworker` needs no --job-class.
    RQ = {"JOB_CLASS": "django_tasks_rq.Job"}
    # Admin -> Jobs shows the jobs; RQ's dashboard (Redis internals, queue emptying) stays out.
    RQ_SHOW_ADMIN_LINK = False

MIDDLEWARE = [
    "hedis_portal.middleware.RequestIdMiddleware",
    "hedis_portal.middleware.NoStoreMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "hedis_portal.middleware.ApiRequestLogMiddleware",
    "hedis_portal.limits.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "hedis_portal.middleware.AdminNulFilterMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "hedis_portal.middleware.AuditMiddleware",
    # Last, as django-axes asks: turns a locked-out admin login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hedis_portal.urls"
WSGI_APPLICATION = "hedis_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "hedis_portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Embedded default: a SQLite file beside the code. Production: DATABASE_URL=postgres://…
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections, checked before reuse, so a restarted database is picked up
# again without restarting the app (the first request after an outage reconnects).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Bounds on the database, in seconds. PostgreSQL ends a statement running past DB_STATEMENT_TIMEOUT
# itself; DB_WAIT_GRACE later the portal stops waiting for a server that cannot (frozen, or
# unreachable without a reset) and answers 503 (hedis_portal/postgresql/base.py). Web requests
# (hedis_portal/wsgi.py sets PORTAL_PROCESS=web) get a short bound; the job worker and management
# commands (imports, the optimizer's writes, migrations) a long one. 0 turns a bound off.
if env.str("PORTAL_PROCESS", default="") == "web":
    DB_STATEMENT_TIMEOUT = env.float("DB_STATEMENT_TIMEOUT", default=5.0)
else:
    DB_STATEMENT_TIMEOUT = env.float("DB_JOB_STATEMENT_TIMEOUT", default=3600.0)
DB_WAIT_GRACE = env.float("DB_WAIT_GRACE", default=1.0)
DB_WAIT_TIMEOUT = DB_STATEMENT_TIMEOUT + DB_WAIT_GRACE if DB_STATEMENT_TIMEOUT else 0.0
# After the database gave no answer, a process opens no new connection to it for this many seconds.
DB_NO_ANSWER_BACKOFF = env.float("DB_NO_ANSWER_BACKOFF", default=5.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "hedis_portal.postgresql"
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=3)
    _options["options"] = f"-c statement_timeout={round(DB_STATEMENT_TIMEOUT * 1000)}"
    # Parameters bound by the server, so that psycopg prepares a statement once a connection
    # has run it DB_PREPARE_THRESHOLD times, and PostgreSQL stops parsing and planning it on
    # every request (the gain is measured in docs/performance.md). Empty turns it off,
    # for a pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
    _prepare_threshold = env.str("DB_PREPARE_THRESHOLD", default="5")
    _options["server_side_binding"] = True
    _options["prepare_threshold"] = int(_prepare_threshold) if _prepare_threshold else None
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One writer at a time: each transaction takes SQLite's write lock as it begins, so a second
    # writer (another request, the job worker, an import) waits for it, up to DB_SQLITE_TIMEOUT
    # seconds, instead of failing half-way with "database is locked".
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["transaction_mode"] = "IMMEDIATE"
    _options["timeout"] = env.int("DB_SQLITE_TIMEOUT", default=20)

# Optional read replica: analytics reads go to it (hedis_portal/routers.py); writes never do.
if env.str("DATABASE_REPLICA_URL", default=""):
    _replica = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"] = {
        **_replica,
        "ENGINE": DATABASES["default"]["ENGINE"],
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {**DATABASES["default"].get("OPTIONS", {}), **_replica.get("OPTIONS", {})},
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["hedis_portal.routers.AnalyticsReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The API throttles count here: with more than one worker (or server) use a shared cache, e.g.
# CACHE_URL=redis://host:6379/0 (Django's own RedisCache, with the `redis` package).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# The lockout check first: a locked-out username or address is refused before any password check.
AUTHENTICATION_BACKENDS = [
    "hedis_portal.backends.LockoutBackend",
    "hedis_portal.backends.RolePermissionBackend",
]

# Login lockout (django-axes; hedis_portal/login_security.py). Failures are counted in the database,
# shared by every worker, per username (from any address) and per client address (on any username):
# LOGIN_FAILURE_LIMIT failures lock either out for LOGIN_LOCKOUT_MINUTES, and every further failure
# starts the wait again. The API login and the admin login count together.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "hedis_portal.client_address.client_address"
AXES_USERNAME_CALLABLE = "hedis_portal.login_security.lockout_username"
AXES_LOCKOUT_CALLABLE = "hedis_portal.login_security.lockout_response"
# Successful logins and logouts are audit entries (login_security.py), kept with the rest.
AXES_DISABLE_ACCESS_LOG = True
# Never reset on success: a valid account of one's own must not wipe an address's failures.
AXES_RESET_ON_SUCCESS = False
# Masked in what axes stores of a failed login's query string and form: `next` may be an admin URL with
# a search term, which can be a raw member ID.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken", "next"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# Content-Security-Policy (django-csp): every script, style, image and font comes from the portal's
# own static files, nothing inline, no other origin; no page may be framed. The admin, the API docs
# and the browsable API are checked in headless Chromium for violations (tests/hedis_portal/test_csp.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.constants.NONE],
        "script-src": [csp.constants.SELF],
        "style-src": [csp.constants.SELF],
        "img-src": [csp.constants.SELF, "data:"],
        "font-src": [csp.constants.SELF],
        "connect-src": [csp.constants.SELF],
        "manifest-src": [csp.constants.SELF],
        "form-action": [csp.constants.SELF],
        "base-uri": [csp.constants.NONE],
        "frame-ancestors": [csp.constants.NONE],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "hedis_portal.audit.AuditedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["hedis_portal.permissions.ModelPermissions"],
    # JSON bodies only (the gap import takes its file as multipart): the schema documents JSON,
    # and a form cannot carry the nulls, lists and objects the bodies hold.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": [
        "hedis_portal.filters.ListFilterBackend",
        "hedis_portal.filters.OrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "hedis_portal.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "hedis_portal.pagination.IdCursorPagination",
    # Proxies in front of the portal that append to X-Forwarded-For; 0: the header is ignored and
    # REMOTE_ADDR is the client (hedis_portal/client_address.py).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="60/min"),
        "user": env.str("THROTTLE_USER", default="6000/min"),
        "auth": env.str("THROTTLE_AUTH", default="10/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "hedis_portal.schema.AutoSchema",
    "EXCEPTION_HANDLER": "hedis_portal.errors.api_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# A token expires API_TOKEN_TTL_HOURS after its last use, and API_TOKEN_MAX_LIFETIME_HOURS after it was
# issued whatever its use (hedis_portal/audit.py); a password change or deactivation deletes a user's tokens.
API_TOKEN_MAX_LIFETIME_HOURS = env.int("API_TOKEN_MAX_LIFETIME_HOURS", default=12)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("API_TOKEN_TTL_HOURS", default=10)),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(hours=API_TOKEN_MAX_LIFETIME_HOURS),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "HEDIS Star Rating Portfolio Optimizer API",
    "DESCRIPTION": "Care gaps, predictions, interventions and CMS Star Ratings, scoped to your contracts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from our own static files: the docs work with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "WorkflowStateEnum": "gaps.models.WorkflowState",
        "WorkflowMoveEnum": "gaps.api.MOVE_TARGETS",
        "JobStatusEnum": "hedis_portal.jobs.Status",
        "InterventionStatusEnum": "interventions.models.InterventionStatus",
        "InterventionChannelEnum": "interventions.models.Channel",
        "GapOutcomeEnum": "interventions.models.GapOutcome",
        "OutreachChannelEnum": "interventions.models.OutreachChannel",
        "OutreachOutcomeEnum": "interventions.models.OutreachOutcome",
    },
}

# django-auditlog: who, what, when, from where; never a raw member identifier.
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_STORE_JSON_CHANGES = True
# Audit entries carry the request ID that the API request log and X-Request-ID show.
AUDITLOG_CID_GETTER = "hedis_portal.middleware.current_request_id"
AUDIT_LOG_MIN_RETENTION_DAYS = 7 * 365 + 2  # seven years, leap days included

# Request size limits: JSON bodies (a 10,000-row prediction batch is a few MB) and uploaded files.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=20 * 1024 * 1024)
GAP_IMPORT_MAX_BYTES = env.int("GAP_IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
PREDICTIONS_IMPORT_MAX_BYTES = env.int("PREDICTIONS_IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
CMS_IMPORT_MAX_BYTES = env.int("CMS_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)  # one upload's tables

# Forecasts: the closure probability of a gap whose measure has no prediction at all.
FORECAST_FALLBACK_PROBABILITY = env.float("FORECAST_FALLBACK_PROBABILITY", default=0.25)

# API request log: buffered so that writing it does not cost a round trip per request.
API_LOG_FLUSH_SIZE = env.int("API_LOG_FLUSH_SIZE", default=50)
API_LOG_FLUSH_SECONDS = env.float("API_LOG_FLUSH_SECONDS", default=2.0)

# Most prediction rows one bulk upsert call accepts (API: larger batches answer 413).
PREDICTIONS_BULK_MAX_ROWS = env.int("PREDICTIONS_BULK_MAX_ROWS", default=20000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"request_path_as_route": {"()": "hedis_portal.log_filters.RequestPathAsRoute"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django logs every 4xx with the request path; paths may carry a search term. Server
        # errors are still logged, with the route in place of the path.
        "django.request": {"level": "ERROR", "filters": ["request_path_as_route"]},
    },
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.bool("BEHIND_TLS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^health/"]
