"""The message bus behind a small interface; Redis Pub/Sub is the default implementation.

Any async messaging platform can play the bus: implement ``Bus`` (publish, subscribe) and
``Subscription`` (async iteration of ``(channel, data)``, ``stop``, ``close``). A
subscription that may have missed messages must say so, never carry on silently: raise
from its iteration when it is broken, or yield ``(GAP, b"")`` when it renewed itself and
listens again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from redis.asyncio import Redis

from .line import CommandLine

SUBSCRIBE_TIMEOUT = 10.0  # seconds to wait for the server to confirm a subscription


GAP = None  # the channel of what a renewed subscription yields: messages may be lost


class BusGap(ConnectionError):
    """The subscription may have missed messages: its connection broke or was renewed."""


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[tuple[str | None, bytes]]: ...

    def stop(self) -> None: ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, channel: str, data: bytes) -> int: ...

    async def subscribe(self, channels: Sequence[str]) -> Subscription: ...


class RedisSubscription:
    """Messages of a set of Redis Pub/Sub channels, confirmed subscribed before use."""

    def __init__(self, client: Redis, channels: Sequence[str]) -> None:
        self._pubsub = client.pubsub()
        self._channels = list(channels)
        self._closing = False

    async def open(self) -> RedisSubscription:
        await self._pubsub.subscribe(*self._channels)
        confirmed = 0
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
            while confirmed < len(self._channels):
                msg = await self._pubsub.get_message(timeout=None)
                if msg is not None and msg["type"] == "subscribe":
                    confirmed += 1
        return self

    async def __aiter__(self) -> AsyncIterator[tuple[str | None, bytes]]:
        while not self._closing:  # waits on the socket: no timer, no wake-up while idle
            msg = await self._pubsub.get_message(timeout=None)
            if msg is None:
                continue
            if msg["type"] == "message":
                channel = msg["channel"]
                yield (channel.decode() if isinstance(channel, bytes) else channel), msg["data"]
            elif msg["type"] == "subscribe" and msg["data"] == 1:  # redis-py reconnected and
                # re-subscribed (the first channel of it): it listens again, but what was
                # published meanwhile is lost
                yield GAP, b""

    def stop(self) -> None:
        """Hand out no further message (the reader waiting on it is then cancelled);
        call ``close`` after."""
        self._closing = True

    async def close(self) -> None:
        """Unsubscribe (if Redis answers) and release the connection, whatever happens."""
        self._closing = True
        try:
            await self._pubsub.unsubscribe()
        except Exception:  # Redis gone: closing the connection unsubscribes as well
            pass
        finally:
            await self._pubsub.aclose()


class RedisBus:
    """``Bus`` over Redis Pub/Sub on the given client (the caller owns and closes it);
    publishes go over ``line`` when one is given (an endpoint's own)."""

    def __init__(self, client: Redis, line: CommandLine | None = None) -> None:
        self._client = client
        self._line = line

    async def publish(self, channel: str, data: bytes) -> int:
        if self._line is None:
            return await self._client.publish(channel, data)
        return await self._line.execute("PUBLISH", channel, data)

    async def subscribe(self, channels: Sequence[str]) -> RedisSubscription:
        return await RedisSubscription(self._client, channels).open()
