"""Suite ``races``: how often the seed variant answers early (a claim race).

Two always-interested workers with claim delays Exponential(a) and work times
Exponential(b): the answer is premature when one claims and finishes before the other
claims. Closed form (zero network): a / (a + b).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from trustchain_lab import Exponential, Scenario
from trustchain_lab.analytic import two_worker_race_probability

from .core import STYLE, Context, SuiteOutput, markdown_table, save_figure

TITLE = "Claim races: answers that leave a late claimer out vs claim-delay jitter"
DESCRIPTION = "race rate vs claim jitter / work time (sim, real, closed form)"
WORK_MEAN = 0.02


def run(ctx: Context) -> SuiteOutput:
    ratios = [0.1, 0.5, 2.0] if ctx.quick else [0.05, 0.1, 0.25, 0.5, 1.0, 2.0]
    sizes = {"sim": ctx.size(2000, 20_000), "redis": ctx.size(100, 300)}
    rows = [
        {
            "jitter_ratio": r,
            "backend": "closed form",
            "race_rate": two_worker_race_probability(r * WORK_MEAN, WORK_MEAN),
        }
        for r in ratios
    ]
    points = [(r, b) for r in ratios for b in ctx.backends]
    for r, backend in ctx.bar(points, "race sweep"):
        sc = Scenario(
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
        s = ctx.run(sc, backend).summary()
        rows.append(
            {
                "jitter_ratio": r,
                "backend": ctx.label(backend),
                "race_rate": s["premature_rate"] + s["excluded_rate"],
                "premature_rate": s["premature_rate"],
                "excluded_rate": s["excluded_rate"],
                "complete_rate": s["complete_rate"],
                "latency_p50": s["latency_p50"],
                "requests": s["requests"],
            }
        )
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for backend, part in df.groupby("backend"):
        ax.plot(part["jitter_ratio"], part["race_rate"], label=backend, **STYLE[backend])
    ax.set(
        xscale="log",
        xlabel="mean claim delay / mean work time (a / b)",
        ylabel="answers without a late claimer (premature + excluded)",
        title=f"Two workers: the claim race ({ctx.variant})",
    )
    ax.legend()
    figure = save_figure(fig, ctx, "races.png")
    wide = df.pivot_table(index="jitter_ratio", columns="backend", values="race_rate").reset_index()
    ref = wide[wide["jitter_ratio"] == 0.5]
    headline = {f"race_rate_a/b=0.5_{c}": float(ref[c].iloc[0]) for c in wide.columns[1:]}
    md = (
        f"Variant `{ctx.variant}`. A race leaves a late claimer out of the answer: "
        "`premature` in `seed` (silently), `excluded` in `sealed` (refused before it "
        "worked); the closed form a/(a+b) is for both. "
        f"Work Exponential({WORK_MEAN * 1e3:.0f} ms), claim delay Exponential(a); "
        f"{sizes['sim']} simulated and {sizes['redis']} real requests per point, 8 in "
        f"flight.\n\n{markdown_table(wide)}\n"
    )
    return SuiteOutput("races", TITLE, df, md, [figure], headline)
