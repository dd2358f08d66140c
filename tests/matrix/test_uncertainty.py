"""The statistics on their own: bootstrap intervals, the coefficient of variation, ratios, and the flags a
repetition raises from what was measured around it. No server needed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import loadgen
from server_matrix.measuring.interference import CpuCounters, tree_ticks, usage_between, watch
from server_matrix.measuring.results import OK, Sample, ServerEvents
from server_matrix.reporting.numbers import ratio_text
from server_matrix.statistics import estimates, flags
from server_matrix.statistics.uncertainty import (
    Ratio,
    _interval,
    coefficient_of_variation,
    estimate,
    generator,
    percentile_replicates,
    rate_replicates,
    ratio,
)


def rate_estimate(values: list[float], name: str, spread: int = 5) -> object:
    """``values`` as repetitions, each with per-100 ms request counts around it (``spread`` apart)."""
    replicates = []
    for index, value in enumerate(values):
        per_100ms = {round(value / 10) + step: 3 for step in range(-spread, spread + 1, spread)}
        replicates.append(rate_replicates(value, per_100ms, generator(name, index)))
    return estimate(values, replicates, generator(name))


def test_the_interval_holds_every_repetition_and_the_median() -> None:
    values = [1000.0, 1040.0, 980.0]
    found = rate_estimate(values, "three")
    assert found.median == 1000.0 and found.low <= min(values) and max(values) <= found.high
    assert found.high - found.low < 200 and found.repetitions == 3 and not found.single
    assert found.cv == pytest.approx(np.std(values, ddof=1) / np.mean(values))
    assert rate_estimate(values, "three").low == found.low  # seeded: the same report every time


def test_one_repetition_is_a_single_measurement_without_interval() -> None:
    """Its run's own per-100 ms spread says nothing of the next run: no interval, no bootstrap, no ratio."""
    found = rate_estimate([500.0], "one", spread=10)
    assert found.single and found.cv is None and found.median == 500.0
    assert found.low is None and found.high is None and found.draws is None
    assert found.to_json()["ci95"] is None and found.to_json()["half_width"] is None
    assert ratio(found, rate_estimate([1000.0, 1010.0], "two")) is None


def test_the_half_width_is_what_precision_bounds() -> None:
    found = rate_estimate([1000.0, 1020.0], "two")
    assert found.half_width == pytest.approx((found.high - found.low) / 2 / found.median)
    assert 0.005 < found.half_width < 0.05
    silent = rate_estimate([0.0, 0.0], "no response twice")  # a median of 0: no share of it to bound, not a crash
    assert silent.low == silent.high == 0.0 and silent.half_width is None and silent.to_json()["half_width"] is None


def test_coefficient_of_variation() -> None:
    assert coefficient_of_variation([10.0]) is None
    assert coefficient_of_variation([10.0, 10.0]) == 0.0
    assert coefficient_of_variation([90.0, 110.0]) == pytest.approx(np.std([90, 110], ddof=1) / 100)
    assert coefficient_of_variation([0.0, 0.0]) is None  # a zero mean (no response twice): none, not NaN
    assert coefficient_of_variation([0.4, 0.6]) == pytest.approx(0.1 * 2**0.5 / 0.5)  # a mean under 1 req/s has one


def test_ratios_are_significant_only_when_the_interval_leaves_out_one() -> None:
    base = rate_estimate([1000.0, 1010.0, 990.0], "base")
    same = rate_estimate([1005.0, 995.0, 1000.0], "same")
    slower = rate_estimate([600.0, 610.0, 590.0], "slower")
    assert not ratio(base, same).significant
    change = ratio(base, slower)
    assert change.significant and change.high < 1 and change.value == pytest.approx(0.6)
    # within 1% of 1 (the noise threshold) no ratio is a change, whatever its interval
    assert not Ratio(1.005, 1.002, 1.008).significant and Ratio(1.02, 1.01, 1.03).significant
    assert not Ratio(1.05, 0.95, 1.15).significant and Ratio(0.95, 0.9, 0.99).significant  # 1 in it, or not
    assert not Ratio(1.05, 1.0, 1.1).significant and not Ratio(0.95, 0.9, 1.0).significant  # 1 at an end is in it
    assert change.to_json() == {"ratio": change.value, "ci95": [change.low, change.high], "significant": True}
    # a base under 1 req/s (above 0) is a base all the same: twice as fast is a ratio of 2
    trickle = ratio(rate_estimate([0.5, 0.5], "trickle"), rate_estimate([1.0, 1.0], "twice"))
    assert trickle is not None and trickle.value == pytest.approx(2.0)


def test_a_repetitions_rate_moves_with_its_per_100ms_rates_drawn_again() -> None:
    """Two windows are enough to draw again (one is not); windows that all measured 0 give the rate itself."""
    two = rate_replicates(1000.0, {90: 1, 110: 1}, generator("two windows"))
    assert two.min() == pytest.approx(900.0) and two.max() == pytest.approx(1100.0)
    assert set(rate_replicates(1000.0, {100: 1}, generator("one window")).tolist()) == {1000.0}
    assert set(rate_replicates(0.0, {0: 20}, generator("no response")).tolist()) == {0.0}  # not NaN


def test_the_interval_is_the_central_95_percent_of_the_draws() -> None:
    assert _interval(np.arange(1001.0)) == pytest.approx((25.0, 975.0))


def test_a_percentiles_draws_are_read_again_around_its_value() -> None:
    """The p50 of 90 responses at 10 and 10 at 20 is 10: redrawn ranks around the 50th all read 10, the value."""
    draws = percentile_replicates(10.0, [(10, 90), (20, 10)], 0, 50.0, generator("p50"))
    assert set(draws.tolist()) == {10.0}
    # the last bin is read as any other: the p50 of 10 at 10 and 90 at 20 is 20
    assert set(percentile_replicates(20.0, [(10, 10), (20, 90)], 0, 50.0, generator("p50")).tolist()) == {20.0}


def test_a_repetitions_flags_come_from_what_was_measured_around_it() -> None:
    quiet = {"window_s": 2.0, "ours_share": 0.8, "other_share": 0.02, "steal_share": 0.0}
    assert estimates.sample_flags(Sample(OK, machine=quiet)) == []
    assert estimates.sample_flags(Sample(OK, machine=quiet | {"other_share": 0.3})) == [flags.INTERFERENCE]
    assert estimates.sample_flags(Sample(OK, machine=quiet | {"steal_share": 0.06})) == [flags.INTERFERENCE]
    at_the_thresholds = quiet | {"other_share": 0.10, "steal_share": 0.05}  # the README's: more than 10%, above 5%
    assert estimates.sample_flags(Sample(OK, machine=at_the_thresholds)) == []
    restarted = Sample(OK, machine=quiet, server=ServerEvents(restarted="busy", worker_timeouts=2))
    assert estimates.sample_flags(restarted) == [flags.SERVER_RESTARTED, flags.WORKER_TIMEOUTS]


def test_other_cpu_time_is_what_the_machine_used_beyond_our_processes() -> None:
    # /proc/stat columns: user nice system idle iowait irq softirq steal, in clock ticks
    before = CpuCounters((100, 0, 50, 1000, 0, 0, 0, 0), ours=40)
    after = CpuCounters((250, 0, 100, 1150, 0, 0, 0, 0), ours=160)  # 350 ticks in all, 200 used, 120 ours
    usage = usage_between(before, after, 1.75)
    assert usage.ours_share == pytest.approx(120 / 350) and usage.other_share == pytest.approx(80 / 350)
    assert usage.steal_share == 0.0


WORKER = "import time\nstart = time.process_time()\nwhile time.process_time() - start < 0.2: pass\ntime.sleep(9)"
MASTER = f"import subprocess, sys, time\nprint(subprocess.Popen([sys.executable, '-c', {WORKER!r}]).pid)\ntime.sleep(9)"


def test_a_tree_that_loses_a_process_mid_window_uses_no_negative_share() -> None:
    """A server's master killed mid-cell: its busy worker leaves the tree with its ticks. The tree's delta went
    negative (-0.26 of the machine, the others 1.21), which results.json's schema refuses."""
    master = subprocess.Popen([sys.executable, "-u", "-c", MASTER], stdout=subprocess.PIPE, text=True)
    assert master.stdout is not None
    worker = int(master.stdout.readline())
    try:
        deadline = time.monotonic() + 2
        while tree_ticks(master.pid) < 15 and time.monotonic() < deadline:  # the worker has burnt its 0.2 s
            time.sleep(0.02)
        with watch(master.pid) as seen:
            master.kill()
            master.wait()  # the worker goes to init, out of the tree, with its ticks
    finally:
        master.kill()
        os.kill(worker, signal.SIGKILL)
    assert seen.usage is not None
    assert seen.usage.ours_share == 0 and 0 <= seen.usage.other_share <= 1
    assert 0 < seen.usage.window_s < 5  # the block's own seconds, as results.json records them


def test_a_window_without_one_response_is_flagged() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        result = loadgen.run(url, threads=1, connections=1, duration=0.3)
    assert result.requests == 0
    sample = Sample(OK, result=result)
    assert estimates.sample_flags(sample) == [flags.NO_RESPONSE] and sample.requests_per_sec == 0


def test_a_ratios_bound_near_1_is_written_on_its_side_of_1() -> None:
    """json async in a default run, wsgi-gthread to the fastest: significantly slower, its interval's high end
    0.9969, written `0.57 [0.32, 1.00]` beside "10 others slower"."""
    slower = Ratio(0.5675, 0.3190, 0.9969)
    assert slower.significant and ratio_text(slower) == "0.57 [0.32, 0.997] ✱"
    assert ratio_text(Ratio(1.3, 1.0004, 1.6)) == "1.30 [1.0004, 1.60] ✱"
    assert ratio_text(Ratio(1.0, 0.8, 1.0)) == "1.00 [0.80, 1.00]"
