"""Root URLconf: everything lives under /myapp/; errors are JSON."""

from django.urls import include, path

urlpatterns = [path("myapp/", include("demo.myapp.urls"))]

handler400 = "demo.myapp.http_errors.bad_request"
handler404 = "demo.myapp.http_errors.not_found"
handler500 = "demo.myapp.http_errors.server_error"
