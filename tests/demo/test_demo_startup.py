"""Boot-time behaviour: a broken database or setting stops the server with one clear line,
``manage.py seed`` creates and seeds the database, and startup leaves nothing for the first
requests to import."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

import pytest
from demo_expectations import ENDPOINTS, MODES, expected_rows
from demo_servers import (
    REPO_ROOT,
    TESTS_DIR,
    app_traceback_frames,
    assert_clear_boot_failure,
    demo_environment,
    free_port,
    run_until_exit,
    server_command,
)

# A server that cannot start must have exited by then (connection refused is immediate).
EXIT_DEADLINE = 30.0
CLOSED_PORT_SERVERS = ("gunicorn-sync", "gunicorn-uvicorn-worker", "gunicorn-asgi", "uvicorn")
# Without the `postgres` extra the server cannot even try, and must say so instead.
POSTGRES_FAILURE = (
    "Connection refused" if importlib.util.find_spec("psycopg") else "DATABASE_URL is set but psycopg is not installed"
)


@pytest.mark.parametrize("kind", CLOSED_PORT_SERVERS)
def test_unreachable_postgres_stops_the_server_at_boot(tmp_path: Path, kind: str) -> None:
    closed_port = free_port()  # nothing listens there once the probe socket is closed
    url = f"postgres://demo:hunter2@127.0.0.1:{closed_port}/bench"
    env = demo_environment(tmp_path, {"DATABASE_URL": url})
    result = run_until_exit(server_command(kind, free_port(), workers=2), env, EXIT_DEADLINE)
    assert_clear_boot_failure(
        result, names=f"PostgreSQL database 'bench' at demo@127.0.0.1:{closed_port}", reason=POSTGRES_FAILURE
    )
    assert "hunter2" not in result.stderr


def test_a_connect_timeout_in_the_url_is_kept_by_the_boot_probe(tmp_path: Path) -> None:
    """A libpq option of DATABASE_URL's query string; the probe passed connect_timeout twice (a TypeError)."""
    closed_port = free_port()
    url = f"postgres://demo@127.0.0.1:{closed_port}/bench?connect_timeout=3"
    env = demo_environment(tmp_path, {"DATABASE_URL": url})
    result = run_until_exit(server_command("gunicorn-sync", free_port(), workers=1), env, EXIT_DEADLINE)
    assert_clear_boot_failure(
        result, names=f"PostgreSQL database 'bench' at demo@127.0.0.1:{closed_port}", reason=POSTGRES_FAILURE
    )


def test_unusable_data_dir_stops_the_server_at_boot(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    env = demo_environment(not_a_dir / "data")
    result = run_until_exit(server_command("gunicorn-gthread", free_port(), workers=1), env, EXIT_DEADLINE)
    assert_clear_boot_failure(result, names="SQLite database", reason="cannot create the data directory")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEMO_GATEWAY_SCALE", "fast"),
        ("DEMO_BROTLI_QUALITY", "12"),
        ("DEMO_ROWS", "-1"),
        ("DATABASE_URL", "mysql://u:p@h/db"),
    ],
)
def test_bad_settings_stop_the_server_at_boot(tmp_path: Path, variable: str, value: str) -> None:
    env = demo_environment(tmp_path, {variable: value})
    result = run_until_exit(server_command("uvicorn", free_port(), workers=1), env, EXIT_DEADLINE)
    assert_clear_boot_failure(result, names=variable, reason="")


def test_manage_py_seed_creates_and_reseeds(tmp_path: Path) -> None:
    """Run from another directory without PYTHONPATH: manage.py finds the project by itself."""
    env = demo_environment(tmp_path)
    env.pop("PYTHONPATH")
    manage = [sys.executable, str(REPO_ROOT / "demo" / "manage.py")]
    for rows in (7, 0, 100):  # 0: the original benchmark's empty table
        result = run_until_exit([*manage, "seed", "--rows", str(rows)], env, EXIT_DEADLINE, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"seeded {rows} rows" in result.stdout
        with sqlite3.connect(tmp_path / "demo.sqlite3") as database:
            stored = database.execute("SELECT id, name, value FROM myapp_item ORDER BY id").fetchall()
        assert [dict(zip(("id", "name", "value"), row, strict=True)) for row in stored] == expected_rows()[:rows]
    result = run_until_exit([*manage, "check"], env, EXIT_DEADLINE, cwd=tmp_path)
    assert result.returncode == 0 and "no issues" in result.stdout, result


@pytest.mark.parametrize("rows", [-1, 1_000_001])
def test_manage_py_seed_refuses_a_row_count_out_of_range(tmp_path: Path, rows: int) -> None:
    """A million and one rows were seeded (about 300 MB); 10,000,000,000 would have exhausted the memory."""
    result = run_until_exit(
        [sys.executable, "demo/manage.py", "seed", "--rows", str(rows)], demo_environment(tmp_path), EXIT_DEADLINE
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"CommandError: --rows must be >= 0 and <= 1000000, got {rows}", result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("DEMO_GATEWAY_SCALE", "fast", "DEMO_GATEWAY_SCALE must be a number, got 'fast'"),
        ("DEMO_ROWS", "1.5", "DEMO_ROWS must be an integer, got '1.5'"),
        # finite, yet over what a sleep or a lock wait takes: OverflowError in a view, not at boot
        ("DEMO_GATEWAY_SCALE", "1e10", "DEMO_GATEWAY_SCALE must be >= 0.0 and <= 1000.0, got '1e10'"),
        ("DEMO_DB_POOL_TIMEOUT", "1e10", "DEMO_DB_POOL_TIMEOUT must be >= 0.1 and <= 3600.0, got '1e10'"),
        # a million and one rows: seeded (about 300 MB); 1e10 exhausted the memory
        ("DEMO_ROWS", "1000001", "DEMO_ROWS must be >= 0 and <= 1000000, got '1000001'"),
        ("DATABASE_URL", "mysql://u:p@h/db", "DATABASE_URL must start with postgres:// or postgresql://"),
    ],
)
def test_manage_py_with_a_bad_setting_says_it_in_one_line(tmp_path: Path, variable: str, value: str, line: str) -> None:
    """As a server's boot does; it was Django's traceback ending in ImproperlyConfigured."""
    result = run_until_exit(
        [sys.executable, "demo/manage.py", "seed"], demo_environment(tmp_path, {variable: value}), EXIT_DEADLINE
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"demo: {line}") and len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("psycopg") is None, reason="psycopg is not installed: Django itself fails to load"
)
def test_manage_py_seed_reports_an_unreachable_database(tmp_path: Path) -> None:
    env = demo_environment(tmp_path, {"DATABASE_URL": f"postgres://demo@127.0.0.1:{free_port()}/bench"})
    result = run_until_exit([sys.executable, "demo/manage.py", "seed"], env, EXIT_DEADLINE)
    assert result.returncode != 0
    assert "CommandError: PostgreSQL database 'bench'" in result.stderr
    assert "Connection refused" in result.stderr
    assert not app_traceback_frames(result.stderr), result.stderr


def test_first_requests_import_nothing(tmp_path: Path) -> None:
    """Startup warmed everything: the first requests of a fresh process import no module,
    except the brotli module, which the brotli views import on first use by design."""
    targets = [f"/myapp/{mode}/{endpoint}" for mode in MODES for endpoint in ENDPOINTS if endpoint != "brotli"]
    targets += ["/myapp/sync/json_query?value=3", "/myapp/async/json_query?color=red", "/myapp/nope"]
    probe = [sys.executable, str(TESTS_DIR / "first_request_probe.py")]
    result = run_until_exit([*probe, *targets, "/myapp/sync/brotli"], demo_environment(tmp_path), EXIT_DEADLINE)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["statuses"] == [200] * (len(targets) - 2) + [400, 404, 200]
    assert [name for name in report["imported"] if "brotli" not in name and name != "_cffi_backend"] == []
