"""Free-threaded interpreters are found where they usually live: PATH, uv, pyenv, the cache directory.

Each test lays a real free-threaded interpreter out as that place would (a link to it, under the
name and in the directory layout each uses) and checks that discovery finds it there, once.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

import pytest

from server_matrix.planning import discovery
from server_matrix.planning.discovery import discover

# Looked up before any test empties PATH; beside this interpreter first (a pyenv shim needs pyenv on PATH).
UV = shutil.which("uv", path=sysconfig.get_path("scripts")) or shutil.which("uv")


@pytest.fixture(scope="module")
def free_threaded() -> Path:
    """A free-threaded interpreter on this machine (FREE_THREADED_PYTHON, or one in the cache directory)."""
    candidates = [
        os.environ.get("FREE_THREADED_PYTHON", ""),
        *map(str, sorted(discovery.CACHE_DIRECTORY.glob("*/bin/python3*t"))),
    ]
    for candidate in filter(None, candidates):
        if shutil.which(candidate):
            return Path(candidate)
    pytest.skip("no free-threaded interpreter in ~/.cache/free-threaded-python/ and FREE_THREADED_PYTHON is not set")


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment where discovery finds nothing: an empty PATH, pyenv and cache directory."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("PYENV_ROOT", str(empty))
    monkeypatch.setattr(discovery, "CACHE_DIRECTORY", empty)
    return tmp_path


def link(target: Path, at: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(target)
    return at


def test_nothing_found_where_there_is_nothing(nowhere: Path) -> None:
    assert discover() == []


def test_on_path(free_threaded: Path, nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = nowhere / "bin"
    link(free_threaded, directory / "python3.14t")
    link(free_threaded, directory / "python3.12t")  # too old a name to be looked at
    monkeypatch.setenv("PATH", str(directory))
    found = discover()
    assert [(item.path, item.origin) for item in found] == [(str(directory / "python3.14t"), "PATH")]
    assert found[0].version.startswith("3.1")


def test_in_pyenv(free_threaded: Path, nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = nowhere / "pyenv" / "versions"
    python = link(free_threaded, versions / "3.14.7t" / "bin" / "python3.14t")
    link(Path(sys.executable), versions / "3.11.7" / "bin" / "python3.11")  # not a `t` version
    monkeypatch.setenv("PYENV_ROOT", str(nowhere / "pyenv"))
    assert [(item.path, item.origin) for item in discover()] == [(str(python), "pyenv")]


def test_in_the_cache_directory_once_whatever_the_names(
    free_threaded: Path, nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = nowhere / "cache"
    first = link(free_threaded, cache / "3.14.7" / "bin" / "python3.14t")
    link(free_threaded, cache / "3.14.7-again" / "bin" / "python3.14t")  # the same interpreter: found once
    monkeypatch.setattr(discovery, "CACHE_DIRECTORY", cache)
    assert [(item.path, item.origin) for item in discover()] == [(str(first), "~/.cache/free-threaded-python")]


def test_managed_by_uv(free_threaded: Path, nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if UV is None:
        pytest.skip("uv is not installed")
    uv_directory, python_directory = nowhere / "uv-bin", nowhere / "python-bin"
    link(Path(UV).resolve(), uv_directory / "uv")
    python = link(free_threaded, python_directory / "python3")  # a name the PATH search does not look at
    monkeypatch.setenv("PATH", os.pathsep.join([str(uv_directory), str(python_directory)]))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(nowhere / "uv-pythons"))
    found = discover()
    assert [item.origin for item in found] == ["uv"]
    assert os.path.samefile(found[0].path, python)
