"""``ack``: every receiver the broadcast reached answers, so the count is known."""

from __future__ import annotations

from ..collector import CountCollector
from ..registry import register


@register
class Ack(CountCollector):
    """R = the receivers PUBLISH reports; every receiver answers, a partial or a decline;
    final after R replies, empty at once when R = 0. No claim list, no probe window.

    Caveat: R counts subscribed *connections* that the bus delivered to, not workers. A
    worker subscribed twice (two connections, or a pattern and a channel) counts twice and
    the request waits for its deadline; a worker that dies after receiving gives
    ``timeout``; on Redis Cluster plain PUBLISH counts the local node only (use SPUBLISH).
    """

    name = "ack"
    guarantee = "no 'premature', no 'probe_miss'; a receiver that dies gives 'timeout'"
    rank = 3
    __slots__ = ()

    def _expected(self, receivers: int) -> int:
        return receivers
