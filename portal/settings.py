"""Django settings for OpenDEX.

Everything that differs between machines comes from the environment (see README, "Configuration").
With ``DATABASE_URL`` unset the project runs on its private PostgreSQL cluster (``portal.pgcluster``),
starting it if needed, so that management commands and tests use the same database as ``make run``.
"""

import os
import secrets
from pathlib import Path

import dj_database_url

from portal import pgcluster
from portal.database import database_url
from portal.logs import log_format, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = pgcluster.DEFAULT_ROOT
DATA_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def private_secret(filename: str, generate) -> str:
    """A secret kept in the private data dir, generated on first use (mode 0600)."""
    path = DATA_DIR / filename
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate())
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or private_secret("secret_key", lambda: secrets.token_urlsafe(50))


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


OPENDEX_SECRETS_KEY = os.environ.get("OPENDEX_SECRETS_KEY") or private_secret("secrets.key", _fernet_key)

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,.localhost").split(",")
                 if h.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / Redoc assets as static files (no CDN)
    "oauth2_provider",
    "django_celery_beat",
    "portal",
    "engine",
    "remote_actions",
    "exporters",
    "service_health",
]

MIDDLEWARE = [
    # First: the request id is set (and the request counted) before anything else can log or answer.
    "portal.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.dberrors.DatabaseUnavailableMiddleware",  # database out of reach: 503 + Retry-After, not 500
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
# Documented paths answer exactly as written, never with a trailing-slash redirect.
APPEND_SLASH = False

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
            ],
        },
    },
]

# -- Database ---------------------------------------------------------------------------------

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
else:
    _cluster = pgcluster.Cluster(DATA_DIR)
    _cluster.ensure_running()
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            **_cluster.connection_info().as_django(),
            "CONN_MAX_AGE": 60,
        }
    }
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A server that does not answer fails the request in seconds (503, portal/dberrors.py), never hangs it.
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
# Tests name their database after the main one; OPENDEX_TEST_DB lets concurrent runs on one server
# keep apart.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("OPENDEX_TEST_DB") or f"test_{DATABASES['default']['NAME']}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "portal.Account"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Password policy (docs/decisions.md, "Security"): checked wherever a person sets a password (admin forms,
# createsuperuser, changepassword); seed_demo sets the demo password as given (platform.md).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without collectstatic (tests, management commands) whitenoise serves from the finders.
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "admin:login"
# Messages (such as a new API credential's secret, shown once) stay server-side, not in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# -- REST framework -----------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# -- OpenAPI (portal/openapi.py): /api/schema/ and /api/docs/ ----------------------------------

SPECTACULAR_SETTINGS = {
    "TITLE": "OpenDEX API",
    "DESCRIPTION": "The public APIs OpenDEX speaks (Nexthink-compatible), described from the contracts.",
    "VERSION": "1.0.0",
    "DEFAULT_GENERATOR_CLASS": "portal.openapi.OpenDexSchemaGenerator",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PUBLIC": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "displayOperationId": False, "tryItOutEnabled": False},
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "ENUM_NAME_OVERRIDES": {"EngineStatus": "engine.models.Engine.Status"},
}

# -- OAuth 2.0 (client credentials, 15-minute tokens) ------------------------------------------

OAUTH2_PROVIDER_APPLICATION_MODEL = "portal.ApiCredential"
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": 900,
    "SCOPES": {
        "service:integration": "All public APIs",
        "nql": "NQL API",
        "remote_actions": "Remote actions API",
    },
    # Tokens hashed at rest (RFC 9700): only token_checksum (SHA-256) is stored, see portal/oauth.py.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # The toolkit's own endpoints (authorize, its token view) are not mounted: only client credentials, through
    # portal/api/views.py. Its RFC 9700 gates are turned on all the same (manage.py check --deploy is clean),
    # so that nothing mounted later would start with the discouraged behaviours (docs/decisions.md, "Security").
    "PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

# -- Query engine ---------------------------------------------------------------------------------

NXQL_TIMEOUT_SECONDS = float(os.environ.get("NXQL_TIMEOUT_SECONDS", "60"))

# -- Authentication throttling (platform.md) ---------------------------------------------------

AUTH_THROTTLE_WINDOW_SECONDS = 300
AUTH_THROTTLE_MAX_FAILURES_PER_ACCOUNT = 10
AUTH_THROTTLE_MAX_FAILURES_PER_ADDRESS = 100
# Behind a reverse proxy that sets X-Forwarded-For, throttle by the last address it added.
AUTH_THROTTLE_TRUST_X_FORWARDED_FOR = env_bool("AUTH_THROTTLE_TRUST_X_FORWARDED_FOR", False)

# -- Celery -------------------------------------------------------------------------------------


CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or database_url(
    DATABASES["default"], "sqla+postgresql+psycopg", socket_in_query=True
)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or database_url(
    DATABASES["default"], "db+postgresql+psycopg", socket_in_query=True
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True  # a crashed worker's task is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_RESULT_EXPIRES = 3600
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Redis broker (docs/deployment.md): a task a lost worker had taken is delivered again after this many
# seconds; longer than any task should run (a redelivered running task finds its work done or locked).
# Workers look for such tasks every tenth of it (at most every 10 s; kombu's default is every 100 s).
# (Only for Redis: kombu's SQLAlchemy transport passes its options to create_engine(), which refuses it.)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    _visibility_timeout = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _visibility_timeout,
        "unacked_restore_interval": max(1, min(10, _visibility_timeout // 10)),
        "unacked_restore_throttle": 1,
    }

# -- Logging: never a secret, always to stderr (portal/logs.py) --------------------------------------
# JSON lines (time, level, logger, message, request_id, task_id, exception) unless LOG_FORMAT=plain;
# plain is the default with DEBUG and under `make run` (runplatform).

LOG_FORMAT = log_format(os.environ.get("LOG_FORMAT"), DEBUG)
LOGGING = logging_config(LOG_FORMAT, os.environ.get("LOG_LEVEL", "INFO"))

# -- Metrics (portal/metrics.py): /metrics from this machine only, or with this bearer token -------------
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# -- Security (docs/decisions.md, "Security") --------------------------------------------------------------
# Cookies are Secure unless the site is served over plain HTTP: OPENDEX_PLAIN_HTTP=true (set by `make run`'s
# runplatform, which serves http://localhost; the default with DEBUG).
PLAIN_HTTP = env_bool("OPENDEX_PLAIN_HTTP", DEBUG)
SESSION_COOKIE_SECURE = not PLAIN_HTTP
CSRF_COOKIE_SECURE = not PLAIN_HTTP
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# HTTPS redirect: opt-in (a TLS proxy usually redirects itself); /metrics stays reachable over loopback HTTP.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False) and not PLAIN_HTTP
SECURE_REDIRECT_EXEMPT = [r"^metrics/?$"]
# HSTS is sent on HTTPS responses only; a year unless SECURE_HSTS_SECONDS says otherwise (0 turns it off).
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if PLAIN_HTTP else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients): opt-in.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = [origin.strip() for origin in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",")
                        if origin.strip()]

# -- NQL API (nql.md): rows answered by execute, rows written by an export -----------------------
NQL_EXECUTE_MAX_ROWS = int(os.environ.get("NQL_EXECUTE_MAX_ROWS", "1000"))
NQL_EXPORT_MAX_ROWS = int(os.environ.get("NQL_EXPORT_MAX_ROWS", "1000000"))

# -- Exporters (exporters.md) -------------------------------------------------------------------------
# Runs start this long after a period boundary, so that late data has arrived (seconds, under a day).
EXPORT_COMPLETENESS_DELAY = int(os.environ.get("EXPORT_COMPLETENESS_DELAY", "600"))
EXPORT_MAX_CATCH_UP = int(os.environ.get("EXPORT_MAX_CATCH_UP", "168"))  # windows one run delivers at most
# Retries: exponential backoff from the base, doubling, capped, with full jitter; Retry-After up to its cap.
EXPORT_RETRY_BASE_SECONDS = float(os.environ.get("EXPORT_RETRY_BASE_SECONDS", "1"))
EXPORT_RETRY_MAX_SECONDS = float(os.environ.get("EXPORT_RETRY_MAX_SECONDS", "60"))
EXPORT_RETRY_AFTER_MAX_SECONDS = float(os.environ.get("EXPORT_RETRY_AFTER_MAX_SECONDS", "300"))
EXPORT_CONNECT_TIMEOUT = float(os.environ.get("EXPORT_CONNECT_TIMEOUT", "5"))
EXPORT_READ_TIMEOUT = float(os.environ.get("EXPORT_READ_TIMEOUT", "30"))
EXPORT_QUERY_TIMEOUT_SECONDS = float(os.environ.get("EXPORT_QUERY_TIMEOUT_SECONDS", "600"))
