"""The task owner: broadcasts a task, collects partials, pops the claim list once per partial."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from .bus import Bus
from .endpoint import Endpoint
from .keys import Keys, check_name
from .messages import (
    MODE_CLAIM,
    MODE_KNOWN,
    MessageError,
    PartialMessage,
    TaskMessage,
    encode_task,
)
from .observe import Observer, Step, emit

CLAIMS_DRAINED = "claims_drained"  # a pop left the claim list empty
PROBE_EMPTY = "probe_empty"  # the probe read an empty claim list: nobody is interested
DEADLINE = "deadline"  # the deadline fired first
ALL_REPLIED = "all_replied"  # known-recipients mode: every expected worker replied
TTL_MARGIN = 5  # seconds a claim list outlives its request's deadline


@dataclass(frozen=True)
class FinalResponse:
    """The answer to one request: every partial collected, and why collection stopped."""

    task: str
    request_id: str
    reason: str
    partials: tuple[PartialMessage, ...]

    @property
    def results(self) -> list[Any]:
        """Results of the workers that were interested and succeeded."""
        return [p.result for p in self.partials if p.ok and p.interested]

    @property
    def errors(self) -> list[PartialMessage]:
        return [p for p in self.partials if not p.ok]

    @property
    def empty(self) -> bool:
        return not any(p.interested for p in self.partials)


class Dispatcher(Endpoint):
    """Dispatches tasks and serves many requests in flight over one reply subscription.

    ``redis`` is a URL (the dispatcher makes and closes its client) or a client (the caller
    closes it). Use ``async with Dispatcher(...) as d: await d.dispatch(...)``.
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        name: str | None = None,
        keys: Keys | None = None,
        observer: Observer | None = None,
        bus: Bus | None = None,
    ) -> None:
        super().__init__(
            redis,
            name=check_name(name or f"dispatcher-{uuid.uuid4().hex[:8]}", "dispatcher name"),
            keys=keys,
            observer=observer,
            bus=bus,
        )
        self.late_partials = 0
        self._reply_channel = self.keys.reply_channel(self.name)
        self._pending: dict[str, tuple[str, asyncio.Queue[PartialMessage]]] = {}

    def _channels(self) -> Sequence[str]:
        return [self._reply_channel]

    async def _on_message(self, msg: TaskMessage | PartialMessage) -> None:
        if not isinstance(msg, PartialMessage):
            raise MessageError("a task message on a reply channel")
        pending = self._pending.get(msg.request_id)
        if pending is None:
            self._late(msg, "")
        else:
            pending[1].put_nowait(msg)

    def _late(self, msg: PartialMessage, task: str) -> None:
        """A partial that arrived after its request's final response: counted, not used."""
        self.late_partials += 1
        emit(self.observer, Step("partial_late", self.name, task, msg.request_id, None, msg.worker))

    async def dispatch(
        self,
        task: str,
        payload: Any = None,
        *,
        probe_window: float = 0.5,
        deadline: float = 30.0,
        expect: int | None = None,
        parent: str | None = None,
    ) -> FinalResponse:
        """Broadcast ``task`` and wait for its final response.

        Seed variant (``expect=None``): workers claim, one pop per partial, final when a pop
        leaves the list empty; a probe ``probe_window`` seconds after dispatch answers empty
        when the list is empty. ``expect=N``: known-recipients scatter-gather, no claim
        list, final after N replies. Either way the answer is final at ``deadline``.
        """
        check_name(task)
        if not probe_window > 0:
            raise ValueError(f"probe_window must be > 0 seconds, got {probe_window!r}")
        if not (deadline > 0 and math.isfinite(deadline)):
            raise ValueError(f"deadline must be a finite number > 0 seconds, got {deadline!r}")
        if expect is not None and expect < 1:
            raise ValueError(f"expect must be None or >= 1, got {expect!r}")
        request_id = uuid.uuid4().hex
        msg = TaskMessage(
            task=task,
            request_id=request_id,
            reply_to=self._reply_channel,
            payload=payload,
            mode=MODE_CLAIM if expect is None else MODE_KNOWN,
            parent=parent,
            claim_ttl=math.ceil(deadline) + TTL_MARGIN,
        )
        data = encode_task(msg)  # refuses a payload JSON cannot hold, before anything is sent
        bus = self.bus
        key = self.keys.claim_list(task, request_id)
        queue: asyncio.Queue[PartialMessage] = asyncio.Queue()
        self._pending[request_id] = (task, queue)
        try:
            emit(self.observer, Step("dispatch", self.name, task, request_id, None, parent))
            await bus.publish(self.keys.task_channel(task), data)
            reason, partials = await self._collect(
                task, request_id, key, queue, msg.mode, probe_window, deadline, expect
            )
        finally:
            del self._pending[request_id]
        if msg.mode == MODE_CLAIM:
            await self.redis.delete(key)
        return FinalResponse(task, request_id, reason, tuple(partials))

    async def _collect(
        self,
        task: str,
        request_id: str,
        key: str,
        queue: asyncio.Queue[PartialMessage],
        mode: str,
        probe_window: float,
        deadline: float,
        expect: int | None,
    ) -> tuple[str, list[PartialMessage]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        probe_at = start + probe_window if mode == MODE_CLAIM else math.inf
        deadline_at = start + deadline
        partials: list[PartialMessage] = []
        reason = DEADLINE
        while True:
            try:
                async with asyncio.timeout_at(min(probe_at, deadline_at)):
                    partial = await queue.get()
            except TimeoutError:
                if loop.time() >= deadline_at:
                    break
                probe_at = math.inf
                length = await self.redis.llen(key)
                emit(self.observer, Step("probe", self.name, task, request_id, length))
                if length == 0:
                    reason = PROBE_EMPTY
                    break
                continue
            partials.append(partial)
            emit(
                self.observer,
                Step("partial_received", self.name, task, request_id, None, partial.worker),
            )
            if mode == MODE_KNOWN:
                if len(partials) >= (expect or 0):
                    reason = ALL_REPLIED
                    break
                continue
            left = await self._pop(key)
            emit(self.observer, Step("pop", self.name, task, request_id, left))
            if left == 0:
                reason = CLAIMS_DRAINED
                break
        emit(self.observer, Step("final", self.name, task, request_id, len(partials), reason))
        while not queue.empty():  # arrived while the last pop was in flight: too late
            self._late(queue.get_nowait(), task)
        return reason, partials

    async def _pop(self, key: str) -> int:
        """Pop one claim and return how many the pop left, in one atomic step."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpop(key)
            pipe.llen(key)
            _, left = await pipe.execute()
        return int(left)
