"""What a mode is shown as: its title with a run's values (report.md's headings, results.json's listing), and its
line in `server-matrix modes`; and the plural rule every count the matrix writes follows (here, the lowest room, so
that the report's text and the titles share it)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from server_matrix.planning.modes import COUNTS, ServerMode

HTTP2_ONLY = "[--http2 only]"  # how `server-matrix modes` marks a sibling that only `run --http2` measures


def plural(count: object, noun: str) -> str:
    """``noun`` as it follows ``count`` as written: ``1 worker``, ``2 workers``; ``count`` is any value a results
    file or a template holds. Not units.counted(), which is not loadgen's public API (server_matrix uses nothing
    else of it)."""
    return noun if str(count) == "1" else noun + "s"


def counted(count: object, noun: str) -> str:
    """``1 worker``, ``20 workers``: ``count`` as written and its noun (:func:`plural`)."""
    return f"{count} {plural(count, noun)}"


def display_title(mode: ServerMode, *, original: bool, **values: object) -> str:
    """The mode's title (the notes' own under ``original``) with ``values``, a count of one naming its noun in the
    singular: a count's placeholder followed, a few words on, by its own name (``{workers} workers``, ``{threads}
    blocking threads``) said "1 workers" under ``--workers 1``. The noun is not always next to its count."""
    title = mode.original_title if original and mode.original_title else mode.title
    for name in COUNTS:
        noun = plural(values.get(name), name.removesuffix("s"))
        title = re.sub(rf"(\{{{name}\}}(?: [a-z]+)*? ){name}\b", rf"\g<1>{noun}", title)
    return title.format(**values)


def listing(modes: Iterable[ServerMode]) -> list[str]:
    """`server-matrix modes`'s lines: each mode (its ``about``, else its title: a modes file's need not say one),
    followed by its HTTP/2 sibling when its server speaks h2c."""
    lines = []
    for mode in modes:
        lines.append(f"{mode.id:22} {mode.about or mode.title}")
        if mode.h2c_args is not None:
            lines.append(f"{mode.over_http2().id:22} {HTTP2_ONLY} {mode.id} over HTTP/2 (h2c with prior knowledge).")
    return lines
