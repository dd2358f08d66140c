"""JSON read with limits and checked against a JSON Schema: the first violation as the path of
the field and what is wrong with it, in one line.

The schema is compiled once into checks (the subset of JSON Schema 2020-12 that loadgen's schemas
use; an unknown keyword is an error when compiling, so a schema never says something this would
ignore). The jsonschema package would do as well but costs ~70 ms to import and checks a million
histogram entries one at a time; here an array of integers is checked at C speed
(``tests/test_documents_property.py`` holds the two to the same verdicts). Two rules are stricter
than JSON Schema, on purpose: an integer has no fraction (``1``, not ``1.0``), and a number is
finite. A ``pattern``'s ``$`` is the end of the text, as JSON Schema's regular expressions
(ECMA-262) read it, not Python's (also before a final newline), which the jsonschema package uses.
A value the schema leaves open (``{"type": "object"}`` and nothing more) may nest at most
:data:`MAX_DEPTH` deep.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

__all__ = ["MAX_DEPTH", "JsonError", "Schema", "Violation", "field_name", "parse_json"]

MAX_DEPTH = 32
Path = tuple[str | int, ...]
KNOWN = {
    "$schema", "$id", "$comment", "title", "description", "$defs", "$ref", "type", "const", "enum", "required",
    "properties", "additionalProperties", "patternProperties", "maxProperties", "items", "prefixItems", "minItems",
    "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
    "allOf",
}  # fmt: skip
ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "$defs"}
TYPES: dict[str, Callable[[Any], bool]] = {
    "null": lambda v: v is None,
    "boolean": lambda v: type(v) is bool,
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) is int or (type(v) is float and math.isfinite(v)),
    "string": lambda v: type(v) is str,
    "array": lambda v: type(v) is list,
    "object": lambda v: type(v) is dict,
}
ARTICLES = {"null": "null", "boolean": "true or false", "integer": "an integer", "number": "a number"}


class JsonError(ValueError):
    """Bytes that are not a JSON text this reads: not UTF-8, not JSON, too large or too deep."""


def field_name(path: Path) -> str:
    """``timeline[3].errors``: a path as a reader writes it; a name that is empty or holds a
    character that is not printable as a JSON string (``status_counts["200\\n"]``), so that the
    refusal stays one line."""
    text = "".join(_part(part) for part in path)
    return text.removeprefix(".") or "the document"


def _part(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    return f".{part}" if part.isprintable() and part else f"[{json.dumps(part, ensure_ascii=False)}]"


class Violation(ValueError):
    """The first place a value breaks its schema: ``path`` and what is wrong there."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{field_name(path)}: {problem}")


def _reject_constant(name: str) -> Any:
    raise JsonError(f"{name} is not a JSON number")


def parse_json(data: bytes, max_bytes: int) -> Any:
    """The value of a JSON text, refused in one line when it is larger than ``max_bytes``, not
    UTF-8, not JSON (``NaN`` and ``Infinity`` included), or nested deeper than the parser goes."""
    if len(data) > max_bytes:
        raise JsonError(f"larger than {max_bytes:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start:,})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise JsonError("not JSON this reads: nested too deep") from None
    except ValueError as exc:
        if isinstance(exc, JsonError):
            raise
        raise JsonError(f"not JSON: {exc}") from None


def describe(value: Any) -> str:
    """A value as a problem names it: its kind, and the value itself when it is short."""
    if value is None or type(value) is bool:
        return json.dumps(value)
    if type(value) is float and not math.isfinite(value):  # 1e400 is read as inf: "a number (inf)" was no reason
        return f"a number that is not finite ({value!r})"
    if type(value) in (int, float):
        text = repr(value) if abs(value) < 1e15 else f"{value:.3g}"
        return f"{'an integer' if type(value) is int else 'a number'} ({text})"
    if type(value) is str:
        shown = json.dumps(value[:40] + ("..." if len(value) > 40 else ""), ensure_ascii=False)
        return f"a string ({shown})"
    kind = "an array" if type(value) is list else "an object"
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):
        shown = ""
    return f"{kind} ({shown})" if 0 < len(shown) <= 40 else kind


def _strict_equal(a: Any, b: Any) -> bool:
    """JSON's equality: ``true`` is not ``1``."""
    return type(a) is type(b) and a == b


def _depth(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (iteratively: no recursion limit)."""
    level: list[Any] = [value]
    for _ in range(limit + 1):
        level = [
            child
            for item in level
            if type(item) in (list, dict)
            for child in (item.values() if type(item) is dict else item)
        ]
        if not level:
            return True
    return False


Check = Callable[[Any, Path], None]


@dataclass
class _Node:
    """One compiled schema: its checks, and, for a plain bounded integer, the bounds (what lets
    an array of them be checked at C speed)."""

    checks: list[Check] = field(default_factory=list)
    integer_bounds: tuple[float, float] | None = None

    def __call__(self, value: Any, path: Path) -> None:
        for check in self.checks:
            check(value, path)


class Schema:
    """A compiled schema: ``Schema(dict).check(value)`` raises :class:`Violation` or returns."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._root = schema
        self._refs: dict[str, _Node] = {}
        self._node = self._compile(schema)

    def check(self, value: Any) -> None:
        self._node(value, ())

    def _ref(self, ref: str) -> _Node:
        if ref not in self._refs:
            if not ref.startswith("#/"):
                raise ValueError(f"only local references are supported: {ref}")
            target: Any = self._root
            for part in ref[2:].split("/"):
                target = target[part]
            self._refs[ref] = node = _Node()
            compiled = self._compile(target)
            node.checks, node.integer_bounds = compiled.checks, compiled.integer_bounds
        return self._refs[ref]

    def _compile(self, schema: Mapping[str, Any]) -> _Node:
        unknown = set(schema) - KNOWN
        if unknown:
            raise ValueError(f"schema keywords this does not check: {sorted(unknown)}")
        if set(schema) - ANNOTATIONS == {"$ref"}:
            return self._ref(schema["$ref"])  # the very node, with its integer bounds
        node = _Node()
        if "$ref" in schema:
            node.checks.append(self._ref(schema["$ref"]))
        for sub in schema.get("allOf", ()):
            node.checks.append(self._compile(sub))
        if "type" in schema:
            node.checks.append(_type_check(schema["type"]))
        if "const" in schema:
            node.checks.append(_enum_check([schema["const"]]))
        if "enum" in schema:
            node.checks.append(_enum_check(schema["enum"]))
        node.checks += _number_checks(schema) + _string_checks(schema)
        node.checks += self._object_checks(schema) + self._array_checks(schema)
        if not _descends(schema):
            node.checks.append(_open_depth_check)
        bounds = _integer_bounds(schema)
        if bounds is not None:
            node.integer_bounds = bounds
        return node

    def _object_checks(self, schema: Mapping[str, Any]) -> list[Check]:
        required: Sequence[str] = schema.get("required", ())
        properties = {name: self._compile(sub) for name, sub in schema.get("properties", {}).items()}
        patterns = [(_regex(p), self._compile(sub)) for p, sub in schema.get("patternProperties", {}).items()]
        additional = schema.get("additionalProperties", True)
        others = self._compile(additional) if isinstance(additional, Mapping) else None
        most = schema.get("maxProperties")
        if not (required or properties or patterns or additional is not True or most is not None):
            return []

        def check(value: Any, path: Path) -> None:
            if type(value) is not dict:
                return
            if most is not None and len(value) > most:
                raise Violation(path, f"more than {most:,} fields")
            for name in required:
                if name not in value:
                    raise Violation((*path, name), "missing")
            for name, item in value.items():
                where = (*path, name)
                matched = False
                if name in properties:
                    properties[name](item, where)
                    matched = True
                for pattern, sub in patterns:
                    if pattern.search(name):
                        sub(item, where)
                        matched = True
                if matched:
                    continue
                if additional is False:
                    raise Violation(where, "not a field of this document")
                if others is not None:
                    others(item, where)

        return [check]

    def _array_checks(self, schema: Mapping[str, Any]) -> list[Check]:
        prefix = [self._compile(sub) for sub in schema.get("prefixItems", ())]
        items = self._compile(schema["items"]) if "items" in schema else None
        fewest, most = schema.get("minItems"), schema.get("maxItems")
        if not (prefix or items or fewest is not None or most is not None):
            return []

        def check(value: Any, path: Path) -> None:
            if type(value) is not list:
                return
            if fewest is not None and len(value) < fewest:
                raise Violation(path, "empty" if not value else f"fewer than {fewest:,} items")
            if most is not None and len(value) > most:
                raise Violation(path, f"more than {most:,} items")
            for index, (sub, item) in enumerate(zip(prefix, value, strict=False)):
                sub(item, (*path, index))
            if items is None or len(value) <= len(prefix):
                return
            if items.integer_bounds is not None:
                _check_integers(value, len(prefix), items, path)
            else:
                for index in range(len(prefix), len(value)):
                    items(value[index], (*path, index))

        return [check]


def _check_integers(values: list[Any], start: int, items: _Node, path: Path) -> None:
    """Every item from ``start`` an integer within the bounds: at C speed, then, only when one
    is not, one by one to name it."""
    assert items.integer_bounds is not None
    low, high = items.integer_bounds
    rest = values if not start else list(islice(values, start, None))
    if set(map(type, rest)) <= {int} and (not rest or (min(rest) >= low and max(rest) <= high)):
        return
    for index in range(start, len(values)):
        items(values[index], (*path, index))


def _regex(pattern: str) -> re.Pattern[str]:
    """A schema's ``pattern`` as JSON Schema reads it (ECMA-262): ``$`` is the text's end only.
    Python's ``$`` is also the place before a final newline: ``^[1-9][0-9]{2}$`` took the status
    code "200\\n", whose count then replaced status 200's."""
    return re.compile(re.sub(r"(\\.|\[\^?\]?(?:\\.|[^\]\\])*\])|\$", lambda m: m.group(1) or r"\Z", pattern))


def _descends(schema: Mapping[str, Any]) -> bool:
    """Whether the schema says what is inside a container (else only its depth is checked)."""
    inside = ("properties", "patternProperties", "additionalProperties", "items", "prefixItems", "$ref", "allOf")
    return any(key in schema for key in inside) or schema.get("type") not in ("object", "array", None)


def _open_depth_check(value: Any, path: Path) -> None:
    if type(value) in (list, dict) and not _depth(value, MAX_DEPTH):
        raise Violation(path, f"nested more than {MAX_DEPTH} deep")


def _integer_bounds(schema: Mapping[str, Any]) -> tuple[float, float] | None:
    """(low, high) for a schema that says only: an integer within these bounds."""
    if schema.get("type") != "integer" or set(schema) - {"type", "minimum", "maximum"} - ANNOTATIONS:
        return None
    return schema.get("minimum", -math.inf), schema.get("maximum", math.inf)


def _type_check(kinds: str | list[str]) -> Check:
    names = [kinds] if isinstance(kinds, str) else list(kinds)
    tests = [TYPES[name] for name in names]
    expected = " or ".join(ARTICLES.get(name, f"a{'n' if name[0] in 'aeiou' else ''} {name}") for name in names)

    def check(value: Any, path: Path) -> None:
        if not any(test(value) for test in tests):
            if type(value) is float and "integer" in names and value.is_integer():
                raise Violation(path, f"expected {expected} (written without a fraction), found {describe(value)}")
            raise Violation(path, f"expected {expected}, found {describe(value)}")

    return check


def _enum_check(allowed: Iterable[Any]) -> Check:
    options = list(allowed)
    shown = ", ".join(json.dumps(option) for option in options)

    def check(value: Any, path: Path) -> None:
        if not any(_strict_equal(value, option) for option in options):
            expected = f"expected {shown}" if len(options) == 1 else f"expected one of {shown}"
            raise Violation(path, f"{expected}, found {describe(value)}")

    return check


def _number_checks(schema: Mapping[str, Any]) -> list[Check]:
    bounds = [
        (schema.get("minimum"), lambda v, b: v >= b, "below the minimum, {}"),
        (schema.get("exclusiveMinimum"), lambda v, b: v > b, "not above {} (it must be)"),
        (schema.get("maximum"), lambda v, b: v <= b, "above the maximum, {}"),
        (schema.get("exclusiveMaximum"), lambda v, b: v < b, "not below {} (it must be)"),
    ]
    checks: list[Check] = []
    for bound, holds, problem in bounds:
        if bound is None:
            continue

        def check(value: Any, path: Path, bound: float = bound, holds: Any = holds, problem: str = problem) -> None:
            if type(value) in (int, float) and not holds(value, bound):
                raise Violation(path, f"{describe(value)} is {problem.format(f'{bound:,}')}")

        checks.append(check)
    return checks


def _string_checks(schema: Mapping[str, Any]) -> list[Check]:
    shortest, longest = schema.get("minLength"), schema.get("maxLength")
    pattern = _regex(schema["pattern"]) if "pattern" in schema else None
    if shortest is None and longest is None and pattern is None:
        return []

    def check(value: Any, path: Path) -> None:
        if type(value) is not str:
            return
        if shortest is not None and len(value) < shortest:
            raise Violation(path, "empty" if not value else f"shorter than {shortest:,} characters")
        if longest is not None and len(value) > longest:
            raise Violation(path, f"longer than {longest:,} characters")
        if pattern is not None and not pattern.search(value):
            raise Violation(path, f"{describe(value)} does not match {schema['pattern']}")

    return [check]
