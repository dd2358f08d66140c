"""Where a benchmark keeps what it measured: one JSON record per run under benchmarks/out/.

    from record import write_record   # a sibling script, as the benchmarks import each other
    write_record("vs_wrk", {"args": vars(args), "runs": ...})

Every record says when it was made and which Python ran it (unless it says so itself); values
JSON does not know (a path) are written as text.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

__all__ = ["OUT", "stamp", "write_record"]

OUT = Path(__file__).resolve().parent / "out"


def stamp() -> str:
    """Now, as a record's file names it: ``20261203-041000``."""
    return time.strftime("%Y%m%d-%H%M%S")


def write_record(name: str, record: dict[str, object], *, started: str | None = None, quiet: bool = False) -> Path:
    """``record`` written to ``benchmarks/out/<name>-<started>.json`` (``started``: a :func:`stamp`,
    now by default; a benchmark that saves after each run passes the one it started with, and
    the file grows); its path, printed unless ``quiet``."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}-{started or stamp()}.json"
    document = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "python": sys.version.split()[0], **record}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    if not quiet:
        print(f"wrote {path}")
    return path
