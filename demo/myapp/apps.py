"""App registration (label ``myapp``, as in the original benchmark)."""

from django.apps import AppConfig


class MyappConfig(AppConfig):
    name = "demo.myapp"
    label = "myapp"
    verbose_name = "Benchmark endpoints"
