"""What a Dispatcher and a Worker share: a Redis client, one subscription, one supervised
reader that never dies: on any failure it reports the gap, re-subscribes with backoff, and
says whether it listens now (``ready``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from .bus import GAP, Bus, BusGap, RedisBus, Subscription
from .claims import ClaimStore
from .keys import Keys
from .line import BACKOFF_FIRST, BACKOFF_MAX, RETRIES, CommandLine
from .messages import MAX_MESSAGE_BYTES, MessageError, PartialMessage, TaskMessage, decode
from .observe import Observer
from .signing import REPLAY_WINDOW, SignatureError, Signer

log = logging.getLogger("trustchain_lab.chain")


MAX_CONNECTIONS = 64  # per client made from a URL; more commands in flight wait for one
CONNECTION_WAIT = 30.0  # seconds a command waits for a free connection before failing
SIGNED_OVERHEAD = 128  # bytes a signature and its timestamp add to a message
RESUBSCRIBE_FIRST, RESUBSCRIBE_MAX = 0.05, 2.0  # seconds between attempts: doubling to max
CLOSE_WAIT = 2.0  # seconds close() waits for the reader before cancelling it


class Unavailable(ConnectionError):
    """The endpoint cannot answer correctly now: it is not listening on the bus, or Redis
    did not answer. Never a plausible-looking answer instead."""


def redis_client(url: str, max_connections: int = MAX_CONNECTIONS) -> Redis:
    """A client whose pool waits for a free connection instead of raising "Too many
    connections" when more commands are in flight than it holds (redis-py's default pool
    raises at 100), and whose commands retry as a ``CommandLine``'s do (up to ``RETRIES``
    times, backing off) when they meet a broken connection, e.g. a pooled one that died
    with a Redis restart. (An endpoint sends its protocol steps over its own
    ``CommandLine``, made from the same settings; the pool serves its subscription and any
    other command.)"""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=CONNECTION_WAIT,
        retry=Retry(ExponentialBackoff(cap=BACKOFF_MAX, base=BACKOFF_FIRST), RETRIES),
    )
    return Redis.from_pool(pool)


class Endpoint:
    """Owns the client it made from a URL (and closes it), never one it was given."""

    def __init__(
        self,
        redis: str | Redis,
        *,
        name: str,
        keys: Keys | None = None,
        observer: Observer | None = None,
        bus: Bus | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        secret: str | bytes | None = None,
        replay_window: float = REPLAY_WINDOW,
    ) -> None:
        if isinstance(max_message_bytes, bool) or not (
            isinstance(max_message_bytes, int) and max_message_bytes >= 1024
        ):
            raise ValueError(f"max_message_bytes must be an int >= 1024, got {max_message_bytes!r}")
        self.name = name
        self.keys = keys or Keys()
        self.observer = observer
        self.max_message_bytes = max_message_bytes
        self._signer = None if secret is None else Signer(secret, replay_window)
        self.rejected = 0  # messages not signed with our secret, or signed too long ago
        self.malformed = 0  # messages on our channels that were not ours, or not valid
        self.oversized = 0  # messages over max_message_bytes, dropped unread
        self.handler_failures = 0  # messages whose handling raised (logged, survived)
        self.gaps = 0  # times the subscription broke (and was renewed)
        self._redis_arg = redis
        self._bus_arg = bus
        self._redis: Redis | None = None
        self._bus: Bus | None = None
        self._claims: ClaimStore | None = None
        self._line: CommandLine | None = None
        self._sub: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = False
        self._closing = False

    @property
    def ready(self) -> bool:
        """Whether the endpoint listens on the bus now (subscription confirmed, not broken)."""
        return self._ready

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r} is not started")
        return self._redis

    @property
    def bus(self) -> Bus:
        if self._bus is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r} is not started")
        return self._bus

    def _channels(self) -> Sequence[str]:
        raise NotImplementedError

    async def _on_message(self, msg: TaskMessage | PartialMessage) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        """Connect and subscribe; returns once the subscription is confirmed."""
        if self._reader is not None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r} is already started")
        arg = self._redis_arg
        self._redis = redis_client(arg) if isinstance(arg, str) else arg
        self._line = CommandLine(self._redis.connection_pool)
        self._bus = self._bus_arg or RedisBus(self._redis, self._line)
        self._claims = ClaimStore(self._line, self.keys)
        self._closing = False
        self._sub = await self._bus.subscribe(self._channels())
        self._ready = True
        self._reader = asyncio.create_task(self._supervise(), name=f"{self.name}-reader")

    async def ping(self) -> None:
        """Open the command connection now (PING), so the first request does not pay for
        opening it; raises what the command would (e.g. ``ConnectionError``)."""
        if self._line is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r} is not started")
        await self._line.execute("PING")

    def _on_gap(self, exc: BaseException) -> None:
        """The subscription broke: messages may have been lost. Subclasses react."""

    def _on_listening(self) -> None:
        """Subscribed again after a gap. Subclasses react."""

    async def _drop_pooled_connections(self) -> None:
        """After a gap the server may be a new one: pooled connections to the old one
        would make the next commands (a claim!) wait out redis-py's retry backoff, late
        enough to lose a claim race. Drop them before handling any further message."""
        pool = getattr(self._redis, "connection_pool", None)
        if pool is not None:  # idle ones only: the subscription's own is in use
            await _quietly(pool.disconnect(inuse_connections=False))
        if self._line is not None and not self._line.busy:  # a busy one finds out itself
            await _quietly(self._line.disconnect())

    async def _supervise(self) -> None:
        """Read until closed; on any failure report the gap and re-subscribe with backoff."""
        delay = RESUBSCRIBE_FIRST
        while not self._closing:
            sub = self._sub
            try:
                if sub is None:
                    sub = self._sub = await self.bus.subscribe(self._channels())
                    await self._drop_pooled_connections()
                    self._ready, delay = True, RESUBSCRIBE_FIRST
                    log.warning("%s: listening again", self.name)
                    self._on_listening()
                await self._read(sub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # BusGap, a Redis error, anything: never die silently
                self._ready, self._sub = False, None
                if sub is not None:
                    self.gaps += 1
                    log.warning("%s: not listening (%s: %s)", self.name, type(exc).__name__, exc)
                    self._on_gap(exc)
                    await _quietly(sub.close())
                await asyncio.sleep(delay)
                delay = min(2 * delay, RESUBSCRIBE_MAX)
        self._ready = False

    def _seal(self, data: bytes) -> bytes:
        """An outgoing message, signed when this endpoint has a secret."""
        return data if self._signer is None else self._signer.sign(data)

    async def _read(self, sub: Subscription) -> None:
        signer = self._signer
        limit = self.max_message_bytes + (0 if signer is None else SIGNED_OVERHEAD)
        async for channel, data in sub:
            if channel is GAP:  # renewed: listening again, but messages may be lost
                self.gaps += 1
                log.warning("%s: the subscription was renewed; messages may be lost", self.name)
                self._on_gap(BusGap("the subscription was renewed"))
                await self._drop_pooled_connections()
                self._on_listening()
                continue
            if len(data) > limit:
                self.oversized += 1
                log.warning("%s: dropped a %d-byte message on %s", self.name, len(data), channel)
                continue
            try:
                if signer is not None:
                    data = signer.verify(data)
                msg = decode(data, self.max_message_bytes)
                await self._on_message(msg)
            except SignatureError as exc:
                self.rejected += 1
                log.warning("%s: rejected a message on %s: %s", self.name, channel, exc)
            except MessageError as exc:
                self.malformed += 1
                log.warning("%s: malformed message on %s: %s", self.name, channel, exc)
            except Exception:
                self.handler_failures += 1
                log.exception("%s: handling a message on %s failed", self.name, channel)
        if not self._closing:
            raise BusGap("the subscription ended")

    async def close_reader(self) -> None:
        """Stop reading and unsubscribe; messages published from now on are not seen."""
        self._closing, self._ready = True, False
        sub, reader = self._sub, self._reader
        self._sub = self._reader = None
        if sub is not None:
            sub.stop()
        if reader is not None:  # it waits on the socket (or between two attempts to
            reader.cancel()  # re-subscribe): handling a message never awaits, so a
            await asyncio.gather(reader, return_exceptions=True)  # cancel cuts nothing short
        if sub is not None:
            await _quietly(sub.close())

    async def close(self) -> None:
        """Stop reading, unsubscribe, and close the client if this endpoint made it; never
        raises, even with Redis gone."""
        try:
            await self.close_reader()
        finally:
            if self._line is not None:
                await _quietly(self._line.close())
            if self._redis is not None and isinstance(self._redis_arg, str):
                await _quietly(self._redis.aclose())
            self._redis = self._bus = self._claims = self._line = None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _quietly(closing) -> None:
    """Await a clean-up step for at most ``CLOSE_WAIT``; log instead of raising (Redis may be
    gone, or stalled)."""
    try:
        async with asyncio.timeout(CLOSE_WAIT):
            await closing
    except Exception as exc:
        log.info("clean-up step failed: %s: %s", type(exc).__name__, exc)
