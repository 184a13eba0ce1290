"""Suite ``overhead``: what the claim list costs, against a known-recipients scatter-gather.

N always-interested workers, zero claim delay, zero work, one request at a time, on Redis:
Trust Chain (seed variant) beside a dispatcher that knows N and waits for N replies, in the
same run on the same Redis. With zero claim delay the seed variant can race (a reply may
drain the list before another claim lands), so its outcome rates are part of the result.
With every worker in one process and one event loop, each worker's claim is sent before any
reply is, which hides that race; the SimPy model explores it with real delays.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from trustchain_lab import Scenario, run_redis

from .core import Context, SuiteOutput, markdown_table

TITLE = "Overhead of the claim list vs known-recipients scatter-gather (real Redis)"
DESCRIPTION = "Trust Chain vs known-recipients latency for N = 1, 4, 16 (zero work)"
WORKERS = (1, 4, 16)


def run(ctx: Context) -> SuiteOutput:
    if "redis" not in ctx.backends:
        return SuiteOutput(
            "overhead", TITLE, pd.DataFrame(), "Skipped: needs `--backend redis` or `both`."
        )
    n = ctx.size(300, 2000)
    rows = []
    for workers in WORKERS:
        for variant in ("seed", "known"):
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
            s = run_redis(sc, ctx.redis_url, progress=ctx.progress).summary()
            rows.append({"workers": workers, "variant": variant, **s.to_dict()})
    df = pd.DataFrame(rows)
    wide = df.pivot(index="workers", columns="variant", values=["latency_p50", "latency_p99"])
    table = pd.DataFrame(
        {
            "N": wide.index,
            "TC p50 (ms)": wide[("latency_p50", "seed")].to_numpy() * 1e3,
            "known p50 (ms)": wide[("latency_p50", "known")].to_numpy() * 1e3,
            "p50 ratio": (
                wide[("latency_p50", "seed")] / wide[("latency_p50", "known")]
            ).to_numpy(),
            "TC p99 (ms)": wide[("latency_p99", "seed")].to_numpy() * 1e3,
            "known p99 (ms)": wide[("latency_p99", "known")].to_numpy() * 1e3,
            "p99 ratio": (
                wide[("latency_p99", "seed")] / wide[("latency_p99", "known")]
            ).to_numpy(),
        }
    )
    tc = df[df["variant"] == "seed"]
    rates = tc[["workers", "complete_rate", "premature_rate", "probe_miss_rate", "timeout_rate"]]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for variant, colour in (("seed", "tab:blue"), ("known", "tab:green")):
        part = df[df["variant"] == variant]
        label = "Trust Chain" if variant == "seed" else "known recipients"
        ax.plot(
            part["workers"], part["latency_p50"] * 1e3, "-o", color=colour, label=f"{label} p50"
        )
        ax.plot(
            part["workers"], part["latency_p99"] * 1e3, ":^", color=colour, label=f"{label} p99"
        )
    ax.set(
        xscale="log",
        xlabel="workers N",
        ylabel="latency (ms)",
        xticks=list(WORKERS),
        xticklabels=[str(w) for w in WORKERS],
        title="Zero-work request latency",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(ctx.path("overhead.png"), dpi=110)
    plt.close(fig)
    md = (
        f"{n} sequential requests per point, zero claim delay and zero work.\n\n"
        f"{markdown_table(table)}\n\nOutcome rates of the Trust Chain runs (workers share "
        f"one process and event loop here, so every claim is sent before any reply):"
        f"\n\n{markdown_table(rates)}\n"
    )
    headline = {f"p50_ratio_N{int(r['N'])}": r["p50 ratio"] for _, r in table.iterrows()}
    return SuiteOutput("overhead", TITLE, df, md, ["overhead.png"], headline)
