"""The pure parts: settings parsing, query filters, the shipped payload, the seed, the lock."""

from __future__ import annotations

import json
import site
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from demo.databases import describe_database, postgres_database, sqlite_database
from demo.environment import data_dir, env_float, env_int, env_list
from demo.file_lock import LockTimeout, exclusive_file_lock
from demo.myapp.posts_generator import generate_posts, render_posts
from demo.myapp.posts_payload import load_posts_json
from demo.myapp.seed_data import DEFAULT_ROW_COUNT, seed_rows
from demo.startup import version_tuple

POOL = {"pool_min": 2, "pool_max": 16, "pool_timeout": 10.0}


def test_postgres_url_is_parsed_without_extra_dependencies() -> None:
    database = postgres_database("postgres://bench%40user:p%3Ass@db.local:6543/bench?sslmode=disable", **POOL)
    assert database["ENGINE"] == "demo.postgresql"  # Django's backend, failing fast while the server is down
    assert (database["USER"], database["PASSWORD"]) == ("bench@user", "p:ss")
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("db.local", "6543", "bench")
    assert database["OPTIONS"] == {"sslmode": "disable", "pool": {"min_size": 2, "max_size": 16, "timeout": 10.0}}
    assert database["CONN_MAX_AGE"] == 0


def test_postgres_url_defaults_and_pool_bounds() -> None:
    database = postgres_database("postgresql://localhost/bench", pool_min=8, pool_max=4, pool_timeout=1.0)
    assert (database["HOST"], database["PORT"], database["USER"]) == ("localhost", "5432", "")
    assert database["OPTIONS"]["pool"] == {"min_size": 4, "max_size": 4, "timeout": 1.0}


@pytest.mark.parametrize(
    "url", ["mysql://u:p@h/db", "postgres://u:p@h:5432", "postgres://u:p@h:5432/", "postgres://h:notaport/db"]
)
def test_bad_postgres_urls_are_rejected(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        postgres_database(url, **POOL)


def test_database_descriptions_never_show_the_password(tmp_path: Path) -> None:
    postgres = describe_database(postgres_database("postgres://bench:s3cret@127.0.0.1:5999/demo", **POOL))
    assert postgres == "PostgreSQL database 'demo' at bench@127.0.0.1:5999"
    assert "s3cret" not in postgres
    assert describe_database(sqlite_database(tmp_path)) == f"SQLite database {tmp_path / 'demo.sqlite3'}"


def test_sqlite_waits_on_locks_and_begins_immediate(tmp_path: Path) -> None:
    options = sqlite_database(tmp_path)["OPTIONS"]
    assert options["timeout"] >= 5
    assert options["transaction_mode"] == "IMMEDIATE"  # Django >= 5.1 is required


def test_environment_values_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_X", "0.25")
    assert env_float("DEMO_X", 1.0, minimum=0.0, maximum=10.0) == 0.25
    monkeypatch.setenv("DEMO_X", "")
    assert env_float("DEMO_X", 1.0, minimum=0.0, maximum=10.0) == 1.0
    for bad in ("abc", "-1", "nan", "inf"):  # inf: a gateway view slept forever
        monkeypatch.setenv("DEMO_X", bad)
        with pytest.raises(ImproperlyConfigured, match="DEMO_X"):
            env_float("DEMO_X", 1.0, minimum=0.0, maximum=10.0)
    monkeypatch.setenv("DEMO_X", "1e10")  # finite, yet time.sleep(1e10) raised OverflowError in a view
    with pytest.raises(ImproperlyConfigured, match=r"DEMO_X must be >= 0.0 and <= 10.0, got '1e10'"):
        env_float("DEMO_X", 1.0, minimum=0.0, maximum=10.0)
    monkeypatch.setenv("DEMO_Q", "12")
    with pytest.raises(ImproperlyConfigured, match="DEMO_Q must be >= 0 and <= 11"):
        env_int("DEMO_Q", 11, minimum=0, maximum=11)
    monkeypatch.setenv("DEMO_HOSTS", " a.example, ,b.example ")
    assert env_list("DEMO_HOSTS") == ["a.example", "b.example"]


def test_data_dir_defaults_to_the_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEMO_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data_dir() == tmp_path.resolve() / "loadgen-demo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    default = data_dir()
    assert default == (Path.home() / ".cache" / "loadgen-demo").resolve()
    assert not any(default.is_relative_to(Path(p).resolve()) for p in site.getsitepackages())
    monkeypatch.setenv("DEMO_DATA_DIR", str(tmp_path / "explicit"))
    assert data_dir() == (tmp_path / "explicit").resolve()


@pytest.mark.parametrize(
    ("version", "expected"),
    [("3.12.0", (3, 12, 0)), ("3.13", (3, 13)), ("3.12.0rc1", (3, 12, 0)), ("3.11.1", (3, 11, 1))],
)
def test_version_tuple(version: str, expected: tuple[int, ...]) -> None:
    assert version_tuple(version) == expected


def test_installed_asgiref_is_new_enough() -> None:
    from demo.startup import require_asgiref

    require_asgiref()  # raises StartupError when older than 3.12


def test_shipped_posts_are_the_generated_ones() -> None:
    shipped = load_posts_json()
    assert shipped == render_posts(generate_posts()), "regenerate with: python -m demo.myapp.posts_generator"
    posts = json.loads(shipped)
    assert 25_000 <= len(shipped) <= 30_000
    assert len(posts) == 100
    assert [post["id"] for post in posts] == list(range(1, 101))
    assert {post["userId"] for post in posts} == set(range(1, 11))
    assert all(set(post) == {"userId", "id", "title", "body"} and post["title"] and post["body"] for post in posts)


def test_seed_rows_are_deterministic() -> None:
    rows = seed_rows()
    assert len(rows) == DEFAULT_ROW_COUNT == 100
    assert rows[0] == {"id": 1, "name": "item-0001", "value": 1}
    assert rows[-1] == {"id": 100, "name": "item-0100", "value": 0}
    assert seed_rows(3) == rows[:3]


def test_file_lock_excludes_and_times_out(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with (
        exclusive_file_lock(lock, timeout=1),
        pytest.raises(LockTimeout, match="timed out"),
        exclusive_file_lock(lock, timeout=0.2),
    ):
        pass
    with exclusive_file_lock(lock, timeout=0.2):
        pass


@pytest.mark.usefixtures("django_app")
def test_row_filters_are_typed() -> None:
    from django.http import QueryDict

    from demo.myapp.row_filters import InvalidRowFilter, parse_row_filters

    assert parse_row_filters(QueryDict("")) == {}
    assert parse_row_filters(QueryDict("name=item-0003&value__gte=2&id__lt=-5")) == {
        "name": "item-0003",
        "value__gte": 2,
        "id__lt": -5,
    }
    with pytest.raises(InvalidRowFilter, match="unknown filter 'pk'"):
        parse_row_filters(QueryDict("pk=1"))
    with pytest.raises(InvalidRowFilter, match="given 2 times"):
        parse_row_filters(QueryDict("name=a&name=b"))
