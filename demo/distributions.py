"""The distributions whose versions the demo reports (``/myapp/*/runtime``): listed once, without
Django, so that the server matrix's report shows the same ones."""

from __future__ import annotations

SERVER_STACK = (  # what serves a request: the matrix's report has a column for each
    "django",
    "asgiref",
    "gunicorn",
    "uvicorn",
    "uvicorn-worker",
    "uvloop",
    "httptools",
    "granian",
    "hypercorn",
    "daphne",
    "brotli",
    "brotlicffi",
)
REPORTED_DISTRIBUTIONS = (*SERVER_STACK, "psycopg")
