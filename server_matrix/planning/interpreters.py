"""The interpreters that run the servers: what build each is, and a cached venv with the demo's dependencies.

The running interpreter is used as it is when it can already import the demo's own dependencies
(the CI path: no network, no venv); a server it lacks only skips that server's modes. Any other
interpreter gets a virtual environment under ``~/.cache/loadgen-matrix/venvs/``, created once and
reused while its requirement list and base interpreter stay the same.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# The one list of the demo's dependencies, servers included: pyproject.toml's `demo` extra (in a
# checkout), else the same extra as the installed loadgen's metadata records it (a wheel has no pyproject.toml).
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
DISTRIBUTION = "loadgen"
# The marker a wheel's metadata gives each requirement of the extra, after the requirement's own marker if any.
_DEMO_MARKER = re.compile(r"""^(?:(?P<own>.*?)\s+and\s+)?extra\s*==\s*["']demo["']$""")
# What the demo itself imports; the rest of the list are servers and their helpers (event loops,
# parsers), each of which only some modes need. A venv that cannot get one of those still serves
# the other modes: the list is installed whole when it can be, else these first and the rest one by one.
APP_DISTRIBUTIONS = frozenset({"django", "asgiref", "brotli", "brotlicffi"})
APP_MODULES = ("django", "asgiref")  # plus brotli or brotlicffi, see below
# The C `brotli` module has no free-threaded wheel and re-enables the GIL when imported; the demo
# falls back to brotlicffi (same API, free-threaded wheels) when `brotli` is missing.
BROTLI_REQUIREMENT = {False: "brotli>=1.1", True: "brotlicffi>=1.1"}
MINIMUM_VERSION = (3, 10)  # Django 5.2's
VENV_READY_MARKER = ".server-matrix-ready"
INSTALL_LOG = "server-matrix-install.log"
INSTALL_TIMEOUT_S = 900.0
PROBE_TIMEOUT_S = 60.0

# Runs in the probed interpreter, whatever its age: a Python 2 must still say what it is.
_PROBE_SOURCE = """
import json, platform, sys
facts = {"executable": sys.executable, "version": platform.python_version(),
         "implementation": platform.python_implementation(), "free_threaded": False, "importable": []}
if sys.version_info >= (3, 4):
    import importlib.util, sysconfig
    facts["free_threaded"] = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    facts["importable"] = [name for name in sys.argv[1:] if importlib.util.find_spec(name) is not None]
print(json.dumps(facts))
"""
PROBE_FACTS = frozenset({"executable", "version", "implementation", "free_threaded", "importable"})


class InterpreterError(RuntimeError):
    """An interpreter that cannot be probed, or whose venv cannot be built."""


@dataclass(frozen=True)
class Interpreter:
    requested: str  # as given on the command line, or as discovered
    executable: str  # what runs the servers: the interpreter itself or its venv's python
    version: str
    implementation: str
    free_threaded: bool
    venv: str | None = None
    problem: str | None = None  # set when the venv could not be built or lacks the demo: every run with it is an error
    modules: tuple[str, ...] | None = None  # the server modules (of those asked about) it can import; None: not asked
    origin: str = "--python"  # how it was chosen: --python, this interpreter, or where discovery found it

    @property
    def label(self) -> str:
        build = " free-threaded" if self.free_threaded else ""
        return f"{self.implementation} {self.version}{build}"

    @property
    def short_label(self) -> str:
        """``3.14.7t`` or ``3.11.7``: Python's own suffix for free-threaded builds."""
        return f"{self.version}{'t' if self.free_threaded else ''}"

    def missing(self, modules: tuple[str, ...]) -> str | None:
        """Why a server needing ``modules`` cannot run here, or None when it can (or nobody asked)."""
        absent = [name for name in modules if self.modules is not None and name not in self.modules]
        if not absent:
            return None
        where = (
            f"not in its venv: pip could not install it, see {Path(self.venv) / INSTALL_LOG}, or it was removed "
            "since: remove the venv to build it again"
            if self.venv
            else "pip install 'loadgen[demo]' to add it"
        )
        return f"{', '.join(absent)} not installed for {self.label} ({where})"

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__, label=self.label)


def probe(executable: str, modules: tuple[str, ...] = ()) -> dict[str, Any]:
    """Ask the interpreter itself (never this process) what it is and which of ``modules`` it can import."""
    try:
        done = subprocess.run(
            [executable, "-c", _PROBE_SOURCE, *modules],
            capture_output=True,
            text=True,
            errors="replace",  # not a Python at all may print anything: that is told below, in one line
            timeout=PROBE_TIMEOUT_S,
            env=_clean_environment(),
        )
    except OSError as error:  # its strerror: the error's text names the path a second time
        why = "a directory, not a program" if os.path.isdir(executable) else error.strerror or error
        raise InterpreterError(f"cannot run {executable}: {why}") from None
    except subprocess.TimeoutExpired as error:
        raise InterpreterError(f"cannot run {executable}: {error}") from None
    if done.returncode != 0:
        raise InterpreterError(f"{executable} failed to start: {_tail(done.stderr)}")
    return _probe_facts(executable, done.stdout)


def _probe_facts(executable: str, output: str) -> dict[str, Any]:
    """The probe's answer, or InterpreterError when ``executable`` ran but is no Python (``/bin/true``)."""
    refusal = f"{executable} is not a Python interpreter this matrix can use: its probe printed"
    try:
        facts = json.loads(output)
    except ValueError:
        raise InterpreterError(f"{refusal} no JSON") from None
    missing = sorted(PROBE_FACTS - facts.keys()) if isinstance(facts, dict) else sorted(PROBE_FACTS)
    if missing:
        raise InterpreterError(f"{refusal} JSON without {', '.join(missing)}")
    return facts  # type: ignore[no-any-return]  # a dict with every fact, checked above


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "loadgen-matrix"


def demo_requirements() -> tuple[str, ...]:
    if not PYPROJECT.exists():
        return _installed_demo_requirements()
    try:
        return tuple(tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["demo"])
    except (OSError, ValueError, KeyError) as error:
        raise InterpreterError(f"cannot read the demo's dependencies from {PYPROJECT} ({error})") from None


def _installed_demo_requirements() -> tuple[str, ...]:
    """The `demo` extra of loadgen installed from a wheel (``pip install 'loadgen[matrix]'``, not editable)."""
    try:
        lines = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        lines = []
    requirements = []
    for line in lines:
        requirement, _, marker = line.partition(";")
        match = _DEMO_MARKER.match(marker.strip())
        if match:
            own = match.group("own")
            requirements.append(f"{requirement.strip()}; {own}" if own else requirement.strip())
    if not requirements:
        raise InterpreterError(
            f"cannot read the demo's dependencies: no {PYPROJECT} and no installed {DISTRIBUTION} "
            "with a `demo` extra; install loadgen (pip install 'loadgen[matrix]') or run from a checkout"
        )
    return tuple(requirements)


def requirements_for(free_threaded: bool) -> tuple[str, ...]:
    return tuple(
        BROTLI_REQUIREMENT[free_threaded] if _name(requirement) == "brotli" else requirement
        for requirement in demo_requirements()
    )


def pinned_to_this_interpreter(requirements: tuple[str, ...]) -> tuple[str, ...]:
    """Each requirement at the version this interpreter has installed, where it has one: a venv built from the
    bare list got whatever was newest for its Python (Django 6.1.3 on 3.14t beside 5.2.20 here), so a comparison
    across interpreters measured Django's versions too. Markers are dropped with the pin: the venv's own Python
    needs what this one installed, whatever the platform conditions said here."""
    pinned = []
    for requirement in requirements:
        try:
            pinned.append(f"{_name(requirement)}=={metadata.version(_name(requirement))}")
        except metadata.PackageNotFoundError:
            pinned.append(requirement)
    return tuple(pinned)


def venv_directory(facts: dict[str, object], base_executable: str) -> Path:
    """``<version>-<ft|gil>-<hash>``: the hash covers the pinned requirement list and the base interpreter, so a
    venv is built again when this interpreter's versions change."""
    free_threaded = bool(facts["free_threaded"])
    key = "\n".join([os.path.realpath(base_executable), *pinned_to_this_interpreter(requirements_for(free_threaded))])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_root() / "venvs" / f"{facts['version']}-{'ft' if free_threaded else 'gil'}-{digest}"


def ensure_venv(base_executable: str, facts: dict[str, object], announce: Callable[[str], None]) -> Path:
    """The venv's python, building the venv first if needed (one builder at a time, via a lock file);
    ``announce`` is told before a build starts. A cache that cannot be written (read-only, or a file in the way) is
    this interpreter's problem, as a full one is (``-m venv ... failed: ... No space left on device``): it stopped
    the whole run, ``server-matrix: ~/.cache/loadgen-matrix: Read-only file system``, exit 1."""
    try:
        return _venv_python(base_executable, facts, announce)
    except OSError as error:
        raise InterpreterError(f"cannot build its venv: {error.filename}: {error.strerror or error}") from None


def _venv_python(base_executable: str, facts: dict[str, object], announce: Callable[[str], None]) -> Path:
    directory = venv_directory(facts, base_executable)
    directory.parent.mkdir(parents=True, exist_ok=True)
    requirements = requirements_for(bool(facts["free_threaded"]))
    pinned = pinned_to_this_interpreter(requirements)
    with open(directory.parent / f"{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / VENV_READY_MARKER).exists():
            announce(f"building a venv with the demo's dependencies in {directory} (once; needs PyPI)")
            shutil.rmtree(directory, ignore_errors=True)  # a half-built venv from an interrupted run
            _install([base_executable, "-m", "venv", str(directory)], None)
            _install_requirements(str(directory / "bin" / "python"), pinned, requirements, directory / INSTALL_LOG)
            (directory / VENV_READY_MARKER).write_text("\n".join(pinned) + "\n")
    return directory / "bin" / "python"


def _install_requirements(python: str, pinned: tuple[str, ...], requirements: tuple[str, ...], log: Path) -> None:
    """All at once, at this interpreter's versions; if pip refuses (a version without a wheel or support for that
    Python), all at once unpinned; then the demo's own needs (or an InterpreterError), then each server alone.
    The report names any version that still differs between interpreters."""
    pip = [python, "-m", "pip", "install", "--quiet"]
    for whole in dict.fromkeys((pinned, requirements)):
        try:
            _install([*pip, *whole], log)
            return
        except InterpreterError:
            pass
    _install([*pip, *(r for r in requirements if _name(r) in APP_DISTRIBUTIONS)], log)
    for requirement in requirements:
        if _name(requirement) not in APP_DISTRIBUTIONS:
            try:
                _install([*pip, requirement], log)
            except InterpreterError:
                pass  # its modes are skipped, with the log's path as the reason (Interpreter.missing)


def prepare(
    requested: str,
    modules: tuple[str, ...] = (),
    origin: str = "--python",
    announce: Callable[[str], None] = lambda _: None,
) -> Interpreter:
    """Probe ``requested`` and give it the demo's dependencies (directly, or through a cached venv);
    ``modules``: the server modules the chosen modes need, whose presence the result records."""
    executable = shutil.which(requested) or requested
    asked = (*APP_MODULES, "brotli", "brotlicffi", *modules)
    facts = probe(executable, asked)
    version = tuple(int(part) for part in re.findall(r"\d+", str(facts["version"]))[:2])
    if facts["implementation"] != "CPython" or version < MINIMUM_VERSION:
        raise InterpreterError(
            f"{requested} is {facts['implementation']} {facts['version']}: the demo needs CPython "
            f"{'.'.join(map(str, MINIMUM_VERSION))} or newer (Django 5.2)"
        )
    is_running = os.path.realpath(str(facts["executable"])) == os.path.realpath(sys.executable)
    common: dict[str, Any] = dict(
        requested=requested,
        version=str(facts["version"]),
        implementation=str(facts["implementation"]),
        free_threaded=bool(facts["free_threaded"]),
        origin=origin,
    )
    importable = set(facts["importable"])
    if is_running and not _demo_modules_absent(importable):
        return Interpreter(executable=str(facts["executable"]), modules=_present(modules, importable), **common)
    try:
        python = ensure_venv(str(facts["executable"]), facts, announce)
        importable = set(probe(str(python), asked)["importable"])
    except InterpreterError as error:
        return Interpreter(executable=str(facts["executable"]), problem=str(error), **common)
    venv = python.parent.parent
    return Interpreter(
        executable=str(python),
        venv=str(venv),
        modules=_present(modules, importable),
        problem=_venv_without_the_demo(venv, importable),
        **common,
    )


def _demo_modules_absent(importable: set[str]) -> list[str]:
    """The demo's own modules (django, asgiref, a brotli module) that ``importable`` lacks."""
    brotli = [] if importable & {"brotli", "brotlicffi"} else ["brotli or brotlicffi"]
    return [name for name in APP_MODULES if name not in importable] + brotli


def _venv_without_the_demo(venv: Path, importable: set[str]) -> str | None:
    """Why a venv built by an earlier run cannot serve the demo any more (a package uninstalled or removed since):
    every server exited at boot, and each cell said only "server exited with status 1 before it was ready"."""
    absent = _demo_modules_absent(importable)
    if not absent:
        return None
    return (
        f"its venv {venv} cannot import {', '.join(absent)}, the demo's own needs (changed since it was built): "
        "remove that directory and run again to build it afresh"
    )


def _present(modules: tuple[str, ...], importable: set[str]) -> tuple[str, ...]:
    return tuple(name for name in dict.fromkeys(modules) if name in importable)


def _name(requirement: str) -> str:
    """The distribution a requirement names, normalised: ``uvicorn-worker>=0.2`` -> ``uvicorn-worker``."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    return re.sub(r"[._-]+", "-", match.group() if match else requirement).lower()


def _install(command: list[str], log: Path | None) -> None:
    """Run an installation step; its output is appended to ``log`` (if given), its failure raised in one line."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=_clean_environment()
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InterpreterError(f"{' '.join(command)}: {error}") from None
    if log is not None:
        with open(log, "a") as stream:
            stream.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}(exit status {done.returncode})\n")
    if done.returncode != 0:
        raise InterpreterError(f"{' '.join(command)} failed: {_tail(done.stdout + done.stderr)}")


def _clean_environment() -> dict[str, str]:
    """The caller's environment without what would point another interpreter at this one's packages."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHON_GIL")
    }


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line for line in text.strip().splitlines()[-lines:])
