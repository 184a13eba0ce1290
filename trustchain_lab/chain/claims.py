"""The claim list over Redis: each protocol step one script, so one atomic round trip."""

from __future__ import annotations

from redis.asyncio import Redis

from . import scripts
from .keys import Keys


class ClaimStore:
    """The claim lists (and markers) of one endpoint, on its client."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.keys = keys
        self._open_and_publish = redis.register_script(scripts.OPEN_AND_PUBLISH)
        self._open = redis.register_script(scripts.OPEN)
        self._claim = redis.register_script(scripts.CLAIM)
        self._pop = redis.register_script(scripts.POP)
        self._length = redis.register_script(scripts.LENGTH)
        self._close = redis.register_script(scripts.CLOSE)

    def _keys(self, task: str, request_id: str) -> list[str]:
        return [self.keys.claim_list(task, request_id), self.keys.marker(task, request_id)]

    async def open_and_publish(
        self, task: str, request_id: str, channel: str, data: bytes, ttl: int
    ) -> int:
        """Open the request and publish ``data`` on ``channel`` (a Redis Pub/Sub channel of
        this server) in one step; the receivers PUBLISH reached."""
        marker = self.keys.marker(task, request_id)
        return int(await self._open_and_publish(keys=[marker], args=[channel, data, ttl]))

    async def open(self, task: str, request_id: str, ttl: int) -> None:
        """Open the request, when its broadcast goes over another bus."""
        await self._open(keys=[self.keys.marker(task, request_id)], args=[ttl])

    async def claim(
        self, task: str, request_id: str, worker: str, ttl: int, *, check_open: bool
    ) -> bool:
        """Push ``worker``'s claim (with a TTL); False if ``check_open`` and it is closed."""
        args = [worker, ttl, int(check_open)]
        return bool(await self._claim(keys=self._keys(task, request_id), args=args))

    async def pop(self, task: str, request_id: str, worker: str, *, seal: bool) -> int:
        """Remove ``worker``'s claim; the claims left (closing the request at 0 if
        ``seal``), or -1 if the request is not open or the claim is not there."""
        keys = self._keys(task, request_id)
        return int(await self._pop(keys=keys, args=[worker, int(seal)]))

    async def length(self, task: str, request_id: str, *, seal: bool) -> int:
        """The claims on the list (closing the request at 0 if ``seal``), or -1 if the
        request is not open."""
        return int(await self._length(keys=self._keys(task, request_id), args=[int(seal)]))

    async def close(self, task: str, request_id: str) -> list[str]:
        """Delete the list and the marker; the workers that were still on it."""
        left = await self._close(keys=self._keys(task, request_id), args=[])
        return [w.decode() if isinstance(w, bytes) else w for w in left]
