"""The demo's endpoints, in the order and with the titles of the original benchmark notes."""

from __future__ import annotations

from dataclasses import dataclass

VARIANTS = ("sync", "async")
RUNTIME_PATH = "/myapp/sync/runtime"


@dataclass(frozen=True)
class Endpoint:
    name: str
    title: str  # the notes' "### ..." heading
    delay_s: float = 0.0  # the simulated upstream call, before DEMO_GATEWAY_SCALE

    def path(self, variant: str) -> str:
        return f"/myapp/{variant}/{self.name}"

    def scaled_delay_s(self, gateway_scale: float) -> float:
        return self.delay_s * gateway_scale


def _gateway(seconds: int) -> Endpoint:
    return Endpoint(f"gateway_{seconds}s",
                    f"Simulate a request {seconds}s inside the server, then return a JSON", float(seconds))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("json", "JSON performance"),
    Endpoint("json_query", "Queries returned as JSON"),
    Endpoint("template_query", "Queries returned as HTML"),
    _gateway(1),
    _gateway(3),
    _gateway(10),
    Endpoint("brotli", "Brotli"),
)
ENDPOINTS_BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS}
