"""Regenerate the golden wrk runs: ``python tests/golden/capture.py`` (needs wrk on PATH).

Each scenario runs real wrk against loadgen's test server with ``dump.lua``, and stores wrk's
stdout with the statistics its done() hook saw. The golden tests check that loadgen's formatter
turns those statistics into the same bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from loadgen.testing.server import TestServer

HERE = Path(__file__).parent
SCENARIOS = {
    "small_latency": ("-t2 -c10 -d3s --latency", "/"),
    "big_bodies": ("-t1 -c4 -d2s --latency", "/bytes?size=102400"),
    "stall_every_second": ("-t1 -c1 -d3s --latency", "/stall?period_ms=1000&pause_ms=300"),
    "all_timeouts": ("-t1 -c2 -d3s --timeout 1s --latency", "/delay?ms=1500"),
    "not_found": ("-t2 -c20 -d2s", "/status/404"),
    "no_answer": ("-t1 -c2 -d2s --latency", "/hang"),
    "close_each": ("-t2 -c8 -d2s", "/drop"),
    "many_threads": ("-t4 -c40 -d2s --latency", "/delay?ms=2"),
}


def main() -> None:
    with TestServer() as server, tempfile.TemporaryDirectory() as tmp:
        for name, (flags, path) in SCENARIOS.items():
            dump = os.path.join(tmp, "dump.json")
            url = server.url(path)
            out = subprocess.run(
                ["wrk", *flags.split(), "-s", str(HERE / "dump.lua"), url],
                env={**os.environ, "WRK_DUMP": dump},
                capture_output=True,
                text=True,
                check=True,
            )
            stats = json.loads(Path(dump).read_text())
            record = {"flags": flags, "url": url, "stdout": out.stdout, "stats": stats}
            (HERE / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
            print(name, out.stdout.splitlines()[-2])


if __name__ == "__main__":
    main()
