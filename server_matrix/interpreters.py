"""The interpreters that run the servers: what build each is, and a cached venv with the demo's dependencies.

The running interpreter is used as it is when it can already import the demo's dependencies
(the CI path: no network, no venv). Any other interpreter gets a virtual environment under
``~/.cache/loadgen-matrix/venvs/``, created once and reused while its requirement list and
base interpreter stay the same.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The demo's dependencies (pyproject's `demo` extra, plus uvloop, which uvicorn picks up when present).
DEMO_REQUIREMENTS = (
    "django>=5.2", "asgiref>=3.12", "gunicorn>=24", "uvicorn>=0.30", "uvicorn-worker>=0.2",
    "uvloop>=0.19", "httptools>=0.6",
)
# The C `brotli` module has no free-threaded wheel and re-enables the GIL when imported; the demo
# falls back to brotlicffi (same API, free-threaded wheels) when `brotli` is missing.
BROTLI_REQUIREMENT = {False: "brotli>=1.1", True: "brotlicffi>=1.1"}
# What a server needs to import (brotli or brotlicffi is checked by the demo itself at startup).
REQUIRED_MODULES = ("django", "asgiref", "gunicorn", "uvicorn", "uvicorn_worker")
VENV_READY_MARKER = ".server-matrix-ready"
INSTALL_TIMEOUT_S = 900.0
PROBE_TIMEOUT_S = 60.0

_PROBE_SOURCE = f"""
import importlib.util, json, platform, sys, sysconfig
print(json.dumps({{
    "executable": sys.executable,
    "version": platform.python_version(),
    "implementation": platform.python_implementation(),
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "missing": [name for name in {REQUIRED_MODULES!r} + ("brotli",)
                if importlib.util.find_spec(name) is None
                and not (name == "brotli" and importlib.util.find_spec("brotlicffi"))],
}}))
"""


class InterpreterError(RuntimeError):
    """An interpreter that cannot be probed, or whose venv cannot be built."""


@dataclass(frozen=True)
class Interpreter:
    requested: str  # as given on the command line
    executable: str  # what runs the servers: the interpreter itself or its venv's python
    version: str
    implementation: str
    free_threaded: bool
    venv: str | None = None
    problem: str | None = None  # set when the venv could not be built: every run with it is an error

    @property
    def label(self) -> str:
        build = " free-threaded" if self.free_threaded else ""
        return f"{self.implementation} {self.version}{build}"

    @property
    def short_label(self) -> str:
        """``3.14.7t`` or ``3.11.7``: Python's own suffix for free-threaded builds."""
        return f"{self.version}{'t' if self.free_threaded else ''}"

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__, label=self.label)


def probe(executable: str) -> dict[str, object]:
    """Ask the interpreter itself (never this process) what it is and what it can import."""
    try:
        done = subprocess.run([executable, "-c", _PROBE_SOURCE], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, env=_clean_environment())
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InterpreterError(f"cannot run {executable}: {error}") from None
    if done.returncode != 0:
        raise InterpreterError(f"{executable} failed to start: {_tail(done.stderr)}")
    return json.loads(done.stdout)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "loadgen-matrix"


def requirements_for(free_threaded: bool) -> tuple[str, ...]:
    return (*DEMO_REQUIREMENTS, BROTLI_REQUIREMENT[free_threaded])


def venv_directory(facts: dict[str, object], base_executable: str) -> Path:
    """``<version>-<ft|gil>-<hash>``: the hash covers the requirement list and the base interpreter."""
    free_threaded = bool(facts["free_threaded"])
    key = "\n".join([os.path.realpath(base_executable), *requirements_for(free_threaded)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_root() / "venvs" / f"{facts['version']}-{'ft' if free_threaded else 'gil'}-{digest}"


def ensure_venv(base_executable: str, facts: dict[str, object]) -> Path:
    """The venv's python, building the venv first if needed (one builder at a time, via a lock file)."""
    directory = venv_directory(facts, base_executable)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / VENV_READY_MARKER).exists():
            shutil.rmtree(directory, ignore_errors=True)  # a half-built venv from an interrupted run
            python = directory / "bin" / "python"
            _install([base_executable, "-m", "venv", str(directory)])
            _install([str(python), "-m", "pip", "install", "--quiet", *requirements_for(bool(facts["free_threaded"]))])
            (directory / VENV_READY_MARKER).write_text("\n".join(requirements_for(bool(facts["free_threaded"]))) + "\n")
    return directory / "bin" / "python"


def prepare(requested: str) -> Interpreter:
    """Probe ``requested`` and give it the demo's dependencies (directly, or through a cached venv)."""
    executable = shutil.which(requested) or requested
    facts = probe(executable)
    is_running = os.path.realpath(str(facts["executable"])) == os.path.realpath(sys.executable)
    common = dict(requested=requested, version=str(facts["version"]), implementation=str(facts["implementation"]),
                  free_threaded=bool(facts["free_threaded"]))
    if is_running and not facts["missing"]:
        return Interpreter(executable=str(facts["executable"]), **common)
    try:
        python = ensure_venv(str(facts["executable"]), facts)
    except InterpreterError as error:
        return Interpreter(executable=str(facts["executable"]), problem=str(error), **common)
    return Interpreter(executable=str(python), venv=str(python.parent.parent), **common)


def _install(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                              env=_clean_environment())
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InterpreterError(f"{' '.join(command)}: {error}") from None
    if done.returncode != 0:
        raise InterpreterError(f"{' '.join(command)} failed: {_tail(done.stdout + done.stderr)}")


def _clean_environment() -> dict[str, str]:
    """The caller's environment without what would point another interpreter at this one's packages."""
    return {name: value for name, value in os.environ.items()
            if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHON_GIL")}


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line for line in text.strip().splitlines()[-lines:])
