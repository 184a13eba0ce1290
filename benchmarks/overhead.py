"""Suite ``overhead``: what each variant's protocol costs when the work costs nothing.

Zero claim delay and zero work, one request at a time, N = 1, 4, 16: every variant of
``trustchain_lab.variants()`` on the same Redis in the same run (and in the model), with
its latency beside the ``known`` baseline's and the Redis commands it sent. With zero
claim delay the claim variants can race: the first reply can pop the list empty before
the other claims arrive. With every worker in one process and one event loop each claim
is sent before any reply, so the race hardly shows on real Redis here.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from trustchain_lab import Scenario, variants

from .core import STYLE, Context, SuiteOutput, markdown_table, save_figure, variant_colour

TITLE = "Overhead of each variant vs known-recipients scatter-gather"
DESCRIPTION = "zero-work latency and Redis commands of every variant for N = 1, 4, 16"
WORKERS = (1, 4, 16)
BASELINE = "known"


def run(ctx: Context) -> SuiteOutput:
    n = ctx.size(300, 1000)
    names = [v.name for v in variants()]
    rows = []
    points = [(w, v, b) for w in WORKERS for v in names for b in ctx.backends]
    for workers, variant, backend in ctx.bar(points, "overhead sweep"):
        sc = Scenario(
            task="Overhead",
            workers=workers,
            probe_window=0.5,
            deadline=2.0,
            requests=n,
            concurrency=1,
            variant=variant,
            seed=ctx.seed,
        )
        result = ctx.run(sc, backend)
        sent = result.meta.get("redis_commands")
        rows.append(
            {
                "workers": workers,
                "variant": variant,
                "backend": ctx.label(backend),
                "commands_per_request": None if sent is None else sent / n,
                **result.summary().to_dict(),
            }
        )
    df = pd.DataFrame(rows)
    base = df[df["variant"] == BASELINE].set_index(["backend", "workers"])["latency_p50"]
    df["p50_over_known"] = [
        r.latency_p50 / base[(r.backend, r.workers)] for r in df.itertuples(index=False)
    ]
    table = df[
        [
            "backend",
            "workers",
            "variant",
            "latency_p50",
            "latency_p99",
            "p50_over_known",
            "commands_per_request",
            "complete_rate",
            "premature_rate",
            "excluded_rate",
        ]
    ].sort_values(["backend", "workers", "variant"])
    table[["latency_p50", "latency_p99"]] *= 1e3
    table = table.rename(columns={"latency_p50": "p50 (ms)", "latency_p99": "p99 (ms)"})
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for (variant, backend), part in df.groupby(["variant", "backend"]):
        ax.plot(
            part["workers"],
            part["latency_p50"] * 1e3,
            color=variant_colour(variant),
            label=f"{variant}, {backend}",
            **STYLE[backend],
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="workers N",
        ylabel="latency p50 (ms)",
        title="Zero-work request latency",
    )
    ax.set_xticks(list(WORKERS), [str(w) for w in WORKERS])
    ax.minorticks_off()
    ax.legend(fontsize="x-small")
    figure = save_figure(fig, ctx, "overhead.png")
    md = (
        f"{n} sequential requests per point, zero claim delay and zero work. "
        f"`p50_over_known`: the variant's p50 over the `{BASELINE}` baseline's, same backend "
        f"and N.\n\n{markdown_table(table, '.3g')}\n"
    )
    headline = {
        f"p50_over_known_{r.variant}_N{r.workers}_{r.backend}": float(r.p50_over_known)
        for r in df.itertuples(index=False)
        if r.variant != BASELINE and r.workers == max(WORKERS)
    }
    return SuiteOutput("overhead", TITLE, df, md, [figure], headline)
