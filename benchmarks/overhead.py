"""Suite ``overhead``: what the claim list costs, against a known-recipients scatter-gather.

N always-interested workers, zero claim delay, zero work, one request at a time: Trust
Chain (seed variant) beside a dispatcher that knows N and waits for N replies, in the same
run on the same Redis (and in the model). With zero claim delay the seed variant can race
(a reply may drain the list before another claim lands), so its outcome rates are part of
the result. With every worker in one process and one event loop, each worker's claim is
sent before any reply is, which hides that race on real Redis.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from trustchain_lab import Scenario

from .core import STYLE, Context, SuiteOutput, markdown_table, save_figure

TITLE = "Overhead of the claim list vs known-recipients scatter-gather"
DESCRIPTION = "Trust Chain vs known-recipients latency for N = 1, 4, 16 (zero work)"
WORKERS = (1, 4, 16)


def run(ctx: Context) -> SuiteOutput:
    n = ctx.size(300, 2000)
    rows = []
    points = [(w, v, b) for w in WORKERS for v in ("seed", "known") for b in ctx.backends]
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
        s = ctx.run(sc, backend).summary()
        rows.append(
            {
                "workers": workers,
                "variant": variant,
                "backend": ctx.label(backend),
                **s.to_dict(),
            }
        )
    df = pd.DataFrame(rows)
    wide = df.pivot_table(
        index=["backend", "workers"], columns="variant", values=["latency_p50", "latency_p99"]
    ).reset_index()
    table = pd.DataFrame(
        {
            "backend": wide["backend"],
            "N": wide["workers"],
            "TC p50 (ms)": wide[("latency_p50", "seed")] * 1e3,
            "known p50 (ms)": wide[("latency_p50", "known")] * 1e3,
            "p50 ratio": wide[("latency_p50", "seed")] / wide[("latency_p50", "known")],
            "TC p99 (ms)": wide[("latency_p99", "seed")] * 1e3,
            "known p99 (ms)": wide[("latency_p99", "known")] * 1e3,
            "p99 ratio": wide[("latency_p99", "seed")] / wide[("latency_p99", "known")],
        }
    )
    rates = df[df["variant"] == "seed"][
        ["backend", "workers", "complete_rate", "premature_rate", "probe_miss_rate", "timeout_rate"]
    ]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colours = {"seed": "tab:blue", "known": "tab:green"}
    for (variant, backend), part in df.groupby(["variant", "backend"]):
        label = ("Trust Chain" if variant == "seed" else "known recipients") + f", {backend}"
        ax.plot(
            part["workers"],
            part["latency_p50"] * 1e3,
            color=colours[variant],
            label=f"{label} p50",
            **STYLE[backend],
        )
    ax.set(
        xscale="log",
        xlabel="workers N",
        ylabel="latency p50 (ms)",
        title="Zero-work request latency",
    )
    ax.set_xticks(list(WORKERS), [str(w) for w in WORKERS])
    ax.legend(fontsize="x-small")
    figure = save_figure(fig, ctx, "overhead.png")
    md = (
        f"{n} sequential requests per point, zero claim delay and zero work.\n\n"
        f"{markdown_table(table)}\n\nOutcome rates of the Trust Chain runs (on real Redis "
        f"the workers share one process and event loop, so every claim is sent before any "
        f"reply):\n\n{markdown_table(rates)}\n"
    )
    headline = {
        f"p50_ratio_N{int(r['N'])}_{r['backend']}": r["p50 ratio"] for _, r in table.iterrows()
    }
    return SuiteOutput("overhead", TITLE, df, md, [figure], headline)
