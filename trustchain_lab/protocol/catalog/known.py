"""``known``: scatter-gather to a known number of workers, the baseline."""

from __future__ import annotations

from ..collector import CountCollector
from ..registry import register


@register
class Known(CountCollector):
    """The dispatcher knows N (``expect``): every worker answers, a partial or a decline;
    final after N replies. No claim list, no probe."""

    name = "known"
    guarantee = "exact, but the dispatcher must know how many workers there are"
    rank = 1
    needs_expect = True
    __slots__ = ()

    def _expected(self, receivers: int) -> int:
        return self.expect or 0
