"""Is this a loadgen-result document this loadgen can read? Bytes or text in, the checked
document out, or a :class:`DocumentError` that names the field and what is wrong with it.

In order: the size, UTF-8 and JSON (:func:`loadgen.schemacheck.parse_json`); the schema name and
version (a version 2 document is brought to version 3's shape first, see :func:`upgrade_v2`);
``loadgen/result.schema.json`` (types, required fields, bounds on every count, value and size);
then what the schema cannot say because it relates fields, each a fact of how loadgen measures:
a recorded latency is never longer than the run's ``--timeout`` (a slower response is a timeout),
the window never runs much past ``-d``, the timeline has a second per second of the window and
its seconds' errors by reason are their errors of those kinds, the targets' requests are a share
of the run's, each target named once, a worker never measures more than
:data:`MAX_RATE_PER_WORKER` responses per second, and wrk's correction for coordinated omission
has a bounded amount of work to do. Each check is linear in the document, so a refusal comes
within a second, before anything is computed from it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
from collections.abc import Iterator
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from .._stats.stats import in_flight_most, wrk_correction_size, wrk_expected_interval
from ..measurement import SOCKET_ERRORS
from ..schemacheck import JsonError, Schema, Violation, describe, parse_json
from ..schemacheck import Path as FieldPath
from ..target import parse_url

__all__ = ["MAX_BYTES", "SCHEMA", "VERSION", "DocumentError", "checked", "checked_document", "histogram_counts"]

SCHEMA = "loadgen-result"
VERSION = 3
OLDEST = 2  # version 2 documents are still read
MAX_BYTES = 1 << 30  # 1 GiB: a 30 s run at -c3000 writes 5 MB
MAX_RATE_PER_WORKER = 10_000_000  # responses per second: loadgen does ~150k per core
MAX_CORRECTION = 10_000_000  # values wrk's correction may add (seconds of work beyond this)
RUNTIME_SLACK = 1.1, 10_000_000  # the window may end 10% + 10 s after -d (a loaded machine stops late)
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "result.schema.json"
HISTOGRAMS: tuple[FieldPath, ...] = (  # where a document holds histograms, besides its timeline
    ("latency", "histogram"),
    ("latency_uncorrected", "histogram"),
    ("req_per_sec", "histogram"),
    ("connect", "histogram"),
    ("tls_handshake", "histogram"),
    ("first_byte", "histogram"),
    ("first_byte", "split", "latency"),
    ("first_byte", "split", "first_byte"),
    ("connections", "responses_per_connection", "histogram"),  # the per-connection account: within version 3
    ("connections", "first_response_us", "histogram"),
    ("connections", "unanswered_wait_us", "histogram"),
)


class DocumentError(ValueError):
    """Not a loadgen result document this version can read."""


@cache
def _schema() -> tuple[Schema, int]:
    """The compiled schema, and its largest histogram value (µs)."""
    document = json.loads(SCHEMA_PATH.read_text())
    return Schema(document), int(document["$defs"]["value"]["maximum"])


def checked_document(text: str | bytes) -> dict[str, Any]:
    """The document, in version 3's shape, once every check has passed."""
    if not isinstance(text, str | bytes):
        kind = type(text).__name__
        raise TypeError(f"a document is read from JSON text or bytes, not {kind} (a parsed one: from_document)")
    try:
        data = parse_json(text.encode() if isinstance(text, str) else text, MAX_BYTES)
    except JsonError as exc:
        raise DocumentError(str(exc)) from None
    return checked(data)


def checked(data: Any) -> dict[str, Any]:
    """An already parsed document, in version 3's shape, once every check has passed (a version
    2 document is upgraded in a copy: ``data`` itself is left as it was)."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        said = f" but a {found} document" if isinstance(found, str) and found.startswith("loadgen-") else ""
        raise DocumentError(f"not a {SCHEMA} document{said}")
    version = data.get("version")
    if type(version) is not int:
        raise DocumentError(f"version: expected an integer, found {describe(version)}")
    if not OLDEST <= version <= VERSION:
        raise DocumentError(f"{SCHEMA} version {version}, but this loadgen reads versions {OLDEST} to {VERSION}")
    try:
        if version == 2:
            data = copy.deepcopy(data)
            upgrade_v2(data)
        data.setdefault("targets", [])  # came within version 3: a document without it had one target
        schema, largest = _schema()
        schema.check(data)
        _check_relations(data, largest)
    except Violation as exc:
        raise DocumentError(str(exc)) from None
    document: dict[str, Any] = data
    return document


def _at(data: Any, path: FieldPath) -> Any:
    for key in path:
        data = data[key]
    return data


def _v2_histograms(data: dict[str, Any]) -> Iterator[FieldPath]:
    """Where version 2 documents held histograms (those present: the schema names the missing)."""
    for path in HISTOGRAMS:
        try:
            _at(data, path)
        except (KeyError, TypeError, IndexError):
            continue
        yield path
    timeline = data.get("timeline")
    if isinstance(timeline, list):
        for index, second in enumerate(timeline):
            if isinstance(second, dict) and "histogram" in second:
                yield ("timeline", index, "histogram")


def upgrade_v2(data: dict[str, Any]) -> None:
    """Version 2 in version 3's shape, in place: each histogram was ``[value, count]`` pairs in
    increasing value order, there were no run ids, and the first documents had no ``hosts`` and
    no ``thresholds``. The pairs are checked here, where the version 2 field can be named;
    everything else, by the version 3 schema."""
    largest = _schema()[1]
    for path in _v2_histograms(data):
        pairs = _at(data, path)
        if type(pairs) is not list:
            raise Violation(path, f"expected an array of [value, count] pairs, found {describe(pairs)}")
        deltas, counts, previous = [], [], 0
        for index, pair in enumerate(pairs):
            if not (type(pair) is list and len(pair) == 2 and all(type(part) is int for part in pair)):
                raise Violation((*path, index), f"expected a [value, count] pair of integers, found {describe(pair)}")
            value, count = pair
            if not 0 <= value <= largest:
                raise Violation((*path, index), f"value {value:,} outside 0 to {largest:,}")
            if index and value <= previous:
                raise Violation((*path, index), f"value {value:,} after {previous:,}: not in increasing order")
            if count < 1:
                raise Violation((*path, index), f"count {count}: below the minimum, 1")
            deltas.append(value - previous)
            counts.append(count)
            previous = value
        _at(data, path[:-1])[path[-1]] = {"deltas": deltas, "counts": counts}
    if isinstance(data.get("runs"), list):
        data.setdefault("run_ids", [None] * len(data["runs"]))
    data.setdefault("hosts", [])
    data.setdefault("thresholds", [])
    data["version"] = VERSION


def largest_value(histogram: dict[str, Any]) -> int:
    """The largest value of a histogram (the sum of its deltas)."""
    return sum(histogram["deltas"])


def histogram_counts(histogram: dict[str, Any]) -> dict[int, int]:
    """A checked histogram as value -> count."""
    return dict(zip(accumulate(histogram["deltas"]), histogram["counts"], strict=True))


def _histograms(data: dict[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """Every histogram the document has (the schema has required those it must have)."""
    for path in HISTOGRAMS:
        try:
            histogram = _at(data, path)
        except KeyError:
            continue
        yield path, histogram
    for index, second in enumerate(data["timeline"]):
        yield ("timeline", index, "histogram"), second["histogram"]
    for index, target in enumerate(data["targets"]):
        for key in ("latency", "latency_uncorrected"):
            yield ("targets", index, key, "histogram"), target[key]["histogram"]


def _measured_latencies(data: dict[str, Any]) -> Iterator[FieldPath]:
    """The histograms the reader takes as measured latencies (what the run recorded)."""
    paced = data["runs"][0]["rate"] is not None
    yield ("latency_uncorrected", "histogram")
    if paced:
        yield ("latency", "histogram")
    yield ("first_byte", "split", "latency")
    yield ("first_byte", "split", "first_byte")
    for index in range(len(data["timeline"])):
        yield ("timeline", index, "histogram")
    for index in range(len(data["targets"])):
        yield ("targets", index, "latency_uncorrected", "histogram")
        if paced:
            yield ("targets", index, "latency", "histogram")


def _check_requests(index: int, run: dict[str, Any]) -> None:
    """A run's requests: its URL and its targets' are URLs loadgen runs (the report's title is made
    of the first, merge and compare label the targets by theirs), each body base64."""
    targets = list(enumerate(run.get("targets", ())))
    requests: list[tuple[FieldPath, dict[str, Any]]] = [(("runs", index), run)]
    requests += [(("runs", index, "targets", i), target) for i, target in targets]
    for path, request in requests:
        try:
            parse_url(request["url"])
        except ValueError as exc:
            raise Violation((*path, "url"), f"not a URL loadgen runs ({exc})") from None
        if request["body"] is not None:
            try:
                base64.b64decode(request["body"], validate=True)
            except binascii.Error:
                raise Violation((*path, "body"), "not base64") from None


def _check_relations(data: dict[str, Any], largest: int) -> None:
    """What the schema cannot say: the facts that relate fields (see the module's docstring)."""
    runs = data["runs"]
    if len(data["run_ids"]) != len(runs):
        raise Violation(("run_ids",), f"{len(data['run_ids'])} ids for {len(runs)} runs")
    for index, run in enumerate(runs):
        _check_requests(index, run)
    for path, histogram in _histograms(data):
        if len(histogram["deltas"]) != len(histogram["counts"]):
            raise Violation(path, f"{len(histogram['counts'])} counts for {len(histogram['deltas'])} values")
        if largest_value(histogram) > largest:
            raise Violation(path, f"a value of {largest_value(histogram):,}, above the maximum, {largest:,}")
    timeout_us = max(round(run["timeout"] * 1_000_000) for run in runs)
    for path in _measured_latencies(data):
        slowest = largest_value(_at(data, path))
        if slowest > timeout_us:
            raise Violation(
                path,
                f"a latency of {slowest:,} us, longer than the run's --timeout ({timeout_us / 1e6:g}s), "
                "which counts such a response as a timeout instead",
            )
    _check_window(data)
    _check_targets(data)
    _check_correction(data)


def _check_targets(data: dict[str, Any]) -> None:
    """Each target named once, and their requests a share of the run's (they add up to it in a
    run; a merge with a run of one URL adds requests of no target)."""
    first: dict[str, int] = {}
    for index, target in enumerate(data["targets"]):
        label = target["label"]
        if label in first:
            raise Violation(("targets", index, "label"), f"{label!r} again (targets[{first[label]}] has it)")
        first[label] = index
    total = sum(target["requests"] for target in data["targets"])
    if total > data["requests"]:
        raise Violation(("targets",), f"{total:,} requests in all, more than the run's {data['requests']:,}")


def _check_window(data: dict[str, Any]) -> None:
    """The window against -d, the timeline against the window, the responses against the time."""
    runtime_us, runs = data["runtime_us"], data["runs"]
    durations = [run["duration"] for run in runs]
    if None not in durations:
        longest_us = max(durations) * 1_000_000
        if runtime_us > longest_us * RUNTIME_SLACK[0] + RUNTIME_SLACK[1]:
            raise Violation(
                ("runtime_us",), f"{runtime_us:,} us, far longer than the run's duration ({max(durations):g}s)"
            )
    seconds = math.ceil(runtime_us / 1_000_000) + 1
    timeline = data["timeline"]
    if len(timeline) > seconds:
        raise Violation(("timeline",), f"{len(timeline):,} seconds in a window of {runtime_us / 1e6:g}s")
    for index, second in enumerate(timeline):
        if second["second"] != index:
            raise Violation(("timeline", index, "second"), f"{second['second']}, but it is second {index}")
        _check_second_reasons(index, second)
    workers = max(1, sum(run["threads"] for run in runs))
    most = MAX_RATE_PER_WORKER * workers * runtime_us / 1_000_000
    if data["requests"] > most:
        raise Violation(
            ("requests",),
            f"{data['requests']:,} responses in {runtime_us / 1e6:g}s from {workers} workers: more than "
            f"{MAX_RATE_PER_WORKER:,} per second each, which no client measures",
        )


def _check_second_reasons(index: int, second: dict[str, Any]) -> None:
    """A second's socket errors by reason are its errors of those kinds: compare counts the ones that cost no
    request out of the second's errors, and more of them than it had would be a negative error rate."""
    if "error_reasons" not in second:  # written before the timeline kept them
        return
    by_kind = dict.fromkeys(map(str, SOCKET_ERRORS), 0)
    for reason in second["error_reasons"]:
        by_kind[reason["kind"]] += reason["count"]
    for kind, count in by_kind.items():
        if count != (errors := second["errors"].get(kind, 0)):
            found = f"{count:,} {kind} errors by reason, but the second had {errors:,}"
            raise Violation(("timeline", index, "error_reasons"), found)


def _check_correction(data: dict[str, Any]) -> None:
    """A closed-loop report applies wrk's correction, whose work grows with the slowest latency
    over the interval between requests; a document that would take minutes is not a real run."""
    if data["runs"][0]["rate"] is not None:
        return
    limit = max((int(limit) for limit in data["connections"].get("stream_limits", {})), default=None)
    loops = in_flight_most(((run["connections"], run.get("streams", 1)) for run in data["runs"]), limit)
    expected = wrk_expected_interval(data["runtime_us"], data["requests"], loops)
    measured: list[FieldPath] = [("latency_uncorrected", "histogram")]
    measured += [("targets", index, "latency_uncorrected", "histogram") for index in range(len(data["targets"]))]
    size = 0
    for path in measured:  # the run's correction, then each target's: the report computes them all
        values = histogram_counts(_at(data, path))
        size += wrk_correction_size(values, expected)
        if size > MAX_CORRECTION:
            break
    if size > MAX_CORRECTION:
        raise Violation(
            path,
            f"wrk's correction for coordinated omission would add {size:,} values (a latency of "
            f"{max(values):,} us against a request every {expected:,} us per connection): not a run loadgen measured",
        )
