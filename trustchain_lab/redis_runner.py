"""Run a ``Scenario`` on the reference implementation over Redis (or fakeredis).

The lab's workers are ``chain.Worker`` objects in this process, each with its own
connections; their interest rule sleeps the drawn claim delay, their work sleeps the drawn
work time (and dispatches the subtask, if any). Every step is recorded through the chain's
observer with a monotonic clock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import platform
import time
import uuid
from typing import Any

from tqdm import tqdm

from .chain import Dispatcher, Keys, TaskRequest, Worker
from .protocol import Kind
from .protocol import variant as protocol_variant
from .scenario import Draws, Scenario, Slot
from .target import RedisTarget, redis_target
from .topology import GATEWAY, Topology
from .trace import Recorder, RunResult, classify

STRAGGLER_SLACK = 2.0  # seconds granted beyond the longest drawn straggler
PROTOCOL_COMMANDS = ("publish", "evalsha", "eval")  # what the protocol sends: one per step
WARM_CONNECTIONS = 64  # at most this many connections per client are opened before the run


def run_redis(
    scenario: Scenario, redis_url: str | None = None, *, progress: bool | None = None
) -> RunResult:
    """Run ``scenario`` on Redis and return its trace; also works inside a running loop."""
    coro = arun_redis(scenario, redis_url, progress=progress)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # e.g. a Jupyter cell
        return pool.submit(asyncio.run, coro).result()


async def arun_redis(
    scenario: Scenario, redis_url: str | None = None, *, progress: bool | None = None
) -> RunResult:
    """``run_redis`` for code already inside an event loop."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    with redis_target(redis_url) as target:
        return await _Run(scenario, target, progress).run()


class _Run:
    def __init__(self, scenario: Scenario, target: RedisTarget, progress: bool | None) -> None:
        self.sc = scenario
        self.target = target
        self.progress = progress
        self.keys = Keys(prefix=f"tclab-{uuid.uuid4().hex[:10]}")
        self.topology = Topology.of(scenario)
        self.draws: Draws = scenario.draws()
        self.t0 = time.monotonic()
        self.rec = Recorder(lambda: time.monotonic() - self.t0)
        self.released = asyncio.Event()  # crashed workers stay silent until this is set
        needs_expect = protocol_variant(scenario.variant).needs_expect
        self.expect = self.topology.workers_on() if needs_expect else {}
        self.workers: dict[str, Worker] = {}
        self.sub_dispatchers: dict[str, Dispatcher] = {}
        self.clients: list[Any] = []

    def _dispatch_kwargs(self, task: str) -> dict[str, Any]:
        return {
            "variant": self.sc.variant,
            "probe_window": self.sc.probe_window,
            "deadline": self.sc.deadline,
            "grace": self.sc.grace,
            "expect": self.expect.get(task),  # None unless the variant needs it
        }

    def _interest(self, slot: Slot):
        j = slot.index

        async def interested(req: TaskRequest) -> bool:
            i = req.payload["i"]
            await asyncio.sleep(self.draws.claim_delay[i, j])
            return bool(self.draws.interested[i, j])

        return interested

    def _work(self, slot: Slot):
        j = slot.index

        async def work(req: TaskRequest) -> dict[str, Any]:
            i = req.payload["i"]
            if self.draws.crashed[i, j]:
                self.rec.add(self.rec.clock(), req.request_id, req.task, slot.name, Kind.CRASH)
                await self.released.wait()
                raise asyncio.CancelledError  # a crashed worker never answers
            await asyncio.sleep(self.draws.work_time[i, j])
            if slot.subtask is not None:
                await self.sub_dispatchers[slot.name].dispatch(
                    slot.subtask,
                    {"i": i},
                    parent=req.request_id,
                    **self._dispatch_kwargs(slot.subtask),
                )
            return {"worker": slot.name}

        return work

    def _new_client(self):
        client = self.target.make_client()
        self.clients.append(client)
        return client

    def _build(self) -> Dispatcher:
        new = self._new_client
        obs = self.rec.observe
        for slot in self.topology.slots:
            if slot.name not in self.workers:
                self.workers[slot.name] = Worker(
                    new(), name=slot.name, keys=self.keys, observer=obs, max_in_flight=100_000
                )
            self.workers[slot.name].on(slot.task, self._work(slot), interested=self._interest(slot))
            if slot.subtask is not None and slot.name not in self.sub_dispatchers:
                self.sub_dispatchers[slot.name] = Dispatcher(
                    new(), name=slot.name, keys=self.keys, observer=obs
                )
        return Dispatcher(new(), name=GATEWAY, keys=self.keys, observer=obs)

    async def run(self) -> RunResult:
        gateway = self._build()
        endpoints = [gateway, *self.sub_dispatchers.values(), *self.workers.values()]
        wall = time.perf_counter()
        try:
            await asyncio.gather(*(e.start() for e in endpoints))
            await self._warm_up()
            before = await _command_counts(gateway.redis)
            self.t0 = time.monotonic()
            await self._requests(gateway)
            self.released.set()
            await self._wait_for_stragglers()
            counted = _difference(before, await _command_counts(gateway.redis))
            malformed = sum(e.malformed for e in endpoints)
            late = sum(d.late_partials for d in (gateway, *self.sub_dispatchers.values()))
            info = await self._cleanup(gateway)
        finally:
            self.released.set()
            await asyncio.gather(*(e.close() for e in endpoints), return_exceptions=True)
            await asyncio.gather(*(c.aclose() for c in self.clients), return_exceptions=True)
        events = self.rec.events()
        if counted["redis_commands"] is not None and protocol_variant(self.sc.variant).claims:
            # a claim variant broadcasts from inside its open-and-publish script, and Redis
            # counts that PUBLISH as well as the script: one command, not two
            counted["redis_commands"] -= int((events["kind"] == Kind.DISPATCH).sum())
        meta = {
            **self.target.info,
            **info,
            "source": self.target.source,
            "wall_seconds": time.perf_counter() - wall,
            "malformed_messages": malformed,
            "late_partials_seen": late,
            **counted,
            "python": platform.python_version(),
            "machine": platform.machine(),
            **_versions(),
        }
        return RunResult(self.target.backend, self.sc, events, classify(events), meta)

    async def _warm_up(self) -> None:
        """Open the connections the run will need before the clock starts.

        redis-py gives each command in flight a connection of its own; opening one costs
        several round trips, which would otherwise land on the first requests' latency.
        """
        width = min(self.sc.concurrency, WARM_CONNECTIONS)
        await asyncio.gather(*(c.ping() for c in self.clients for _ in range(width)))

    async def _requests(self, gateway: Dispatcher) -> None:
        slots = asyncio.Semaphore(self.sc.concurrency)
        bar = tqdm(
            total=self.sc.requests,
            desc=f"{self.target.backend} requests",
            disable=(None if self.progress is None else not self.progress),
            leave=False,
        )

        async def one(i: int) -> None:
            try:
                await gateway.dispatch(
                    self.sc.task, {"i": i}, **self._dispatch_kwargs(self.sc.task)
                )
            finally:
                slots.release()
                bar.update()

        jobs = []
        try:
            for i in range(self.sc.requests):
                await slots.acquire()
                jobs.append(asyncio.create_task(one(i)))
            await asyncio.gather(*jobs)
        finally:
            for j in jobs:
                j.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            bar.close()

    async def _wait_for_stragglers(self) -> None:
        """Let late claimers and slow workers finish, so their steps are in the trace."""
        d = self.draws
        budget = float((d.claim_delay + d.work_time).max(initial=0.0)) + STRAGGLER_SLACK
        if self.sub_dispatchers:  # a worker may still wait for its subtask's final
            budget += self.sc.deadline
        await asyncio.gather(*(w.drain(budget) for w in self.workers.values()))

    async def _cleanup(self, gateway: Dispatcher) -> dict[str, Any]:
        """Count and delete what the run left (claim lists that late claims recreated,
        markers of requests whose clean-up failed); read the server's version."""
        r = gateway.redis
        left = {}
        for kind, pattern in (
            ("claims", self.keys.claim_lists_pattern()),
            ("open", self.keys.markers_pattern()),
        ):
            keys = [k async for k in r.scan_iter(match=pattern, count=1000)]
            if keys:
                await r.delete(*keys)
            left[kind] = len(keys)
        rest = [k async for k in r.scan_iter(match=self.keys.pattern(), count=1000)]
        if rest:  # a key of ours the protocol does not know: say so, and remove it
            await r.delete(*rest)
        info: dict[str, Any] = {
            "claim_lists_recreated": left["claims"],  # recreated by claims after the answer
            "markers_left": left["open"],  # requests never closed (a failed clean-up)
            "other_keys_deleted": len(rest),
        }
        if self.target.backend == "fakeredis":
            from importlib.metadata import version

            return {**info, "redis_version": f"fakeredis {version('fakeredis')}"}
        server = await r.info("server")
        return {**info, "redis_version": server.get("redis_version")}


async def _command_counts(client) -> dict[str, int] | None:
    """Calls so far of each protocol command, from ``INFO commandstats`` (None where the
    server does not keep them, e.g. fakeredis)."""
    try:
        stats = await client.info("commandstats")
    except Exception:
        return None
    counts = {c: int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in PROTOCOL_COMMANDS}
    return counts if stats else None


def _difference(before: dict | None, after: dict | None) -> dict[str, int | None]:
    """What the run sent: Redis commands (one per protocol step) and bus messages."""
    if before is None or after is None:
        return {"redis_commands": None, "bus_messages": None}
    sent = {c: after[c] - before[c] for c in PROTOCOL_COMMANDS}
    return {"redis_commands": sum(sent.values()), "bus_messages": sent["publish"]}


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = {
        "trustchain_lab": "trustchain_lab",
        "redis": "redis_py",
        "numpy": "numpy",
        "pandas": "pandas",
    }
    return {f"{short}_version": version(p) for p, short in names.items()}
