"""Suite ``fidelity``: where the model holds, across load, fan-out and placement.

A grid (requests in flight 1 … 256; N = 2, 4, 16; a light scenario, a race-heavy one and a
bare one with no work; each placement of the real workers this machine offers) run on real
Redis and in the model calibrated on the same server for that placement, request by
request (common random numbers). Per point: paired outcome agreement, race and miss rates
side by side, the p50 and p99 ratios, all with 95 % intervals; a heat map of where the
model clears the bar (agreement >= 0.95, p50 within 10 %, p99 within 25 %). The validity
ranges it finds are saved (``fidelity_validity.csv``) and later runs in the same results
folder report every point they ask of the model outside them (``fidelity.family``: a point
where some worker spends under 1 ms in claim delay and work is judged by the bare
scenario's ranges, any other by the light and race-heavy ones').
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trustchain_lab import Const, Exponential, LogNormal, Scenario
from trustchain_lab.fidelity import BAR, FAMILY, compare, validity_ranges

from .core import Context, SuiteOutput, interval_columns, markdown_table, save_figure
from .fanout import placements

TITLE = "Where the model holds: real vs model across load, fan-out and placement"
DESCRIPTION = "(only when named) the model's validity map: agreement and p50/p99 ratios vs load"
VALIDITY_FILE = "fidelity_validity.csv"


def scenario(kind: str, workers: int, in_flight: int, requests: int, seed: int) -> Scenario:
    """``light``: partial interest, short claims; ``race``: everyone claims, claim delays
    of the order of the work (many seed races); ``bare``: everyone claims at once and does
    no work (the protocol's own cost alone, as in the overhead suite)."""
    common = {
        "workers": workers,
        "probe_window": 0.2,
        "deadline": 5.0,
        "requests": requests,
        "concurrency": in_flight,
        "seed": seed,
    }
    if kind == "light":
        return Scenario(
            task="Light",
            interest=0.7,
            claim_delay=Exponential(0.004),
            work_time=LogNormal(median=0.02, sigma=0.5),
            **common,
        )
    if kind == "bare":
        return Scenario(
            task="Bare", interest=1.0, claim_delay=Const(0.0), work_time=Const(0.0), **common
        )
    return Scenario(
        task="Race",
        interest=1.0,
        claim_delay=Exponential(0.01),
        work_time=Exponential(0.02),
        **common,
    )


def grid(ctx: Context) -> tuple[list[int], list[int], list[str], list[str]]:
    in_flight = [1, 16, 64] if ctx.quick else [1, 4, 16, 64, 256]
    workers = [2, 16] if ctx.quick else [2, 4, 16]
    where = placements(ctx)
    if ctx.quick:
        where = [p for p in where if p != "hosts"]
    return in_flight, workers, list(FAMILY), where


def run(ctx: Context) -> SuiteOutput:
    if ctx.redis_backend != "redis" or not ctx.sim:
        md = (
            "**Skipped**: the fidelity map compares real Redis with the model, so it needs "
            "both backends and a real Redis (`--backend both`, a redis-server on PATH or "
            "`--redis-url`); this run has "
            f"backends {', '.join(ctx.backends)} on {ctx.redis_backend or 'no Redis'}."
        )
        return SuiteOutput("fidelity", TITLE, pd.DataFrame(), md)
    in_flight, workers, kinds, where = grid(ctx)
    points = [(p, k, n, c) for p in where for k in kinds for n in workers for c in in_flight]
    rows = []
    for placement, kind, n, c in ctx.bar(points, "fidelity grid"):
        sc = scenario(kind, n, c, max(ctx.size(100, 300), 2 * c), ctx.seed)
        real = ctx.run(sc, "redis", placement)
        sim = ctx.run(sc, "sim", placement)
        rows.append({"scenario": kind, **compare(sc, real, sim)})
    df = pd.DataFrame(rows)
    ranges = validity_ranges(df)
    ranges.to_csv(ctx.path(VALIDITY_FILE), index=False)
    figure = heat_map(df, ctx, in_flight, workers, kinds, where)

    table = df[["placement", "scenario", "workers", "in_flight", "requests"]].copy()
    table["agreement"] = interval_columns(df, "agreement", ".3g")
    for q in (50, 99):
        table[f"p{q} real/sim"] = interval_columns(df, f"p{q}_ratio", ".3g")
    for figure_name in ("race", "miss"):
        for side in ("real", "sim"):
            table[f"{figure_name} {side}"] = interval_columns(
                df, f"{figure_name}_rate_{side}", ".2g"
            )
    table["holds"] = np.where(df["holds"], "yes", "**no**")
    headline = {
        f"validated_in_flight_{r.placement}_{r.scenario}_N{r.workers}": r.max_in_flight
        for r in ranges.itertuples(index=False)
    }
    md = (
        f"Each point: {ctx.size(100, 300)} requests (at least twice the number in flight), "
        "the same requests on real Redis and in the model calibrated on this server for the "
        f"placement; the bar: paired outcome agreement >= {BAR['agreement']}, p50 within "
        f"{BAR['p50']:.0%}, p99 within {BAR['p99']:.0%} (point estimates). Intervals: Wilson "
        "for agreement and rates, paired bootstrap for the latency ratios. *race* = "
        "premature + excluded, *miss* = probe_miss.\n\n"
        "**Validity ranges** (the largest number in flight up to which every point held; "
        f"saved as `{VALIDITY_FILE}`, which later runs in this results folder check the "
        "model's points against):\n\n"
        f"{markdown_table(ranges)}\n\n{markdown_table(table)}\n"
    )
    return SuiteOutput("fidelity", TITLE, df, md, [figure], headline)


def heat_map(df, ctx, in_flight, workers, kinds, where) -> str:
    """Green where the model holds, red where not; each cell shows the p50 ratio and the
    agreement."""
    fig, axes = plt.subplots(
        len(kinds), len(where), figsize=(3.6 * len(where), 2.6 * len(kinds)), squeeze=False
    )
    for i, kind in enumerate(kinds):
        for j, placement in enumerate(where):
            ax = axes[i][j]
            part = df[(df["scenario"] == kind) & (df["placement"] == placement)]
            cells = np.full((len(workers), len(in_flight)), np.nan)
            for r in part.itertuples(index=False):
                y, x = workers.index(r.workers), in_flight.index(r.in_flight)
                cells[y, x] = 1.0 if r.holds else 0.0
                ax.text(
                    x,
                    y,
                    f"{r.p50_ratio:.2f}\n{r.agreement:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                )
            ax.imshow(cells, cmap="RdYlGn", vmin=-0.3, vmax=1.3, aspect="auto")
            ax.set_xticks(range(len(in_flight)), [str(c) for c in in_flight])
            ax.set_yticks(range(len(workers)), [str(n) for n in workers])
            ax.set(title=f"{kind}, {placement}", xlabel="requests in flight", ylabel="workers N")
    fig.suptitle(
        "Where the model holds (green). Cells: p50 real/sim, outcome agreement", fontsize=10
    )
    return save_figure(fig, ctx, "fidelity.png")
