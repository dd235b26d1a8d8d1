"""civichub settings: every deployment difference comes from environment variables.

The table of variables lives in README.md ("Configuration"); keep the two in step.
The embedded default needs no service: SQLite (WAL), database task backend, local-memory cache.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from civichub.core.keyfiles import read_or_create


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("CIVICHUB_DATA_DIR", "./.civichub")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
TESTING = "pytest" in sys.modules or os.environ.get("CIVICHUB_TESTING") == "1"

DEBUG = env_bool("CIVICHUB_DEBUG", False)
# Production mode turns on secure cookies, HSTS and the HTTPS redirect; the embedded demo on
# http://127.0.0.1 runs without it.
PRODUCTION = env_bool("CIVICHUB_PRODUCTION", False)


def _secret_key() -> str:
    """The secret key comes from the environment; without one, a random key is kept in the data
    directory so that sessions survive restarts of an embedded install."""
    configured = os.environ.get("CIVICHUB_SECRET_KEY")
    if configured:
        return configured
    return read_or_create(
        DATA_DIR / "keys" / "secret_key", lambda: secrets.token_urlsafe(64).encode()
    ).decode()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("CIVICHUB_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CIVICHUB_CSRF_TRUSTED_ORIGINS")
# Reverse proxies whose X-Forwarded-For is believed (addresses or networks); none by default, so
# the connecting peer is the client. civichub.core.http.client_address reads them; a wrong entry
# stops the start rather than every request.
CIVICHUB_TRUSTED_PROXIES = [
    str(ipaddress.ip_network(proxy, strict=False)) for proxy in env_list("CIVICHUB_TRUSTED_PROXIES")
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
    "civichub.core",
    "civichub.notify",
    "civichub.casework",
    "civichub.broadcast",
    "civichub.wellbeing",
    "civichub.statistics",
    "civichub.traceability",
    "civichub.portal",
    "civichub.datahub",
    "civichub.donors",
]
# Module apps: each is one Django app that declares itself to core's registry (see docs).
INSTALLED_APPS += [app for app in env_list("CIVICHUB_EXTRA_APPS") if app not in INSTALLED_APPS]

MIDDLEWARE = [
    # First, so that it times everything below it (core.metrics, `/metrics`).
    "civichub.core.middleware.RequestMetricsMiddleware",
    # Before the session, CSRF and message middleware: it must see the cookies they set.
    "civichub.core.middleware.SharedCacheMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "civichub.core.middleware.AsyncFileResponseMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Only under `civichub demo`, while the demo data is written (removes itself otherwise).
    "civichub.core.middleware.DemoSeedingMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "civichub.core.middleware.RequestContextMiddleware",
    "civichub.core.middleware.ApiErrorMiddleware",
    "axes.middleware.AxesMiddleware",
]

# `civichub demo` sets it for its web server: the file telling how far the background seeding of
# the demo data has come (`core.demo.status`); pages answer with the progress until it is done.
DEMO_STATUS_FILE = os.environ.get("CIVICHUB_DEMO_STATUS_FILE") or None

ROOT_URLCONF = "civichub.urls"
# The Ninja API of the project (`civichub openapi` writes its document).
CIVICHUB_API = "civichub.api.api"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "civichub.core.context_processors.navigation",
            ],
        },
    },
]
WSGI_APPLICATION = "civichub.wsgi.application"
# The threads of one `civichub serve` process that run Django's requests (core.serving): the
# requests it serves at once, event streams apart.
WEB_THREADS = int(os.environ.get("CIVICHUB_WEB_THREADS", "8"))
ASGI_APPLICATION = "civichub.asgi.application"

# Databases -------------------------------------------------------------------------------
_database_url = os.environ.get("DATABASE_URL")
if TESTING and os.environ.get("CIVICHUB_TEST_DATABASE_URL"):
    _database_url = os.environ["CIVICHUB_TEST_DATABASE_URL"]
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        # No JIT compilation: the platform's statements read a few rows through indexes, where
        # compiling costs more than it saves, and a planner's estimate past `jit_above_cost`
        # (a recursive trace at ten million events, a recall by scope) made a 5 ms statement
        # spend 100-1,600 ms compiling first. A DATABASE_URL that sets `options` keeps its own.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
        if env_bool("CIVICHUB_DB_POOL", True):
            # A per-process pool (psycopg-pool) keeps connection counts bounded whatever the
            # threads: the web server's, a task worker's, the event streams' own.
            DATABASES["default"]["CONN_MAX_AGE"] = 0
            # With the pool, health checks make Django hand the pool psycopg's check: a
            # connection the server dropped while it sat in the pool (a restart, a failover,
            # pg_terminate_backend) is replaced before a request gets it, so the requests after
            # an outage do not fail one per pooled connection. (Django gives the pool its check
            # itself, so it cannot be given a cheaper one through OPTIONS.)
            DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
            DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
                "min_size": 1,
                "max_size": int(os.environ.get("CIVICHUB_DB_POOL_MAX", "8")),
                "timeout": 20,
            }
    if os.environ.get("CIVICHUB_TEST_DATABASE_NAME"):
        DATABASES["default"]["TEST"] = {"NAME": os.environ["CIVICHUB_TEST_DATABASE_NAME"]}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "civichub.sqlite3"),
            "OPTIONS": {
                # WAL lets readers run beside the one writer; IMMEDIATE avoids lock upgrades
                # failing mid-transaction when the web server and the worker both write.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                # A 64 MiB page cache (SQLite's default is 2 MiB): a batch of readings arrives
                # time-major and lands on a different page of the (meter, time) index for each
                # meter, so with the default most inserts and detection's reads went to the
                # operating system for a page again. Pages are cached only as they are used.
                # The log is copied back into the database every 10,000 pages (about 40 MB)
                # instead of SQLite's 1,000: a page written again and again (an index's last
                # page, a counter) is copied once per checkpoint, and checkpoints were a fifth
                # to a half of a commit's cost in event capture and meter-reading ingestion
                # (wellbeing's batched pipeline: 37,700-43,600 readings per CPU second against
                # 33,600-37,200 with SQLite's default, runs taking turns).
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                    "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=10000;"
                ),
            },
            "TEST": {"NAME": os.environ.get("CIVICHUB_TEST_SQLITE_NAME") or None},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache and tasks ---------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "civichub",
        }
    }
    # The queue shares the cache's connection pool: with its own URL, django-rq builds a new
    # client (a new connection and an INFO round trip) for every task enqueued.
    RQ_QUEUES = {"default": {"USE_REDIS_CACHE": "default", "DEFAULT_TIMEOUT": 600}}
    RQ = {"QUEUE_CLASS": "civichub.core.taskqueue.Queue"}  # one round trip per job enqueued
    INSTALLED_APPS.append("django_rq")
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# The public reads shared through the cache (`core.publiccache`: the board, the Atom feeds) need
# a cache that every process shares: with each process's own memory, a change made in another
# process (the task worker routing a message) would not reach the web server's copy.
# How long nginx's micro-cache (docs/nginx.conf) may give one anonymous visitor's answer of a
# public page (the board, the Atom feeds) to the others; 0 turns it off.
PUBLIC_PAGE_CACHE_SECONDS = int(os.environ.get("CIVICHUB_PUBLIC_PAGE_CACHE_SECONDS", "2"))
PUBLIC_CACHE = env_bool("CIVICHUB_PUBLIC_CACHE", bool(REDIS_URL))
if os.environ.get("CIVICHUB_TASK_BACKEND") == "immediate":
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

# Authentication and security ---------------------------------------------------------------
AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 is deliberately slow; tests create hundreds of accounts.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "core:dashboard"
LOGOUT_REDIRECT_URL = "login"

AXES_FAILURE_LIMIT = int(os.environ.get("CIVICHUB_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("CIVICHUB_LOGIN_COOLOFF_HOURS", "0.25"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The lock-out counts failures per client address as the audit log records it: one decision.
AXES_CLIENT_IP_CALLABLE = "civichub.core.http.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "core/locked_out.html"
AXES_ENABLED = env_bool("CIVICHUB_LOGIN_THROTTLING", True)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("CIVICHUB_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = int(os.environ.get("CIVICHUB_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The preload directive only matters once the domain is submitted to the browsers' list.
    SECURE_HSTS_PRELOAD = env_bool("CIVICHUB_HSTS_PRELOAD", True)
    SECURE_SSL_REDIRECT = env_bool("CIVICHUB_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]


def tile_sources(*templates: str) -> list[str]:
    """The CSP sources that let maps load the configured tiles and nothing else: the scheme
    and host of each tile template, a host label with a placeholder ({s}) widened to "*"."""
    sources = []
    for template in filter(None, templates):
        parts = urlsplit(template)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            continue
        labels = parts.netloc.split(".")
        if "{" in labels[0]:
            labels[0] = "*"
        sources.append(f"{parts.scheme}://{'.'.join(labels)}")
    return sorted(set(sources))


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [
            SELF,
            "data:",
            *tile_sources(
                os.environ.get("CIVICHUB_MAP_TILES", ""),
                os.environ.get("CIVICHUB_MAP_LABEL_TILES", ""),
            ),
        ],
        # hls.js hands the video element a MediaSource through a blob: address.
        "media-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("CIVICHUB_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# Files -------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# Email -------------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "CIVICHUB_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = os.environ.get("CIVICHUB_SMTP_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("CIVICHUB_SMTP_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("CIVICHUB_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("CIVICHUB_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("CIVICHUB_SMTP_STARTTLS", False)
EMAIL_USE_SSL = env_bool("CIVICHUB_SMTP_SSL", False)
EMAIL_TIMEOUT = 15
DEFAULT_FROM_EMAIL = os.environ.get("CIVICHUB_MAIL_FROM", "civichub <noreply@localhost>")

# Logging -----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("CIVICHUB_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "axes": {"level": "WARNING"},
    },
}

# The deployment profile: per-city differences with documented defaults (docs/architecture.md).
# A key is set only when its variable is: the defaults are written once, in the modules'
# configuration dataclasses (core.conf.CoreSettings, notify.conf.NotifySettings).
CIVICHUB_PROFILE: dict[str, object] = {
    key: convert(os.environ[variable])
    for key, (variable, convert) in {
        "city_name": ("CIVICHUB_CITY_NAME", str),
        "site_url": ("CIVICHUB_SITE_URL", str),
        "default_crs": ("CIVICHUB_DEFAULT_CRS", str),
        "map_tiles": ("CIVICHUB_MAP_TILES", str),
        "map_label_tiles": ("CIVICHUB_MAP_LABEL_TILES", str),
        "map_tiles_key": ("CIVICHUB_MAP_TILES_KEY", str),
        "map_tiles_subdomains": ("CIVICHUB_MAP_TILES_SUBDOMAINS", str),
        "map_tiles_crs": ("CIVICHUB_MAP_TILES_CRS", str),
        "map_tiles_attribution": ("CIVICHUB_MAP_TILES_ATTRIBUTION", str),
        "map_max_zoom": ("CIVICHUB_MAP_MAX_ZOOM", int),
        "quiet_hours_default": ("CIVICHUB_QUIET_HOURS", str),
        "notification_max_attempts": ("CIVICHUB_NOTIFY_MAX_ATTEMPTS", int),
        "notification_backoff_seconds": ("CIVICHUB_NOTIFY_BACKOFF", int),
        "notification_lease_seconds": ("CIVICHUB_NOTIFY_LEASE", int),
        "image_max_pixels": ("CIVICHUB_IMAGE_MAX_PIXELS", int),
        "image_max_pixels_per_byte": ("CIVICHUB_IMAGE_MAX_PIXELS_PER_BYTE", int),
    }.items()
    if variable in os.environ
}
# Casework (every key and its default in civichub/casework/conf.py): the hourly SMS budget for
# one-time codes is the deployment's money, so it has its own variables.
CIVICHUB_CASEWORK: dict[str, object] = {
    key: float(os.environ[variable])
    for key, variable in {
        "sms_cost": "CIVICHUB_SMS_COST",
        "sms_budget_per_hour": "CIVICHUB_SMS_BUDGET_PER_HOUR",
    }.items()
    if variable in os.environ
}
# Wellbeing (docs/wellbeing.md, "Ingestion"; every key and its default in
# civichub/wellbeing/conf.py): a key is set only when its variable is, so that the module's
# documented default holds otherwise.
CIVICHUB_WELLBEING = {
    key: int(os.environ[variable])
    for key, variable in {
        "future_minutes": "CIVICHUB_WELLBEING_FUTURE_MINUTES",
        "raw_retention_days": "CIVICHUB_WELLBEING_RAW_DAYS",
        "hourly_retention_days": "CIVICHUB_WELLBEING_HOURLY_DAYS",
        "daily_retention_days": "CIVICHUB_WELLBEING_DAILY_DAYS",
        "withdrawn_retention_days": "CIVICHUB_WELLBEING_WITHDRAWN_DAYS",
    }.items()
    if os.environ.get(variable)
}
# Broadcast (docs/broadcast.md, "CAP messages" and "Short videos"; every key and its default in
# civichub/broadcast/conf.py).


def _megabytes(value: str) -> int:
    return int(value) * 1024 * 1024


def _heights(value: str) -> tuple[int, ...]:
    return tuple(sorted(int(h) for h in value.split(",") if h.strip()))


_BROADCAST_VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "cap_sender": ("CIVICHUB_CAP_SENDER", str),
    "cap_cancelled_hours": ("CIVICHUB_CAP_CANCELLED_HOURS", int),
    "video_max_bytes": ("CIVICHUB_VIDEO_MAX_MB", _megabytes),
    "video_max_seconds": ("CIVICHUB_VIDEO_MAX_SECONDS", int),
    "video_heights": ("CIVICHUB_VIDEO_HEIGHTS", _heights),
    "federation_signature_seconds": ("CIVICHUB_FEDERATION_SIGNATURE_SECONDS", int),
    "federation_max_attempts": ("CIVICHUB_FEDERATION_MAX_ATTEMPTS", int),
    "federation_inbox_per_minute": ("CIVICHUB_FEDERATION_INBOX_PER_MINUTE", int),
}
CIVICHUB_BROADCAST: dict[str, object] = {
    key: convert(os.environ[variable])
    for key, (variable, convert) in _BROADCAST_VARIABLES.items()
    if os.environ.get(variable)
}
# Statistics (docs/statistics.md; every key and its default in civichub/statistics/conf.py).
CIVICHUB_STATISTICS = {
    key: int(os.environ[variable])
    for key, variable in {
        "settle_minutes": "CIVICHUB_STATISTICS_SETTLE_MINUTES",
        "evaluation_min_ratings": "CIVICHUB_EVALUATION_MIN_RATINGS",
    }.items()
    if os.environ.get(variable)
}
# Traceability (docs/traceability.md; every key and its default in civichub/traceability/conf.py).
CIVICHUB_TRACEABILITY: dict[str, object] = {
    key: os.environ[variable]
    for key, variable in {
        "epcis_json_schema_path": "CIVICHUB_EPCIS_JSON_SCHEMA",
        "resolver_base_url": "CIVICHUB_RESOLVER_BASE_URL",
        "trace_code_area": "CIVICHUB_TRACE_CODE_AREA",
    }.items()
    if os.environ.get(variable)
}
# Data hub (docs/datahub.md; every key and its default in civichub/datahub/conf.py).
CIVICHUB_DATAHUB: dict[str, object] = {
    key: cast(os.environ[variable])
    for key, (variable, cast) in {
        "sources_dir": ("CIVICHUB_DATAHUB_SOURCES_DIR", str),
        "link_weight": ("CIVICHUB_DATAHUB_LINK_WEIGHT", float),
        "review_weight": ("CIVICHUB_DATAHUB_REVIEW_WEIGHT", float),
        "stale_hours": ("CIVICHUB_DATAHUB_STALE_HOURS", int),
    }.items()
    if os.environ.get(variable)
}
# Emergency blood donors (docs/donors.md; every key and its default in civichub/donors/conf.py).
CIVICHUB_DONORS: dict[str, object] = {
    key: cast(os.environ[variable])
    for key, variable, cast in (
        ("eligibility_profile", "CIVICHUB_DONORS_ELIGIBILITY_PROFILE", str),
        ("wave_minutes", "CIVICHUB_DONORS_WAVE_MINUTES", int),
        ("monthly_call_up_cap", "CIVICHUB_DONORS_MONTHLY_CAP", int),
        ("site_url", "CIVICHUB_DONORS_SITE_URL", str),
    )
    if os.environ.get(variable)
}
SMS_ADAPTER = os.environ.get("CIVICHUB_SMS_ADAPTER", "civichub.notify.channels.LoggingSmsAdapter")
WEBPUSH_VAPID_PRIVATE_KEY = os.environ.get("CIVICHUB_VAPID_PRIVATE_KEY", "")
WEBPUSH_VAPID_SUBJECT = os.environ.get("CIVICHUB_VAPID_SUBJECT", "mailto:operator@localhost")
# Push services are HTTPS; plain HTTP endpoints are for a local test push service only.
WEBPUSH_ALLOW_HTTP_ENDPOINTS = env_bool("CIVICHUB_WEBPUSH_ALLOW_HTTP", False)
# Outbound requests to addresses users supply (core.outbound) never reach the deployment's own
# network; this lets loopback alone through, for a local test push service.
OUTBOUND_ALLOW_LOOPBACK = env_bool("CIVICHUB_OUTBOUND_ALLOW_LOOPBACK", False)
IDENTITY_KEYS = env_list("CIVICHUB_IDENTITY_KEYS")
# The bearer token a Prometheus scraper presents at /metrics; signed-in operators need none.
CIVICHUB_METRICS_TOKEN = os.environ.get("CIVICHUB_METRICS_TOKEN", "")
