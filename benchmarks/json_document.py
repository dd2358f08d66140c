"""The JSON document of a big run, this tree against an earlier revision: its size, the time to
write it, and the time and peak memory of ``loadgen merge`` and ``loadgen report`` on it.

    python benchmarks/json_document.py REV [--pairs 3] [--duration 30] [--threads 3] [--connections 3000]
    python benchmarks/json_document.py REV --existing run.json     # a document REV can read, no new run

REV is exported with ``git archive`` (as ``before_after.py`` does). First one real run against
nginx (nginx on core 1), written by REV's loadgen: the measurement both trees then read. In each
pair, alternating which tree goes first, each tree pinned to ``--core``: reads that document,
times ``to_json`` and the write of its own document (what ``--json`` does after the report), then
``loadgen merge DOC DOC --force`` and ``loadgen report DOC`` on its own document under
``/usr/bin/time -v`` (wall time, CPU time, maximum resident set size). Prints medians and ranges,
and after / before.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from before_after import export  # noqa: E402  (a sibling script, not a package)
from record import write_record  # noqa: E402

ROOT = HERE.parent
WRITE = """
import json, sys, time
import loadgen
result = loadgen.from_json(open(sys.argv[1]).read())
wall, cpu = time.perf_counter(), time.process_time()
text = loadgen.to_json(result)
with open(sys.argv[2], "w") as out:
    out.write(text + "\\n")
print(json.dumps({"write_s": time.perf_counter() - wall, "write_cpu_s": time.process_time() - cpu,
                  "bytes": len(text) + 1}))
"""
TIME_V = {
    "wall_s": r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)",
    "cpu_user_s": r"User time \(seconds\): ([\d.]+)",
    "cpu_system_s": r"System time \(seconds\): ([\d.]+)",
    "max_rss_mb": r"Maximum resident set size \(kbytes\): (\d+)",
}


def run_once(tree: Path, args: argparse.Namespace, out: Path) -> None:
    """The real run whose measurement both trees write: REV's loadgen, against nginx on core 1."""
    sys.path.insert(0, str(ROOT))
    from loadgen.testing.nginx import Nginx

    env = {**os.environ, "PYTHONPATH": str(tree)}
    with Nginx(core=1) as nginx:
        command = [sys.executable, "-m", "loadgen", f"-t{args.threads}", f"-c{args.connections}"]
        command += [f"-d{args.duration}s", "--json", str(out), nginx.url("/")]
        subprocess.run(command, env=env, check=True, cwd=tree, stdout=subprocess.DEVNULL)


def timed(tree: Path, command: list[str], core: int) -> dict[str, float]:
    """A command of a tree under ``/usr/bin/time -v``: its wall and CPU time and peak memory."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        ["/usr/bin/time", "-v", "taskset", "-c", str(core), sys.executable, *command],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{command} failed in {tree}: {done.stderr[-500:]}")
    figures: dict[str, float] = {}
    for name, pattern in TIME_V.items():
        found = re.search(pattern, done.stderr)
        assert found, (name, done.stderr[-1000:])
        parts = [float(part) if part else 0.0 for part in found.groups()]
        figures[name] = parts[0] * 60 + parts[1] + parts[2] if name == "wall_s" else parts[0]
    figures["max_rss_mb"] /= 1024
    figures["cpu_s"] = figures.pop("cpu_user_s") + figures.pop("cpu_system_s")
    return figures


def measure(tree: Path, source: Path, folder: Path, core: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    document = folder / f"{tree.name}.json"
    written = subprocess.run(
        ["taskset", "-c", str(core), sys.executable, "-c", WRITE, str(source), str(document)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = json.loads(written)
    merge = timed(tree, ["-m", "loadgen", "merge", str(document), str(document), "--force"], core)
    report = timed(tree, ["-m", "loadgen", "report", str(document)], core)
    figures |= {f"merge_{name}": value for name, value in merge.items()}
    figures |= {f"report_{name}": value for name, value in report.items()}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--threads", type=int, default=3)
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--existing", type=Path, help="a document REV can read, instead of a new run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loadgen-json-") as tmp:
        folder = Path(tmp)
        before = folder / "before"
        export(args.rev, before)
        source = args.existing or folder / "run.json"
        if args.existing is None:
            run_once(before, args, source)
        figures: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
        for pair in range(args.pairs):
            order = [("before", before), ("after", ROOT)]
            for name, tree in order if pair % 2 == 0 else order[::-1]:
                for key, value in measure(tree, source, folder, args.core).items():
                    figures[name].setdefault(key, []).append(value)
        print(f"{args.pairs} pairs, document of {source} ({source.stat().st_size / 1e6:.1f} MB as REV wrote it)")
        print(f"{'':>22} {'before':>18} {'after':>18}  after/before")
        for key in figures["before"]:
            b, a = (statistics.median(figures[name][key]) for name in ("before", "after"))
            spread = {name: f"[{min(figures[name][key]):.3g}, {max(figures[name][key]):.3g}]" for name in figures}
            print(f"{key:>22} {b:>8.3g} {spread['before']:>9} {a:>8.3g} {spread['after']:>9}  {a / b:.3f}")
        write_record("json_document", {"args": vars(args), "figures": figures})


if __name__ == "__main__":
    main()
