"""The demo's endpoints: names in the order of the original benchmark notes, and the upstream
call each one simulates. Plain data without Django, so that the URL table
(``demo/myapp/urls.py``) and the server matrix (``server_matrix/planning/endpoints.py``) read one list."""

from __future__ import annotations

# name -> seconds of simulated upstream call (0: none), before DEMO_GATEWAY_SCALE
SIMULATED_SECONDS: dict[str, int] = {
    "json": 0,
    "json_query": 0,
    "template_query": 0,
    "gateway_1s": 1,
    "gateway_3s": 3,
    "gateway_10s": 10,
    "brotli": 0,
}
# DEMO_GATEWAY_SCALE's greatest value: gateway_10s then sleeps 2 h 47 min (time.sleep refuses 1e10 s).
MAX_GATEWAY_SCALE = 1000.0
RUNTIME = "runtime"  # not benchmarked: the server matrix asks it how the server runs (GIL, Python)
