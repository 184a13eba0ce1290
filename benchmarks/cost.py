"""What one implementation of the protocol costs: latency, throughput, client CPU, commands.

One harness measures the floor (``floor.py``) and ``chain`` alike: N always-interested
workers with zero work and the dispatcher in this process, each request timed around its
``dispatch`` call; for each level of requests in flight, a batch of requests gives
throughput (requests over the batch's wall time), client CPU per request
(``time.process_time``: this process, dispatcher and workers), latency quantiles, and Redis
commands per request (``INFO commandstats`` differences, counted as the client sent them).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from redis.asyncio import Redis

from trustchain_lab.chain import Dispatcher, Keys, Worker
from trustchain_lab.protocol import variant as protocol_variant

from . import floor

TASK = "Cost"
WINDOW, DEADLINE = 0.5, 5.0  # the probe never fires at zero work; a stall fails loudly


@dataclass
class System:
    """An implementation under test, started with N workers: ``dispatch()`` runs one
    request and returns its outcome; ``commands`` turns commandstats differences into the
    commands its clients sent; ``close()`` stops it."""

    name: str
    dispatch: Callable[[], Awaitable[str]]
    commands: Callable[[dict[str, int], int], int]
    close: Callable[[], Awaitable[None]]


async def start_floor(url: str, workers: int) -> System:
    prefix = f"tcfloor-{uuid.uuid4().hex[:8]}"
    ends = [floor.FloorWorker(url, prefix, TASK, f"w{j}") for j in range(workers)]
    d = floor.FloorDispatcher(url, prefix, TASK, WINDOW)
    ends.append(d)
    await asyncio.gather(*(e.start() for e in ends))

    async def close() -> None:
        await asyncio.gather(*(e.close() for e in ends))

    return System("floor", d.dispatch, lambda sent, _: floor.client_commands(sent), close)


async def start_chain(url: str, workers: int, variant: str) -> System:
    keys = Keys(prefix=f"tccost-{uuid.uuid4().hex[:8]}")
    ends: list[Any] = []
    for j in range(workers):
        w = Worker(url, name=f"w{j}", keys=keys, max_in_flight=100_000)
        w.on(TASK, _no_work)
        ends.append(w)
    d = Dispatcher(url, name="gateway", keys=keys)
    ends.append(d)
    await asyncio.gather(*(e.start() for e in ends))
    rules = protocol_variant(variant)
    expect = workers if rules.needs_expect else None

    async def dispatch() -> str:
        final = await d.dispatch(
            TASK, None, variant=variant, probe_window=WINDOW, deadline=DEADLINE, expect=expect
        )
        return str(final.reason)

    def commands(sent: dict[str, int], requests: int) -> int:
        scripted = requests if rules.claims else 0  # the broadcast's PUBLISH runs inside
        return sent.get("publish", 0) + sent.get("evalsha", 0) - scripted  # its script

    async def close() -> None:
        await asyncio.gather(*(e.close() for e in ends))

    return System(f"chain {variant}", dispatch, commands, close)


async def _no_work(_request) -> None:
    return None


async def _command_calls(r: Redis) -> dict[str, int]:
    stats = await r.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def measure(system: System, url: str, in_flight: int, requests: int) -> dict[str, Any]:
    """One batch of ``requests`` with ``in_flight`` at a time: its figures."""
    latencies = np.empty(requests)
    outcomes: dict[str, int] = {}
    slots = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with slots:
            t = time.perf_counter()
            outcome = await system.dispatch()
            latencies[i] = time.perf_counter() - t
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    async with Redis.from_url(url) as admin:
        before = await _command_calls(admin)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        sent = await _command_calls(admin)
    sent = {k: v - before.get(k, 0) for k, v in sent.items()}
    return {
        "in_flight": in_flight,
        "requests": requests,
        "requests_per_s": requests / wall,
        "latency_p50_ms": float(np.quantile(latencies, 0.5)) * 1e3,
        "latency_p99_ms": float(np.quantile(latencies, 0.99)) * 1e3,
        "cpu_us_per_request": cpu / requests * 1e6,
        "commands_per_request": system.commands(sent, requests) / requests,
        "outcomes": ",".join(f"{k}:{v}" for k, v in sorted(outcomes.items())),
        "latencies_ms": latencies * 1e3,
    }


async def profile(
    start: Callable[[], Awaitable[System]], url: str, levels: list[int], requests: int
) -> list[dict[str, Any]]:
    """Start a system, warm it up, measure each level of requests in flight, close it."""
    system = await start()
    try:
        await measure(system, url, max(levels), max(levels))  # connections, scripts loaded
        return [await measure(system, url, c, requests) for c in levels]
    finally:
        await system.close()
