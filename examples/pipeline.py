"""Pipelining: request() returns three requests, written at once (wrk's scripts/pipeline.lua).

loadgen -s examples/pipeline.py http://127.0.0.1:8080/
"""

_batch = b""


def init(args):
    global _batch
    _batch = wrk.format(None, "/") + wrk.format(None, "/bytes?size=10") + wrk.format(None, "/status/204")  # noqa: F821


def request():
    return _batch
