"""95 % intervals of the lab's figures: rates, latency quantiles, throughput.

Rates use the Wilson score interval; repeated measurements (e.g. throughput batches) a
Student-t interval of their mean. Latency quantiles use a percentile bootstrap over
*moving blocks* of consecutive requests (in dispatch order):
neighbouring requests share load, and a shared machine drifts during a run, so the requests
are not independent draws; resampling blocks of length ``n ** (1/3)`` keeps that
correlation in the resamples and widens the interval when it is there (for independent
requests it gives the plain bootstrap). Every bootstrap is seeded: the same data give the
same interval.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

Z95 = 1.96  # the normal quantile of a 95 % interval
RESAMPLES = 1000  # bootstrap resamples per interval
CHUNK = 2_000_000  # resampled values held in memory at once


def wilson_interval(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (95 % for z = 1.96); NaN when n = 0."""
    if n <= 0:
        return (np.nan, np.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the ends: no 1e-19 residue
    return (low, 1.0 if k == n else min(1.0, centre + half))


def quantile_interval(values: np.ndarray, q: float, z: float = Z95) -> tuple[float, float]:
    """A distribution-free 95 % interval of the ``q``-quantile of independent values: the
    order statistics at ranks n·q ∓ z·√(n·q·(1-q)). A bound whose rank falls outside 1…n
    is NaN: too few values to bound that tail (e.g. the upper bound of p99 from 100)."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return (np.nan, np.nan)
    half = z * np.sqrt(n * q * (1 - q))
    low, high = int(np.floor(n * q - half)), int(np.ceil(n * q + half))
    return (
        float(x[low - 1]) if 1 <= low <= n else np.nan,
        float(x[high - 1]) if 1 <= high <= n else np.nan,
    )


def block_length(n: int) -> int:
    """The moving-block length for n ordered values: n ** (1/3), at least 1."""
    return max(1, round(n ** (1 / 3)))


def _block_resamples(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Index arrays of shape (chunk, n): each row n consecutive-index blocks (circular),
    drawn with replacement."""
    rng = np.random.default_rng(seed)
    length = block_length(n)
    blocks = -(-n // length)
    offsets = np.arange(length)
    rows = max(1, CHUNK // max(n, 1))
    done = 0
    while done < resamples:
        k = min(rows, resamples - done)
        starts = rng.integers(0, n, (k, blocks, 1))
        yield ((starts + offsets) % n).reshape(k, -1)[:, :n]
        done += k


def quantile_intervals(
    ordered: np.ndarray, qs: Sequence[float], *, resamples: int = RESAMPLES, seed: int = 0
) -> dict[float, tuple[float, float]]:
    """A 95 % interval of each ``q``-quantile of ``ordered`` (values in the order they were
    produced; NaNs dropped): the union of the moving-block bootstrap interval (it widens
    with correlation between neighbouring values) and the distribution-free
    ``quantile_interval`` (the bootstrap is too narrow for a tail quantile of few values).
    A bound the values cannot give is NaN."""
    x = np.asarray(ordered, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return {q: (np.nan, np.nan) for q in qs}
    draws = np.concatenate(
        [np.quantile(x[idx], qs, axis=1).T for idx in _block_resamples(len(x), resamples, seed)]
    )
    out = {}
    for j, q in enumerate(qs):
        boot_low, boot_high = np.percentile(draws[:, j], [2.5, 97.5])
        free_low, free_high = quantile_interval(x, q)  # NaN where the tail is unbounded
        out[q] = (
            np.nan if np.isnan(free_low) else float(min(boot_low, free_low)),
            np.nan if np.isnan(free_high) else float(max(boot_high, free_high)),
        )
    return out


T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262)  # Student's t, 1…9 dof


def t975(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom (a table to 9, the
    Cornish-Fisher expansion beyond: within 0.2 % from 10, 0.01 % from 30)."""
    if dof < 1:
        raise ValueError(f"t needs at least 1 degree of freedom, got {dof}")
    if dof <= len(T975):
        return T975[dof - 1]
    z = Z95
    return z + (z**3 + z) / (4 * dof) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """The mean of repeated measurements with its 95 % Student-t interval (NaN bounds for a
    single one)."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean()) if len(x) else np.nan
    if len(x) < 2:
        return (mean, np.nan, np.nan)
    half = t975(len(x) - 1) * float(x.std(ddof=1)) / np.sqrt(len(x))
    return (mean, mean - half, mean + half)
