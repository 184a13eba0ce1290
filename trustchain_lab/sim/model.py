"""The SimPy model of the seed variant (and of the known-recipients baseline).

What decides races and latency is represented explicitly:

- the Redis server is one FIFO queue: a command reaches it ``one_way`` after it leaves its
  client and is applied ``service`` after the server is free; list state changes at that
  server time, which is what decides a claim race;
- a PUBLISH costs the server ``per_subscriber`` per subscriber and reaches subscriber k
  (in subscription order) ``k * per_subscriber + one_way`` after it was applied;
- every client operation (sending a command, handling a message) costs ``client_cost`` of
  client CPU, one CPU per actor or one shared by all (``Network.shared_client_cpu``);
- a dispatcher handles the partials of a request one at a time, each with its pop round
  trip; the probe and the deadline wait while a pop or the probe is in flight, as the
  reference implementation's single collecting coroutine does.

Queues are computed arithmetically when a command is sent (a FIFO server needs no SimPy
resource), and list state is updated in send order. With a shared CPU, send order is
server order; with one CPU per actor, two commands sent less than one CPU operation apart
may be applied in the other order.
"""

from __future__ import annotations

import gc
import math
from collections import deque
from heapq import heappush
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import simpy
from simpy.events import NORMAL
from tqdm import tqdm

from ..chain.dispatcher import ALL_REPLIED, CLAIMS_DRAINED, DEADLINE, PROBE_EMPTY
from ..scenario import Scenario
from ..trace import RunResult, classify
from .network import Network

KINDS = (
    "dispatch",
    "deliver",
    "interest",
    "claim",
    "work_start",
    "crash",
    "work_end",
    "partial_sent",
    "partial_received",
    "partial_late",
    "pop",
    "probe",
    "final",
)
(
    DISPATCH,
    DELIVER,
    INTEREST,
    CLAIM,
    WORK_START,
    CRASH,
    WORK_END,
    PARTIAL_SENT,
    PARTIAL_RECEIVED,
    PARTIAL_LATE,
    POP,
    PROBE,
    FINAL,
) = range(len(KINDS))
NAN = math.nan


class _Trace:
    """Trace rows as 7-tuples (t, request, task, actor, kind, value, note): appended to a
    list (cheap), packed into float64 blocks by ``pack`` (56 bytes a row)."""

    BLOCK = 1 << 16

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.rows: list[tuple] = []

    def pack(self) -> None:
        if self.rows:
            flat = np.fromiter(chain.from_iterable(self.rows), float, 7 * len(self.rows))
            self.blocks.append(flat.reshape(-1, 7))
            self.rows.clear()

    def array(self) -> np.ndarray:
        self.pack()
        out = np.concatenate(self.blocks) if self.blocks else np.empty((0, 7))
        self.blocks = []
        return out


class _Call:
    """The lightest event SimPy's loop can process: a value and one callback."""

    __slots__ = ("_ok", "_value", "callbacks")

    def __init__(self, fn, value: Any) -> None:
        self._ok = True
        self._value = value
        self.callbacks = [fn]


class _Request:
    """State of one request at its dispatcher."""

    __slots__ = (
        "busy",
        "code",
        "deadline_due",
        "dispatcher",
        "done",
        "expect",
        "i",
        "on_final",
        "partials",
        "probe_due",
        "probed",
        "queue",
        "task",
    )

    def __init__(
        self,
        code: int,
        task: int,
        i: int,
        dispatcher: int,
        expect: int,
        on_final: tuple[_Request, int] | None,
    ) -> None:
        self.code, self.task, self.i, self.dispatcher = code, task, i, dispatcher
        self.expect, self.on_final = expect, on_final
        self.queue: deque[int] = deque()
        self.busy = self.done = self.probed = self.probe_due = self.deadline_due = False
        self.partials = 0


class Model:
    """One simulated run of a scenario; ``run()`` returns the ``RunResult``."""

    def __init__(
        self, scenario: Scenario, network: Network | None = None, progress: bool | None = None
    ) -> None:
        self.sc = scenario
        self.net = network or Network()
        self.progress = progress
        self.env = simpy.Environment()
        self.slots = scenario.slots()
        self.draws = scenario.draws()
        self.known = scenario.variant == "known"
        self.tasks = list(dict.fromkeys([scenario.task, *(s.task for s in self.slots)]))
        self.task_code = {t: k for k, t in enumerate(self.tasks)}
        self.actors = ["gateway", *dict.fromkeys(s.name for s in self.slots)]
        actor_code = {a: k for k, a in enumerate(self.actors)}
        self.slot_actor = [actor_code[s.name] for s in self.slots]
        self.slot_sub = [
            None if s.subtask is None else self.task_code[s.subtask] for s in self.slots
        ]
        self.subscribers: list[list[int]] = [
            [s.index for s in self.slots if s.task == t] for t in self.tasks
        ]
        self.notes: dict[str, int] = {}
        self.worker_note = [self._note(s.name) for s in self.slots]
        self.reason_note = {
            r: self._note(r) for r in (CLAIMS_DRAINED, PROBE_EMPTY, DEADLINE, ALL_REPLIED)
        }
        self.rids: list[str] = []
        self.lists: dict[int, int] = {}  # claim list length by request code
        self.cpu_free = [0.0] * (1 if self.net.shared_client_cpu else len(self.actors))
        self.server_free = 0.0
        self.scheduled = 0  # SimPy events this run scheduled (and so processed)
        self.cpu_ops = 0  # client operations charged
        self.trace = _Trace()
        self._append = self.trace.rows.append
        self._queue = self.env._queue
        self._eid = self.env._eid
        net = self.net
        self._ow, self._service, self._ps = net.one_way, net.service, net.per_subscriber
        self._cost, self._shared = net.client_cost, net.shared_client_cpu
        self.next_index = 0
        self.finished = 0
        self.bar: Any = None

    # --- infrastructure -------------------------------------------------------------------
    def _note(self, text: str) -> int:
        return self.notes.setdefault(text, len(self.notes))

    def at(self, when: float, fn, arg: Any) -> None:
        """Call ``fn(event)`` at simulated time ``when`` (never earlier than now).

        The event goes straight onto SimPy's queue with normal priority, as a ``Timeout``
        would, without a ``Timeout``'s bookkeeping.
        """
        now = self.env._now
        heappush(
            self._queue, (when if when > now else now, NORMAL, next(self._eid), _Call(fn, arg))
        )
        self.scheduled += 1

    def cpu(self, actor: int, t: float) -> float:
        """One client operation by ``actor`` from ``t``; returns when it is done."""
        k = 0 if self._shared else actor
        self.cpu_ops += 1
        free = self.cpu_free[k]
        done = (t if t > free else free) + self._cost
        self.cpu_free[k] = done
        return done

    def command(self, sent: float, subscribers: int = 0) -> float:
        """A command leaving its client at ``sent``: when the server applies it."""
        arrive = sent + self._ow
        free = self.server_free
        applied = (arrive if arrive > free else free) + self._service
        self.server_free = applied + subscribers * self._ps if subscribers else applied
        return applied

    def rec(
        self, t: float, req: _Request, actor: int, kind: int, value: float = NAN, note: int = -1
    ) -> None:
        self._append((t, req.code, req.task, actor, kind, value, note))

    # --- the dispatcher ---------------------------------------------------------------------
    def dispatch(
        self,
        task: int,
        i: int,
        dispatcher: int,
        parent: _Request | None,
        on_final: tuple[_Request, int] | None,
    ) -> None:
        code = len(self.rids)
        self.rids.append(f"r{i}" if parent is None else f"r{i}.{code}")
        subs = self.subscribers[task]
        expect = len(subs) if self.known else 0
        req = _Request(code, task, i, dispatcher, expect, on_final)
        now = self.env._now
        self.rec(
            now,
            req,
            dispatcher,
            DISPATCH,
            NAN,
            -1 if parent is None else self._note(self.rids[parent.code]),
        )
        applied = self.command(self.cpu(dispatcher, now), len(subs))
        ps, ow = self._ps, self._ow
        for k, j in enumerate(subs):
            self.at(applied + (k + 1) * ps + ow, self.task_arrives, (req, j))
        start = applied + len(subs) * ps + ow  # the publish returned: collecting starts
        if not self.known:
            self.at(start + self.sc.probe_window, self.probe_timer, req)
        self.at(start + self.sc.deadline, self.deadline_timer, req)

    def partial_arrives(self, ev: _Call) -> None:
        req, j = ev._value
        done = self.cpu(req.dispatcher, self.env._now)
        if req.done:
            self.rec(done, req, req.dispatcher, PARTIAL_LATE, NAN, self.worker_note[j])
            return
        req.queue.append(j)
        if not req.busy:
            self.take_next(req, done)

    def take_next(self, req: _Request, t: float) -> None:
        j = req.queue.popleft()
        req.partials += 1
        self.rec(t, req, req.dispatcher, PARTIAL_RECEIVED, NAN, self.worker_note[j])
        if self.known:
            if req.partials >= req.expect:
                self.final(req, t, ALL_REPLIED)
            elif req.queue:
                self.take_next(req, t)
            return
        req.busy = True
        applied = self.command(self.cpu(req.dispatcher, t))
        left = self.lists.get(req.code, 0) - 1  # LPOP then LLEN, atomically
        if left <= 0:
            self.lists.pop(req.code, None)
            left = 0
        else:
            self.lists[req.code] = left
        self.at(applied + self._ow, self.counted, (req, POP, left))

    def counted(self, ev: _Call) -> None:
        """A pop or the probe came back with the list length it left or read."""
        req, kind, length = ev._value
        now = self.env._now
        self.rec(now, req, req.dispatcher, kind, length)
        req.busy = False
        if length == 0:
            self.final(req, now, CLAIMS_DRAINED if kind == POP else PROBE_EMPTY)
        else:
            self.resume(req, now)

    def resume(self, req: _Request, now: float) -> None:
        """After a round trip: more partials first, then a timer that came due meanwhile."""
        if req.queue:
            self.take_next(req, now)
        elif req.deadline_due:
            self.final(req, now, DEADLINE)
        elif req.probe_due:
            self.probe(req, now)

    def probe_timer(self, ev: _Call) -> None:
        req = ev._value
        if req.done or req.probed:
            return
        if req.busy or req.queue:
            req.probe_due = True
        else:
            self.probe(req, self.env._now)

    def probe(self, req: _Request, now: float) -> None:
        req.probed, req.probe_due, req.busy = True, False, True
        applied = self.command(self.cpu(req.dispatcher, now))
        self.at(applied + self._ow, self.counted, (req, PROBE, self.lists.get(req.code, 0)))

    def deadline_timer(self, ev: _Call) -> None:
        req = ev._value
        if req.done:
            return
        if req.busy:
            req.deadline_due = True
        else:
            self.final(req, self.env._now, DEADLINE)

    def final(self, req: _Request, t: float, reason: str) -> None:
        req.done = True
        d = req.dispatcher
        self.rec(t, req, d, FINAL, req.partials, self.reason_note[reason])
        while req.queue:
            self.rec(t, req, d, PARTIAL_LATE, NAN, self.worker_note[req.queue.popleft()])
        returned = t
        if not self.known:  # DEL the claim list; dispatch() returns after its reply
            returned = self.command(self.cpu(d, t)) + self._ow
            self.lists.pop(req.code, None)
        if req.on_final is not None:
            self.at(returned, self.work_done, req.on_final)
        else:
            self.at(returned, self.request_done, None)

    # --- the workers ------------------------------------------------------------------------
    def task_arrives(self, ev: _Call) -> None:
        req, j = ev._value
        w = self.slot_actor[j]
        done = self.cpu(w, self.env._now)
        self.rec(done, req, w, DELIVER)
        self.at(done + self.draws.claim_delay[req.i, j], self.decided, (req, j))

    def decided(self, ev: _Call) -> None:
        req, j = ev._value
        i, w, now = req.i, self.slot_actor[j], self.env._now
        wanted = bool(self.draws.interested[i, j])
        self.rec(now, req, w, INTEREST, 1.0 if wanted else 0.0)
        if not wanted:
            if self.known:
                self.reply(req, j, now)
            return
        start = now
        if not self.known:
            start = self.command(self.cpu(w, now)) + self._ow  # RPUSH + EXPIRE
            self.lists[req.code] = self.lists.get(req.code, 0) + 1
            self.rec(start, req, w, CLAIM)
        self.rec(start, req, w, WORK_START)
        if self.draws.crashed[i, j]:
            self.rec(start, req, w, CRASH)
            return
        self.at(start + self.draws.work_time[i, j], self.worked, (req, j))

    def worked(self, ev: _Call) -> None:
        req, j = ev._value
        sub = self.slot_sub[j]
        if sub is not None:  # the work ends when the subtask's answer is back
            self.dispatch(sub, req.i, self.slot_actor[j], req, (req, j))
        else:
            self.work_done(ev)

    def work_done(self, ev: _Call) -> None:
        req, j = ev._value
        now = self.env._now
        self.rec(now, req, self.slot_actor[j], WORK_END)
        self.reply(req, j, now)

    def reply(self, req: _Request, j: int, now: float) -> None:
        """Publish the partial on the dispatcher's reply channel (one subscriber)."""
        w = self.slot_actor[j]
        applied = self.command(self.cpu(w, now), 1)
        arrives = applied + self._ps + self._ow
        self.rec(arrives, req, w, PARTIAL_SENT)
        self.at(arrives, self.partial_arrives, (req, j))

    # --- the load ---------------------------------------------------------------------------
    def request_done(self, ev: _Call) -> None:
        if len(self.trace.rows) >= _Trace.BLOCK:
            self.trace.pack()
        self.finished += 1
        if self.bar is not None and self.finished % 1000 == 0:
            self.bar.update(1000)
        self.start_next()

    def start_next(self) -> None:
        if self.next_index < self.sc.requests:
            self.next_index += 1
            self.dispatch(0, self.next_index - 1, 0, None, None)

    def run(self) -> RunResult:
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
        events = self.events()
        meta = {
            "network": self.net.to_dict(),
            "simpy_events": self.scheduled,
            "client_ops": self.cpu_ops,
            "sim_seconds": float(self.env.now),
        }
        return RunResult("sim", self.sc, events, classify(events), meta)

    def events(self) -> pd.DataFrame:
        raw = self.trace.array()
        order = np.argsort(raw[:, 0], kind="stable")
        raw = raw[order]
        notes = list(self.notes)

        def cat(col: int, names: list[str]) -> pd.Categorical:
            return pd.Categorical.from_codes(raw[:, col].astype(np.int32), categories=names)

        return pd.DataFrame(
            {
                "t": raw[:, 0].copy(),
                "request_id": cat(1, self.rids),
                "task": cat(2, self.tasks),
                "actor": cat(3, self.actors),
                "kind": cat(4, list(KINDS)),
                "value": raw[:, 5].copy(),
                "note": cat(6, notes),
            }
        )


def run_sim(
    scenario: Scenario, network: Network | None = None, *, progress: bool | None = None
) -> RunResult:
    """Run ``scenario`` in the SimPy model; the result has the schema of ``run_redis``'s."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    if network is not None and not isinstance(network, Network):
        raise TypeError(f"network must be a Network, got {type(network).__name__}")
    return Model(scenario, network, progress).run()
