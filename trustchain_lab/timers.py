"""Event loops whose timers fire on time.

asyncio's default loop on Linux waits in ``epoll``, which takes whole milliseconds: every
wait is rounded up, so a ``sleep(0.0203)`` or a ``call_later`` ends up to 1 ms late. The
lab's real runs sleep the drawn claim delays and work times and time probe windows; late
by half a millisecond on average per sleep, they ran ~10 % slower than the model at 20 ms
of work. ``select()`` waits to the microsecond, but only watches file descriptors below
1024 (``FD_LIMIT`` leaves room for what else the process holds): a run that opens more
gets the default loop, and its result says so (``precise()``).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
FD_LIMIT = 700  # sockets a loop on select() may be asked to watch


class _FineLoop(asyncio.SelectorEventLoop):
    """A selector loop that waits with ``select()``."""

    def __init__(self) -> None:
        super().__init__(selectors.SelectSelector())


def fine_timer_loop() -> asyncio.AbstractEventLoop:
    """A new event loop that waits with ``select()`` (microsecond timeouts)."""
    return _FineLoop()


def precise() -> bool:
    """Whether the running loop's timers fire on time (a ``fine_timer_loop``)."""
    return isinstance(asyncio.get_running_loop(), _FineLoop)


def run(coro: Coroutine[Any, Any, T], sockets: int = 0) -> T:
    """``asyncio.run`` on a ``fine_timer_loop``, or on the default loop when the coroutine
    will hold more than ``FD_LIMIT`` ``sockets``."""
    factory = fine_timer_loop if sockets <= FD_LIMIT else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
