"""After a run: one line on stderr for each kind of trouble, and the exit code it deserves.

The wrk report stays byte for byte what wrk prints; what wrk leaves for the user to guess (why
there were socket errors, whether the server broke) is said here instead.

Exit codes: 0 the run completed (as wrk, even with socket errors or error statuses, which the
report shows); 1 bad input or a script error; 2 a worker process failed; 3 the server failed:
malformed or truncated responses, refused connections during the run, or no response at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from .result import Result

EXIT_OK, EXIT_USAGE, EXIT_WORKER, EXIT_SERVER = 0, 1, 2, 3


@dataclass(frozen=True)
class Diagnosis:
    exit_code: int
    lines: tuple[str, ...]


def _top_reasons(result: Result, kind: str, limit: int = 3) -> str:
    reasons = sorted(((count, reason.split(": ", 1)[1]) for reason, count in result.error_reasons.items()
                      if reason.startswith(kind + ": ")), reverse=True)
    return ", ".join(f"{reason} {count}" for count, reason in reasons[:limit])


def diagnose(result: Result) -> Diagnosis:
    lines: list[str] = []
    code = EXIT_OK
    for failure in result.worker_failures:
        lines.append(f"loadgen: {failure}")
        code = EXIT_WORKER
    broken = result.failures
    if broken.get("malformed"):
        reasons = [r.split("malformed response: ", 1)[1] for r in result.error_reasons if "malformed response: " in r]
        lines.append(f"loadgen: the server sent {broken['malformed']} malformed responses ({reasons[0]})")
        code = max(code, EXIT_SERVER)
    if broken.get("truncated"):
        lines.append(f"loadgen: the server closed {broken['truncated']} connections in the middle of a response")
        code = max(code, EXIT_SERVER)
    refused = sum(count for reason, count in result.error_reasons.items() if reason.startswith("write: connect: "))
    if refused:
        lines.append(f"loadgen: {refused} connections could not be made during the run "
                     f"({_top_reasons(result, 'write')}); did the server stop?")
        code = max(code, EXIT_SERVER)
    if result.errors.connect:
        lines.append(f"loadgen: {result.errors.connect} connections could not be opened "
                     f"({_top_reasons(result, 'connect')}) and were given up, as wrk does")
    if result.errors.read and not (broken.get("malformed") or broken.get("truncated")):
        lines.append(f"loadgen: read errors: {_top_reasons(result, 'read')} "
                     "(the server closed or reset connections; requests in flight were lost)")
    if result.requests == 0 and not result.errors.socket and not result.interrupted and not result.worker_failures:
        lines.append(f"loadgen: no response from the server in {result.runtime_s:.2f}s")
        code = max(code, EXIT_SERVER)
    return Diagnosis(code, tuple(lines))
