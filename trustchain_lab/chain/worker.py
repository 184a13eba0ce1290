"""A service that listens for tasks, claims the ones it wants, works, and replies."""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..protocol import Action, Kind
from ..protocol import variant as protocol_variant
from .bus import Bus
from .endpoint import Endpoint
from .keys import Keys, check_name
from .messages import (
    MAX_MESSAGE_BYTES,
    MessageError,
    PartialMessage,
    TaskMessage,
    encode_partial,
)
from .observe import Observer, emit
from .signing import REPLAY_WINDOW, SeenRequests

log = logging.getLogger("trustchain_lab.chain")


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """What a handler sees of one delivered task."""

    task: str
    request_id: str
    payload: Any
    worker: str
    parent: str | None


Interest = Callable[[TaskRequest], bool | Awaitable[bool]]
Work = Callable[[TaskRequest], Awaitable[Any]]


def always(_: TaskRequest) -> bool:
    """The default interest rule: every task of a registered name is interesting."""
    return True


class Worker(Endpoint):
    """Serves the task names registered with ``on`` before ``start``.

    For each delivered task: ``interested(request)`` decides (sync or async); the task's
    variant says what follows (``protocol.Collector.on_interest``): claim (with a TTL, in
    one script; a refused claim means no work), work, decline, or nothing. ``work(request)``
    is awaited and its result published as the partial. An exception in ``work`` or a
    result JSON cannot hold (or one over ``max_message_bytes``) becomes an error partial,
    never a lost one. At most ``max_in_flight`` tasks are handled at once; the reader never
    waits for a free slot (Redis would drop a subscriber that stops reading): a task that
    comes when every slot is taken is *shed* (counted in ``shed``): not claimed, or, where
    the variant has every receiver answer, answered at once with an error partial. A claim
    that Redis fails is reported with an error partial too (the answer then says
    ``lost_claims``), unless the failure takes longer than the dispatcher's probe window:
    then nothing can tell the dispatcher that this worker was interested. A task seen before
    (a replay) is dropped and counted in ``replayed``. With a ``secret`` (shared with the
    dispatchers) only tasks signed with it are taken, and every reply is signed.
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        name: str | None = None,
        keys: Keys | None = None,
        observer: Observer | None = None,
        bus: Bus | None = None,
        max_in_flight: int = 1000,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        secret: str | bytes | None = None,
        replay_window: float = REPLAY_WINDOW,
    ) -> None:
        super().__init__(
            redis,
            name=check_name(name or f"worker-{uuid.uuid4().hex[:8]}", "worker name"),
            keys=keys,
            observer=observer,
            bus=bus,
            max_message_bytes=max_message_bytes,
            secret=secret,
            replay_window=replay_window,
        )
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
        self.handler_errors = 0  # interest rules or work that raised, results JSON cannot hold
        self.redis_errors = 0  # claims or replies that Redis did not take
        self.shed = 0  # tasks that came while every slot was taken
        self.replayed = 0  # tasks whose request id was seen before, dropped
        self._seen = SeenRequests()
        self.max_in_flight = max_in_flight
        self._handlers: dict[str, tuple[Work, Interest]] = {}
        self._in_flight: set[asyncio.Task[None]] = set()

    def on(self, task: str, work: Work, *, interested: Interest = always) -> None:
        """Register ``work`` (and its interest rule) for ``task``; call before ``start``."""
        check_name(task)
        if self._reader is not None:
            raise RuntimeError("register handlers before start()")
        if not callable(work) or not callable(interested):
            raise TypeError("work and interested must be callables")
        self._handlers[task] = (work, interested)

    def _channels(self) -> Sequence[str]:
        if not self._handlers:
            raise RuntimeError(f"worker {self.name!r} has no handlers: call on() first")
        return [self.keys.task_channel(t) for t in self._handlers]

    async def _on_message(self, msg: TaskMessage | PartialMessage) -> None:
        if not isinstance(msg, TaskMessage) or msg.task not in self._handlers:
            raise MessageError("not a task message for a registered task")
        if not msg.reply_to.startswith(self.keys.reply_channel("")):
            raise MessageError(f"reply_to {msg.reply_to!r} is not a reply channel of ours")
        if not self._seen.first_time(msg.request_id):  # a replay: never work twice
            self.replayed += 1
            log.warning("%s: dropped a replayed task %s/%s", self.name, msg.task, msg.request_id)
            return
        if len(self._in_flight) >= self.max_in_flight:
            self._shed(msg)
            return
        self._spawn(msg, self._serve(msg))

    def _shed(self, msg: TaskMessage) -> None:
        """Every slot is taken: don't claim; where every receiver must answer, say so."""
        self.shed += 1
        log.warning("%s: at max_in_flight, shedding %s/%s", self.name, msg.task, msg.request_id)
        if protocol_variant(msg.variant).on_interest(False) is Action.DECLINE:
            error = f"shed: worker {self.name} at max_in_flight={self.max_in_flight}"
            partial = PartialMessage(msg.request_id, self.name, ok=False, error=error)
            self._spawn(msg, self._reply(msg, partial))

    def _spawn(self, msg: TaskMessage, job: Awaitable[None]) -> None:
        """Run ``job`` for ``msg`` as a task in flight (counted against max_in_flight)."""
        task = asyncio.create_task(self._handle(msg, job), name=f"{self.name}-{msg.request_id}")
        self._in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, job: asyncio.Task[None]) -> None:
        self._in_flight.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("%s: handler task failed", self.name, exc_info=job.exception())

    async def _handle(self, msg: TaskMessage, job: Awaitable[None]) -> None:
        try:
            await job
        except RedisError as exc:  # the claim or the reply did not reach Redis
            self.redis_errors += 1
            log.error("%s: Redis failed on %s/%s: %s", self.name, msg.task, msg.request_id, exc)

    async def _serve(self, msg: TaskMessage) -> None:
        obs, me, rid, task = self.observer, self.name, msg.request_id, msg.task
        emit(obs, Kind.DELIVER, me, task, rid)
        work, interested = self._handlers[task]
        request = TaskRequest(task, rid, msg.payload, me, msg.parent)
        try:
            wanted = interested(request)
            if inspect.isawaitable(wanted):
                wanted = await wanted
            wanted = bool(wanted)
        except Exception:
            self.handler_errors += 1
            log.exception("%s: interest rule raised on %s/%s; not claiming", me, task, rid)
            wanted = False
        emit(obs, Kind.INTEREST, me, task, rid, float(wanted))
        rules = protocol_variant(msg.variant)
        action = rules.on_interest(wanted)
        if action is Action.DECLINE:
            await self._reply(msg, PartialMessage(rid, me, ok=True, interested=False))
            return
        if action is Action.NOTHING:
            return
        if action is Action.CLAIM:
            assert self._claims is not None  # started
            try:
                claimed = await self._claims.claim(
                    task, rid, me, msg.claim_ttl, check_open=rules.seals
                )
            except Exception as exc:  # interested, but the dispatcher cannot know: tell it
                self.redis_errors += 1
                log.error("%s: claim on %s/%s failed: %s", me, task, rid, exc)
                error = f"claim failed: {type(exc).__name__}: {exc}"
                await self._reply(msg, PartialMessage(rid, me, ok=False, error=error))
                return  # a reply with no claim behind it ends the request as lost_claims
            if not claimed:
                emit(obs, Kind.CLAIM_REFUSED, me, task, rid)
                return
            emit(obs, Kind.CLAIM, me, task, rid)
        emit(obs, Kind.WORK_START, me, task, rid)
        try:
            partial = PartialMessage(rid, me, ok=True, result=await work(request))
            note = None
        except Exception as exc:
            self.handler_errors += 1
            log.exception("%s: work raised on %s/%s", me, task, rid)
            partial = PartialMessage(rid, me, ok=False, error=f"{type(exc).__name__}: {exc}")
            note = "error"
        emit(obs, Kind.WORK_END, me, task, rid, None, note)
        await self._reply(msg, partial)

    async def _reply(self, msg: TaskMessage, partial: PartialMessage) -> None:
        try:
            data = encode_partial(partial, self.max_message_bytes)
        except (TypeError, ValueError) as exc:  # not JSON, or over the size limit
            self.handler_errors += 1
            log.error("%s: result for %s cannot be sent: %s", self.name, msg.request_id, exc)
            data = encode_partial(
                PartialMessage(partial.request_id, self.name, ok=False, error=str(exc))
            )
        await self.bus.publish(msg.reply_to, self._seal(data))
        emit(self.observer, Kind.PARTIAL_SENT, self.name, msg.task, msg.request_id)

    async def close(self) -> None:
        """Stop taking tasks, cancel the ones in flight (no partial is sent for them), close."""
        await super().close_reader()
        for job in list(self._in_flight):
            job.cancel()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        await super().close()

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the tasks in flight; True if none is left."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=timeout)
        return not self._in_flight
