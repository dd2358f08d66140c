"""Free-threaded interpreters found without asking, so that the GIL comparison runs with no option.

Where a free-threaded CPython >= 3.13 usually lives: ``python3.13t``/``python3.14t`` (any
``python3.Nt``) on ``PATH``; those uv manages (``uv python list --only-installed``); pyenv versions
whose name ends in ``t``; and ``~/.cache/free-threaded-python/<version>/``, where a home-built one
is installed (``./configure --disable-gil --prefix ~/.cache/free-threaded-python/<version>``).
Each candidate is asked what it is (``interpreters.probe``): only real free-threaded builds count,
once each, however many names lead to them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from server_matrix.planning.interpreters import Interpreter, InterpreterError, prepare, probe

MINIMUM = (3, 13)
PATH_NAME = re.compile(r"python3\.(\d+)t")
CACHE_DIRECTORY = Path.home() / ".cache" / "free-threaded-python"
UV_TIMEOUT_S = 30.0
PLACES = (
    "python3.Nt on PATH",
    "uv python list --only-installed",
    "pyenv versions ending in t",
    "~/.cache/free-threaded-python/",
)


@dataclass(frozen=True)
class Found:
    path: str
    origin: str  # where it was found: PATH, uv, pyenv, cache
    version: str


def _on_path() -> Iterator[tuple[str, str]]:
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError:
            continue
        for name in names:
            match = PATH_NAME.fullmatch(name)
            if match and int(match.group(1)) >= MINIMUM[1]:
                yield str(Path(directory) / name), "PATH"


def _uv() -> Iterator[tuple[str, str]]:
    uv = shutil.which("uv")
    if uv is None:
        return
    try:
        done = subprocess.run(
            [uv, "python", "list", "--only-installed", "--output-format", "json"],
            capture_output=True,
            text=True,
            timeout=UV_TIMEOUT_S,
        )
        entries = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return  # an old uv (no JSON output) or a broken one: nothing found there
    for entry in entries:
        if isinstance(entry, dict) and entry.get("variant") == "freethreaded" and entry.get("path"):
            yield str(entry["path"]), "uv"


def _pyenv() -> Iterator[tuple[str, str]]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for version in sorted(root.glob("*t")):
        for python in sorted((version / "bin").glob("python3*t")):
            yield str(python), "pyenv"


def _cache() -> Iterator[tuple[str, str]]:
    for python in sorted(CACHE_DIRECTORY.glob("*/bin/python3*t")):
        yield str(python), "~/.cache/free-threaded-python"


def discover() -> list[Found]:
    """Every free-threaded CPython >= 3.13 found, in the order of ``PLACES``; never the running interpreter."""
    seen = {_identity(sys.executable)}
    found = []
    for path, origin in (*_on_path(), *_uv(), *_pyenv(), *_cache()):
        identity = _identity(path)
        if identity is None or identity in seen:
            continue
        seen.add(identity)
        try:
            facts = probe(path)
        except InterpreterError:
            continue  # a pyenv shim for a version not selected, a broken install: not an interpreter here
        version = tuple(int(part) for part in re.findall(r"\d+", str(facts["version"]))[:2])
        if facts["free_threaded"] and facts["implementation"] == "CPython" and version >= MINIMUM:
            found.append(Found(path, origin, str(facts["version"])))
    return found


def _identity(path: str) -> tuple[int, int] | None:
    """The file behind every name (symlinks and hard links alike: python3.14 and python3.14t are one)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def choose_interpreters(
    requested: list[str] | None, look: bool, modules: tuple[str, ...], announce: Callable[[str], None]
) -> tuple[list[Interpreter], dict[str, object]]:
    """The interpreters to run (``--python``, else this one and every free-threaded one found, each prepared: see
    :func:`~server_matrix.planning.interpreters.prepare`) and, for the report, where discovery looked and what it
    found. InterpreterError when one cannot be used."""
    if requested:
        chosen, found = [(path, "--python") for path in requested], []
    else:
        discovered = discover() if look else []
        chosen = [(sys.executable, "this interpreter"), *((item.path, item.origin) for item in discovered)]
        found = [f"{item.path} (CPython {item.version}t, {item.origin})" for item in discovered]
        for line in found:
            announce(f"found a free-threaded interpreter: {line}")
    record = {
        "searched": not requested and look,
        "places": list(PLACES),
        "found": found,
        "reason": "--python given" if requested else None if look else "--no-discover",
    }
    return [prepare(path, modules, origin, announce=announce) for path, origin in chosen], record
