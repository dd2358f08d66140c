"""The engine: worker processes, their event loops and connections. Private: its modules may change."""

WORKER_MAIN = "loadgen._run.workerproc:child_main"  # what the fork server runs in each worker process
