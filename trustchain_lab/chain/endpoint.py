"""What a Dispatcher and a Worker share: a Redis client, one subscription, one reader task."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from redis.asyncio import BlockingConnectionPool, Redis

from .bus import Bus, RedisBus, Subscription
from .keys import Keys
from .messages import MAX_MESSAGE_BYTES, MessageError, PartialMessage, TaskMessage, decode
from .observe import Observer

log = logging.getLogger("trustchain_lab.chain")


MAX_CONNECTIONS = 64  # per client made from a URL; more commands in flight wait for one
CONNECTION_WAIT = 30.0  # seconds a command waits for a free connection before failing


def redis_client(url: str, max_connections: int = MAX_CONNECTIONS) -> Redis:
    """A client whose pool waits for a free connection instead of raising "Too many
    connections" when more commands are in flight than it holds (redis-py's default pool
    raises at 100)."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=CONNECTION_WAIT
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
    ) -> None:
        if isinstance(max_message_bytes, bool) or not (
            isinstance(max_message_bytes, int) and max_message_bytes >= 1024
        ):
            raise ValueError(f"max_message_bytes must be an int >= 1024, got {max_message_bytes!r}")
        self.name = name
        self.keys = keys or Keys()
        self.observer = observer
        self.max_message_bytes = max_message_bytes
        self.malformed = 0  # messages on our channels that were not ours, or not valid
        self.oversized = 0  # messages over max_message_bytes, dropped unread
        self._redis_arg = redis
        self._bus_arg = bus
        self._redis: Redis | None = None
        self._bus: Bus | None = None
        self._sub: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None

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
        self._bus = self._bus_arg or RedisBus(self._redis)
        self._sub = await self._bus.subscribe(self._channels())
        self._reader = asyncio.create_task(self._read(self._sub), name=f"{self.name}-reader")

    async def _read(self, sub: Subscription) -> None:
        async for channel, data in sub:
            if len(data) > self.max_message_bytes:
                self.oversized += 1
                log.warning("%s: dropped a %d-byte message on %s", self.name, len(data), channel)
                continue
            try:
                msg = decode(data, self.max_message_bytes)
            except MessageError as exc:
                self.malformed += 1
                log.warning("%s: malformed message on %s: %s", self.name, channel, exc)
                continue
            try:
                await self._on_message(msg)
            except MessageError as exc:
                self.malformed += 1
                log.warning("%s: unexpected message on %s: %s", self.name, channel, exc)

    async def close_reader(self) -> None:
        """Stop reading and unsubscribe; messages published from now on are not seen."""
        if self._sub is not None and self._reader is not None:
            self._sub.stop()
            try:
                await self._reader
            except Exception:
                log.exception("%s: reader failed", self.name)
            await self._sub.close()
        self._sub = self._reader = None

    async def close(self) -> None:
        """Stop reading, unsubscribe, and close the client if this endpoint made it."""
        await self.close_reader()
        if self._redis is not None and isinstance(self._redis_arg, str):
            await self._redis.aclose()
        self._redis = self._bus = None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
