"""Is the matrix repeatable, and how long does it take? Two ``default`` runs back to back, one compared with the other.

    python benchmarks/matrix_repeatability.py [--out benchmarks/out/repeatability] [--discover] [--modes a,b]
                                              [--repeat N] [--reuse]

Runs ``server-matrix run --profile default`` twice, into two directories, on this interpreter only
(``--discover`` adds the free-threaded ones found), adaptive repetitions unless ``--repeat N`` fixes
the count (``--repeat 3`` is the matrix before adaptive repetitions), then ``server-matrix compare``
of run 2 against run 1, and prints: each run's wall time, the share of run 2's medians inside run 1's
95% intervals for the repeated (CPU-bound) cells, the share of cells ``compare`` flags (a significant
change in requests/sec, or a gateway cell that no longer reaches its bound) and how many of those were
measured once (none should be), how many repetitions the cells took and why they stopped, the machine's
load average around each run and how many cells were flagged. Writes a JSON record beside the runs.
``--reuse`` computes the figures again from the two runs already in ``--out``; ``--existing DIR DIR``
from two results directories made otherwise (e.g. two runs of the README's main command, free-threaded
interpreter included), whose load averages it does not know. Then, for each k from 2 to the most
repetitions a repeated cell had in both runs, what the two runs would have said had each cell (that
ran k times in both) stopped after its first k (the same rounds, recomputed with the matrix's own
estimates, the run's pooled spread included): the share of run 2's medians inside run 1's intervals, and
run 1's median half-width;
and each round's seconds (first sample's start to the next round's), what a fixed count would cost.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from record import OUT

from server_matrix.measuring.results import MatrixResults
from server_matrix.reporting.resultsfile import load
from server_matrix.statistics import estimates


def matrix_run(out: Path, discover: bool, modes: str | None, repeat: int | None, reuse: bool) -> dict:
    """One run of the default profile; its results.json, with the load average before and after."""
    if reuse:
        return json.loads((out / "run.json").read_text())
    before = os.getloadavg()
    command = [
        sys.executable,
        "-m",
        "server_matrix",
        "run",
        "--profile",
        "default",
        *(["--repeat", str(repeat)] if repeat else []),
        "--force",
        "--out",
        str(out),
        *([] if discover else ["--no-discover"]),
        *(["--modes", modes] if modes else []),
    ]
    done = subprocess.run(command, stdout=subprocess.DEVNULL)
    if done.returncode not in (0, 1):  # 1: some cells failed, which the figures show
        raise SystemExit(f"server-matrix run failed ({done.returncode})")
    run = {
        "results": json.loads((out / "results.json").read_text()),
        "load_before": before,
        "load_after": os.getloadavg(),
    }
    (out / "run.json").write_text(json.dumps(run))
    return run


def inside(cells_1: dict, cells_2: dict, keys: list) -> float:
    """The share of ``keys`` whose run-2 median lies in run 1's interval."""
    hits = 0
    for key in keys:
        low, high = cells_1[key]["requests_per_sec"]["ci95"]
        hits += low <= cells_2[key]["requests_per_sec"]["median"] <= high
    return hits / len(keys) if keys else float("nan")


def first_rounds(run: MatrixResults, k: int) -> MatrixResults:
    """The run as it was after its first ``k`` rounds."""
    return MatrixResults(
        cells={
            key: dataclasses.replace(cell, samples=[sample for sample in cell.samples if sample.round <= k])
            for key, cell in run.cells.items()
        }
    )


def first_k(directories: list[Path]) -> list[dict]:
    """Per k: run 2's medians inside run 1's intervals had every repeated cell stopped after its first k
    repetitions, and run 1's median half-width then."""
    one, two = (load(directory / "results.json") for directory in directories)
    repeated = [key for key, cell in one.cells.items() if key in two.cells and len(cell.samples) > 1]
    reached = {key: min(len(one.cells[key].samples), len(two.cells[key].samples)) for key in repeated}
    rows = []
    for k in range(2, max(reached.values(), default=1) + 1):
        hits, widths, judged = 0, [], 0
        first = [first_rounds(run, k) for run in (one, two)]  # the run's spread too, as it was after k rounds
        for key in (key for key in repeated if reached[key] >= k):
            before, after = (estimates.rate(run.cells[key]) for run in first)
            if before is None or after is None or before.low is None or before.high is None:
                continue
            judged += 1
            hits += before.low <= after.median <= before.high
            widths.append(before.half_width or 0.0)
        rows.append(
            {
                "k": k,
                "cells": judged,
                "run2_median_inside_run1_interval": hits / judged if judged else float("nan"),
                "run1_median_half_width": statistics.median(widths) if widths else float("nan"),
            }
        )
    return rows


def round_seconds(results: dict) -> dict[int, float]:
    """Each round's seconds, from its first sample's start to the next round's (the last: to the run's end)."""
    starts: dict[int, datetime] = {}
    for cell in results["cells"]:
        for sample in cell.get("samples") or []:
            if sample.get("started_at"):
                started = datetime.fromisoformat(sample["started_at"])
                starts[sample["round"]] = min(starts.get(sample["round"], started), started)
    rounds = sorted(starts)
    ends = [starts[number] for number in rounds[1:]]
    if rounds:
        ends.append(starts[rounds[0]] + timedelta(seconds=results["wall_time_s"]))
    return {number: round((end - starts[number]).total_seconds()) for number, end in zip(rounds, ends, strict=True)}


def by_key(results: dict) -> dict:
    return {
        (c["python"], c["mode"], c["gil_requested"], c["endpoint"], c["variant"]): c
        for c in results["cells"]
        if c["status"] == "ok" and c["requests_per_sec"] is not None
    }


def significant(change: dict) -> bool:
    return bool((change["requests_per_sec"]["ratio"] or {}).get("significant"))


def tally(run: dict, what) -> dict:
    """How many measured cells of the run have each value of ``what``."""
    return dict(Counter(what(cell) for cell in by_key(run["results"]).values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT / "repeatability")
    parser.add_argument("--discover", action="store_true", help="Also run the free-threaded interpreters found.")
    parser.add_argument("--modes", help="Comma-separated modes (default: the profile's, every mode).")
    parser.add_argument("--repeat", type=int, help="A fixed count (default: adaptive repetitions).")
    parser.add_argument("--reuse", action="store_true", help="The figures of the runs already in --out.")
    parser.add_argument("--existing", type=Path, nargs=2, metavar="DIR", help="Two results directories to compare.")
    args = parser.parse_args()
    if args.existing:
        directories = args.existing
        runs = [{"results": json.loads((directory / "results.json").read_text())} for directory in directories]
    else:
        directories = [args.out / f"run{number}" for number in (1, 2)]
        runs = [matrix_run(directory, args.discover, args.modes, args.repeat, args.reuse) for directory in directories]
    paths = [str(directory / "results.json") for directory in directories]
    compared = subprocess.run(
        [sys.executable, "-m", "server_matrix", "compare", *paths, "--json"], capture_output=True, text=True, check=True
    )
    changes = json.loads(compared.stdout)["cells"]
    flagged = [
        cell for cell in changes if cell["slowdown"] or (cell["requests_per_sec"]["ratio"] or {}).get("significant")
    ]
    cells_1, cells_2 = (by_key(run["results"]) for run in runs)
    both = [key for key in cells_1 if key in cells_2]
    repeated = [key for key in both if cells_1[key]["requests_per_sec"]["repetitions"] > 1]
    record = {
        "wall_time_s": [run["results"]["wall_time_s"] for run in runs],
        "cells_compared": len(changes),
        "flagged_by_compare": len(flagged) / len(changes) if changes else float("nan"),
        "flagged_by_compare_single_measurements": sum(cell.get("single", False) for cell in flagged),
        "run2_median_inside_run1_interval_repeated_cells": inside(cells_1, cells_2, repeated),
        "repeated_cells": len(repeated),
        "repetitions": [
            dict(Counter(len(cell["samples"]) for cell in by_key(run["results"]).values())) for run in runs
        ],
        "stopped": [dict(Counter(cell.get("stopped") for cell in by_key(run["results"]).values())) for run in runs],
        "load_average": [[run.get("load_before"), run.get("load_after")] for run in runs],
        "flags": [dict(Counter(flag for cell in run["results"]["cells"] for flag in cell["flags"])) for run in runs],
        "round_seconds": [round_seconds(run["results"]) for run in runs],
        "first_k": first_k(directories),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "repeatability.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
