"""The task owner: broadcasts a task and runs the protocol core's collector over Redis."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..protocol import (
    Close,
    Collector,
    Command,
    Final,
    Kind,
    Note,
    Pop,
    ReadLength,
    Reason,
    SetTimer,
    Timer,
)
from ..protocol import variant as protocol_variant
from .bus import Bus
from .endpoint import Endpoint, Unavailable
from .keys import Keys, check_name
from .messages import (
    MAX_MESSAGE_BYTES,
    TTL_MARGIN,
    MessageError,
    PartialMessage,
    TaskMessage,
    encode_task,
)
from .observe import Observer, emit
from .signing import REPLAY_WINDOW

log = logging.getLogger("trustchain_lab.chain")
LISTENER_MEMORY = 3.0  # seconds of broadcasts whose receivers say how many listen "usually":
# longer than a worker takes to re-subscribe (RESUBSCRIBE_MAX), short enough that a
# subscriber that leaves costs only this long of missed_broadcast answers
CLEANUP_WAIT = 1.0  # seconds the clean-up after an answer may take before it is retried
CLEANUP_LATE = 0.25  # seconds it may take once the deadline has passed
LATE_PHASE = CLEANUP_LATE + 0.25  # seconds from the deadline to the answer, at most
CLEANUP_RETRIES = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds between later attempts; then the TTLs
T = TypeVar("T")


@dataclass(frozen=True)
class FinalResponse:
    """The answer to one request: every partial collected, and why collection stopped."""

    task: str
    request_id: str
    reason: Reason
    partials: tuple[PartialMessage, ...]
    missing: tuple[str, ...] = ()  # claimed and never replied (claim variants; read from
    # the list when the request was closed, e.g. at the deadline)

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


class _Flight:
    """One request in flight: its collector, the commands waiting to be carried out, the
    timers set (loop callbacks that feed the collector), and what has been answered."""

    __slots__ = (
        "answer",
        "collector",
        "commands",
        "current",
        "deadline_token",
        "error",
        "missing",
        "task",
        "timers",
        "wake",
    )

    def __init__(self, task: str, collector: Collector) -> None:
        self.task = task
        self.collector = collector
        self.commands: deque[Command] = deque()
        self.wake = asyncio.Event()
        self.error: Unavailable | None = None
        self.timers: dict[Timer, asyncio.TimerHandle] = {}
        self.deadline_token: int | None = None  # the deadline is the request's own timeout
        self.current: Command | None = None  # the command being carried out
        self.answer: FinalResponse | None = None
        self.missing: tuple[str, ...] = ()

    def feed(self, commands: list[Command]) -> None:
        if commands:
            self.commands.extend(commands)
            self.wake.set()

    def fire(self, timer: Timer, token: int) -> None:
        """A timer's callback: hand it to the collector."""
        self.timers.pop(timer, None)
        self.feed(self.collector.timer(timer, token))

    def fail(self, error: Unavailable) -> None:
        """No trustworthy answer can come any more (e.g. replies may have been lost)."""
        self.error = error
        self.wake.set()

    def stop_timers(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()


class Dispatcher(Endpoint):
    """Dispatches tasks and serves many requests in flight over one reply subscription.

    ``redis`` is a URL (the dispatcher makes and closes its client) or a client (the caller
    closes it). Use ``async with Dispatcher(...) as d: await d.dispatch(...)``. A
    broadcast that reaches fewer listeners than the task's broadcasts reached within
    ``listener_memory`` seconds (0: never compare; time while the dispatcher itself is cut
    off does not count) ends as ``missed_broadcast``: a listener may have missed it (e.g.
    Redis dropped its subscription). A subscriber that leaves for good costs that long of
    such answers. With a
    ``secret`` (shared with the workers) every task is signed and only partials signed with
    it are accepted: forged or replayed ones are dropped and counted in ``rejected``.
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        name: str | None = None,
        keys: Keys | None = None,
        observer: Observer | None = None,
        bus: Bus | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        secret: str | bytes | None = None,
        replay_window: float = REPLAY_WINDOW,
        listener_memory: float = LISTENER_MEMORY,
    ) -> None:
        super().__init__(
            redis,
            name=check_name(name or f"dispatcher-{uuid.uuid4().hex[:8]}", "dispatcher name"),
            keys=keys,
            observer=observer,
            bus=bus,
            max_message_bytes=max_message_bytes,
            secret=secret,
            replay_window=replay_window,
        )
        self.late_partials = 0
        self.duplicates = 0  # second replies of one worker to one request, dropped
        self._reply_channel = self.keys.reply_channel(self.name)
        self._flights: dict[str, _Flight] = {}
        self._janitors: set[asyncio.Task[None]] = set()  # clean-ups retried in the background
        if not (isinstance(listener_memory, int | float) and listener_memory >= 0):
            raise ValueError(f"listener_memory must be >= 0 seconds, got {listener_memory!r}")
        self.listener_memory = listener_memory
        self._reach: dict[str, deque[tuple[float, int]]] = {}  # task -> (time, receivers)

    def _channels(self) -> Sequence[str]:
        return [self._reply_channel]

    def _on_gap(self, exc: BaseException) -> None:
        for request_id, flight in self._flights.items():
            flight.fail(
                Unavailable(
                    f"dispatcher {self.name!r} stopped listening during request {request_id} "
                    f"({type(exc).__name__}: {exc}): replies may be lost"
                )
            )

    def _on_listening(self) -> None:
        """Back after a gap: the listeners seen before it are what to expect again, for
        ``listener_memory`` seconds from now (the outage must not make them forgotten)."""
        now = asyncio.get_running_loop().time()
        for reach in self._reach.values():
            for k, (_, receivers) in enumerate(reach):
                reach[k] = (now, receivers)

    async def _on_message(self, msg: TaskMessage | PartialMessage) -> None:
        if not isinstance(msg, PartialMessage):
            raise MessageError("a task message on a reply channel")
        flight = self._flights.get(msg.request_id)
        if flight is None:  # its answer was already given
            self.late_partials += 1
            emit(self.observer, Kind.PARTIAL_LATE, self.name, "", msg.request_id, None, msg.worker)
        else:
            flight.feed(flight.collector.partial(msg.worker, msg))

    async def dispatch(
        self,
        task: str,
        payload: Any = None,
        *,
        variant: str = "seed",
        probe_window: float = 0.5,
        deadline: float = 30.0,
        grace: float = 0.0,
        expect: int | None = None,
        parent: str | None = None,
    ) -> FinalResponse:
        """Broadcast ``task`` and wait for its final response.

        ``variant`` names the protocol (``trustchain_lab.protocol.variants()``); it travels
        in the task message, so workers follow it. ``seed``: workers claim, one pop per
        partial, final when a pop leaves the list empty, and a probe ``probe_window``
        seconds after dispatch answers empty when the list is empty; ``grace`` > 0 waits
        that long after the list empties and looks again. ``known`` needs ``expect`` (the
        number of workers). Whatever the variant, the answer is final at ``deadline``, even
        when Redis stalls (``FinalResponse.missing`` names who claimed and never replied).

        Raises ``Unavailable`` (a ``ConnectionError``) instead of answering when the
        dispatcher is not listening on the bus, when it stopped listening during the
        request, or when Redis failed a step: an answer then could be wrong.
        """
        check_name(task)
        collector = protocol_variant(variant)(
            probe_window=probe_window, deadline=deadline, grace=grace, expect=expect
        )  # validates the timing, raising ValueError before anything is sent
        request_id = uuid.uuid4().hex
        ttl = math.ceil(deadline) + TTL_MARGIN
        msg = TaskMessage(
            task=task,
            request_id=request_id,
            reply_to=self._reply_channel,
            payload=payload,
            variant=collector.name,
            parent=parent,
            claim_ttl=ttl,
        )
        data = self._seal(encode_task(msg, self.max_message_bytes))  # refuses a payload JSON
        # cannot hold, or one over the size limit, before anything is sent
        self.bus  # noqa: B018 -- raises RuntimeError when not started: a usage error
        if not self.ready:
            raise Unavailable(
                f"dispatcher {self.name!r} is not listening on the bus (Redis unreachable?)"
            )
        due = asyncio.get_running_loop().time() + deadline  # the answer, whatever Redis does
        flight = _Flight(task, collector)
        self._flights[request_id] = flight
        try:
            emit(self.observer, Kind.DISPATCH, self.name, task, request_id, None, parent)
            broadcast = False
            try:  # one timeout per request: every step until the answer is bounded by it
                async with asyncio.timeout_at(due):
                    receivers = await self._step(
                        self._broadcast(collector, request_id, task, data, ttl)
                    )
                    broadcast = True
                    usual = self._usual_reach(task, receivers)
                    flight.feed(collector.published(receivers, usual))
                    return await self._carry_out(flight, request_id, late=False)
            except TimeoutError:
                if not broadcast:
                    raise Unavailable(
                        f"Redis did not take the broadcast of {task} within the deadline"
                    ) from None
            self._deadline_fell(flight)
            try:  # the answer and a bounded clean-up: nothing here may wait longer
                async with asyncio.timeout(LATE_PHASE):
                    return await self._carry_out(flight, request_id, late=True)
            except TimeoutError:
                if flight.answer is not None:
                    return flight.answer
                raise Unavailable(f"request {request_id} found no answer at its deadline") from None
        finally:
            flight.stop_timers()
            self._flights.pop(request_id, None)

    def _usual_reach(self, task: str, receivers: int) -> int | None:
        """How many listeners broadcasts of ``task`` reached lately, before counting this
        one: the most within ``listener_memory`` seconds, or, after a quiet spell, what
        the last one reached (a drop while nobody was asking must not pass unseen); None
        before the first broadcast."""
        if not self.listener_memory:
            return None
        now = asyncio.get_running_loop().time()
        reach = self._reach.setdefault(task, deque())  # receivers decreasing: a sliding
        # maximum, O(1) amortised; the newest entry stays, however old (the last reach)
        while len(reach) > 1 and reach[0][0] < now - self.listener_memory:
            reach.popleft()
        usual = reach[0][1] if reach else None
        while reach and reach[-1][1] <= receivers:
            reach.pop()
        reach.append((now, receivers))
        return usual

    async def _broadcast(
        self, c: Collector, request_id: str, task: str, data: bytes, ttl: int
    ) -> int:
        """Publish the task; a claim variant opens the request (its marker) first, in the
        same step when the bus is this Redis."""
        channel, claims = self.keys.task_channel(task), self._claims
        assert claims is not None  # started
        if c.claims and self._bus_arg is None:
            return await claims.open_and_publish(task, request_id, channel, data, ttl)
        if c.claims:
            await claims.open(task, request_id, ttl)
        return await self.bus.publish(channel, data)

    async def _step(self, step: Awaitable[T]) -> T:
        """One Redis step of a request (bounded by the request's timeout); ``Unavailable``
        if Redis failed it."""
        try:
            return await step
        except Exception as exc:  # Redis, the connection, or an argument it cannot carry
            raise Unavailable(f"Redis failed a step: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _deadline_fell(flight: _Flight) -> None:
        """The request's timeout expired: tell the collector (abandoning the claim-list
        command it cut short), and redo a clean-up it cut short."""
        c, current = flight.collector, flight.current
        if isinstance(current, Close):
            flight.commands.appendleft(current)
        if flight.answer is not None or c.done:
            return
        if c.busy is not None:  # the claim-list command, sent or still queued, is given up
            kept = [cmd for cmd in flight.commands if not isinstance(cmd, Pop | ReadLength)]
            flight.commands.clear()
            flight.commands.extend(kept)
            flight.feed(c.abandon())
        elif flight.deadline_token is not None:
            flight.feed(c.timer(Timer.DEADLINE, flight.deadline_token))

    async def _carry_out(self, flight: _Flight, request_id: str, *, late: bool) -> FinalResponse:
        """Execute the collector's commands until the answer is given and cleaned up;
        ``late``: the deadline has passed (clean-up is bounded more tightly)."""
        loop = asyncio.get_running_loop()
        claims = self._claims
        assert claims is not None  # started
        c, task, commands = flight.collector, flight.task, flight.commands
        while True:
            while commands:
                if flight.error is not None and flight.answer is None:
                    raise flight.error
                cmd = flight.current = commands.popleft()
                if isinstance(cmd, Note):
                    emit(self.observer, cmd.kind, self.name, task, request_id, cmd.value, cmd.note)
                    if cmd.kind is Kind.PARTIAL_LATE:
                        self.late_partials += 1
                    elif cmd.kind is Kind.PARTIAL_DUPLICATE:
                        self.duplicates += 1
                elif isinstance(cmd, SetTimer):
                    old = flight.timers.pop(cmd.timer, None)
                    if old is not None:
                        old.cancel()
                    if cmd.timer is Timer.DEADLINE:  # counted from the dispatch, not from
                        flight.deadline_token = cmd.token  # when a (slow) broadcast
                    else:  # returned: the request's own timeout is the hard deadline
                        flight.timers[cmd.timer] = loop.call_later(
                            cmd.after, flight.fire, cmd.timer, cmd.token
                        )
                elif isinstance(cmd, Pop):
                    pop = claims.pop(task, request_id, cmd.worker, seal=cmd.seal)
                    flight.feed(c.counted(await self._step(pop)))
                elif isinstance(cmd, ReadLength):
                    read = claims.length(task, request_id, seal=cmd.seal)
                    flight.feed(c.counted(await self._step(read)))
                elif isinstance(cmd, Final):
                    n = len(c.accepted)
                    emit(self.observer, Kind.FINAL, self.name, task, request_id, n, cmd.reason)
                    flight.answer = FinalResponse(
                        task, request_id, cmd.reason, tuple(c.accepted), flight.missing
                    )
                    self._flights.pop(request_id, None)  # later partials are late
                elif isinstance(cmd, Close):  # before the answer (sealed) or after it
                    flight.missing = tuple(await self._clean_up(task, request_id, late))
                    if flight.answer is not None:
                        flight.answer = replace(flight.answer, missing=flight.missing)
            flight.current = None
            if flight.answer is not None:
                return flight.answer
            if flight.error is not None:
                raise flight.error
            if late:
                raise RuntimeError(f"request {request_id} still open after its deadline")
            flight.wake.clear()
            await flight.wake.wait()

    async def _clean_up(self, task: str, request_id: str, late: bool) -> list[str]:
        """Close the request; a failure here never costs the answer: the clean-up is
        retried in the background (and the keys' TTLs are the last resort). ``late``: the
        answer is due, don't hold it long."""
        claims = self._claims
        assert claims is not None  # started
        try:
            async with asyncio.timeout(CLEANUP_LATE if late else CLEANUP_WAIT):
                return await claims.close(task, request_id)
        except (TimeoutError, RedisError, OSError) as exc:
            log.warning("%s: clean-up of %s failed, retrying: %s", self.name, request_id, exc)
            janitor = asyncio.create_task(self._retry_clean_up(task, request_id))
            self._janitors.add(janitor)
            janitor.add_done_callback(self._janitors.discard)
            return []

    @property
    def cleaning(self) -> int:
        """Clean-ups that failed and are being retried in the background."""
        return len(self._janitors)

    async def _retry_clean_up(self, task: str, request_id: str) -> None:
        for pause in CLEANUP_RETRIES:
            await asyncio.sleep(pause)
            claims = self._claims
            if claims is None:  # closed meanwhile
                return
            try:
                async with asyncio.timeout(CLEANUP_WAIT):
                    await claims.close(task, request_id)
                return
            except (TimeoutError, RedisError, OSError):
                continue
        log.warning("%s: gave up cleaning %s: its keys expire by TTL", self.name, request_id)

    async def close(self) -> None:
        """Stop clean-ups still being retried, then close as every endpoint does."""
        for janitor in list(self._janitors):
            janitor.cancel()
        await asyncio.gather(*self._janitors, return_exceptions=True)
        await super().close()
