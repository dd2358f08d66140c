"""What a command says before a run starts, one line each on stderr: the run command's, and the
capacity search's once (each of its steps is a run, planned again)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._run.plan import Plan

__all__ = ["before_the_run"]


def before_the_run(plan: Plan) -> list[str]:
    """Connections that do not divide among the threads (wrk opens fewer), then the plan's own
    notices (a protocol fallen back, a delay that does not pace)."""
    settings = plan.settings
    lines = []
    if settings.connections % settings.threads:
        lines.append(
            f"loadgen: warning: {settings.connections} connections do not divide among {settings.threads} "
            f"threads; {settings.connections_per_worker * settings.threads} will be opened (as wrk)"
        )
    return lines + list(plan.notices)
