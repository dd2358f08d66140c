"""The one line server-matrix says on stderr when it refuses or stops, whatever value it quotes: a value given
by a user (``--rows``, ``--profile``, ``--modes``, a file's name) is quoted in it by click or by the check that
refused it, and one of 5,000 characters made a line of 5,000, one holding a newline two lines."""

from __future__ import annotations

import re

SHOWN = 1024  # characters of one word shown whole: no real path, URL or list of modes is longer
EXCERPT = 80  # characters kept of a longer one, as loadgen cuts a flag's value
_LONG_WORD = re.compile(rf"\S{{{SHOWN + 1},}}")


def one_line(message: str) -> str:
    """``message`` with its line breaks written out (``\\n``) and each word longer than ``SHOWN`` characters cut
    to its first ``EXCERPT`` and ``...``."""
    flat = message.replace("\r", "\\r").replace("\n", "\\n")
    return _LONG_WORD.sub(lambda word: f"{word[0][:EXCERPT]}...", flat)
