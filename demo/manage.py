#!/usr/bin/env python
"""Django's command-line utility for the demo; works as ``python demo/manage.py ...`` from anywhere."""

import os
import sys
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEMO_DIR.parent


def main() -> None:
    # `python demo/manage.py` puts demo/ itself first on sys.path, which would make `myapp`
    # and `settings` importable a second time under the wrong names: use the repo root instead.
    if sys.path and Path(sys.path[0] or ".").resolve() == DEMO_DIR:
        sys.path[0] = str(REPO_ROOT)
    elif str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:  # a malformed DEMO_* or DATABASE_URL: one line, as a server's boot says it
        sys.exit(f"demo: {error}")


if __name__ == "__main__":
    main()
