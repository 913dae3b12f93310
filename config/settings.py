"""Settings, read from the environment once (SPEC §8)."""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_bool(name, default=False):
    value = os.environ.get(name, "")
    if not value.strip():
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    value = os.environ.get(name, "")
    items = value.split(",") if value.strip() else default
    return [item.strip() for item in items if item.strip()]


def _read_or_create_secret_key(data_dir):
    """Keep one generated key in DATA_DIR so sessions survive restarts."""
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key
    except FileExistsError:  # pragma: no cover - lost a race with another process
        return path.read_text().strip()


HOST = env_str("HOST", "127.0.0.1")
PORT = env_int("PORT", 8000)
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("SECRET_KEY") or _read_or_create_secret_key(DATA_DIR)
DEBUG = env_bool("DEBUG", False)
# Server-side encryption's master key, base64 of 32 bytes; unset: a key file generated
# once in DATA_DIR (buckets/envelope.py). Never logged.
OSS_MASTER_KEY = env_str("OSS_MASTER_KEY")

# Virtual-host style requests arrive as <bucket>.<OSS_DOMAIN>.
OSS_DOMAIN = env_str("OSS_DOMAIN", "").strip(".").lower()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"])
if OSS_DOMAIN and "*" not in ALLOWED_HOSTS:
    ALLOWED_HOSTS += [OSS_DOMAIN, "." + OSS_DOMAIN]

# The region ListBuckets, GetBucketInfo and GetBucketLocation name. V4 signatures are
# checked with the region in their own scope; it is not compared with this one.
OSS_REGION = env_str("OSS_REGION", "cn-hangzhou")
ORIGIN_TIMEOUT_SECONDS = float(env_str("ORIGIN_TIMEOUT_SECONDS", "10"))
# The whole origin fetch (redirects, secondary origin and body included) ends by then:
# the per-read timeout alone lets an origin that drips a byte at a time run forever.
ORIGIN_DEADLINE_SECONDS = float(env_str("ORIGIN_DEADLINE_SECONDS", "600"))
ORIGIN_MAX_BYTES = env_int("ORIGIN_MAX_BYTES", 5 * 1024**3)
ORIGIN_ALLOW_PRIVATE = env_bool("ORIGIN_ALLOW_PRIVATE", False)
BACK_TO_ORIGIN_MAX_RULES = env_int("BACK_TO_ORIGIN_MAX_RULES", 5)
if not 1 <= BACK_TO_ORIGIN_MAX_RULES <= 20:  # OSS's API allows at most 20 rules
    raise ImproperlyConfigured("BACK_TO_ORIGIN_MAX_RULES must be from 1 to 20.")
# How long a request waits for another request's fetch of the same object.
MIRROR_WAIT_SECONDS = float(env_str("MIRROR_WAIT_SECONDS", "300"))
# Origin fetches per server process: beyond it a miss waits MIRROR_QUEUE_SECONDS for a
# slot, then gets 503 SlowDown, so slow origins can never take every thread from hits.
WEB_THREADS = env_int("WEB_THREADS", 32)
MIRROR_MAX_CONCURRENT = max(1, env_int("MIRROR_MAX_CONCURRENT", WEB_THREADS // 2))
MIRROR_QUEUE_SECONDS = float(env_str("MIRROR_QUEUE_SECONDS", "0.5"))

# Below this much free space /healthz reports storage as not ok.
MIN_FREE_BYTES = env_int("MIN_FREE_BYTES", 64 * 1024**2)
# Each worker sweeps temporary files of dead processes (and very old ones) this often.
TMP_SWEEP_SECONDS = float(env_str("TMP_SWEEP_SECONDS", "60"))
# Multipart uploads neither completed nor aborted this long after they began are
# aborted by that sweep, and their parts removed.
MULTIPART_MAX_AGE_SECONDS = float(
    env_str("MULTIPART_MAX_AGE_SECONDS", str(7 * 24 * 3600))
)
# Buckets' lifecycle rules are applied (expired objects deleted, expired multipart
# uploads aborted) by that sweep at most this often, across all workers and servers.
LIFECYCLE_INTERVAL_SECONDS = float(env_str("LIFECYCLE_INTERVAL_SECONDS", "3600"))
# Buffered access-log lines (PutBucketLogging) are written into their target
# buckets at most this often; enabled inventories are checked for their Daily or
# Weekly turn at most every INVENTORY_INTERVAL_SECONDS (both across all workers).
LOGGING_INTERVAL_SECONDS = float(env_str("LOGGING_INTERVAL_SECONDS", "300"))
INVENTORY_INTERVAL_SECONDS = float(env_str("INVENTORY_INTERVAL_SECONDS", "3600"))
# A RestoreObject of an Archive/ColdArchive/DeepColdArchive object is ready this long
# after it was asked (real OSS takes a minute to hours); no job runs, the state is
# computed from the time of the request.
RESTORE_SECONDS = float(env_str("RESTORE_SECONDS", "2"))

# Object bytes live under DATA_DIR/objects; partial writes under DATA_DIR/tmp.
OBJECT_STORAGE_DIR = DATA_DIR / "objects"
OBJECT_TMP_DIR = DATA_DIR / "tmp"
OBJECT_TMP_DIR.mkdir(parents=True, exist_ok=True)
OBJECT_STORAGE_DIR.mkdir(parents=True, exist_ok=True)
# OBJECT_STORAGE=s3 keeps object and multipart-part bytes in an S3-compatible store
# instead (django-storages' S3 backend, its own setting names); DATA_DIR then holds
# only temporary files. buckets/blob_store.py is the only module that knows which.
OBJECT_STORAGE = env_str("OBJECT_STORAGE", "local").strip().lower()
if OBJECT_STORAGE not in {"local", "s3"}:
    raise ImproperlyConfigured("OBJECT_STORAGE must be local or s3")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID") or None
AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY") or None
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME") or None
# A prefix inside the bucket for this installation's blobs (several may share one).
AWS_LOCATION = env_str("AWS_LOCATION")
# Self-hosted stores (SeaweedFS, MinIO) answer path-style requests only.
AWS_S3_ADDRESSING_STYLE = (
    env_str("AWS_S3_ADDRESSING_STYLE", "path" if AWS_S3_ENDPOINT_URL else "") or None
)
# A blob in the store that no row names is removed by the sweeps only once it is
# this old: another server may be between its upload and its row's commit.
OBJECT_STORAGE_ORPHAN_SECONDS = float(env_str("OBJECT_STORAGE_ORPHAN_SECONDS", "3600"))
if OBJECT_STORAGE == "s3" and not AWS_STORAGE_BUCKET_NAME:
    raise ImproperlyConfigured("OBJECT_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
# Behind nginx (deploy/nginx.conf, X-Accel-Redirect mode): a whole-object GET of a
# local blob is answered with X-Accel-Redirect: <this><blob path> and nginx sends the
# file. Empty (the default): gunicorn sends every byte itself (buckets/accel.py).
ACCEL_REDIRECT_LOCATION = env_str("ACCEL_REDIRECT_LOCATION")
if ACCEL_REDIRECT_LOCATION and not (
    ACCEL_REDIRECT_LOCATION.startswith("/") and ACCEL_REDIRECT_LOCATION.endswith("/")
):
    raise ImproperlyConfigured(
        "ACCEL_REDIRECT_LOCATION must look like /_protected_objects/"
    )

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "buckets",
    "origin",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost but one: it records the final answer of each OSS request to a
    # logged bucket, whatever answered it (buckets/access_logging.py).
    "buckets.access_logging.AccessLogMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "buckets.middleware.VirtualHostBucketMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Outside Back-to-Origin, so that what it answers gets CORS headers too.
    "buckets.cors.CorsHeadersMiddleware",
    "origin.middleware.BackToOriginMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# Object URLs are not console pages: never rewrite them with a trailing slash.
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

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # Each server thread keeps its connection between requests, as on
            # PostgreSQL: a new one per request (open, three PRAGMAs, close) cost
            # about as much as the two queries of a 1 KiB hit (bench/RESULTS.md).
            "CONN_MAX_AGE": 60,
            "OPTIONS": {
                # WAL lets readers run beside a writer; IMMEDIATE transactions plus a
                # busy timeout make writers queue instead of failing with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "buckets.api_auth.OssSignatureAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OSS Back-to-Origin API",
    "DESCRIPTION": "Buckets, Back-to-Origin rules, the fetch log and the rule dry run. "
    "Authenticate with the console session (CSRF token required) or an OSS access-key signature.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page loads Swagger UI from this server, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console-home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# whitenoise serves straight from the app and project static folders, so a fresh
# checkout needs no collectstatic step.
WHITENOISE_USE_FINDERS = True

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(OBJECT_STORAGE_DIR)},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if OBJECT_STORAGE == "s3":
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {}}

# Uploads larger than this spool to DATA_DIR/tmp, on the same file system as the
# object store, so committing them is a rename.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(OBJECT_TMP_DIR)
FILE_UPLOAD_PERMISSIONS = 0o640
DATA_UPLOAD_MAX_NUMBER_FILES = 1000

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # 404s and 403s are ordinary answers of an object store, not warnings.
    "loggers": {"django.request": {"level": "ERROR"}},
}

# The header the TLS-terminating proxy in front sets to the request's TLS version
# (nginx: `proxy_set_header X-Forwarded-TLS-Version $ssl_protocol;`, deploy/nginx.conf).
# A bucket's HTTPS configuration (PutBucketHttpsConfig) refuses other TLS versions;
# a request without the header came over plain HTTP, which that setting leaves alone.
TLS_VERSION_HEADER = env_str("TLS_VERSION_HEADER", "X-Forwarded-TLS-Version")

# The account's QoS caps (GetUserQoSInfo, enforced by buckets/qos.py on the traffic
# of every account's buckets): bandwidth in Gbit/s (OSS's unit), requests per
# second; -1 is no cap. Intranet: clients on loopback or private addresses.
QOS_ACCOUNT_LIMITS = {
    "total_upload_bw": env_int("QOS_TOTAL_UPLOAD_BW", 10),
    "intranet_upload_bw": env_int("QOS_INTRANET_UPLOAD_BW", -1),
    "extranet_upload_bw": env_int("QOS_EXTRANET_UPLOAD_BW", -1),
    "total_download_bw": env_int("QOS_TOTAL_DOWNLOAD_BW", 10),
    "intranet_download_bw": env_int("QOS_INTRANET_DOWNLOAD_BW", -1),
    "extranet_download_bw": env_int("QOS_EXTRANET_DOWNLOAD_BW", -1),
    "total_qps": env_int("QOS_TOTAL_QPS", -1),
    "intranet_qps": env_int("QOS_INTRANET_QPS", -1),
    "extranet_qps": env_int("QOS_EXTRANET_QPS", -1),
}

# RTMP live channels (buckets/live/): `manage.py live_ingest` serves RTMP publishes on
# LIVE_RTMP_HOST:LIVE_RTMP_PORT (gunicorn starts it beside itself; 0: no ingest, and
# PutLiveChannel's PublishUrls then name nothing). A publisher that sent nothing for
# LIVE_STALE_SECONDS is gone (its channel reads Idle), whatever became of the ingest.
LIVE_RTMP_HOST = env_str("LIVE_RTMP_HOST", HOST or "127.0.0.1")
LIVE_RTMP_PORT = env_int("LIVE_RTMP_PORT", 1935)
LIVE_HEARTBEAT_SECONDS = float(env_str("LIVE_HEARTBEAT_SECONDS", "2"))
LIVE_STALE_SECONDS = float(env_str("LIVE_STALE_SECONDS", "15"))

# Warm-up and refresh jobs (SPEC §11) run on Django's Tasks API with the database
# backend; `manage.py run_jobs` is the worker. gunicorn starts JOB_WORKERS of them
# beside itself (0: none; then run `manage.py run_jobs` yourself). A running job whose
# heartbeat is older than JOB_STALE_SECONDS lost its worker and is queued again.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}
JOB_WORKERS = env_int("JOB_WORKERS", 1)
JOB_STALE_SECONDS = float(env_str("JOB_STALE_SECONDS", "15"))
