"""``sealed``: the seed's claim list, and the read that ends a request seals it."""

from __future__ import annotations

from ..collector import ClaimCollector
from ..commands import Close, Command
from ..registry import register
from ..vocab import Reason


@register
class Sealed(ClaimCollector):
    """As ``seed``, but the pop (or probe, or grace recheck) that finds the list empty
    also seals the request, in the same atomic step; a claim is refused once the request
    is sealed and the worker skips the work. At the deadline (or when the claims were
    lost) the list is deleted and the request sealed in one step, *before* the answer, so
    no claim is accepted after it. The race stays; it becomes the outcome ``excluded``."""

    name = "sealed"
    guarantee = "no wasted work, no claim list recreated; a late claimer is 'excluded'"
    rank = 2
    seals = True
    __slots__ = ()

    def _before_answer(self, reason: Reason, out: list[Command]) -> None:
        if reason in (Reason.DEADLINE, Reason.LOST_CLAIMS):  # the request is still open:
            out.append(Close())  # drop the claims left and close it to late claims
