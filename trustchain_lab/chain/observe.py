"""What the reference implementation reports about each protocol step, through an observer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

from ..protocol import Kind

log = logging.getLogger("trustchain_lab.chain")


class Step(NamedTuple):
    """One protocol step, as seen by ``actor``; ``protocol.Kind`` says what ``value`` and
    ``note`` hold for each kind."""

    kind: Kind
    actor: str
    task: str
    request_id: str
    value: float | None = None
    note: str | None = None


Observer = Callable[[Step], None]


def emit(
    observer: Observer | None,
    kind: Kind,
    actor: str,
    task: str,
    request_id: str,
    value: float | None = None,
    note: str | None = None,
) -> None:
    """Hand the step to ``observer`` (nothing is built when there is none); an observer
    that raises is logged, never fatal."""
    if observer is None:
        return
    step = Step(kind, actor, task, request_id, value, note)
    try:
        observer(step)
    except Exception:
        log.exception("observer raised on %s", step)
