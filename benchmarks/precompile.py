"""loadgen compiled to bytecode before it is timed, as an installed package is.

Under ``PYTHONDONTWRITEBYTECODE`` (some machines set it) a source tree without ``__pycache__``
compiles every module it imports at every start: a benchmark that counts the client's CPU from
spawn to exit would time the compiler, not loadgen.

    from precompile import compile_loadgen   # a sibling script
    compile_loadgen()                      # the loadgen this interpreter imports
"""

from __future__ import annotations

import compileall
from pathlib import Path

import loadgen

__all__ = ["compile_loadgen", "compiled_trees"]


def compile_loadgen(tree: Path | None = None) -> None:
    """Write ``__pycache__`` for the ``loadgen`` package under ``tree`` (default: the one imported here)."""
    package = tree / "loadgen" if tree is not None else Path(loadgen.__file__).resolve().parent
    compileall.compile_dir(package, quiet=1)


def compiled_trees(specs: list[str]) -> dict[str, str]:
    """``NAME=TREE`` arguments as {name: tree}, each tree's loadgen compiled (the scripts that time trees against
    each other)."""
    trees = dict(spec.split("=", 1) for spec in specs)
    for tree in trees.values():
        compile_loadgen(Path(tree))
    return trees
