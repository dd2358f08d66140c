"""The environment a server process runs in: where it imports the demo from, its GIL and demo knobs.

The server's interpreter may be another Python (a free-threaded venv), so ``PYTHONPATH`` must not
carry this interpreter's packages: it holds one directory with links to this checkout's ``demo``
and ``server_matrix`` packages (the latter for the asgi-threads launcher), nothing else.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from server_matrix.planning.gil import GilSetting, environment_overrides
from server_matrix.planning.interpreters import cache_root

SOURCE_ROOT = Path(__file__).resolve().parents[2]
SERVED_PACKAGES = ("demo", "server_matrix")
# Variables of the caller's environment that would change what a server does behind our back.
REMOVED = (
    "WEB_CONCURRENCY",
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "DJANGO_SETTINGS_MODULE",
    "GUNICORN_CMD_ARGS",
    "PYTHON_GIL",
)
REMOVED_PREFIXES = ("GRANIAN_", "UVICORN_")  # their command lines read every option from these too


def import_root() -> Path:
    """A directory holding only links to ``demo`` and ``server_matrix``, made once per checkout."""
    digest = hashlib.sha256(str(SOURCE_ROOT).encode()).hexdigest()[:12]
    root = cache_root() / "import-roots" / digest
    root.mkdir(parents=True, exist_ok=True)
    for package in SERVED_PACKAGES:
        link, target = root / package, SOURCE_ROOT / package
        if not (link.is_symlink() and Path(os.readlink(link)) == target):
            temporary = root / f".{package}.{os.getpid()}"
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(target, target_is_directory=True)
            os.replace(temporary, link)
    return root


def import_root_failure() -> str | None:
    """Before the run: why the import root cannot be made (a cache read-only, full, or a file in the way), else
    None. The run stopped at its first server start, after --out was made: ``server-matrix: ~/.cache/loadgen-matrix:
    Read-only file system``, exit 1."""
    try:
        import_root()
    except OSError as error:
        reason = f"{error.filename}: {error.strerror or error}"
        return f"the servers import the demo through links in {cache_root()}, which cannot be made: {reason}"
    return None


def server_environment(gil: GilSetting, demo: Mapping[str, str], host: str = "127.0.0.1") -> dict[str, str]:
    """``demo``: the demo's variables (``DEMO_GATEWAY_SCALE``, ``DEMO_ROWS``), over the caller's. ``host``: the address
    the server listens on, which the runner's checks and loadgen send as ``Host``: the demo answers a host it does not
    allow with a 400 (and logs nothing), so any other than 127.0.0.1 is added to it."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in REMOVED and not name.startswith(REMOVED_PREFIXES)
    }
    environment["PYTHONPATH"] = str(import_root())
    environment["DJANGO_SETTINGS_MODULE"] = "demo.settings"
    environment.update(demo)
    environment["PYTHONUNBUFFERED"] = "1"  # log lines reach the log file as they happen
    environment["DEMO_ALLOWED_HOSTS"] = f"{environment.get('DEMO_ALLOWED_HOSTS', '')},{host}"  # empty items ignored
    for name, value in environment_overrides(gil).items():
        if value is not None:
            environment[name] = value
    return environment
