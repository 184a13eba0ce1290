"""What a dispatcher's state machine asks its executor to do, one request at a time.

Executors carry these out in order: ``Note`` is a trace step, ``SetTimer`` arms a timer,
``Pop`` / ``ReadLength`` is the one claim-list command in flight (its answer goes back
through ``Collector.counted``), ``Final`` decides the answer, ``Close`` cleans up after it.
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
    """Pop one claim; answer with the claims left. ``seal``: seal the request if none are."""

    seal: bool


class ReadLength(NamedTuple):
    """Read the claim list's length (``why``: ``Kind.PROBE`` or ``Kind.RECHECK``); answer
    with it. ``seal``: seal the request if it is 0."""

    why: Kind
    seal: bool


class Final(NamedTuple):
    """The answer is decided: ``Collector.accepted`` with this reason."""

    reason: Reason


class Close(NamedTuple):
    """Delete the request's claim list; ``seal``: and seal the request, in one step."""

    seal: bool


Command = Note | SetTimer | Pop | ReadLength | Final | Close
