"""The project's promises about itself: CI runs the README's command; the README's example runs."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("loadgen", "server_matrix", "demo")  # what pyproject.toml's packages.find includes


def readme_commands() -> list[str]:
    block = re.search(r"## Set-up: two commands.*?```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one() -> None:
    main_job, tests = readme_commands()
    assert "server-matrix run" in main_job and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci


SLEEPER_TEST = """
import os, subprocess, time
from pathlib import Path

import pytest


@pytest.fixture
def sleeper():
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)  # as the demo's servers: a session each
    Path(os.environ["SLEEPER_PID"]).write_text(str(process.pid))
    yield
    process.kill()
    process.wait()


def test_waits(sleeper):
    time.sleep(30)
"""


def test_a_suite_stopped_by_sigterm_stops_what_its_fixtures_started(tmp_path: Path) -> None:
    """``timeout 60 pytest`` sends SIGTERM: the suite's fixtures are torn down as on Ctrl-C, and what they started
    in sessions of their own is stopped (the demo's servers ran on for 70 minutes after four such ends)."""
    (tmp_path / "test_sleeper.py").write_text(SLEEPER_TEST)
    pid_file = tmp_path / "pid"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest", str(tmp_path)]
    suite = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "SLEEPER_PID": str(pid_file)},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while not pid_file.exists() and suite.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid_file.exists(), suite.communicate(timeout=30)[0] if suite.poll() is not None else "no sleeper in 20 s"
    suite.terminate()
    output = suite.communicate(timeout=30)[0]
    sleeper = int(pid_file.read_text())
    assert suite.returncode == 2, output  # pytest's code for an interrupted session
    with pytest.raises(ProcessLookupError):
        os.kill(sleeper, 0)


def test_readme_api_example_runs(server) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "api.py"), server.url("/")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Requests/sec:" in done.stdout and re.search(r"^merged: \d+ requests", done.stdout, re.M)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip install .`` would build (setuptools, no network), from a copy: the build writes beside it."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    build = f"from setuptools import build_meta; print(build_meta.build_wheel({str(out)!r}))"
    done = subprocess.run([sys.executable, "-c", build], cwd=source, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (out / "build.log").write_text(done.stderr)
    return out / done.stdout.splitlines()[-1]


def test_the_build_uses_nothing_deprecated(wheel: Path) -> None:
    """setuptools warned that ``license = { text = ... }`` stops building on 2027-02-18."""
    log = (wheel.parent / "build.log").read_text()
    assert "deprecated" not in log.lower(), log


def test_wheel_holds_every_file_the_installed_commands_read(wheel: Path) -> None:
    """The JSON schema, the demo's template and data: package data a glob in pyproject.toml must not miss."""
    names = set(zipfile.ZipFile(wheel).namelist())
    files = [
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.name != "README.md"
    ]
    assert files and not [name for name in files if name not in names]


def test_wheel_marks_loadgen_typed(wheel: Path) -> None:
    """PEP 561's marker: without it, ``mypy --strict`` on a program that imports loadgen said "module is
    installed, but missing library stubs or py.typed marker" and took every result as Any."""
    assert "loadgen/py.typed" in zipfile.ZipFile(wheel).namelist()


def test_server_matrix_installed_from_the_wheel_reads_the_demo_extra(wheel: Path, tmp_path: Path) -> None:
    """A venv for another interpreter gets the demo extra: from the installed metadata, as a wheel has no
    pyproject.toml (every free-threaded cell of ``pip install '.[matrix]' && server-matrix run`` failed)."""
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    read = "import json; from server_matrix.planning import interpreters as i; print(json.dumps(i.demo_requirements()))"
    done = subprocess.run(
        [sys.executable, "-c", read],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["demo"]
    installed = json.loads(done.stdout)
    assert [_name(requirement) for requirement in installed] == [_name(requirement) for requirement in declared]
    assert [";" in requirement for requirement in installed] == [";" in requirement for requirement in declared]


def _name(requirement: str) -> str:
    return re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0].lower()


def test_sdist_is_the_repository(tmp_path: Path) -> None:
    """Its tests run: conftest.py, the golden files and documents, the examples and .ci scripts they read (it held
    tests/test_*.py alone, which setuptools adds by itself, so pytest in an unpacked sdist failed on fixtures)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout (an unpacked sdist?): {listed.stderr.strip()}")
    tracked = {name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()}
    source = tmp_path / "source"
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    build = f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path)!r}))"
    done = subprocess.run([sys.executable, "-c", build], cwd=source, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with tarfile.open(tmp_path / done.stdout.splitlines()[-1]) as sdist:
        packed = {member.name.split("/", 1)[1] for member in sdist.getmembers() if member.isfile()}
    assert sorted(tracked - packed - {".gitignore"}) == []


def _module_level_imports(package: str) -> set[str]:
    """Third-party modules a package imports as it loads (not inside a function, a try or ``if TYPE_CHECKING``)."""
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found.update(name.split(".")[0] for name in names)
    return {name for name in found if name not in sys.stdlib_module_names and name not in (*PACKAGES, "__future__")}


def test_the_classifiers_name_each_python_from_the_oldest_supported() -> None:
    """The versions loadgen was installed and run on (3.11 to 3.14, the free-threaded 3.14t too), from
    requires-python's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    oldest = int(re.fullmatch(r">=3\.(\d+)", project["requires-python"]).group(1))
    minors = sorted(int(c.rsplit(".", 1)[1]) for c in project["classifiers"] if re.fullmatch(r".*:: 3\.\d+", c))
    assert minors and minors == list(range(oldest, minors[-1] + 1)), minors


def test_server_matrix_imports_only_what_the_matrix_extra_declares() -> None:
    """numpy was imported by its statistics and declared nowhere (it came with matplotlib)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = {_name(requirement) for requirement in (*project["dependencies"], *extras["matrix"], *extras["demo"])}
    imported = _module_level_imports("server_matrix")  # each module named as the distribution that provides it
    assert imported and sorted(imported - declared) == []
