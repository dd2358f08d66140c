"""The targets file (vegeta's format) and the order a worker sends its targets in."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen import Settings
from loadgen.errors import UsageError
from loadgen.target import parse_url
from loadgen.targetsfile import (
    MAX_CYCLE,
    Target,
    TargetsError,
    check_targets,
    labels,
    parse_targets,
    read_targets,
    send_order,
)

BASE = "http://127.0.0.1:8080"


def test_vegeta_entries_with_headers_body_weight_and_comments(tmp_path: Path) -> None:
    (tmp_path / "order.json").write_bytes(b'{"id": 1}')
    path = tmp_path / "targets.txt"
    path.write_text(
        f"# the shop\n"
        f"GET {BASE}/api/orders?page=2 weight=3\n"
        f"    Accept: application/json\n"
        f"X-Account: 8675309\n"
        f"\n"
        f"post {BASE}/api/orders\n"
        f"  Content-Type: application/json\n"
        f"@order.json\n"
        f"{BASE}/health\n"
    )
    targets = read_targets(str(path))
    assert targets == (
        Target(
            "GET", f"{BASE}/api/orders?page=2", (("Accept", "application/json"), ("X-Account", "8675309")), None, 3, 2
        ),
        Target("POST", f"{BASE}/api/orders", (("Content-Type", "application/json"),), b'{"id": 1}', 1, 6),
        Target("GET", f"{BASE}/health", (), None, 1, 9),
    )
    assert labels(targets) == ("GET /api/orders?page=2", "POST /api/orders", "GET /health")


def test_a_header_whose_value_is_a_url_right_after_the_colon_is_a_header() -> None:
    """``Referer:http://a/`` is a header line, as ``-H`` takes it (no space needed after the colon): it was
    refused as an invalid URL; a line that is a URL of another scheme still is."""
    targets = parse_targets([f"GET {BASE}/", "Referer:http://example.com/", "Origin:https://example.com"])
    assert targets[0].headers == (("Referer", "http://example.com/"), ("Origin", "https://example.com"))
    with pytest.raises(TargetsError, match=r"^<targets>:2: invalid URL 'ws://h/'"):
        parse_targets([f"GET {BASE}/", "ws://h/"])


def test_a_method_in_capitals_is_taken_whatever_its_token_and_a_standard_one_in_any_case() -> None:
    """vegeta's rule: a method is a word in capitals, an extension method too (UPnP's ``M-SEARCH``, a hyphen in it;
    Varnish's ``PURGE``); in another case only a standard one is (``post``), else a header without its colon
    under a request line would be read as one."""
    targets = parse_targets([f"M-SEARCH {BASE}/a", f"PURGE {BASE}/b", f"post {BASE}/c"])
    assert [t.method for t in targets] == ["M-SEARCH", "PURGE", "POST"]
    with pytest.raises(TargetsError, match=r"^<targets>:2: 'm-search http://127\.0\.0\.1:8080/a' is no request line"):
        parse_targets([f"GET {BASE}/", f"m-search {BASE}/a"])


def test_stdin_without_bytes_beneath_is_read_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """An IDE's or a notebook's ``sys.stdin`` has no ``buffer``: read as the text it gives."""
    monkeypatch.setattr("sys.stdin", io.StringIO(f"GET {BASE}/a\n"))
    assert [t.url for t in read_targets("-")] == [f"{BASE}/a"]


def test_a_closed_stdin_is_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--targets - <&-``: Python's ``sys.stdin`` is None, which ended in a TypeError's traceback."""
    monkeypatch.setattr("sys.stdin", None)
    with pytest.raises(TargetsError, match=r"^cannot read targets from standard input: it is closed$"):
        read_targets("-")


def test_stdin_and_repeated_names() -> None:
    targets = read_targets("-", io.StringIO(f"GET {BASE}/a\nGET {BASE}/a\nPOST {BASE}/a\nGET {BASE}/a\n"))
    assert labels(targets) == ("GET /a", "GET /a#2", "POST /a", "GET /a#3")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^t\.txt: no targets \(expected lines of \[METHOD\] URL\)$"),
        ("# only a comment\n\n", r"^t\.txt: no targets"),
        ("Accept: x\n", r"^t\.txt:1: expected a request line \(\[METHOD\] URL\), found 'Accept: x'$"),
        ("Referer:http://h/\n", r"^t\.txt:1: expected a request line \(\[METHOD\] URL\), found 'Referer:http"),
        (f"GET {BASE}/\nnot a header\n", r"^t\.txt:2: invalid header 'not a header': expected 'Name: value'$"),
        (f"G@T {BASE}/\n", r"^t\.txt:1: invalid method 'G@T'$"),
        # a token without letters: was a request of the method 123 (a weight or a count before the URL)
        (
            f"GET {BASE}/a\n123 {BASE}/b\n",
            r"^t\.txt:2: invalid method '123': a method starts with a letter \(GET, M-SEARCH\)$",
        ),
        (f"* {BASE}/\n", r"^t\.txt:1: invalid method '\*': a method starts with a letter"),
        # a header without its colon: was a second target, of the method REFERER (vegeta: "bad header")
        (
            f"GET {BASE}/\nReferer {BASE}/\n",
            r"^t\.txt:2: 'Referer http://127\.0\.0\.1:8080/' is no request line \('Referer' is no method: "
            r"vegeta's are in capitals\) nor a header \(Name: value\)$",
        ),
        ("GET /a\n", r"^t\.txt:1: invalid URL '/a': a target's URL starts with http:// or https://$"),
        (f"GET {BASE}/a\nPOST /b weight=2\n", r"^t\.txt:2: invalid URL '/b': a target's URL starts with http://"),
        (f"GET {BASE}/a\nftp://h/b\n", r"^t\.txt:2: invalid URL 'ftp://h/b': a target's URL starts with http://"),
        (f"GET {BASE}/ weight=0\n", r"^t\.txt:1: invalid 'weight=0': a weight is a whole number from 1$"),
        (f"GET {BASE}/ weight=x\n", r"^t\.txt:1: invalid 'weight=x'"),
        pytest.param(  # more digits than int() converts: words, not its traceback
            f"GET {BASE}/ weight={'9' * 5000}\n",
            r"^t\.txt:1: invalid 'weight=9+'\.\.\.: 5,000 digits, too many for a weight$",
            id="weight-of-5000-digits",
        ),
        pytest.param(
            f"GET {BASE}/ weight={'0' * 5000}\n",
            r"^t\.txt:1: invalid 'weight=0+'\.\.\.: a weight is a whole number from 1$",
            id="weight-of-5000-zeros",
        ),
        (f"GET {BASE}/ extra\n", r"^t\.txt:1: unexpected 'extra' after the URL \(only weight=N may follow it\)$"),
        (f"GET {BASE}/ weight=2 weight=5\n", r"^t\.txt:1: unexpected 'weight=5' after 'weight=2' \(one weight=N"),
        ("GET http://:80/\n", r"^t\.txt:1: invalid URL 'http://:80/': no host$"),
        ("GET http://h:99999/\n", r"^t\.txt:1: invalid URL 'http://h:99999/': Port out of range"),
        (
            f"GET {BASE}/a\n\nGET http://127.0.0.1:8081/b\n",
            r"^t\.txt:3: http://127.0.0.1:8081 is another server than line 1's http://127.0.0.1:8080: "
            r"a run loads one server \(run loadgen once per server\)$",
        ),
        (f"GET {BASE}/a\nGET https://127.0.0.1:8080/b\n", r"^t\.txt:2: https://127.0.0.1:8080 is another server"),
        ("@body\n", r"^t\.txt:1: a body \(@file\) before any request line$"),
        (f"POST {BASE}/\n@missing.bin\n", r"^t\.txt:2: cannot read body file missing.bin: No such file or directory$"),
        (f"POST {BASE}/\n@\n", r"^t\.txt:2: @ names no file$"),
        (f"GET {BASE}/\nX-A: caf\u00e9\u20ac\n", r"^t\.txt:2: invalid header .*only Latin-1"),
        (f"GET {BASE}/ weight={MAX_CYCLE}\nGET {BASE}/b\n", r"^t\.txt: the weights add up to 1,000,001"),
    ],
)
def test_a_bad_line_is_one_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.txt"
    path.write_text(text)
    with pytest.raises(TargetsError, match=message):
        parse_targets(text.splitlines(), "t.txt", tmp_path)


def test_a_file_name_that_would_split_the_line_is_quoted_in_every_message(tmp_path: Path) -> None:
    """``--targets $'a\\nb.txt'``: a bad line's message quoted the name, and those of the whole file (no
    targets, the weights, HEAD among others, bytes not UTF-8) named it as given, on two lines."""
    whole_file = ([], [f"GET {BASE}/ weight={MAX_CYCLE}", f"GET {BASE}/b"], [f"HEAD {BASE}/", f"GET {BASE}/b"])
    for lines in whole_file:
        with pytest.raises(TargetsError, match=r"^'a\\nb\.txt'(:1)?: [^\n]+$"):
            parse_targets(lines, "a\nb.txt")
    path = tmp_path / "a\nb.txt"
    path.write_bytes(b"\xff\n")
    with pytest.raises(TargetsError) as raised:
        read_targets(str(path))
    assert str(raised.value) == f"{str(path)!r}:1: not UTF-8 text"


@pytest.mark.parametrize(
    "lines",
    [
        ["x" * 1_000_000],  # not a request line
        [f"GET {BASE}/", "v" * 1_000_000],  # not a header
        [f"GET {BASE}/", "X-A: " + "\u20ac" * 1_000_000],  # not Latin-1
        [f"GET http://[::1/{'p' * 1_000_000}"],  # not a URL
        [f"GET {BASE}/ {'w' * 1_000_000}"],  # not a weight
    ],
)
def test_a_bad_line_of_a_megabyte_is_quoted_in_part(lines: list[str]) -> None:
    """The message is one line a terminal shows: the bad text's first characters, not all of it."""
    with pytest.raises(TargetsError) as raised:
        parse_targets(lines, "t")
    message = str(raised.value)
    assert len(message) < 250 and "..." in message, message[:300]


def test_two_bodies_and_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "b").write_bytes(b"x")
    with pytest.raises(TargetsError, match=r"^t:3: a second body \(@file\) for one request$"):
        parse_targets([f"POST {BASE}/", "@b", "@b"], "t", tmp_path)
    with pytest.raises(TargetsError, match=r"^cannot read targets file .*nope: No such file or directory$"):
        read_targets(str(tmp_path / "nope"))
    (tmp_path / "bin").write_bytes(f"GET {BASE}/\nGET {BASE}/\xff\n".encode("latin-1"))
    with pytest.raises(TargetsError, match=r"bin:2: not UTF-8 text$"):
        read_targets(str(tmp_path / "bin"))


def test_the_first_bad_line_is_named_before_the_rest_is_read(tmp_path: Path) -> None:
    """Each line is read and checked before the next: a file given by mistake is refused at its
    first bad line (a 300 MB log was first read and split whole: 4.3 s and 1.1 GB of memory to say
    line 1), not at a byte further on that is not UTF-8."""
    path = tmp_path / "access.log"
    path.write_bytes(b'127.0.0.1 - - "GET / HTTP/1.1" 200 3\n' * 2 + b"\xff\n")
    with pytest.raises(TargetsError, match=r"access\.log:1: expected a request line \(\[METHOD\] URL\), found '127"):
        read_targets(str(path))


def test_body_files_are_relative_to_the_targets_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00\x01")
    (tmp_path / "sub" / "t.txt").write_text(f"PUT {BASE}/x\n@b.bin\n")
    assert read_targets(str(tmp_path / "sub" / "t.txt"))[0].body == b"\x00\x01"


def test_round_robin_and_weights() -> None:
    assert send_order([1, 1, 1]) == (0, 1, 2)
    assert send_order([5]) == (0,)
    assert send_order([2, 4, 6]) == send_order([1, 2, 3])
    assert Counter(send_order([3, 1])) == {0: 3, 1: 1}
    assert send_order([2, 1]) == (0, 1, 0)  # spread through the cycle: the weight-1 target in the middle
    assert send_order([1, 3]) == (1, 0, 1, 1)  # ties go to the lower index
    assert send_order([3, 1]) == (0, 0, 1, 0) and send_order([3, 2]) == (0, 1, 0, 1, 0)  # turn k at (k + 1/2) / share


def test_a_line_of_a_mebibyte_is_read_and_a_longer_one_refused(tmp_path: Path) -> None:
    """A line may hold 1 MiB, its end included (a body goes in an @FILE); one byte more is refused."""
    request = f"GET {BASE}/a\n".encode()
    comment = b"#" + b"x" * (2**20 - 2) + b"\n"
    (tmp_path / "ok.txt").write_bytes(comment + request)
    assert [t.url for t in read_targets(str(tmp_path / "ok.txt"))] == [f"{BASE}/a"]
    (tmp_path / "long.txt").write_bytes(request + b"#x" + comment)
    with pytest.raises(TargetsError, match=r"long\.txt:2: a line longer than 1 MiB \(a body goes in a file: @FILE\)$"):
        read_targets(str(tmp_path / "long.txt"))


def test_more_targets_than_a_report_holds_are_refused_at_the_first_too_many() -> None:
    lines = [f"GET {BASE}/a"] * 10_001
    assert len(parse_targets(lines[:10_000])) == 10_000
    with pytest.raises(TargetsError, match=r"^t:10001: more than 10,000 targets$"):
        parse_targets(lines, "t")


_names = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8)
_header = st.tuples(_names.map(lambda n: "X-" + n), st.text("abc xyz=;,/0123456789", max_size=12).map(str.strip))
_target = st.builds(
    Target,
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]),  # HEAD: all or none (tested apart)
    st.lists(_names, max_size=3).map(lambda parts: BASE + "/" + "/".join(parts)),
    st.lists(_header, max_size=3).map(tuple),
    st.just(None),
    st.integers(1, 50),
)


def _written(targets: list[Target]) -> list[str]:
    """The targets as a user writes them: comments, blank lines, indented headers."""
    lines = ["# written by the test"]
    for target in targets:
        lines.append(f"{target.method} {target.url}" + (f" weight={target.weight}" if target.weight > 1 else ""))
        lines += [f"   {name}: {value}" for name, value in target.headers]
        lines.append("")
    return lines


@settings(max_examples=200, deadline=None)
@given(st.lists(_target, min_size=1, max_size=12))
def test_a_written_file_reads_back(targets: list[Target]) -> None:
    read = parse_targets(_written(targets))
    assert [(t.method, t.url, t.headers, t.body, t.weight) for t in read] == [
        (t.method, t.url, t.headers, t.body, t.weight) for t in targets
    ]
    assert len(set(labels(read))) == len(read)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=10))
def test_every_stretch_of_the_order_holds_the_weights(weights: list[int]) -> None:
    order = send_order(weights)
    total = sum(weights)
    shares = Counter(order)
    assert sum(shares.values()) * (total // len(order)) == total
    assert all(shares[i] * total == weights[i] * len(order) for i in range(len(weights)))
    bound = (len(weights) + 1) / 2
    seen = [0] * len(weights)
    for length, index in enumerate(order, 1):
        seen[index] += 1
        assert all(abs(seen[i] - length * weights[i] / total) <= bound for i in range(len(weights)))


_line = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["GET " + BASE + "/", BASE + "/x weight=2", "  A: b", "@", "# c", "", "POST http://h/"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_line, max_size=8))
def test_any_text_is_targets_or_one_error_naming_its_line(lines: list[str]) -> None:
    try:
        targets = parse_targets(lines, "t")
    except TargetsError as exc:
        assert str(exc).startswith("t:") and "\n" not in str(exc)
    else:
        assert targets and all(t.line >= 1 for t in targets)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([Target("GET", "http://127.0.0.1:9/a")], r"^target 0 \(GET http://127.0.0.1:9/a\): another server than http"),
        ([Target("G T", f"{BASE}/a")], r"^target 0 \(G T .*\): invalid method 'G T'$"),
        ([Target("123", f"{BASE}/a")], r"^target 0 \(123 .*\): invalid method '123': a method starts with a letter"),
        # a line break or a tab in the method or the URL: quoted, the message one line
        ([Target("G\nT", f"{BASE}/a")], r"^target 0 \('G\\nT http://127\.0\.0\.1:8080/a'\): invalid method 'G\\nT'$"),
        (
            [Target("GET", f"{BASE}/a"), Target("HEAD", f"{BASE}/b\tc")],
            r"^target 1 \('HEAD http://127\.0\.0\.1:8080/b\\tc'\): HEAD among other methods",
        ),
        ([Target("GET", f"{BASE}/a", weight=0)], r"^target 0 .*: a weight is a whole number from 1, not 0$"),
        (
            [Target("GET", f"{BASE}/a", (("X-A", "1\r\n"),))],
            r"^target 0 .*: invalid header X-A: '1\\r\\n': line breaks are not allowed",
        ),
        ([Target("GET", "nope")], r"^target 0 \(GET nope\): invalid URL: no scheme$"),
        ([Target("GET", f"{BASE}/a"), Target("HEAD", f"{BASE}/b")], r"^target 1 \(HEAD .*\): HEAD among other methods"),
        # of another type than the field's: said before the run, not a TypeError from inside it
        ([Target(1, f"{BASE}/a")], r"^target 0 \(1 .*\): method must be str, not 1$"),  # type: ignore[arg-type]
        ([Target("GET", f"{BASE}/a"), Target("GET", 7)], r"^target 1 \(GET 7\): url must be str, not 7$"),  # type: ignore[arg-type]
        ([Target("GET", f"{BASE}/a", weight="3")], r"^target 0 .*: a weight is a whole number from 1, not '3'$"),  # type: ignore[arg-type]
        ([Target("GET", f"{BASE}/a", weight=1.5)], r"^target 0 .*: a weight is a whole number from 1, not 1.5$"),  # type: ignore[arg-type]
        (
            [Target("GET", f"{BASE}/a", {"X-A": "1"})],  # type: ignore[arg-type]
            r"^target 0 .*: headers must be \(name, value\) pairs of str, not \{'X",
        ),
        ([Target("GET", f"{BASE}/a", (("X-A",),))], r"^target 0 .*: headers must be \(name, value\) pairs of str"),  # type: ignore[arg-type]
        ([Target("POST", f"{BASE}/a", body="text")], r"^target 0 .*: body must be bytes or None, not 'text'$"),  # type: ignore[arg-type]
    ],
)
def test_targets_given_in_python_are_checked(targets: list[Target], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_targets(targets, parse_url(BASE + "/"))
    check_targets([Target("HEAD", f"{BASE}/a"), Target("HEAD", f"{BASE}/b")], parse_url(BASE + "/"))


def test_a_byte_order_mark_and_crlf_line_ends_are_read_as_windows_editors_write_them(tmp_path: Path) -> None:
    """Once 't.txt:1: invalid method '\\ufeffGET'' (a URL alone: 'expected a request line'): a BOM
    that Notepad writes before the first line was taken for part of it."""
    path = tmp_path / "t.txt"
    path.write_bytes(f"\ufeffGET {BASE}/a weight=2\r\n  Accept: x\r\n{BASE}/b\r\n".encode())
    assert read_targets(str(path)) == (
        Target("GET", f"{BASE}/a", (("Accept", "x"),), None, 2, 1),
        Target("GET", f"{BASE}/b", (), None, 1, 3),
    )
    assert read_targets("-", io.StringIO(f"\ufeff{BASE}/a\n")) == (Target("GET", f"{BASE}/a", (), None, 1, 1),)


def test_the_report_title_counts_targets_in_words() -> None:
    """The report's first line: ``(1 target)``, not ``(1 targets)``."""
    one, two = (Settings(targets=tuple(Target("GET", f"{BASE}/{i}") for i in range(n))) for n in (1, 2))
    assert (one.title, two.title) == (f"{BASE} (1 target)", f"{BASE} (2 targets)")
