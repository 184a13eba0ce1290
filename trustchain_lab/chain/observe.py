"""What the reference implementation reports about each protocol step, through an observer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

log = logging.getLogger("trustchain_lab.chain")


class Step(NamedTuple):
    """One protocol step, as seen by ``actor``.

    ``kind`` is one of: ``dispatch`` (note: parent request id), ``probe`` (value: list
    length read), ``partial_received`` (a partial taken into the answer; note: sending
    worker), ``partial_late`` (a partial that came after the answer was decided; note:
    worker), ``pop`` (value: items the pop left),
    ``final`` (value: partials included; note: reason), ``deliver``, ``interest`` (value:
    1 or 0), ``claim``, ``work_start``, ``work_end`` (note: "error" when the work raised),
    ``partial_sent``.
    """

    kind: str
    actor: str
    task: str
    request_id: str
    value: float | None = None
    note: str | None = None


Observer = Callable[[Step], None]


def emit(observer: Observer | None, step: Step) -> None:
    """Hand ``step`` to ``observer``; an observer that raises is logged, never fatal."""
    if observer is None:
        return
    try:
        observer(step)
    except Exception:
        log.exception("observer raised on %s", step)
