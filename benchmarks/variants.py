"""Suite ``variants``: what each protocol variant guarantees, and what it costs.

Every variant of ``trustchain_lab.variants()`` on the same requests (common random
numbers), real Redis beside the calibrated model: silently wrong answers (``premature``,
``probe_miss``), explicit exclusions (``excluded``), timeouts, latency, wasted work, Redis
commands and bus messages per request; against the interest probability (N = 4) and
against N (interest 0.5). Then the ``grace`` parameter on the two-worker race, against its
closed form exp(-G/c) · c / (c + w).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from trustchain_lab import Exponential, Scenario, variants
from trustchain_lab import Outcome as O
from trustchain_lab.analytic import probe_miss_probability, two_worker_grace_race_probability
from trustchain_lab.stats import wilson_interval

from .core import (
    CLOSED_FORM,
    QUANTILE_INTERVAL,
    STYLE,
    Context,
    SuiteOutput,
    headline_with_interval,
    interval_columns,
    markdown_table,
    save_figure,
    variant_colour,
)

TITLE = "Variants: the guarantee each one gives, and its price"
DESCRIPTION = "every variant vs interest and N: wrong answers, latency, commands, waste"
CLAIM_MEAN, WORK_MEAN = 0.010, 0.020  # a race-prone load: claims as slow as half the work
PROBE_WINDOW = 0.03
GRACE_CLAIM, GRACE_WORK = 0.02, 0.03


def scenario(ctx: Context, variant: str, workers: int, interest: float, requests: int):
    return Scenario(
        task="Variants",
        workers=workers,
        interest=interest,
        claim_delay=Exponential(CLAIM_MEAN),
        work_time=Exponential(WORK_MEAN),
        probe_window=PROBE_WINDOW,
        deadline=1.0,
        requests=requests,
        concurrency=8,
        variant=variant,
        seed=ctx.seed,
    )


def measure(ctx: Context, sc: Scenario, backend: str) -> dict:
    result = ctx.run(sc, backend)
    s, top = result.summary(), result.top_level()
    n = len(top)
    commands, messages = result.meta.get("redis_commands"), result.meta.get("bus_messages")
    wrong = int(top["outcome"].isin([O.PREMATURE, O.PROBE_MISS]).sum())  # looks complete
    lo, hi = wilson_interval(wrong, n)
    return {
        "backend": ctx.label(backend),
        "requests": n,
        "silent_wrong_rate": wrong / n,
        "silent_wrong_rate_lo": lo,
        "silent_wrong_rate_hi": hi,
        **{
            f"{o}_rate{end}": s[f"{o}_rate{end}"]
            for o in (O.PREMATURE, O.PROBE_MISS, O.EXCLUDED, O.TIMEOUT)
            for end in ("", "_lo", "_hi")
        },
        **{
            f"latency_p{q}_s{end}": s[f"latency_p{q}_s{end}"]
            for q in (50, 99)
            for end in ("", "_lo", "_hi")
        },
        "wasted_work_ms": float(result.requests["wasted_work"].sum()) / n * 1e3,
        "commands_per_request": None if commands is None else commands / n,
        "messages_per_request": None if messages is None else messages / n,
        "claim_lists_recreated": result.meta.get("claim_lists_recreated"),
    }


def run(ctx: Context) -> SuiteOutput:
    names = [v.name for v in variants()]
    interests = [0.05, 0.5, 1.0] if ctx.quick else [0.05, 0.2, 0.5, 0.8, 1.0]
    ns = [1, 4, 16] if ctx.quick else [1, 4, 16, 64]
    sizes = {"sim": ctx.size(500, 3000), "redis": ctx.size(60, 250)}
    points = [("interest", p, v, b) for p in interests for v in names for b in ctx.backends]
    points += [("workers", n, v, b) for n in ns for v in names for b in ctx.backends]
    rows = []
    for sweep, x, variant, backend in ctx.bar(points, "variants sweep"):
        workers, interest = (4, x) if sweep == "interest" else (x, 0.5)
        sc = scenario(ctx, variant, workers, interest, sizes[backend])
        rows.append({"sweep": sweep, "x": x, "variant": variant, **measure(ctx, sc, backend)})
    closed = [
        {
            "sweep": "interest",
            "x": p,
            "variant": v,
            "backend": CLOSED_FORM,
            "probe_miss_rate": probe_miss_probability(Exponential(CLAIM_MEAN), PROBE_WINDOW, 4, p),
        }
        for p in interests
        for v in ("seed",)
    ]
    df = pd.DataFrame(rows + closed)
    grace = grace_sweep(ctx)
    figure = plot(df, ctx, names)
    grace_figure = plot_grace(grace, ctx)

    ref = df[(df["sweep"] == "interest") & (df["x"] == 0.5) & (df["backend"] != CLOSED_FORM)]
    headline = {}
    for r in ref.itertuples(index=False):
        headline.update(
            headline_with_interval(
                f"{r.variant}_silent_wrong_{r.backend}",
                r.silent_wrong_rate,
                r.silent_wrong_rate_lo,
                r.silent_wrong_rate_hi,
            )
        )
        headline.update(
            headline_with_interval(
                f"{r.variant}_p50_ms_{r.backend}",
                *(1e3 * v for v in (r.latency_p50_s, r.latency_p50_s_lo, r.latency_p50_s_hi)),
            )
        )
    table = ref[["variant", "backend"]].copy()
    for rate in ("silent_wrong_rate", "excluded_rate", "timeout_rate"):
        table[rate] = interval_columns(ref, rate)
    for q in (50, 99):  # in ms, with the quantile's 95 % interval
        table[f"p{q} (ms)"] = interval_columns(
            ref.assign(
                **{f"ms{end}": ref[f"latency_p{q}_s{end}"] * 1e3 for end in ("", "_lo", "_hi")}
            ),
            "ms",
        )
    table = table.join(
        ref[
            [
                "wasted_work_ms",
                "commands_per_request",
                "messages_per_request",
                "claim_lists_recreated",
            ]
        ]
    )
    measured = grace[grace["backend"] != CLOSED_FORM].assign(
        premature=lambda g: interval_columns(g, "premature_rate")
    )
    grace_table = measured.pivot(index="grace_ms", columns="backend", values="premature")
    closed = grace[grace["backend"] == CLOSED_FORM].set_index("grace_ms")["premature_rate"]
    grace_table.insert(0, CLOSED_FORM, closed)
    grace_table = grace_table.reset_index()
    guarantees = "\n".join(f"- `{v.name}`: {v.guarantee}" for v in variants())
    md = (
        f"{guarantees}\n\nLoad: claim delay Exponential({CLAIM_MEAN * 1e3:.0f} ms), work "
        f"Exponential({WORK_MEAN * 1e3:.0f} ms), probe window {PROBE_WINDOW * 1e3:.0f} ms, 8 "
        f"requests in flight; {sizes['sim']} simulated and {sizes['redis']} real requests per "
        "point; rates with their 95 % Wilson interval, latency quantiles with their "
        f"{QUANTILE_INTERVAL}. *Silently wrong* = `premature` + "
        "`probe_miss` (an answer that looks complete and is not); `excluded` is a late "
        "claimer refused in time (it did no work). `ack` and `known` coincide on this load: "
        "every worker listens on one connection, so R = N.\n\n"
        "Protocol minimum, Redis commands per request with k interested of N workers: "
        "`seed` 1 + 3k + 1 (DEL) (+1 probe when no reply came before the window); "
        "`sealed` 1 + 3k (+1 probe; the emptying pop seals, no DEL); `known` and `ack` "
        "1 + N (a broadcast, a reply or decline from each). Bus messages: 1 + k for the "
        "claim variants, 1 + N for the counting ones.\n\n"
        f"**Interest 0.5, N = 4:**\n\n{markdown_table(table, '.3g')}\n\n"
        f"**Grace** (two always-interested workers, claim Exponential("
        f"{GRACE_CLAIM * 1e3:.0f} ms), work Exponential({GRACE_WORK * 1e3:.0f} ms)): "
        f"premature rate [95 % interval] vs closed form exp(-G/c) · c/(c+w).\n\n"
        f"{markdown_table(grace_table, '.3g')}\n"
    )
    return SuiteOutput(
        "variants",
        TITLE,
        pd.concat([df, grace], ignore_index=True),
        md,
        [figure, grace_figure],
        headline,
        timings=[  # the model's too when its network was calibrated in this run
            k
            for k in headline
            if k.endswith(("_p50_ms_redis", "_p50_ms_fakeredis"))
            or (ctx.redis_backend == "redis" and k.endswith("_p50_ms_sim"))
        ],
    )


def grace_sweep(ctx: Context) -> pd.DataFrame:
    graces = [0.0, 0.01, 0.03] if ctx.quick else [0.0, 0.005, 0.01, 0.02, 0.04]
    sizes = {"sim": ctx.size(2000, 10_000), "redis": ctx.size(100, 300)}
    rows = [
        {
            "sweep": "grace",
            "grace_ms": g * 1e3,
            "variant": "seed",
            "backend": CLOSED_FORM,
            "premature_rate": two_worker_grace_race_probability(GRACE_CLAIM, GRACE_WORK, g),
        }
        for g in graces
    ]
    for g, backend in ctx.bar([(g, b) for g in graces for b in ctx.backends], "grace sweep"):
        sc = Scenario(
            task="Grace",
            workers=2,
            claim_delay=Exponential(GRACE_CLAIM),
            work_time=Exponential(GRACE_WORK),
            probe_window=1.0,
            deadline=3.0,
            requests=sizes[backend],
            concurrency=8,
            grace=g,
            seed=ctx.seed,
        )
        s = ctx.run(sc, backend).summary()
        rows.append(
            {
                "sweep": "grace",
                "grace_ms": g * 1e3,
                "variant": "seed",
                "backend": ctx.label(backend),
                "premature_rate": s["premature_rate"],
                "premature_rate_lo": s["premature_rate_lo"],
                "premature_rate_hi": s["premature_rate_hi"],
                "latency_p50_s": s["latency_p50_s"],
                "requests": s["requests"],
            }
        )
    return pd.DataFrame(rows)


PANELS = (  # column, axis label, scale, has a 95 % interval
    ("silent_wrong_rate", "silently wrong answers", "linear", True),
    ("excluded_rate", "excluded (refused in time)", "linear", True),
    ("latency_p50_s", "latency p50 (ms)", "log", False),
    ("commands_per_request", "Redis commands / request", "log", False),
)
SWEEPS = (("interest", "interest probability (N = 4)"), ("workers", "workers N (interest 0.5)"))


def plot(df: pd.DataFrame, ctx: Context, names: list[str]) -> str:
    fig, axes = plt.subplots(len(SWEEPS), len(PANELS), figsize=(16, 7.5))
    measured = df[df["backend"] != CLOSED_FORM]
    for row, (sweep, xlabel) in enumerate(SWEEPS):
        part = measured[measured["sweep"] == sweep]
        for col, (figure, label, scale, interval) in enumerate(PANELS):
            ax = axes[row, col]
            for (variant, backend), line in part.groupby(["variant", "backend"]):
                scaled = 1e3 if figure == "latency_p50_s" else 1
                y = line[figure].astype(float) * scaled
                style = {**STYLE[backend], "color": variant_colour(variant)}
                ax.plot(line["x"], y, label=f"{variant}, {backend}", **style)
                if interval and (y > 0).any():  # a band at 0 would hide the others
                    low, high = line[f"{figure}_lo"], line[f"{figure}_hi"]
                    ax.fill_between(line["x"], low, high, color=style["color"], alpha=0.12)
            if sweep == "interest" and figure == "silent_wrong_rate":
                cf = df[(df["sweep"] == "interest") & (df["backend"] == CLOSED_FORM)]
                ax.plot(
                    cf["x"],
                    cf["probe_miss_rate"],
                    color="gray",
                    lw=0.8,
                    label="seed probe misses alone, closed form",
                )
            ax.set(xlabel=xlabel, ylabel=label, yscale=scale)
            if scale == "log":
                ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_major_formatter(ScalarFormatter())
                ax.yaxis.set_minor_formatter(NullFormatter())
            if sweep == "workers":
                ticks = sorted(part["x"].unique())
                ax.set_xscale("log")
                ax.set_xticks(ticks, [str(int(v)) for v in ticks])
                ax.minorticks_off()
            ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize="small")
    zero = measured.groupby("backend")["requests"].min()
    bounds = ", ".join(
        f"{b} {1 - 0.025 ** (1 / n):.1%}"
        for b, n in zero.items()  # one-sided, 0 of n
    )
    fig.suptitle(
        "Variants: silently wrong answers and exclusions (95 % bands), latency, Redis "
        f"commands.\nLines at 0 have an upper 95 % bound of at most {bounds}; ack and known "
        "coincide here (each worker is subscribed once: R = N)."
    )
    return save_figure(fig, ctx, "variants.png")


def plot_grace(grace: pd.DataFrame, ctx: Context) -> str:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for backend, part in grace.groupby("backend"):
        ax.plot(part["grace_ms"], part["premature_rate"], label=backend, **STYLE[backend])
        if backend != CLOSED_FORM:
            ax.fill_between(
                part["grace_ms"], part["premature_rate_lo"], part["premature_rate_hi"], alpha=0.12
            )
    ax.set(
        xlabel="grace G (ms)",
        ylabel="premature answers",
        title="seed with a grace period: the race shrinks as exp(-G/c)",
    )
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, ctx, "variants_grace.png")
