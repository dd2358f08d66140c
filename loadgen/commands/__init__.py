"""loadgen's commands: wrk's command line (:mod:`.run`, ``loadgen [options] URL``) and the
named ones, ``loadgen NAME ...``.

Each command is a module here with a typer app named ``app``; the ``loadgen`` entry point
(:mod:`loadgen.cli`) dispatches on the first argument (a URL can never be one of these names)
and gives every command the same error handling: one line on stderr, the documented exit code.
The flags of the commands that run load come from the options' declarations
(:mod:`.arguments`); the files they write are checked and written by :mod:`.outputs`.

To add a command: a module here with its ``app`` (made by :func:`command_app`), and a line in ``COMMANDS``.
"""

from __future__ import annotations

import typer

WRK_COMMAND = "loadgen.commands.run"  # what ``loadgen`` runs when no command is named

# name -> (module, one-line summary for the usage text)
COMMANDS: dict[str, tuple[str, str]] = {
    "capacity": ("loadgen.commands.capacity", "highest rate meeting every --slo"),
    "compare": ("loadgen.commands.compare", "two results: change, significance"),
    "merge": ("loadgen.commands.merge", "results of runs made apart, as one"),
    "report": ("loadgen.commands.report", "results as wrk's report or --html"),
}
# the named commands that only read and write files: they run no load, so the command does not import the engine
# (asyncio, uvloop, the workers: a sixth of their start-up's CPU)
FILES_ONLY = frozenset({"compare", "merge", "report"})


def command_app() -> typer.Typer:
    """A named command's app: ``-h`` as well as ``--help``, as wrk's own command takes ``-h``."""
    return typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]})
