"""The claim list over Redis: each protocol step one script, so one atomic round trip."""

from __future__ import annotations

import hashlib
from typing import Any

from redis.exceptions import NoScriptError

from . import scripts
from .keys import Keys
from .line import CommandLine


class _Script:
    """A Lua script run by its SHA1 (``EVALSHA``), loaded by ``EVAL`` when Redis lacks it
    (first use, or after a restart)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, line: CommandLine, keys: list[str], args: list[Any]) -> Any:
        try:
            return await line.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await line.execute("EVAL", self.source, len(keys), *keys, *args)


_OPEN_AND_PUBLISH = _Script(scripts.OPEN_AND_PUBLISH)
_OPEN = _Script(scripts.OPEN)
_CLAIM = _Script(scripts.CLAIM)
_POP = _Script(scripts.POP)
_LENGTH = _Script(scripts.LENGTH)
_CLOSE = _Script(scripts.CLOSE)


class ClaimStore:
    """The claim lists (and markers) of one endpoint, on its command line."""

    def __init__(self, line: CommandLine, keys: Keys) -> None:
        self.keys = keys
        self._line = line

    def _keys(self, task: str, request_id: str) -> list[str]:
        return [self.keys.claim_list(task, request_id), self.keys.marker(task, request_id)]

    async def open_and_publish(
        self, task: str, request_id: str, channel: str, data: bytes, ttl: int
    ) -> int:
        """Open the request and publish ``data`` on ``channel`` (a Redis Pub/Sub channel of
        this server) in one step; the receivers PUBLISH reached."""
        marker = self.keys.marker(task, request_id)
        return int(await _OPEN_AND_PUBLISH(self._line, [marker], [channel, data, ttl]))

    async def open(self, task: str, request_id: str, ttl: int) -> None:
        """Open the request, when its broadcast goes over another bus."""
        await _OPEN(self._line, [self.keys.marker(task, request_id)], [ttl])

    async def claim(
        self, task: str, request_id: str, worker: str, ttl: int, *, check_open: bool
    ) -> bool:
        """Push ``worker``'s claim (with a TTL); False if ``check_open`` and it is closed."""
        args = [worker, ttl, int(check_open)]
        return bool(await _CLAIM(self._line, self._keys(task, request_id), args))

    async def pop(self, task: str, request_id: str, worker: str, *, seal: bool) -> int:
        """Remove ``worker``'s claim; the claims left (closing the request at 0 if
        ``seal``), or -1 if the request is not open or the claim is not there."""
        keys = self._keys(task, request_id)
        return int(await _POP(self._line, keys, [worker, int(seal)]))

    async def length(self, task: str, request_id: str, *, seal: bool) -> int:
        """The claims on the list (closing the request at 0 if ``seal``), or -1 if the
        request is not open."""
        return int(await _LENGTH(self._line, self._keys(task, request_id), [int(seal)]))

    async def close(self, task: str, request_id: str) -> list[str]:
        """Delete the list and the marker; the workers that were still on it."""
        left = await _CLOSE(self._line, self._keys(task, request_id), [])
        return [w.decode() if isinstance(w, bytes) else w for w in left]
