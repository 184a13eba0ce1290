"""Suite ``throughput``: requests per second vs requests in flight, and the model's speed.

Four always-interested workers (placed as ``--placement`` says), zero claim delay and zero
work, so the infrastructure is all there is: every variant on the same Redis in the same
run. Two ceilings: the round-trip ceiling c / (k · RTT), with k the round trips a request
makes one after the other (read off the model with nothing but a network delay: seed
publish, claim, reply, N pops, DEL = N + 4; known: publish, reply = 2), and the client-CPU
ceiling 1 / (client steps per request · CPU per step) of the calibrated model. Then the
SimPy model's own speed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from trustchain_lab import Network, Scenario, run_sim, variants
from trustchain_lab.stats import mean_interval

from . import simspeed
from .core import (
    STYLE,
    Context,
    SuiteOutput,
    error_bars,
    figure_text,
    headline_with_interval,
    markdown_table,
    save_figure,
    variant_colour,
)

TITLE = "Throughput vs requests in flight (N = 4), and the model's speed"
DESCRIPTION = "req/s vs in-flight for every variant; the model's events/s"
WORKERS = 4
BATCHES = 3  # independent batches per point: the interval is their Student-t interval


def scenario(variant: str, requests: int, in_flight: int, seed: int) -> Scenario:
    return Scenario(
        task="Throughput",
        workers=WORKERS,
        probe_window=1.0,
        deadline=5.0,
        requests=requests,
        concurrency=in_flight,
        variant=variant,
        seed=seed,
    )


def sequential_round_trips(variant: str) -> float:
    """Round trips one request makes one after the other, clean-up included: in the model
    with a round trip as the only cost, the time from one request to the next when they
    run one at a time."""
    one_way = 0.5  # so that a round trip is 1 s
    net = Network(one_way, 0.0, 0.0, 0.0, shared_client_cpu=False)
    starts = run_sim(scenario(variant, 2, 1, 0), net).requests.sort_values("index")
    return float(starts["t_dispatch"].diff().iloc[1])


def throughput(result) -> float:
    """Requests answered per second, from the first dispatch to the last final."""
    req = result.top_level()
    return len(req) / float(req["t_final"].max() - req["t_dispatch"].min())


def run(ctx: Context) -> SuiteOutput:
    in_flight = [1, 8, 64, 256] if ctx.quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    rows = []
    names = [v.name for v in variants()]
    points = [(c, v, b) for c in in_flight for v in names for b in ctx.backends]
    for c, variant, backend in ctx.bar(points, "throughput sweep"):
        n = max(ctx.size(100, 300), (2 if ctx.quick else 4) * c)
        results = [
            ctx.run(scenario(variant, n, c, ctx.seed + b), backend, ctx.placement)
            for b in range(BATCHES)
        ]
        rate, low, high = mean_interval([throughput(r) for r in results])
        result = results[0]  # its latency and outcome columns: the first batch
        summary = result.summary()
        row = {
            "placement": ctx.placement,
            "in_flight": c,
            "variant": variant,
            "backend": ctx.label(backend),
            "requests_per_s": rate,
            "requests_per_s_lo": low,
            "requests_per_s_hi": high,
            "latency_p50_s": summary["latency_p50_s"],
            "complete_rate": summary["complete_rate"],
        }
        if backend == "sim":
            row["client_steps_per_request"] = result.meta["client_ops"] / len(result.requests)
        rows.append(row)
    df = pd.DataFrame(rows)
    net = ctx.network(ctx.placement) if ctx.sim else None
    cal = ctx.calibration_for(ctx.placement) if ctx.sim else None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (variant, backend), part in df.groupby(["variant", "backend"]):
        ax.plot(
            part["in_flight"],
            part["requests_per_s"],
            color=variant_colour(variant),
            label=f"{variant}, {backend}",
            **STYLE[backend],
        )
        error_bars(
            ax,
            part["in_flight"],
            part["requests_per_s"],
            part["requests_per_s_lo"],
            part["requests_per_s_hi"],
            color=variant_colour(variant),
        )
    notes = []
    if cal:
        rtt = cal.measured["ping_rtt_p50"]
        for variant in names:
            k = sequential_round_trips(variant)
            ceiling = [c / (k * rtt) for c in in_flight]
            ax.plot(
                in_flight,
                ceiling,
                color=variant_colour(variant),
                lw=0.8,
                alpha=0.4,
                label=f"round-trip ceiling, {variant} (k = {k:g})",
            )
        notes.append(f"Round-trip ceilings from the measured PING p50 of {rtt * 1e6:.0f} µs.")
    if net is not None and "client_steps_per_request" in df:
        for variant in names:
            steps = df[(df["variant"] == variant) & (df["backend"] == "sim")][
                "client_steps_per_request"
            ].mean()
            cpu = 1 / (steps * net.client_cost)
            ax.axhline(
                cpu,
                color=variant_colour(variant),
                ls="-.",
                lw=0.8,
                label=f"client-CPU ceiling, {variant}",
            )
            notes.append(
                f"Client-CPU ceiling, {variant}: {cpu:,.0f} req/s "
                f"({steps:.1f} client steps per request)."
            )
    # log scales first: a limit set on a linear axis would keep a negative bottom
    ax.set(xscale="log", yscale="log")
    ax.set_ylim(top=20 * df["requests_per_s"].max())  # ceilings far above are cut off
    ax.set(
        xlabel="requests in flight",
        ylabel="requests per second",
        title=f"Throughput, N = {WORKERS}, zero work",
    )
    ax.set_xticks(in_flight, [str(c) for c in in_flight])
    ax.legend(fontsize="x-small")
    figure = save_figure(fig, ctx, "throughput.png")

    df["req/s"] = figure_text(df, "requests_per_s")
    wide = df.pivot(index="in_flight", columns=["variant", "backend"], values="req/s")
    wide.columns = [f"{v} {b}" for v, b in wide.columns]
    wide = wide.reset_index()
    df = df.drop(columns="req/s")
    headline = {}
    top = df[df["in_flight"] == max(in_flight)]
    for backend, part in top.groupby("backend"):
        by = part.set_index("variant")
        for variant in names:
            headline.update(
                headline_with_interval(
                    f"throughput_{variant}_at_{max(in_flight)}_{backend}",
                    *by.loc[variant, ["requests_per_s", "requests_per_s_lo", "requests_per_s_hi"]],
                )
            )
            if variant != "known":
                key = f"throughput_{variant}/known_at_{max(in_flight)}_{backend}"
                headline[key] = float(
                    by.loc[variant, "requests_per_s"] / by.loc["known", "requests_per_s"]
                )
    speed = simspeed.measure(ctx.size(10_000, 100_000), 16, ctx.seed)
    seconds = "model_10k_x16_seconds" if ctx.quick else "model_100k_x16_seconds"
    headline.update(
        {
            "model_vs_bare_simpy_ratio": speed["ratio"],
            seconds: speed["total_s"],
            "model_peak_rss_mb": speed["peak_rss_mb"],
        }
    )
    md = (
        f"Real workers placed `{ctx.placement}` (`--placement`). "
        f"Requests per second: the mean of {BATCHES} batches (seeds seed … seed + "
        f"{BATCHES - 1}) with its 95 % Student-t interval; the model, with zero work and "
        "zero claim delay, gives the same rate on every batch (its interval has zero width: it "
        "leaves out the calibration, which moves with the machine; `compare` treats the "
        "model's rates as timings).\n\n"
        f"{markdown_table(wide)}\n\n"
        + " ".join(notes)
        + f"\n\n**Model speed** ({speed['requests']:,} requests x {speed['workers']} workers): "
        f"{speed['model_events_per_s']:,.0f} necessary events/s (per request 2 + N, plus 3 "
        f"per interested worker) vs {speed['bare_events_per_s']:,.0f} for a bare SimPy loop "
        f"of plain timeouts doing as many events (ratio {speed['ratio']:.2f}, target >= 0.5;"
        f" the model processes {speed['model_simpy_events'] / speed['necessary_events']:.2f} "
        f"SimPy events per necessary one); {speed['total_s']:.1f} s in all "
        f"(simulation {speed['model_run_s']:.1f} s), peak memory {speed['peak_rss_mb']:,.0f} "
        f"MB.\n"
    )
    # all move with the machine: real rates; the model's rates through the calibration run
    # on this machine (their zero-width intervals leave it out); the model's own speed
    rates = [k for k in headline if k.startswith("throughput_") and not k.endswith(("_lo", "_hi"))]
    timings = [*rates, seconds]
    if ctx.redis_backend != "redis":  # the model on the default network: rates stay
        timings = [k for k in timings if not k.endswith("_sim")]
    return SuiteOutput("throughput", TITLE, df, md, [figure], headline, timings)
