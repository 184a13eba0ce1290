"""The claim list's semantics in memory: what the Redis scripts do, step for step.

A request is *open* from its broadcast (its marker is set in the same step) until it is
closed: by ``close`` after the answer, or by a read that seals it. Its claim list holds the
workers that claimed and have not been answered for yet. The model keeps its lists here;
the tests check the Redis claim store against it. ``key`` is anything hashable that names
one request.
"""

from __future__ import annotations

from collections.abc import Hashable


class MemoryClaims:
    """Per request: whether it is open, and the workers on its claim list, in claim order."""

    __slots__ = ("lists", "opened")

    def __init__(self) -> None:
        self.lists: dict[Hashable, list[Hashable]] = {}
        self.opened: set[Hashable] = set()

    def open(self, key: Hashable) -> None:
        """The request is broadcast: set its marker."""
        self.opened.add(key)

    def claim(self, key: Hashable, worker: Hashable, check_open: bool) -> bool:
        """Push ``worker``'s claim (once), unless ``check_open`` and the request is not open."""
        if check_open and key not in self.opened:
            return False
        claims = self.lists.setdefault(key, [])
        if worker not in claims:
            claims.append(worker)
        return True

    def pop(self, key: Hashable, worker: Hashable, seal: bool) -> int:
        """Remove ``worker``'s claim; the claims left, or -1 if the request is not open or
        the claim is not there. ``seal``: close the request if none are left."""
        claims = self.lists.get(key)
        if key not in self.opened or not claims or worker not in claims:
            return -1
        claims.remove(worker)
        if claims:
            return len(claims)
        del self.lists[key]
        if seal:
            self.opened.discard(key)
        return 0

    def length(self, key: Hashable, seal: bool) -> int:
        """The claims on the list, or -1 if the request is not open. ``seal``: close it if
        there are none."""
        if key not in self.opened:
            return -1
        n = len(self.lists.get(key, ()))
        if n == 0 and seal:
            self.opened.discard(key)
        return n

    def close(self, key: Hashable) -> list[Hashable]:
        """Delete the list and the marker; the workers that were still on the list."""
        self.opened.discard(key)
        return self.lists.pop(key, [])
