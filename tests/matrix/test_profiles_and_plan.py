"""Profiles sized to the machine, the mode table and the plan: no server needed."""

from __future__ import annotations

import os

import pytest

from server_matrix.endpoints import ENDPOINTS_BY_NAME
from server_matrix.gil import environment_overrides, interpreter_flags
from server_matrix.interpreters import Interpreter, requirements_for
from server_matrix.modes import MODES, ModeError, select_modes
from server_matrix.plan import build_plan
from server_matrix.profiles import PROFILES, ProfileError, resolve

CORES = len(os.sched_getaffinity(0))


def interpreter(free_threaded: bool) -> Interpreter:
    return Interpreter(requested="python", executable="/usr/bin/python", version="3.14.7", implementation="CPython",
                       free_threaded=free_threaded)


def test_default_profile_fixes_the_methodology() -> None:
    parameters = resolve(PROFILES["default"])
    slowest = ENDPOINTS_BY_NAME["gateway_10s"]
    assert parameters.timeout_s > slowest.delay_s
    assert parameters.cell_duration_s(slowest) >= 3 * slowest.delay_s
    assert parameters.cell_duration_s(ENDPOINTS_BY_NAME["json"]) == parameters.duration_s
    assert parameters.workers == CORES and 10 <= parameters.connections <= 100
    assert parameters.server_timeout_s > slowest.delay_s
    assert parameters.ceiling_rps(slowest) == parameters.connections / 10
    # 30 s of a 10 s endpoint: responses at 10 and 20 s count, the round ending at 30 s does not
    assert parameters.window_ceiling_rps(slowest) == pytest.approx(parameters.connections * 2 / 30)


def test_original_profile_keeps_the_notes_parameters() -> None:
    parameters = resolve(PROFILES["original"])
    assert (parameters.client_threads, parameters.connections) == (20, 2000)
    assert (parameters.duration_s, parameters.timeout_s) == (10, 2)
    assert parameters.workers == 20 and parameters.modes == ("asgi-uvicorn-single", "asgi-uvicorn-workers")
    assert parameters.cell_duration_s(ENDPOINTS_BY_NAME["gateway_10s"]) == 10  # as the original, artefacts included
    titles = [mode.display_title(original=True, **parameters.server_values(0))
              for mode in select_modes(MODES, list(parameters.modes))]
    assert titles == ["ASGI Gunicorn Uvicorn, with threads", "ASGI Gunicorn Uvicorn, with workers"]


def test_quick_profile_shrinks_the_gateway_delays() -> None:
    parameters = resolve(PROFILES["quick"])
    assert parameters.gateway_scale == 0.01
    assert parameters.cell_duration_s(ENDPOINTS_BY_NAME["gateway_10s"]) == 1


def test_overrides_and_their_checks() -> None:
    parameters = resolve(PROFILES["quick"], connections=5, endpoints=("json",), variants=("async",), gil=(0,))
    assert (parameters.connections, parameters.endpoints) == (5, ("json",))
    assert (parameters.variants, parameters.gil) == (("async",), (0,))
    with pytest.raises(ProfileError, match="unknown endpoint"):
        resolve(PROFILES["quick"], endpoints=("nope",))
    with pytest.raises(ProfileError, match="--gil"):
        resolve(PROFILES["quick"], gil=(2,))
    with pytest.raises(ProfileError, match="connections"):
        resolve(PROFILES["quick"], connections=1, client_threads=2)
    with pytest.raises(ModeError, match="unknown mode"):
        select_modes(MODES, ["nope"])


def test_a_pinned_client_does_not_pin_the_servers() -> None:
    parameters = resolve(PROFILES["quick"], client_cpus=[0])
    assert parameters.client_cpus == (0,) and parameters.server_cpus == tuple(sorted(os.sched_getaffinity(0)))


def test_default_build_runs_once_and_skips_the_gil_settings() -> None:
    parameters = resolve(PROFILES["quick"])
    groups = build_plan([interpreter(False)], select_modes(MODES, ["wsgi-sync"]), parameters)
    assert [(group.gil, bool(group.skipped)) for group in groups] == [(0, True), (1, True), (None, False)]
    assert "-X gil=0 would abort" in groups[0].skipped
    assert interpreter_flags(None) == [] and environment_overrides(None) == {"PYTHON_GIL": None}


def test_free_threaded_build_runs_both_gil_settings() -> None:
    parameters = resolve(PROFILES["quick"])
    groups = build_plan([interpreter(True)], select_modes(MODES, ["asgi-threads"]), parameters)
    assert [(group.gil, group.skipped, group.informational is None) for group in groups] == [(0, None, True),
                                                                                           (1, None, False)]
    assert interpreter_flags(0) == ["-X", "gil=0"] and environment_overrides(1) == {"PYTHON_GIL": "1"}
    assert len(groups[0].cells) == 7 * 2


def test_free_threaded_venvs_avoid_the_c_brotli_module() -> None:
    free_threaded = requirements_for(True)
    assert "brotlicffi>=1.1" in free_threaded and not any(r.startswith("brotli>") for r in free_threaded)
    assert "brotli>=1.1" in requirements_for(False)
