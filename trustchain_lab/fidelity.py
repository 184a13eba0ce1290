"""Where the model holds: the same scenarios on real Redis and in the calibrated model,
compared request by request, and the range of load in which they agree.

``compare(scenario, real, sim)`` pairs two runs of one scenario (common random numbers:
request i draws the same on both); ``holds`` applies the bar (paired outcome agreement
>= 0.95, p50 within 10 %, p99 within 25 %); ``validity_ranges`` turns a grid of such rows
into the largest number of requests in flight up to which every point held, per placement,
scenario and fan-out; ``outside`` says whether a point asked of the model lies beyond them,
among the scenarios of its ``family`` (with work, or bare: the protocol's own cost alone).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .stats import wilson_interval
from .topology import Topology

BAR = {"agreement": 0.95, "p50": 0.10, "p99": 0.25}  # the bar a point must clear
RESAMPLES = 2000  # paired bootstrap resamples of the quantile ratios
BARE_WORK = 0.001  # s: a worker whose mean claim delay plus work is below this is bare
FAMILY = {"light": "work", "race": "work", "bare": "bare"}  # the map's scenarios' families


def family(scenario: Any) -> str:
    """``"bare"`` when any worker that may be interested (interest > 0) spends on average
    less than ``BARE_WORK`` in claim delay and work together: its requests then cost the
    protocol's own client CPU and round trips, which the model prices less well as they
    batch (the map's bare scenario spends nothing, its others ~25 ms); else ``"work"``.
    A scenario mixing both is judged by the bare ranges, the stricter."""
    for slot in Topology.of(scenario).slots:
        if slot.interest > 0 and slot.claim_delay.expected + slot.work_time.expected < BARE_WORK:
            return "bare"
    return "work"


def paired_ratio(
    real: np.ndarray, sim: np.ndarray, q: float, seed: int = 0
) -> tuple[float, float, float]:
    """real q-quantile / sim q-quantile of the same requests, with a 95 % paired percentile
    bootstrap interval (requests resampled in pairs: the common numbers stay paired)."""
    keep = ~(np.isnan(real) | np.isnan(sim))
    real, sim = real[keep], sim[keep]
    if len(real) == 0:
        return (np.nan, np.nan, np.nan)
    picks = np.random.default_rng(seed).integers(0, len(real), (RESAMPLES, len(real)))
    ratios = np.quantile(real[picks], q, axis=1) / np.quantile(sim[picks], q, axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(np.quantile(real, q) / np.quantile(sim, q)), float(low), float(high)


def _rate(top: pd.DataFrame, outcomes: Iterable[str]) -> tuple[float, float, float]:
    k = int(top["outcome"].isin(list(outcomes)).sum())
    n = len(top)
    return (k / n if n else np.nan, *wilson_interval(k, n))


def compare(scenario: Any, real: Any, sim: Any) -> dict[str, Any]:
    """One row: how the model's run ``sim`` of ``scenario`` agrees with the real run ``real``
    (both ``RunResult``), every figure with its 95 % interval."""
    a = real.top_level().sort_values("index")
    b = sim.top_level().sort_values("index")
    if a["index"].tolist() != b["index"].tolist():
        raise ValueError("the two runs do not hold the same requests")
    same = a["outcome"].to_numpy() == b["outcome"].to_numpy()
    row: dict[str, Any] = {
        "workers": len(Topology.of(scenario).slots),
        "in_flight": scenario.concurrency,
        "requests": len(a),
        "placement": real.meta.get("placement", "inline"),
    }
    row["agreement"] = float(same.mean())
    row["agreement_lo"], row["agreement_hi"] = wilson_interval(int(same.sum()), len(same))
    for name, top in (("real", a), ("sim", b)):
        for figure, outcomes in (("race", ("premature", "excluded")), ("miss", ("probe_miss",))):
            v, lo, hi = _rate(top, outcomes)
            row[f"{figure}_rate_{name}"] = v
            row[f"{figure}_rate_{name}_lo"], row[f"{figure}_rate_{name}_hi"] = lo, hi
    real_lat, sim_lat = a["latency"].to_numpy(float), b["latency"].to_numpy(float)
    for q in (50, 99):
        v, lo, hi = paired_ratio(real_lat, sim_lat, q / 100)
        row[f"p{q}_ratio"], row[f"p{q}_ratio_lo"], row[f"p{q}_ratio_hi"] = v, lo, hi
    row["holds"] = holds(row)
    return row


def holds(row: dict[str, Any]) -> bool:
    """Whether a row clears the bar (on its point estimates)."""
    return bool(
        row["agreement"] >= BAR["agreement"]
        and abs(row["p50_ratio"] - 1) <= BAR["p50"]
        and abs(row["p99_ratio"] - 1) <= BAR["p99"]
    )


def validity_ranges(grid: pd.DataFrame) -> pd.DataFrame:
    """Per placement, scenario and workers: the largest in-flight count up to which every
    point of ``grid`` (rows of ``compare`` with a ``scenario`` label) held; 0 if the
    lightest load already failed."""
    rows = []
    for (placement, scenario, workers), part in grid.groupby(["placement", "scenario", "workers"]):
        limit = 0
        for c, ok in part.sort_values("in_flight")[["in_flight", "holds"]].itertuples(index=False):
            if not ok:
                break
            limit = int(c)
        rows.append(
            {
                "placement": placement,
                "scenario": scenario,
                "workers": int(workers),
                "max_in_flight": limit,
                "checked_up_to": int(part["in_flight"].max()),
            }
        )
    return pd.DataFrame(rows)


def outside(
    ranges: pd.DataFrame, placement: str, workers: int, in_flight: int, family: str = "work"
) -> str | None:
    """Why a point asked of the model lies outside the validated ranges, or None if inside:
    it must lie within the range of every scenario of its ``family`` (``family(scenario)``)
    for the nearest checked fan-out at or above ``workers`` (more workers load the machine
    more)."""
    if family not in ("work", "bare"):
        raise ValueError(f"family must be 'work' or 'bare' (see family()), got {family!r}")
    mine = ranges[ranges["placement"] == placement]
    if mine.empty:
        return f"placement {placement!r} was not checked"
    mine = mine[mine["scenario"].map(FAMILY).fillna("work") == family]
    if mine.empty:
        kind = "without work" if family == "bare" else "with work"
        return f"scenarios {kind} were not checked ({placement})"
    above = mine[mine["workers"] >= workers]
    bare = ", no work" if family == "bare" else ""
    if above.empty:
        return f"N = {workers}{bare} is beyond the checked N <= {int(mine['workers'].max())}"
    nearest = above[above["workers"] == above["workers"].min()]
    limit = int(nearest["max_in_flight"].min())
    if in_flight > limit:
        return (
            f"{in_flight} in flight at N = {workers}{bare} is beyond the validated {limit} "
            f"(N = {int(nearest['workers'].iloc[0])}, {placement})"
        )
    return None
