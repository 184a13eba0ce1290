"""Suite ``races``: how often the seed variant answers early (a claim race).

Two always-interested workers with claim delays Exponential(a) and work times
Exponential(b): the answer is premature when one claims and finishes before the other
claims. Closed form (zero network): a / (a + b).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from trustchain_lab import Exponential, Scenario, wilson_interval
from trustchain_lab.analytic import two_worker_race_probability

from .core import (
    CLOSED_FORM,
    STYLE,
    Context,
    SuiteOutput,
    error_bars,
    figure_text,
    headline_figures,
    markdown_table,
    requests_for,
    save_figure,
)

TITLE = "Claim races: answers that leave a late claimer out vs claim-delay jitter"
DESCRIPTION = "race rate vs claim jitter / work time (sim, real, closed form)"
WORK_MEAN = 0.02
RACE_COLUMNS = ("race_rate", "race_rate_lo", "race_rate_hi")


def run(ctx: Context) -> SuiteOutput:
    ratios = [0.1, 0.5, 2.0] if ctx.quick else [0.05, 0.1, 0.25, 0.5, 1.0, 2.0]
    sizes = {  # a race rate's 95 % interval at most ±0.007 / ±0.057 (quick: ±0.022 / ±0.1)
        "sim": requests_for(ctx.size(0.022, 0.007)),
        "redis": requests_for(ctx.size(0.1, 0.057)),
    }
    rows = [
        {
            "jitter_ratio": r,
            "backend": CLOSED_FORM,
            "race_rate": two_worker_race_probability(r * WORK_MEAN, WORK_MEAN),
        }
        for r in ratios
    ]
    for backend in ctx.backends:
        scenarios = [
            Scenario(
                task="Race",
                workers=2,
                claim_delay=Exponential(r * WORK_MEAN),
                work_time=Exponential(WORK_MEAN),
                probe_window=2.0,
                deadline=4.0,
                requests=sizes[backend],
                concurrency=8,
                variant=ctx.variant,
                seed=ctx.seed,
            )
            for r in ratios
        ]
        for r, s in zip(ratios, ctx.sweep(scenarios, backend).itertuples(), strict=True):
            race = s.premature_rate + s.excluded_rate
            low, high = wilson_interval(round(race * s.requests), s.requests)
            rows.append(
                {
                    "jitter_ratio": r,
                    "backend": ctx.label(backend),
                    "race_rate": race,
                    "race_rate_lo": low,
                    "race_rate_hi": high,
                    "premature_rate": s.premature_rate,
                    "excluded_rate": s.excluded_rate,
                    "complete_rate": s.complete_rate,
                    "latency_p50_s": s.latency_p50_s,
                    "requests": s.requests,
                }
            )
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for backend, part in df.groupby("backend"):
        if backend == CLOSED_FORM:
            ax.plot(part["jitter_ratio"], part["race_rate"], label=backend, **STYLE[backend])
        else:
            error_bars(
                ax,
                part["jitter_ratio"],
                *(part[k] for k in RACE_COLUMNS),
                label=backend,
                **STYLE[backend],
            )
    ax.set(
        xscale="log",
        xlabel="mean claim delay / mean work time (a / b)",
        ylabel="answers without a late claimer (premature + excluded)",
        title=f"Two workers: the claim race ({ctx.variant})",
    )
    ax.legend()
    figure = save_figure(fig, ctx, "races.png")
    df["shown"] = figure_text(df, "race_rate")
    wide = df.pivot_table(
        index="jitter_ratio", columns="backend", values="shown", aggfunc="first"
    ).reset_index()
    df = df.drop(columns="shown")
    reference = df[df["jitter_ratio"] == 0.5]
    headline = headline_figures(reference, "race_rate_a/b=0.5_{backend}", "race_rate")
    md = (
        f"Variant `{ctx.variant}`. A race leaves a late claimer out of the answer: "
        "`premature` in `seed` (silently), `excluded` in `sealed` (refused before it "
        "worked); the closed form a/(a+b) is for both. "
        f"Work Exponential({WORK_MEAN * 1e3:.0f} ms), claim delay Exponential(a); "
        f"{sizes['sim']} simulated and {sizes['redis']} real requests per point, 8 in "
        "flight; measured rates with their 95 % Wilson intervals."
        f"\n\n{markdown_table(wide)}\n"
    )
    return SuiteOutput("races", TITLE, df, md, [figure], headline)
