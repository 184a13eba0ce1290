"""Suite ``fanout``: latency, races and Redis round trips as the number of workers grows.

N always-interested workers, claim delay Exponential(1 ms), work Exponential(20 ms). The
reference line is the closed form of the work alone (max of N exponentials), which the
claim delay and the infrastructure can only add to.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from trustchain_lab import Exponential, Scenario
from trustchain_lab.analytic import max_exponential_mean, max_exponential_quantile

from .core import (
    CLOSED_FORM,
    QUANTILE_INTERVAL,
    STYLE,
    Context,
    SuiteOutput,
    error_bars,
    figure_text,
    headline_figures,
    markdown_table,
    readable_log_axis,
    save_figure,
)

TITLE = "Fan-out scaling: latency, races and Redis round trips vs workers"
DESCRIPTION = "latency p50/p95/p99, race rate, round trips per request for N = 1..64"
WORK_MEAN = 0.02


def mean_and_commands(result) -> dict[str, float]:
    """A sweep's extra columns: the mean latency, and Redis commands per request (one per
    protocol step) as the run counted them: the model counts what it sends, real Redis its
    command statistics (NaN on fakeredis)."""
    top = result.top_level()
    sent = result.meta.get("redis_commands")
    return {
        "latency_mean": float(top["latency"].mean()),
        "commands_per_request": float("nan") if sent is None else sent / len(top),
    }


def run(ctx: Context) -> SuiteOutput:
    ns = [1, 4, 16, 64] if ctx.quick else [1, 2, 4, 8, 16, 32, 64]
    sizes = {"sim": ctx.size(500, 3000), "redis": ctx.size(40, 200)}
    rows = []
    for n in ns:
        rows.append(
            {
                "workers": n,
                "backend": CLOSED_FORM,
                "latency_mean": max_exponential_mean(WORK_MEAN, n),
                **{
                    f"latency_p{q}_s": max_exponential_quantile(WORK_MEAN, n, q / 100)
                    for q in (50, 95, 99)
                },
            }
        )
    for backend in ctx.backends:
        scenarios = [
            Scenario(
                task="Fanout",
                workers=n,
                claim_delay=Exponential(0.001),
                work_time=Exponential(WORK_MEAN),
                probe_window=0.5,
                deadline=5.0,
                requests=sizes[backend],
                concurrency=1,
                variant=ctx.variant,
                seed=ctx.seed,
            )
            for n in ns
        ]
        for s in ctx.sweep(scenarios, backend, measure=mean_and_commands).to_dict("records"):
            rows.append(
                {
                    "workers": s["workers"],
                    "backend": ctx.label(backend),
                    "latency_mean": s["latency_mean"],
                    **{
                        f"latency_p{q}_s{end}": s[f"latency_p{q}_s{end}"]
                        for q in (50, 95, 99)
                        for end in ("", "_lo", "_hi")
                    },
                    "premature_rate": s["premature_rate"],
                    "timeout_rate": s["timeout_rate"],
                    "commands_per_request": s["commands_per_request"],
                    "requests": s["requests"],
                }
            )
    df = pd.DataFrame(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"latency_p50_s": "tab:blue", "latency_p99_s": "tab:red"}
    for backend, part in df.groupby("backend"):
        for col, colour in colours.items():
            style = {"color": colour, "label": f"{col.split('_')[1]} {backend}", **STYLE[backend]}
            if backend == CLOSED_FORM:
                left.plot(part["workers"], part[col] * 1e3, **style)
            else:  # with the quantile's 95 % interval
                ms = [part[f"{col}{end}"] * 1e3 for end in ("", "_lo", "_hi")]
                error_bars(left, part["workers"], *ms, **style)
        if backend != CLOSED_FORM:
            right.plot(
                part["workers"], part["commands_per_request"], label=backend, **STYLE[backend]
            )
    left.set(
        xscale="log",
        yscale="log",
        xlabel="workers N",
        ylabel="latency (ms)",
        title="Latency (closed form: the work alone)",
    )
    right.set(
        xscale="log",
        xlabel="workers N",
        ylabel="Redis commands per request",
        title=f"Redis commands per request ({ctx.variant})",
    )
    for ax in (left, right):
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.minorticks_off()
        ax.legend(fontsize="x-small")
    readable_log_axis(left, "y")
    figure = save_figure(fig, ctx, "fanout.png")
    df = df.sort_values(["workers", "backend"], ignore_index=True)
    table = df[["workers", "backend"]].copy()
    for q in (50, 99):  # ms, with the 95 % interval where measured
        table[f"p{q} (ms)"] = figure_text(df, f"latency_p{q}_s", 1e3)
    table["premature_rate"] = df["premature_rate"]
    table["commands / request"] = df["commands_per_request"]
    widest = df[df["workers"] == max(ns)]
    headline = headline_figures(
        widest, f"latency_p99_ms_N{max(ns)}_{{backend}}", "latency_p99_s", 1e3
    )
    md = (
        f"Variant `{ctx.variant}`. "
        f"Claim delay Exponential(1 ms), work Exponential({WORK_MEAN * 1e3:.0f} ms), one "
        f"request at a time; {sizes['sim']} simulated and {sizes['redis']} real requests "
        f"per point. Measured quantiles with their {QUANTILE_INTERVAL}."
        f"\n\n{markdown_table(table, '.3g')}\n"
    )
    timings = [k for k in headline if k.endswith(("_redis", "_fakeredis"))]
    return SuiteOutput("fanout", TITLE, df, md, [figure], headline, timings)
