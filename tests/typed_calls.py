"""Calls of ``loadgen.run()`` and ``run_async()`` as the README writes them, for the gate's mypy (strict here, as a
user's program would be checked): each documented form type-checks, and a wrong type or an unknown keyword is an
error (its ``type: ignore`` would be unused, which the gate refuses, if it were not). Never run: the URLs go nowhere.
Without :class:`loadgen.RunOptions`, ``headers={...}``, ``duration="1s"``, text bodies and lists were refused."""

from __future__ import annotations

import asyncio
import threading
from typing import Unpack

import loadgen


def documented_forms() -> list[loadgen.Result]:
    return [
        loadgen.run("http://127.0.0.1:8080/", threads=2, connections=50, duration=5),
        loadgen.run(
            "http://127.0.0.1:8080/",
            duration="1s",
            connections="1k",
            timeout=2,
            headers={"X-Id": 7},
            method="POST",
            body="text",
            script="hooks.py",
            script_args=["a", "b"],
            http2="auto",
            stop=threading.Event(),
            on_second=lambda second: None,
            exporters=[lambda second: None],
        ),
        loadgen.run(targets=["http://127.0.0.1:8080/a", loadgen.Target("POST", "http://127.0.0.1:8080/b")], rate="1k"),
        loadgen.run("http://127.0.0.1:8080/", stages=[[30, 100], (60, 0)], requests=1000, warmup="500ms"),
        asyncio.run(loadgen.run_async("http://127.0.0.1:8080/", headers=[("A", "b")], stages_connections=[(1, 10)])),
    ]


def wrapped(url: str, **options: Unpack[loadgen.RunOptions]) -> loadgen.Result:
    """A program's own wrapper passes the options on, typed."""
    return loadgen.run(url, **options)


def refused() -> None:
    loadgen.run("http://127.0.0.1:8080/", threads=[2])  # type: ignore[arg-type]
    loadgen.run("http://127.0.0.1:8080/", thread=2)  # type: ignore[call-arg]
    wrapped("http://127.0.0.1:8080/", body=7)  # type: ignore[arg-type]
