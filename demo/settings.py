"""Django settings for benchmarking: no debug overhead, no per-request logging, no network.

Every knob is an environment variable, documented in demo/README.md.
"""

from __future__ import annotations

import os

from demo.databases import postgres_database, sqlite_database
from demo.endpoints import MAX_GATEWAY_SCALE
from demo.environment import data_dir, env_float, env_int, env_list
from demo.myapp.seed_data import DEFAULT_ROW_COUNT, MAX_ROW_COUNT

# A fixed key keeps runs reproducible; nothing here signs anything that must stay secret.
SECRET_KEY = os.environ.get("DEMO_SECRET_KEY", "").strip() or "loadgen-demo-not-a-secret"
# DEBUG=True would keep every SQL query in memory and add per-request work.
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", *env_list("DEMO_ALLOWED_HOSTS")]

# contenttypes/auth/sessions/admin are left out: the API has no users, forms or sessions.
INSTALLED_APPS = ["demo.myapp.apps.MyappConfig"]

# Minimal stack for an API benchmark. Both classes are sync- and async-capable, so under ASGI
# the chain stays async and only the view hops to a thread. SecurityMiddleware adds the usual
# hardening headers; CommonMiddleware sets Content-Length (keep-alive without chunking) and
# handles APPEND_SLASH. Session, CSRF, auth, messages and X-Frame-Options are left out: this app
# has no state to protect and they would only add work to every request.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"
ASGI_APPLICATION = "demo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,  # with DEBUG=False Django wraps this in the cached loader
        "OPTIONS": {"context_processors": []},
    }
]

DEMO_DATA_DIR = data_dir()
DEMO_DB_POOL_MIN = env_int("DEMO_DB_POOL_MIN", 2, minimum=1)
DEMO_DB_POOL_MAX = env_int("DEMO_DB_POOL_MAX", 16, minimum=1)
# An hour: far beyond any useful wait, far within what a lock wait accepts (about 292 years).
DEMO_DB_POOL_TIMEOUT = env_float("DEMO_DB_POOL_TIMEOUT", 10.0, minimum=0.1, maximum=3600.0)
_database_url = os.environ.get("DATABASE_URL", "").strip()
DATABASES = {
    "default": (
        postgres_database(
            _database_url,
            pool_min=DEMO_DB_POOL_MIN,
            pool_max=DEMO_DB_POOL_MAX,
            pool_timeout=DEMO_DB_POOL_TIMEOUT,
        )
        if _database_url
        else sqlite_database(DEMO_DATA_DIR)
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Multiplies the simulated upstream delay of the gateway_* views (0.01 turns 10 s into 0.1 s).
DEMO_GATEWAY_SCALE = env_float("DEMO_GATEWAY_SCALE", 1.0, minimum=0.0, maximum=MAX_GATEWAY_SCALE)
# Brotli quality of the brotli views; 11 (the maximum) is what the original benchmark used.
DEMO_BROTLI_QUALITY = env_int("DEMO_BROTLI_QUALITY", 11, minimum=0, maximum=11)
# Rows the table holds once a server has booted, at most a million; 0 is the original benchmark's empty table.
DEMO_ROWS = env_int("DEMO_ROWS", DEFAULT_ROW_COUNT, minimum=0, maximum=MAX_ROW_COUNT)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Errors only, to stderr: per-request log lines would distort the measurements. A foreign Host
# header is the client's fault (answered 400), yet Django logs it as an ERROR with a traceback:
# silenced, so the log holds only the server's own errors.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "level": "ERROR"}},
    "root": {"handlers": ["stderr"], "level": "ERROR"},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        "django.security.DisallowedHost": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}
