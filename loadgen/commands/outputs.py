"""The files a command writes (JSON, the HTML report), checked before the run so that a run is
never lost to a path that cannot be written; and stdout kept for the JSON document alone when it
goes there (``--json -``)."""

from __future__ import annotations

import errno
import importlib.util
import locale
import os
import secrets
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from .._stats import hdr
from ..closedoutput import outliving, write_failed
from ..errors import NOTHING_MEASURED, Interrupted, SetupError, UsageError, shown
from ..inputfiles import file_path
from ..result import Result
from ..stopping import interruptible, signalled
from ..thresholds import Verdict

__all__ = [
    "check_distinct",
    "check_histograms",
    "check_html",
    "check_not_read",
    "check_writable",
    "say_nothing_measured",
    "stdout_for_json",
    "unwritten",
    "write_document",
    "write_html",
]

# A copy beside a file that failed so may fit in its place: a directory refused it, or the disk has room for one copy
# of the file, not two; EFBIG (ulimit -f) or EROFS would fail there too, and lose the file.
IN_PLACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM)
FIFO_POLL_S = 0.05  # how often a FIFO is looked at for a reader (a blocking open would not see an earlier stop)


def say_nothing_measured(failures: Sequence[str]) -> None:
    """Every worker failed and none's measurement came home: the diagnosis's lines (the workers'
    failures) and the one saying so, on stderr, in place of a report or a step's verdict (a run or a
    step of 0 requests would read as a measurement of 0 requests/sec)."""
    for line in [*failures, f"loadgen: {NOTHING_MEASURED}"]:
        print(line, file=sys.stderr)


def check_writable(path: str, what: str = "JSON") -> None:
    """Fail before the run, not after it, when a file cannot be written: try to open it (an empty
    name: ``Is a directory``, the current one)."""
    if not path:
        raise UsageError(f"--{what.lower()} needs a file name")
    try:
        target = file_path(path)
        existed = target.exists()  # a name too long raises here (ENAMETOOLONG): a traceback, outside the try
        if target.is_fifo():  # opened, it waits for a reader, and closed it ends that reader's read
            if not os.access(target, os.W_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            return
        with open(target, "a"):
            pass
    except OSError as exc:
        raise SetupError(f"cannot write {what} to {shown(path)}: {exc.strerror or exc}") from None
    if not existed:
        target.unlink()


def check_html(path: str) -> None:
    """Before the run: the HTML report's file can be written and its plotting library is there.
    ``-`` is refused, not taken as stdout: that is where the report's text goes."""
    if path == "-":
        raise UsageError("--html writes a file: give it a file name (- is not stdout here)")
    if importlib.util.find_spec("matplotlib") is None:
        raise SetupError("the HTML report draws its charts with matplotlib: pip install 'loadgen[html]'")
    check_writable(path, "HTML")


def check_histograms(paced: bool, json_path: str | None) -> None:
    """Before the run: a constant-rate report and the JSON document draw on hdrhistogram, a C
    extension pip must build where it has no wheel (the free-threaded 3.14t); installed without it
    (``--no-deps``), the run went to its end and then lost its report to ``No module named 'hdrh'``."""
    if (paced or json_path is not None) and (why := hdr.missing()):
        asked = "the report of a constant-rate run, -R or --stages" if paced else "--json"
        raise SetupError(f"{why} (for {asked})")


def check_distinct(json_path: str | None, html_path: str | None) -> None:
    """Before the run: the JSON and the HTML report in one file would leave only the HTML."""
    if json_path in (None, "-") or html_path is None:
        return
    if _same_file(json_path, html_path):
        raise UsageError(f"--json and --html name the same file: {html_path}")


def check_not_read(html_path: str, read: Sequence[str]) -> None:
    """Before reading: an HTML report written over a result it shows would replace the only copy
    of that measurement with a page that cannot be read back."""
    for path in read:
        if _same_file(path, html_path):
            raise UsageError(f"--html names a result file it reads: {html_path}; give the page another name")


def _same_file(one: str, other: str) -> bool:
    """One file by two names: relative and absolute, through a symbolic link, or a hard link."""
    try:
        return Path(one).resolve() == Path(other).resolve() or os.path.samefile(one, other)
    except OSError:  # one of them is not there yet: two names of one file are both there
        return False
    except (ValueError, RuntimeError):  # a NUL in a name, a symbolic link to itself (3.11, 3.12): no file at all,
        return False  # which the file's own check says (a traceback here)


@contextmanager
def stdout_for_json(json_path: str | None) -> Iterator[TextIO]:
    """The stream the JSON document is written to. With ``-`` (stdout), stdout must carry the
    document and nothing else, so a pipe reads JSON: until the block ends, everything else bound
    for stdout (the report, a script's prints in this process or in the workers forked from it,
    which inherit descriptor 1) goes to stderr, and the document to a private copy of stdout."""
    if json_path != "-":
        yield sys.stdout
        return
    stdout = sys.stdout
    stdout.flush()
    document_fd = os.dup(1)  # not inherited: a worker never holds the reader's pipe open
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        with open(document_fd, "w", encoding=stdout.encoding, errors=stdout.errors, closefd=False) as document:
            yield outliving(document)
    finally:
        sys.stdout = stdout
        os.dup2(document_fd, 1)
        os.close(document_fd)


def unwritten(write: Callable[[], None]) -> list[str]:
    """``write`` done, or the line saying why its file could not be: a command then writes its other files, says
    its own lines (the server's failures, the thresholds' verdicts) and keeps the failure code it earned, exit 1 in
    place of 0, as for a stdout that refuses the report. One file lost lost them all: the next file unwritten, the
    lines unsaid and the code 1 (a run that earned 3 or 4, a capacity search 4)."""
    try:
        write()
    except SetupError as exc:
        return [f"loadgen: {exc}"]
    return []


def write_html(results: Sequence[tuple[str, Result]], path: str, verdicts: Sequence[Sequence[Verdict]]) -> None:
    from ..report.html import html_report  # matplotlib, imported only when a report is asked for

    # UTF-8, as its <meta charset> says, whatever the locale: an ASCII one ended in a UnicodeEncodeError
    _write_text(path, html_report(results, verdicts), "HTML", "utf-8")


def write_document(text: str, path: str, stdout: TextIO | None = None) -> None:
    """A JSON document to a file, or to stdout for ``-`` (``stdout``: where it is, if not sys.stdout)."""
    if path == "-":
        stream = stdout or sys.stdout
        stream.write(text + "\n")
        stream.flush()  # here, where a reader gone is kept quiet, not when the stream is closed
        if (error := write_failed(stream)) is not None:  # refused (/dev/full): lost, as a file's would be
            raise SetupError(f"cannot write JSON to stdout: {error.strerror or error}")
        return
    _write_text(path, text + "\n", "JSON")


def _write_text(path: str, text: str, what: str, encoding: str | None = None) -> None:
    """``text`` into the file at ``path`` (``what``: JSON or HTML, for its error), a FIFO's as
    :func:`_write_fifo` writes it, a regular file's as :func:`_write_whole` does."""
    try:
        if Path(path).is_fifo():
            _write_fifo(path, text, what, encoding)
        else:
            _write_whole(Path(path), text.encode(encoding or locale.getpreferredencoding(False)))
    except OSError as exc:
        raise SetupError(f"cannot write {what} to {shown(path)}: {exc.strerror or exc}") from None


def _write_whole(path: Path, data: bytes) -> None:
    """``data`` as the regular file at ``path``, whole or not at all: written beside it, then renamed into its
    place. A disk that filled mid-file left half a document, which ``loadgen report`` read as damaged (``not
    JSON: Expecting value: line 1 column 4097``); now the file is as it was, or absent. A symbolic link
    (``/dev/stdout``, whose file a shell holds open) or a device is written in place, as is a file that could not
    be written beside (:func:`_write_in_place`)."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        path.write_bytes(data)
        return
    try:
        _write_beside(path, data)
    except OSError as exc:
        if not path.is_file() or exc.errno not in IN_PLACE_ERRNOS:
            raise
        _write_in_place(path, data)


def _write_beside(path: Path, data: bytes) -> None:
    """A temporary file beside ``path``, renamed into its place once whole; removed else."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # never through a link another user planted; the mode a new file gets (umask), or the old file's
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with open(descriptor, "wb") as stream:
            stream.write(data)
            if path.exists():
                os.chmod(descriptor, stat.S_IMODE(path.stat().st_mode))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _write_in_place(path: Path, data: bytes) -> None:
    """The file itself rewritten, where no copy could be made beside it: a directory not writable, no inode free, or
    room for one copy, not two (an HTML page of 34 KB over the last one, on a 64 KiB disk, which main wrote). One
    that cannot be written whole is removed: never half a document. One that cannot be opened is left as it was."""
    with open(path, "wb", buffering=0) as stream:
        try:
            left = memoryview(data)
            while left:
                left = left[stream.write(left) :]
        except OSError:
            path.unlink(missing_ok=True)
            raise


def _write_fifo(path: str, text: str, what: str, encoding: str | None) -> None:
    """A FIFO's open waits for a reader, and its write for the reader to read: a stop (Ctrl-C, SIGTERM,
    SIGHUP) ends either wait, and no reader is waited for once one came (during the run, or after its
    report): :class:`Interrupted`. Its open held loadgen, the report printed, through every signal until it
    was killed. A regular file's write is not interrupted: a stop while the outputs are written lets them
    be written."""
    data = memoryview(text.encode(encoding or locale.getpreferredencoding(False)))  # as write_text encodes
    try:
        with interruptible():
            descriptor = _reader_waited(path)
            try:  # unbuffered: a file object's close() flushes what an interrupted write left, and waits again
                while data:
                    data = data[os.write(descriptor, data) :]
            finally:
                os.close(descriptor)
    except KeyboardInterrupt:
        raise Interrupted(running=f"writing {what} to {shown(path)}, a FIFO no process read to its end") from None


def _reader_waited(path: str) -> int:
    """A descriptor (blocking) writing into the FIFO at ``path``, once a process opens it to read;
    KeyboardInterrupt when a stop came first, or had come."""
    while True:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: no reader yet
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            if signalled():
                raise KeyboardInterrupt from None
            time.sleep(FIFO_POLL_S)
            continue
        os.set_blocking(descriptor, True)
        return descriptor
