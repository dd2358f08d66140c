"""Fixtures of the demo tests: in-process Django on a temporary SQLite, real servers, wrk, PostgreSQL."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[1]
# The demo must import from this checkout, and the helper modules beside this file must import
# whatever pytest's import mode.
for entry in (str(TESTS_DIR), str(REPO_ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from demo_expectations import TEST_GATEWAY_SCALE  # noqa: E402
from demo_servers import DemoServer, StartServer, running_server  # noqa: E402


@pytest.fixture(scope="session")
def django_app(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Django set up in this process on a fresh, provisioned SQLite database (100 seeded rows).

    Always SQLite, whatever DATABASE_URL says: PostgreSQL is exercised through real servers.
    The environment is restored afterwards; settings were read once, at setup.
    """
    saved = dict(os.environ)
    for key in [key for key in os.environ if key.startswith("DEMO_")] + ["DATABASE_URL"]:
        os.environ.pop(key, None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "demo.settings",
            "DEMO_DATA_DIR": str(tmp_path_factory.mktemp("demo-in-process")),
            "DEMO_GATEWAY_SCALE": str(TEST_GATEWAY_SCALE),
        }
    )
    try:
        import django
        from django.test.utils import setup_test_environment

        django.setup()
        setup_test_environment()  # lets the test client's "testserver" host through
        from demo.myapp.provisioning import provision_database

        provision_database()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(kind, workers=2, extra_env=None)``: a ready server, stopped at teardown."""
    with ExitStack() as stack:
        counter = itertools.count()

        def start(kind: str, **options: object) -> DemoServer:
            return stack.enter_context(running_server(kind, tmp_path / f"server-{next(counter)}", **options))

        yield start


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        pytest.skip('DATABASE_URL is not set; start PostgreSQL with: eval "$(bash .ci/postgres.sh)"')
    return url
