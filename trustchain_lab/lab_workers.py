"""The lab's workers: ``chain`` endpoints whose interest and work follow a scenario's draws.

Each worker's interest rule sleeps the drawn claim delay and answers the drawn interest;
its work sleeps the drawn work time (and dispatches the subtask, if any: that worker is a
dispatcher too). A crashed worker records its crash and stays silent until released. The
same class runs every worker of a run in the caller's loop (placement ``"inline"``) or a
few of them in a worker process (``worker_host``): the scenario alone decides what they do,
so every process draws the same numbers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from .chain import Dispatcher, Keys, TaskRequest, Worker
from .protocol import Kind
from .protocol import variant as protocol_variant
from .scenario import Draws, Scenario, Slot
from .steps import StepLog
from .topology import Topology

STRAGGLER_SLACK = 2.0  # seconds granted beyond the longest drawn straggler


def dispatch_kwargs(scenario: Scenario, topology: Topology) -> dict[str, dict[str, Any]]:
    """Per task, what every dispatcher of a run passes to ``Dispatcher.dispatch``."""
    needs_expect = protocol_variant(scenario.variant).needs_expect
    workers_on = topology.workers_on()
    return {
        task: {
            "variant": scenario.variant,
            "probe_window": scenario.probe_window,
            "deadline": scenario.deadline,
            "grace": scenario.grace,
            "expect": workers_on.get(task) if needs_expect else None,
        }
        for task in topology.tasks
    }


def straggler_budget(scenario: Scenario, topology: Topology, draws: Draws) -> float:
    """Seconds to let late claimers and slow workers finish after the last answer."""
    budget = float((draws.claim_delay + draws.work_time).max(initial=0.0)) + STRAGGLER_SLACK
    if topology.sub_dispatchers:  # a worker may wait for its subtask's final
        budget += scenario.deadline
    return budget


class LabWorkers:
    """The workers named ``names`` of ``scenario`` (every worker when ``names`` is None),
    each with its own connection from ``make_client``, stepping into ``log``."""

    def __init__(
        self,
        scenario: Scenario,
        keys: Keys,
        make_client: Callable[[], Any],
        log: StepLog,
        names: Iterable[str] | None = None,
    ) -> None:
        self.sc = scenario
        self.topology = Topology.of(scenario)
        self.draws = scenario.draws()
        self.kwargs = dispatch_kwargs(scenario, self.topology)
        self.log = log
        self.released = asyncio.Event()  # crashed workers stay silent until this is set
        self.clients: list[Any] = []
        self.workers: dict[str, Worker] = {}
        self.dispatchers: dict[str, Dispatcher] = {}
        wanted = None if names is None else set(names)

        def new() -> Any:
            client = make_client()
            self.clients.append(client)
            return client

        for slot in self.topology.slots:
            if wanted is not None and slot.name not in wanted:
                continue
            if slot.name not in self.workers:
                self.workers[slot.name] = Worker(
                    new(), name=slot.name, keys=keys, observer=log.observe, max_in_flight=100_000
                )
            self.workers[slot.name].on(slot.task, self._work(slot), interested=self._interest(slot))
            if slot.subtask is not None and slot.name not in self.dispatchers:
                self.dispatchers[slot.name] = Dispatcher(
                    new(), name=slot.name, keys=keys, observer=log.observe
                )

    @property
    def endpoints(self) -> list[Any]:
        return [*self.dispatchers.values(), *self.workers.values()]

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
                self.log.add(self.log.clock(), req.request_id, req.task, slot.name, Kind.CRASH)
                await self.released.wait()
                raise asyncio.CancelledError  # a crashed worker never answers
            await asyncio.sleep(self.draws.work_time[i, j])
            if slot.subtask is not None:
                await self.dispatchers[slot.name].dispatch(
                    slot.subtask,
                    {"i": i},
                    parent=req.request_id,
                    **self.kwargs[slot.subtask],
                )
            return {"worker": slot.name}

        return work

    async def start(self) -> None:
        """Connect and subscribe every endpoint, and open its command connection."""
        await asyncio.gather(*(e.start() for e in self.endpoints))
        await asyncio.gather(*(e.ping() for e in self.endpoints))

    async def drain(self, budget: float) -> list[dict[str, list[Any]]]:
        """Release crashed workers, then let stragglers finish (``budget`` seconds at
        most); their steps are already in the log, so no other log is returned."""
        self.released.set()
        await asyncio.gather(*(w.drain(budget) for w in self.workers.values()))
        return []

    def counters(self) -> dict[str, int]:
        """Malformed messages the endpoints saw, late partials the dispatchers saw."""
        return {
            "malformed": sum(e.malformed for e in self.endpoints),
            "late": sum(d.late_partials for d in self.dispatchers.values()),
        }

    async def close(self) -> None:
        self.released.set()
        await asyncio.gather(*(e.close() for e in self.endpoints), return_exceptions=True)
        await asyncio.gather(*(c.aclose() for c in self.clients), return_exceptions=True)
