"""The Django project benchmarked by the server matrix (settings, ASGI/WSGI entry points, app)."""
