"""Fit the model's ``Network`` to a real Redis in a few seconds (it runs both backends)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from redis.asyncio import Redis

from . import timers
from .chain import redis_client
from .link import Link, LinkProxy
from .sim import Network
from .target import NoRedisError, RedisTarget, redis_target

PINGS = 400  # sequential round trips for the latency
CONCURRENT = 32  # coroutines saturating the client CPU
FANOUT = 32  # subscribers for the per-subscriber cost
PUBLISHES = 300
MIN_ONE_WAY = 1e-6


REPEATS = 3  # whole measurements; the network takes the median of each figure
SPREAD_WARNING = 0.25  # (max - min) / median of a figure above this: warn
# What the model's timings rest on: the round trip and the client CPU prices (fitted per
# repeat). The server's sub-microsecond costs and a p99 of 400 pings vary more, mattering
# less. On fakeredis there is no CPU fit: the client cost is the wall time per ping.
WATCHED = ("ping_rtt_p50", "client_seconds_per_op_by_cpu", "client_seconds_per_wake")
WATCHED_IN_MEMORY = ("ping_rtt_p50", "client_seconds_per_ping")


class CalibrationWarning(UserWarning):
    """The repeated measurements disagreed: the machine was busy or noisy."""


@dataclass(frozen=True)
class Calibration:
    """The fitted ``network`` and the raw measurements it came from (seconds): the median
    over the repeats of each figure, ``spread`` ((max - min) / median per figure) and
    ``repeats``."""

    network: Network
    measured: dict[str, Any]


def calibrate(
    redis_url: str | None = None,
    *,
    shared_client_cpu: bool = True,
    repeats: int = REPEATS,
    link: Link | None = None,
) -> Network:
    """Measure a Redis (``run_redis``'s resolution rules) ``repeats`` times and return the
    ``Network`` fitted to the median of each figure; warns (``CalibrationWarning``) when a
    figure the model's timings rest on (``WATCHED``: the PING round trip and the client CPU
    prices, fitted per repeat) spreads over the repeats by more than 25 %.

    ``shared_client_cpu=False`` models workers in their own processes (``run_redis``'s
    placements ``"processes"`` and ``"hosts"``). ``link``: the network of runs through that
    ``Link`` (its delay plus the delaying proxy's own cost, measured here); a run with
    placement ``"hosts"`` crosses the proxy even without a link: pass ``Link()``."""
    cal = _measure_repeated(redis_url, shared_client_cpu, repeats, link, stacklevel=3)
    return cal.network


def measure(
    redis_url: str | None = None,
    *,
    shared_client_cpu: bool = True,
    repeats: int = REPEATS,
    link: Link | None = None,
) -> Calibration:
    """``calibrate`` with the raw figures: round trip, client cost, server costs, spread."""
    return _measure_repeated(redis_url, shared_client_cpu, repeats, link, stacklevel=3)


def _measure_repeated(
    redis_url: str | None,
    shared_client_cpu: bool,
    repeats: int,
    link: Link | None,
    stacklevel: int,
) -> Calibration:
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    if link is not None and not isinstance(link, Link):
        raise TypeError(f"link must be a trustchain_lab.Link, got {type(link).__name__}")
    coro = _ameasure(redis_url, shared_client_cpu, repeats, link)
    try:  # on the loop run_redis uses: the CPU it prices is that loop's
        asyncio.get_running_loop()
    except RuntimeError:
        cal = timers.run(coro)
    else:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # inside Jupyter's loop
            cal = pool.submit(timers.run, coro).result()
    warning = spread_warning(cal)
    if warning is not None:
        warnings.warn(warning, CalibrationWarning, stacklevel=stacklevel)  # the caller's line
    return cal


async def _ameasure(
    redis_url: str | None, shared: bool, repeats: int, link: Link | None
) -> Calibration:
    with redis_target(redis_url) as target:
        client = target.make_client()
        runs = []
        try:
            for _ in range(repeats):  # each repeat's prices too, for their spread
                cal = await _measure(target, client, shared)
                runs.append(_fit_client_cpu(await _measure_client_cpu(target, cal)))
        finally:
            await client.aclose()
        cal = _fit_client_cpu(combine(runs))  # the prices of the medians: consistent
        if link is None:
            return cal
        if target.backend != "redis":
            raise NoRedisError("calibrate(..., link=...) needs a real Redis for the proxy")
        proxy_one_way = await _proxy_one_way(target.url, cal.measured["ping_rtt_p50"], link)
    measured = {**cal.measured, "link_delay": link.delay, "proxy_one_way": proxy_one_way}
    return Calibration(cal.network.with_link(link, proxy_one_way), measured)


CPU_RUNS = (  # (name, requests in flight, requests) of the runs that price client CPU
    ("saturated", 128, 600),  # the loops seldom idle (prices an operation)
    ("sequential", 1, 150),  # one at a time: every step finds the loop idle (the wake)
)
CPU_FIT_ROUNDS = 4  # the counts depend on the costs: price them in turn a few rounds


async def _measure_client_cpu(target: RedisTarget, cal: Calibration) -> Calibration:
    """The CPU seconds per request the real clients used (``time.process_time`` of every
    process) in the two ``CPU_RUNS``, placed as the calibration's workers are (inline, or
    in processes): ``client_cpu_per_request_saturated`` and ``..._sequential``."""
    from .redis_runner import arun_redis

    if target.backend != "redis":
        return cal
    placement = "inline" if cal.network.shared_client_cpu else "processes"
    figures = {}
    for (name, _, _), sc in zip(CPU_RUNS, _cpu_scenarios(), strict=True):
        real = await arun_redis(sc, target.url, placement=placement, progress=False)
        figures[f"client_cpu_per_request_{name}"] = real.meta["client_cpu_seconds"] / sc.requests
    return Calibration(cal.network, {**cal.measured, **figures})


def _cpu_scenarios() -> list[Any]:
    from .dists import Const
    from .scenario import Scenario

    return [
        Scenario(  # every kind of client operation: deliveries to workers that decline,
            task="Cpu",  # timers, claims, replies, pops
            workers=4,
            interest=0.5,
            claim_delay=Const(0.001),
            work_time=Const(0.001),
            requests=requests,
            concurrency=in_flight,
            probe_window=0.05,  # 1 in 16 requests finds nobody interested: answer it soon
            deadline=5.0,
            seed=1,
        )
        for _, in_flight, requests in CPU_RUNS
    ]


def _fit_client_cpu(cal: Calibration) -> Calibration:
    """Price client CPU by accounting: ``client_cost`` per operation from the saturated
    run's CPU (the loops seldom idle), ``wake`` per operation that finds its loop idle from
    the sequential run's. The model counts the operations and wakes of the same runs (the
    counts depend on the costs: they are priced in turn a few rounds). Fitted to the
    medians of the repeats' CPU figures, so the two prices stay consistent with each
    other (fitted per repeat, they trade off: a high cost goes with a low wake)."""
    from .sim_runner import run_sim

    measured = cal.measured
    if "client_cpu_per_request_saturated" not in measured:  # no real Redis: no real CPU
        return cal
    (sat, seq), network = _cpu_scenarios(), cal.network
    cpu_sat = measured["client_cpu_per_request_saturated"] * sat.requests
    cpu_seq = measured["client_cpu_per_request_sequential"] * seq.requests
    for _ in range(CPU_FIT_ROUNDS):  # each equation prices one unknown: well conditioned
        ops_sat, wakes_sat = _counts(run_sim(sat, network, progress=False))
        ops_seq, wakes_seq = _counts(run_sim(seq, network, progress=False))
        cost = max((cpu_sat - wakes_sat * network.wake) / ops_sat, 1e-6)
        wake = max((cpu_seq - ops_seq * cost) / max(wakes_seq, 1), 0.0)
        network = replace(network, client_cost=cost, wake=wake)
    measured = {
        **measured,
        "client_seconds_per_op_by_cpu": network.client_cost,
        "client_seconds_per_wake": network.wake,
    }
    return Calibration(network, measured)


def _counts(result: Any) -> tuple[int, int]:
    return result.meta["client_ops"], result.meta["client_wakes"]


async def _proxy_one_way(url: str, direct_rtt: float, link: Link) -> float:
    """What the delaying proxy adds to each hop beyond the link's delay (its own CPU, and
    its timers firing late: the event loop waits in whole milliseconds): half of what a
    PING round trip through it takes beyond the direct one and two delays (p50)."""
    with LinkProxy(url, link) as proxy:
        client = redis_client(proxy.url)
        try:
            rtts, _ = await _ping_rtts(client)
        finally:
            await client.aclose()
    return max((float(np.median(rtts)) - direct_rtt - 2 * link.delay) / 2, 0.0)


def spread_warning(cal: Calibration) -> str | None:
    """What to warn about a calibration whose repeats disagreed by more than 25 %."""
    spread = cal.measured.get("spread", {})
    wide = {k: spread[k] for k in watched(cal.measured) if spread.get(k, 0.0) > SPREAD_WARNING}
    if not wide or cal.measured.get("repeats", 1) < 2:
        return None
    listed = ", ".join(f"{k} {v:.0%}" for k, v in wide.items())
    return (
        f"calibration: {cal.measured['repeats']} repeats disagree by more than "
        f"{SPREAD_WARNING:.0%} on {listed} (the machine is busy or noisy; the model takes "
        "the medians, and its timings carry that uncertainty)"
    )


def watched(measured: dict[str, Any]) -> tuple[str, ...]:
    """The figures whose spread over the repeats is warned about (``WATCHED``, or for a
    calibration without CPU prices, e.g. on fakeredis, ``WATCHED_IN_MEMORY``)."""
    return WATCHED if "client_seconds_per_op_by_cpu" in measured else WATCHED_IN_MEMORY


def combine(runs: list[Calibration]) -> Calibration:
    """One calibration from repeated ones: the median of every figure, and its spread
    ((max - min) / median)."""
    figures = [k for k, v in runs[0].measured.items() if isinstance(v, float)]
    median = {k: float(np.median([r.measured[k] for r in runs])) for k in figures}
    spread = {
        k: float(np.ptp([r.measured[k] for r in runs]) / median[k]) if median[k] else 0.0
        for k in figures
    }
    nets = [r.network for r in runs]
    network = replace(
        nets[0],
        **{
            name: float(np.median([getattr(n, name) for n in nets]))
            for name in ("one_way", "service", "per_subscriber", "client_cost", "wake")
        },
    )
    measured = {**runs[0].measured, **median, "spread": spread, "repeats": len(runs)}
    return Calibration(network, measured)


async def _ping_rtts(client: Redis) -> tuple[list[float], list[float]]:
    """``PINGS`` sequential PING round trips (s), after one that opens the connection, and
    of each the part not spent on this process's CPU (sending, waking, reading)."""
    await client.ping()
    rtts, waits = [], []
    for _ in range(PINGS):
        t, cpu = time.perf_counter(), time.process_time()
        await client.ping()
        rtts.append(time.perf_counter() - t)
        waits.append(rtts[-1] - (time.process_time() - cpu))
    return rtts, waits


async def _measure(target: RedisTarget, client: Redis, shared: bool) -> Calibration:
    rtts, waits = await _ping_rtts(client)
    rtt, wait = float(np.median(rtts)), float(np.median(waits))

    async def pinger() -> None:
        for _ in range(PINGS // 4):
            await client.ping()

    t = time.perf_counter()
    await asyncio.gather(*(pinger() for _ in range(CONCURRENT)))
    client_cost = (time.perf_counter() - t) / (CONCURRENT * (PINGS // 4))

    defaults = Network()
    service, per_sub = defaults.service, defaults.per_subscriber
    if target.backend == "redis":
        service, per_sub = await _server_costs(target, client)
    # the network: what a round trip takes beyond the client's CPU (which the model charges
    # by CPU accounting, wakes included) and the server's time; on loopback, little
    one_way = max((wait - service) / 2, MIN_ONE_WAY)
    net = Network(  # client_cost: priced by CPU accounting once the repeats are combined
        one_way=one_way,
        service=service,
        per_subscriber=per_sub,
        client_cost=client_cost,
        shared_client_cpu=shared,
        cores=0 if shared else len(os.sched_getaffinity(0)),  # the cores processes share
    )
    measured = {
        "backend": target.backend,
        "ping_rtt_p50": rtt,
        "ping_rtt_p99": float(np.percentile(rtts, 99)),
        "client_seconds_per_ping": client_cost,  # wall time, 32 at once: no wakes
        "ping_wait_p50": wait,  # of a round trip, the time off this process's CPU
        "server_seconds_per_command": service,
        "server_seconds_per_subscriber": per_sub,
    }
    return Calibration(net, measured)


async def _publish_cost(client: Redis, channel: str, subscribers: list[Any]) -> float:
    """Server microseconds per PUBLISH reaching ``len(subscribers)`` subscribers, in s."""
    await client.config_resetstat()
    for _ in range(PUBLISHES):
        await client.publish(channel, b"x")
    stats = await client.info("commandstats")
    return stats["cmdstat_publish"]["usec_per_call"] * 1e-6


async def _server_costs(target: RedisTarget, client: Redis) -> tuple[float, float]:
    """Server time per command (PING) and per subscriber (PUBLISH to 1 vs FANOUT), from
    Redis's own command statistics, so client and network time stay out of them."""
    await client.config_resetstat()
    for _ in range(PINGS):
        await client.ping()
    stats = await client.info("commandstats")
    service = stats["cmdstat_ping"]["usec_per_call"] * 1e-6
    subs = [target.make_client() for _ in range(FANOUT)]
    pubsubs = [s.pubsub() for s in subs]
    channel = f"trustchain-calibrate-{time.monotonic_ns()}"
    try:
        await pubsubs[0].subscribe(channel)
        one = await _publish_cost(client, channel, pubsubs[:1])
        for p in pubsubs[1:]:
            await p.subscribe(channel)
        many = await _publish_cost(client, channel, pubsubs)
    finally:
        for p in pubsubs:
            await p.aclose()
        for s in subs:
            await s.aclose()
    per_sub = max((many - one) / (FANOUT - 1), 0.0)
    return service, per_sub
