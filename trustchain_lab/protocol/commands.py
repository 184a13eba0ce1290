"""What a dispatcher's state machine asks its executor to do, one request at a time.

Executors carry these out in order: ``Note`` is a trace step, ``SetTimer`` arms a timer,
``Pop`` / ``ReadLength`` is the one claim-list command in flight (its answer goes back
through ``Collector.counted``: the claims left or read, or -1 when the request's claim list
is gone), ``Final`` decides the answer, ``Close`` cleans up after it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .vocab import Kind, Reason, Timer


class Note(NamedTuple):
    """Record a trace step of the dispatcher (stamped by the executor's clock)."""

    kind: Kind
    value: float | None = None
    note: Any = None  # a worker id, or a reason


class SetTimer(NamedTuple):
    """Call ``Collector.timer(timer, token)`` ``after`` seconds from now."""

    timer: Timer
    after: float
    token: int = 0


class Pop(NamedTuple):
    """Remove the replier's claim; answer with the claims left (-1: it was not there).
    ``seal``: close the request to new claims if none are left."""

    worker: object
    seal: bool


class ReadLength(NamedTuple):
    """Read the claim list's length (``why``: ``Kind.PROBE`` or ``Kind.RECHECK``); answer
    with it (-1: the request's marker is gone). ``seal``: close the request to new claims
    if it is 0."""

    why: Kind
    seal: bool


class Final(NamedTuple):
    """The answer is decided: ``Collector.accepted`` with this reason."""

    reason: Reason


class Close(NamedTuple):
    """Delete the request's claim list and marker (closing it to claims that check), in
    one step; the executor may report who was still on the list (``missing``)."""


Command = Note | SetTimer | Pop | ReadLength | Final | Close
