"""Several requests in one run (``--targets FILE``): vegeta's targets format, read once before
the run, and the order in which a worker sends them.

A targets file holds one request per entry::

    # comments start with '#'
    GET http://127.0.0.1:8080/api/orders weight=3
        Accept: application/json
    POST http://127.0.0.1:8080/api/orders
        Content-Type: application/json
    @order.json

An entry is a request line (``[METHOD] URL [weight=N]``; the method starts with a letter and defaults
to GET, the weight to 1), then its ``Name: value`` header lines (indented or not, as vegeta writes
them) and at most one ``@path`` line naming a file whose bytes are the body (relative to the
targets file's directory). Blank lines separate nothing and are ignored. Every target is on the
first one's scheme, host and port: a run loads one server, whose connections carry every target.

A bad file is one :class:`~loadgen.errors.SetupError` naming ``file:line`` and what is wrong.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from heapq import heapify, heapreplace
from math import gcd
from pathlib import Path
from typing import BinaryIO, TextIO

from .errors import SetupError, UsageError, excerpt, shown
from .inputfiles import file_path, read_whole
from .request import TOKEN, header_problem, method_problem, parse_header
from .target import Url, parse_url

__all__ = [
    "MAX_CYCLE",
    "MAX_TARGETS",
    "Target",
    "TargetsError",
    "check_targets",
    "labels",
    "parse_targets",
    "read_targets",
    "send_order",
]

MAX_TARGETS = 10_000  # targets in one file: each has a line in the report
MAX_CYCLE = 1_000_000  # the weights' sum (after dividing by their common divisor): one cycle of the order
# RFC 9110's methods and PATCH: taken in any case (``post``); another method is written in capitals
_STANDARD_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"))
_WEIGHT = re.compile(r"weight=(\S*)")
_SCHEME = re.compile(r"https?://", re.IGNORECASE)
_BOM = "\ufeff"  # what Windows editors put before a UTF-8 file's first line: not part of it


LONGEST_LINE = 2**20  # a line's bytes, its end included: far above any URL and headers, a body is an @FILE


class TargetsError(SetupError):
    """A targets file that cannot be read or has a bad line: ``file:line: what is wrong``."""


@dataclass(frozen=True)
class Target:
    """One request of a run with several: what to send, and how often relative to the others.

    ``url`` is the full URL (``http://host:port/path?query``); ``headers`` are added to the run's
    ``-H`` headers (a target's header replaces a ``-H`` header of the same name). ``line`` is where
    a targets file gave it (0 when made in Python)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    weight: int = 1
    line: int = 0

    def parsed_url(self) -> Url:
        """The URL's parts, or ValueError."""
        return parse_url(self.url)


def _origin(url: Url) -> tuple[str, str, int]:
    return url.scheme, url.host.lower(), url.effective_port


class _Reader:
    """The state of one pass over a targets file: the entries so far and the one being read."""

    def __init__(self, name: str, base: Path) -> None:
        self.name = shown(name)  # as every message names it: one line, whatever the file's name holds
        self.base = base
        self.done: list[Target] = []
        self.current: Target | None = None
        self.first: tuple[Url, int] | None = None  # the first target's URL and line: the run's server
        self.line = 0

    def error(self, message: str) -> TargetsError:
        return TargetsError(f"{self.name}:{self.line}: {message}")

    def feed(self, raw: str) -> None:
        text = raw.strip()
        if not text or text.startswith("#"):
            return
        if text.startswith("@"):
            self.body(text[1:].strip())
        elif self.request_line(text):
            return
        elif (url := _unusable_url(text)) is not None:
            raise self.error(f"invalid URL {excerpt(url)}: a target's URL starts with http:// or https://")
        elif self.current is None:
            raise self.error(f"expected a request line ([METHOD] URL), found {excerpt(text)}")
        else:
            self.header(text)

    def request_line(self, text: str) -> bool:
        """Start a new entry when ``text`` is ``[METHOD] URL [weight=N]``; False when it is not one."""
        words = text.split()
        if _SCHEME.match(words[0]):
            method, rest = "GET", words[1:]
            url_text = words[0]
        elif len(words) > 1 and _SCHEME.match(words[1]) and not words[0].endswith(":"):
            method, url_text, rest = words[0], words[1], words[2:]
        else:
            return False
        if (problem := method_problem(method)) is not None:  # 123: a weight or a count written before the URL
            raise self.error(problem)
        if not _is_method(method):
            raise self.error(
                f"{excerpt(text)} is no request line ({excerpt(method)} is no method: vegeta's are in capitals) "
                "nor a header (Name: value)"
            )
        weight = 1
        if len(rest) > 1:  # a second weight would silently win over the first
            raise self.error(
                f"unexpected {excerpt(rest[1])} after {excerpt(rest[0])} (one weight=N may follow the URL)"
            )
        for word in rest:
            match = _WEIGHT.fullmatch(word)
            if not match:
                raise self.error(f"unexpected {excerpt(word)} after the URL (only weight=N may follow it)")
            weight = self.weight(word, match.group(1))
        try:
            url = parse_url(url_text)
        except ValueError as exc:
            raise self.error(f"invalid URL {excerpt(url_text)}: {exc}") from None
        if self.first is None:
            self.first = url, self.line
        elif _origin(url) != _origin(self.first[0]):
            first, line = self.first
            raise self.error(
                f"{url.scheme}://{url.host}:{url.effective_port} is another server than line {line}'s "
                f"{first.scheme}://{first.host}:{first.effective_port}: "
                "a run loads one server (run loadgen once per server)"
            )
        self.close()
        if len(self.done) >= MAX_TARGETS:
            raise self.error(f"more than {MAX_TARGETS:,} targets")
        self.current = Target(method.upper(), url_text, weight=weight, line=self.line)
        return True

    def weight(self, word: str, digits: str) -> int:
        """``weight=N``'s N, a whole number from 1; one of more digits than Python's ``int()``
        converts (4,300) is refused in words, not by int()'s traceback."""
        if not digits.isdigit() or not digits.isascii() or not digits.strip("0"):
            raise self.error(f"invalid {excerpt(word)}: a weight is a whole number from 1")
        try:
            return int(digits)
        except ValueError:  # sys.get_int_max_str_digits()
            raise self.error(f"invalid {excerpt(word)}: {len(digits):,} digits, too many for a weight") from None

    def header(self, text: str) -> None:
        assert self.current is not None
        try:
            name, value = parse_header(text)
        except UsageError as exc:
            raise self.error(str(exc)) from None
        self.current = replace(self.current, headers=(*self.current.headers, (name, value)))

    def body(self, path_text: str) -> None:
        if self.current is None:
            raise self.error("a body (@file) before any request line")
        if self.current.body is not None:
            raise self.error("a second body (@file) for one request")
        if not path_text:
            raise self.error("@ names no file")
        path = self.base / Path(path_text).expanduser()
        try:
            data = read_whole(path)
        except OSError as exc:
            raise self.error(f"cannot read body file {shown(path_text)}: {exc.strerror or exc}") from None
        self.current = replace(self.current, body=data)

    def close(self) -> None:
        if self.current is not None:
            self.done.append(self.current)
            self.current = None

    def targets(self) -> tuple[Target, ...]:
        self.close()
        if not self.done:
            raise TargetsError(f"{self.name}: no targets (expected lines of [METHOD] URL)")
        if (head := _head_among_others(self.done)) is not None:
            raise TargetsError(f"{self.name}:{head.line}: {MIXED_HEAD}")
        _check_cycle([t.weight for t in self.done], self.name)
        return tuple(self.done)


def _is_method(word: str) -> bool:
    """Whether ``word``, before a URL, is a method: in capitals, as vegeta takes one (``[A-Z]+ URL``;
    loadgen takes a token, as M-SEARCH), or a standard one in another case (``post``). A header
    without its colon under a request line (``Referer http://h/``) was a target of the method REFERER,
    where vegeta refuses it as a bad header."""
    return word == word.upper() or word.upper() in _STANDARD_METHODS


def _unusable_url(text: str) -> str | None:
    """The URL of a line written as ``[METHOD] URL`` whose URL is not one loadgen sends to (a path
    alone, another scheme), to be said as such: after the first entry it read as a header without
    its colon. A header line with its value's URL right after the colon (``Referer:http://a/``, as ``-H``
    takes it) is no URL."""
    name, colon, value = text.partition(":")
    if colon and TOKEN.fullmatch(name) and not value.startswith("//"):  # a header name is a token
        return None
    words = text.split()
    url = words[1] if len(words) > 1 and words[0].isalpha() else words[0]
    return url if url.startswith("/") or "://" in url else None


def _check_cycle(weights: Sequence[int], name: str) -> None:
    divisor = 0
    for weight in weights:
        divisor = gcd(divisor, weight)
    if sum(weights) // divisor > MAX_CYCLE:
        raise TargetsError(
            f"{name}: the weights add up to {sum(weights) // divisor:,} (after dividing by their common divisor), "
            f"more than {MAX_CYCLE:,}: use smaller weights"
        )


def parse_targets(lines: Iterable[str], name: str = "<targets>", base: Path | None = None) -> tuple[Target, ...]:
    """The targets of a file's lines; ``name`` is how errors name the file, ``base`` the directory
    body files are relative to (the current one when None)."""
    reader = _Reader(name, base if base is not None else Path())
    for number, raw in enumerate(lines, 1):
        reader.line = number
        reader.feed(raw.removeprefix(_BOM) if number == 1 else raw)
    return reader.targets()


def read_targets(path: str, stdin: TextIO | None = None) -> tuple[Target, ...]:
    """The targets of the file ``path`` (``-``: standard input, body files relative to the
    current directory). Each line is read and checked before the next: a file given by mistake
    (a log of gigabytes) is refused at its first bad line, not once all of it is in memory.
    Standard input is read as bytes, UTF-8 as a file is, whatever the locale (its text layer would
    let bytes that are not UTF-8 through as escapes, or read Latin-1); ``stdin``, or a
    ``sys.stdin`` with no bytes beneath (an IDE's, a notebook's), as the text it gives."""
    if path == "-":
        text = stdin or sys.stdin
        if text is None:  # loadgen started with standard input closed (<&-): Python's sys.stdin is None
            raise TargetsError("cannot read targets from standard input: it is closed")
        raw = getattr(text, "buffer", None) if stdin is None else None
        return parse_targets(_utf8_lines(raw, "<stdin>") if raw is not None else text, "<stdin>")
    try:
        with file_path(path).open("rb") as file:
            return parse_targets(_utf8_lines(file, path), path, Path(path).parent)
    except OSError as exc:  # opening it, or reading it (a body file's are said by its line)
        raise TargetsError(f"cannot read targets file {shown(path)}: {exc.strerror or exc}") from None


def _utf8_lines(file: BinaryIO, name: str) -> Iterator[str]:
    """A targets file's lines, each decoded as it is read: TargetsError naming the first that is
    not UTF-8, or longer than :data:`LONGEST_LINE` (``--targets /dev/zero``, one line without an
    end, was read until the memory ran out)."""
    for number, line in enumerate(iter(lambda: file.readline(LONGEST_LINE + 1), b""), 1):
        if len(line) > LONGEST_LINE:
            raise TargetsError(f"{shown(name)}:{number}: a line longer than 1 MiB (a body goes in a file: @FILE)")
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            raise TargetsError(f"{shown(name)}:{number}: not UTF-8 text") from None


def check_targets(targets: Sequence[Target], server: Url) -> None:
    """Targets given in Python (a file's are checked as it is read): each a request to ``server``
    (the run's URL), with a method, Latin-1 headers and a weight from 1; UsageError otherwise."""
    for index, target in enumerate(targets):
        where = _named(index, target)
        if (problem := _type_problem(target)) is not None:
            raise UsageError(f"{where}: {problem}")
        try:
            url = target.parsed_url()
        except ValueError as exc:
            raise UsageError(f"{where}: invalid URL: {exc}") from None
        if _origin(url) != _origin(server):
            raise UsageError(f"{where}: another server than {server.scheme}://{server.host}:{server.effective_port}")
        if (problem := method_problem(target.method)) is not None:
            raise UsageError(f"{where}: {problem}")
        if not isinstance(target.weight, int) or isinstance(target.weight, bool) or target.weight < 1:
            raise UsageError(f"{where}: a weight is a whole number from 1, not {target.weight!r}")
        for name, value in target.headers:
            if (problem := header_problem(name, value)) is not None:
                raise UsageError(f"{where}: {problem}")
    if (head := _head_among_others(targets)) is not None:
        raise UsageError(f"{_named(targets.index(head), head)}: {MIXED_HEAD}")
    if len(targets) > MAX_TARGETS:
        raise UsageError(f"{len(targets):,} targets: at most {MAX_TARGETS:,}")
    try:
        _check_cycle([target.weight for target in targets], "the targets")
    except TargetsError as exc:
        raise UsageError(str(exc)) from None


def _named(index: int, target: Target) -> str:
    """A target given in Python as a message names it: its index, method and URL, quoted when they hold a
    line break, a tab or another character that is not printable, which split the message's line."""
    return f"target {index} ({shown(f'{target.method} {target.url}')})"


def _type_problem(target: Target) -> str | None:
    """What a Target made in Python holds of another type than its field's (a file's are read as
    such), said before the run, where it would fail inside it naming nothing."""
    for name in ("method", "url"):
        if not isinstance(value := getattr(target, name), str):
            return f"{name} must be str, not {value!r}"
    pairs = target.headers
    if not isinstance(pairs, tuple | list) or not all(
        isinstance(pair, tuple | list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
        for pair in pairs
    ):
        return f"headers must be (name, value) pairs of str, not {pairs!r}"
    if target.body is not None and not isinstance(target.body, bytes):
        return f"body must be bytes or None, not {target.body!r}"
    return None


MIXED_HEAD = (
    "HEAD among other methods: a run's targets are all HEAD or none "
    "(a HEAD response has no body, and a connection reads every response of a run alike)"
)


def _head_among_others(targets: Sequence[Target]) -> Target | None:
    heads = [target for target in targets if target.method == "HEAD"]
    return heads[0] if heads and len(heads) < len(targets) else None


def labels(targets: Sequence[Target]) -> tuple[str, ...]:
    """Each target's name in the report, ``--json`` and ``--fail-on``: ``METHOD path``; a
    name already taken gets ``#2``, ``#3``, ... in the order of the targets."""
    seen: dict[str, int] = {}
    names = []
    for target in targets:
        base = f"{target.method} {target.parsed_url().path}"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return tuple(names)


def send_order(weights: Sequence[int]) -> tuple[int, ...]:
    """One cycle of the order in which a worker sends its targets (by index): each target as often
    as its weight (divided by the weights' common divisor), spread evenly through the cycle, so
    that any stretch of requests holds the targets close to their weights. Equal weights give
    round-robin: 0, 1, 2, 0, 1, 2, ...

    Target i's k-th turn falls at (k + 1/2) / share_i of the cycle (stride scheduling; exact in
    floating point: turns differ by at least 1 / (2 x the cycle), and equal fractions round
    alike); ties go to the lower index."""
    divisor = 0
    for weight in weights:
        divisor = gcd(divisor, weight)
    shares = [weight // divisor for weight in weights]
    heap = [(1 / (2 * share), index, 0) for index, share in enumerate(shares)]
    heapify(heap)
    order = []
    for _ in range(sum(shares)):
        _, index, k = heap[0]
        order.append(index)
        heapreplace(heap, ((2 * k + 3) / (2 * shares[index]), index, k + 1))
    return tuple(order)
