"""Suite ``probe``: the probe window, its misses, and what empty answers cost.

Three workers, each interested with probability 0.5, claim after a drawn delay; the probe
reads the claim list ``w`` after dispatch. A miss is an empty answer although somebody
was interested. Closed form: (1 - p F(w))^N - (1 - p)^N.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from trustchain_lab import Const, Exponential, LogNormal, Scenario, Uniform
from trustchain_lab.analytic import probe_miss_probability

from .core import STYLE, Context, SuiteOutput, markdown_table, save_figure

TITLE = "Probe window: miss rate and the latency of empty answers"
DESCRIPTION = "probe-miss rate and empty-answer latency vs probe window (sim, real, closed form)"
DISTS = {
    "Exp(50 ms)": Exponential(0.05),
    "LogNormal(30 ms, 1)": LogNormal(0.03, 1.0),
    "Uniform(0, 100 ms)": Uniform(0.0, 0.1),
}
REFERENCE = "LogNormal(30 ms, 1)"  # the reference scenario of the headline
WORKERS, INTEREST = 3, 0.5


def scenario(claim_delay, window: float, requests: int, seed: int, variant: str) -> Scenario:
    return Scenario(
        task="Probe",
        workers=WORKERS,
        interest=INTEREST,
        claim_delay=claim_delay,
        work_time=Const(0.005),
        probe_window=window,
        deadline=window + 1.0,
        requests=requests,
        concurrency=32,
        variant=variant,
        seed=seed,
    )


def run(ctx: Context) -> SuiteOutput:
    windows = [0.02, 0.1, 0.5] if ctx.quick else [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    dists = dict(list(DISTS.items())[1:]) if ctx.quick else DISTS
    sizes = {"sim": ctx.size(2000, 20_000), "redis": ctx.size(100, 400)}
    points = [(name, w, b) for name in dists for w in windows for b in ctx.backends]
    rows = []
    for name, w in {(n, w) for n, w, _ in points}:
        rows.append(
            {
                "claim_delay": name,
                "window": w,
                "backend": "closed form",
                "probe_miss_rate": probe_miss_probability(dists[name], w, WORKERS, INTEREST),
            }
        )
    for name, w, backend in ctx.bar(points, "probe sweep"):
        sc = scenario(dists[name], w, sizes[backend], ctx.seed, ctx.variant)
        result = ctx.run(sc, backend)
        top = result.top_level()
        empty = top[top["outcome"] == "empty"]["latency"]
        rows.append(
            {
                "claim_delay": name,
                "window": w,
                "backend": ctx.label(backend),
                "requests": len(top),
                "probe_miss_rate": result.summary()["probe_miss_rate"],
                "empty_latency_mean": empty.mean(),
                "latency_p50": top["latency"].median(),
            }
        )
    df = pd.DataFrame(rows).sort_values(["claim_delay", "backend", "window"], ignore_index=True)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = dict(zip(dists, ("tab:blue", "tab:orange", "tab:green"), strict=False))
    for (name, backend), part in df.groupby(["claim_delay", "backend"]):
        kw = {**STYLE[backend], "color": colours[name]}
        left.plot(part["window"], part["probe_miss_rate"], label=f"{name}, {backend}", **kw)
        if backend != "closed form":
            right.plot(
                part["window"], part["empty_latency_mean"] * 1e3, label=f"{name}, {backend}", **kw
            )
    right.plot(windows, [w * 1e3 for w in windows], color="grey", lw=0.8, label="y = window")
    left.set(
        xscale="log",
        xlabel="probe window (s)",
        ylabel="probe-miss rate",
        title="Misses: empty answers although somebody was interested",
    )
    left.set_yscale("symlog", linthresh=1e-3)
    right.set(
        xscale="log",
        yscale="log",
        xlabel="probe window (s)",
        ylabel="latency of empty answers (ms)",
        title="What an empty answer costs",
    )
    left.set_ylim(0, 1.05)
    for ax in (left, right):
        ax.set_xticks(windows, [f"{w:g}" for w in windows])
        ax.minorticks_off()
    left.legend(fontsize="x-small")
    right.legend(fontsize="x-small")
    figure = save_figure(fig, ctx, "probe.png")

    wide = df.pivot_table(
        index=["claim_delay", "window"], columns="backend", values="probe_miss_rate"
    ).reset_index()
    headline = {}
    ref = wide[(wide["claim_delay"] == REFERENCE) & (wide["window"] == 0.5)]
    for col in ref.columns[2:]:
        headline[f"probe_miss_rate_at_0.5s_{col}"] = float(ref[col].iloc[0])
    md = (
        f"Variant `{ctx.variant}`. "
        f"{WORKERS} workers, each interested with probability {INTEREST}, work 5 ms; "
        f"{sizes['sim']} simulated and {sizes['redis']} real requests per point. Reference "
        f"scenario for the headline: claim delay {REFERENCE}, window 0.5 s.\n\n"
        f"{markdown_table(wide)}\n"
    )
    return SuiteOutput("probe", TITLE, df, md, [figure], headline)
