"""``loadgen capacity``'s refusals before any step: an SLO malformed or that no run can meet, search bounds out of
range, a URL given with --targets. Each checks a line and an exit status, with nothing listening at the address
(127.0.0.1:1): none judges the machine, so they share the suite's turn (tests/alone.py), where tests/test_capacity.py's
searches, judged by latency SLOs and the client's limit, are ``alone``."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from .conftest import Completed, each_selected, run_loadgen, run_loadgen_together, run_unchecked, untraced


def test_a_malformed_slo_stops_before_any_step() -> None:
    done = run_loadgen("capacity", "--slo", "p99<100", "http://127.0.0.1:1/")
    assert done.returncode == 1
    assert done.stderr_lines == [
        "loadgen capacity: invalid threshold 'p99<100': "
        "p99 is a latency: give a time unit (us, ms, s, m, h), as p99<50ms"
    ]
    assert "step" not in done.stdout


@pytest.fixture(scope="module")
def unmeetable(request: pytest.FixtureRequest) -> dict[str, Future[Completed]]:
    """Every selected case's command of the test below, a few at once."""
    return each_selected(
        request,
        "test_an_slo_no_step_can_meet_stops_before_any_step",
        lambda slo, never: run_unchecked("capacity", "--slo", slo, "http://127.0.0.1:1/"),
    )


@pytest.mark.parametrize(
    ("slo", "never"),
    [("p99<0ms", "below 0"), ("errors<0%", "below 0"), ("rps<0", "below 0"), ("p99<=0ms", "0: a response takes time")],
)
def test_an_slo_no_step_can_meet_stops_before_any_step(
    unmeetable: dict[str, Future[Completed]], request: pytest.FixtureRequest, slo: str, never: str
) -> None:
    # searched, it failed every step down to 1 req/s: 7 steps, then "capacity: none"
    done = untraced(unmeetable[request.node.callspec.id].result())
    assert done.returncode == 1
    metric = slo.partition("<")[0]
    assert done.stderr_lines == [
        f"loadgen capacity: invalid threshold {slo!r}: no run can meet it ({metric} is never {never})"
    ]
    assert "step" not in done.stdout


@pytest.fixture(scope="module")
def bad_bounds(request: pytest.FixtureRequest) -> dict[str, Future[Completed]]:
    """Every selected case's command of the test below, a few at once."""
    return each_selected(
        request,
        "test_bad_search_bounds_are_one_line",
        lambda flags, message: run_unchecked("capacity", "--slo", "p99<1s", *flags, "http://127.0.0.1:1/"),
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--precision", "10%"], "unable to connect to 127.0.0.1:1 Connection refused"),  # taken, as 10
        (["--precision", "10"], "unable to connect to 127.0.0.1:1 Connection refused"),
        (["--precision", "5s"], "loadgen capacity: invalid --precision: not a percentage: '5s' (as 5 or 5%)"),
        (["--precision", "nan"], "loadgen capacity: invalid --precision: not a number: 'nan'"),
        (["--precision", "0"], "loadgen capacity: --precision is a percentage > 0 and at most 100, not 0"),
        (["--precision", "200"], "loadgen capacity: --precision is a percentage > 0 and at most 100, not 200"),
        (["--max", "2G"], "loadgen capacity: --start and --max are rates > 0 and at most 1G, with --start <= --max"),
        # a target no step has: every step failed it, and the search ended in exit 4, saying nothing
        (["--slo", "p99[/x]<1s"], "loadgen capacity: invalid threshold 'p99[/x]<1s': [/x] needs --targets"),
    ],
)
def test_bad_search_bounds_are_one_line(
    bad_bounds: dict[str, Future[Completed]], request: pytest.FixtureRequest, flags: list[str], message: str
) -> None:
    done = untraced(bad_bounds[request.node.callspec.id].result())
    assert (done.returncode, done.stderr_lines) == (1, [message])


def test_targets_stand_for_the_url_as_in_a_run(tmp_path) -> None:
    """``--targets`` instead of the URL, as a run takes it: the search asked for a URL all the same
    ("Missing argument 'url'"), and given both, ran the targets and silently ignored the URL."""
    targets = tmp_path / "targets.txt"
    targets.write_text("GET http://127.0.0.1:1/a\nGET http://127.0.0.1:1/b\n")
    alone, both = map(
        untraced,
        run_loadgen_together(
            ("capacity", "--slo", "p99<1s", "--targets", str(targets)),
            ("capacity", "--slo", "p99<1s", "--targets", str(targets), "http://127.0.0.1:2/"),
            checked=False,
        ),
    )
    assert (alone.returncode, alone.stderr_lines) == (1, ["unable to connect to 127.0.0.1:1 Connection refused"])
    assert (both.returncode, both.stderr_lines) == (
        1,
        ["loadgen capacity: give either a URL or --targets, not both (http://127.0.0.1:2/)"],
    )
