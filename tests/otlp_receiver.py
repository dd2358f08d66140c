"""A real OTLP/HTTP metrics receiver on 127.0.0.1, decoding with the official protobuf definitions
(the opentelemetry-proto package): what the tests point ``--otlp-endpoint`` at."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)


def _value(attribute: Any) -> Any:
    return getattr(attribute.value, attribute.value.WhichOneof("value"))


class _Handler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/metrics" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_error(404)
            return
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        with self.server.lock:
            self.server.requests.append(request)
        reply = ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class OtlpReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[ExportMetricsServiceRequest] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def points(self, name: str) -> list[tuple[dict[str, Any], dict[str, Any], float]]:
        """Every data point received for the metric ``name``, in order: (resource attributes,
        point attributes, value)."""
        found = []
        with self.lock:
            requests = list(self.requests)
        for request in requests:
            for resource_metrics in request.resource_metrics:
                resource = {a.key: _value(a) for a in resource_metrics.resource.attributes}
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name != name:
                            continue
                        data = getattr(metric, metric.WhichOneof("data"))
                        for point in data.data_points:
                            value = getattr(point, point.WhichOneof("value"))
                            found.append((resource, {a.key: _value(a) for a in point.attributes}, value))
        return found


class SilentReceiver:
    """A receiver that takes connections and never answers, as a hung collector: the system accepts
    them on its listening socket, and nothing ever reads them."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def __enter__(self) -> SilentReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.socket.close()
