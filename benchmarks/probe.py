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

from .core import (
    CLOSED_FORM,
    STYLE,
    Context,
    SuiteOutput,
    error_bars,
    figure_text,
    headline_figures,
    markdown_table,
    readable_log_axis,
    requests_for,
    save_figure,
)

TITLE = "Probe window: miss rate and the latency of empty answers"
DESCRIPTION = "probe-miss rate and empty-answer latency vs probe window (sim, real, closed form)"
DISTS = {
    "Exp(50 ms)": Exponential(0.05),
    "LogNormal(30 ms, 1)": LogNormal(median=0.03, sigma=1.0),
    "Uniform(0, 100 ms)": Uniform(0.0, 0.1),
}
REFERENCE = "LogNormal(30 ms, 1)"  # the reference scenario of the headline
MISS_COLUMNS = ("probe_miss_rate", "probe_miss_rate_lo", "probe_miss_rate_hi")
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


def empty_latency(result) -> dict[str, float]:
    """The mean latency of the empty answers (a sweep's extra column)."""
    top = result.top_level()
    return {"empty_latency_mean_s": float(top[top["outcome"] == "empty"]["latency"].mean())}


def run(ctx: Context) -> SuiteOutput:
    windows = [0.02, 0.1, 0.5] if ctx.quick else [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    dists = dict(list(DISTS.items())[1:]) if ctx.quick else DISTS
    sizes = {  # a miss rate's 95 % interval at most ±0.007 / ±0.05 (quick: ±0.022 / ±0.1)
        "sim": requests_for(ctx.size(0.022, 0.007)),
        "redis": requests_for(ctx.size(0.1, 0.05)),
    }
    points = [(name, w, b) for name in dists for w in windows for b in ctx.backends]
    rows = []
    for name, w in {(n, w) for n, w, _ in points}:
        rows.append(
            {
                "claim_delay": name,
                "window": w,
                "backend": CLOSED_FORM,
                "probe_miss_rate": probe_miss_probability(dists[name], w, WORKERS, INTEREST),
            }
        )
    for backend in ctx.backends:
        mine = [(name, w) for name, w, b in points if b == backend]
        scenarios = [scenario(dists[n], w, sizes[backend], ctx.seed, ctx.variant) for n, w in mine]
        table = ctx.sweep(scenarios, backend, measure=empty_latency)
        for (name, w), s in zip(mine, table.to_dict("records"), strict=True):
            rows.append(
                {
                    "claim_delay": name,
                    "window": w,
                    "backend": ctx.label(backend),
                    "requests": s["requests"],
                    **{k: s[k] for k in MISS_COLUMNS},
                    "empty_latency_mean_s": s["empty_latency_mean_s"],
                    "latency_p50_s": s["latency_p50_s"],
                }
            )
    df = pd.DataFrame(rows).sort_values(["claim_delay", "backend", "window"], ignore_index=True)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = dict(zip(dists, ("tab:blue", "tab:orange", "tab:green"), strict=False))
    for (name, backend), part in df.groupby(["claim_delay", "backend"]):
        kw = {**STYLE[backend], "color": colours[name]}
        label = f"{name}, {backend}"
        if backend == CLOSED_FORM:
            left.plot(part["window"], part["probe_miss_rate"], label=label, **kw)
            continue
        error_bars(left, part["window"], *(part[k] for k in MISS_COLUMNS), label=label, **kw)
        right.plot(part["window"], part["empty_latency_mean_s"] * 1e3, label=label, **kw)
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
    readable_log_axis(right, "y")
    left.legend(fontsize="x-small")
    right.legend(fontsize="x-small")
    figure = save_figure(fig, ctx, "probe.png")

    df["shown"] = figure_text(df, "probe_miss_rate")
    wide = df.pivot_table(
        index=["claim_delay", "window"], columns="backend", values="shown", aggfunc="first"
    ).reset_index()
    df = df.drop(columns="shown")
    reference = df[(df["claim_delay"] == REFERENCE) & (df["window"] == 0.5)]
    headline = headline_figures(reference, "probe_miss_rate_at_0.5s_{backend}", "probe_miss_rate")
    md = (
        f"Variant `{ctx.variant}`. "
        f"{WORKERS} workers, each interested with probability {INTEREST}, work 5 ms; "
        f"{sizes['sim']} simulated and {sizes['redis']} real requests per point (a miss "
        "rate's 95 % interval at most ± "
        f"{ctx.size(0.022, 0.007)} / ± {ctx.size(0.1, 0.05)}). Probe-miss rates with their "
        f"95 % Wilson intervals. Reference scenario for the headline: claim delay "
        f"{REFERENCE}, window 0.5 s.\n\n{markdown_table(wide)}\n"
    )
    return SuiteOutput("probe", TITLE, df, md, [figure], headline)
