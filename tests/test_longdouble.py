"""wrk's long double arithmetic, checked against real C long double (gcc) where available."""

from __future__ import annotations

import random
import shutil
import subprocess
from fractions import Fraction

import pytest

from loadgen._stats.longdouble import c_round, dbl, format_fixed, ld, sqrt_ld
from loadgen._stats.stats import _wrk_rank

C_ORACLE = r"""
#include <stdio.h>
#include <math.h>
#include <inttypes.h>
int main(void) {
    uint64_t a, b;
    while (scanf("%" SCNu64 " %" SCNu64, &a, &b) == 2) {
        long double q = a / (long double) b;
        uint64_t rank = round((99.0L / 100.0) * b + 0.5);
        printf("%.2Lf %.2Lf %.2Lf %.6Lf %" PRIu64, q, sqrtl(q), (a / (long double) b) * 100, q / 1000, rank);
        long double exact[2] = {q, sqrtl(q)};
        for (int i = 0; i < 2; i++) {  /* each value's 64-bit significand and exponent: its every bit */
            int e;
            long double m = frexpl(exact[i], &e);
            printf(" %" PRIu64 " %d", (uint64_t) ldexpl(m, 64), e);
        }
        printf("\n");
    }
}
"""


def _exact(significand: str, exponent: str) -> Fraction:
    """A long double printed by the oracle as its 64-bit significand and its exponent (frexpl)."""
    return Fraction(int(significand)) * Fraction(2) ** (int(exponent) - 64)


def test_ties_round_as_long_double_not_double() -> None:
    # 24.145 is a tie in decimal; as a long double it lies above the tie, as a double below.
    assert format_fixed(ld(Fraction(4829, 200)), 2) == "24.15"
    assert "%.2f" % (4829 / 200) == "24.14"
    assert format_fixed(Fraction(5, 2), 0) == "2" and format_fixed(Fraction(7, 2), 0) == "4"
    assert c_round(Fraction(5, 2)) == 3 and c_round(Fraction(-5, 2)) == -3
    assert dbl(Fraction(1, 3)) == Fraction(1 / 3)
    assert sqrt_ld(Fraction(16)) == 4


def test_against_c_long_double(tmp_path) -> None:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler to build the long double oracle")
    (tmp_path / "oracle.c").write_text(C_ORACLE)
    subprocess.run([compiler, "-O0", "-o", str(tmp_path / "oracle"), str(tmp_path / "oracle.c"), "-lm"], check=True)
    rng = random.Random(7)
    pairs = []
    for _ in range(5000):
        b = rng.choice([200, 40, 8, 1000, 3, 7, rng.randint(1, 10**6)])
        near_multiple = b * rng.randint(0, 1000) + rng.choice([0, b // 2, b // 200 or 1])
        a = rng.randint(0, 10**7) if rng.random() < 0.5 else near_multiple
        pairs.append((a, b))
    pairs += [(0, rng.randint(1, 1000)) for _ in range(5)]  # nothing: zero, not the smallest value
    pairs += [(2 ** rng.randint(57, 63) + rng.randint(0, 2**57), 1) for _ in range(200)]  # past 2**64 times 100
    output = subprocess.run(
        [str(tmp_path / "oracle")],
        input="".join(f"{a} {b}\n" for a, b in pairs),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for (a, b), expected in zip(pairs, output, strict=True):
        q = ld(Fraction(a, b))
        ours = " ".join(
            [
                format_fixed(q, 2),
                format_fixed(sqrt_ld(q), 2),
                format_fixed(ld(q * 100), 2),
                format_fixed(ld(q / 1000), 6),
                str(c_round(dbl(ld(ld(ld(Fraction(99) / 100) * b) + Fraction(1, 2))))),
            ]
        )
        printed, exact = expected.split()[:5], expected.split()[5:]
        assert ours == " ".join(printed), (a, b)
        assert str(_wrk_rank(Fraction(99), b)) == printed[-1]  # the cached rank percentiles use
        # every bit of the quotient and of its square root (sqrtl: correctly rounded), not only two decimals
        assert (q, sqrt_ld(q)) == (_exact(*exact[:2]), _exact(*exact[2:])), (a, b)
