"""Suite ``overhead``: what ``chain`` costs beside a hand-written floor, for every variant.

Zero claim delay and zero work, N = 1, 4, 16 always-interested workers and the dispatcher
in this process, on real Redis: the floor (``floor.py``: the seed protocol over raw
redis-py, nothing else), then ``chain`` running each variant. Each system is measured in
several rounds, the systems in a new random order each round, so that a drift of the
machine lands on all of them; each round runs a batch of requests at 1, 8, 32 and 256 in
flight (``cost.py``). Figures: the median over rounds with the range [min, max] for
throughput and client CPU (all of this process: dispatcher and workers); latency
quantiles at one request in flight from all rounds' requests pooled, with a 95 %
distribution-free interval. The protocol's minimum of Redis commands per request, with I
interested of N workers (here I = N) and the probe not firing: seed 3I + 2 (broadcast,
I claims, I replies, I pops, clean-up), sealed 3I + 1 (the last pop seals and closes),
known and ack N + 1 (broadcast, N replies).
"""

from __future__ import annotations

import asyncio
import random

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trustchain_lab import variants
from trustchain_lab.stats import quantile_interval

from . import cost
from .core import (
    Context,
    SuiteOutput,
    markdown_table,
    readable_log_axis,
    save_figure,
    variant_colour,
)

TITLE = "Overhead: chain beside a hand-written floor, every variant"
DESCRIPTION = "zero-work latency, throughput, client CPU and commands: floor vs chain"
WORKERS = (1, 4, 16)
IN_FLIGHT = (1, 8, 32, 256)
FLOOR = "floor"


def minimum_commands(variant: str, workers: int) -> int:
    """Redis commands per request the variant needs with every worker interested and the
    probe not firing (see the module's docstring)."""
    return {"seed": 3 * workers + 2, "sealed": 3 * workers + 1}.get(variant, workers + 1)


def run(ctx: Context) -> SuiteOutput:
    why = None
    if "redis" not in ctx.backends:
        why = "it measures the implementation on real Redis (--backend sim was given)"
    elif ctx.redis_backend != "redis":
        why = "it needs a real Redis (fakeredis timings are not Redis timings)"
    if why is not None:
        return SuiteOutput("overhead", TITLE, pd.DataFrame(), f"**Skipped**: {why}.\n", [], {})
    requests, rounds = ctx.size(60, 300), ctx.size(2, 3)
    names = [FLOOR, *(v.name for v in variants())]
    raw = []
    for workers in ctx.bar(list(WORKERS), "overhead (N)"):
        order = random.Random(ctx.seed * 100 + workers)
        for r in range(rounds):
            for name in order.sample(names, len(names)):
                start = _starter(name, ctx.redis_url, workers)
                for row in asyncio.run(cost.profile(start, ctx.redis_url, IN_FLIGHT, requests)):
                    raw.append({"system": name, "workers": workers, "round": r, **row})
    df = pd.DataFrame(raw)
    table = _table(df)
    figure = _figure(table, ctx)
    md = (
        f"{rounds} rounds × {requests} requests per point (N workers, requests in flight); "
        "throughput and CPU: median over rounds [min, max]; p50/p99 at one request in "
        "flight: all rounds pooled [95 % interval]. `vs floor`: the ratio of medians. "
        "`commands`: Redis commands per request measured one request at a time, `minimum`: "
        "the protocol's (with many in flight a request can outlast the probe window, whose "
        "read then adds one).\n\n"
        f"{markdown_table(_shown(table), '.3g')}\n"
    )
    headline = {}
    for n in WORKERS:
        seed = table[(table.system == "seed") & (table.workers == n)].iloc[0]
        headline[f"seed_p50_over_floor_N{n}"] = float(seed.p50_vs_floor)
        headline[f"seed_rps32_over_floor_N{n}"] = float(seed.rps_32_vs_floor)
    by = table[table.workers == 4].set_index("system")
    headline["seed_rps32_over_known_N4"] = float(
        by.loc["seed", "rps_32"] / by.loc["known", "rps_32"]
    )
    data = df.drop(columns="latencies_ms")
    return SuiteOutput("overhead", TITLE, data, md, [figure], headline, timings=list(headline))


def _starter(name: str, url: str, workers: int):
    if name == FLOOR:
        return lambda: cost.start_floor(url, workers)
    return lambda: cost.start_chain(url, workers, name)


def _table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (system, N): medians over rounds with their range, pooled quantiles."""
    rows = []
    for (system, workers), part in df.groupby(["system", "workers"], sort=False):
        row: dict = {"system": system, "workers": workers}
        single = part[part.in_flight == 1]
        lat = np.concatenate(single["latencies_ms"].to_list())
        for q, key in ((0.5, "p50"), (0.99, "p99")):
            row[key] = float(np.quantile(lat, q))
            row[f"{key}_lo"], row[f"{key}_hi"] = quantile_interval(lat, q)
        for c in IN_FLIGHT:
            rps = part[part.in_flight == c]["requests_per_s"]
            row[f"rps_{c}"], row[f"rps_{c}_lo"], row[f"rps_{c}_hi"] = (
                rps.median(),
                rps.min(),
                rps.max(),
            )
        cpu = part[part.in_flight == 32]["cpu_us_per_request"]
        row["cpu_us"], row["cpu_us_lo"], row["cpu_us_hi"] = cpu.median(), cpu.min(), cpu.max()
        row["commands"] = single["commands_per_request"].mean()  # one at a time: no probe
        row["minimum"] = minimum_commands("seed" if system == FLOOR else system, workers)
        row["outcomes"] = ";".join(sorted(set(part["outcomes"])))
        rows.append(row)
    table = pd.DataFrame(rows)
    floor = table[table.system == FLOOR].set_index("workers")
    table["p50_vs_floor"] = table.p50 / table.workers.map(floor.p50)
    table["rps_32_vs_floor"] = table.rps_32 / table.workers.map(floor.rps_32)
    table["cpu_vs_floor"] = table.cpu_us / table.workers.map(floor.cpu_us)
    return table


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    def span(t: pd.DataFrame, key: str, fmt: str = "{:.3g}") -> list[str]:
        return [
            f"{fmt.format(v)} [{fmt.format(lo)}, {fmt.format(hi)}]"
            for v, lo, hi in zip(t[key], t[f"{key}_lo"], t[f"{key}_hi"], strict=True)
        ]

    out = pd.DataFrame({"N": table.workers, "system": table.system})
    out["p50 (ms)"], out["p99 (ms)"] = span(table, "p50"), span(table, "p99")
    for c in IN_FLIGHT:
        out[f"req/s @{c}"] = span(table, f"rps_{c}", "{:.0f}")
    out["CPU µs/req @32"] = span(table, "cpu_us", "{:.0f}")
    out["p50 vs floor"] = table.p50_vs_floor
    out["req/s @32 vs floor"] = table.rps_32_vs_floor
    out["commands"] = table.commands
    out["minimum"] = table.minimum
    rank = {name: k for k, name in enumerate([FLOOR, *(v.name for v in variants())])}
    return out.sort_values(["N", "system"], key=lambda c: c.map(rank) if c.name == "system" else c)


def _colour(system: str) -> str:
    return "black" if system == FLOOR else variant_colour(system)


def _figure(table: pd.DataFrame, ctx: Context) -> str:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for system, part in table.groupby("system", sort=False):
        part = part.sort_values("workers")
        err = [part.p50 - part.p50_lo, part.p50_hi - part.p50]
        left.errorbar(
            part.workers,
            part.p50,
            yerr=err,
            color=_colour(system),
            marker="o",
            capsize=3,
            label=system,
        )
        one = part[part.workers == 4].iloc[0]
        y = [one[f"rps_{c}"] for c in IN_FLIGHT]
        lo = [one[f"rps_{c}"] - one[f"rps_{c}_lo"] for c in IN_FLIGHT]
        hi = [one[f"rps_{c}_hi"] - one[f"rps_{c}"] for c in IN_FLIGHT]
        right.errorbar(
            IN_FLIGHT,
            y,
            yerr=[lo, hi],
            color=_colour(system),
            marker="o",
            capsize=3,
            label=system,
        )
    left.set(
        xscale="log",
        yscale="log",
        xlabel="workers N",
        ylabel="latency p50 (ms)",
        title="One request at a time (95 % interval)",
    )
    left.set_xticks(list(WORKERS), [str(w) for w in WORKERS])
    right.set(
        xscale="log",
        xlabel="requests in flight",
        ylabel="requests per second",
        title="Throughput, N = 4 (median, range over rounds)",
    )
    right.set_xticks(list(IN_FLIGHT), [str(c) for c in IN_FLIGHT])
    for ax in (left, right):
        ax.minorticks_off()
    readable_log_axis(left, "y")
    right.legend(fontsize="x-small")
    return save_figure(fig, ctx, "overhead.png")
