"""Settings of the sandq Django example.

Everything that differs between machines comes from the environment:
  SANDQ_REDIS_URL    Redis the sandq workers take jobs from
  SANDQ_PREFIX       key prefix of those workers (their --prefix)
  SANDQ_QUEUE        queue to submit to (default "default")
  DJANGO_SECRET_KEY, DJANGO_DEBUG, DJANGO_ALLOWED_HOSTS
"""
import importlib.util
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Use the client from this repository when it is not installed
# (pip install ./tools/python installs it properly).
if importlib.util.find_spec("sandq") is None:
    sys.path.insert(0, str(BASE_DIR.parent / "python"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "sandq-example-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"] + [
    h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h]

INSTALLED_APPS = ["averages"]

MIDDLEWARE = [
    "averages.middleware.limit_request_size",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sandq_site.urls"
WSGI_APPLICATION = "sandq_site.wsgi.application"
ASGI_APPLICATION = "sandq_site.asgi.application"

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
}]

# No database: the uploaded code lives only in the sandq job hash in Redis.
DATABASES = {}

# Uploads stay in memory (never a temporary file on disk): only the memory
# handler, and requests over MAX_REQUEST_BYTES are refused before Django
# reads their body (averages.middleware), far below the memory handler's
# own threshold.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
MAX_REQUEST_BYTES = 256 * 1024
MAX_CODE_BYTES = 64 * 1024

USE_TZ = True
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

SANDQ_REDIS_URL = os.environ.get("SANDQ_REDIS_URL", "redis://127.0.0.1:6379/0")
SANDQ_PREFIX = os.environ.get("SANDQ_PREFIX", "sandq")
SANDQ_QUEUE = os.environ.get("SANDQ_QUEUE", "default")
SANDQ_TIME_LIMIT_MS = int(os.environ.get("SANDQ_TIME_LIMIT_MS", "2000"))
SANDQ_WAIT_SECONDS = float(os.environ.get("SANDQ_WAIT_SECONDS", "10"))
