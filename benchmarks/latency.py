"""Suite ``latency``: the latency distribution of real Redis beside the calibrated model.

A mixed scenario (8 workers, partial interest, log-normal claim delays and work, rare
crashes), the same requests on both backends (common random numbers): the CDFs, and how
often the two agree request by request.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trustchain_lab import LogNormal, Scenario
from trustchain_lab import Outcome as O

from .core import STYLE, Context, SuiteOutput, markdown_table, save_figure

TITLE = "Latency distribution: real Redis vs the calibrated model"
DESCRIPTION = "latency CDF of real vs calibrated sim on a mixed scenario, with agreement"


def scenario(requests: int, seed: int, variant: str = "seed") -> Scenario:
    return Scenario(
        task="Mixed",
        workers=8,
        interest=0.8,
        claim_delay=LogNormal(0.005, 0.8),
        work_time=LogNormal(0.02, 0.6),
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
        rows.append(
            {
                "backend": backend,
                "p50_ms": np.percentile(lat, 50) * 1e3,
                "p95_ms": np.percentile(lat, 95) * 1e3,
                "p99_ms": np.percentile(lat, 99) * 1e3,
                **{
                    str(o): float((top["outcome"] == o).mean())
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
    ax.legend()
    figure = save_figure(fig, ctx, "latency.png")
    table = pd.DataFrame(rows)
    md = (
        f"Variant `{sc.variant}`; {sc.requests} requests, 8 in flight.\n\n{markdown_table(table)}\n"
    )
    headline = {}
    if len(results) == 2:
        a, b = (results[k].sort_values("index") for k in results)
        agree = float((a["outcome"].to_numpy() == b["outcome"].to_numpy()).mean())
        ratio = float(b["latency"].median() / a["latency"].median())
        headline = {"outcome_agreement": agree, "p50_ratio_real_over_sim": ratio}
        md += (
            f"\nOutcomes agree on {agree:.1%} of requests (request by request); real p50 "
            f"/ sim p50 = {ratio:.2f}.\n"
        )
    return SuiteOutput("latency", TITLE, df, md, [figure], headline)
