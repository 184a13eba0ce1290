"""The SimPy model: the protocol core (``trustchain_lab.protocol``) run on modelled delays.

What decides races and latency is represented explicitly:

- the Redis server is one FIFO queue: a command reaches it ``one_way`` after it leaves its
  client and is applied ``service`` after the server is free; list state changes at that
  server time, which is what decides a claim race;
- a PUBLISH costs the server ``per_subscriber`` per subscriber and reaches subscriber k
  (in subscription order) ``k * per_subscriber + one_way`` after it was applied;
- every client operation (sending a command, handling a message, reading a claim-list
  reply, a worker deciding when its claim-delay timer fires) costs ``client_cost`` of
  client CPU, one CPU per actor or one shared by all (``Network.shared_client_cpu``), plus
  ``wake`` when it finds that CPU idle; processes with a CPU each share ``cores`` cores;
- a dispatcher's per-request state machine (the same ``Collector`` the reference
  implementation runs) has at most one claim-list command in flight; replies and timers
  that come meanwhile wait for its answer.

Every claim-list script costs one command, whatever the variant. Queues are computed
arithmetically when a command is sent (a FIFO server needs no SimPy resource), and list
state is updated in send order. With a shared CPU, send order is server order; with one
CPU per actor, two commands sent less than one CPU operation apart may be applied in the
other order.
"""

from __future__ import annotations

import gc
import math
from heapq import heappush
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import simpy
from simpy.events import NORMAL
from tqdm import tqdm

from ..protocol import (
    Action,
    Close,
    Collector,
    Final,
    Kind,
    MemoryClaims,
    Note,
    Pop,
    ReadLength,
    SetTimer,
    variant,
)
from ..scenario import Scenario
from ..topology import Topology
from .network import Network

KINDS = tuple(Kind)
CODE = {k: n for n, k in enumerate(KINDS)}
DISPATCH, DELIVER, INTEREST, CLAIM, CLAIM_REFUSED, WORK_START, CRASH, WORK_END, PARTIAL_SENT = (
    CODE[k]
    for k in (
        Kind.DISPATCH,
        Kind.DELIVER,
        Kind.INTEREST,
        Kind.CLAIM,
        Kind.CLAIM_REFUSED,
        Kind.WORK_START,
        Kind.CRASH,
        Kind.WORK_END,
        Kind.PARTIAL_SENT,
    )
)
FINAL = CODE[Kind.FINAL]
NAN = math.nan


class _Trace:
    """Trace rows as 7-tuples (t, request, task, actor, kind, value, note): appended to a
    list (cheap), packed by ``pack`` into one typed array per column (33 bytes a row)."""

    BLOCK = 1 << 16
    TYPES = (np.float64, np.int32, np.int32, np.int32, np.int8, np.float64, np.int32)

    def __init__(self) -> None:
        self.blocks: list[list[np.ndarray]] = [[] for _ in self.TYPES]
        self.rows: list[tuple] = []

    def pack(self) -> None:
        if self.rows:
            flat = np.fromiter(chain.from_iterable(self.rows), float, 7 * len(self.rows))
            flat = flat.reshape(-1, 7)
            for col, (blocks, kind) in enumerate(zip(self.blocks, self.TYPES, strict=True)):
                blocks.append(flat[:, col].astype(kind))
            self.rows.clear()

    def columns(self) -> list[np.ndarray]:
        """The columns, time-ordered (stable); the blocks are released as they are joined."""
        self.pack()
        joined = []
        for col, kind in enumerate(self.TYPES):
            blocks, self.blocks[col] = self.blocks[col], []
            joined.append(np.concatenate(blocks) if blocks else np.empty(0, kind))
            del blocks
        order = np.argsort(joined[0], kind="stable").astype(np.int32)  # half the memory
        for col in range(len(joined)):
            joined[col] = joined[col][order]
        return joined


class _Call:
    """The lightest event SimPy's loop can process: a value and its callbacks."""

    __slots__ = ("_value", "callbacks")
    _ok = True  # SimPy only reads it

    def __init__(self, callbacks: tuple, value: Any) -> None:
        self._value = value
        self.callbacks = callbacks


class _Request:
    """One request: the core's state machine and where the model keeps its own data.

    ``interested`` ... ``crashed`` are the draws of its row (``Scenario.draws()``, row ``i``,
    shared with its subrequests) as Python lists: indexing a list costs a fraction of
    indexing a numpy array, and gives the same numbers.
    """

    __slots__ = (
        "c",
        "claim_delay",
        "code",
        "crashed",
        "dispatcher",
        "i",
        "interested",
        "on_final",
        "task",
        "work_time",
    )

    def __init__(
        self,
        c: Collector,
        code: int,
        task: int,
        i: int,
        dispatcher: int,
        on_final: _Visit | None,
    ) -> None:
        self.c, self.code, self.task, self.i = c, code, task, i
        self.dispatcher, self.on_final = dispatcher, on_final


class _Visit:
    """Slot ``j`` of a request (worker ``actor``), and the SimPy event of its next step.

    A slot's steps (delivery, decision, work, reply) come one after another, so one object
    serves as the event of each in turn (``Model.next_step`` sets its ``callbacks``; SimPy
    clears them when it processes the event): no new event object per step.
    """

    __slots__ = ("actor", "callbacks", "j", "req")
    _ok = True  # SimPy only reads it

    def __init__(self, req: _Request, j: int, actor: int) -> None:
        self.req, self.j, self.actor = req, j, actor


class Model:
    """One simulated run of a scenario; ``run()`` returns its events table and metadata."""

    def __init__(
        self, scenario: Scenario, network: Network | None = None, progress: bool | None = None
    ) -> None:
        self.sc = scenario
        self.net = network or Network()
        self.progress = progress
        self.env = simpy.Environment()
        topo = Topology.of(scenario)
        self.draws = scenario.draws()
        self.kind = variant(scenario.variant)
        self.claims_first = self.kind.on_interest(True) is Action.CLAIM  # else work at once
        self.declines = self.kind.on_interest(False) is Action.DECLINE  # else stay silent
        self.check_seal = self.kind.seals  # claims are refused once the request is closed
        self.opens = self.kind.claims  # the claim variants mark their requests open
        self.timing = {
            "probe_window": scenario.probe_window,
            "deadline": scenario.deadline,
            "grace": scenario.grace,
        }
        workers_on = topo.workers_on()
        self.expect = [workers_on[t] if self.kind.needs_expect else None for t in topo.tasks]
        self.tasks = list(topo.tasks)
        task_code = {t: k for k, t in enumerate(self.tasks)}
        self.actors = list(topo.actors)
        actor_code = {a: k for k, a in enumerate(self.actors)}
        self.slot_actor = [actor_code[s.name] for s in topo.slots]
        self.slot_sub = [None if s.subtask is None else task_code[s.subtask] for s in topo.slots]
        self.subscribers = topo.subscribers
        self.notes: dict[str, int] = {}
        self.worker_note = [self._note(s.name) for s in topo.slots]
        self.rids: list[str] = []
        self.claims = MemoryClaims()
        n_cpus = 1 if self.net.shared_client_cpu else len(self.actors)
        self.cpu_free = [-math.inf] * n_cpus  # idle since ever: the first op wakes it
        shared_cores = 0 if self.net.shared_client_cpu else self.net.cores
        self.core_free = [0.0] * shared_cores  # empty: no core is shared
        self._last_core = 0
        self.server_free = 0.0
        self.cpu_ops = 0  # client operations charged
        self.wakes = 0  # of which found their CPU idle
        self.commands = 0  # Redis commands sent
        self.publishes = 0  # bus messages: broadcasts and replies
        self.trace = _Trace()
        self._append = self.trace.rows.append
        self._queue = self.env._queue
        self._eid = self.env._eid
        net = self.net
        self._ow, self._service, self._ps = net.one_way, net.service, net.per_subscriber
        self._cost, self._shared = net.client_cost, net.shared_client_cpu
        self._wake = net.wake
        # The model's steps as events' callbacks, bound once (not at every event).
        self._task_arrives, self._decided = (self.task_arrives,), (self.decided,)
        self._worked, self._work_done = (self.worked,), (self.work_done,)
        self._partial_arrives, self._counted = (self.partial_arrives,), (self.counted,)
        self._timer_fired, self._request_done = (self.timer_fired,), (self.request_done,)
        self.next_index = 0
        self.finished = 0
        self.last_done = 0.0  # when the last request's dispatch returned
        self.bar: Any = None

    # --- infrastructure -------------------------------------------------------------------
    def _note(self, text: str) -> int:
        return self.notes.setdefault(text, len(self.notes))

    def at(self, when: float, callbacks: tuple, arg: Any) -> None:
        """Call ``callbacks`` (one bound method, in a tuple made in ``__init__``) with an
        event holding ``arg`` at simulated time ``when`` (never earlier than now).

        The event goes straight onto SimPy's queue with normal priority, as a ``Timeout``
        would, without a ``Timeout``'s bookkeeping.
        """
        now = self.env._now
        heappush(
            self._queue,
            (when if when > now else now, NORMAL, next(self._eid), _Call(callbacks, arg)),
        )

    def next_step(self, when: float, visit: _Visit, callbacks: tuple) -> None:
        """As ``at``, with ``visit`` itself as the event (see ``_Visit``)."""
        visit.callbacks = callbacks
        now = self.env._now
        heappush(self._queue, (when if when > now else now, NORMAL, next(self._eid), visit))

    def cpu(self, actor: int, t: float) -> float:
        """One client operation by ``actor`` from ``t``; returns when it is done (an idle
        CPU first pays ``Network.wake``)."""
        k = 0 if self._shared else actor
        self.cpu_ops += 1
        free = self.cpu_free[k]
        if t > free:  # idle before t (an op chained right after another is not woken)
            start, cost = t, self._cost + self._wake
            self.wakes += 1
        else:
            start, cost = free, self._cost
        if self.core_free:  # processes share the machine's cores: the first one free
            start = self._core(start)
        done = start + cost
        self.cpu_free[k] = done
        if self.core_free:
            self.core_free[self._last_core] = done
        return done

    def _core(self, start: float) -> float:
        """The earliest a core is free from ``start`` (remembers which core, for the op)."""
        cores = self.core_free
        j = min(range(len(cores)), key=cores.__getitem__)
        self._last_core = j
        return cores[j] if cores[j] > start else start

    def send(self, actor: int, t: float, subscribers: int = 0) -> float:
        """``actor`` sends a command from ``t`` (one client operation, as ``cpu``, inlined:
        one call fewer per command); returns when the server applies it."""
        k = 0 if self._shared else actor
        self.cpu_ops += 1
        free = self.cpu_free[k]
        if t > free:  # idle before t (an op chained right after another is not woken)
            start, cost = t, self._cost + self._wake
            self.wakes += 1
        else:
            start, cost = free, self._cost
        if self.core_free:
            start = self._core(start)
        sent = start + cost
        self.cpu_free[k] = sent
        if self.core_free:
            self.core_free[self._last_core] = sent
        self.commands += 1
        arrive = sent + self._ow
        free = self.server_free
        applied = (arrive if arrive > free else free) + self._service
        self.server_free = applied + subscribers * self._ps if subscribers else applied
        return applied

    def rec(
        self, t: float, req: _Request, actor: int, kind: int, value: float = NAN, note: int = -1
    ) -> None:
        self._append((t, req.code, req.task, actor, kind, value, note))

    # --- the dispatcher: carry out the core's commands -------------------------------------
    def dispatch(
        self,
        task: int,
        i: int,
        dispatcher: int,
        parent: _Request | None,
        on_final: _Visit | None,
    ) -> None:
        code = len(self.rids)
        self.rids.append(f"r{i}" if parent is None else f"r{i}.{code}")
        subs = self.subscribers[task]
        c = self.kind(**self.timing, expect=self.expect[task])
        req = _Request(c, code, task, i, dispatcher, on_final)
        if parent is None:  # the row's draws as lists, once per row (see _Request)
            d = self.draws
            row = d.interested[i], d.claim_delay[i], d.work_time[i], d.crashed[i]
            req.interested, req.claim_delay, req.work_time, req.crashed = (r.tolist() for r in row)
        else:
            req.interested, req.claim_delay = parent.interested, parent.claim_delay
            req.work_time, req.crashed = parent.work_time, parent.crashed
        now = self.env._now
        parent_note = -1 if parent is None else self._note(self.rids[parent.code])
        self.rec(now, req, dispatcher, DISPATCH, NAN, parent_note)
        applied = self.send(dispatcher, now, len(subs))
        if self.opens:  # the broadcast opens the request (its marker) in the same step
            self.claims.open(code)
        self.publishes += 1
        ps, ow, slot_actor, step = self._ps, self._ow, self.slot_actor, self._task_arrives
        for k, j in enumerate(subs):
            self.next_step(applied + (k + 1) * ps + ow, _Visit(req, j, slot_actor[j]), step)
        start = applied + len(subs) * ps + ow  # the publish returned: collecting starts
        self.carry_out(req, start, c.published(len(subs)))

    def carry_out(self, req: _Request, t: float, commands: list) -> None:
        """Execute the core's commands for ``req`` from time ``t``, in order."""
        d = req.dispatcher
        finished = False
        for cmd in commands:
            kind = type(cmd)
            if kind is Note:
                step, value, worker = cmd
                note = -1 if worker is None else self.worker_note[worker]
                self._append(
                    (t, req.code, req.task, d, CODE[step], NAN if value is None else value, note)
                )
            elif kind is Pop:
                applied = self.send(d, t)
                n = self.claims.pop(req.code, cmd.worker, cmd.seal)
                self.at(applied + self._ow, self._counted, (req, n))
            elif kind is SetTimer:
                self.at(t + cmd.after, self._timer_fired, (req, cmd.timer, cmd.token))
            elif kind is ReadLength:
                applied = self.send(d, t)
                n = self.claims.length(req.code, cmd.seal)
                self.at(applied + self._ow, self._counted, (req, n))
            elif kind is Final:
                finished = True
                self.rec(t, req, d, FINAL, len(req.c.accepted), self._note(str(cmd.reason)))
            elif kind is Close:  # dispatch() returns once the server answered
                t = self.send(d, t) + self._ow
                self.claims.close(req.code)
        if finished:
            if req.on_final is not None:
                self.next_step(t, req.on_final, self._work_done)
            else:
                self.at(t, self._request_done, None)

    def partial_arrives(self, v: _Visit) -> None:
        req = v.req
        self.carry_out(req, self.cpu(req.dispatcher, self.env._now), req.c.partial(v.j))

    def counted(self, ev: _Call) -> None:
        req, n = ev._value  # reading the reply is a client operation of the dispatcher
        self.carry_out(req, self.cpu(req.dispatcher, self.env._now), req.c.counted(n))

    def timer_fired(self, ev: _Call) -> None:
        req, timer, token = ev._value
        self.carry_out(req, self.env._now, req.c.timer(timer, token))

    # --- the workers (each step is called with the slot's _Visit) ---------------------------
    def task_arrives(self, v: _Visit) -> None:
        req, w = v.req, v.actor
        done = self.cpu(w, self.env._now)
        self._append((done, req.code, req.task, w, DELIVER, NAN, -1))
        self.next_step(done + req.claim_delay[v.j], v, self._decided)

    def decided(self, v: _Visit) -> None:
        req, j, w = v.req, v.j, v.actor
        now = self.cpu(w, self.env._now)  # the claim-delay timer wakes the worker's handler
        wanted = req.interested[j]
        append, code, task = self._append, req.code, req.task
        append((now, code, task, w, INTEREST, 1.0 if wanted else 0.0, -1))
        if not wanted:
            if self.declines:
                self.reply(v, now)
            return
        start = now
        if self.claims_first:
            start = self.send(w, now) + self._ow
            if not self.claims.claim(code, j, self.check_seal):
                append((start, code, task, w, CLAIM_REFUSED, NAN, -1))
                return
            append((start, code, task, w, CLAIM, NAN, -1))
        append((start, code, task, w, WORK_START, NAN, -1))
        if req.crashed[j]:
            append((start, code, task, w, CRASH, NAN, -1))
            return
        self.next_step(start + req.work_time[j], v, self._worked)

    def worked(self, v: _Visit) -> None:
        sub = self.slot_sub[v.j]
        if sub is not None:  # the work ends when the subtask's answer is back
            req = v.req
            self.dispatch(sub, req.i, v.actor, req, v)
        else:
            self.work_done(v)

    def work_done(self, v: _Visit) -> None:
        req, now = v.req, self.env._now
        self._append((now, req.code, req.task, v.actor, WORK_END, NAN, -1))
        self.reply(v, now)

    def reply(self, v: _Visit, now: float) -> None:
        """Publish the partial (or decline) on the dispatcher's reply channel."""
        req, w = v.req, v.actor
        applied = self.send(w, now, 1)
        self.publishes += 1
        arrives = applied + self._ps + self._ow
        self._append((arrives, req.code, req.task, w, PARTIAL_SENT, NAN, -1))
        self.next_step(arrives, v, self._partial_arrives)

    # --- the load ---------------------------------------------------------------------------
    def request_done(self, ev: _Call) -> None:
        if len(self.trace.rows) >= _Trace.BLOCK:
            self.trace.pack()
        self.finished += 1
        self.last_done = self.env._now
        if self.bar is not None and self.finished % 1000 == 0:
            self.bar.update(1000)
        self.start_next()

    def start_next(self) -> None:
        if self.next_index < self.sc.requests:
            self.next_index += 1
            self.dispatch(0, self.next_index - 1, 0, None, None)

    def run(self) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Simulate every request; the events table and the run's metadata."""
        self.bar = tqdm(
            total=self.sc.requests,
            desc="sim requests",
            leave=False,
            disable=None if self.progress is None else not self.progress,
        )
        enabled = gc.isenabled()
        gc.disable()  # the model makes no cycles; collecting during the run costs ~25%
        try:
            for _ in range(min(self.sc.concurrency, self.sc.requests)):
                self.start_next()
            self.env.run()
        finally:
            if enabled:
                gc.enable()
            self.bar.update(self.finished % 1000)
            self.bar.close()
        meta = {
            "network": self.net.to_dict(),
            "simpy_events": next(self._eid),  # every event SimPy scheduled (and processed)
            "client_ops": self.cpu_ops,
            "client_wakes": self.wakes,
            "redis_commands": self.commands,
            "bus_messages": self.publishes,
            "claim_lists_recreated": len(self.claims.lists),  # recreated by claims after the answer
            "sim_seconds": self.last_done,  # not env.now: idle deadline timers run on
        }
        return self.events(), meta

    def events(self) -> pd.DataFrame:
        t, rid, task, actor, kind, value, note = self.trace.columns()

        def cat(codes: np.ndarray, names: list) -> pd.Categorical:
            return pd.Categorical.from_codes(codes, categories=names, validate=False)

        return pd.DataFrame(
            {
                "t": t,
                "request_id": cat(rid, self.rids),
                "task": cat(task, self.tasks),
                "actor": cat(actor, self.actors),
                "kind": cat(kind, [str(k) for k in KINDS]),
                "value": value,
                "note": cat(note, list(self.notes)),
            },
            copy=False,  # 13 million rows for 100,000 requests x 16: no second copy
        )
