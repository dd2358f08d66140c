"""Reading the JSON files server-matrix is given (modes files, results.json) and checking them against a schema.

Whatever is wrong with such a file becomes one :class:`FileError` naming the file and the field
(``cells[3].samples[0].result``), before any of it is used: a hand-edited file must never end in a
traceback halfway through a report. JSON's ``NaN`` and ``Infinity`` (which Python would read) are
refused as what they are, not numbers. jsonschema is imported when a file is checked: a fresh run and a usage
error read none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

MAX_SHOWN = 60  # characters of a bad value quoted in a message


class FileError(ValueError):
    """A file that cannot be used: ``str()`` is one line naming the file and the field."""

    def __init__(self, path: Path | str, problem: str, field: str = "") -> None:
        super().__init__(f"{path}: {field}: {problem}" if field else f"{path}: {problem}")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: Path) -> Any:
    """The file's JSON value, or FileError: unreadable, not UTF-8, not JSON, NaN/Infinity, nested too deep."""
    try:
        text = path.read_bytes().decode()
        return json.loads(text, parse_constant=_no_constant)
    except OSError as error:
        raise FileError(path, f"cannot read it ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise FileError(path, f"not UTF-8 text (byte {error.start})") from None
    except RecursionError:
        raise FileError(path, "not JSON (nested too deep)") from None
    except ValueError as error:
        raise FileError(path, f"not JSON ({error})") from None


def field_name(parts: Iterable[str | int]) -> str:
    """``cells[3].samples[0].result``: where a value sits in a document."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def shown(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def type_name(value: object) -> str:
    if isinstance(value, bool | None | str | list | dict):
        return JSON_TYPES[type(value)]
    return "a number"


def _problem(error: ValidationError) -> str:
    """One short sentence for a schema violation (jsonschema's own quotes the whole value, however large)."""
    value, rule, expected = error.instance, error.validator, error.validator_value
    if rule == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {wanted}, got {type_name(value)}"
    if rule in ("enum", "const"):
        choices = expected if rule == "enum" else [expected]
        return f"{shown(value)} is not one of {', '.join(map(shown, choices))}"
    if rule == "required":
        missing = [name for name in expected if isinstance(value, Mapping) and name not in value]
        return f"missing {', '.join(missing)}"
    if rule == "additionalProperties":
        extra = [name for name in value if name not in error.schema.get("properties", {})]
        return f"unknown field(s) {', '.join(map(shown, extra))}"
    if rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than"}
        return f"{shown(value)} is out of range (must be {words.get(rule, 'less than')} {expected:g})"
    if rule in ("minItems", "maxItems"):
        return f"{len(value)} item(s), must have {'at least' if rule == 'minItems' else 'at most'} {expected}"
    if rule == "pattern":
        return f"{shown(value)} is not allowed here (must match {expected})"
    if rule == "minLength":
        return "must not be empty"
    return str(error.message).splitlines()[0][:200]


def check(document: Any, schema: Mapping[str, Any], path: Path | str, prefix: Iterable[str | int] = ()) -> None:
    """FileError for the most telling violation of ``schema``, if any."""
    import jsonschema
    from jsonschema.exceptions import best_match

    error = best_match(jsonschema.Draft202012Validator(schema).iter_errors(document))
    if error is not None:
        raise FileError(path, _problem(error), field_name([*prefix, *error.absolute_path]) or "the whole file")
