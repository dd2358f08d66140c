"""The cost of the Dask engine: ``loadgen --dask local:2 -t2`` against a local ``-t2`` run on the
same nginx, alternating, medians as a ratio.

    python benchmarks/dask_overhead.py [--pairs 5] [--duration 10] [--connections 50]

Both runs use two worker processes on this machine, so the only difference is what runs them:
the command itself (it forks them), or a Dask LocalCluster (two single-threaded Dask workers,
each task running loadgen's engine for its one worker beside the Dask worker's own event loop,
heartbeats and the run's stop watch). Requests/sec is
the report's, over each run's measured window; the cluster's start-up is outside it. Each pair
alternates which goes first. Needs nginx on PATH and ``loadgen[dask]``. Writes a JSON record
under benchmarks/out/.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys

from record import write_record

from loadgen.testing.nginx import Nginx

ENGINES = {"local": [], "dask": ["--dask", "local:2"]}


def requests_per_sec(command: list[str]) -> float:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return float(re.search(r"^Requests/sec:\s+([\d.]+)", done.stdout, re.M).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("nginx") is None:
        raise SystemExit("nginx is not installed")

    rates: dict[str, list[float]] = {name: [] for name in ENGINES}
    with Nginx() as nginx:
        flags = ["-t2", f"-c{args.connections}", f"-d{args.duration}s", nginx.url("/")]
        for pair in range(args.pairs):
            order = ["local", "dask"] if pair % 2 == 0 else ["dask", "local"]
            for name in order:
                rate = requests_per_sec([sys.executable, "-m", "loadgen", *ENGINES[name], *flags])
                rates[name].append(rate)
                print(f"pair {pair + 1} {name:6} {rate:10.0f} req/s", flush=True)

    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratio = medians["dask"] / medians["local"]
    # the machine's load drifts; within a pair it drifts least, so the pairs' ratios are shown too
    pair_ratio = statistics.median(dask / local for dask, local in zip(rates["dask"], rates["local"], strict=True))
    print(
        f"\nmedian Requests/sec: local {medians['local']:.0f}, dask {medians['dask']:.0f} "
        f"-> ratio {ratio:.3f} (target >= 0.9); median of the pairs' ratios {pair_ratio:.3f}"
    )
    record = {
        "settings": vars(args),
        "rates": rates,
        "medians": medians,
        "ratio": ratio,
        "pair_ratio": pair_ratio,
    }
    write_record("dask_overhead", record)


if __name__ == "__main__":
    main()
