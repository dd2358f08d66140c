"""ASGI entry point, ``demo.asgi:application``: uvicorn, gunicorn ``-k asgi``, gunicorn + UvicornWorker, granian,
hypercorn, daphne. It answers the lifespan protocol, which Django's own handler refuses."""

import os

from django.core.asgi import get_asgi_application

from demo.lifespan import with_lifespan
from demo.startup import start_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

application = with_lifespan(start_application(get_asgi_application))
