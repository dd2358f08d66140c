"""loadgen.RunOptions, what a type checker reads ``run()``'s keywords against, names every keyword ``run()`` takes
and no other (tests/typed_calls.py, checked by the gate's mypy, holds the calls); and each form it admits runs."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

import loadgen
from loadgen.api import _Call

from .typed_calls import wrapped


def test_run_options_name_every_keyword_of_run() -> None:
    """A field added to Settings (or a control to run) without its entry here would be refused by a user's type
    checker although run() takes it."""
    keywords = {field.name for field in dataclasses.fields(_Call)} - {"url"}
    assert loadgen.RunOptions.__required_keys__ | loadgen.RunOptions.__optional_keys__ == keywords


def test_the_forms_it_admits_run(server) -> None:
    """Text for counts and durations, a dict of headers, a text body: as the type checker lets
    them through, run() takes them."""
    result = wrapped(
        server.url("/"),
        threads="1",
        connections=2,
        requests="20",
        duration="5s",
        headers={"X-Id": 7},
        method="POST",
        body="text",
        timeout="1s",
    )
    assert result.requests == 20 and result.runs[0].headers == (("X-Id", "7"),) and result.runs[0].body == b"text"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: loadgen.check_open_files("x"), "per_worker must be an int, not 'x'"),
        (lambda: loadgen.check_open_files(10, 5), "threads_flag must be str, not 5"),
        (lambda: loadgen.check_dask("local:2", "x"), "threads must be an int, not 'x'"),
        (lambda: loadgen.format_time_us("x"), "n must be a number of microseconds, not 'x'"),
    ],
)
def test_the_public_checks_name_an_argument_of_the_wrong_type(call, message: str) -> None:
    """As run()'s arguments are named: these raised Python's own TypeError from inside (check_open_files('x'): `can
    only concatenate str (not "int") to str`; format_time_us('x'): `'>=' not supported between ... 'str' and 'int'`)."""
    with pytest.raises(loadgen.UsageError) as raised:
        call()
    assert str(raised.value) == message


_LONGEST_NAME = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters: DNS's longest name


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"sni": "127.0.0.1"},
            "--sni 127.0.0.1: an IP address is never sent as the server name (RFC 6066): give a host name",
        ),
        (
            {"sni": _LONGEST_NAME + "d"},
            f"--sni {_LONGEST_NAME}d: not a host name "
            "(dot-separated labels of letters, digits and '-', as example.com)",
        ),
        (  # a line break in the name: quoted, the message one line
            {"sni": "a\nb"},
            "--sni 'a\\nb': not a host name (dot-separated labels of letters, digits and '-', as example.com)",
        ),
        ({"tls_version": "1.1"}, "--tls-version must be 1.2 or 1.3, not '1.1'"),
        ({"method": "G T"}, "invalid method 'G T'"),  # no request line's method
        # a token, but no method: was refused by wrk's check of the request's text, 'invalid HTTP method at 1:1'
        ({"method": "123"}, "invalid method '123': a method starts with a letter (GET, M-SEARCH)"),
        ({"method": "GE\x01T"}, "invalid method 'GE\\x01T'"),
        ({"http2": True, "streams": 2**31}, "streams per connection must be at most 2147483647 (HTTP/2's most)"),
        # a header as one line of two characters is no (name, value) pair either
        ({"headers": ["X:"]}, "headers must be tuple[tuple[str, str], ...] or a dict, not ['X:']"),
        ({"duration": True}, "duration must be float | None or the text -d takes, not True"),
        ({"threads": 2.5}, "threads must be int or the text -t takes, not 2.5"),
        ({"duration": 10**400}, "duration is too large: 100000000000000000...0000000000000000000"),
        ({"script_timeout": 0}, "--script-timeout must be > 0 and at most a year (8760h)"),
        ({"duration": None}, "a run needs a duration or a request count"),  # neither -d nor -n
        ({"key": "client.key"}, "--key is the private key of --cert: give --cert too"),
        (
            {"targets": (loadgen.Target("GET", "https://127.0.0.1:1/a"),), "method": "POST"},
            "with --targets each target gives its own method and body: drop -m, --body, --body-file",
        ),
        (
            {"targets": (loadgen.Target("GET", "https://127.0.0.1:1/a"),), "http2": True},
            "--targets runs over HTTP/1.1 for now: drop --http2",
        ),
    ],
)
def test_settings_from_python_are_refused_in_the_command_lines_words(given: dict[str, object], message: str) -> None:
    """A setting given to Settings (or run()) is checked as its flag is, and refused in one line naming the flag."""
    with pytest.raises(loadgen.UsageError) as raised:
        loadgen.Settings("https://127.0.0.1:1/", **given).check()  # type: ignore[arg-type]
    assert str(raised.value) == message


def test_settings_take_wrks_defaults_and_say_the_rate_they_ask() -> None:
    """wrk's defaults (-t2 -c10 -d10s, connections kept alive), as many connections as threads (one each),
    --no-keepalive (a connection closed after each response), a host name of DNS's longest 253 characters taken
    by --sni; the rate asked is -R's, or --stages' average over the window (a ramp from 0 to 10 in 2 s: 5/s), none
    in a closed loop; the load runs for the warm-up and then -d."""
    plain = loadgen.Settings("https://127.0.0.1:1/", sni=_LONGEST_NAME)
    plain.check()
    assert (plain.threads, plain.connections, plain.duration) == (2, 10, 10.0)
    assert (plain.paced, plain.asked_per_sec(0, 1), plain.load_s) == (False, None, 10.0)
    each_one = loadgen.Settings("https://127.0.0.1:1/", threads=3, connections=3)  # wrk's rule: -c >= -t
    each_one.check()
    assert each_one.connections_per_worker == 1  # each thread -c / -t of them
    closing = loadgen.Settings("https://127.0.0.1:1/", keepalive=False)  # --no-keepalive: HTTP/1.1's, taken
    closing.check()
    assert (plain.closes_after, closing.closes_after) == (None, 1)
    # the bounds are taken: --timeout 0, --requests-per-connection 1, HTTP/2's most streams (2**31 - 1)
    for bound in ({"timeout": 0}, {"requests_per_connection": 1}, {"http2": True, "streams": 2**31 - 1}):
        loadgen.Settings("https://127.0.0.1:1/", **bound).check()  # type: ignore[arg-type]
    one_thread = loadgen.Settings("https://127.0.0.1:1/", threads=1, stages_connections=[(1, 20)])
    assert one_thread.connections == 20  # -c left out: the most the stages ask, not wrk's 10
    halved = loadgen.Settings("https://127.0.0.1:1/", duration=Fraction(1, 2), warmup=1)
    assert (type(halved.duration), type(halved.warmup), halved.duration) == (float, float, 0.5)  # as -d 500ms stores it
    paced = loadgen.Settings("https://127.0.0.1:1/", rate=100, warmup=2, duration=3)
    assert (paced.paced, paced.asked_per_sec(0, 1), paced.load_s) == (True, 100.0, 5.0)
    staged = loadgen.Settings("https://127.0.0.1:1/", stages=[(2, 10), (2, 30)])
    assert (staged.paced, staged.asked_per_sec(0, 2), staged.asked_per_sec(1, 1)) == (True, 5.0, None)
