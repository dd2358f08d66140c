"""The flags a cell can carry, their thresholds, and what each means for a reader.

A flag says that a number may not be the server's: the client was the limit, something else used
the machine, the repetitions disagree, or the server itself misbehaved. Results set them, the
report explains them; nothing here measures or formats.
"""

from __future__ import annotations

OTHER_CPU = 0.10  # processes outside the runner's tree used this share of the machine's CPU time
STEAL = 0.05  # the hypervisor took this share of the machine's CPU time
UNSTABLE_CV = 0.10  # coefficient of variation across repetitions

CLIENT_BOUND = "client-bound"
STARVED = "starved"
INTERFERENCE = "interference"
UNSTABLE = "unstable"
SERVER_RESTARTED = "server-restarted"
WORKER_RESTARTS = "worker-restarts"
WORKER_TIMEOUTS = "worker-timeouts"
TRACEBACKS = "tracebacks"
GIL_MISMATCH = "gil-mismatch"
NO_RESPONSE = "no-response"

MEANINGS: dict[str, str] = {
    NO_RESPONSE: "not one response arrived within the window (the server was slower than the window, or stalled): "
    "its 0 req/s is not a measured rate; run it longer",
    CLIENT_BOUND: "loadgen's busiest worker was saturated, by loadgen's own rule (``ClientCpu.saturated``: busy on a "
    "CPU or waiting for one nearly all the window): the number is the client's limit, not the server's",
    STARVED: "loadgen's own account of its connections (``Result.per_connection``) found 1% or more of them never "
    "answered (left in the server's accept queue, or never read), or the answered ones starved (the busiest tenth "
    "got half the responses or more): the number describes fewer connections than asked for",
    INTERFERENCE: f"while the cell ran, processes other than the server's and loadgen's used more than "
    f"{OTHER_CPU:.0%} of the machine's CPU time, or the VM reported more than {STEAL:.0%} steal time",
    UNSTABLE: f"the repetitions disagree: their coefficient of variation is above {UNSTABLE_CV:.0%}",
    SERVER_RESTARTED: "the server was still busy with abandoned requests long after the run, or would have been (more "
    "of them than it could finish while the runner waits), and was restarted (its log line says which)",
    WORKER_RESTARTS: "a server worker was booted again during the run (one died or was killed)",
    WORKER_TIMEOUTS: "gunicorn logged WORKER TIMEOUT during the run",
    TRACEBACKS: "the server logged a traceback during the run (one of the client gone first, a connection reset or "
    "a broken pipe, is not counted: the client's doing, not the server's)",
    GIL_MISMATCH: "the server reported another GIL state than the one asked for (a C extension re-enabled it)",
}
ORDER = tuple(MEANINGS)
