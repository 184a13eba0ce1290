"""The claim list over Redis: each protocol step one script, so one atomic round trip."""

from __future__ import annotations

from redis.asyncio import Redis

from . import scripts
from .keys import Keys


class ClaimStore:
    """The claim lists (and seals) of one endpoint, on its client."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.keys = keys
        self._claim = redis.register_script(scripts.CLAIM)
        self._pop = redis.register_script(scripts.POP)
        self._length = redis.register_script(scripts.LENGTH)
        self._close = redis.register_script(scripts.CLOSE)

    def _keys(self, task: str, request_id: str) -> list[str]:
        return [self.keys.claim_list(task, request_id), self.keys.seal(task, request_id)]

    async def claim(
        self, task: str, request_id: str, worker: str, ttl: int, *, check_seal: bool
    ) -> bool:
        """Push ``worker``'s claim (with a TTL); False if the request was sealed."""
        args = [worker, ttl, int(check_seal)]
        return bool(await self._claim(keys=self._keys(task, request_id), args=args))

    async def pop(self, task: str, request_id: str, *, seal: bool, ttl: int) -> int:
        """Pop one claim; the claims left (sealing the request at 0 if ``seal``)."""
        keys = self._keys(task, request_id)
        return int(await self._pop(keys=keys, args=[int(seal), ttl]))

    async def length(self, task: str, request_id: str, *, seal: bool, ttl: int) -> int:
        """The claims on the list (sealing the request at 0 if ``seal``)."""
        keys = self._keys(task, request_id)
        return int(await self._length(keys=keys, args=[int(seal), ttl]))

    async def close(self, task: str, request_id: str, *, seal: bool, ttl: int) -> int:
        """Delete the list (and seal the request if ``seal``); the claims it still held."""
        keys = self._keys(task, request_id)
        return int(await self._close(keys=keys, args=[int(seal), ttl]))
