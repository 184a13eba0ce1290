"""The lab's intervals: moving-block bootstrap of quantiles, t intervals of repeats."""

import numpy as np
import pytest

from trustchain_lab.stats import (
    block_length,
    mean_interval,
    quantile_interval,
    quantile_intervals,
    t975,
)


def test_block_length_grows_as_the_cube_root():
    assert [block_length(n) for n in (1, 8, 1000, 100_000)] == [1, 2, 10, 46]


def test_independent_values_give_the_distribution_free_interval_or_wider():
    x = np.random.default_rng(3).lognormal(0, 0.5, 2000)
    for q in (0.5, 0.95, 0.99):
        lo, hi = quantile_intervals(x, [q])[q]
        free_lo, free_hi = quantile_interval(x, q)
        assert lo <= free_lo and hi >= free_hi
        assert lo <= np.quantile(x, q) <= hi


def test_correlated_values_widen_the_interval():
    """Runs of 50 equal values (neighbouring requests sharing a load level) carry far less
    information than 2000 independent ones: the block bootstrap says so."""
    rng = np.random.default_rng(4)
    levels = rng.lognormal(0, 0.5, 40)
    x = np.repeat(levels, 50)
    lo, hi = quantile_intervals(x, [0.5])[0.5]
    shuffled = rng.permutation(x)
    s_lo, s_hi = quantile_intervals(shuffled, [0.5])[0.5]
    assert (hi - lo) > 2 * (s_hi - s_lo)


def test_a_tail_the_values_cannot_bound_stays_open():
    x = np.random.default_rng(5).exponential(1.0, 100)
    lo, hi = quantile_intervals(x, [0.99])[0.99]
    assert not np.isnan(lo) and np.isnan(hi)
    assert all(np.isnan(v) for v in quantile_intervals(np.array([]), [0.5])[0.5])


def test_intervals_are_reproducible():
    x = np.random.default_rng(6).normal(size=300)
    assert quantile_intervals(x, [0.5, 0.9]) == quantile_intervals(x, [0.5, 0.9])


def test_mean_interval_is_the_student_t_interval():
    mean, lo, hi = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and (lo, hi) == pytest.approx(
        (2 - 4.303 / np.sqrt(3), 2 + 4.303 / np.sqrt(3))
    )
    assert np.isnan(mean_interval([5.0])[1])
    assert t975(30) == pytest.approx(2.042, abs=2e-3)  # the expansion beyond the table
    assert t975(1000) == pytest.approx(1.962, abs=1e-3)
    with pytest.raises(ValueError, match="degree"):
        t975(0)
