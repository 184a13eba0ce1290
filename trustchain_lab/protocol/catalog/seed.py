"""``seed``: the protocol exactly as the seed text writes it."""

from __future__ import annotations

from ..collector import ClaimCollector
from ..commands import Close, Command
from ..registry import register
from ..vocab import Reason


@register
class Seed(ClaimCollector):
    """Claims on a list, one pop per reply, final when a pop leaves it empty; a probe
    ``probe_window`` after dispatch answers empty when nobody claimed. The list is deleted
    after the answer, whatever ended the request."""

    name = "seed"
    guarantee = "none: a late claim gives 'premature', a claim after the probe 'probe_miss'"
    rank = 0
    __slots__ = ()

    def _on_final(self, reason: Reason, out: list[Command]) -> None:
        out.append(Close())
