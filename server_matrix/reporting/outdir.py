"""The results directory: one run writes into it at a time, holding its lock file (each run saves results.json with
its own cells, so the last save would drop the other's); a run stopped before any cell removes what it created; every
file in it is written whole or not at all."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

LOCK_FILE = ".server-matrix.lock"  # in the results directory, held by the run writing there


def hold(out_dir: Path) -> None:
    """Create ``out_dir`` if need be, check that it can be written to, and hold its lock until this process exits.
    Raises BlockingIOError when another run holds it, another OSError when the directory cannot be written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tempfile.TemporaryFile(dir=out_dir).close()
    lock = os.open(out_dir / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # never closed: held until this process exits


def not_there(out_dir: Path) -> list[Path]:
    """The lock file and the directory, those not there yet: what this run will create. One that cannot be looked at
    (a name too long, a folder not searchable) is not there: Path.exists() raised (a traceback, before the run's
    check that --out can be written to said so in a line)."""
    return [path for path in (out_dir / LOCK_FILE, out_dir) if not os.path.exists(path)]


def remove(created: list[Path]) -> None:
    """Remove what :func:`not_there` listed, when nothing was written (a directory another run has written into
    since is not empty: kept)."""
    for path in created:
        with contextlib.suppress(OSError):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()


def write_whole(path: Path, data: bytes) -> None:
    """``data`` as the file at ``path``, written to a temporary file beside it, then renamed: a reader never sees half
    a file, and a disk that fills mid-file leaves the file as it was, or absent (report.md was left 8,192 bytes of
    21,804, chart.svg 20,480 of 92,799, on a full tmpfs). A failure names ``path``, not the temporary file (the
    run's last line said ``.../.results.json.mxbwg0xl: ...``)."""
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None


def unwritable(out_dir: Path, error: OSError) -> str:
    """Why ``--out`` cannot be written, in a few words: a file in its place is "a file, not a directory", not
    mkdir's "File exists" (os.path.isfile: Path.is_file() raised on a name too long to look at)."""
    return "a file, not a directory" if os.path.isfile(out_dir) else error.strerror or str(error)
