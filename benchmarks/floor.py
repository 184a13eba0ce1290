"""The floor: the seed protocol hand-written over raw redis-py, as cheaply as it goes.

What this protocol costs on this machine, for the ``overhead`` suite to set ``chain``
beside. No observer, no JSON envelope, no marker, no signature, no deadline, no recovery:
the dispatcher publishes ``"<request> <reply channel>"``; a worker pushes its name onto
``{prefix}:{task}-{request}`` and publishes ``"<request> <worker>"``; per partial the
dispatcher pops (one script: LPOP, then LLEN) and answers when the list is empty; a probe
``window`` seconds after the dispatch answers empty when the list is. Each actor has one
command connection and one Pub/Sub connection, read by blocking on the socket.
"""

from __future__ import annotations

import asyncio
import itertools

from redis.asyncio import Redis

POP = """
-- KEYS[1] claim list. Pop one claim; return the claims left.
redis.call('LPOP', KEYS[1])
return redis.call('LLEN', KEYS[1])
"""


def client_commands(sent: dict[str, int]) -> int:
    """Commands the floor's clients sent, from ``INFO commandstats`` differences: the pop
    script runs LPOP and LLEN inside, which Redis counts as well."""
    inner_llen = sent.get("evalsha", 0)  # each pop runs one LLEN (and one LPOP, not summed)
    return sum(sent.get(c, 0) for c in ("publish", "rpush", "evalsha", "llen", "del")) - inner_llen


async def _subscribed(url: str, channel: str):
    pubsub = Redis.from_url(url).pubsub()
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=None)  # the confirmation
    return pubsub


class FloorWorker:
    """Claims every task of ``task`` and replies at once (zero work)."""

    def __init__(self, url: str, prefix: str, task: str, name: str) -> None:
        self.url, self.prefix, self.task, self.name = url, prefix, task, name

    async def start(self) -> None:
        self.redis = Redis.from_url(self.url, single_connection_client=True)
        self.pubsub = await _subscribed(self.url, f"{self.prefix}:task:{self.task}")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        r, name, head = self.redis, self.name.encode(), f"{self.prefix}:{self.task}-".encode()
        async for msg in self.pubsub.listen():
            if msg["type"] != "message":
                continue
            rid, reply = msg["data"].split(b" ")
            await r.rpush(head + rid, name)
            await r.publish(reply, rid + b" " + name)

    async def close(self) -> None:
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)
        await self.pubsub.aclose()
        await self.redis.aclose()


class FloorDispatcher:
    """Dispatches ``task`` and answers ``"complete"`` or ``"empty"``."""

    def __init__(self, url: str, prefix: str, task: str, window: float = 0.5) -> None:
        self.url, self.prefix, self.task, self.window = url, prefix, task, window
        self.reply = f"{prefix}:reply:floor"
        self.waiting: dict[bytes, asyncio.Future[str]] = {}
        self.ids = itertools.count()

    async def start(self) -> None:
        self.redis = Redis.from_url(self.url, single_connection_client=True)
        self.pop = self.redis.register_script(POP)
        self.pubsub = await _subscribed(self.url, self.reply)
        self.reader = asyncio.create_task(self._read())

    def _key(self, rid: bytes) -> bytes:
        return f"{self.prefix}:{self.task}-".encode() + rid

    async def dispatch(self) -> str:
        rid = str(next(self.ids)).encode()
        answer = self.waiting[rid] = asyncio.get_running_loop().create_future()
        await self.redis.publish(
            f"{self.prefix}:task:{self.task}", rid + b" " + self.reply.encode()
        )
        probe = asyncio.get_running_loop().call_later(
            self.window, lambda: asyncio.ensure_future(self._probe(rid))
        )
        try:
            return await answer
        finally:
            probe.cancel()
            del self.waiting[rid]
            await self.redis.delete(self._key(rid))

    async def _probe(self, rid: bytes) -> None:
        if rid in self.waiting and await self.redis.llen(self._key(rid)) == 0:
            self._answer(rid, "empty")

    def _answer(self, rid: bytes, outcome: str) -> None:
        answer = self.waiting.get(rid)
        if answer is not None and not answer.done():
            answer.set_result(outcome)

    async def _read(self) -> None:
        async for msg in self.pubsub.listen():
            if msg["type"] != "message":
                continue
            rid = msg["data"].split(b" ")[0]
            if rid in self.waiting and await self.pop(keys=[self._key(rid)]) == 0:
                self._answer(rid, "complete")

    async def close(self) -> None:
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)
        await self.pubsub.aclose()
        await self.redis.aclose()
