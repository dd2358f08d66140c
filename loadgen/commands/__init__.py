"""loadgen's commands besides wrk's command line: ``loadgen NAME ...``.

Each command is a module here with a typer app named ``app``; the ``loadgen`` entry point
dispatches on the first argument (a URL can never be one of these names) and gives every
command the same error handling: one line on stderr, the documented exit code. What they
share with wrk's command line (the flags' text to Settings, the files they write, stopping on a
signal) is in :mod:`.arguments`, :mod:`.outputs` and :mod:`.stopping`.
"""

from __future__ import annotations

# name -> (module, one-line summary for the usage text)
COMMANDS: dict[str, tuple[str, str]] = {
    "capacity": ("loadgen.commands.capacity", "highest rate meeting every --slo"),
    "compare": ("loadgen.commands.compare", "two results: change, significance"),
    "report": ("loadgen.commands.report", "results as wrk's report or --html"),
}
