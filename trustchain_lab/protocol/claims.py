"""The claim list's semantics in memory: what the Redis scripts do, step for step.

The model keeps its lists here; the tests check the Redis claim store against it.
``key`` is anything hashable that names one request.
"""

from __future__ import annotations

from collections.abc import Hashable


class MemoryClaims:
    """Claim lists (only their lengths matter) and the set of sealed requests."""

    __slots__ = ("lists", "sealed")

    def __init__(self) -> None:
        self.lists: dict[Hashable, int] = {}
        self.sealed: set[Hashable] = set()

    def claim(self, key: Hashable, check_seal: bool) -> bool:
        """Push one claim, unless ``check_seal`` and the request is sealed."""
        if check_seal and key in self.sealed:
            return False
        self.lists[key] = self.lists.get(key, 0) + 1
        return True

    def pop(self, key: Hashable, seal: bool) -> int:
        """Pop one claim (none if empty); the claims left; seal if ``seal`` and none are."""
        left = self.lists.pop(key, 0) - 1
        if left > 0:
            self.lists[key] = left
            return left
        if seal:
            self.sealed.add(key)
        return 0

    def length(self, key: Hashable, seal: bool) -> int:
        """The claims on the list; seal if ``seal`` and there are none."""
        n = self.lists.get(key, 0)
        if n == 0 and seal:
            self.sealed.add(key)
        return n

    def close(self, key: Hashable, seal: bool) -> None:
        """Delete the list; and seal if ``seal``."""
        self.lists.pop(key, None)
        if seal:
            self.sealed.add(key)
