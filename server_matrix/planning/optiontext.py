"""The text of `server-matrix run`'s options that are not plain numbers, to values: CPU lists, name lists,
GIL settings, a listen address (each refusal a ValueError of one line, which the option names)."""

from __future__ import annotations

import ipaddress
import os
import socket


def cpu_list(text: str) -> tuple[int, ...]:
    """``0``, ``0,1`` or ``0-3``, as taskset takes them, each CPU one this process may use."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or not (last or first).isdigit() or int(first) > int(last or first):
            raise ValueError(f"bad CPU list {text!r} (use 0, 0,1 or 0-3)")
        cpus.update(range(int(first), int(last or first) + 1))
    allowed = os.sched_getaffinity(0)
    unavailable = sorted(cpus - allowed)
    if unavailable:
        raise ValueError(
            f"CPU {', '.join(map(str, unavailable))} not available "
            f"(this process may use {', '.join(map(str, sorted(allowed)))})"
        )
    return tuple(sorted(cpus))


def names(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def listen_address(text: str) -> str:
    """An IPv4 address of this machine, or a name of one, bound once here: a typo is refused before the run, where
    every server group would otherwise fail to find a port on it. An empty one, or one that binds every interface
    (0.0.0.0 was taken, and the servers listened on all of them), is refused."""
    if not text.strip():
        raise ValueError("an empty address listens on every interface: give an IPv4 address of this machine")
    with socket.socket() as sock:
        try:
            sock.bind((text, 0))
        except OSError as error:  # a name that does not resolve too (socket.gaierror)
            reason = error.strerror or str(error)
            raise ValueError(f"cannot listen on {text} ({reason}): give an IPv4 address of this machine") from None
        if ipaddress.ip_address(sock.getsockname()[0]).is_unspecified:
            raise ValueError(f"{text} listens on every interface: give an IPv4 address of this machine")
    return text


def settings(text: str) -> tuple[int, ...]:
    """``0``, ``1`` or ``0,1``: GIL settings."""
    given = names(text)
    if not given or not set(given) <= {"0", "1"}:
        raise ValueError("takes 0, 1 or 0,1")
    return tuple(int(value) for value in given)
