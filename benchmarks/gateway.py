"""Suite ``gateway``: the seed's own deployment over HTTP, vs the number of worker processes.

Redis (this run's when it is a real one, else a private redis-server), the gateway
(``python -m trustchain_lab.gateway``) and K worker processes (``python -m
trustchain_lab.worker``: always interested, ``WORK_MS`` of work each), each in a process of
its own; workers are added between points (K = 1, 2, 4, 8), the gateway and Redis stay.
The load generator is an aiohttp client in this process: ``CONNECTIONS`` connections, each
sending its next request when the last one is answered, a fixed number of requests per K
after a warm-up. Everything runs on this one machine (loopback only), so the figures are
bounded by its CPUs, which the client, the gateway, K workers and Redis share.

Every worker is interested, so an answer is ``complete`` when it holds K partials;
``probe_miss`` when it says nobody was interested; ``premature`` when it holds fewer;
``failed`` a 503 whose answer says it cannot be trusted; ``unavailable`` a 503 for Redis;
``timeout`` a 504 (the deadline); ``error`` anything else (another status, no answer).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from contextlib import ExitStack

import aiohttp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trustchain_lab import Outcome, wilson_interval
from trustchain_lab.gateway import Deployment
from trustchain_lab.redis_server import RedisServer, redis_server_binary
from trustchain_lab.stats import mean_interval, quantile_intervals

from .core import (
    QUANTILE_INTERVAL,
    Context,
    SuiteOutput,
    error_bars,
    headline_with_interval,
    interval_columns,
    markdown_table,
    save_figure,
)

TITLE = "Gateway: HTTP through the gateway and K worker processes"
DESCRIPTION = "req/s, latency p50/p99 and outcomes over HTTP vs K worker processes"
TASK = "Gateway"
WORKERS = (1, 2, 4, 8)
CONNECTIONS = 16  # requests in flight: the client's connection limit
BATCHES = 3  # per K: the throughput's interval is their Student-t interval
WORK_MS = 5.0  # each worker's work per task
PROBE_WINDOW, DEADLINE = 0.5, 5.0  # seconds, the gateway's
TIMEOUT = aiohttp.ClientTimeout(total=DEADLINE + 10)  # a request with no answer by then: error
UNAVAILABLE, ERROR = "unavailable", "error"
OUTCOMES = (Outcome.COMPLETE, Outcome.PROBE_MISS, Outcome.PREMATURE, Outcome.FAILED)
OUTCOMES += (UNAVAILABLE, Outcome.TIMEOUT, ERROR)


def outcome(status: int, reason: str | None, partials: int, workers: int) -> str:
    """What one HTTP answer was worth, every one of ``workers`` being interested."""
    if status == 200:
        if partials == workers:
            return Outcome.COMPLETE
        return Outcome.PROBE_MISS if partials == 0 else Outcome.PREMATURE
    if status == 503:
        return Outcome.FAILED if reason else UNAVAILABLE
    return Outcome.TIMEOUT if status == 504 else ERROR


async def load(url: str, requests: int, connections: int = CONNECTIONS) -> tuple[list, float]:
    """Send ``requests`` POSTs over ``connections`` connections; (status, reason, partials,
    latency) of each, and the seconds from the first to the last answer."""
    numbers = iter(range(requests))
    rows: list[tuple[int, str | None, int, float]] = []
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:

        async def client() -> None:
            for i in numbers:
                t = time.perf_counter()
                try:
                    async with session.post(f"{url}/tasks/{TASK}", json={"i": i}) as response:
                        status, body = response.status, await response.json()
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    status, body = 0, {}
                latency = time.perf_counter() - t
                rows.append((status, body.get("reason"), len(body.get("partials", ())), latency))

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        return rows, time.perf_counter() - start


async def measure(redis_url: str, workers: tuple[int, ...], requests: int) -> pd.DataFrame:
    """One row per K: throughput, latency quantiles and outcome rates with 95 % intervals."""
    summary = []
    async with Deployment(redis_url, TASK, keys_prefix=f"tcgw-{uuid.uuid4().hex[:8]}") as d:
        url = await d.start_gateway(
            "--probe-window", str(PROBE_WINDOW), "--deadline", str(DEADLINE)
        )
        running = 0
        for k in workers:
            await d.add_workers(k - running, "--work-ms", str(WORK_MS))
            running = k
            await load(url, 2 * CONNECTIONS)  # warm-up: connections opened, nothing counted
            rows, rates = [], []
            for _ in range(BATCHES):
                batch, seconds = await load(url, requests // BATCHES)
                rows += batch
                rates.append(len(batch) / seconds)
            summary.append(_summary(k, rows, rates))
    return pd.DataFrame(summary)


def _summary(k: int, rows: list, rates: list[float]) -> dict:
    latency_ms = np.array([r[3] for r in rows]) * 1e3  # in the order the answers came
    row: dict = {"workers": k, "requests": len(rows)}
    rate = mean_interval(rates)
    row["requests_per_s"], row["requests_per_s_lo"], row["requests_per_s_hi"] = rate
    intervals = quantile_intervals(latency_ms, [0.5, 0.99])
    for q in (50, 99):
        row[f"p{q}_ms"] = float(np.percentile(latency_ms, q))
        row[f"p{q}_ms_lo"], row[f"p{q}_ms_hi"] = intervals[q / 100]
    counts = pd.Series([outcome(s, reason, n, k) for s, reason, n, _ in rows]).value_counts()
    for o in OUTCOMES:
        hits = int(counts.get(o, 0))
        row[f"{o}_rate"] = hits / len(rows)
        row[f"{o}_rate_lo"], row[f"{o}_rate_hi"] = wilson_interval(hits, len(rows))
    return row


def run(ctx: Context) -> SuiteOutput:
    why = None
    if "redis" not in ctx.backends:
        why = "it measures real processes over real Redis (--backend sim was given)"
    elif ctx.redis_backend != "redis" and redis_server_binary() is None:
        why = (
            "it needs a real Redis that processes can share (fakeredis lives inside one "
            "process): pass --redis-url or install redis-server (apt-get install redis-server)"
        )
    if why is not None:
        return SuiteOutput("gateway", TITLE, pd.DataFrame(), f"**Skipped**: {why}.\n", [], {})
    requests = ctx.size(500, 3000)
    with ExitStack() as stack:
        if ctx.redis_backend == "redis":
            url, where = ctx.redis_url, "this run's Redis"
        else:
            url = stack.enter_context(RedisServer()).url
            where = "a private redis-server (fakeredis, this run's, cannot be shared by processes)"
        df = asyncio.run(measure(url, WORKERS, requests))
    figure = _figure(df, ctx)
    shown = pd.DataFrame(
        {
            "K": df["workers"],
            "req/s": interval_columns(df, "requests_per_s", ".3g"),
            "p50 (ms)": interval_columns(df, "p50_ms", ".3g"),
            "p99 (ms)": interval_columns(df, "p99_ms", ".3g"),
            **{
                f"{o}": interval_columns(df, f"{o}_rate", ".3g")
                for o in OUTCOMES
                if o == Outcome.COMPLETE or df[f"{o}_rate"].any()
            },
        }
    )
    md = (
        f"Variant `seed` on {where}; {requests} requests per K (after {2 * CONNECTIONS} "
        f"warm-up requests), {CONNECTIONS} connections from an async aiohttp client in the "
        f"benchmark's process; the gateway and each of the K workers ({WORK_MS:g} ms of work, "
        f"always interested) run in processes of their own, probe window {PROBE_WINDOW:g} s, "
        f"deadline {DEADLINE:g} s. All of it shares this one machine's {os.cpu_count()} CPUs "
        "over loopback, "
        "so the figures are CPU-bound here and say little about a spread deployment. "
        "Latency is the client's (the HTTP round trip); quantiles with their "
        f"{QUANTILE_INTERVAL}, outcome rates with their 95 % Wilson interval (only "
        "outcomes that occurred are shown beside `complete`; the module's docstring defines "
        f"them). Requests per second: the mean of {BATCHES} batches with its 95 % "
        "Student-t interval. A `premature` answer "
        "is the seed variant's claim race (suite `races`): a worker scheduled late claims "
        "after another's pop emptied the list, likelier the more processes share the CPUs."
        f"\n\n{markdown_table(shown)}\n"
    )
    headline = {}
    for r in df.itertuples(index=False):
        headline.update(
            headline_with_interval(
                f"requests_per_s_K{r.workers}",
                r.requests_per_s,
                r.requests_per_s_lo,
                r.requests_per_s_hi,
            )
        )
        headline.update(
            headline_with_interval(f"p50_ms_K{r.workers}", r.p50_ms, r.p50_ms_lo, r.p50_ms_hi)
        )
    last = df.iloc[-1]
    headline.update(
        headline_with_interval(
            f"complete_rate_K{int(last.workers)}",
            last.complete_rate,
            last.complete_rate_lo,
            last.complete_rate_hi,
        )
    )
    timings = [k for k in headline if k.startswith(("requests_per_s_K", "p50_ms_K"))]
    return SuiteOutput("gateway", TITLE, df, md, [figure], headline, timings)


def _figure(df: pd.DataFrame, ctx: Context) -> str:
    fig, (rate, lat) = plt.subplots(1, 2, figsize=(9, 4))
    error_bars(
        rate,
        df["workers"],
        df["requests_per_s"],
        df["requests_per_s_lo"],
        df["requests_per_s_hi"],
        marker="o",
    )
    rate.set(xlabel="worker processes K", ylabel="requests per second", title="Throughput")
    rate.set_ylim(bottom=0)
    for q, colour in ((50, "C0"), (99, "C1")):
        error_bars(
            lat,
            df["workers"],
            df[f"p{q}_ms"],
            df[f"p{q}_ms_lo"],
            df[f"p{q}_ms_hi"],
            marker="o",
            color=colour,
            label=f"p{q}",
        )
    lat.set(xlabel="worker processes K", ylabel="latency (ms)", title="HTTP latency")
    lat.set_ylim(bottom=0)
    lat.legend()
    for ax in (rate, lat):
        ax.set_xticks(df["workers"])
    fig.suptitle(f"Gateway over HTTP, {CONNECTIONS} connections, {WORK_MS:g} ms work")
    return save_figure(fig, ctx, "gateway.png")
