"""ASGI entry point, ``demo.asgi:application``: uvicorn, gunicorn ``-k asgi``, gunicorn + UvicornWorker."""

import os

from django.core.asgi import get_asgi_application

from demo.startup import start_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

application = start_application(get_asgi_application)
