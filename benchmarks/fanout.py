"""Suite ``fanout``: latency, races and Redis round trips as the number of workers grows.

N always-interested workers, claim delay Exponential(1 ms), work Exponential(20 ms), the
real workers placed as ``--placement`` says. The reference line is the closed form of the
work alone (max of N exponentials), which the claim delay and the infrastructure can only
add to. Then the seed's zero-delay race: zero claim delay and zero work, N = 2, 8, 32, for
every placement: with every worker in one event loop each claim is sent before any reply,
so the race cannot show; in their own processes it can.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from trustchain_lab import Const, Exponential, Scenario, grid
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
    headline_with_interval,
    markdown_table,
    readable_log_axis,
    save_figure,
)

TITLE = "Fan-out scaling: latency, races and Redis round trips vs workers"
DESCRIPTION = "latency p50/p95/p99, race rate, round trips per request for N = 1..64"
WORK_MEAN = 0.02
RACE_WORKERS = (2, 8, 32)  # the zero-delay race


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
        base = Scenario(
            task="Fanout",
            claim_delay=Exponential(0.001),
            work_time=Exponential(WORK_MEAN),
            probe_window=0.5,
            deadline=5.0,
            requests=sizes[backend],
            concurrency=1,
            variant=ctx.variant,
            seed=ctx.seed,
        )
        scenarios = grid(base, workers=ns)
        table = ctx.sweep(scenarios, backend, measure=mean_and_commands, placement=ctx.placement)
        for s in table.to_dict("records"):
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
        f"request at a time, the real workers placed `{ctx.placement}`; {sizes['sim']} "
        f"simulated and {sizes['redis']} real requests per point. Measured quantiles with "
        f"their {QUANTILE_INTERVAL}."
        f"\n\n{markdown_table(table, '.3g')}\n"
    )
    race, race_md, race_headline = zero_delay_race(ctx)
    calibrated = ctx.redis_backend == "redis"  # the model's latencies move with it too
    timings = [  # the real race rates too: which claim lands first is a matter of timing
        k
        for k in {**headline, **race_headline}
        if k.endswith(("_redis", "_fakeredis")) or (calibrated and k.endswith("_sim"))
    ]
    df = pd.concat([df.assign(placement=ctx.placement, sweep="latency"), race], ignore_index=True)
    return SuiteOutput(
        "fanout", TITLE, df, md + race_md, [figure], {**headline, **race_headline}, timings
    )


def placements(ctx: Context) -> list[str]:
    """Every placement this machine offers a real Redis run (hosts: root and `ip`)."""
    from trustchain_lab.netns import NamespaceError, check_namespaces

    if ctx.redis_backend != "redis":
        return ["inline"]
    try:
        check_namespaces()
    except NamespaceError:
        return ["inline", "processes"]
    return ["inline", "processes", "hosts"]


def zero_delay_race(ctx: Context) -> tuple[pd.DataFrame, str, dict[str, float]]:
    """The seed's race with nothing to wait for: premature answers per placement and N."""
    rows = []
    n = ctx.size(100, 400)
    where = placements(ctx)
    points = [(p, b) for p in where for b in ctx.backends]
    for placement, backend in ctx.bar(points, "zero-delay race"):
        base = Scenario(
            task="ZeroRace",
            claim_delay=Const(0.0),
            work_time=Const(0.0),
            probe_window=0.5,
            deadline=5.0,
            requests=n,
            concurrency=1,
            variant=ctx.variant,
            seed=ctx.seed,
        )
        scenarios = grid(base, workers=RACE_WORKERS)
        for s in ctx.sweep(scenarios, backend, placement=placement).to_dict("records"):
            rows.append(
                {
                    "sweep": "zero-delay race",
                    "placement": placement,
                    "backend": ctx.label(backend),
                    "workers": s["workers"],
                    **{
                        k: s[k]
                        for k in ("premature_rate", "premature_rate_lo", "premature_rate_hi")
                    },
                    "requests": s["requests"],
                }
            )
    race = pd.DataFrame(rows)
    race["premature (95 % interval)"] = figure_text(race, "premature_rate")
    wide = race.pivot(
        index="workers", columns=["placement", "backend"], values="premature (95 % interval)"
    )
    wide.columns = [f"{p}, {b}" for p, b in wide.columns]
    race = race.drop(columns="premature (95 % interval)")
    headline = {}
    for r in race.itertuples(index=False):
        headline.update(
            headline_with_interval(
                f"zero_delay_premature_N{r.workers}_{r.placement}_{r.backend}",
                r.premature_rate,
                r.premature_rate_lo,
                r.premature_rate_hi,
            )
        )
    md = (
        f"\n**The zero-delay race** (variant `{ctx.variant}`): zero claim delay, zero work, "
        f"every worker interested, one request at a time, {n} requests per point; premature "
        "answers (the dispatcher found the claim list empty before a claim landed) with "
        "their 95 % Wilson interval, for each placement of the real workers (the model "
        "calibrated for each: one CPU for all inline, one per worker otherwise).\n\n"
        f"{markdown_table(wide.reset_index())}\n"
    )
    return race, md, headline
