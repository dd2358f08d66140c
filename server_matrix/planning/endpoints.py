"""The demo's endpoints (listed once, in :mod:`demo.endpoints`) with the titles of the original
benchmark notes."""

from __future__ import annotations

from dataclasses import dataclass

from demo.endpoints import RUNTIME, SIMULATED_SECONDS

VARIANTS = ("sync", "async")
RUNTIME_PATH = f"/myapp/sync/{RUNTIME}"


@dataclass(frozen=True)
class Endpoint:
    name: str
    title: str  # the notes' "### ..." heading
    delay_s: float = 0.0  # the simulated upstream call, before DEMO_GATEWAY_SCALE

    def path(self, variant: str) -> str:
        return f"/myapp/{variant}/{self.name}"

    def scaled_delay_s(self, gateway_scale: float) -> float:
        return self.delay_s * gateway_scale


TITLES = {  # the notes' "### ..." heading of each endpoint that simulates no upstream call
    "json": "JSON performance",
    "json_query": "Queries returned as JSON",
    "template_query": "Queries returned as HTML",
    "brotli": "Brotli",
}


def _title(name: str, seconds: int) -> str:
    return f"Simulate a request {seconds}s inside the server, then return a JSON" if seconds else TITLES[name]


ENDPOINTS: tuple[Endpoint, ...] = tuple(
    Endpoint(name, _title(name, seconds), float(seconds)) for name, seconds in SIMULATED_SECONDS.items()
)
ENDPOINTS_BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS}
