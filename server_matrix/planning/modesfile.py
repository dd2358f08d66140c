"""``--modes-file``: extra server modes from a JSON list, checked against a schema before any is used.

Beyond the schema's types, each template (``args``, ``h2c_args``, ``title``, ``original_title``, ``boots``) may
name only the placeholders the runner fills (``modes.PLACEHOLDERS``), ``boots`` must come out as
a whole number, and an id must be new (not a built-in mode's, not twice in the file, not a mode's HTTP/2
sibling's: ``--http2`` would measure two modes under one id) and safe as a file name: it names the server's
log in ``logs/``.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from server_matrix.planning.documents import FileError, check, field_name, read_json, shown
from server_matrix.planning.gil import FREE_THREADED_SETTINGS, setting_key
from server_matrix.planning.modes import COUNTS, H2_ID, MODES, PLACEHOLDERS, ServerMode

SETTING_KEYS = [setting_key(None), *(setting_key(gil) for gil in FREE_THREADED_SETTINGS)]
TEMPLATES = ("title", "original_title", "boots")
SAMPLE_VALUES = dict.fromkeys(PLACEHOLDERS, 2)  # what a template is tried with

_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_TEXTS = {"type": "array", "items": _TEXT}
SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "title", "args"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"},
            "title": _TEXT,
            "args": {**_TEXTS, "minItems": 1},
            "about": _TEXT,
            "boot_line": _TEXT_OR_NULL,
            "boots": _TEXT_OR_NULL,
            "requires": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z_][\w.]*$"}},
            "refuses": {"type": "object", "propertyNames": {"enum": SETTING_KEYS}, "additionalProperties": _TEXT},
            "slots": {"type": "array", "items": {"enum": list(COUNTS)}},
            "meaningful_on": {"type": "array", "items": {"enum": SETTING_KEYS}},
            "informational_note": _TEXT,
            "original_title": _TEXT_OR_NULL,
            "h2c_args": {**_TEXTS, "minItems": 1},
            "h2c_requires": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z_][\w.]*$"}},
            "no_h2c": _TEXT,
        },
    },
}


def _check_template(path: Path, field: list[str | int], template: str) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise FileError(path, f"{shown(template)} is not a template ({error})", field_name(field)) from None
    for name in names:
        if name not in PLACEHOLDERS:
            known = ", ".join(f"{{{known}}}" for known in PLACEHOLDERS)
            raise FileError(path, f"unknown placeholder {{{name}}} (known: {known})", field_name(field))


def _check_entry(path: Path, index: int, entry: dict[str, Any], taken: set[str], siblings: dict[str, str]) -> None:
    for name in ("args", "h2c_args"):
        for position, arg in enumerate(entry.get(name, ())):
            _check_template(path, [index, name, position], arg)
    for name in TEMPLATES:
        if entry.get(name) is not None:
            _check_template(path, [index, name], entry[name])
    boots = entry.get("boots")
    if boots is not None and not boots.format(**SAMPLE_VALUES).isdecimal():  # int()'s digits: "²" is isdigit()
        raise FileError(
            path, f"{shown(boots)} is not a count of boot lines (a number, or {{workers}})", f"[{index}].boots"
        )
    mode_id = entry["id"]
    what = _owner(mode_id, taken, siblings)
    if what:
        raise FileError(path, f"{shown(mode_id)} is {what}: give the extra mode its own", f"[{index}].id")
    taken.add(mode_id)


def _owner(mode_id: str, taken: set[str], siblings: dict[str, str]) -> str | None:
    """Whose id ``mode_id`` is already (None: nobody's). A sibling's: under ``--http2`` its cells and the extra
    mode's had one id, and results.json kept one of the two."""
    if mode_id in taken:
        return "a built-in mode's id" if mode_id in {mode.id for mode in MODES} else "the id of an earlier mode"
    if mode_id in siblings:
        return f"the id of {siblings[mode_id]}'s HTTP/2 sibling (--http2)"
    return None


def load_modes_file(path: Path) -> tuple[ServerMode, ...]:
    """The file's modes, or FileError naming the file and the field."""
    entries = read_json(path)
    check(entries, SCHEMA, path)
    taken = {mode.id for mode in MODES}
    siblings = {H2_ID.format(id=mode_id): mode_id for mode_id in [*taken, *(entry["id"] for entry in entries)]}
    for index, entry in enumerate(entries):
        _check_entry(path, index, entry, taken, siblings)
    return tuple(_mode(entry) for entry in entries)


def _mode(entry: dict[str, Any]) -> ServerMode:
    """A checked entry as a mode: JSON's lists become the mode's tuples and sets."""
    fields: dict[str, Any] = {name: tuple(value) if isinstance(value, list) else value for name, value in entry.items()}
    if "meaningful_on" in fields:
        fields["meaningful_on"] = frozenset(fields["meaningful_on"])
    return ServerMode(**fields)
