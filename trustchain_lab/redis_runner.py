"""Run a ``Scenario`` on the reference implementation over Redis (or fakeredis).

The gateway (the top-level dispatcher) runs in this process; the lab's workers
(``LabWorkers``) run here too (placement ``"inline"``), or each in its own OS process
(``"processes"``, ``worker_host``), or each in its own network namespace (``"hosts"``,
``netns``); a ``Link`` puts a delaying proxy (``link``) on every connection to Redis. Every
step is stamped with the system-wide monotonic clock, so the logs merge into one trace.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import platform
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from tqdm import tqdm

from . import timers
from .chain import Dispatcher, Keys, redis_client
from .lab_workers import LabWorkers, dispatch_kwargs, straggler_budget
from .link import LISTEN_HOST, Link, LinkProxy
from .netns import HostNetwork, check_namespaces
from .protocol import Kind
from .protocol import variant as protocol_variant
from .scenario import Scenario
from .target import NoRedisError, RedisTarget, redis_target
from .topology import GATEWAY, Topology
from .trace import Recorder, RunResult, classify
from .worker_host import ProcessWorkers

PROTOCOL_COMMANDS = ("publish", "evalsha", "eval")  # what the protocol sends: one per step


PLACEMENTS = ("inline", "processes", "hosts")


def run_redis(
    scenario: Scenario,
    redis_url: str | None = None,
    *,
    placement: str = "inline",
    link: Link | None = None,
    progress: bool | None = None,
) -> RunResult:
    """Run ``scenario`` on Redis and return its trace; also works inside a running loop.

    ``placement``: ``"inline"`` runs every worker in this process and event loop;
    ``"processes"`` each worker (with its sub-dispatcher) in its own OS process;
    ``"hosts"`` each such process in its own network namespace, reaching Redis over veth
    pairs and a bridge (root and ``ip`` needed). ``link``: a ``Link`` whose one-way delay
    every connection to Redis crosses (through a delaying proxy in its own process).
    """
    coro = arun_redis(scenario, redis_url, placement=placement, link=link, progress=progress)
    # timers on time (the drawn sleeps are what the model has), unless too many sockets:
    # two per endpoint in this process, and a few for the run itself
    sockets = 2 * _endpoints(scenario, placement) + 16
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return timers.run(coro, sockets)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # e.g. a Jupyter cell
        return pool.submit(timers.run, coro, sockets).result()


async def arun_redis(
    scenario: Scenario,
    redis_url: str | None = None,
    *,
    placement: str = "inline",
    link: Link | None = None,
    progress: bool | None = None,
) -> RunResult:
    """``run_redis`` for code already inside an event loop (on the default epoll loop,
    timers fire up to 1 ms late: ``run_redis`` runs on a ``timers.fine_timer_loop``)."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    if link is not None and not isinstance(link, Link):
        raise TypeError(f"link must be a trustchain_lab.Link, got {type(link).__name__}")
    if placement == "hosts":
        check_namespaces()  # before any server is started: root and `ip`, or one line
    with redis_target(redis_url) as target:
        if target.backend == "fakeredis" and (placement != "inline" or link is not None):
            raise NoRedisError(
                f"placement={placement!r}"
                + (" with a link" if link is not None else "")
                + " needs a real Redis (fakeredis lives inside one process): set REDIS_URL, "
                "pass redis_url, or install redis-server"
            )
        with ExitStack() as stack:  # everything made here is removed on any exit
            url, listen, launcher = target.url, LISTEN_HOST, _same_host
            if placement == "hosts":
                net = stack.enter_context(HostNetwork(len(Topology.of(scenario).actors) - 1))
                listen, launcher = net.bridge_ip, net.launcher
            if link is not None or placement == "hosts":  # hosts reach Redis via the bridge
                every = _endpoints(scenario, "inline")  # wherever they run, all cross it
                proxy = LinkProxy(
                    url,
                    link or Link(),
                    seed=scenario.seed,
                    listen=listen,
                    connections=2 * every + 8,
                )
                url = stack.enter_context(proxy).url
            run = _Run(scenario, target, url, placement, launcher, link, progress)
            return await run.run()


def _same_host(k: int) -> list[str]:
    return []


def _endpoints(scenario: Any, placement: str) -> int:
    """Endpoints (each with two connections) in this process: the gateway, and inline
    every worker and every worker's sub-dispatcher."""
    if placement != "inline" or not isinstance(scenario, Scenario):
        return 1
    topology = Topology.of(scenario)
    return len(topology.actors) + len(topology.sub_dispatchers)


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        target: RedisTarget,
        url: str,
        placement: str,
        launcher: Callable[[int], list[str]],
        link: Link | None,
        progress: bool | None,
    ) -> None:
        self.sc = scenario
        self.target = target
        self.url = url  # the Redis every actor talks to (through the link, if any)
        self.placement = placement
        self.launcher = launcher  # the command prefix of worker process k
        self.link = link
        self.progress = progress
        self.keys = Keys(prefix=f"tclab-{uuid.uuid4().hex[:10]}")
        self.topology = Topology.of(scenario)
        self.kwargs = dispatch_kwargs(scenario, self.topology)[scenario.task]
        self.log = Recorder()  # system-wide monotonic clock: every process stamps alike
        self.clients: list[Any] = []

    def _new_client(self):
        client = (
            redis_client(self.url) if self.url != self.target.url else self.target.make_client()
        )
        self.clients.append(client)
        return client

    def _workers(self):
        if self.placement == "inline":
            return LabWorkers(self.sc, self.keys, self._new_client, self.log)
        names = [[name] for name in self.topology.actors if name != GATEWAY]
        return ProcessWorkers(self.sc, self.keys.prefix, self.url, names, self.launcher)

    async def run(self) -> RunResult:
        gateway = Dispatcher(
            self._new_client(), name=GATEWAY, keys=self.keys, observer=self.log.observe
        )
        workers = self._workers()
        wall = time.perf_counter()
        try:
            await workers.start()
            await gateway.start()
            await gateway.ping()
            before = await _command_counts(gateway.redis)
            server_cpu = await _server_cpu(gateway.redis)
            budget = straggler_budget(self.sc, self.topology, self.sc.draws())
            cpu, t0 = time.process_time(), time.monotonic()
            await self._requests(gateway)
            logs = await workers.drain(budget)  # the hosts' logs (inline: in ours already)
            cpu = time.process_time() - cpu  # this process: the gateway (and inline workers)
            for steps in logs:
                self.log.extend(steps)
            server_cpu = await _server_cpu(gateway.redis) - server_cpu
            counted = _difference(before, await _command_counts(gateway.redis))
            counters = workers.counters()
            malformed = counters["malformed"] + gateway.malformed
            late = counters["late"] + gateway.late_partials
            info = await self._cleanup(gateway)
        finally:
            await workers.close()
            await gateway.close()
            await asyncio.gather(*(c.aclose() for c in self.clients), return_exceptions=True)
        events = self.log.events()
        events["t"] -= t0
        if counted["redis_commands"] is not None and protocol_variant(self.sc.variant).claims:
            # a claim variant broadcasts from inside its open-and-publish script, and Redis
            # counts that PUBLISH as well as the script: one command, not two
            counted["redis_commands"] -= int((events["kind"] == Kind.DISPATCH).sum())
        meta = {
            **self.target.info,
            **info,
            "source": self.target.source,
            "placement": self.placement,
            "timers": "select (on time)" if timers.precise() else "epoll (up to 1 ms late)",
            "link": None if self.link is None else dataclasses.asdict(self.link),
            "wall_seconds": time.perf_counter() - wall,
            "malformed_messages": malformed,
            "client_cpu_seconds": cpu + counters.get("cpu_seconds", 0.0),
            "server_cpu_seconds": server_cpu,
            "late_partials_seen": late,
            **counted,
            "python": platform.python_version(),
            "machine": platform.machine(),
            **_versions(),
        }
        return RunResult(self.target.backend, self.sc, events, classify(events), meta)

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
                await gateway.dispatch(self.sc.task, {"i": i}, **self.kwargs)
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


async def _server_cpu(client) -> float:
    """CPU seconds the Redis server has used (NaN where it does not say, e.g. fakeredis)."""
    try:
        info = await client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    except Exception:
        return float("nan")


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
