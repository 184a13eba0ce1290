"""Suite ``latency``: the latency distribution of real Redis beside the calibrated model.

A mixed scenario (8 workers, partial interest, log-normal claim delays and work, rare
crashes), the same requests on both backends (common random numbers): the CDFs, and how
often the two agree request by request.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trustchain_lab import LogNormal, Scenario, wilson_interval
from trustchain_lab import Outcome as O
from trustchain_lab.fidelity import RESAMPLES, paired_ratio
from trustchain_lab.trace import summarize

from .core import (
    QUANTILE_INTERVAL,
    STYLE,
    Context,
    SuiteOutput,
    headline_with_interval,
    markdown_table,
    readable_log_axis,
    save_figure,
    with_interval,
)

TITLE = "Latency distribution: real Redis vs the calibrated model"
DESCRIPTION = "latency CDF of real vs calibrated sim on a mixed scenario, with agreement"


def scenario(requests: int, seed: int, variant: str = "seed") -> Scenario:
    return Scenario(
        task="Mixed",
        workers=8,
        interest=0.8,
        claim_delay=LogNormal(median=0.005, sigma=0.8),
        work_time=LogNormal(median=0.02, sigma=0.6),
        crash=0.01,
        probe_window=0.1,
        deadline=1.0,
        requests=requests,
        concurrency=8,
        variant=variant,
        seed=seed,
    )


def run(ctx: Context) -> SuiteOutput:
    sc = scenario(ctx.size(100, 500), ctx.seed, ctx.variant)
    results = {
        ctx.label(b): ctx.run(sc, b).top_level()
        for b in ctx.bar(list(ctx.backends), "latency runs")
    }
    frames = [r.assign(backend=b) for b, r in results.items()]
    df = pd.concat(frames, ignore_index=True)[["backend", "index", "latency", "outcome"]]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    rows = []
    for backend, top in results.items():
        lat = np.sort(top["latency"].dropna().to_numpy())
        ax.step(
            lat * 1e3,
            np.arange(1, len(lat) + 1) / len(lat),
            where="post",
            label=backend,
            linestyle=STYLE[backend]["linestyle"],
        )
        s = summarize(top)
        rows.append(
            {
                "backend": backend,
                **{
                    f"p{q} (ms)": with_interval(
                        *(s[f"latency_p{q}_s{e}"] * 1e3 for e in ("", "_lo", "_hi"))
                    )
                    for q in (50, 95, 99)
                },
                **{
                    f"{o} rate": with_interval(*(s[f"{o}_rate{e}"] for e in ("", "_lo", "_hi")))
                    for o in (O.COMPLETE, O.PREMATURE, O.PROBE_MISS, O.EXCLUDED, O.TIMEOUT)
                },
            }
        )
    ax.set(
        xscale="log",
        xlabel="latency (ms)",
        ylabel="fraction of requests",
        title="Latency CDF, same requests on both backends",
    )
    readable_log_axis(ax, "x")
    ax.legend()
    figure = save_figure(fig, ctx, "latency.png")
    table = pd.DataFrame(rows)
    md = (
        f"Variant `{sc.variant}`; {sc.requests} requests, 8 in flight; quantiles with their "
        f"{QUANTILE_INTERVAL}, rates with their 95 % Wilson interval."
        f"\n\n{markdown_table(table)}\n"
    )
    headline = {}
    if len(results) == 2:
        a, b = (results[k].sort_values("index") for k in results)
        same = a["outcome"].to_numpy() == b["outcome"].to_numpy()
        agree = float(same.mean())
        low, high = wilson_interval(int(same.sum()), len(same))
        ratio, r_low, r_high = paired_ratio(b["latency"].to_numpy(), a["latency"].to_numpy(), 0.5)
        headline = {
            **headline_with_interval("outcome_agreement", agree, low, high),
            **headline_with_interval("p50_ratio_real_over_sim", ratio, r_low, r_high),
        }
        md += (
            f"\nOutcomes agree on {agree:.1%} [{low:.1%}, {high:.1%}] of requests (request by "
            f"request; 95 % Wilson interval); real p50 / sim p50 = {ratio:.2f} "
            f"[{r_low:.2f}, {r_high:.2f}] (95 % paired bootstrap interval, {RESAMPLES} "
            "resamples).\n"
        )
    timings = ["p50_ratio_real_over_sim"] if headline else []
    return SuiteOutput("latency", TITLE, df, md, [figure], headline, timings)
