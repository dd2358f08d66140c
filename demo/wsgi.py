"""WSGI entry point, ``demo.wsgi:application``: gunicorn sync and gthread workers."""

import os

from django.core.wsgi import get_wsgi_application

from demo.startup import start_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

application = start_application(get_wsgi_application)
