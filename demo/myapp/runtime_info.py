"""What the server process really runs: the matrix asks this instead of trusting its own flags."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import sysconfig
import threading
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from demo.distributions import REPORTED_DISTRIBUTIONS
from demo.myapp.compression import loaded_brotli_module
from demo.myapp.provisioning import database_version


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


# Looked up once, at startup: importlib.metadata scans sys.path, far too slow per request.
PACKAGE_VERSIONS = {name: _installed_version(name) for name in REPORTED_DISTRIBUTIONS}
FREE_THREADED_BUILD = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """The GIL state now: an extension imported since startup may have switched it back on."""
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return True if is_gil_enabled is None else bool(is_gil_enabled())


def runtime_report() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "threads": threading.active_count(),
        "gil_enabled": gil_enabled(),
        "free_threaded_build": FREE_THREADED_BUILD,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "versions": PACKAGE_VERSIONS,
        "database_vendor": connections[DEFAULT_DB_ALIAS].vendor,
        "database_version": database_version(),
        "brotli_module_loaded": loaded_brotli_module(),
    }
