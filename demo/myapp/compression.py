"""Brotli compression with a lazily imported module.

The import waits for the first brotli request: the C ``brotli`` module does not declare
free-threading support, so importing it re-enables the GIL on a free-threaded interpreter
(unless ``-X gil=0`` forces it off). A run that never calls the brotli views keeps the GIL
state it started with. ``brotlicffi`` (same API, free-threaded wheels) is the fallback.
"""

from __future__ import annotations

import functools
import sys
from types import ModuleType


@functools.cache
def brotli_module() -> ModuleType:
    try:
        import brotli
    except ImportError:
        import brotlicffi as brotli
    return brotli


def brotli_compress(data: bytes, *, quality: int) -> bytes:
    return brotli_module().compress(data, quality=quality)


def loaded_brotli_module() -> str | None:
    """Which brotli module this process has imported so far, if any."""
    return next((name for name in ("brotli", "brotlicffi") if name in sys.modules), None)
